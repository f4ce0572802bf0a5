#!/usr/bin/env node
// Benchmark (issue 5): braid's post-checkout hook. A generated history of N migrations on main,
// a branch `feature` with one more, `braid install`, `braid up` on feature (embedded PGlite); then
//   1. `git checkout` main <-> feature with the hook (main: the drift note; feature: in sync),
//   2. the same checkouts without hooks (core.hooksPath=/dev/null): the floor,
//   3. `braid post-checkout` when the state file is missing (PGlite must boot: the slow path).
// Usage: node scripts/bench/post-checkout.mjs [N, default 200] [runs, default 5]
// Medians of the runs (the machine is shared). BRAID_BENCH_KEEP=1 keeps the repository.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { braidLauncher, printTable, timeProcess } from './lib/common.mjs';
import { history } from './lib/history.mjs';

const N = Number(process.argv[2] ?? 200);
const RUNS = Number(process.argv[3] ?? 5);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const env = {
  ...process.env,
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
};
delete env.DATABASE_URL;
for (const k of Object.keys(env)) if (/^PG[A-Z]+$/.test(k)) delete env[k];

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-post-checkout-'));
const repo = path.join(work, 'repo');
const git = (...args) => execFileSync('git', args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
const braid = (...args) =>
  execFileSync(braidLauncher, [...args], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
try {
  const dbmateDir = path.join(work, 'db', 'migrations');
  mkdirSync(dbmateDir, { recursive: true });
  for (const m of history(N)) {
    writeFileSync(
      path.join(dbmateDir, `${m.version}_${m.name}.sql`),
      `-- migrate:up\n${m.up}\n\n-- migrate:down\n${m.down}\n`,
    );
  }
  mkdirSync(repo);
  git('init', '-q', '-b', 'main');
  braid('import', '--from', 'dbmate', dbmateDir);
  git('add', '-A');
  git('commit', '-q', '--no-verify', '-m', 'history');
  git('checkout', '-q', '-b', 'feature');
  braid('new', 'extra');
  const extra = readdirSync(path.join(repo, '.migrations')).filter((f) => f.endsWith('_extra'))[0];
  writeFileSync(path.join(repo, '.migrations', extra, 'up.sql'), 'create table extra (id int);\n');
  writeFileSync(path.join(repo, '.migrations', extra, 'down.sql'), 'drop table extra;\n');
  braid('hash');
  git('add', '-A');
  git('commit', '-q', '--no-verify', '-m', 'extra');
  braid('install');
  git('add', '.gitattributes');
  git('commit', '-q', '--no-verify', '-m', 'install');
  braid('up');

  const hook = { drift: [], sync: [] };
  const floor = [];
  const slow = [];
  let note = '';
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    const c = spawnSync('git', ['checkout', '-q', 'main'], { cwd: repo, env, encoding: 'utf8' });
    hook.drift.push(Number(process.hrtime.bigint() - t0) / 1e9);
    note = c.stderr.trim();
    hook.sync.push(timeProcess('checkout feature', 'git', ['checkout', '-q', 'feature'], { cwd: repo, env }));
    floor.push(
      timeProcess(
        'checkout main (no hooks)',
        'git',
        ['-c', 'core.hooksPath=/dev/null', 'checkout', '-q', 'main'],
        { cwd: repo, env },
      ),
    );
    floor.push(
      timeProcess(
        'checkout feature (no hooks)',
        'git',
        ['-c', 'core.hooksPath=/dev/null', 'checkout', '-q', 'feature'],
        { cwd: repo, env },
      ),
    );
    rmSync(path.join(repo, '.git', 'braid', 'pglite.state.json'), { force: true });
    slow.push(
      timeProcess('braid post-checkout (no state file)', braidLauncher, ['post-checkout', 'x', 'y', '1'], {
        cwd: repo,
        env,
      }),
    );
  }
  console.log(`post-checkout hook: ${N} migrations, ${RUNS} runs, medians (shared machine)`);
  console.log(`note on main: ${note || '(none)'}`);
  printTable(
    'git checkout',
    [
      ['without hooks (floor)', median(floor)],
      ['with the hook, drift note (main)', median(hook.drift)],
      ['with the hook, in sync (feature)', median(hook.sync)],
      ['braid post-checkout, PGlite boot', median(slow), 'state file missing or stale'],
    ],
    'without hooks (floor)',
  );
} finally {
  if (process.env.BRAID_BENCH_KEEP === '1') console.log(`kept ${repo}`);
  else rmSync(work, { recursive: true, force: true });
}
