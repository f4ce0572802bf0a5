#!/usr/bin/env node
// Benchmark (issue 6): `braid test --all` on a generated N-migration history (default 300) vs a
// shell loop doing the same round trips with psql and a catalog dump (pg_dump --schema-only)
// per step: up, dump, down, dump (compare with the dump before up), up, dump (compare with the
// dump after up). Same run, same server. Prints both and the ratio (goal braid <= 0.5x).
// Usage: node scripts/bench/test-roundtrip.mjs [N]
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
import { history } from './lib/history.mjs';

const N = Number(process.argv[2] ?? 300);

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-test-'));
const migs = history(N);

// The history in dbmate's layout, imported into a braid project (both sides run identical SQL).
const dbmateDir = path.join(work, 'db', 'migrations');
mkdirSync(dbmateDir, { recursive: true });
const sqlDir = path.join(work, 'sql');
mkdirSync(sqlDir);
for (const m of migs) {
  writeFileSync(
    path.join(dbmateDir, `${m.version}_${m.name}.sql`),
    `-- migrate:up\n${m.up}\n\n-- migrate:down\n${m.down}\n`,
  );
  writeFileSync(path.join(sqlDir, `${m.version}.up.sql`), `${m.up}\n`);
  writeFileSync(path.join(sqlDir, `${m.version}.down.sql`), `${m.down}\n`);
}
const repo = path.join(work, 'repo');
mkdirSync(repo);
execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
execFileSync(braidLauncher, ['import', '--from', 'dbmate', dbmateDir], {
  cwd: repo,
  stdio: ['ignore', 'ignore', 'inherit'],
});

// The shell loop: one psql process per file (each in a transaction), pg_dump after each step.
const loop = path.join(work, 'loop.sh');
writeFileSync(
  loop,
  `#!/usr/bin/env bash
set -euo pipefail
db="$1"; dir="$2"; out="$3"
export PGOPTIONS='-c client_min_messages=warning'
# pg_dump >= 15.14 brackets its output with \\restrict <random key>: not part of the schema.
dump() { pg_dump --schema-only --no-owner --no-privileges "$db" | grep -v '^\\\\\\(un\\)\\?restrict ' > "$1"; }
dump "$out/s0.sql"
fail=0
for v in ${migs.map((m) => m.version).join(' ')}; do
  psql "$db" -q -1 -v ON_ERROR_STOP=1 -f "$dir/$v.up.sql"
  dump "$out/s1.sql"
  psql "$db" -q -1 -v ON_ERROR_STOP=1 -f "$dir/$v.down.sql"
  dump "$out/down.sql"
  cmp -s "$out/s0.sql" "$out/down.sql" || { echo "$v down differs"; fail=1; }
  psql "$db" -q -1 -v ON_ERROR_STOP=1 -f "$dir/$v.up.sql"
  dump "$out/reup.sql"
  cmp -s "$out/s1.sql" "$out/reup.sql" || { echo "$v re-up differs"; fail=1; }
  mv "$out/reup.sql" "$out/s0.sql"
done
exit $fail
`,
  { mode: 0o755 },
);

const rows = [];
const dbs = [];
try {
  const u1 = freshDatabase('braid_bench_test_loop');
  dbs.push('braid_bench_test_loop');
  const dumps = path.join(work, 'dumps');
  mkdirSync(dumps);
  rows.push([
    'shell loop (psql + pg_dump)',
    timeProcess('shell loop', 'bash', [loop, u1, sqlDir, dumps]),
    `${migs.length * 3} psql + ${migs.length * 3 + 1} pg_dump processes`,
  ]);
  rows.push([
    'braid test --all (server)',
    timeProcess('braid test', braidLauncher, ['test', '--all', '--shadow-db', serverUrl], { cwd: repo }),
    'one connection, temporary database',
  ]);
  rows.push([
    'braid test --all (PGlite)',
    timeProcess('braid test', braidLauncher, ['test', '--all'], { cwd: repo }),
    'embedded, no server',
  ]);
  printTable(
    `round-trip test of ${migs.length} migrations (whole processes, same run)`,
    rows,
    'shell loop (psql + pg_dump)',
  );
  const base = rows[0][1];
  const br = rows[1][1];
  console.log(`  braid (server) / shell loop: ${(br / base).toFixed(2)}x (goal <= 0.5)`);
} finally {
  for (const d of dbs) dropDatabase(d);
  rmSync(work, { recursive: true, force: true });
}
