/**
 * One session-level advisory lock per database serialises every braid runner on it. A second
 * runner polls pg_try_advisory_lock with backoff up to --lock-wait, then fails with exit 3
 * naming the holder (pid and application_name from pg_locks / pg_stat_activity).
 * On PGlite (one connection, one process) the data directory's lock file plays this role.
 */
import { EnvironmentError, tenantLockKey } from '@braid/core';
import type { Executor } from './executor';

/** The lock key: the two 32-bit halves of "braid" + 1 (pg_locks shows classid/objid). */
export const LOCK_CLASSID = 0x62726169; // "brai"
export const LOCK_OBJID = 0x64000001; // "d", 1

/** The lock's second key: the database's, or a tenant schema's own (URL#schema). */
export function lockObjid(ex: Executor): number {
  return ex.tenant === undefined ? LOCK_OBJID : tenantLockKey(ex.tenant);
}

export interface LockHolder {
  pid: number;
  applicationName: string;
  query: string;
  since: string | null;
}

export async function lockHolder(ex: Executor): Promise<LockHolder | undefined> {
  const r = await ex.query<{
    pid: number;
    application_name: string | null;
    query: string | null;
    since: string | null;
  }>(
    `select a.pid, a.application_name, a.query, a.backend_start::text as since
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.classid = $1::bigint::oid and l.objid = $2::bigint::oid
        and l.objsubid = 2 and l.database = (select oid from pg_database where datname = current_database())
      limit 1`,
    [LOCK_CLASSID, lockObjid(ex)],
  );
  const row = r.rows[0];
  return row
    ? { pid: row.pid, applicationName: row.application_name ?? '', query: row.query ?? '', since: row.since }
    : undefined;
}

export interface AdvisoryLockOptions {
  waitMs: number;
  /** Called once when the lock is busy and we start waiting. */
  onWait?: (holder: LockHolder | undefined) => void;
}

/**
 * Takes braid's advisory lock or throws EnvironmentError (exit 3) after waitMs. Returns the
 * backend pid of the session that took it (read in the same statement; undefined on PGlite).
 */
export async function acquireAdvisoryLock(
  ex: Executor,
  opts: AdvisoryLockOptions,
): Promise<number | undefined> {
  if (ex.engine === 'pglite') return undefined; // one process per data directory (lock file)
  const deadline = Date.now() + opts.waitMs;
  let delay = 50;
  let told = false;
  for (;;) {
    const r = await ex.query<{ ok: boolean; pid: number }>(
      'select pg_try_advisory_lock($1::int4, $2::int4) as ok, pg_backend_pid() as pid',
      [LOCK_CLASSID | 0, lockObjid(ex) | 0],
    );
    if (r.rows[0]?.ok) return r.rows[0].pid;
    const holder = await lockHolder(ex).catch(() => undefined);
    if (!told) {
      told = true;
      opts.onWait?.(holder);
    }
    if (Date.now() >= deadline) {
      const who = holder
        ? `pid ${holder.pid}${holder.applicationName ? ` (${holder.applicationName})` : ''}`
        : 'another session';
      throw new EnvironmentError(
        'lock-timeout',
        `another braid runner holds the migration lock on ${ex.label}: ${who}; gave up after ${Math.round(opts.waitMs / 1000)} s (--lock-wait)`,
        { data: { holderPid: holder?.pid, holderApplicationName: holder?.applicationName } },
      );
    }
    const jitter = Math.floor(Math.random() * delay * 0.5);
    await new Promise((res) =>
      setTimeout(res, Math.min(delay + jitter, Math.max(10, deadline - Date.now()))),
    );
    delay = Math.min(delay * 2, 1000);
  }
}

export async function releaseAdvisoryLock(ex: Executor): Promise<void> {
  if (ex.engine === 'pglite') return;
  await ex.query('select pg_advisory_unlock($1::int4, $2::int4)', [LOCK_CLASSID | 0, lockObjid(ex) | 0]);
}

/**
 * Runs fn holding braid's advisory lock; always released (also when fn throws). fn receives the
 * backend pid that took the lock (undefined on PGlite).
 */
export async function withAdvisoryLock<T>(
  ex: Executor,
  opts: AdvisoryLockOptions,
  fn: (lockPid: number | undefined) => Promise<T>,
): Promise<T> {
  const pid = await acquireAdvisoryLock(ex, opts);
  try {
    return await fn(pid);
  } finally {
    await releaseAdvisoryLock(ex).catch(() => undefined);
  }
}

/** Runs fn in a transaction: commit when it returns, rollback when it throws. */
export async function withTransaction<T>(ex: Executor, fn: () => Promise<T>): Promise<T> {
  await ex.exec('begin');
  try {
    const out = await fn();
    await ex.exec('commit');
    return out;
  } catch (e) {
    await ex.exec('rollback').catch(() => undefined);
    throw e;
  }
}

/** Opens an executor, runs fn, always closes it. */
export async function withClient<T>(
  open: () => Promise<Executor>,
  fn: (ex: Executor) => Promise<T>,
): Promise<T> {
  const ex = await open();
  try {
    return await fn(ex);
  } finally {
    await ex.close();
  }
}
