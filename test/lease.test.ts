/**
 * The lease lock (--lock lease). Its state machine on the server and on PGlite; on the server,
 * two runners through a simulated transaction-mode pooler (a fresh connection for every
 * statement, so advisory locks are useless there): never both inside; and a holder killed with
 * SIGKILL mid-migration, whose lease another runner takes over only after it expires.
 */
import { spawn } from 'node:child_process';
import {
  acquireLease,
  applyUp,
  connectPg,
  detectPooler,
  ensureRegistryForLease,
  openExecutor,
  readLease,
  releaseLease,
  renewLease,
  tryAcquireLease,
  withLease,
  type Executor,
  type QueryResult,
} from '@braid/pg';
import { createTestDatabase, serverUrl } from './helpers/db';
import { engines, inspect, makeProject, tableExists, targetDb } from './helpers/cli';
import { BRAID_JS, braidEnv, ensureBuilt, runBraid } from './helpers/repo';

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** What a pooler in transaction mode looks like to a client: each statement on a fresh session. */
class FreshConnectionPerStatement implements Executor {
  readonly engine = 'postgres' as const;
  readonly serverVersionNum = 150000;
  constructor(
    private readonly url: string,
    readonly label = 'pooled',
  ) {}
  async query<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>> {
    const ex = await connectPg(this.url, 'braid lease test');
    try {
      return await ex.query<R>(sql, params);
    } finally {
      await ex.close();
    }
  }
  async exec(sql: string): Promise<void> {
    await this.query(sql);
  }
  async close(): Promise<void> {}
}

describe.each(serverUrl() ? ['postgres', 'pglite'] : ['pglite'])('lease state machine on %s', (engine) => {
  it('one holder at a time; renewed only by its holder; stolen only after expiry', async () => {
    const db = await createTestDatabase({ prefix: 'braid_lease' });
    const ex = await openExecutor(engine === 'pglite' ? 'pglite:memory' : db.url);
    try {
      await ensureRegistryForLease(ex, '1.0.0');
      expect(await readLease(ex)).toBeUndefined();
      expect(await tryAcquireLease(ex, 'migrate', 'tok-a', 'runner a', 60_000)).toBe(true);
      expect(await tryAcquireLease(ex, 'migrate', 'tok-b', 'runner b', 60_000)).toBe(false);
      expect(await tryAcquireLease(ex, 'migrate', 'tok-a', 'runner a', 60_000)).toBe(true); // re-entrant
      expect(await renewLease(ex, 'migrate', 'tok-b', 60_000)).toBe(false);
      expect(await renewLease(ex, 'migrate', 'tok-a', 1_500)).toBe(true);
      const aExpires = (await readLease(ex))!.expiresAt;
      await releaseLease(ex, 'migrate', 'tok-b'); // not b's to release
      expect((await readLease(ex))?.holder).toBe('runner a');
      // a holds it with a 1.5 s ttl and stops heartbeating: b takes it once it has expired
      let took = false;
      for (let i = 0; i < 200 && !took; i++) {
        took = await tryAcquireLease(ex, 'migrate', 'tok-b', 'runner b', 60_000);
        if (!took) await sleep(50);
      }
      expect(took).toBe(true);
      const b = (await readLease(ex))!;
      // by the database's clock, b took it only after a's lease had expired
      const after = await ex.query<{ ok: boolean }>('select $1::timestamptz >= $2::timestamptz as ok', [
        b.acquiredAt,
        aExpires,
      ]);
      expect(after.rows[0]?.ok).toBe(true);
      expect((await readLease(ex))?.holder).toBe('runner b');
      expect(await renewLease(ex, 'migrate', 'tok-a', 60_000)).toBe(false); // a lost it
      await releaseLease(ex, 'migrate', 'tok-b');
      expect(await readLease(ex)).toBeUndefined();
    } finally {
      await ex.close();
      await db.drop();
    }
  });
});

// Two sessions and a killed process need the server (PGlite is one in-process connection).
if (serverUrl()) {
  describe('lease lock through a simulated transaction pooler (server)', () => {
    it('advisory locks fail there; the lease keeps two runners apart and pooler detection says so', async () => {
      const db = await createTestDatabase({ prefix: 'braid_lease' });
      const pooled = new FreshConnectionPerStatement(db.url);
      const direct = await connectPg(db.url);
      try {
        expect((await detectPooler(pooled)).pooled).toBe(true);
        expect((await detectPooler(pooled)).reason).toContain('use --lock lease');
        expect((await detectPooler(direct)).pooled).toBe(false);
        // both "runners" get the advisory lock: it died with the statement's session
        const adv = 'select pg_try_advisory_lock(42) as ok';
        expect((await pooled.query<{ ok: boolean }>(adv)).rows[0]?.ok).toBe(true);
        expect((await pooled.query<{ ok: boolean }>(adv)).rows[0]?.ok).toBe(true);

        await ensureRegistryForLease(pooled, '1.0.0');
        await direct.exec('create table inside (n int not null); insert into inside values (0);');
        let maxInside = 0;
        let entries = 0;
        const runner = async (name: string) => {
          for (let i = 0; i < 12; i++) {
            await withLease(pooled, { ttlMs: 5_000, waitMs: 120_000, holder: name }, async () => {
              const n = (await pooled.query<{ n: number }>('update inside set n = n + 1 returning n')).rows[0]
                .n;
              maxInside = Math.max(maxInside, n);
              entries++;
              await sleep(5);
              await pooled.query('update inside set n = n - 1');
            });
          }
        };
        await Promise.all([runner('runner 1'), runner('runner 2'), runner('runner 3')]);
        expect(entries).toBe(36);
        expect(maxInside).toBe(1);
        expect(await readLease(direct)).toBeUndefined(); // released
      } finally {
        await direct.close();
        await db.drop();
      }
    });

    it('braid up with the advisory lock refuses a connection through a transaction pooler', async () => {
      const db = await createTestDatabase({ prefix: 'braid_lease' });
      const pooled = new FreshConnectionPerStatement(db.url);
      try {
        const m = {
          id: '20260101000000_a',
          files: { up: 'create table a (id int);\n' },
          directives: { noTransaction: false, irreversible: false },
          hash: 'sha256:a',
        };
        await expect(applyUp(pooled, [m], { provenance: { braidVersion: '1.0.0' } })).rejects.toMatchObject({
          code: 'pooler-detected',
          exitCode: 3,
          message: expect.stringContaining('use --lock lease') as unknown,
        });
      } finally {
        await db.drop();
      }
    });

    it('a lost lease (expired and taken while working) is reported', async () => {
      const db = await createTestDatabase({ prefix: 'braid_lease' });
      const ex = await connectPg(db.url);
      try {
        await ensureRegistryForLease(ex, '1.0.0');
        const held = await acquireLease(ex, { ttlMs: 60_000, heartbeatMs: 50, waitMs: 1_000 });
        // another runner steals it as if it had expired
        await ex.query(`update braid.lease set expires_at = clock_timestamp() - interval '1 s'`);
        expect(await tryAcquireLease(ex, 'migrate', 'thief', 'thief', 60_000)).toBe(true);
        for (let i = 0; i < 100 && !held.lost; i++) await sleep(20);
        await held.stop();
        expect(held.lost).toBe(true);
        await expect(
          withLease(ex, { ttlMs: 60_000, waitMs: 200 }, () => Promise.resolve(1)),
        ).rejects.toMatchObject({ code: 'lock-timeout', exitCode: 3 });
      } finally {
        await ex.close();
        await db.drop();
      }
    });

    it('braid up --lock lease: a runner whose lease was taken over cannot commit its migration (fence)', async () => {
      const db = await createTestDatabase({ prefix: 'braid_lease' });
      const p = makeProject([
        {
          slug: 'gated',
          up: "set local lock_timeout = '120s';\nselect * from public.gate for update;\ncreate table gated (id int);\n",
          down: 'drop table gated;\n',
        },
      ]);
      const ex = await connectPg(db.url);
      const holder = await connectPg(db.url);
      try {
        await ex.exec('create table public.gate (s int); insert into public.gate values (1);');
        await holder.exec('begin; select * from public.gate for update;');
        const run = runBraid(['up', '--db', db.url, '--lock', 'lease', '--lease-ttl', '60s'], {
          cwd: p.repo.dir,
        });
        let waiting = false;
        for (let i = 0; i < 600 && !waiting; i++) {
          await sleep(100);
          const r = await ex.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity where datname = current_database()
              and wait_event_type = 'Lock' and query like '%from public.gate for update%'`,
          );
          waiting = (r.rows[0]?.n ?? 0) > 0;
        }
        expect(waiting).toBe(true);
        // the runner stalls (here: blocked) while another runner takes its lease over
        await ex.query(`update braid.lease set expires_at = clock_timestamp() - interval '1 s'`);
        expect(await tryAcquireLease(ex, 'migrate', 'thief', 'thief', 60_000)).toBe(true);
        await holder.exec('commit');
        const r = await run;
        expect(r.code).toBe(3);
        expect(r.stderr).toContain(
          'expired or was taken over by another runner: this migration was rolled back',
        );
        const t = await ex.query<{ ok: boolean }>(`select to_regclass('public.gated') is null as ok`);
        expect(t.rows[0]?.ok).toBe(true);
        expect((await ex.query('select id from braid.applied')).rows).toEqual([]);
        expect((await readLease(ex))?.holder).toBe('thief');
      } finally {
        await holder.close();
        await ex.close();
        p.repo.cleanup();
        await db.drop();
      }
    });

    it('braid up --lock lease: a holder killed with SIGKILL is taken over after its lease expires', async () => {
      ensureBuilt();
      const db = await createTestDatabase({ prefix: 'braid_lease' });
      const p = makeProject([
        {
          slug: 'slow',
          // the killed runner's backend notices the dead client within 100 ms and rolls back
          up: "set client_connection_check_interval = '100ms';\nselect pg_sleep((select s from public.gate));\ncreate table slow (id int);\n",
          down: 'drop table slow;\n',
        },
      ]);
      const ex = await connectPg(db.url);
      try {
        await ex.exec('create table public.gate (s float8 not null); insert into public.gate values (600);');
        const child = spawn(
          process.execPath,
          [BRAID_JS, 'up', '--db', db.url, '--lock', 'lease', '--lease-ttl', '3s'],
          {
            cwd: p.repo.dir,
            env: braidEnv(),
            stdio: 'ignore',
          },
        );
        // wait until it holds the lease and is inside the migration
        let inside = false;
        for (let i = 0; i < 600 && !inside; i++) {
          await sleep(100);
          const r = await ex.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity where datname = current_database() and query like '%pg_sleep((select s%' and pid <> pg_backend_pid()`,
          );
          inside = (r.rows[0]?.n ?? 0) > 0;
        }
        expect(inside).toBe(true);
        const dead = await readLease(ex);
        expect(dead?.holder).toMatch(/pid \d+/);
        child.kill('SIGKILL');
        await new Promise((res) => child.once('exit', res));
        await ex.exec('update public.gate set s = 0');

        const second = await runBraid(['up', '--db', db.url, '--lock', 'lease', '--lock-wait', '60s'], {
          cwd: p.repo.dir,
        });
        expect(second.code).toBe(0);
        expect(second.stdout).toContain(`applied ${p.ids[0]}`);
        expect(second.stderr).toContain(`waiting for the migration lease held by ${dead!.holder}`);
        // applied exactly once, after the dead holder's lease had expired
        const hist = await ex.query<{ id: string; after: boolean }>(
          `select id, applied_at >= $1::timestamptz as after from braid.history`,
          [dead!.expiresAt],
        );
        expect(hist.rows).toEqual([{ id: p.ids[0], after: true }]);
        expect(await readLease(ex)).toBeUndefined();
      } finally {
        await ex.close();
        p.repo.cleanup();
        await db.drop();
      }
    });
  });
}

describe.each(engines())('braid up/down --lock lease on %s', (engine) => {
  it('applies and rolls back holding the lease, and releases it', async () => {
    const p = makeProject([{ slug: 'a', up: 'create table a (id int);\n', down: 'drop table a;\n' }]);
    const t = await targetDb(engine, p);
    try {
      const up = await runBraid(['up', ...t.args, '--lock', 'lease', '--lease-ttl', '10s'], {
        cwd: p.repo.dir,
      });
      expect(up.code).toBe(0);
      expect(await tableExists(t, 'a')).toBe(true);
      const down = await runBraid(['down', ...t.args, '--lock', 'lease'], { cwd: p.repo.dir });
      expect(down.code).toBe(0);
      expect(await tableExists(t, 'a')).toBe(false);
      expect(await inspect(t, (ex) => readLease(ex))).toBeUndefined();
      const bad = await runBraid(['up', ...t.args, '--lock', 'lease', '--lease-ttl', 'soon'], {
        cwd: p.repo.dir,
      });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--lease-ttl: expected a duration');
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});
