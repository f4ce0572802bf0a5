#!/usr/bin/env node
// Benchmark (issue 2): apply a generated 300-migration history on the server with
//   1. one psql session running the same SQL, each migration in its own transaction (baseline),
//   2. dbmate, the peer tool, applying the same history,
//   3. `braid up` as a whole process,
// and braid on PGlite. Prints times and ratios.
// Usage: node scripts/bench/apply.mjs [N, default 300] [runs, default 5]
// The server tools run interleaved (psql, dbmate, braid; psql, …), each on a fresh database, and
// the median of each is reported: the machine is shared, one run proves little. PGlite runs once
// (BRAID_BENCH_PGLITE=0 skips it). BRAID_BENCH_KEEP=1 keeps the generated repository.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { braidLauncher, dropDatabase, freshDatabase, printTable, timeProcess } from './lib/common.mjs';
import { peerBin } from './lib/peers.mjs';
import { history } from './lib/history.mjs';

const N = Number(process.argv[2] ?? 300);
const RUNS = Number(process.argv[3] ?? 5);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

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
execFileSync(braidLauncher, ['import', '--from', 'dbmate', dbmateDir], {
  cwd: repo,
  stdio: ['ignore', 'ignore', 'inherit'],
});

const rows = [];
const dbs = ['braid_bench_psql', 'braid_bench_dbmate', 'braid_bench_braid'];
try {
  const dbmate = peerBin('dbmate');
  const t = { psql: [], dbmate: [], braid: [] };
  for (let r = 0; r < RUNS; r++) {
    const u1 = freshDatabase('braid_bench_psql');
    t.psql.push(timeProcess('psql', 'psql', [u1, '-q', '-v', 'ON_ERROR_STOP=1', '-f', psqlFile]));

    const u2x = new URL(freshDatabase('braid_bench_dbmate'));
    u2x.searchParams.set('sslmode', 'disable');
    t.dbmate.push(
      timeProcess('dbmate', dbmate, [
        '--url',
        u2x.toString(),
        '--migrations-dir',
        dbmateDir,
        '--no-dump-schema',
        'up',
      ]),
    );

    const u3 = freshDatabase('braid_bench_braid');
    t.braid.push(timeProcess('braid', braidLauncher, ['up', '--db', u3], { cwd: repo }));
  }
  const fmt = (xs) => xs.map((x) => x.toFixed(2)).join(' ');
  rows.push(['psql, one session', median(t.psql), fmt(t.psql)]);
  rows.push(['dbmate up', median(t.dbmate), fmt(t.dbmate)]);
  rows.push(['braid up (server)', median(t.braid), fmt(t.braid)]);

  if (process.env.BRAID_BENCH_PGLITE !== '0') {
    const pgliteDir = path.join(work, 'pglite');
    rows.push([
      'braid up (PGlite)',
      timeProcess('braid', braidLauncher, ['up', '--db', `pglite:${pgliteDir}`], { cwd: repo }),
      'embedded, no server, one run',
    ]);
  }
  printTable(
    `apply ${migs.length} migrations (whole processes, same run, median of ${RUNS}; runs listed)`,
    rows,
    'psql, one session',
  );
  const dbm = rows.find((r) => r[0] === 'dbmate up')[1];
  const br = rows.find((r) => r[0] === 'braid up (server)')[1];
  // Runs next to each other share the machine's load: the median of the per-run ratios is the
  // steadier figure when others are using it.
  const paired = median(t.braid.map((b, i) => b / t.dbmate[i]));
  console.log(
    `  braid / dbmate: ${(br / dbm).toFixed(2)}x (medians), ${paired.toFixed(2)}x (median of per-run ratios) (goal <= 1.0)`,
  );
} finally {
  for (const d of dbs) dropDatabase(d);
  if (process.env.BRAID_BENCH_KEEP === '1') console.log(`  kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
