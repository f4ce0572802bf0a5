#!/usr/bin/env node
// Benchmark (issue 2): apply a generated 300-migration history on the server with
//   1. one psql session running the same SQL, each migration in its own transaction (baseline),
//   2. dbmate, the peer tool, applying the same history,
//   3. `braid up` as a whole process,
// and braid on PGlite. Prints times and ratios. Usage: node scripts/bench/apply.mjs [N]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { braidBin, dropDatabase, freshDatabase, printTable, timeProcess } from './lib/common.mjs';
import { peerBin } from './lib/peers.mjs';
import { history } from './lib/history.mjs';

const N = Number(process.argv[2] ?? 300);

/** The shared generated history, plus one non-transactional index at the end. */
function withConcurrentIndex(n) {
  const out = history(n).map((m) => ({ ...m, noTx: false }));
  out.push({
    version: String(20240101000000 + (n + 1) * 100),
    name: 'concurrent_index',
    up: `create index concurrently t1_name_idx on t1 (name);`,
    down: `drop index concurrently t1_name_idx;`,
    noTx: true,
  });
  return out;
}

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-apply-'));
const migs = withConcurrentIndex(N - 1);

// dbmate layout (also the source braid imports from, so both apply identical SQL).
const dbmateDir = path.join(work, 'db', 'migrations');
mkdirSync(dbmateDir, { recursive: true });
for (const m of migs) {
  const upMarker = m.noTx ? '-- migrate:up transaction:false' : '-- migrate:up';
  const downMarker = m.noTx ? '-- migrate:down transaction:false' : '-- migrate:down';
  writeFileSync(
    path.join(dbmateDir, `${m.version}_${m.name}.sql`),
    `${upMarker}\n${m.up}\n\n${downMarker}\n${m.down}\n`,
  );
}

// psql: one session, each migration in its own transaction.
const psqlFile = path.join(work, 'all.sql');
writeFileSync(psqlFile, migs.map((m) => (m.noTx ? `${m.up}\n` : `begin;\n${m.up}\ncommit;\n`)).join(''));

// braid: import the dbmate history into a git repository.
const repo = path.join(work, 'repo');
mkdirSync(repo);
execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
execFileSync('node', [braidBin, 'import', '--from', 'dbmate', dbmateDir], {
  cwd: repo,
  stdio: ['ignore', 'ignore', 'inherit'],
});

const rows = [];
const dbs = [];
try {
  const u1 = freshDatabase('braid_bench_psql');
  dbs.push('braid_bench_psql');
  rows.push([
    'psql, one session',
    timeProcess('psql', 'psql', [u1, '-q', '-v', 'ON_ERROR_STOP=1', '-f', psqlFile]),
  ]);

  const u2 = freshDatabase('braid_bench_dbmate');
  dbs.push('braid_bench_dbmate');
  const dbmate = peerBin('dbmate');
  const u2x = new URL(u2);
  u2x.searchParams.set('sslmode', 'disable');
  rows.push([
    'dbmate up',
    timeProcess('dbmate', dbmate, [
      '--url',
      u2x.toString(),
      '--migrations-dir',
      dbmateDir,
      '--no-dump-schema',
      'up',
    ]),
  ]);

  const u3 = freshDatabase('braid_bench_braid');
  dbs.push('braid_bench_braid');
  rows.push(['braid up (server)', timeProcess('braid', 'node', [braidBin, 'up', '--db', u3], { cwd: repo })]);

  const pgliteDir = path.join(work, 'pglite');
  rows.push([
    'braid up (PGlite)',
    timeProcess('braid', 'node', [braidBin, 'up', '--db', `pglite:${pgliteDir}`], { cwd: repo }),
    'embedded, no server',
  ]);
  printTable(`apply ${migs.length} migrations (whole processes, same run)`, rows, 'psql, one session');
  const dbm = rows.find((r) => r[0] === 'dbmate up')[1];
  const br = rows.find((r) => r[0] === 'braid up (server)')[1];
  console.log(`  braid / dbmate: ${(br / dbm).toFixed(2)}x (goal <= 1.0)`);
} finally {
  for (const d of dbs) dropDatabase(d);
  rmSync(work, { recursive: true, force: true });
}
