/**
 * Fleet rollout coordinated through a control database (docs/rollout.md, "Fleets past one
 * machine"): the pure decisions. Workers on any machine claim targets from the control tables,
 * hold a lease kept alive by a heartbeat, and release it when the target settles. Everything a
 * worker decides — may this target be claimed, is this lease alive, what does the heartbeat's
 * answer mean, which wave runs, is the rollout finished — is decided here, from values the SQL
 * edge read; the SQL only mirrors these predicates (claim, heartbeat) so that the database
 * arbitrates races. Also: tenant-schema target references, the per-tenant registry schema name,
 * the per-server concurrency key, and the replica catch-up decision.
 */
import { UsageError, EnvironmentError } from './errors';
import { sha256 } from './hash';

const sha256Hex = (s: string): string => sha256(s).slice('sha256:'.length);

// ---------------------------------------------------------------------------------------------
// The control schema's version

/** The control schema version this braid writes and reads. */
export const CONTROL_SCHEMA_VERSION = 1;

/**
 * Checks the version row of a control schema: missing (undefined) means "create it"; older is
 * upgraded by the edge; newer is refused (exit 3): a newer braid owns that control database.
 */
export function checkControlVersion(
  found: number | undefined,
  known: number = CONTROL_SCHEMA_VERSION,
  where = 'the control database',
): 'create' | 'current' | 'upgrade' {
  if (found === undefined) return 'create';
  if (!Number.isInteger(found) || found < 1)
    throw new EnvironmentError(
      'control-schema-invalid',
      `${where}: braid_control.meta holds schema version ${String(found)}, not a braid control schema`,
    );
  if (found > known)
    throw new EnvironmentError(
      'control-schema-newer',
      `${where}: the braid_control schema is version ${found}, written by a newer braid (this braid knows version ${known}): upgrade braid on this machine`,
      { data: { found, known } },
    );
  return found === known ? 'current' : 'upgrade';
}

// ---------------------------------------------------------------------------------------------
// Targets, leases, claims

export type FleetTargetStatus = 'pending' | 'running' | 'done' | 'failed' | 'paused';

export interface FleetTargetRow {
  name: string;
  wave: number;
  status: FleetTargetStatus;
  /** Milliseconds since the epoch (the control database's clock), when status is running. */
  leaseExpiresAt?: number;
  attempts: number;
}

/** A running target's lease is alive until its expiry (by the control database's clock). */
export function leaseAlive(t: Pick<FleetTargetRow, 'status' | 'leaseExpiresAt'>, now: number): boolean {
  return t.status === 'running' && t.leaseExpiresAt !== undefined && t.leaseExpiresAt > now;
}

/**
 * A target a worker may claim: pending, paused (stopped between migrations), or running with an
 * expired lease (its worker died or lost the control database: the target is taken over and
 * resumed from its own registry). Never done or failed (retry makes a failed target pending).
 */
export function claimable(t: Pick<FleetTargetRow, 'status' | 'leaseExpiresAt'>, now: number): boolean {
  if (t.status === 'pending' || t.status === 'paused') return true;
  return t.status === 'running' && !leaseAlive(t, now);
}

/** The SQL mirror of `claimable` (alias `t`, `now()` = clock_timestamp()). Kept next to it. */
export const CLAIMABLE_SQL = `(t.status in ('pending', 'paused') or (t.status = 'running' and (t.lease_expires_at is null or t.lease_expires_at <= clock_timestamp())))`;

const ALLOWED: Record<FleetTargetStatus, readonly FleetTargetStatus[]> = {
  pending: ['running'],
  // running → running: a takeover after the lease expired
  running: ['running', 'done', 'failed', 'paused'],
  paused: ['running'],
  // retry puts a failed target back in the queue
  failed: ['pending'],
  done: [],
};

export function canFleetTransition(from: FleetTargetStatus, to: FleetTargetStatus): boolean {
  return ALLOWED[from].includes(to);
}

/** The per-server concurrency limit: may one more target of this server start? */
export function serverHasRoom(liveOnServer: number, limit: number | undefined): boolean {
  return limit === undefined || liveOnServer < limit;
}

/**
 * Picks the next target to claim (the SQL claim does the same with FOR UPDATE SKIP LOCKED):
 * the first claimable target of the wave, in rollout order, whose server has room. Returns
 * undefined when none.
 */
export function pickClaim<T extends FleetTargetRow & { server: string }>(
  targets: readonly T[],
  wave: number,
  now: number,
  serverLimit?: number,
): T | undefined {
  const live = new Map<string, number>();
  for (const t of targets) if (leaseAlive(t, now)) live.set(t.server, (live.get(t.server) ?? 0) + 1);
  return targets.find(
    (t) => t.wave === wave && claimable(t, now) && serverHasRoom(live.get(t.server) ?? 0, serverLimit),
  );
}

// ---------------------------------------------------------------------------------------------
// What a worker does next

export interface FleetWaveCounts {
  wave: number;
  total: number;
  pending: number;
  /** running with a live lease */
  running: number;
  /** running with an expired lease: claimable */
  expired: number;
  paused: number;
  done: number;
  failed: number;
}

export interface FleetRolloutFlags {
  paused: boolean;
  continueOnError: boolean;
}

export type WorkerDecision =
  | { kind: 'claim'; wave: number }
  /** the current wave has no claimable target but live leases: wait for them (a heartbeat) */
  | { kind: 'wait'; wave: number }
  | { kind: 'paused' }
  | { kind: 'done' }
  | { kind: 'blocked'; wave: number };

/**
 * The worker's next step, from the counts per wave: the first wave not finished is current; a
 * wave with a failed target blocks the next ones (unless continueOnError), and while it stops
 * the rollout no new target starts in it either. Paused: nothing is claimed.
 */
export function workerDecision(waves: readonly FleetWaveCounts[], flags: FleetRolloutFlags): WorkerDecision {
  if (!flags.continueOnError) {
    const bad = waves.find((w) => w.failed > 0);
    if (bad) {
      // targets still running finish their migration and stop; the rollout is blocked
      return { kind: 'blocked', wave: bad.wave };
    }
  }
  for (const w of waves) {
    const open = w.pending + w.paused + w.expired;
    if (open === 0 && w.running === 0) continue; // finished
    if (flags.paused) return { kind: 'paused' };
    if (open > 0) return { kind: 'claim', wave: w.wave };
    return { kind: 'wait', wave: w.wave };
  }
  return { kind: 'done' };
}

export type FleetStatus = 'running' | 'paused' | 'failed' | 'done';

/** The rollout's status as status shows it. */
export function fleetStatus(waves: readonly FleetWaveCounts[], flags: FleetRolloutFlags): FleetStatus {
  const d = workerDecision(waves, flags);
  if (d.kind === 'blocked') return 'failed';
  if (d.kind === 'done') return waves.some((w) => w.failed > 0) ? 'failed' : 'done';
  if (d.kind === 'paused') return 'paused';
  return 'running';
}

/** What the heartbeat's answer (the renewed row, or none) tells the worker holding a target. */
export type HeartbeatVerdict = 'continue' | 'lost' | 'stop-paused' | 'stop-blocked';

export function heartbeatVerdict(
  renewed: { paused: boolean; blocked: boolean } | undefined,
): HeartbeatVerdict {
  if (renewed === undefined) return 'lost'; // the token is no longer ours: another worker took it
  if (renewed.paused) return 'stop-paused';
  if (renewed.blocked) return 'stop-blocked';
  return 'continue';
}

/** Heartbeat period for a lease: three beats per ttl, so one missed beat never loses it. */
export function heartbeatEvery(ttlMs: number): number {
  return Math.max(50, Math.floor(ttlMs / 3));
}

/** How a settled attempt leaves the target (the worker's view → the row's status). */
export function settleStatus(outcome: 'done' | 'failed' | 'stopped'): FleetTargetStatus {
  return outcome === 'stopped' ? 'paused' : outcome;
}

// ---------------------------------------------------------------------------------------------
// Tenant schemas

const SCHEMA_NAME = /^[a-z_][a-z0-9_$]{0,62}$/;

/**
 * Splits `postgres://…/db#tenant_1` into the database URL and the tenant schema. A tenant is
 * a plain lowercase identifier (what `create schema tenant_1` makes); anything else is refused
 * (exit 2) naming the argument, never echoing the URL.
 */
export function splitTenant(url: string, where = '--db'): { url: string; schema?: string } {
  const i = url.indexOf('#');
  if (i < 0) return { url };
  const schema = decodeURIComponent(url.slice(i + 1));
  if (!SCHEMA_NAME.test(schema))
    throw new UsageError(
      'bad-tenant-schema',
      `${where}: the tenant schema after '#' must be a lowercase identifier ([a-z_][a-z0-9_$]*, at most 63 bytes), got ${JSON.stringify(schema.slice(0, 70))}`,
    );
  if (schema === 'braid' || schema.startsWith('pg_') || schema === 'information_schema')
    throw new UsageError('bad-tenant-schema', `${where}: ${schema} cannot be a tenant schema (reserved)`);
  return { url: url.slice(0, i), schema };
}

/**
 * Where braid keeps the registry of a tenant schema: a sibling schema `braid_<tenant>` (so that
 * the tenant's own schema holds only the application's objects, and dropping a tenant is two
 * `drop schema`s). Names that would not fit in 63 bytes are shortened with a hash.
 */
export function tenantRegistrySchema(tenant: string): string {
  const full = `braid_${tenant}`;
  if (full.length <= 63) return full;
  return `braid_${tenant.slice(0, 44)}_${sha256Hex(tenant).slice(0, 12)}`;
}

/** The advisory lock's second key of a tenant (the database-wide key is 0x64000001). */
export function tenantLockKey(tenant: string): number {
  // a positive int4 different from the database-wide key, stable across versions
  const h = parseInt(sha256Hex(`braid-tenant:${tenant}`).slice(0, 8), 16) & 0x7fffffff;
  return h === 0x64000001 ? h ^ 1 : h;
}

/**
 * The server a target lives on, for the per-server concurrency limit: host and port of its URL
 * (no user, no password, no database). `pglite:` targets are each their own server.
 */
export function serverKeyOf(url: string): string {
  if (url.startsWith('pglite:')) return url.split('#')[0];
  try {
    const u = new URL(url.split('#')[0]);
    const host = u.hostname || 'localhost';
    return `${host}:${u.port || '5432'}`;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// Replicas

/** Parses an LSN `16/B374D848` into a bigint. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export interface ReplicaPosition {
  /** application_name or client address from pg_stat_replication */
  name: string;
  /** replay_lsn (null while a replica is still catching up from scratch) */
  replayLsn: string | null;
}

export interface ReplicaCatchUp {
  name: string;
  /** bytes of WAL the replica still has to replay to reach braid's commit (0 when caught up) */
  lagBytes: number | null;
  caughtUp: boolean;
}

/** Each replica's distance to braid's commit LSN. */
export function replicaLags(replicas: readonly ReplicaPosition[], commitLsn: string): ReplicaCatchUp[] {
  const target = parseLsn(commitLsn);
  return replicas.map((r) => {
    if (r.replayLsn === null) return { name: r.name, lagBytes: null, caughtUp: false };
    const at = parseLsn(r.replayLsn);
    const lag = at >= target ? 0n : target - at;
    return { name: r.name, lagBytes: Number(lag), caughtUp: at >= target };
  });
}

export type ReplicaWait =
  | { kind: 'ok'; replicas: ReplicaCatchUp[] }
  | { kind: 'wait'; replicas: ReplicaCatchUp[]; retryInMs: number }
  | { kind: 'timeout'; replicas: ReplicaCatchUp[]; message: string };

/**
 * Whether the next wave may start: every replica has replayed braid's commit (none listed:
 * nothing to wait for), else wait and poll again, else after timeoutMs a failure naming the
 * replicas behind and by how much.
 */
export function replicaWaitDecision(
  replicas: readonly ReplicaPosition[],
  commitLsn: string,
  waitedMs: number,
  timeoutMs: number,
  pollMs = 200,
): ReplicaWait {
  const lags = replicaLags(replicas, commitLsn);
  if (lags.every((l) => l.caughtUp)) return { kind: 'ok', replicas: lags };
  if (waitedMs >= timeoutMs) {
    const behind = lags
      .filter((l) => !l.caughtUp)
      .map(
        (l) => `${l.name} ${l.lagBytes === null ? 'not replaying yet' : `${formatBytes(l.lagBytes)} behind`}`,
      );
    return {
      kind: 'timeout',
      replicas: lags,
      message: `replicas had not replayed braid's commit ${commitLsn} after ${Math.round(timeoutMs / 1000)} s (--replica-timeout): ${behind.join(', ')}`,
    };
  }
  return { kind: 'wait', replicas: lags, retryInMs: Math.min(pollMs, Math.max(1, timeoutMs - waitedMs)) };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
