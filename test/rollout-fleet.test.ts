/**
 * braid rollout through a control database, end to end: real child processes of the built CLI
 * (two and four `braid rollout worker`s sharing one rollout; a worker killed with -9 whose
 * target is taken over after its lease; pause and resume from a third process), a tenant-schema
 * fleet (tenantsQuery), and the control database's errors (unreachable: exit 3; a control
 * schema from a newer braid: refused). Exactly-once is proven from each target's registry rows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connectPg } from '@braid/pg';
import { BRAID_JS, braidEnv, runBraid, type BraidResult } from './helpers/repo';
import { addMigrations, makeProject, type Project } from './helpers/cli';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import {
  createFleet,
  dropFleet,
  events,
  fleetEnv,
  historyOf,
  onTarget,
  targetsJson,
  type FleetTarget,
} from './helpers/fleet';

jest.setTimeout(180_000);

let p: Project;
let fleet: FleetTarget[];
let control: TestDatabase;
let env: Record<string, string>;

const slow = (slug: string, secs = 0.05) => ({
  slug,
  up: `create table ${slug} (id int);\nselect pg_sleep(${secs});\n`,
  down: `drop table ${slug};\n`,
});

function braid(args: string[], extra: Record<string, string> = {}): Promise<BraidResult> {
  return runBraid(args, { cwd: p.repo.dir, env: { ...env, ...extra } });
}

/** A worker as a real child process (node on the built CLI, so that kill -9 hits braid itself). */
function worker(extra: string[] = []): { child: ChildProcess; out: () => string; done: Promise<number> } {
  const child = spawn(process.execPath, [BRAID_JS, 'rollout', 'worker', '--control', control.url, ...extra], {
    cwd: p.repo.dir,
    env: braidEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<number>((res) =>
    child.on('close', (code, signal) => res(code ?? (signal ? 137 : -1))),
  );
  return { child, out: () => out, done };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function start(extra: string[] = [], targetsFile = 'fleet.json'): Promise<string> {
  const r = await braid(['rollout', '--control', control.url, '--targets', targetsFile, '--json', ...extra]);
  expect([r.code, r.stderr]).toEqual([0, '']);
  return (JSON.parse(r.stdout) as { rolloutId: string }).rolloutId;
}

interface Status {
  status: string;
  paused: boolean;
  waves: { running: number; done: number; total: number; pending: number; paused: number }[];
  targets: { name: string; status: string; attempts: number }[];
}
async function status(): Promise<Status> {
  const r = await braid(['rollout', 'status', '--control', control.url, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Status;
}

/** Every migration of the project applied exactly once on every target (registry rows). */
async function expectExactlyOnce(targets: FleetTarget[] = fleet): Promise<void> {
  for (const t of targets) {
    const h = await historyOf(t);
    expect([t.name, h.ups]).toEqual([t.name, Object.fromEntries(p.ids.map((id) => [id, 1]))]);
    expect(h.applied).toEqual(p.ids);
  }
}

async function totalUps(): Promise<number> {
  let n = 0;
  for (const t of fleet) n += Object.values((await historyOf(t)).ups).reduce((a, b) => a + b, 0);
  return n;
}

beforeAll(async () => {
  p = makeProject([slow('m1'), slow('m2'), slow('m3')]);
  fleet = await createFleet('node', 6);
  control = await createTestDatabase({ prefix: 'braid_control' });
  env = fleetEnv(fleet);
  p.repo.write('fleet.json', targetsJson(fleet));
  p.repo.commit('targets');
});

afterAll(async () => {
  await dropFleet(fleet ?? []);
  await control?.drop();
});

it('two worker processes share one rollout: every target done, every migration applied once', async () => {
  const id = await start(['--waves', '1,rest']);
  const [a, b] = [worker(), worker()];
  expect(await a.done).toBe(0);
  expect(await b.done).toBe(0);
  const s = await status();
  expect(s.status).toBe('done');
  expect(s.targets.every((t) => t.status === 'done' && t.attempts === 1)).toBe(true);
  await expectExactlyOnce();
  // both workers did some of the work, each target by exactly one of them
  const starts = [a, b].map((w) =>
    events(w.out())
      .filter((e) => e.event === 'target-start')
      .map((e) => e.target),
  );
  expect([...starts[0], ...starts[1]].sort()).toEqual(fleet.map((t) => t.name).sort());
  expect(id).toMatch(/^r\d{8}T\d{6}Z-[0-9a-f]{6}$/);
});

it('four worker processes: exactly once per target', async () => {
  addMigrations(p, [slow('m4'), slow('m5')]);
  await start();
  const ws = [worker(), worker(), worker(), worker()];
  for (const w of ws) expect(await w.done).toBe(0);
  expect((await status()).status).toBe('done');
  await expectExactlyOnce();
});

it('a worker killed with -9 loses its lease; another takes its target over and resumes it from the registry', async () => {
  addMigrations(p, [slow('m6', 0.4), slow('m7', 0.4), slow('m8', 0.4)]);
  await start(['--lease-ttl', '1s']);
  const a = worker();
  await until('a first migration by the doomed worker', () =>
    events(a.out()).some((e) => e.event === 'migration-applied'),
  );
  const victim = events(a.out()).find((e) => e.event === 'target-start')!.target as string;
  a.child.kill('SIGKILL');
  await a.done;
  const b = worker();
  expect(await b.done).toBe(0);
  const takeover = events(b.out()).find((e) => e.event === 'target-start' && e.target === victim);
  expect(takeover).toMatchObject({ takeover: true, attempt: 2 });
  expect((await status()).status).toBe('done');
  await expectExactlyOnce();
});

it('pause from a third process stops every worker between migrations; resume continues', async () => {
  addMigrations(p, [slow('m9', 0.3), slow('m10', 0.3), slow('m11', 0.3)]);
  await start(['--lease-ttl', '1s']);
  const ws = [worker(), worker()];
  await until('a migration', () =>
    ws.some((w) => events(w.out()).some((e) => e.event === 'migration-applied')),
  );
  const r = await braid(['rollout', 'pause', '--control', control.url]);
  expect(r.code).toBe(0);
  await until('every target to stop', async () => {
    const s = await status();
    return s.paused && s.waves.every((w) => w.running === 0);
  });
  const s = await status();
  expect(s.status).toBe('paused');
  const before = await totalUps();
  await new Promise((res) => setTimeout(res, 1500)); // a paused rollout applies nothing more
  expect(await totalUps()).toBe(before);
  expect(ws.every((w) => w.child.exitCode === null)).toBe(true); // workers wait for resume
  expect((await braid(['rollout', 'resume', '--control', control.url])).code).toBe(0);
  for (const w of ws) expect(await w.done).toBe(0);
  expect((await status()).status).toBe('done');
  await expectExactlyOnce();
});

it('a tenant-schema fleet: one history applied to every tenant schema, each with its own registry', async () => {
  const db = await createTestDatabase({ prefix: 'braid_tenants' });
  try {
    const ex = await connectPg(db.url, 'test');
    await ex.exec(
      'create schema tenant_a; create schema tenant_b; create schema tenant_c; create schema other',
    );
    await ex.close();
    p.repo.write(
      'tenants.json',
      JSON.stringify({
        targets: [
          {
            name: 'app',
            urlEnv: 'APP_URL',
            tenantsQuery: "select nspname from pg_namespace where nspname like 'tenant\\_%' order by 1",
          },
        ],
      }),
    );
    p.repo.commit('tenants');
    env = { ...env, APP_URL: db.url };
    await start(['--server-concurrency', '2'], 'tenants.json');
    const ws = [worker(), worker(), worker()];
    for (const w of ws) expect(await w.done).toBe(0);
    const s = await status();
    expect(s.targets.map((t) => [t.name, t.status])).toEqual([
      ['app#tenant_a', 'done'],
      ['app#tenant_b', 'done'],
      ['app#tenant_c', 'done'],
    ]);
    const check = await connectPg(db.url, 'test');
    try {
      for (const t of ['tenant_a', 'tenant_b', 'tenant_c']) {
        const ups = await check.query<{ id: string; n: string }>(
          `select id, count(*) as n from braid_${t}.history where direction = 'up' group by id order by id`,
        );
        expect(ups.rows.map((x) => [x.id, Number(x.n)])).toEqual(p.ids.map((id) => [id, 1]));
        const tables = await check.query<{ n: string }>(
          `select count(*) as n from information_schema.tables where table_schema = $1`,
          [t],
        );
        expect(Number(tables.rows[0].n)).toBe(p.ids.length);
      }
      const elsewhere = await check.query<{ n: string }>(
        `select count(*) as n from information_schema.tables where table_schema in ('public', 'other')`,
      );
      expect(Number(elsewhere.rows[0].n)).toBe(0);
      const braidSchema = await check.query<{ n: string }>(
        `select count(*) as n from pg_namespace where nspname = 'braid'`,
      );
      expect(Number(braidSchema.rows[0].n)).toBe(0);
    } finally {
      await check.close();
    }
  } finally {
    await db.drop();
  }
});

it('an unreachable control database: exit 3, one line, no password', async () => {
  const r = await braid(['rollout', 'status', '--control', 'postgres://deploy:Zz-ctl-pw@127.0.0.1:1/ctl']);
  expect(r.code).toBe(3);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^braid: cannot connect to postgres:\/\/deploy:\*+@127\.0\.0\.1:1\/ctl/);
  expect(r.stderr + r.stdout).not.toContain('Zz-ctl-pw');
});

it('a control schema written by a newer braid is refused (exit 3), and nothing is written to it', async () => {
  const db = await createTestDatabase({ prefix: 'braid_control_new' });
  try {
    const ex = await connectPg(db.url, 'test');
    await ex.exec(
      "create schema braid_control; create table braid_control.meta (version int, braid_version text); insert into braid_control.meta values (99, '9.0.0')",
    );
    for (const args of [
      ['rollout', 'status'],
      ['rollout', 'worker'],
      ['rollout', '--targets', 'fleet.json'],
    ]) {
      const r = await braid([...args, '--control', db.url]);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 3]);
      expect(r.stderr).toContain('the braid_control schema is version 99, written by a newer braid');
    }
    const t = await ex.query<{ n: string }>(
      `select count(*) as n from information_schema.tables where table_schema = 'braid_control'`,
    );
    expect(Number(t.rows[0].n)).toBe(1);
    await ex.close();
  } finally {
    await db.drop();
  }
});

it('a worker runs each target under the watcher: sessions queued behind its lock trip the breaker, the migration rolls back, the target fails', async () => {
  const t = fleet[0];
  p.repo.write('one.json', targetsJson([t]));
  p.repo.commit('one target');
  const [id] = addMigrations(p, [
    {
      slug: 'm1_note',
      up: 'alter table m1 add column note text;\n',
      down: 'alter table m1 drop column note;\n',
    },
  ]);
  const reader = await connectPg(t.plainUrl, 'long report');
  const app = await connectPg(t.plainUrl, 'app');
  let stop = false;
  try {
    // a long transaction holds ACCESS SHARE on m1: the worker's ALTER queues behind it, and the
    // application's reads queue behind the ALTER
    await reader.exec('begin; select count(*) from m1');
    await start(['--lock-timeout', '30s']);
    const w = worker(['--max-blocked-for', '300ms', '--breaker-retries', '0']);
    const appLoop = (async () => {
      while (!stop) {
        await app.query('select count(*) from m1').catch(() => undefined);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    expect(await w.done).toBe(1);
    stop = true;
    await appLoop;
    const trips = events(w.out()).filter((e) => e.event === 'breaker-trip');
    expect(trips.length).toBeGreaterThanOrEqual(1);
    expect(trips[0]).toMatchObject({ target: t.name, id, breach: 'blocked-for' });
    expect(events(w.out()).find((e) => e.event === 'target-failed')).toMatchObject({
      target: t.name,
      migration: id,
    });
    // rolled back: the column is not there and the registry does not list the migration
    expect((await historyOf(t)).applied).not.toContain(id);
    const col = await onTarget(t, (ex) =>
      ex.query<{ n: string }>(
        "select count(*) as n from information_schema.columns where table_name = 'm1' and column_name = 'note'",
      ),
    );
    expect(Number(col.rows[0].n)).toBe(0);
  } finally {
    stop = true;
    await reader.exec('rollback').catch(() => undefined);
    await reader.close();
    await app.close();
  }
});
