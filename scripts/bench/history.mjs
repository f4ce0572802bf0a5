#!/usr/bin/env node
// Benchmark: `braid history --targets` over a fleet. A generated history
// (scripts/bench/lib/history.mjs) is rolled out once to N databases on the server with
// `braid rollout`; then `braid history --targets FILE` is timed in each format (text, json,
// html), RUNS times each, interleaved, and the median is printed with the size of the output.
// Usage: node scripts/bench/history.mjs [dbs, default 20] [migrations, default 50] [runs, default 5]
// The machine may be shared: read the medians, not a single run. Databases are dropped at the end.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { braidLauncher, dropDatabase, freshDatabase, timeProcess } from './lib/common.mjs';
import { history } from './lib/history.mjs';

const DBS = Number(process.argv[2] ?? 20);
const MIGS = Number(process.argv[3] ?? 50);
const RUNS = Number(process.argv[4] ?? 5);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-history-'));
const dbmateDir = path.join(work, 'db', 'migrations');
mkdirSync(dbmateDir, { recursive: true });
for (const m of history(MIGS)) {
  writeFileSync(
    path.join(dbmateDir, `${m.version}_${m.name}.sql`),
    `-- migrate:up\n${m.up}\n\n-- migrate:down\n${m.down}\n`,
  );
}
const repo = path.join(work, 'repo');
mkdirSync(repo);
execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
execFileSync(braidLauncher, ['import', '--from', 'dbmate', dbmateDir], {
  cwd: repo,
  stdio: ['ignore', 'ignore', 'inherit'],
});
execFileSync('git', ['add', '-A'], { cwd: repo });
execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', 'commit', '-qm', 'h'], {
  cwd: repo,
});

const names = Array.from({ length: DBS }, (_, i) => `braid_bench_hist_${String(i + 1).padStart(3, '0')}`);
const env = { ...process.env };
const targets = [];
try {
  names.forEach((n, i) => {
    env[`T${i}_URL`] = freshDatabase(n);
    targets.push({ name: n, urlEnv: `T${i}_URL` });
  });
  writeFileSync(path.join(repo, 'fleet.json'), JSON.stringify({ targets }));
  const setup = timeProcess(
    'rollout',
    braidLauncher,
    ['rollout', '--targets', 'fleet.json', '--concurrency', '8'],
    {
      cwd: repo,
      env,
    },
  );
  console.log(`setup: rollout of ${MIGS} migrations to ${DBS} databases in ${setup.toFixed(2)} s`);
  const times = { text: [], json: [], html: [] };
  const sizes = {};
  for (let r = 0; r < RUNS; r++) {
    for (const f of Object.keys(times)) {
      const out = path.join(work, `history.${f}`);
      times[f].push(
        timeProcess(
          `history ${f}`,
          braidLauncher,
          ['history', '--targets', 'fleet.json', '--format', f, '--out', out],
          {
            cwd: repo,
            env,
          },
        ),
      );
      sizes[f] = statSync(out).size;
    }
  }
  console.log(
    `\nbraid history --targets (${DBS} databases x ${MIGS} migrations = ${DBS * MIGS} history rows), median of ${RUNS}:`,
  );
  for (const f of Object.keys(times)) {
    console.log(
      `  --format ${f.padEnd(5)} ${median(times[f]).toFixed(3)} s  (min ${Math.min(...times[f]).toFixed(3)}, max ${Math.max(...times[f]).toFixed(3)}; output ${(sizes[f] / 1024).toFixed(0)} KiB)`,
    );
  }
} finally {
  for (const n of names) dropDatabase(n);
  rmSync(work, { recursive: true, force: true });
}
