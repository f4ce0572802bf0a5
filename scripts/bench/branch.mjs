#!/usr/bin/env node
// Benchmark (issue 5): a generated repository with N migrations (2,000 by default) whose branches
// main and feature are 50 migrations apart on each side. Times, as whole processes:
//   - `git diff --stat main...feature`  (the floor the issue names)
//   - `braid check` on feature          (the pre-commit hook: no database; goal <= 0.25 s), cold
//     (no .git/braid cache), warm without the replay (BRAID_NO_REPLAY=1), replayed (nothing
//     changed: packages/cli/src/replay.ts), as the hook, and after editing one unshared migration
//   - `braid diff main feature --static` (goal <= 0.3 s), cold (no footprint memo), warm without
//     the replay, and replayed (same refs)
//   - `git merge main` on feature with braid's merge driver, warm cache (goal <= 1 s for the driver)
// Each under every load of BRAID_BENCH_LOAD (default: quiet, then nice: one busy loop per core at
// nice 19; scripts/bench/lib/load.mjs), one table each.
// Wall and CPU time (user + system, the git processes braid waits for included) of each.
// BRAID_BENCH_MERGE=0 leaves out the merge rows (the first merge replays the history on PGlite).
// Usage: node scripts/bench/branch.mjs [N] [RUNS]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { braidLauncher, measureProcess, medianTimes, printTable } from './lib/common.mjs';
import { loadLabel, loadModes, underLoad } from './lib/load.mjs';

const N = Number(process.argv[2] ?? 2000);
const RUNS = Number(process.argv[3] ?? 5);
const SIDE = 50;
const env = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
  NO_COLOR: '1',
};
delete env.DATABASE_URL;
const git = (cwd, ...args) => execFileSync('git', args, { cwd, env, encoding: 'utf8', maxBuffer: 1 << 28 });
const braid = (cwd, ...args) =>
  execFileSync(braidLauncher, [...args], {
    cwd,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-branch-'));
const repo = path.join(work, 'repo');
mkdirSync(repo);
const entries = [];
function id(i, slug) {
  const t = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${t}_${slug}_${i}`;
}
function add(i, slug) {
  const mid = id(i, slug);
  const dir = path.join(repo, '.migrations', mid);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'up.sql'),
    `create table t_${slug}_${i} (id bigint generated always as identity primary key, note text);\n`,
  );
  writeFileSync(path.join(dir, 'down.sql'), `drop table t_${slug}_${i};\n`);
  const parent = entries.length ? entries[entries.length - 1].split(' ')[0] : '-';
  entries.push(`${mid} sha256:${'0'.repeat(64)} ${parent}`);
}
function writeManifest() {
  writeFileSync(
    path.join(repo, '.migrations', 'manifest'),
    ['braid-manifest 1 sha256:' + '0'.repeat(64), ...entries].join('\n') + '\n',
  );
  braid(repo, 'hash');
  // Keep the real hashes: migrations already committed on main are protected from rehashing.
  const lines = readFileSync(path.join(repo, '.migrations', 'manifest'), 'utf8')
    .trim()
    .split('\n')
    .slice(1);
  entries.length = 0;
  entries.push(...lines);
}

console.log(`generating ${N} migrations, branches ${SIDE} apart, in ${work} …`);
git(repo, 'init', '-q', '-b', 'main', '.');
for (let i = 0; i < N - SIDE; i++) add(i, 'base');
writeManifest();
git(repo, 'add', '-A');
git(repo, 'commit', '-qm', 'base');
git(repo, 'branch', 'feature');
const baseEntries = entries.slice();
for (let i = N - SIDE; i < N; i++) add(i, 'main');
writeManifest();
git(repo, 'add', '-A');
git(repo, 'commit', '-qm', 'main side');
git(repo, 'checkout', '-q', 'feature');
entries.length = 0;
entries.push(...baseEntries);
for (let i = N; i < N + SIDE; i++) add(i, 'feature');
writeManifest();
git(repo, 'add', '-A');
git(repo, 'commit', '-qm', 'feature side');
braid(repo, 'install');

/** Median wall and CPU time ({wall, cpu}) of RUNS whole processes. */
function measure(label, cmd, args, opts = {}) {
  const times = [];
  for (let r = 0; r < RUNS; r++) {
    opts.before?.();
    times.push(measureProcess(label, cmd, args, { cwd: repo, env, ...opts.spawn }));
    opts.after?.();
  }
  return medianTimes(times);
}

let coldMergeDone = false;
async function measureAll(mode) {
  const rows = [];
  rows.push([
    'git diff --stat main...feature',
    measure('git diff', 'git', ['diff', '--stat', 'main...feature']),
  ]);
  // The floor of any Node process on this machine right now (the machine is often shared).
  rows.push(['node -e 0 (Node start-up)', measure('node', 'node', ['-e', '0'])]);
  // braid keeps a stat cache and remembered lint results / footprints in .git/braid: time the
  // first run (no cache), the steady state (nothing changed since the last run) and the usual
  // pre-commit case (one unshared migration edited and rehashed: one folder read, lint rerun).
  const braidDir = path.join(repo, '.git', 'braid');
  const rmCache = (name) => () => rmSync(path.join(braidDir, name), { force: true });
  rows.push([
    'braid check, cold (no cache)',
    measure('check', braidLauncher, ['check'], { before: rmCache('stat-cache.json') }),
  ]);
  braid(repo, 'check');
  // BRAID_NO_REPLAY=1: the whole check, warm stat cache and lint memo (what runs after a commit
  // moved HEAD or main, or any input changed)
  const noReplay = { spawn: { env: { ...env, BRAID_NO_REPLAY: '1' } } };
  rows.push([
    'braid check, warm, no replay',
    measure('check', braidLauncher, ['check'], noReplay),
    'warm cache',
  ]);
  rows.push([
    'braid check (pre-commit)',
    measure('check', braidLauncher, ['check']),
    'replay: nothing changed',
  ]);
  // The hook as git runs it (sh, cd, the chain test, then braid check), warm cache.
  const hook = path.join(repo, '.git', 'hooks', 'pre-commit');
  rows.push(['.git/hooks/pre-commit', measure('hook', hook, []), 'replay, as git commit runs it']);
  const edited = path.join(repo, '.migrations', id(N + SIDE - 1, 'feature'), 'up.sql');
  const original = readFileSync(edited, 'utf8');
  let flip = 0;
  rows.push([
    'braid check, one migration edited',
    measure('check', braidLauncher, ['check'], {
      before: () => {
        writeFileSync(edited, `${original}-- edit ${flip++}\n`);
        braid(repo, 'hash');
      },
    }),
    'warm cache, lint rerun',
  ]);
  writeFileSync(edited, original);
  braid(repo, 'hash');
  const diffArgs = ['diff', 'main', 'feature', '--static'];
  rows.push([
    'braid diff --static, cold (no memo)',
    measure('diff', braidLauncher, diffArgs, { ...noReplay, before: rmCache('footprints.json') }),
  ]);
  braid(repo, 'diff', 'main', 'feature', '--static');
  rows.push([
    'braid diff --static, no replay',
    measure('diff', braidLauncher, diffArgs, noReplay),
    'warm footprint memo',
  ]);
  rows.push(['braid diff --static', measure('diff', braidLauncher, diffArgs), 'replay: same refs']);
  if (process.env.BRAID_BENCH_MERGE === '0') {
    printResults(mode, rows);
    return;
  }
  // Warm the replay caches once (first merge replays everything on PGlite), then time merges.
  const abort = () => {
    try {
      git(repo, 'merge', '--abort');
    } catch {
      // nothing to abort
    }
  };
  // The replay caches are cold only the first time (the first load mode).
  if (!coldMergeDone) {
    const cold = measureProcess('merge (cold)', 'git', ['merge', '--no-commit', '--no-ff', 'main'], {
      cwd: repo,
      env,
    });
    abort();
    coldMergeDone = true;
    rows.push(['git merge with the driver (cold cache)', cold, 'replays base, both sides and both orders']);
  }
  rows.push([
    'git merge with the driver (warm cache)',
    measure('merge', 'git', ['merge', '--no-commit', '--no-ff', 'main'], { after: abort }),
  ]);
  printResults(mode, rows);
}

function printResults(mode, rows) {
  printTable(
    `${N} migrations, branches ${SIDE} apart (median of ${RUNS} whole processes, wall and CPU (user+system, children included); ${loadLabel(mode)} on ${os.cpus().length} cores)`,
    rows,
    'git diff --stat main...feature',
  );
}

try {
  for (const mode of loadModes()) await underLoad(mode, () => measureAll(mode));
} finally {
  if (process.env.BRAID_BENCH_KEEP) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
