#!/usr/bin/env node
// Benchmark (issue 7): roll a generated migration history (scripts/bench/lib/history.mjs) out to
// many databases on the server with
//   1. `braid rollout --concurrency 8` (one process, every target),
//   2. a shell loop of `braid up --db URL`, one database after the other, as a user would write it,
//   3. psql applying the same SQL per database, each migration in its own transaction (the SQL
//      itself: the baseline for the per-target overhead),
// and prints the totals, the ratio loop / rollout and the per-target overhead beyond the SQL.
// Usage: node scripts/bench/rollout.mjs [dbs, default 100] [migrations, default 50] [runs, default 3]
// The three run interleaved, each on freshly emptied databases; the median of each is reported
// (the machine is shared). The databases are dropped at the end.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { braidLauncher, dropDatabase, freshDatabase, timeProcess } from './lib/common.mjs';
import { history } from './lib/history.mjs';

const DBS = Number(process.argv[2] ?? 100);
const MIGS = Number(process.argv[3] ?? 50);
const RUNS = Number(process.argv[4] ?? 3);
const CONCURRENCY = 8;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-rollout-'));
const migs = history(MIGS);

// The history as dbmate files, imported into a braid repository (same SQL for every tool).
const dbmateDir = path.join(work, 'db', 'migrations');
mkdirSync(dbmateDir, { recursive: true });
for (const m of migs) {
  writeFileSync(
    path.join(dbmateDir, `${m.version}_${m.name}.sql`),
    `-- migrate:up\n${m.up}\n\n-- migrate:down\n${m.down}\n`,
  );
}
const psqlFile = path.join(work, 'all.sql');
writeFileSync(psqlFile, migs.map((m) => `begin;\n${m.up}\ncommit;\n`).join(''));
const repo = path.join(work, 'repo');
mkdirSync(repo);
execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
execFileSync(braidLauncher, ['import', '--from', 'dbmate', dbmateDir], {
  cwd: repo,
  stdio: ['ignore', 'ignore', 'inherit'],
});
execFileSync('git', ['add', '-A'], { cwd: repo });
execFileSync(
  'git',
  ['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', 'commit', '-qm', 'history'],
  {
    cwd: repo,
  },
);

const names = Array.from({ length: DBS }, (_, i) => `braid_bench_ro_${String(i + 1).padStart(3, '0')}`);
const urls = [];
const env = { ...process.env };
for (const k of Object.keys(env)) if (k === 'DATABASE_URL' || /^PG[A-Z]+$/.test(k)) delete env[k];

/** Empties every database (faster than dropping and creating 100 of them). */
async function resetAll() {
  for (let i = 0; i < urls.length; i += 10) {
    await Promise.all(
      urls.slice(i, i + 10).map(async (u) => {
        const c = new pg.Client({ connectionString: u });
        await c.connect();
        try {
          await c.query(
            'set client_min_messages = warning; drop schema if exists braid cascade; drop schema public cascade; create schema public;',
          );
        } finally {
          await c.end();
        }
      }),
    );
  }
}

/** Seconds spent inside the migrations themselves (braid.history.duration_ms), summed per target. */
async function summedMigrationSeconds() {
  let ms = 0;
  for (const u of urls) {
    const c = new pg.Client({ connectionString: u });
    await c.connect();
    try {
      const r = await c.query(
        `select coalesce(sum(duration_ms), 0)::float8 as ms from braid.history where direction = 'up'`,
      );
      ms += Number(r.rows[0].ms);
    } finally {
      await c.end();
    }
  }
  return ms / 1000;
}

try {
  process.stderr.write(`creating ${DBS} databases…\n`);
  for (const n of names) {
    urls.push(freshDatabase(n));
    env[`BENCH_${n.toUpperCase()}`] = urls[urls.length - 1];
  }
  writeFileSync(
    path.join(repo, 'targets.json'),
    JSON.stringify({ targets: names.map((n) => ({ name: n, urlEnv: `BENCH_${n.toUpperCase()}` })) }),
  );
  const loop = path.join(work, 'loop.sh');
  writeFileSync(
    loop,
    `#!/bin/sh\nset -e\nfor url in ${urls.map((u) => `'${u}'`).join(' ')}; do\n  '${braidLauncher}' up --db "$url" > /dev/null\ndone\n`,
  );
  const psqlLoop = path.join(work, 'psql.sh');
  writeFileSync(
    psqlLoop,
    `#!/bin/sh\nset -e\nfor url in ${urls.map((u) => `'${u}'`).join(' ')}; do\n  psql "$url" -q -v ON_ERROR_STOP=1 -f '${psqlFile}'\ndone\n`,
  );
  const t = { rollout: [], loop: [], psql: [], inMigrations: [] };
  for (let r = 0; r < RUNS; r++) {
    await resetAll();
    t.rollout.push(
      timeProcess(
        'braid rollout',
        braidLauncher,
        [
          'rollout',
          '--targets',
          'targets.json',
          '--concurrency',
          String(CONCURRENCY),
          '--state',
          path.join(work, `state-${r}.json`),
        ],
        { cwd: repo, env, stdio: ['ignore', 'ignore', 'pipe'] },
      ),
    );
    t.inMigrations.push(await summedMigrationSeconds());
    await resetAll();
    t.loop.push(timeProcess('braid up loop', 'sh', [loop], { cwd: repo, env }));
    await resetAll();
    t.psql.push(
      timeProcess('psql loop', 'sh', [psqlLoop], {
        cwd: repo,
        env: { ...env, PGOPTIONS: '-c client_min_messages=warning' },
      }),
    );
    process.stderr.write(
      `run ${r + 1}/${RUNS}: rollout ${t.rollout[r].toFixed(2)} s, braid up loop ${t.loop[r].toFixed(2)} s, psql loop ${t.psql[r].toFixed(2)} s\n`,
    );
  }
  const ro = median(t.rollout);
  const lp = median(t.loop);
  const ps = median(t.psql);
  const inMig = median(t.inMigrations);
  const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
  console.log(
    `\nrollout of ${MIGS} migrations to ${DBS} databases (median of ${RUNS} runs; shared ${os.cpus().length}-core machine)`,
  );
  console.log(`  braid rollout --concurrency ${CONCURRENCY}   ${ro.toFixed(2).padStart(8)} s`);
  console.log(
    `  shell loop of braid up            ${lp.toFixed(2).padStart(8)} s   ${(lp / ro).toFixed(2)}x the rollout`,
  );
  console.log(
    `  (per-run ratios loop / rollout: ${t.loop.map((l, i) => (l / t.rollout[i]).toFixed(2)).join(', ')})`,
  );
  console.log(`  psql per database (the SQL only)  ${ps.toFixed(2).padStart(8)} s`);
  console.log('per target:');
  console.log(`  psql (SQL, one session)             ${ms(ps / DBS)}`);
  console.log(
    `  braid up in the loop                ${ms(lp / DBS)}   overhead beyond psql ${ms((lp - ps) / DBS)}`,
  );
  console.log(`  inside braid's migrations (history.duration_ms summed)  ${ms(inMig / DBS)}`);
  const slots = Math.min(CONCURRENCY, DBS);
  console.log(
    `  rollout wall time / target          ${ms(ro / DBS)}   (x${slots} slots = ${ms((ro * slots) / DBS)} of slot time, ${ms((ro * slots) / DBS - inMig / DBS)} beyond the migrations)`,
  );
} finally {
  for (const n of names) {
    try {
      dropDatabase(n);
    } catch {
      // best effort
    }
  }
  if (process.env.BRAID_BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
