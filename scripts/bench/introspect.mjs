#!/usr/bin/env node
// Benchmark (issue 3, introspection): generated schemas of 100, 1,000 and 5,000 tables (each with
// a primary key, a foreign key, an index, a check, a default; a view every 10 tables) on the
// server. Times, as whole processes on the same database in the same run, output to /dev/null:
//   1. pg_dump --schema-only (the baseline),
//   2. `braid schema inspect --from URL --format sql`: the introspection and the SQL that makes
//      the schema, what pg_dump --schema-only prints (the goal row: <= 1.0x pg_dump),
//   3. the same with --format json (the model),
//   4. `braid schema diff --from URL --to URL --format json` (two introspections + diff + DDL).
// braid runs as users run it: the `braid` command (packages/cli/bin/braid). Where
// NODE_EXTRA_CA_CERTS is set, one more row shows the same command started as `node
// dist/braid.js`, which makes Node parse that CA bundle at start-up (bin/braid says why not).
// Prints times and ratios.
// Usage: node scripts/bench/introspect.mjs [sizes, default 100,1000,5000] [runs, default 5]
// BRAID_BENCH_DIFF=0 leaves out (4).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  braidBin,
  braidLauncher,
  dropDatabase,
  freshDatabase,
  printTable,
  timeProcess,
} from './lib/common.mjs';

const SIZES = (process.argv[2] ?? '100,1000,5000').split(',').map(Number);
const RUNS = Number(process.argv[3] ?? 5);
const WITH_DIFF = process.env.BRAID_BENCH_DIFF !== '0';
const EXTRA_CA = Boolean(process.env.NODE_EXTRA_CA_CERTS);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function schemaSql(n) {
  const out = [];
  for (let i = 1; i <= n; i++) {
    const ref = i > 1 ? `, parent_id bigint references t${i - 1}(id) on delete cascade` : '';
    out.push(
      `create table t${i} (id bigint generated always as identity primary key, name text not null default 'x',` +
        ` qty integer check (qty >= 0), created_at timestamptz not null default now()${ref});`,
      `create index t${i}_name_idx on t${i} (name);`,
    );
    if (i % 10 === 0) out.push(`create view v${i} as select id, name from t${i} where qty > 0;`);
  }
  return out.join('\n');
}

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-introspect-'));
const quiet = { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] };

try {
  console.log(
    `NODE_EXTRA_CA_CERTS is ${EXTRA_CA ? `set (${process.env.NODE_EXTRA_CA_CERTS})` : 'not set'}; braid runs through packages/cli/bin/braid`,
  );
  for (const n of SIZES) {
    const name = `braid_bench_introspect_${n}`;
    const url = freshDatabase(name);
    const file = path.join(work, `schema-${n}.sql`);
    writeFileSync(file, schemaSql(n));
    execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qf', file], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const cases = [
      ['pg_dump --schema-only', 'pg_dump', ['--schema-only', '-f', '/dev/null', url]],
      ['braid schema inspect (sql)', braidLauncher, ['schema', 'inspect', '--from', url, '--format', 'sql']],
      [
        'braid schema inspect (json)',
        braidLauncher,
        ['schema', 'inspect', '--from', url, '--format', 'json'],
      ],
      ...(WITH_DIFF
        ? [
            [
              'braid schema diff URL URL (2x)',
              braidLauncher,
              ['schema', 'diff', '--from', url, '--to', url, '--format', 'json'],
            ],
          ]
        : []),
      ...(EXTRA_CA
        ? [
            [
              'node dist/braid.js inspect (sql)',
              process.execPath,
              [braidBin, 'schema', 'inspect', '--from', url, '--format', 'sql'],
            ],
          ]
        : []),
    ];
    // a warm-up of each (page cache, the code cache), then interleaved runs, median of each
    for (const [label, cmd, args] of cases) timeProcess(label, cmd, args, quiet);
    const t = cases.map(() => []);
    for (let r = 0; r < RUNS; r++) {
      cases.forEach(([label, cmd, args], i) => t[i].push(timeProcess(label, cmd, args, quiet)));
    }
    const runs = (xs) => xs.map((x) => x.toFixed(3)).join(' ');
    printTable(
      `${n} tables (+${n} indexes, ${n - 1} foreign keys, ${Math.floor(n / 10)} views), median of ${RUNS} (runs listed)`,
      cases.map(([label], i) => [label, median(t[i]), runs(t[i])]),
      'pg_dump --schema-only',
    );
    // runs next to each other share the machine's load: the steadier figure on a shared machine
    const paired = median(t[1].map((x, i) => x / t[0][i]));
    console.log(
      `  braid schema inspect (sql) / pg_dump: median of per-run ratios ${paired.toFixed(2)}x (goal <= 1.0)`,
    );
    dropDatabase(name);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
