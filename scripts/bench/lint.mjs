#!/usr/bin/env node
// Benchmark (issue 4, static analysis): `braid lint` of a generated N-migration history (2,000 by
// default), whole process, against squawk (squawk-cli from npm) on the same up.sql files in the
// same run. Prints statements per second for both and the ratio (goal: within 2x of squawk's time),
// and squawk on every file braid lints (up.sql, down.sql, verify.sql: the same input).
// Usage: node scripts/bench/lint.mjs [N] [RUNS]   (run `npm run build` first)
// BRAID_BENCH_FROM=<project dir> lints that project's .migrations instead of a generated one
// (e.g. a real history brought in with `braid import`): braid lints each migration's files,
// squawk the same up.sql files.
// Each measurement runs under every load of BRAID_BENCH_LOAD (default quiet, then nice: one busy
// loop per core at nice 19; scripts/bench/lib/load.mjs).
// BRAID_BENCH_BIN=<dist/braid.js of another build> times that build (before/after comparisons).
// BRAID_BENCH_KEEP=1 keeps the generated project (its path is printed) for profiling, e.g.
//   cd <dir> && node --cpu-prof <repo>/packages/cli/dist/braid.js lint --json --fail-on none
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { braidLauncher, measureProcess, median, medianTimes, printTable } from './lib/common.mjs';
import { peerBin } from './lib/peers.mjs';
import { loadLabel, loadModes, underLoad } from './lib/load.mjs';

const N = Number(process.argv[2] ?? 2000);
const RUNS = Number(process.argv[3] ?? 3);

const from = process.env.BRAID_BENCH_FROM ? path.resolve(process.env.BRAID_BENCH_FROM) : undefined;
const work = from ?? mkdtempSync(path.join(os.tmpdir(), 'braid-bench-lint-'));
const migDir = path.join(work, '.migrations');
if (!from) mkdirSync(migDir);

// A mix of the statements real migrations contain (and that the rules look at).
const TEMPLATES = [
  (i) => [
    `CREATE TABLE t_${i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner_id bigint, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE INDEX t_${i}_owner ON t_${i} (owner_id)`,
    `COMMENT ON TABLE t_${i} IS 'table ${i}'`,
  ],
  (i) => [
    `SET lock_timeout = '5s'`,
    `ALTER TABLE t_${i - 1} ADD COLUMN note_${i} text`,
    `ALTER TABLE t_${i - 1} ADD CONSTRAINT t_${i - 1}_name_len CHECK (length(name) < 200) NOT VALID`,
    `ALTER TABLE t_${i - 1} VALIDATE CONSTRAINT t_${i - 1}_name_len`,
  ],
  (i) => [
    `CREATE OR REPLACE FUNCTION touch_${i}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$`,
    `UPDATE t_${i - 2} SET name = upper(name) WHERE id < 100`,
    `CREATE VIEW v_${i} AS SELECT id, name FROM t_${i - 2} WHERE created_at > now() - interval '1 day'`,
  ],
  (i) => [
    `ALTER TABLE t_${i - 3} ALTER COLUMN name SET NOT NULL`,
    `CREATE INDEX t_${i - 3}_name ON t_${i - 3} (name)`,
  ],
];

let statements = 0;
const manifest = [];
const files = [];
// every file braid lints (up.sql, down.sql, verify.sql): squawk's second row gets the same input
const allFiles = [];
for (let i = 0; i < N && !from; i++) {
  const t = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const id = `${t}_m${i}`;
  const stmts = TEMPLATES[i % TEMPLATES.length](i);
  statements += stmts.length;
  mkdirSync(path.join(migDir, id));
  const up = path.join(migDir, id, 'up.sql');
  writeFileSync(up, stmts.join(';\n') + ';\n');
  writeFileSync(path.join(migDir, id, 'down.sql'), '-- rollback\nSELECT 1;\n');
  files.push(up);
  allFiles.push(up, path.join(migDir, id, 'down.sql'));
  manifest.push(`${id} sha256:${'0'.repeat(64)} -`);
}
let count = N;
if (from) {
  // the real history: its up.sql files; statements counted roughly (semicolons at line ends)
  const ids = readdirSync(migDir).filter((d) => existsSync(path.join(migDir, d, 'up.sql')));
  for (const d of ids) {
    const up = path.join(migDir, d, 'up.sql');
    files.push(up);
    allFiles.push(
      up,
      ...['down.sql', 'verify.sql'].map((f) => path.join(migDir, d, f)).filter((f) => existsSync(f)),
    );
    statements += (readFileSync(up, 'utf8').match(/;\s*$/gm) ?? []).length;
  }
  count = ids.length;
  console.log(`linting ${count} migrations of ${from} (about ${statements} statements)`);
} else {
  writeFileSync(
    path.join(migDir, 'manifest'),
    [`braid-manifest 1 sha256:${'0'.repeat(64)}`, ...manifest].join('\n') + '\n',
  );
  console.log(`generated ${N} migrations, ${statements} statements, in ${work}`);
}

/** One whole process: {wall, cpu, out} (exit 1, findings, counts as success). */
function runOnce(label, cmd, args) {
  return measureProcess(label, cmd, args, { cwd: work, okStatus: [1] });
}

let squawkBin;
try {
  squawkBin = peerBin('squawk');
} catch (e) {
  console.log(`squawk unavailable (${String(e.message).split('\n')[0]}): comparison skipped`);
}
// braid as users run it (the `braid` command); BRAID_BENCH_BIN=<path of another build's
// dist/braid.js> times that build instead, started as `node <path>` (before/after)
const braidCmd = process.env.BRAID_BENCH_BIN ? process.execPath : braidLauncher;
const braidArgs = [
  ...(process.env.BRAID_BENCH_BIN ? [process.env.BRAID_BENCH_BIN] : []),
  'lint',
  '--json',
  '--fail-on',
  'none',
];
const squawkArgs = ['--reporter', 'gcc', ...files.map((f) => path.relative(work, f))];
const squawkAllArgs = ['--reporter', 'gcc', ...allFiles.map((f) => path.relative(work, f))];
// The machine is shared: braid and squawk runs alternate (and swap order every round) so that
// both see the same load, instead of all braid runs and then all squawk runs.
async function measure(mode) {
  const braidRuns = [];
  const squawkRuns = [];
  const squawkAllRuns = [];
  let braidOut = '';
  let squawkOut = '';
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 === 0 ? ['braid', 'squawk'] : ['squawk', 'braid'];
    for (const who of order) {
      if (who === 'braid') {
        const b = runOnce('braid lint', braidCmd, braidArgs);
        braidRuns.push(b);
        braidOut = b.out;
      } else if (squawkBin) {
        const q = runOnce('squawk', squawkBin, squawkArgs);
        squawkRuns.push(q);
        squawkOut = q.out;
        squawkAllRuns.push(runOnce('squawk (all files)', squawkBin, squawkAllArgs));
      }
    }
  }
  const braidT = medianTimes(braidRuns);
  const doc = JSON.parse(braidOut);
  const findings = doc.findings.length;
  const workers = doc.stats ? `, ${doc.stats.workers} worker thread(s) in the last run` : '';
  const rows = [
    [
      'braid lint',
      braidT,
      `${Math.round(statements / braidT.wall).toLocaleString('en-US')} statements/s, ${findings} findings${workers}`,
    ],
  ];
  if (squawkBin) {
    const sqT = medianTimes(squawkRuns);
    const lines = squawkOut.split('\n').filter((l) => l.trim()).length;
    rows.push([
      'squawk',
      sqT,
      `${Math.round(statements / sqT.wall).toLocaleString('en-US')} statements/s, ${lines} report lines`,
    ]);
    rows.push([
      'squawk, up + down + verify',
      medianTimes(squawkAllRuns),
      `the ${allFiles.length} files braid lints (its rules read down.sql and verify.sql too)`,
    ]);
    const allRatio = braidT.wall / medianTimes(squawkAllRuns).wall;
    console.log(`braid / squawk on the same ${allFiles.length} files: ${allRatio.toFixed(2)}x (medians)`);
    const ratios = braidRuns.map((b, i) => b.wall / squawkRuns[i].wall).sort((a, b) => a - b);
    console.log(
      `per-round braid/squawk wall ratios: ${ratios.map((x) => x.toFixed(2)).join(' ')} (median ${median(ratios).toFixed(2)})`,
    );
    if (braidT.cpu !== undefined && sqT.cpu) {
      console.log(`CPU time braid/squawk: ${(braidT.cpu / sqT.cpu).toFixed(2)} (medians)`);
    }
  }
  printTable(
    `lint of ${count} migrations (${statements} statements), median of ${RUNS} whole-process runs, wall and CPU (user+system, all threads), ${loadLabel(mode)}`,
    rows,
    'squawk',
  );
}

for (const mode of loadModes()) await underLoad(mode, () => measure(mode));
if (from) {
  // a real project: left as it was
} else if (process.env.BRAID_BENCH_KEEP || process.env.BENCH_KEEP) console.log(`kept ${work}`);
else rmSync(work, { recursive: true, force: true });
