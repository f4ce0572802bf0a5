#!/usr/bin/env node
// Benchmark (online migrations, docs/online.md): pgbench plays an application against a table of
// ROWS rows (default 1,000,000) at a fixed rate while a migration runs, and this prints the
// application's p50/p99 latency during each migration, its longest transaction (a query blocked
// behind the migration shows up there) and the migration's time. Every scenario runs in the same
// run, on the same database, one after the other:
//   idle                       no migration (the baseline p99)
//   psql: CREATE INDEX          what a developer writes, run with psql -f
//   braid: CONCURRENTLY         what braid lint says to write (-- braid:no-transaction, CREATE INDEX
//                               CONCURRENTLY), with the breaker on
//   braid: naive index+breaker  the plain CREATE INDEX through braid up with the breaker on
//   psql: UPDATE (one stmt)     ALTER TABLE ADD COLUMN + one UPDATE of every row, psql -f
//   braid: batch               the same through -- braid:batch size=5000 key=id, breaker on
//   braid: naive update+breaker the one-statement UPDATE through braid up with the breaker on
// The application (pgbench, 8 clients, --rate 200/s): `select` one random account, `update` its
// balance. Latency is pgbench's per-transaction log (includes the schedule lag a blocked client
// accumulates), counted for transactions completed from the migration's start to 1 s after its end.
// Usage: node scripts/bench/online.mjs [ROWS, default 1000000]   (takes a few minutes; not in CI)
// Environment: BRAID_BENCH_DATABASE_URL / BRAID_TEST_DATABASE_URL (default the local server),
// PGBENCH (default /usr/lib/postgresql/15/bin/pgbench), BRAID_BENCH_BREAKER (default
// "--max-blocked-for 500ms --breaker-retries 2 --breaker-backoff 1s --lock-timeout 2s").
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { braidLauncher, dropDatabase, freshDatabase, serverUrl } from './lib/common.mjs';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const PGBENCH = process.env.PGBENCH ?? '/usr/lib/postgresql/15/bin/pgbench';
const BREAKER = (
  process.env.BRAID_BENCH_BREAKER ??
  '--max-blocked-for 500ms --breaker-retries 2 --breaker-backoff 1s --lock-timeout 2s'
).split(/\s+/);
// BRAID_BENCH_ONLY=update,batch: only the scenarios whose label contains one of these words (idle always runs)
const ONLY = (process.env.BRAID_BENCH_ONLY ?? '')
  .split(',')
  .map((w) => w.trim().toLowerCase())
  .filter(Boolean);
const wanted = (label) =>
  label === 'idle' || ONLY.length === 0 || ONLY.some((w) => label.toLowerCase().includes(w));
// the -- braid:batch settings of the batch scenarios (BRAID_BENCH_BATCHES, separated by ';')
const BATCHES = (process.env.BRAID_BENCH_BATCHES ?? 'key=id;size=5000 delay=0 key=id')
  .split(';')
  .map((x) => x.trim())
  .filter(Boolean);
const RATE = 200;
const CLIENTS = 8;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dbName = `online_bench_${process.pid}`;
const url = freshDatabase(dbName);
const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-online-'));
const psql = (sql) =>
  execFileSync('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

function setup() {
  const t0 = Date.now();
  psql(
    `create table accounts (id bigint primary key, balance int not null default 0, note text not null default 'x')`,
  );
  psql(`insert into accounts (id, balance) select g, (g % 1000)::int from generate_series(1, ${ROWS}) g`);
  psql('vacuum analyze accounts');
  console.error(`setup: ${ROWS.toLocaleString('en-US')} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

const script = path.join(work, 'app.sql');
writeFileSync(
  script,
  `\\set id random(1, ${ROWS})\nselect balance from accounts where id = :id;\nupdate accounts set balance = balance + 1 where id = :id;\n`,
);

/** Starts the application; returns a stop() that ends it and parses its log. */
function startApp(tag) {
  const dir = path.join(work, tag);
  mkdirSync(dir);
  const child = spawn(
    PGBENCH,
    [
      url,
      '-n',
      '-f',
      script,
      '-c',
      String(CLIENTS),
      '-j',
      '2',
      '-R',
      String(RATE),
      '-T',
      '900',
      '-l',
      '--log-prefix',
      path.join(dir, 'log'),
    ],
    { stdio: 'ignore' },
  );
  return {
    async stop() {
      child.kill('SIGINT');
      await new Promise((r) => child.on('close', r));
      const tx = [];
      for (const f of readdirSync(dir)) {
        for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
          const p = line.trim().split(/\s+/);
          if (p.length < 6) continue;
          // client tx latency_us script epoch_s epoch_us [lag]
          tx.push({ latencyMs: Number(p[2]) / 1000, endMs: Number(p[4]) * 1000 + Number(p[5]) / 1000 });
        }
      }
      return tx;
    },
  };
}

function stats(tx, from, to) {
  const xs = tx
    .filter((t) => t.endMs >= from && t.endMs <= to)
    .map((t) => t.latencyMs)
    .sort((a, b) => a - b);
  const q = (p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] : NaN);
  return { n: xs.length, p50: q(0.5), p99: q(0.99), max: xs.length ? xs[xs.length - 1] : NaN };
}

function braidProject(name, up, down) {
  const dir = path.join(work, `repo-${name}`);
  mkdirSync(dir);
  const run = (args) =>
    execFileSync(braidLauncher, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  run(['init']);
  const folder = run(['new', name]).trim();
  writeFileSync(path.join(dir, folder, 'up.sql'), up);
  writeFileSync(path.join(dir, folder, 'down.sql'), down);
  run(['hash']);
  return dir;
}

/** Runs a command, returns {ms, code, stderr}. */
function timed(cmd, args, cwd) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) =>
      resolve({ ms: Date.now() - t0, code, stderr: err, start: t0, end: Date.now() }),
    );
  });
}

async function scenario(label, sqlRun, reset) {
  if (!wanted(label)) return undefined;
  const app = startApp(label.replace(/\W+/g, '_'));
  const appStart = Date.now();
  // the 5 s before the migration (after 1 s of warm-up) are this scenario's own idle window: the
  // machine is shared, so its load (and the idle p99) drifts from one scenario to the next
  await sleep(6000);
  const r = sqlRun
    ? await sqlRun()
    : await sleep(8000).then(() => ({
        ms: 8000,
        code: 0,
        stderr: '',
        start: Date.now() - 8000,
        end: Date.now(),
      }));
  await sleep(1500);
  const tx = await app.stop();
  const s = stats(tx, r.start, r.end + 1000);
  const before = stats(tx, appStart + 1000, r.start);
  const trips = (r.stderr.match(/circuit breaker tripped \(attempt/g) ?? []).length;
  const batchCount = /batch (\d+) \(last\)/.exec(r.stderr)?.[1];
  if (reset) reset();
  return { label, ...s, before, ms: r.ms, code: r.code, trips, batches: batchCount, stderr: r.stderr };
}

const resetRegistry = () => psql('drop schema if exists braid cascade');
const psqlFile = (sql) => {
  const f = path.join(work, `psql-${Math.random().toString(36).slice(2)}.sql`);
  writeFileSync(f, sql);
  return () => timed('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', f]);
};
const braidUp =
  (dir, extra = []) =>
  () =>
    timed(braidLauncher, ['up', '--db', url, ...extra], dir);

try {
  setup();
  const idxDown = '-- braid:no-transaction\ndrop index concurrently if exists accounts_balance_idx;\n';
  const cic = braidProject(
    'cic',
    '-- braid:no-transaction\ncreate index concurrently accounts_balance_idx on accounts (balance);\n',
    idxDown,
  );
  const naiveIdx = braidProject(
    'naive_index',
    'create index accounts_balance_idx on accounts (balance);\n',
    'drop index accounts_balance_idx;\n',
  );
  const batches = BATCHES.map((args, i) => ({
    args,
    dir: braidProject(
      `batch${i}`,
      `-- braid:batch ${args}\nalter table accounts add column flag int;\nupdate accounts set flag = balance % 2;\n`,
      'alter table accounts drop column flag;\n',
    ),
  }));
  const naiveUpd = braidProject(
    'naive_update',
    'alter table accounts add column flag int;\nupdate accounts set flag = balance % 2;\n',
    'alter table accounts drop column flag;\n',
  );
  const dropIdx = () => (psql('drop index if exists accounts_balance_idx'), resetRegistry());
  const dropCol = () => (
    psql('alter table accounts drop column if exists flag'),
    psql('vacuum accounts'),
    resetRegistry()
  );
  const results = [];
  results.push(await scenario('idle', undefined));
  results.push(
    await scenario(
      'psql: CREATE INDEX',
      psqlFile('create index accounts_balance_idx on accounts (balance);\n'),
      dropIdx,
    ),
  );
  results.push(await scenario('braid: CONCURRENTLY + breaker', braidUp(cic, BREAKER), dropIdx));
  results.push(await scenario('braid: plain CREATE INDEX + breaker', braidUp(naiveIdx, BREAKER), dropIdx));
  results.push(
    await scenario(
      'psql: UPDATE (one statement)',
      psqlFile('alter table accounts add column flag int;\nupdate accounts set flag = balance % 2;\n'),
      dropCol,
    ),
  );
  for (const b of batches)
    results.push(await scenario(`braid: batch ${b.args} + breaker`, braidUp(b.dir, BREAKER), dropCol));
  results.push(await scenario('braid: one-statement UPDATE + breaker', braidUp(naiveUpd, BREAKER), dropCol));

  const done = results.filter(Boolean);
  results.length = 0;
  results.push(...done);
  const idle = results[0];
  const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  console.log(
    `\nonline migrations under load: ${ROWS.toLocaleString('en-US')} rows, pgbench ${CLIENTS} clients at ${RATE} tx/s (select + update of one random row)`,
  );
  console.log(`breaker: ${BREAKER.join(' ')}\n`);
  console.log(
    '| scenario | app tx | p50 ms | p99 ms | p99 / idle | p99 just before | p99 / just before | longest tx ms | migration | exit | trips | batches |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.label} | ${r.n} | ${f(r.p50)} | ${f(r.p99)} | ${(r.p99 / idle.p99).toFixed(2)}× | ${f(r.before.p99)} | ${(r.p99 / r.before.p99).toFixed(2)}× | ${f(r.max)} | ${r.label === 'idle' ? '-' : `${(r.ms / 1000).toFixed(1)} s`} | ${r.label === 'idle' ? '-' : r.code} | ${r.label.startsWith('braid') ? r.trips : '-'} | ${r.batches ?? '-'} |`,
    );
  }
  for (const r of results) {
    if (r.code !== 0 && r.stderr)
      console.log(`\n${r.label}: ${r.stderr.trim().split('\n').slice(-3).join('\n  ')}`);
  }
} finally {
  dropDatabase(dbName);
  if (!process.env.BRAID_BENCH_KEEP) rmSync(work, { recursive: true, force: true });
}
