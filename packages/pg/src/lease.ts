/**
 * The lease lock (`--lock lease`): pooler-safe mutual exclusion for braid runners. Advisory locks
 * belong to a server session, and a pooler in transaction mode (PgBouncer) hands each
 * transaction to any session, so they protect nothing there. A lease is a row in braid.lease
 * (holder, random token, heartbeat, expiry by the database's clock), taken, renewed and released
 * in single-statement transactions, so it works through any pooler:
 * - take: insert, or update the row only when it has expired (or is already ours) — one
 *   statement, so two runners can never both see themselves as holder;
 * - renew (heartbeat, every ttl/3 on its own session): only while the token is still ours;
 * - steal: only after expiry, so a crashed runner (kill -9) blocks others for at most the ttl.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { EnvironmentError } from '@braid/core';
import type { Executor } from './executor';
import { ensureRegistry } from './registry';
import { pgErrorInfo } from './pgerror';

export const DEFAULT_LEASE_NAME = 'migrate';
export const DEFAULT_LEASE_TTL_MS = 30_000;

export interface LeaseInfo {
  name: string;
  holder: string;
  token: string;
  acquiredAt: string;
  heartbeatAt: string;
  expiresAt: string;
  /** Whether it had expired when read (by the database's clock). */
  expired: boolean;
}

export async function leaseTableExists(ex: Executor): Promise<boolean> {
  const r = await ex.query<{ ok: boolean }>(`select to_regclass('braid.lease') is not null as ok`);
  return Boolean(r.rows[0]?.ok);
}

/**
 * Creates/upgrades the registry (which holds braid.lease) without a lock: the lease cannot
 * protect its own creation, and advisory locks do not survive a pooler. Two runners racing on a
 * fresh database: one creates it, the other's duplicate-object error is retried (then a no-op).
 */
export async function ensureRegistryForLease(ex: Executor, braidVersion: string): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ensureRegistry(ex, braidVersion);
    } catch (e) {
      const code = pgErrorInfo(e)?.code;
      if (attempt >= 4 || !(code === '23505' || code === '42P07' || code === '42P06' || code === '42710'))
        throw e;
      await new Promise((res) => setTimeout(res, 50 + Math.random() * 200));
    }
  }
}

export async function readLease(
  ex: Executor,
  name: string = DEFAULT_LEASE_NAME,
): Promise<LeaseInfo | undefined> {
  const r = await ex.query<{
    name: string;
    holder: string;
    token: string;
    acquired_at: string;
    heartbeat_at: string;
    expires_at: string;
    expired: boolean;
  }>(
    `select name, holder, token, acquired_at::text as acquired_at, heartbeat_at::text as heartbeat_at,
            expires_at::text as expires_at, expires_at < clock_timestamp() as expired
       from braid.lease where name = $1`,
    [name],
  );
  const x = r.rows[0];
  return x
    ? {
        name: x.name,
        holder: x.holder,
        token: x.token,
        acquiredAt: x.acquired_at,
        heartbeatAt: x.heartbeat_at,
        expiresAt: x.expires_at,
        expired: x.expired,
      }
    : undefined;
}

/** One statement: takes the lease when free, expired, or already ours. Returns whether we hold it. */
export async function tryAcquireLease(
  ex: Executor,
  name: string,
  token: string,
  holder: string,
  ttlMs: number,
): Promise<boolean> {
  const r = await ex.query(
    `insert into braid.lease as l (name, holder, token, acquired_at, heartbeat_at, expires_at)
     values ($1, $2, $3, clock_timestamp(), clock_timestamp(), clock_timestamp() + make_interval(secs => $4::float8 / 1000))
     on conflict (name) do update
        set holder = excluded.holder, token = excluded.token, acquired_at = excluded.acquired_at,
            heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at
      where l.expires_at < clock_timestamp() or l.token = excluded.token
     returning token`,
    [name, holder, token, ttlMs],
  );
  return r.rows.length === 1;
}

/** Heartbeat: extends the lease while it is ours. False when it was lost (expired and taken). */
export async function renewLease(ex: Executor, name: string, token: string, ttlMs: number): Promise<boolean> {
  const r = await ex.query(
    `update braid.lease set heartbeat_at = clock_timestamp(),
            expires_at = clock_timestamp() + make_interval(secs => $3::float8 / 1000)
      where name = $1 and token = $2 returning 1`,
    [name, token, ttlMs],
  );
  return r.rows.length === 1;
}

export async function releaseLease(ex: Executor, name: string, token: string): Promise<void> {
  await ex.query('delete from braid.lease where name = $1 and token = $2', [name, token]);
}

export interface LeaseOptions {
  /** Lease name (default "migrate"). */
  name?: string;
  /** Time to live without a heartbeat (default 30 s). */
  ttlMs?: number;
  /** Heartbeat interval (default ttl / 3). */
  heartbeatMs?: number;
  /** How long to wait for a busy lease before failing with exit 3. */
  waitMs: number;
  /** Holder description stored in the row (default host, pid). */
  holder?: string;
  /** Called once when the lease is busy and we start waiting. */
  onWait?: (current: LeaseInfo | undefined) => void;
  /**
   * Opens the session heartbeats run on. The main session may be inside a migration's
   * transaction, where a heartbeat would not commit. Default: the main session.
   */
  openHeartbeat?: () => Promise<Executor>;
}

export interface HeldLease {
  name: string;
  token: string;
  holder: string;
  /** Set when a heartbeat found the lease taken by another runner. */
  lost: boolean;
  stop(): Promise<void>;
}

export function defaultHolder(): string {
  return `${os.hostname()} pid ${process.pid}`;
}

/** Takes the lease (polling with backoff up to waitMs) and starts its heartbeat. */
export async function acquireLease(ex: Executor, opts: LeaseOptions): Promise<HeldLease> {
  const name = opts.name ?? DEFAULT_LEASE_NAME;
  const ttlMs = opts.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const token = randomUUID();
  const holder = opts.holder ?? defaultHolder();
  const deadline = Date.now() + opts.waitMs;
  let delay = 50;
  let told = false;
  for (;;) {
    if (await tryAcquireLease(ex, name, token, holder, ttlMs)) break;
    const current = await readLease(ex, name).catch(() => undefined);
    if (!told) {
      told = true;
      opts.onWait?.(current);
    }
    if (Date.now() >= deadline) {
      throw new EnvironmentError(
        'lock-timeout',
        `another braid runner holds the migration lease on ${ex.label}: ${current ? `${current.holder}, expires ${current.expiresAt}` : 'unknown holder'}; gave up after ${Math.round(opts.waitMs / 1000)} s (--lock-wait)`,
        { data: { lease: current ? { holder: current.holder, expiresAt: current.expiresAt } : null } },
      );
    }
    const jitter = Math.floor(Math.random() * delay * 0.5);
    await new Promise((res) =>
      setTimeout(res, Math.min(delay + jitter, Math.max(10, deadline - Date.now()))),
    );
    delay = Math.min(delay * 2, 1000);
  }

  const hb = opts.openHeartbeat ? await opts.openHeartbeat() : ex;
  const every = Math.max(50, opts.heartbeatMs ?? Math.floor(ttlMs / 3));
  const held: HeldLease = {
    name,
    token,
    holder,
    lost: false,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      if (hb !== ex) await hb.close().catch(() => undefined);
    },
  };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const beat = (): void => {
    timer = setTimeout(() => {
      running = (async () => {
        if (stopped) return;
        try {
          if (!(await renewLease(hb, name, token, ttlMs))) held.lost = true;
        } catch {
          // a failed heartbeat is retried next time; the lease expires if they keep failing
        }
        if (!stopped && !held.lost) beat();
      })();
    }, every);
    timer.unref();
  };
  beat();
  return held;
}

/**
 * The fence: inside a migration's transaction, just before its commit, checks that the lease is
 * still ours and unexpired, and locks its row until the commit (a takeover waits for it). A
 * runner that stalled past its ttl and lost the lease therefore cannot commit anything.
 */
export async function fenceLease(ex: Executor, name: string, token: string): Promise<void> {
  const r = await ex.query(
    `select 1 from braid.lease where name = $1 and token = $2 and expires_at > clock_timestamp() for update`,
    [name, token],
  );
  if (r.rows.length === 0) {
    throw new EnvironmentError(
      'lease-lost',
      `the migration lease on ${ex.label} expired or was taken over by another runner: this migration was rolled back (raise --lease-ttl)`,
    );
  }
}

/** Runs fn holding the lease; always released. Throws lease-lost if a heartbeat lost it. */
export async function withLease<T>(
  ex: Executor,
  opts: LeaseOptions,
  fn: (lease: HeldLease) => Promise<T>,
): Promise<T> {
  const lease = await acquireLease(ex, opts);
  let out: T;
  try {
    out = await fn(lease);
  } finally {
    await lease.stop();
    if (!lease.lost) await releaseLease(ex, lease.name, lease.token).catch(() => undefined);
  }
  if (lease.lost) {
    throw new EnvironmentError(
      'lease-lost',
      `the migration lease on ${ex.label} expired and was taken by another runner while this one worked (raise --lease-ttl)`,
    );
  }
  return out;
}

export interface PoolerCheck {
  pooled: boolean;
  reason: string;
}

/**
 * Detects a transaction-mode pooler: two statements outside a transaction that land on
 * different server backends (pg_backend_pid differs). A session-mode pooler or a direct
 * connection keeps one backend. Cheap (two round trips); false negatives are possible when
 * the pooler happens to reuse the same backend.
 */
export async function detectPooler(ex: Executor): Promise<PoolerCheck> {
  if (ex.engine === 'pglite') return { pooled: false, reason: 'embedded database' };
  const pid = async (): Promise<number | undefined> =>
    (await ex.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
  const a = await pid();
  const b = await pid();
  if (a !== b) {
    return {
      pooled: true,
      reason: `two statements ran on different server backends (pid ${a} then ${b}): a pooler in transaction mode; advisory locks do not hold there, use --lock lease`,
    };
  }
  return { pooled: false, reason: `one server backend (pid ${a}): advisory locks work` };
}
