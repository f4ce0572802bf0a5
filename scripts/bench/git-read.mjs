#!/usr/bin/env node
// Benchmark (issue 5, reading history from git): a generated repository with N migrations (2,000
// by default) and two branches 50 migrations apart. Times, in one process, what `braid diff`'s
// static part needs from git — readMigrationsAt(feature) (manifest + every up/down/verify),
// mergeBase(main, feature), the changed migrations (diff-tree) and the commits of the branch with
// their migrations — against `git diff --stat main...feature` of the same refs as the floor.
// Usage: node scripts/bench/git-read.mjs [N] [RUNS]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { printTable, root, timeProcess } from './lib/common.mjs';

const N = Number(process.argv[2] ?? 2000);
const RUNS = Number(process.argv[3] ?? 7);
const SIDE = 50;

const env = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
  GIT_AUTHOR_DATE: '2026-11-25T10:00:00+00:00',
  GIT_COMMITTER_DATE: '2026-11-25T10:00:00+00:00',
};
const git = (cwd, ...args) => execFileSync('git', args, { cwd, env, encoding: 'utf8', maxBuffer: 1 << 28 });

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-git-'));
const repo = path.join(work, 'repo');
mkdirSync(repo);

function id(i, slug) {
  const t = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${t}_${slug}_${i}`;
}
const manifestLines = [];
function addMigration(i, slug) {
  const mid = id(i, slug);
  const dir = path.join(repo, '.migrations', mid);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'up.sql'),
    `create table t_${slug}_${i} (id bigint primary key, note text);\n`,
  );
  writeFileSync(path.join(dir, 'down.sql'), `drop table t_${slug}_${i};\n`);
  if (i % 10 === 0) writeFileSync(path.join(dir, 'verify.sql'), `select id from t_${slug}_${i} limit 0;\n`);
  manifestLines.push(`${mid} sha256:${'0'.repeat(64)} -`);
}
function writeManifest() {
  writeFileSync(
    path.join(repo, '.migrations', 'manifest'),
    ['braid-manifest 1 sha256:bench', ...manifestLines].join('\n') + '\n',
  );
}

console.log(`generating a repository with ${N} migrations and two branches ${SIDE} apart in ${work} ...`);
git(repo, 'init', '-q', '-b', 'main', '.');
for (let i = 0; i < N - SIDE; i++) addMigration(i, 'base');
writeManifest();
git(repo, 'add', '-A');
git(repo, 'commit', '-q', '-m', 'base history');
const baseLen = manifestLines.length;
git(repo, 'checkout', '-q', '-b', 'feature');
for (let c = 0; c < 5; c++) {
  for (let k = 0; k < SIDE / 5; k++) addMigration(N + c * 100 + k, 'feature');
  writeManifest();
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', `feature ${c}`);
}
git(repo, 'checkout', '-q', 'main');
manifestLines.length = baseLen;
for (let c = 0; c < 5; c++) {
  for (let k = 0; k < SIDE / 5; k++) addMigration(N + 1000 + c * 100 + k, 'main');
  writeManifest();
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', `main ${c}`);
}
git(repo, 'gc', '-q');

// The git reader, bundled the way the CLI bundles it.
const bundle = path.join(work, 'git-reader.cjs');
await build({
  entryPoints: [path.join(root, 'packages/git/src/index.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
});
const driver = path.join(work, 'driver.cjs');
writeFileSync(
  driver,
  `const { GitRepo, checkProtected } = require(${JSON.stringify(bundle)});
const now = () => Number(process.hrtime.bigint()) / 1e6;
(async () => {
  if (process.argv[3] === 'protect') {
    // braid check's protected-history step on main's working tree (every migration protected).
    const fs = require('node:fs');
    const path = require('node:path');
    const dir = path.join(process.argv[2], '.migrations');
    const working = new Map();
    for (const id of fs.readdirSync(dir)) {
      if (id === 'manifest') continue;
      const f = {};
      for (const [k, n] of [['up', 'up.sql'], ['down', 'down.sql'], ['verify', 'verify.sql']]) {
        const p = path.join(dir, id, n);
        if (fs.existsSync(p)) f[k] = fs.readFileSync(p, 'utf8');
      }
      working.set(id, f);
    }
    const t = now();
    const r = await checkProtected(process.argv[2], working);
    const ms = now() - t;
    if (r.findings.length !== 0 || r.protectedIds.size !== working.size) process.exit(3);
    process.stdout.write(JSON.stringify({ ms, protected: r.protectedIds.size }));
    return;
  }
  if (process.argv[3] === 'command') {
    // As a command issues it: open, then the reads and the history walk concurrently.
    const g = await GitRepo.open(process.argv[2]);
    const [at, changed, commits] = await Promise.all([
      g.readMigrationsAt('feature'),
      g.mergeBase('main', 'feature').then((b) => g.diffMigrations(b, 'feature')),
      g.mergeBase('main', 'feature').then((b) => g.commitsBetween(b, 'feature')),
    ]);
    g.close();
    process.stdout.write(JSON.stringify({ folders: at.folders.size, added: changed.added.length, commits: commits.length }));
    return;
  }
  const t0 = now();
  const g = await GitRepo.open(process.argv[2]);
  const t1 = now();
  const at = await g.readMigrationsAt('feature');
  const t2 = now();
  const base = await g.mergeBase('main', 'feature');
  const changed = await g.diffMigrations(base, 'feature');
  const commits = await g.commitsBetween(base, 'feature');
  const t3 = now();
  // The same work as a command would issue it: the reads and the history walk concurrently.
  const [at2, , commits2] = await Promise.all([
    g.readMigrationsAt('feature'),
    g.mergeBase('main', 'feature').then((b) => g.diffMigrations(b, 'feature')),
    g.mergeBase('main', 'feature').then((b) => g.commitsBetween(b, 'feature')),
  ]);
  const t4 = now();
  g.close();
  if (at2.folders.size !== at.folders.size || commits2.length !== commits.length) process.exit(2);
  process.stdout.write(JSON.stringify({ ms: t3 - t0, open: t1 - t0, read: t2 - t1, history: t3 - t2, concurrent: t4 - t3,
    folders: at.folders.size, added: changed.added.length, commits: commits.length }));
})().catch((e) => { console.error(e); process.exit(1); });
`,
);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const floor = [];
const whole = [];
const inproc = [];
const steps = { open: [], read: [], history: [], concurrent: [] };
const gitRead = [];
const protect = [];
let shape;
for (let r = 0; r < RUNS; r++) {
  floor.push(timeProcess('git diff --stat', 'git', ['diff', '--stat', 'main...feature'], { cwd: repo, env }));
  const t0 = process.hrtime.bigint();
  const cmd = spawnSync(process.execPath, [driver, repo, 'command'], { encoding: 'utf8', env });
  whole.push(Number(process.hrtime.bigint() - t0) / 1e9);
  if (cmd.status !== 0) throw new Error(cmd.stderr);
  const res = spawnSync(process.execPath, [driver, repo], { encoding: 'utf8', env });
  if (res.status !== 0) throw new Error(res.stderr);
  const prot = spawnSync(process.execPath, [driver, repo, 'protect'], { encoding: 'utf8', env });
  if (prot.status !== 0) throw new Error(`protect run failed (${prot.status}): ${prot.stderr}`);
  protect.push(JSON.parse(prot.stdout).ms / 1000);
  shape = JSON.parse(res.stdout);
  inproc.push(shape.ms / 1000);
  for (const k of Object.keys(steps)) steps[k].push(shape[k] / 1000);
  // git's own cost of reading every migration file: list the tree, then every blob through one cat-file.
  gitRead.push(
    timeProcess(
      'git ls-tree | cat-file',
      'sh',
      [
        '-c',
        "git ls-tree -r feature .migrations | cut -f1 | cut -d' ' -f3 | git cat-file --batch >/dev/null",
      ],
      { cwd: repo, env },
    ),
  );
}
const nodeStart = median(
  Array.from({ length: RUNS }, () => timeProcess('node', process.execPath, ['-e', '0'])),
);
if (shape.folders !== N - SIDE + SIDE || shape.added !== SIDE || shape.commits !== 5) {
  throw new Error(`unexpected result: ${JSON.stringify(shape)}`);
}
printTable(
  `git reads, ${N} migrations, branches ${SIDE} apart (median of ${RUNS}; read ${shape.folders} folders, ${shape.added} added, ${shape.commits} commits)`,
  [
    ['git diff --stat main...feature', median(floor), 'floor'],
    ['git ls-tree -r | git cat-file --batch', median(gitRead), "git's own cost of reading every file"],
    ['  braid: open', median(steps.open)],
    ['  braid: readMigrationsAt(feature)', median(steps.read), `${shape.folders} folders, manifest`],
    ['  braid: mergeBase + diff + commits', median(steps.history)],
    ['  braid: all of it, concurrently', median(steps.concurrent), 'as a command issues it (cat-file warm)'],
    ['  braid: checkProtected on main', median(protect), `${N} protected migrations, unchanged`],
    [
      'braid git reader, in process',
      median(inproc),
      'open + readMigrationsAt + mergeBase + diff + commits, one after the other',
    ],
    [
      'braid git reader, whole process',
      median(whole),
      `the same, concurrently; node start alone: ${nodeStart.toFixed(3)} s`,
    ],
  ],
  'git diff --stat main...feature',
);
if (!process.env.KEEP) rmSync(work, { recursive: true, force: true });
