#!/usr/bin/env node
// braid against psql on a real history, one for one (issue 13's "done when"):
//
//   1. import: `braid import --from TOOL DIR` in a new git repository; braid's apply order must
//      be the tool's own order (scripts/fidelity/lib/source-order.mjs, written from the tool's
//      source, not from braid's importer);
//   2. round trips: `braid test --all` on the server vs scripts/fidelity/psql-loop.mjs (psql and
//      pg_dump only, every step committed, in the tool's order): per migration the verdict, the
//      list of problem categories and the column-order notice must be identical;
//   3. apply, roll down, apply again: `braid up` on one new database and psql (each up.sql as the
//      tool runs it) on another, then `braid down --steps N` (all of them) and psql's down.sql in
//      reverse order until the first failure, then up again on both; after each phase the schema
//      dumps must be equal (braid's registry schema left out) and both must stop at the same
//      migration.
//
// Usage: node scripts/fidelity/compare.mjs --from diesel DIR [--engines server,pglite]
// Prints the mismatches and a summary; exit 1 when anything differs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { braidLauncher, dropDatabase, freshDatabase, root, serverUrl } from '../bench/lib/common.mjs';
import { sourceOrder } from './lib/source-order.mjs';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const tool = opt('--from');
const dir = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!tool || !dir) {
  console.error('usage: compare.mjs --from diesel|golang-migrate DIR');
  process.exit(2);
}
const source = sourceOrder(tool, path.resolve(dir));
const work = mkdtempSync(path.join(os.tmpdir(), 'braid-fidelity-'));
const repo = path.join(work, 'repo');
const run = (cmd, argv, opts = {}) =>
  spawnSync(cmd, argv, {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    env: { ...process.env, NO_COLOR: '1' },
    ...opts,
  });
const braid = (...argv) => run(braidLauncher, argv, { cwd: repo });
let mismatches = 0;
const mismatch = (what) => {
  mismatches++;
  console.log(`MISMATCH ${what}`);
};

// 1. import
run('mkdir', ['-p', repo]);
run('git', ['init', '-q', '-b', 'main'], { cwd: repo });
const imp = braid('import', '--from', tool, path.resolve(dir), '--json');
if (imp.status !== 0) {
  console.error(`braid import failed (exit ${imp.status}): ${imp.stderr}`);
  process.exit(1);
}
const imported = JSON.parse(imp.stdout).migrations;
const sourceName = (m) => path.basename(String(m.source).replace(/\/$/, '')).replace(/\.(up|down)\.sql$/, '');
const idOf = new Map();
imported.forEach((m, i) => {
  idOf.set(sourceName(m), m.id);
  const want = source[i]?.name;
  if (sourceName(m) !== want)
    mismatch(`import order at ${i + 1}: braid has ${sourceName(m)}, ${tool} applies ${want}`);
});
if (imported.length !== source.length)
  mismatch(`import: ${imported.length} migrations, ${tool} has ${source.length}`);
run('git', ['add', '-A'], { cwd: repo });
run('git', ['-c', 'user.name=fidelity', '-c', 'user.email=f@example.invalid', 'commit', '-qm', 'import'], {
  cwd: repo,
});
console.log(
  `import: ${imported.length} migrations, order ${mismatches === 0 ? 'identical to' : 'DIFFERENT from'} ${tool}'s`,
);

// 2. round trips
const t0 = Date.now();
const test = braid('test', '--all', '--json', '--shadow-db', serverUrl);
if (test.status !== 0 && test.status !== 1) {
  console.error(`braid test failed (exit ${test.status}): ${test.stderr}`);
  process.exit(1);
}
const braidRun = JSON.parse(test.stdout).runs[0];
const braidSecs = (Date.now() - t0) / 1000;
const loopOut = path.join(work, 'psql-loop.json');
const t1 = Date.now();
const loop = run(process.execPath, [
  path.join(root, 'scripts/fidelity/psql-loop.mjs'),
  '--from',
  tool,
  path.resolve(dir),
  '--out',
  loopOut,
]);
if (loop.status !== 0) {
  console.error(`psql-loop failed: ${loop.stderr}`);
  process.exit(1);
}
const psqlSecs = (Date.now() - t1) / 1000;
const psqlResults = JSON.parse(readFileSync(loopOut, 'utf8')).results;
const byId = new Map(braidRun.results.map((r) => [r.id, r]));
let same = 0;
const tally = {};
for (const p of psqlResults) {
  const b = byId.get(idOf.get(p.name));
  const pc = p.problems.map((x) => x.category).join(',');
  const bc = b ? b.problems.map((x) => x.category).join(',') : 'not tested';
  const bo = Boolean(b?.columnOrder?.length);
  if (b && b.status === p.verdict && bc === pc && bo === Boolean(p.columnOrder)) {
    same++;
    const k = `${p.verdict}${b.consequenceOf ? ' (consequence)' : ''}`;
    tally[k] = (tally[k] ?? 0) + 1;
  } else {
    mismatch(
      `round trip ${p.name}: psql ${p.verdict} [${pc}]${p.columnOrder ? ' column-order' : ''}, braid ${b?.status ?? 'missing'} [${bc}]${bo ? ' column-order' : ''}`,
    );
  }
}
console.log(
  `round trips: ${same}/${psqlResults.length} identical (${Object.entries(tally)
    .map(([k, v]) => `${v} ${k}`)
    .join(
      ', ',
    )}; ${psqlResults.filter((r) => r.columnOrder).length} with a column-order notice) on PostgreSQL ${braidRun.serverVersion}; braid test ${braidSecs.toFixed(1)} s, psql loop ${psqlSecs.toFixed(1)} s`,
);

// 3. apply, roll down as far as psql does, apply again
const dbB = `braid_fid_b_${process.pid}`;
const dbP = `braid_fid_p_${process.pid}`;
const urlB = freshDatabase(dbB);
const urlP = freshDatabase(dbP);
const env = { ...process.env, PGOPTIONS: '-c client_min_messages=warning' };
const psqlStep = (m, which) => {
  const text = which === 'down' ? m.down : m.up;
  if (text === undefined) return 'no down.sql';
  const a = m.transactional
    ? ['-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1', '-d', urlP, '-f', '-']
    : ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', urlP, '-c', text];
  const r = spawnSync('psql', a, { input: m.transactional ? text : undefined, encoding: 'utf8', env });
  return r.status === 0 ? undefined : (r.stderr || `exit ${r.status}`).trim().split('\n')[0];
};
const dump = (url) => {
  const r = run('pg_dump', ['--schema-only', '--no-owner', '--exclude-schema=braid', '-d', url]);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('--') && !/^SET /.test(l) && !/^\\(un)?restrict /.test(l))
    .filter((l) => !l.startsWith('SELECT pg_catalog.set_config') && !/^CREATE SCHEMA braid;|braid\./.test(l))
    .join('\n');
};
const applied = (url) =>
  run('psql', ['-X', '-qAt', '-d', url, '-c', 'select count(*) from braid.applied']).stdout.trim();
function psqlUpAll() {
  let n = 0;
  for (const m of source) {
    const e = psqlStep(m, 'up');
    if (e) return { n, stop: `${m.name}: ${e}` };
    n++;
  }
  return { n };
}
function phase(name, braidArgs, psqlSide) {
  const b = braid(...braidArgs, '--db', urlB);
  const p = psqlSide();
  const nB = Number(applied(urlB));
  const same = dump(urlB) === dump(urlP);
  console.log(
    `${name}: braid ${braidArgs.join(' ')} -> exit ${b.status}, ${nB} applied; psql -> ${p.n} applied${p.stop ? ` (stopped at ${p.stop})` : ''}; schemas ${same ? 'identical' : 'DIFFERENT'}`,
  );
  if (!same) mismatch(`${name}: the schemas differ`);
  return { b, p, nB };
}
const up1 = phase('apply', ['up'], psqlUpAll);
if (up1.nB !== up1.p.n) mismatch(`apply: braid applied ${up1.nB}, psql ${up1.p.n}`);
const down = phase('roll down', ['down', '--steps', String(up1.nB)], () => {
  let n = up1.p.n;
  for (let i = up1.p.n - 1; i >= 0; i--) {
    const e = psqlStep(source[i], 'down');
    if (e) return { n, stop: `${source[i].name}: ${e}` };
    n--;
  }
  return { n };
});
if (down.nB !== down.p.n) mismatch(`roll down: braid stopped with ${down.nB} applied, psql with ${down.p.n}`);
const up2 = phase('apply again', ['up'], () => {
  let n = down.p.n;
  for (let i = down.p.n; i < source.length; i++) {
    const e = psqlStep(source[i], 'up');
    if (e) return { n, stop: `${source[i].name}: ${e}` };
    n++;
  }
  return { n };
});
if (up2.nB !== up2.p.n) mismatch(`apply again: braid applied ${up2.nB}, psql ${up2.p.n}`);
dropDatabase(dbB);
dropDatabase(dbP);
rmSync(work, { recursive: true, force: true });
console.log(mismatches === 0 ? 'braid and psql agree on every point' : `${mismatches} mismatch(es)`);
process.exit(mismatches === 0 ? 0 : 1);
