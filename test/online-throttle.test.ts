/**
 * Throttle waits before a batch, against a real streaming standby (a private primary + standby,
 * test/helpers/replica.ts): while the standby's replay is paused its lag grows past
 * --max-replica-lag, braid holds the next batch back, and once replay resumes it goes on. Each such
 * wait is a braid.watch row (outcome `throttled`, its duration and reason) that `braid history`
 * shows.
 */
import { runBraid } from './helpers/repo';
import { addMigrations, makeProject, type Project } from './helpers/cli';
import { requireServer } from './helpers/fleet';
import { onUrl, startReplicaPair, type ReplicaPair } from './helpers/replica';

jest.setTimeout(180_000);

let p: Project;
let pair: ReplicaPair;

beforeAll(async () => {
  requireServer();
  pair = await startReplicaPair();
  p = makeProject([
    {
      slug: 'items',
      up: 'create table items (id int primary key, v int not null);\ninsert into items select g, g from generate_series(1, 4000) g;\n',
      down: 'drop table items;\n',
    },
  ]);
});

afterAll(() => {
  pair?.stop();
  p?.repo.cleanup();
});

const onStandby = (sql: string) => onUrl(pair.standbyUrl, (ex) => ex.query(sql));

it('a batch held back by replica lag is a throttled braid.watch row (duration, reason, progress) shown by braid history', async () => {
  const db = ['--db', pair.primaryUrl];
  expect((await runBraid(['up', ...db], { cwd: p.repo.dir })).code).toBe(0);
  const [id] = addMigrations(p, [
    {
      slug: 'bump',
      up: '-- braid:batch size=500 key=id delay=200ms\nupdate items set v = v + 1;\n',
      down: 'update items set v = v - 1;\n',
    },
  ]);
  // the standby stops replaying: every batch braid commits adds to its lag
  await onStandby('select pg_wal_replay_pause()');
  let resumed = false;
  const resume = (async () => {
    await new Promise((r) => setTimeout(r, 2500));
    await onStandby('select pg_wal_replay_resume()');
    resumed = true;
  })();
  try {
    const r = await runBraid(
      ['up', ...db, '--max-replica-lag', '400ms', '--breaker-retries', '3', '--breaker-backoff', '2s'],
      { cwd: p.repo.dir },
    );
    await resume;
    expect(r.code).toBe(0);
    expect(resumed).toBe(true);
    const rows = await onUrl(pair.primaryUrl, async (ex) => {
      const w = await ex.query<{
        outcome: string;
        elapsed_ms: number;
        breach: string | null;
        batches: number | null;
        rows: string | null;
        max_replica_lag_ms: number | null;
      }>(
        `select outcome, elapsed_ms, breach, batches, rows::text as rows, max_replica_lag_ms
           from braid.watch where id = $1 order by seq`,
        [id],
      );
      const v = await ex.query<{ n: string }>('select count(*) as n from items where v = id + 1');
      return { watch: w.rows, bumped: Number(v.rows[0].n) };
    });
    // every row bumped once, throttle waits or not
    expect(rows.bumped).toBe(4000);
    const waits = rows.watch.filter((w) => w.outcome === 'throttled');
    expect(waits.length).toBeGreaterThanOrEqual(1);
    const longest = waits.reduce((a, b) => (b.elapsed_ms > a.elapsed_ms ? b : a));
    // held back until replay resumed (~2.5 s after the start): far longer than a batch or a delay
    expect(longest.elapsed_ms).toBeGreaterThanOrEqual(800);
    expect(longest.breach).toMatch(/lag/);
    expect(longest.max_replica_lag_ms).toBeGreaterThan(400);
    // the progress before the wait: some batches done, not all 9 (8 full and the last)
    expect(longest.batches).not.toBeNull();
    expect(longest.batches!).toBeLessThan(9);
    expect(Number(longest.rows)).toBe(longest.batches! * 500);
    // the statement's own row is there too
    expect(rows.watch.some((w) => w.outcome === 'ok')).toBe(true);

    const h = await runBraid(['history', ...db], { cwd: p.repo.dir });
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(
      new RegExp(`${id} statement 1: throttled for [\\d.]+ (ms|s) before batch ${longest.batches! + 1}`),
    );
    expect(h.stdout).toMatch(/ {6}reason: .*lag/);
    const hj = await runBraid(['history', ...db, '--format', 'json'], { cwd: p.repo.dir });
    const doc = JSON.parse(hj.stdout) as { watch: { outcome: string; breach: string | null }[] };
    expect(doc.watch.filter((w) => w.outcome === 'throttled').length).toBe(waits.length);
  } finally {
    await resume.catch(() => undefined);
    await onStandby('select pg_wal_replay_resume()').catch(() => undefined);
  }
});
