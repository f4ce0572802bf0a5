/**
 * Online migrations on the real server (docs/online.md): the circuit breaker cancels braid's own
 * statement when application sessions queue behind its lock, rolls the migration back and never
 * touches another session; a batched migration killed with -9 resumes without doing a batch
 * twice; thresholds are refused with clear errors; on PGlite braid up runs as before.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { connectPg, type PgExecutor } from '@braid/pg';
import { BRAID_JS, braidEnv, runBraid } from './helpers/repo';
import { addMigrations, inspect, makeProject, targetDb, type TargetDb } from './helpers/cli';
import { serverUrl } from './helpers/db';
import {
  ADD_NOTE_MIGRATION,
  expectTrippedThenApplied,
  holdConflictingLock,
  noteColumnExists,
  ORDERS_MIGRATION,
} from './helpers/blocked';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(ex: PgExecutor, sql: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    // the registry may not exist yet
    const r = await ex.query<{ n: number }>(sql).catch(() => ({ rows: [{ n: 0 }] }));
    if (Number(r.rows[0]?.n) > 0) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for: ${sql}`);
}

const server = serverUrl();
const onServer = (name: string, fn: () => void): void => {
  if (server) describe(name, fn);
};

onServer('the circuit breaker (server)', () => {
  test('sessions queued behind braid’s lock trip it: braid cancels only its own statement, rolls back, retries, then exits 1; nothing else is cancelled', async () => {
    const p = makeProject([ORDERS_MIGRATION]);
    const t = await targetDb('postgres', p);
    const dbUrl = t.args[1];
    const reader = await connectPg(dbUrl, 'long report');
    const app = await connectPg(dbUrl, 'app');
    const admin = await connectPg(dbUrl, 'observer');
    try {
      expect((await runBraid(['up', ...t.args], { cwd: p.repo.dir })).code).toBe(0);
      const [id] = addMigrations(p, [ADD_NOTE_MIGRATION]);
      // a long transaction holds ACCESS SHARE on orders: braid's ALTER queues behind it
      const blocked = await holdConflictingLock(reader, app, admin);
      const run = runBraid(
        [
          'up',
          ...t.args,
          '--lock-timeout',
          '30s',
          '--max-blocked-for',
          '300ms',
          '--breaker-retries',
          '1',
          '--breaker-backoff',
          '200ms',
          '--json',
        ],
        { cwd: p.repo.dir },
      );
      // the application keeps reading orders; each read queues behind braid's ALTER while it waits
      blocked.startApp();
      const r = await run;
      await blocked.stopApp();
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /circuit breaker tripped \(attempt 1\): pid \d+ \(app\) blocked behind braid for [\d.]+ (ms|s) \(maxBlockedFor 300 ms\); cancelled braid's statement, retrying in 200 ms/,
      );
      expect(r.stderr).toContain(`.migrations/${id}: circuit breaker tripped 2 time(s) (1 retries)`);
      expect(r.stderr).toContain('rolled back: nothing of it is applied');
      expect(r.stderr).toMatch(/trip 1 at .*; retried after 200 ms/);
      const doc = JSON.parse(r.stdout) as { error: string; breaker: { kind: string }[] };
      expect(doc.error).toBe('migration-failed');
      expect(doc.breaker.map((b) => b.kind)).toEqual(['blocked-for', 'blocked-for']);
      // nobody else was cancelled: the application's reads all succeeded, the long report is intact
      await blocked.expectBystandersUnharmed();
      // rolled back cleanly: no column, not applied; the attempts are recorded
      expect(await noteColumnExists(admin)).toBe(false);
      const applied = await admin.query('select id from braid.applied where id = $1', [id]);
      expect(applied.rows).toHaveLength(0);
      const watch = await admin.query<{
        outcome: string;
        attempt: number;
        breach: string;
        max_blocked: number;
      }>('select outcome, attempt, breach, max_blocked from braid.watch where id = $1 order by seq', [id]);
      expect(watch.rows.map((w) => [w.outcome, w.attempt])).toEqual([
        ['tripped', 1],
        ['tripped', 2],
      ]);
      expect(watch.rows[0].breach).toMatch(/blocked behind braid/);
      expect(watch.rows[0].max_blocked).toBeGreaterThanOrEqual(1);
      // once the report ends, the same command applies it
      await expectTrippedThenApplied(admin, blocked, id, () =>
        runBraid(['up', ...t.args, '--max-blocked-for', '300ms'], { cwd: p.repo.dir }),
      );
    } finally {
      await reader.close();
      await app.close();
      await admin.close();
      p.repo.cleanup();
      await t.drop();
    }
  });

  test('a statement that runs long while nothing is blocked is watched, recorded in braid.watch and shown by braid history', async () => {
    const p = makeProject([
      {
        slug: 'slow_notx',
        up: '-- braid:no-transaction\ncreate table s (id int primary key);\nselect pg_sleep(0.8);\n',
        down: 'drop table s;\n',
      },
    ]);
    const t = await targetDb('postgres', p);
    try {
      const r = await runBraid(['up', ...t.args, '--max-blocked-sessions', '0'], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      const rows = await inspect(t, (ex) =>
        ex.query<{ statement_index: number; outcome: string; elapsed_ms: number; max_blocked: number }>(
          'select statement_index, outcome, elapsed_ms, max_blocked from braid.watch order by seq',
        ),
      );
      expect(rows.rows.map((x) => [x.statement_index, x.outcome, x.max_blocked])).toEqual([[1, 'ok', 0]]);
      expect(rows.rows[0].elapsed_ms).toBeGreaterThanOrEqual(700);
      const h = await runBraid(['history', ...t.args, '--format', 'json'], { cwd: p.repo.dir });
      expect(h.code).toBe(0);
      const model = JSON.parse(h.stdout) as {
        watch: { id: string; statement: number | null; outcome: string }[];
      };
      expect(model.watch.map((w) => [w.id, w.statement, w.outcome])).toEqual([[p.ids[0], 2, 'ok']]);
      const text = await runBraid(['history', ...t.args], { cwd: p.repo.dir });
      expect(text.stdout).toMatch(/statement 2: ok .* blocked 0/);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});

onServer('batched data migrations (server)', () => {
  test('kill -9 in the middle: the rerun resumes after the last committed batch and no batch is done twice', async () => {
    const p = makeProject([
      {
        slug: 'accounts',
        up: 'create table accounts (id int primary key, n int not null default 0);\ninsert into accounts (id) select g from generate_series(1, 20000) g;\nanalyze accounts;\n',
        down: 'drop table accounts;\n',
      },
      {
        slug: 'bump',
        // not idempotent: a batch done twice would leave n = 2 on its rows
        up: '-- braid:batch size=1000 key=id delay=150ms\nupdate accounts set n = n + 1;\n',
        down: 'update accounts set n = n - 1;\n',
      },
    ]);
    const t = await targetDb('postgres', p);
    const admin = await connectPg(t.args[1], 'observer');
    try {
      const child = spawn(process.execPath, [BRAID_JS, 'up', ...t.args], {
        cwd: p.repo.dir,
        env: braidEnv(),
        stdio: 'ignore',
      });
      const exited = new Promise((res) => child.on('close', res));
      await waitFor(admin, `select count(*)::int as n from braid.progress where batches >= 4`);
      process.kill(child.pid!, 'SIGKILL');
      await exited;
      // its backend notices within a second (client_connection_check_interval) and rolls back
      await waitFor(
        admin,
        `select (count(*) = 0)::int as n from pg_stat_activity where application_name like 'braid up%'`,
      );
      const mid = await admin.query<{ batches: number; batch_key: string; batch_rows: string }>(
        'select batches, batch_key, batch_rows::text as batch_rows from braid.progress',
      );
      expect(mid.rows).toHaveLength(1);
      const { batches, batch_key, batch_rows } = mid.rows[0];
      expect(batches).toBeGreaterThanOrEqual(4);
      expect(batches).toBeLessThan(20);
      // exactly the committed batches are done: rows up to the recorded key, once each
      const done = await admin.query<{ bumped: number; max_id: number; twice: number }>(
        'select count(*) filter (where n = 1)::int as bumped, max(id) filter (where n = 1) as max_id, count(*) filter (where n > 1)::int as twice from accounts',
      );
      expect(done.rows[0]).toEqual({ bumped: batches * 1000, max_id: Number(batch_key), twice: 0 });
      expect(Number(batch_rows)).toBe(batches * 1000);

      const r = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(
        `resuming after batch ${batches} (id > ${batch_key}, ${batch_rows} row(s) done)`,
      );
      const after = await admin.query<{ ones: number; others: number }>(
        'select count(*) filter (where n = 1)::int as ones, count(*) filter (where n <> 1)::int as others from accounts',
      );
      expect(after.rows[0]).toEqual({ ones: 20000, others: 0 });
      const left = await admin.query('select 1 from braid.progress');
      expect(left.rows).toHaveLength(0);
      const w = await admin.query<{ rows: string; batches: number }>(
        `select rows::text as rows, batches from braid.watch where id = $1`,
        [p.ids[1]],
      );
      // the resumed run's record: all the rows, the batches it did itself
      expect(w.rows).toEqual([{ rows: '20000', batches: 21 - batches }]);
    } finally {
      await admin.close();
      p.repo.cleanup();
      await t.drop();
    }
  });

  test('braid plan shows the expected number of batches from the table’s statistics', async () => {
    const p = makeProject([
      {
        slug: 'big',
        up: 'create table big (id int primary key, v int);\ninsert into big select g, 0 from generate_series(1, 12345) g;\nanalyze big;\n',
        down: 'drop table big;\n',
      },
    ]);
    const t = await targetDb('postgres', p);
    try {
      expect((await runBraid(['up', ...t.args], { cwd: p.repo.dir })).code).toBe(0);
      addMigrations(p, [
        { slug: 'fill', up: '-- braid:batch size=1000\nupdate big set v = id;\n', down: 'select 1;\n' },
      ]);
      const r = await runBraid(['plan', ...t.args, '--json'], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout) as { migrations: { statements: { batches?: unknown }[] }[] };
      expect(doc.migrations[0].statements[0].batches).toEqual({
        table: 'public.big',
        size: 1000,
        rows: 12345,
        expected: 13,
      });
      const text = await runBraid(['plan', ...t.args], { cwd: p.repo.dir });
      expect(text.stdout).toContain('batched: ~13 batch(es) of 1,000 keys of public.big (~12,345 rows)');
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });

  test('a breaker trip inside a batch is recorded for its statement in braid.watch and braid history; the batch is retried and the statement finishes', async () => {
    const p = makeProject([
      {
        slug: 'accounts',
        // slow_once() sleeps the first time only (a sequence is not rolled back with the batch)
        up: `create table accounts (id int primary key, n int not null default 0);
insert into accounts (id) select g from generate_series(1, 3000) g;
analyze accounts;
create sequence once;
create function slow_once() returns boolean language sql as $$ select case when nextval('once') = 1 then pg_sleep(3) is not null else true end $$;
`,
        down: 'drop function slow_once();\ndrop sequence once;\ndrop table accounts;\n',
      },
    ]);
    const t = await targetDb('postgres', p);
    const dbUrl = t.args[1];
    const app = await connectPg(dbUrl, 'app');
    const admin = await connectPg(dbUrl, 'observer');
    try {
      expect((await runBraid(['up', ...t.args], { cwd: p.repo.dir })).code).toBe(0);
      const [id] = addMigrations(p, [
        {
          slug: 'bump',
          // the batch holding id 1500 sleeps (the first time) with its rows locked
          up: '-- braid:batch size=500 key=id delay=0\nupdate accounts set n = n + 1 where case when id = 1500 then slow_once() else true end;\n',
          down: 'update accounts set n = n - 1;\n',
        },
      ]);
      const run = runBraid(
        [
          'up',
          ...t.args,
          '--max-blocked-for',
          '300ms',
          '--breaker-retries',
          '2',
          '--breaker-backoff',
          '200ms',
        ],
        { cwd: p.repo.dir },
      );
      // the application takes a table lock that waits behind the batch's row-exclusive lock
      let stop = false;
      const appLoop = (async () => {
        while (!stop) {
          await app.exec('begin; lock table accounts in share mode; commit').catch(() => undefined);
          await sleep(20);
        }
      })();
      const r = await run;
      stop = true;
      await appLoop;
      expect(r.stderr).toMatch(/circuit breaker tripped \(attempt 1\): pid \d+ \(app\) blocked behind braid/);
      expect(r.code).toBe(0);
      // every row bumped once: the tripped batch rolled back and was done again
      const n = await admin.query<{ ones: number }>(
        'select count(*) filter (where n = 1)::int as ones from accounts',
      );
      expect(n.rows[0].ones).toBe(3000);
      const watch = await admin.query<{
        statement_index: number;
        outcome: string;
        attempt: number;
        breach: string | null;
        rows: string | null;
        batches: number | null;
      }>(
        'select statement_index, outcome, attempt, breach, rows::text as rows, batches from braid.watch where id = $1 order by seq',
        [id],
      );
      // the tripped batch (the third: ids 1001–1500; two batches committed before it), then the statement's ok row
      expect(watch.rows.map((w) => [w.statement_index, w.outcome, w.attempt, w.rows, w.batches])).toEqual([
        [0, 'tripped', 1, '1000', 2],
        [0, 'ok', 1, '3000', 7],
      ]);
      expect(watch.rows[0].breach).toMatch(/blocked behind braid/);
      const h = await runBraid(['history', ...t.args, '--format', 'json'], { cwd: p.repo.dir });
      const model = JSON.parse(h.stdout) as {
        watch: { id: string; statement: number | null; outcome: string; breach: string | null }[];
      };
      expect(
        model.watch.filter((w) => w.id === id).map((w) => [w.statement, w.outcome, Boolean(w.breach)]),
      ).toEqual([
        // newest first
        [1, 'ok', false],
        [1, 'tripped', true],
      ]);
      const text = await runBraid(['history', ...t.args], { cwd: p.repo.dir });
      expect(text.stdout).toMatch(/statement 1: tripped \(attempt 1\)/);
      expect(text.stdout).toMatch(/breaker: pid \d+ \(app\) blocked behind braid/);
      // and the HTML page: one row per watched attempt, the statement's trip counted on both
      const html = await runBraid(['history', ...t.args, '--format', 'html'], { cwd: p.repo.dir });
      expect(html.stdout).toContain('<table class="watch">');
      expect(html.stdout).toMatch(
        /<tr class="tripped">.*<td class="failed">tripped<\/td>.*blocked behind braid/,
      );
      expect(html.stdout).toMatch(
        /<tr class="ok">.*<td class="num">3000<\/td><td class="num">7<\/td>.*<td class="num">1<\/td><td><\/td><\/tr>/,
      );
    } finally {
      await app.close();
      await admin.close();
      p.repo.cleanup();
      await t.drop();
    }
  });

  test('a batched statement braid cannot cut is refused before anything runs, naming its line', async () => {
    const p = makeProject([
      { slug: 'nokey', up: 'create table nokey (v int);\n', down: 'drop table nokey;\n' },
      { slug: 'fill', up: '-- braid:batch size=10\nupdate nokey set v = 1;\n', down: 'select 1;\n' },
    ]);
    const t = await targetDb('postgres', p);
    try {
      const r = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `.migrations/${p.ids[1]}/up.sql:2:1: -- braid:batch: "nokey" has no one-column primary key: name the key column (-- braid:batch key=COL)`,
      );
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});

describe('thresholds on the command line and in braid.json', () => {
  test('a bad flag or braid.json value: exit 2, one line naming it, nothing applied', async () => {
    const p = makeProject([{ slug: 'a', up: 'create table a (id int);\n', down: 'drop table a;\n' }]);
    const t: TargetDb = await targetDb(server ? 'postgres' : 'pglite', p);
    try {
      const bad = await runBraid(['up', ...t.args, '--max-blocked-for', 'soon'], { cwd: p.repo.dir });
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim()).toBe(
        'braid: --max-blocked-for: expected a duration such as "1s", "500ms" or "2m", got "soon"',
      );
      const ratio = await runBraid(['up', ...t.args, '--max-latency-ratio', '1'], { cwd: p.repo.dir });
      expect(ratio.code).toBe(2);
      expect(ratio.stderr).toContain('--max-latency-ratio: expected a number greater than 1');
      fs.writeFileSync(
        path.join(p.repo.dir, 'braid.json'),
        JSON.stringify({ environments: {}, online: { breaker: { maxReplicaLag: 5 } } }),
      );
      const cfg = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(cfg.code).toBe(2);
      expect(cfg.stderr.trim()).toBe(
        'braid: braid.json: online.breaker.maxReplicaLag: expected a duration such as "1s", "500ms" or "2m" (a string), got number 5',
      );
      if (t.engine === 'postgres') {
        const reg = await inspect(t, (ex) =>
          ex.query<{ ok: boolean }>(`select to_regclass('braid.applied') is not null as ok`),
        );
        expect(reg.rows[0].ok).toBe(false);
      }
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });

  test('PGlite: braid up works as before; with thresholds it says it cannot watch', async () => {
    const p = makeProject([{ slug: 'a', up: 'create table a (id int);\n', down: 'drop table a;\n' }]);
    const plain = await runBraid(['up'], { cwd: p.repo.dir });
    expect(plain.code).toBe(0);
    expect(plain.stderr).not.toMatch(/watch/);
    const p2 = makeProject([{ slug: 'b', up: 'create table b (id int);\n', down: 'drop table b;\n' }]);
    const armed = await runBraid(['up', '--max-blocked-for', '1s'], { cwd: p2.repo.dir });
    expect(armed.code).toBe(0);
    expect(armed.stderr).toContain(
      'braid: not watched: the embedded database (PGlite) has a single connection, so no second session can watch the migration',
    );
    p.repo.cleanup();
    p2.repo.cleanup();
  });
});
