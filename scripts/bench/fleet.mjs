#!/usr/bin/env node
// Benchmark (issue 16): a rollout through a control database over a fleet of tenant schemas and
// databases on the local server — DBS databases × SCHEMAS tenant schemas (default 50 × 20 =
// 1,000 targets) and MIGS migrations (default 50) — with
//   1. one `braid rollout worker`,
//   2. four workers,
//   3. four workers, one killed with -9 mid-wave (its target is taken over after the lease),
//   4. the baseline: a shell loop of `braid up --db URL#schema`, one target after the other.
// Prints wall time, targets per second, duplicates (migrations applied more than once, counted
// from the registry rows of every target: must be 0) and each figure against the shell loop.
// Smaller: BRAID_FLEET_DBS=5 BRAID_FLEET_SCHEMAS=10 BRAID_FLEET_MIGS=20 node scripts/bench/fleet.mjs
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { braidBin, braidLauncher, dropDatabase, freshDatabase } from './lib/common.mjs';
import { history } from './lib/history.mjs';

const DBS = Number(process.env.BRAID_FLEET_DBS ?? 50);
const SCHEMAS = Number(process.env.BRAID_FLEET_SCHEMAS ?? 20);
const MIGS = Number(process.env.BRAID_FLEET_MIGS ?? 50);
const TARGETS = DBS * SCHEMAS;
const LEASE = process.env.BRAID_FLEET_LEASE ?? '2s';

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-fleet-'));
const migs = history(MIGS);
const dbmateDir = path.join(work, 'db', 'migrations');
mkdirSync(dbmateDir, { recursive: true });
for (const m of migs)
  writeFileSync(
    path.join(dbmateDir, `${m.version}_${m.name}.sql`),
    `-- migrate:up\n${m.up}\n\n-- migrate:down\n${m.down}\n`,
  );
const repo = path.join(work, 'repo');
mkdirSync(repo);
const git = (args) =>
  execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', ...args], {
    cwd: repo,
  });
git(['init', '-q', '-b', 'main']);
execFileSync(braidLauncher, ['import', '--from', 'dbmate', dbmateDir], {
  cwd: repo,
  stdio: ['ignore', 'ignore', 'inherit'],
});

const names = Array.from({ length: DBS }, (_, i) => `braid_bench_fleet_${String(i + 1).padStart(3, '0')}`);
const urls = names.map((n) => freshDatabase(n));
const control = freshDatabase('braid_bench_fleet_control');
const tenants = Array.from({ length: SCHEMAS }, (_, i) => `tenant_${String(i + 1).padStart(3, '0')}`);
const env = { ...process.env, NO_COLOR: '1' };
names.forEach((n, i) => (env[`FLEET_${i + 1}_URL`] = urls[i]));
writeFileSync(
  path.join(repo, 'fleet.json'),
  JSON.stringify({
    targets: names.map((n, i) => ({
      name: n,
      urlEnv: `FLEET_${i + 1}_URL`,
      tenantsQuery: "select nspname from pg_namespace where nspname like 'tenant\\_%' order by 1",
    })),
  }),
);
git(['add', '-A']);
git(['commit', '-qm', 'history']);

async function onEach(fn) {
  for (let i = 0; i < urls.length; i += 8)
    await Promise.all(
      urls.slice(i, i + 8).map(async (u) => {
        const c = new pg.Client({ connectionString: u });
        await c.connect();
        try {
          await fn(c);
        } finally {
          await c.end();
        }
      }),
    );
}

/** Empties every tenant schema and its registry. */
async function reset() {
  // one tenant per transaction: dropping every schema at once runs out of max_locks_per_transaction
  await onEach(async (c) => {
    await c.query('set client_min_messages = warning');
    for (const t of tenants)
      await c.query(
        `drop schema if exists ${t} cascade; drop schema if exists braid_${t} cascade; create schema ${t};`,
      );
  });
  const c = new pg.Client({ connectionString: control });
  await c.connect();
  await c.query('set client_min_messages = warning; drop schema if exists braid_control cascade');
  await c.end();
}

/** Migrations applied more than once (history rows) and targets not complete, over every target. */
async function audit() {
  let duplicates = 0;
  let incomplete = 0;
  await onEach(async (c) => {
    const q = tenants
      .map(
        (t) =>
          `select '${t}' as t, id, count(*) as n from braid_${t}.history where direction = 'up' group by id`,
      )
      .join(' union all ');
    const r = await c.query(
      `select t, count(*) filter (where n > 1) as dup, count(*) as ids from (${q}) x group by t`,
    );
    for (const row of r.rows) {
      duplicates += Number(row.dup);
      if (Number(row.ids) !== MIGS) incomplete++;
    }
    incomplete += tenants.length - r.rows.length;
  });
  return { duplicates, incomplete };
}

function run(args, extra = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [braidBin, ...args], {
      cwd: repo,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...extra,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    const done = new Promise((res) => child.on('close', (code, signal) => res({ code, signal, out, err })));
    resolve({ child, done, out: () => out });
  });
}

async function fleetRun(workers, killOne) {
  await reset();
  const s = await run([
    'rollout',
    '--control',
    control,
    '--targets',
    'fleet.json',
    '--lease-ttl',
    LEASE,
    '--json',
  ]);
  const sr = await s.done;
  if (sr.code !== 0) throw new Error(`rollout start failed: ${sr.err}`);
  const t0 = process.hrtime.bigint();
  const ws = [];
  for (let i = 0; i < workers; i++) ws.push(await run(['rollout', 'worker', '--control', control]));
  if (killOne) {
    // mid-wave: once a third of the targets are done (by every worker's events)
    const doneCount = () => ws.reduce((n, w) => n + (w.out().match(/"target-done"/g) ?? []).length, 0);
    while (doneCount() < TARGETS / 3) await new Promise((r) => setTimeout(r, 20));
    ws[0].child.kill('SIGKILL');
  }
  const results = await Promise.all(ws.map((w) => w.done));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  results.forEach((r, i) => {
    if (!(killOne && i === 0) && r.code !== 0)
      throw new Error(`worker ${i} exited ${r.code}: ${r.err.slice(0, 2000)}`);
  });
  const takeovers = results.reduce((n, r) => n + (r.out.match(/"takeover":true/g) ?? []).length, 0);
  return { secs, takeovers, ...(await audit()) };
}

async function loopRun() {
  await reset();
  const script = names
    .flatMap((n, i) =>
      tenants.map((t) => `"${braidLauncher}" up --db "$FLEET_${i + 1}_URL#${t}" >/dev/null || exit 1`),
    )
    .join('\n');
  writeFileSync(path.join(work, 'loop.sh'), script);
  const t0 = process.hrtime.bigint();
  execFileSync('/bin/sh', [path.join(work, 'loop.sh')], {
    cwd: repo,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return { secs, takeovers: 0, ...(await audit()) };
}

console.log(
  `fleet: ${DBS} databases × ${SCHEMAS} tenant schemas = ${TARGETS} targets, ${MIGS} migrations, lease ${LEASE}, ${os.cpus().length} cores`,
);
try {
  const rows = [];
  rows.push(['1 worker', await fleetRun(1, false)]);
  rows.push(['4 workers', await fleetRun(4, false)]);
  rows.push(['4 workers, one killed -9 mid-wave', await fleetRun(4, true)]);
  rows.push(['shell loop of braid up', await loopRun()]);
  const base = rows[rows.length - 1][1].secs;
  for (const [label, r] of rows)
    console.log(
      `  ${label.padEnd(36)} ${r.secs.toFixed(1).padStart(8)} s  ${(TARGETS / r.secs).toFixed(1).padStart(7)} targets/s  ${(base / r.secs).toFixed(2)}x the loop  duplicates ${r.duplicates}  incomplete ${r.incomplete}  takeovers ${r.takeovers}`,
    );
  if (rows.some(([, r]) => r.duplicates !== 0 || r.incomplete !== 0)) process.exitCode = 1;
} finally {
  for (const n of names) dropDatabase(n);
  dropDatabase('braid_bench_fleet_control');
  rmSync(work, { recursive: true, force: true });
}
