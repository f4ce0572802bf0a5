#!/usr/bin/env node
// Benchmark (issue 3, introspection): generated schemas of 100, 1,000 and 5,000 tables (each with
// a primary key, a foreign key, an index, a check, a default; a view every 10 tables) on the
// server. Times, as whole processes on the same database in the same run:
//   1. pg_dump --schema-only (the baseline),
//   2. braid's introspection alone (a bundled driver: introspectUrl, then the model printed as JSON),
//   3. `braid schema diff --from URL --to URL --format json` (two introspections + diff + DDL).
// Prints times and ratios; goal: (2) <= 1.0x pg_dump. The driver is bundled with the CLI's own
// esbuild settings (scripts/esbuild-shared.mjs) and started through the CLI's code-cache loader,
// so it loads the same code the same way as `braid`.
// Usage: node scripts/bench/introspect.mjs [sizes, default 100,1000,5000] [runs, default 5]
// BRAID_BENCH_DIFF=0 leaves out (3).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { braidBin, dropDatabase, freshDatabase, printTable, root, timeProcess } from './lib/common.mjs';
import { external, pgNodeOnly, supported } from '../esbuild-shared.mjs';

const SIZES = (process.argv[2] ?? '100,1000,5000').split(',').map(Number);
const RUNS = Number(process.argv[3] ?? 5);
const WITH_DIFF = process.env.BRAID_BENCH_DIFF !== '0';
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
// Bundled and started like the CLI: the bundle (driver-main.js) runs through V8's code cache
// (packages/cli/bin/code-cache.js) from a three-line entry (driver.js), warmed once before timing.
const driverMain = path.join(work, 'driver-main.js');
const driver = path.join(work, 'driver.js');
await build({
  stdin: {
    contents: `const { introspectUrl } = require('@braid/pg');
      introspectUrl(process.argv[2]).then((m) => process.stdout.write(JSON.stringify(m)),
        (e) => { console.error(e); process.exit(1); });`,
    resolveDir: root,
    loader: 'js',
  },
  outfile: driverMain,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  tsconfig: path.join(root, 'tsconfig.json'),
  external,
  supported,
  plugins: [pgNodeOnly],
  nodePaths: [path.join(root, 'node_modules')],
});
writeFileSync(
  driver,
  `require(${JSON.stringify(path.join(root, 'packages', 'cli', 'bin', 'code-cache.js'))}).runBundle(${JSON.stringify(driverMain)}, module);\n`,
);

try {
  for (const n of SIZES) {
    const name = `braid_bench_introspect_${n}`;
    const url = freshDatabase(name);
    const file = path.join(work, `schema-${n}.sql`);
    writeFileSync(file, schemaSql(n));
    execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qf', file], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    // Interleaved runs (dump, introspect, diff; dump, …), median of each: fair under a shared load.
    const t = { dump: [], intro: [], diff: [] };
    timeProcess('introspect (warm-up: writes the code cache)', process.execPath, [driver, url], {
      cwd: work,
    });
    for (let r = 0; r < RUNS; r++) {
      t.dump.push(timeProcess('pg_dump', 'pg_dump', ['--schema-only', '-f', '/dev/null', url]));
      t.intro.push(timeProcess('introspect', process.execPath, [driver, url], { cwd: work }));
      if (WITH_DIFF)
        t.diff.push(
          timeProcess(
            'schema diff',
            process.execPath,
            [braidBin, 'schema', 'diff', '--from', url, '--to', url, '--format', 'json'],
            {
              cwd: work,
            },
          ),
        );
    }
    const [dump, intro] = [t.dump, t.intro].map(median);
    const runs = (xs) => xs.map((x) => x.toFixed(3)).join(' ');
    printTable(
      `${n} tables (+${n} indexes, ${n - 1} foreign keys, ${Math.floor(n / 10)} views), median of ${RUNS} (runs listed)`,
      [
        ['pg_dump --schema-only', dump, runs(t.dump)],
        ['braid introspection (process)', intro, runs(t.intro)],
        ...(WITH_DIFF ? [['braid schema diff URL URL (2x)', median(t.diff), runs(t.diff)]] : []),
      ],
      'pg_dump --schema-only',
    );
    // runs next to each other share the machine's load: the steadier figure on a shared machine
    const paired = median(t.intro.map((x, i) => x / t.dump[i]));
    console.log(`  introspection / pg_dump: median of per-run ratios ${paired.toFixed(2)}x (goal <= 1.0)`);
    dropDatabase(name);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
