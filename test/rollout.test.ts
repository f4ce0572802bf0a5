/**
 * braid rollout end to end (the built CLI, a real git repository, databases created on the
 * server): a 20-database rollout where one target fails on its third migration (the wave stops,
 * status says where, nothing half-applied, retry after fixing, resume completes), health checks
 * with --rollback-on-failure, pause between migrations then resume, --continue-on-error, bad
 * input, and the password that must never reach output, state or audit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { connectPg } from '@braid/pg';
import { BRAID_JS, braidEnv, runBraid, runBraidJson, type BraidResult } from './helpers/repo';
import { makeProject, type MigSpec, type Project } from './helpers/cli';
import {
  FLEET_PASSWORD,
  createFleet,
  dropFleet,
  events,
  fleetEnv,
  historyOf,
  publicSchema,
  rows,
  targetsJson,
  type FleetTarget,
} from './helpers/fleet';

const MIGS: MigSpec[] = [
  { slug: 'a', up: 'create table t_a (id int);\n', down: 'drop table t_a;\n' },
  {
    slug: 'b',
    up: 'create table t_b (id int);\nalter table t_a add column note text;\n',
    down: 'alter table t_a drop column note;\ndrop table t_b;\n',
  },
  {
    slug: 'c',
    up: 'create table t_c2 (id int);\ncreate table t_c (id int);\n',
    down: 'drop table t_c;\ndrop table t_c2;\n',
  },
  { slug: 'd', up: 'create table t_d (id int);\n', down: 'drop table t_d;\n' },
  { slug: 'e', up: 'create table t_e (id int);\n', down: 'drop table t_e;\n' },
];

jest.setTimeout(120_000);

interface StatusDoc {
  rolloutId: string;
  status: string;
  summary: { done: number; failed: number; pending: number; paused: number; rolledBack: number };
  targets: {
    name: string;
    status: string;
    applied: string[];
    failure?: { kind: string; migration?: string; file?: string; line?: number; error: string };
    health?: { ok: boolean; reason?: string };
    rollback?: { ids: string[]; reason: string };
  }[];
  stateFile: string;
}

let p: Project;
let fleet: FleetTarget[];
let health: FleetTarget[];
let pausing: FleetTarget[];
let coe: FleetTarget[];
const outputs: string[] = [];

function write(rel: string, text: string): void {
  fs.writeFileSync(path.join(p.repo.dir, rel), text);
}

async function braid(
  args: string[],
  targets: FleetTarget[],
  extra: Record<string, string | undefined> = {},
): Promise<BraidResult> {
  const r = await runBraid(args, { cwd: p.repo.dir, env: { ...fleetEnv(targets), ...extra } });
  outputs.push(r.stdout, r.stderr);
  return r;
}

async function statusOf(state: string): Promise<StatusDoc> {
  const r = await runBraidJson<StatusDoc>(['rollout', 'status', '--state', state], { cwd: p.repo.dir });
  outputs.push(r.stdout, r.stderr);
  expect(r.code).toBe(0);
  return r.json;
}

const target = (s: StatusDoc, name: string): StatusDoc['targets'][number] =>
  s.targets.find((t) => t.name === name)!;

async function expectFullHistory(t: FleetTarget): Promise<void> {
  const h = await historyOf(t);
  expect(h.ups).toEqual(Object.fromEntries(p.ids.map((id) => [id, 1])));
  expect(h.applied).toEqual(p.ids);
  expect(h.progress).toBe(0);
}

beforeAll(async () => {
  p = makeProject(MIGS);
  fleet = await createFleet('f', 20);
  health = await createFleet('h', 3);
  pausing = await createFleet('p', 2);
  coe = await createFleet('c', 3);
});

afterAll(async () => {
  await dropFleet([...(fleet ?? []), ...(health ?? []), ...(pausing ?? []), ...(coe ?? [])]);
});

describe('braid rollout (server)', () => {
  it('20 databases, one fails on its third migration: the wave stops; retry after fixing, then resume completes', async () => {
    const bad = fleet[3]; // f04, in wave 2 (1, then ceil(25% of 20) = 5, then the rest)
    await rows(bad, 'create table t_c (x int)');
    write('fleet.json', targetsJson(fleet));
    const r = await braid(
      [
        'rollout',
        '--targets',
        'fleet.json',
        '--waves',
        '1,25%,rest',
        '--concurrency',
        '4',
        '--state',
        'fleet-state.json',
      ],
      fleet,
    );
    expect(r.code).toBe(1);
    const ev = events(r.stdout);
    const failed = ev.filter((e) => e.event === 'target-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ target: 'f04', migration: p.ids[2], kind: 'migration', line: 2 });
    expect(ev.filter((e) => e.event === 'wave-done').map((e) => e['wave'])).toEqual([1]);
    expect(ev.find((e) => e.event === 'wave-stopped')).toMatchObject({ wave: 2, reason: 'failure' });
    // wave 3 never started
    expect(ev.filter((e) => e.event === 'target-start').map((e) => e['target'])).not.toContain('f07');
    expect(ev[ev.length - 1]).toMatchObject({ event: 'rollout-done', status: 'failed', failed: 1 });

    const st = await statusOf('fleet-state.json');
    expect(st.status).toBe('failed');
    expect(target(st, 'f04')).toMatchObject({
      status: 'failed',
      applied: p.ids.slice(0, 2),
      failure: { kind: 'migration', migration: p.ids[2], file: `.migrations/${p.ids[2]}/up.sql`, line: 2 },
    });
    expect(target(st, 'f04').failure!.error).toContain('relation "t_c" already exists');
    expect(target(st, 'f01').status).toBe('done');
    for (const t of fleet.slice(6)) expect(target(st, t.name).status).toBe('pending');
    for (const t of fleet.slice(6)) expect((await historyOf(t)).applied).toEqual([]);

    // not half-applied: registry and catalog agree that the third migration is not there
    const h = await historyOf(bad);
    expect(h.applied).toEqual(p.ids.slice(0, 2));
    expect(h.ups[p.ids[2]]).toBeUndefined();
    expect(await rows(bad, `select to_regclass('t_c2') as r`)).toEqual([{ r: null }]);
    expect(await publicSchema(bad)).toContain('t_c.x:integer');
    const audit = await rows<{ outcome: string; id: string; rollout_id: string; target: string }>(
      bad,
      `select outcome, id, rollout_id, target from braid.audit where outcome = 'failed'`,
    );
    expect(audit).toEqual([{ outcome: 'failed', id: p.ids[2], rollout_id: st.rolloutId, target: 'f04' }]);

    // a second runner on the same state is refused while... none runs now: resume without the
    // variable of a remaining target is refused before anything is applied
    const unset = await braid(['rollout', 'resume', '--state', 'fleet-state.json'], fleet, {
      F20_URL: undefined,
    });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('the variable F20_URL (fleet.json: target f20) is not set');

    // fix the database, retry the failed target
    await rows(bad, 'drop table t_c');
    const retry = await braid(['rollout', 'retry', 'f04', '--state', 'fleet-state.json'], fleet);
    expect(retry.code).toBe(0);
    expect(target(await statusOf('fleet-state.json'), 'f04').status).toBe('done');
    await expectFullHistory(bad);

    const resume = await braid(['rollout', 'resume', '--state', 'fleet-state.json'], fleet);
    expect(resume.code).toBe(0);
    const done = await statusOf('fleet-state.json');
    expect(done.status).toBe('done');
    expect(done.summary.done).toBe(20);
    for (const t of fleet) {
      await expectFullHistory(t);
      const prov = await rows<{ rollout_id: string; target: string }>(
        t,
        `select distinct rollout_id, target from braid.history`,
      );
      expect(prov).toEqual([{ rollout_id: st.rolloutId, target: t.name }]);
    }

    // the password never reached output, state or audit
    const state = fs.readFileSync(path.join(p.repo.dir, 'fleet-state.json'), 'utf8');
    expect(state).not.toContain(FLEET_PASSWORD);
    expect(state).not.toContain('127.0.0.1');
    for (const o of outputs) expect(o).not.toContain(FLEET_PASSWORD);
    const auditText = await rows<{ t: string }>(
      bad,
      `select string_agg(a::text, '\n') as t from braid.audit a`,
    );
    expect(auditText[0].t).not.toContain(FLEET_PASSWORD);
  });

  it('a health check fails on one target with --rollback-on-failure: it is back where it started, the others untouched, the audit says why', async () => {
    const [h1, h2, h3] = health;
    // h2 already had the first two migrations before the rollout
    const up = await runBraid(['up', '--to', p.ids[1], '--db', h2.plainUrl], { cwd: p.repo.dir });
    expect(up.code).toBe(0);
    const before = await publicSchema(h2);
    write('health.json', targetsJson(health));
    write('health.sql', "select to_regclass('t_e') is not null as ok;\n");
    const cmd =
      'if [ "$BRAID_TARGET" = h02 ]; then echo "smoke test failed on $BRAID_TARGET"; exit 3; fi; test -n "$BRAID_ROLLOUT_ID"';
    const r = await braid(
      [
        'rollout',
        '--targets',
        'health.json',
        '--waves',
        '1,rest',
        '--concurrency',
        '1',
        '--health-check',
        cmd,
        '--health-sql',
        'health.sql',
        '--rollback-on-failure',
        '--state',
        'health-state.json',
      ],
      health,
    );
    expect(r.code).toBe(1);
    const ev = events(r.stdout);
    expect(ev.find((e) => e.event === 'health-failed')).toMatchObject({ target: 'h02', check: 'command' });
    expect(ev.find((e) => e.event === 'target-rolled-back')).toMatchObject({
      target: 'h02',
      rolledBack: [p.ids[4], p.ids[3], p.ids[2]],
    });

    const st = await statusOf('health-state.json');
    expect(target(st, 'h01').status).toBe('done');
    expect(target(st, 'h02')).toMatchObject({
      status: 'rolled-back',
      failure: { kind: 'health' },
      rollback: { ids: [p.ids[4], p.ids[3], p.ids[2]] },
    });
    expect(target(st, 'h02').failure!.error).toContain('smoke test failed on h02');
    expect(target(st, 'h03').status).toBe('pending');

    // h2: back where it started
    expect((await historyOf(h2)).applied).toEqual(p.ids.slice(0, 2));
    expect(await publicSchema(h2)).toEqual(before);
    const audit = await rows<{ outcome: string; id: string | null; reason: string; target: string }>(
      h2,
      `select outcome, id, reason, target from braid.audit where outcome in ('health-failed', 'rolled-back') order by seq`,
    );
    expect(audit.map((a) => [a.outcome, a.id])).toEqual([
      ['health-failed', null],
      ['rolled-back', p.ids[4]],
      ['rolled-back', p.ids[3]],
      ['rolled-back', p.ids[2]],
    ]);
    expect(audit[0].reason).toContain('smoke test failed on h02');
    for (const a of audit.slice(1))
      expect(a.reason).toMatch(/^health check failed: --health-check: exited with 3/);
    expect(audit.every((a) => a.target === 'h02')).toBe(true);

    // the others: h1 fully applied, both health checks passed and audited; h3 untouched
    await expectFullHistory(h1);
    const ok = await rows<{ outcome: string; reason: string }>(
      h1,
      `select outcome, reason from braid.audit where outcome like 'health%' order by seq`,
    );
    expect(ok).toEqual([
      { outcome: 'health-ok', reason: '--health-check passed' },
      { outcome: 'health-ok', reason: `--health-sql ${path.join(p.repo.dir, 'health.sql')} passed` },
    ]);
    expect(await historyOf(h3)).toEqual({ ups: {}, applied: [], progress: 0 });

    // a migration failure with the same options (retry keeps them): h3 fails on its third
    // migration and its first two, applied by this rollout, are rolled back
    await rows(h3, 'create table t_c (x int)');
    const h3Before = await publicSchema(h3);
    const retry = await braid(['rollout', 'retry', 'h03', '--state', 'health-state.json'], health);
    expect(retry.code).toBe(1);
    const after = target(await statusOf('health-state.json'), 'h03');
    expect(after).toMatchObject({
      status: 'rolled-back',
      failure: { kind: 'migration', migration: p.ids[2] },
      rollback: { ids: [p.ids[1], p.ids[0]] },
    });
    expect((await historyOf(h3)).applied).toEqual([]);
    expect(await publicSchema(h3)).toEqual(h3Before);
    const why = await rows<{ reason: string }>(
      h3,
      `select reason from braid.audit where outcome = 'rolled-back'`,
    );
    expect(why).toHaveLength(2);
    for (const w of why) expect(w.reason).toMatch(/^migration failed: .*relation "t_c" already exists/);
  });

  it('pause takes effect between migrations; resume continues where each target stopped', async () => {
    const [p1, p2] = pausing;
    expect((await runBraid(['up', '--to', p.ids[0], '--db', p1.plainUrl], { cwd: p.repo.dir })).code).toBe(0);
    // hold t_a on p1: its second migration (alter table t_a) waits until we let go
    const holder = await connectPg(p1.plainUrl, 'braid-test holder');
    await holder.exec('begin; lock table t_a in access exclusive mode');
    write('pause.json', targetsJson(pausing));
    const child = spawn(
      process.execPath,
      [
        BRAID_JS,
        'rollout',
        '--targets',
        'pause.json',
        '--concurrency',
        '1',
        '--lock-timeout',
        '120s',
        '--state',
        'pause-state.json',
      ],
      { cwd: p.repo.dir, env: braidEnv(fleetEnv(pausing)), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let gone = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number>((resolve) =>
      child.on('close', (code) => {
        gone = true;
        resolve(code ?? -1);
      }),
    );
    try {
      // wait until braid is observably blocked on the lock (no timing assumption)
      for (let i = 0; ; i++) {
        // (a second session: inside the holder's transaction pg_stat_activity is a snapshot)
        const w = await rows<{ n: string }>(
          p1,
          `select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        );
        if (Number(w[0]?.n) > 0) break;
        if (gone || i > 600) throw new Error(`braid never blocked on the lock:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // a second runner of the same rollout is refused; a braid up on the same target waits for
      // the target's lock and gives up cleanly
      const second = await braid(['rollout', 'resume', '--state', 'pause-state.json'], pausing);
      expect(second.code).toBe(3);
      expect(second.stderr).toMatch(/rollout r\S+ is being run by process \d+/);
      const up = await braid(['up', '--db', p1.url, '--lock-wait', '1s'], pausing);
      expect(up.code).toBe(3);
      expect(up.stderr).toContain('another braid runner holds the migration lock');
      expect(up.stderr).toContain('braid rollout p01');
      const pause = await braid(['rollout', 'pause', '--state', 'pause-state.json'], pausing);
      expect(pause.code).toBe(0);
      expect(pause.stdout).toContain('pause requested');
    } finally {
      await holder.exec('commit');
      await holder.close();
    }
    expect(await exited).toBe(1);
    const ev = events(stdout);
    expect(ev[ev.length - 1]).toMatchObject({ event: 'rollout-paused', status: 'paused' });
    const st = await statusOf('pause-state.json');
    expect(st.status).toBe('paused');
    expect(target(st, 'p01')).toMatchObject({ status: 'paused', applied: [p.ids[1]] });
    expect(target(st, 'p02').status).toBe('pending');
    expect((await historyOf(p1)).applied).toEqual(p.ids.slice(0, 2));
    expect((await historyOf(p2)).applied).toEqual([]);

    const resume = await braid(['rollout', 'resume', '--state', 'pause-state.json'], pausing);
    expect(resume.code).toBe(0);
    expect((await statusOf('pause-state.json')).status).toBe('done');
    for (const t of pausing) await expectFullHistory(t);
  });

  it('refuses bad input before anything is applied; --continue-on-error runs every target and reports the failure', async () => {
    const [c1, c2] = coe;
    write('c.json', targetsJson(coe));
    const dir = path.join(p.repo.dir, '.git', 'braid', 'rollout');
    const stateBefore = fs.existsSync(dir) ? fs.readdirSync(dir) : [];

    write(
      'bad1.json',
      JSON.stringify({
        targets: [
          { name: 'c01', urlEnv: 'C01_URL' },
          { name: 'c02', urlEnv: c2.url },
        ],
      }),
    );
    const b1 = await braid(['rollout', '--targets', 'bad1.json'], coe);
    expect(b1.code).toBe(2);
    expect(b1.stderr).toContain(
      'bad1.json: targets[1].urlEnv: expected a variable name (the name of a variable, not a connection string), got a URL',
    );

    write('bad2.json', '{"targets": [{"name": "c01", "urlEnv": "C01_URL", "colour": "red"}]}');
    const b2 = await braid(['rollout', '--targets', 'bad2.json'], coe);
    expect(b2.code).toBe(2);
    expect(b2.stderr.trim()).toBe(
      'braid: bad2.json: targets[0].colour: unknown key (allowed: name, urlEnv, tenantsQuery)',
    );

    const b3 = await braid(['rollout', '--targets', 'c.json'], coe, { C03_URL: undefined });
    expect(b3.code).toBe(2);
    expect(b3.stderr).toContain('the variable C03_URL (c.json: target c03) is not set');

    const b4 = await braid(['rollout', '--targets', 'c.json', '--waves', '1,rest,2'], coe);
    expect(b4.code).toBe(2);
    expect(b4.stderr).toContain("--waves: 'rest' must be the last wave");

    const b5 = await braid(['rollout', '--targets', 'missing.json'], coe);
    expect(b5.code).toBe(2);
    expect(b5.stderr).toContain('--targets: cannot read missing.json (ENOENT)');

    // nothing applied, no state written
    expect(await historyOf(c1)).toEqual({ ups: {}, applied: [], progress: 0 });
    expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).toEqual(stateBefore);

    await rows(c2, 'create table t_c (x int)');
    const r = await braid(
      ['rollout', '--targets', 'c.json', '--concurrency', '1', '--continue-on-error'],
      coe,
    );
    expect(r.code).toBe(1);
    const ev = events(r.stdout);
    expect(ev.filter((e) => e.event === 'target-done').map((e) => e['target'])).toEqual(['c01', 'c03']);
    expect(ev[ev.length - 1]).toMatchObject({
      event: 'rollout-done',
      status: 'failed',
      done: 2,
      failed: 1,
      failures: [{ target: 'c02', migration: p.ids[2] }],
    });
    // default state location and the current pointer
    const st = await runBraidJson<StatusDoc>(['rollout', 'status'], { cwd: p.repo.dir });
    expect(st.code).toBe(0);
    expect(st.json.stateFile.startsWith(dir)).toBe(true);
    expect(target(st.json, 'c02').status).toBe('failed');
    const text = await runBraid(['rollout', 'status'], { cwd: p.repo.dir });
    expect(text.stdout).toContain(`rollout ${st.json.rolloutId}: failed`);
    expect(text.stdout).toMatch(/c02\s+failed\s+2 applied at /);

    const unknown = await braid(['rollout', 'retry', 'nope'], coe);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('braid rollout retry: no target nope in rollout');
    const doneRetry = await braid(['rollout', 'retry', 'c01'], coe);
    expect(doneRetry.code).toBe(2);
    expect(doneRetry.stderr).toContain('c01 is already done');

    // --health-sql: a first column false fails that target (nothing left to apply on c01/c03)
    const c1db = new URL(c1.plainUrl).pathname.slice(1);
    write('hs.sql', `select current_database() <> '${c1db}' as healthy`);
    const hs = await braid(
      [
        'rollout',
        '--targets',
        'c.json',
        '--concurrency',
        '1',
        '--health-sql',
        'hs.sql',
        '--continue-on-error',
        '--new',
        '--state',
        'hs.json',
      ],
      coe,
    );
    expect(hs.code).toBe(1);
    const hev = events(hs.stdout);
    expect(hev.filter((e) => e.event.startsWith('health')).map((e) => [e.event, e['target']])).toEqual([
      ['health-failed', 'c01'],
      ['health-ok', 'c03'],
    ]);
    expect(String(hev.find((e) => e.event === 'health-failed')!['reason'])).toBe(
      `--health-sql ${path.join(p.repo.dir, 'hs.sql')}: returned false`,
    );
    for (const o of outputs) expect(o).not.toContain(FLEET_PASSWORD);
  });
});
