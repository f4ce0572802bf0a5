/**
 * The blocked-lock setup of the circuit-breaker tests (test/online.test.ts, test/promote.test.ts):
 * a 100-row `orders` table, a migration whose ALTER needs ACCESS EXCLUSIVE on it, a long "report"
 * transaction holding ACCESS SHARE (so braid's ALTER queues behind it), and an application that
 * keeps reading `orders` (each read queues behind braid's waiting ALTER: the breaker trips).
 * Afterwards: nobody but braid was cancelled (every application read succeeded, the report's
 * session is alive and still sees its 100 rows).
 */
import type { Executor } from '@braid/pg';

/** The table the scenario blocks on, created by the project's first migration. */
export const ORDERS_MIGRATION = {
  slug: 'orders',
  up: 'create table orders (id int primary key, v int);\ninsert into orders select g, g from generate_series(1, 100) g;\n',
  down: 'drop table orders;\n',
};

/** The migration that queues behind the report (ACCESS EXCLUSIVE on orders). */
export const ADD_NOTE_MIGRATION = {
  slug: 'add_note',
  up: 'alter table orders add column note text;\n',
  down: 'alter table orders drop column note;\n',
};

export interface BlockedLock {
  /** The report session's backend pid. */
  readerPid: number;
  /** Starts the application's read loop (one `select count(*) from orders` every 20 ms). */
  startApp(): void;
  /** Stops the loop: how many reads succeeded and the errors of those that did not. */
  stopApp(): Promise<{ reads: number; errors: string[] }>;
  /** Asserts nobody else was harmed: the app's reads all succeeded, the report is alive and intact. */
  expectBystandersUnharmed(): Promise<void>;
  /** Ends the report's transaction: the ALTER can take its lock. */
  release(): Promise<void>;
}

/**
 * Opens the report's transaction on `reader` (holding ACCESS SHARE on orders until release());
 * `app` reads orders once startApp() is called; `admin` checks the report is still alive.
 */
export async function holdConflictingLock(
  reader: Executor,
  app: Executor,
  admin: Executor,
): Promise<BlockedLock> {
  await reader.exec('begin; select count(*) from orders');
  const readerPid = (await reader.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
  let stop = false;
  let reads = 0;
  const errors: string[] = [];
  let loop: Promise<void> | undefined;
  let appResult: { reads: number; errors: string[] } | undefined;
  const stopApp = async () => {
    stop = true;
    await loop;
    appResult = { reads, errors: [...errors] };
    return appResult;
  };
  return {
    readerPid,
    startApp() {
      loop = (async () => {
        while (!stop) {
          try {
            await app.query('select count(*) from orders');
            reads++;
          } catch (e) {
            errors.push(String(e));
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
    },
    stopApp,
    async expectBystandersUnharmed() {
      const a = appResult ?? (await stopApp());
      expect(a.errors).toEqual([]);
      expect(a.reads).toBeGreaterThan(0);
      expect((await reader.query<{ n: string }>('select count(*) as n from orders')).rows[0].n).toBe('100');
      const alive = await admin.query<{ n: number }>(
        'select count(*)::int as n from pg_stat_activity where pid = $1',
        [readerPid],
      );
      expect(alive.rows[0].n).toBe(1);
    },
    async release() {
      await reader.exec('commit');
    },
  };
}

/** Whether the ALTER of ADD_NOTE_MIGRATION is in effect: `orders.note` exists. */
export async function noteColumnExists(admin: Executor): Promise<boolean> {
  const r = await admin.query(
    `select 1 from information_schema.columns where table_name = 'orders' and column_name = 'note'`,
  );
  return r.rows.length === 1;
}

/**
 * The end of a breaker scenario: the migration `id` failed once in the audit trail after two
 * trips; once the report ends, `rerun` (the same command again) applies it.
 */
export async function expectTrippedThenApplied(
  admin: Executor,
  blocked: BlockedLock,
  id: string,
  rerun: () => Promise<{ code: number }>,
): Promise<void> {
  const audit = await admin.query<{ outcome: string; error: string }>(
    'select outcome, error from braid.audit where id = $1 order by seq',
    [id],
  );
  expect(audit.rows.map((a) => a.outcome)).toEqual(['failed']);
  expect(audit.rows[0].error).toMatch(/circuit breaker tripped 2 time/);
  await blocked.release();
  expect((await rerun()).code).toBe(0);
  expect(await noteColumnExists(admin)).toBe(true);
}
