#!/usr/bin/env node
// Benchmark (issue 3): the schema a ref describes = its migrations replayed on a shadow database.
// A generated N-migration history (300 by default) is replayed, whole process, by
// `braid schema inspect --from HEAD --format json` (the schema HEAD describes) on PGlite and on
// the server (--shadow-db), cold (empty caches) and cached (a second question about the same ref). Goal: cached <= 0.3 s. Baseline: one
// psql session applying the same SQL (the cost of the replay itself on the server).
// Usage: node scripts/bench/replay.mjs [N]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  braidLauncher,
  dropDatabase,
  freshDatabase,
  printTable,
  serverUrl,
  timeProcess,
} from './lib/common.mjs';

const N = Number(process.argv[2] ?? 300);
const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-replay-'));
const src = path.join(work, 'db');
mkdirSync(src);
const all = [];
for (let i = 1; i <= N; i++) {
  const up =
    i % 3 === 0
      ? `create view v${i} as select id, name from t${i - 2};`
      : `create table t${i} (id bigint generated always as identity primary key, name text not null, ref bigint${i > 1 && i % 3 === 2 ? ` references t${i - 1}(id)` : ''});\ncreate index t${i}_name_idx on t${i} (name);`;
  const down = i % 3 === 0 ? `drop view v${i};` : `drop table t${i};`;
  writeFileSync(
    path.join(src, `${20240101000000 + i * 100}_step_${i}.sql`),
    `-- migrate:up\n${up}\n\n-- migrate:down\n${down}\n`,
  );
  all.push(`begin;\n${up}\ncommit;\n`);
}
const psqlFile = path.join(work, 'all.sql');
writeFileSync(psqlFile, all.join(''));
const repo = path.join(work, 'repo');
mkdirSync(repo);
const env = { ...process.env, BRAID_CACHE_DIR: path.join(work, 'cache'), NO_COLOR: '1' };
execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
execFileSync(braidLauncher, ['import', '--from', 'dbmate', src], { cwd: repo, env, stdio: 'ignore' });
execFileSync('git', ['add', '-A'], { cwd: repo });
execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@x', 'commit', '-qm', 'history'], { cwd: repo });

const shadowDir = path.join(repo, '.git', 'braid', 'shadow');
const diff = (extra) => ['schema', 'inspect', '--from', 'HEAD', '--format', 'json', ...extra];
const rows = [];
try {
  const u = freshDatabase('braid_bench_replay_psql');
  rows.push([
    'psql, one session (the SQL itself)',
    timeProcess('psql', 'psql', [u, '-q', '-v', 'ON_ERROR_STOP=1', '-f', psqlFile]),
  ]);
  dropDatabase('braid_bench_replay_psql');

  rmSync(shadowDir, { recursive: true, force: true });
  rows.push([
    'braid replay, PGlite, cold',
    timeProcess('cold', braidLauncher, [...diff([])], { cwd: repo, env }),
  ]);
  rows.push([
    'braid replay, PGlite, cached',
    timeProcess('cached', braidLauncher, [...diff([])], { cwd: repo, env }),
  ]);
  rmSync(shadowDir, { recursive: true, force: true });
  const server = ['--shadow-db', serverUrl];
  rows.push([
    'braid replay, server, cold',
    timeProcess('cold', braidLauncher, [...diff(server)], { cwd: repo, env }),
  ]);
  rows.push([
    'braid replay, server, cached',
    timeProcess('cached', braidLauncher, [...diff(server)], { cwd: repo, env }),
  ]);
  printTable(
    `replay of ${N} migrations (whole processes, same run)`,
    rows,
    'psql, one session (the SQL itself)',
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
