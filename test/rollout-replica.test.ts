/**
 * Rollouts against a real streaming replica (a private primary + standby made with the server's
 * own binaries, test/helpers/replica.ts): a target counts as done only once its standby has
 * replayed braid's commit; a standby whose replay is paused fails the target after
 * --replica-timeout, naming the standby and its lag, and `braid rollout retry` finishes it once
 * replay resumes, never applying a migration twice.
 */
import { runBraid, type BraidResult } from './helpers/repo';
import { addMigrations, makeProject, type Project } from './helpers/cli';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { events, requireServer } from './helpers/fleet';
import { onUrl, startReplicaPair, type ReplicaPair } from './helpers/replica';

jest.setTimeout(180_000);

let p: Project;
let pair: ReplicaPair;
let control: TestDatabase;
const env = (): Record<string, string> => ({ PRIMARY_URL: pair.primaryUrl });

function braid(args: string[]): Promise<BraidResult> {
  return runBraid(args, { cwd: p.repo.dir, env: env() });
}

const table = (slug: string) => ({
  slug,
  up: `create table ${slug} (id int primary key);\ninsert into ${slug} select generate_series(1, 1000);\n`,
  down: `drop table ${slug};\n`,
});

async function onStandby<T>(sql: string): Promise<T[]> {
  return onUrl(pair.standbyUrl, async (ex) => (await ex.query<T>(sql)).rows);
}

async function ups(): Promise<Record<string, number>> {
  return onUrl(pair.primaryUrl, async (ex) => {
    const r = await ex.query<{ id: string; n: string }>(
      `select id, count(*) as n from braid.history where direction = 'up' group by id`,
    );
    return Object.fromEntries(r.rows.map((x) => [x.id, Number(x.n)]));
  });
}

async function rolloutWithWorker(extra: string[]): Promise<{ start: BraidResult; worker: BraidResult }> {
  const start = await braid([
    'rollout',
    '--control',
    control.url,
    '--targets',
    'fleet.json',
    '--new',
    ...extra,
  ]);
  const worker = await braid(['rollout', 'worker', '--control', control.url, '--json']);
  return { start, worker };
}

beforeAll(async () => {
  requireServer();
  pair = await startReplicaPair();
  control = await createTestDatabase({ prefix: 'braid_control' });
  p = makeProject([table('r1'), table('r2')]);
  p.repo.write('fleet.json', JSON.stringify({ targets: [{ name: 'primary', urlEnv: 'PRIMARY_URL' }] }));
  p.repo.commit('targets');
});

afterAll(async () => {
  pair?.stop();
  await control?.drop();
});

it('a target is done once its streaming standby has replayed braid commit (lag recorded)', async () => {
  const { start, worker } = await rolloutWithWorker([]);
  expect([start.code, start.stderr]).toEqual([0, '']);
  expect([worker.code, worker.stderr]).toEqual([0, '']);
  const done = events(worker.stdout).find((e) => e.event === 'target-done');
  expect(done).toMatchObject({ target: 'primary', applied: 2 });
  expect(done!['replicas']).toEqual([{ name: pair.standbyName, lagBytes: 0, caughtUp: true }]);
  // what "replayed" means: the standby answers with the migrations' rows right away
  expect(await onStandby<{ n: string }>('select count(*) as n from r2')).toEqual([{ n: '1000' }]);
  const st = await braid(['rollout', 'status', '--control', control.url, '--json']);
  const status = JSON.parse(st.stdout) as { status: string; targets: { replicas: unknown }[] };
  expect(status.status).toBe('done');
});

it('a standby whose replay is paused fails the target after --replica-timeout; retry finishes once it resumes', async () => {
  addMigrations(p, [table('r3')]);
  await onStandby('select pg_wal_replay_pause()');
  try {
    const { start, worker } = await rolloutWithWorker(['--replica-timeout', '1s']);
    expect(start.code).toBe(0);
    expect(worker.code).toBe(1);
    const failed = events(worker.stdout).find((e) => e.event === 'target-failed');
    expect(failed).toMatchObject({ target: 'primary', kind: 'replica' });
    expect(String(failed!['error'])).toMatch(
      new RegExp(`after 1 s \\(--replica-timeout\\): ${pair.standbyName} [0-9.]+ (B|kB|MB) behind`),
    );
    // the migration itself is applied on the primary, not yet visible on the standby
    expect(await onStandby<{ t: string | null }>(`select to_regclass('r3')::text as t`)).toEqual([
      { t: null },
    ]);
  } finally {
    await onStandby('select pg_wal_replay_resume()');
  }
  const retry = await braid(['rollout', 'retry', 'primary', '--control', control.url]);
  expect([retry.code, retry.stderr]).toEqual([0, '']);
  const again = await braid(['rollout', 'worker', '--control', control.url, '--json']);
  expect([again.code, again.stderr]).toEqual([0, '']);
  expect(events(again.stdout).find((e) => e.event === 'target-done')).toMatchObject({
    target: 'primary',
    replicas: [{ name: pair.standbyName, lagBytes: 0, caughtUp: true }],
  });
  expect(await onStandby<{ n: string }>('select count(*) as n from r3')).toEqual([{ n: '1000' }]);
  expect(await ups()).toEqual(Object.fromEntries(p.ids.map((id) => [id, 1])));
});

it('--replica-wait migration stops a target after the first migration its standby has not replayed', async () => {
  const [r4, r5] = addMigrations(p, [table('r4'), table('r5')]);
  await onStandby('select pg_wal_replay_pause()');
  try {
    const { start, worker } = await rolloutWithWorker([
      '--replica-timeout',
      '1s',
      '--replica-wait',
      'migration',
    ]);
    expect(start.code).toBe(0);
    expect(worker.code).toBe(1);
    const failed = events(worker.stdout).find((e) => e.event === 'target-failed');
    expect(failed).toMatchObject({ target: 'primary', kind: 'replica' });
    expect(String(failed!['error'])).toContain(`after ${r4}: replicas had not replayed`);
    const u = await ups();
    expect([u[r4], u[r5]]).toEqual([1, undefined]);
  } finally {
    await onStandby('select pg_wal_replay_resume()');
  }
  expect((await braid(['rollout', 'retry', 'primary', '--control', control.url])).code).toBe(0);
  expect((await braid(['rollout', 'worker', '--control', control.url])).code).toBe(0);
  expect(await ups()).toEqual(Object.fromEntries(p.ids.map((id) => [id, 1])));
});

it('the single-process braid rollout waits for the standby too (and refuses a bad --replica-wait)', async () => {
  const bad = await braid(['rollout', '--targets', 'fleet.json', '--replica-wait', 'wave']);
  expect([bad.code, bad.stderr.trim()]).toEqual([
    2,
    'braid: --replica-wait: expected target or migration, got "wave"',
  ]);
  const [r6] = addMigrations(p, [table('r6')]);
  await onStandby('select pg_wal_replay_pause()');
  try {
    const r = await braid(['rollout', '--targets', 'fleet.json', '--replica-timeout', '1s', '--json']);
    expect(r.code).toBe(1);
    const failed = events(r.stdout).find((e) => e.event === 'target-failed');
    expect(failed).toMatchObject({ target: 'primary', kind: 'replica' });
    expect(String(failed!['error'])).toContain(`${pair.standbyName} `);
    expect((await ups())[r6]).toBe(1);
  } finally {
    await onStandby('select pg_wal_replay_resume()');
  }
  const again = await braid(['rollout', 'retry', 'primary', '--json']);
  expect([again.code, again.stderr]).toEqual([0, '']);
  expect(events(again.stdout).find((e) => e.event === 'target-done')).toMatchObject({ target: 'primary' });
  expect(await onStandby<{ n: string }>('select count(*) as n from r6')).toEqual([{ n: '1000' }]);
});
