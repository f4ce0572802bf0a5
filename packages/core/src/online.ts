/**
 * Online migrations, the pure part (docs/online.md): the watcher's and circuit breaker's settings
 * (braid.json `online`, per environment, and the command-line flags), what one sample of the
 * watcher holds, whether a sample breaches a threshold, the replica-lag estimate across samples,
 * the latency ratio from pg_stat_statements snapshots, and the running summary of a statement.
 * No I/O: packages/pg's watch.ts takes the samples and cancels braid's own statement.
 */
import { UsageError } from './errors';

/** Thresholds of the circuit breaker; an absent one is not checked. */
export interface BreakerThresholds {
  /** Trip when more sessions than this wait (directly or in a queue) behind braid's backend. */
  maxBlockedSessions?: number;
  /** Trip when a session has waited behind braid's backend longer than this (ms). */
  maxBlockedMs?: number;
  /** Trip when a replica's replay lag exceeds this (ms). */
  maxReplicaLagMs?: number;
  /** Trip when the top queries run this many times slower than before the migration (> 1). */
  maxLatencyRatio?: number;
}

export interface OnlineSettings {
  /** Watch (a second session) at all; default true. False: braid up as before this feature. */
  watch: boolean;
  thresholds: BreakerThresholds;
  /** Retries after a trip (default 3), each after a doubling backoff. */
  retries: number;
  /** First wait after a trip (ms, default 5 000), doubled after each further trip. */
  backoffMs: number;
  /**
   * pg_stat_statements baseline window before the first migration (ms). 0 (default): the
   * cumulative means since the statistics were last reset. Only waited for when maxLatencyRatio
   * is set.
   */
  latencyBaselineMs: number;
  /** How often the watcher samples (ms, default 250). */
  pollMs: number;
}

export const DEFAULT_ONLINE: OnlineSettings = {
  watch: true,
  thresholds: {},
  retries: 3,
  backoffMs: 5_000,
  latencyBaselineMs: 0,
  pollMs: 250,
};

export function defaultOnline(): OnlineSettings {
  return { ...DEFAULT_ONLINE, thresholds: {} };
}

/** Whether any threshold is set (the breaker is armed). */
export function breakerArmed(t: BreakerThresholds): boolean {
  return (
    t.maxBlockedSessions !== undefined ||
    t.maxBlockedMs !== undefined ||
    t.maxReplicaLagMs !== undefined ||
    t.maxLatencyRatio !== undefined
  );
}

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/;

/** "5s", "500ms", "2m", "5" (seconds) → ms; undefined when it is not a duration. */
export function durationMs(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000);
}

/** "1.2 s", "850 ms", "2 min 5 s": a duration for people. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const min = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s ? `${min} min ${s} s` : `${min} min`;
}

/** The keys of braid.json's `online` object (top level and per environment). */
export const ONLINE_KEYS = ['watch', 'breaker', 'retries', 'backoff', 'latencyBaseline'] as const;
export const BREAKER_KEYS = [
  'maxBlockedSessions',
  'maxBlockedFor',
  'maxReplicaLag',
  'maxLatencyRatio',
] as const;

/** A partial settings object (what one layer — braid.json or the flags — says). */
export type OnlineLayer = Partial<Omit<OnlineSettings, 'thresholds'>> & { thresholds?: BreakerThresholds };

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Validates one value of a threshold or setting; `say(message)` throws the caller's error (so the
 * same rules name a braid.json key path or a flag). Values come as JSON values (braid.json) or
 * strings (flags).
 */
const check = {
  count(v: unknown, say: (m: string) => never, max: number, json: boolean): number {
    const n = !json && typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max)
      say(`expected a whole number from 0 to ${max}, got ${jsonType(v)}`);
    return n;
  },
  duration(v: unknown, say: (m: string) => never, opts: { min: number; max: number }): number {
    if (typeof v !== 'string')
      say(`expected a duration such as "1s", "500ms" or "2m" (a string), got ${jsonType(v)}`);
    const ms = durationMs(v);
    if (ms === undefined) say(`expected a duration such as "1s", "500ms" or "2m", got ${JSON.stringify(v)}`);
    if (ms < opts.min) say(`must be at least ${formatMs(opts.min)}, got ${JSON.stringify(v)}`);
    if (ms > opts.max) say(`must be at most ${formatMs(opts.max)}, got ${JSON.stringify(v)}`);
    return ms;
  },
  ratio(v: unknown, say: (m: string) => never, json: boolean): number {
    const n = !json && typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n))
      say(`expected a number greater than 1 (e.g. 2: twice as slow), got ${jsonType(v)}`);
    if (n <= 1) say(`expected a number greater than 1 (e.g. 2: twice as slow), got ${n}`);
    if (n > 1000) say(`expected a number from 1 to 1000, got ${n}`);
    return n;
  },
};

const HOUR = 3_600_000;

/** Parses one threshold given as a flag or braid.json value; `name` is its braid.json key. */
function threshold(
  name: (typeof BREAKER_KEYS)[number],
  v: unknown,
  say: (m: string) => never,
  into: BreakerThresholds,
  json: boolean,
): void {
  switch (name) {
    case 'maxBlockedSessions':
      into.maxBlockedSessions = check.count(v, say, 100_000, json);
      break;
    case 'maxBlockedFor':
      into.maxBlockedMs = check.duration(v, say, { min: 1, max: HOUR });
      break;
    case 'maxReplicaLag':
      into.maxReplicaLagMs = check.duration(v, say, { min: 1, max: 24 * HOUR });
      break;
    case 'maxLatencyRatio':
      into.maxLatencyRatio = check.ratio(v, say, json);
      break;
  }
}

function setting(
  name: Exclude<(typeof ONLINE_KEYS)[number], 'breaker'>,
  v: unknown,
  say: (m: string) => never,
  into: OnlineLayer,
  json: boolean,
): void {
  switch (name) {
    case 'watch':
      if (typeof v !== 'boolean') say(`expected true or false, got ${jsonType(v)}`);
      into.watch = v;
      break;
    case 'retries':
      into.retries = check.count(v, say, 100, json);
      break;
    case 'backoff':
      into.backoffMs = check.duration(v, say, { min: 0, max: HOUR });
      break;
    case 'latencyBaseline':
      into.latencyBaselineMs = check.duration(v, say, { min: 0, max: 10 * 60_000 });
      break;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses braid.json's `online` object (at `keyPath`: `online` or `environments.prod.online`).
 * Every error is a UsageError naming the file and the key path (exit 2).
 */
export function parseOnlineConfig(v: unknown, file: string, keyPath: string): OnlineLayer {
  const fail = (kp: string, m: string): never => {
    throw new UsageError('invalid-config', `${file}: ${kp}: ${m}`, { data: { file, key: kp } });
  };
  if (!isObject(v)) fail(keyPath, `expected an object, got ${jsonType(v)}`);
  const o = v as Record<string, unknown>;
  const out: OnlineLayer = {};
  for (const [k, val] of Object.entries(o)) {
    const kp = `${keyPath}.${k}`;
    if (!(ONLINE_KEYS as readonly string[]).includes(k))
      fail(kp, `unknown key (allowed in ${keyPath}: ${ONLINE_KEYS.join(', ')})`);
    if (k === 'breaker') {
      if (!isObject(val)) fail(kp, `expected an object, got ${jsonType(val)}`);
      const t: BreakerThresholds = {};
      for (const [bk, bv] of Object.entries(val as Record<string, unknown>)) {
        const bkp = `${kp}.${bk}`;
        if (!(BREAKER_KEYS as readonly string[]).includes(bk))
          fail(bkp, `unknown key (allowed in ${kp}: ${BREAKER_KEYS.join(', ')})`);
        threshold(bk as (typeof BREAKER_KEYS)[number], bv, (m) => fail(bkp, m), t, true);
      }
      out.thresholds = t;
    } else {
      setting(k as Exclude<(typeof ONLINE_KEYS)[number], 'breaker'>, val, (m) => fail(kp, m), out, true);
    }
  }
  return out;
}

/** The command-line flags of the watcher and breaker, as yargs gives them (strings). */
export interface OnlineFlags {
  watch?: boolean | undefined;
  'max-blocked-sessions'?: string | undefined;
  'max-blocked-for'?: string | undefined;
  'max-replica-lag'?: string | undefined;
  'max-latency-ratio'?: string | undefined;
  'breaker-retries'?: string | undefined;
  'breaker-backoff'?: string | undefined;
  'latency-baseline'?: string | undefined;
}

/** Parses the flags into a layer; a bad value is a UsageError naming the flag (exit 2). */
export function parseOnlineFlags(f: OnlineFlags): OnlineLayer {
  const out: OnlineLayer = {};
  const t: BreakerThresholds = {};
  const say =
    (flag: string) =>
    (m: string): never => {
      throw new UsageError('bad-option', `--${flag}: ${m}`, { data: { argument: `--${flag}` } });
    };
  const pairs: Array<[keyof OnlineFlags, (typeof BREAKER_KEYS)[number]]> = [
    ['max-blocked-sessions', 'maxBlockedSessions'],
    ['max-blocked-for', 'maxBlockedFor'],
    ['max-replica-lag', 'maxReplicaLag'],
    ['max-latency-ratio', 'maxLatencyRatio'],
  ];
  for (const [flag, key] of pairs) {
    const v = f[flag];
    if (v !== undefined) threshold(key, v, say(flag), t, false);
  }
  if (Object.keys(t).length > 0) out.thresholds = t;
  if (f.watch !== undefined) out.watch = f.watch;
  if (f['breaker-retries'] !== undefined)
    setting('retries', f['breaker-retries'], say('breaker-retries'), out, false);
  if (f['breaker-backoff'] !== undefined)
    setting('backoff', f['breaker-backoff'], say('breaker-backoff'), out, false);
  if (f['latency-baseline'] !== undefined)
    setting('latencyBaseline', f['latency-baseline'], say('latency-baseline'), out, false);
  return out;
}

/** Layers merged in order (defaults, braid.json top level, the environment, the flags): later wins per key. */
export function resolveOnline(...layers: Array<OnlineLayer | undefined>): OnlineSettings {
  const s = defaultOnline();
  for (const l of layers) {
    if (!l) continue;
    const { thresholds, ...rest } = l;
    Object.assign(s, rest);
    if (thresholds) s.thresholds = { ...s.thresholds, ...thresholds };
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Samples and breaches

/** A session waiting (directly or in a lock queue) behind braid's backend. */
export interface BlockedSession {
  pid: number;
  applicationName: string;
  /** How long it has waited for its lock (ms). */
  waitMs: number;
  query: string;
}

export interface ReplicaReading {
  /** application_name (or client address) of the standby. */
  name: string;
  /** pg_stat_replication.replay_lag (ms), null when the server reports none. */
  replayLagMs: number | null;
  /** Bytes of WAL the standby has not replayed yet (null: unknown). */
  behindBytes: number | null;
  /** replay_lsn as a number (bytes), to see whether replay advances between samples. */
  replayLsn: number | null;
}

export interface ReplicaLag {
  name: string;
  lagMs: number;
  behindBytes: number | null;
}

/** One look of the watcher at the server while braid's statement runs. */
export interface WatchSample {
  /** ms since the statement (attempt) started. */
  elapsedMs: number;
  blocked: BlockedSession[];
  /** How long braid's own statement has waited for a lock (0 when not waiting). */
  ownLockWaitMs: number;
  /** Sessions braid's statement waits for (when it waits). */
  blockers: Array<{ pid: number; applicationName: string; query: string }>;
  replicas: ReplicaLag[];
  /** Call-weighted latency ratio of the top queries against the baseline; undefined: unknown. */
  latencyRatio?: number;
  /** Progress of braid's own statement, when the server reports it (CREATE INDEX) or braid knows it (batches). */
  progress?: { done: number; total: number | null; unit: string; phase?: string };
}

export type BreachKind = 'blocked-sessions' | 'blocked-for' | 'replica-lag' | 'latency';

export interface Breach {
  kind: BreachKind;
  value: number;
  limit: number;
  /** One line: what was seen against which threshold. */
  message: string;
}

/** The first threshold a sample breaches, in a fixed order (availability first), or undefined. */
export function breachOf(s: WatchSample, t: BreakerThresholds): Breach | undefined {
  if (t.maxBlockedSessions !== undefined && s.blocked.length > t.maxBlockedSessions) {
    return {
      kind: 'blocked-sessions',
      value: s.blocked.length,
      limit: t.maxBlockedSessions,
      message: `${s.blocked.length} session(s) blocked behind braid (maxBlockedSessions ${t.maxBlockedSessions})`,
    };
  }
  const longest = longestBlock(s);
  if (t.maxBlockedMs !== undefined && longest && longest.waitMs > t.maxBlockedMs) {
    return {
      kind: 'blocked-for',
      value: longest.waitMs,
      limit: t.maxBlockedMs,
      message: `pid ${longest.pid}${longest.applicationName ? ` (${longest.applicationName})` : ''} blocked behind braid for ${formatMs(longest.waitMs)} (maxBlockedFor ${formatMs(t.maxBlockedMs)})`,
    };
  }
  const lag = maxLag(s.replicas);
  if (t.maxReplicaLagMs !== undefined && lag && lag.lagMs > t.maxReplicaLagMs) {
    return {
      kind: 'replica-lag',
      value: lag.lagMs,
      limit: t.maxReplicaLagMs,
      message: `replica ${lag.name} lags ${formatMs(lag.lagMs)} behind (maxReplicaLag ${formatMs(t.maxReplicaLagMs)})`,
    };
  }
  if (t.maxLatencyRatio !== undefined && s.latencyRatio !== undefined && s.latencyRatio > t.maxLatencyRatio) {
    return {
      kind: 'latency',
      value: s.latencyRatio,
      limit: t.maxLatencyRatio,
      message: `the top queries run ${s.latencyRatio.toFixed(1)}× slower than before the migration (maxLatencyRatio ${t.maxLatencyRatio})`,
    };
  }
  return undefined;
}

/**
 * Whether the server is healthy enough to start (or go on with) work: the breaches that do not
 * depend on braid running (replica lag, latency). Used between batches (throttling) and before a
 * retry.
 */
export function throttleOf(s: WatchSample, t: BreakerThresholds): Breach | undefined {
  return breachOf({ ...s, blocked: [] }, t);
}

export function longestBlock(s: WatchSample): BlockedSession | undefined {
  let best: BlockedSession | undefined;
  for (const b of s.blocked) if (!best || b.waitMs > best.waitMs) best = b;
  return best;
}

function maxLag(r: readonly ReplicaLag[]): ReplicaLag | undefined {
  let best: ReplicaLag | undefined;
  for (const x of r) if (!best || x.lagMs > best.lagMs) best = x;
  return best;
}

/**
 * Replica lag across samples. pg_stat_replication's replay_lag is only updated when a standby's
 * replay position moves: a standby whose replay stalled keeps showing its last (small) lag. So,
 * per standby, braid remembers since when its replay position has not moved while it is behind,
 * and the lag it reports is the larger of replay_lag and that time.
 */
export class LagTracker {
  private readonly stuck = new Map<string, { lsn: number | null; since: number }>();

  /** `now`: ms (any monotonic clock). */
  update(now: number, readings: readonly ReplicaReading[]): ReplicaLag[] {
    const seen = new Set<string>();
    const out: ReplicaLag[] = [];
    for (const r of readings) {
      seen.add(r.name);
      const behind = r.behindBytes !== null && r.behindBytes > 0;
      let stalledMs = 0;
      const prev = this.stuck.get(r.name);
      if (behind) {
        if (prev && prev.lsn === r.replayLsn) stalledMs = now - prev.since;
        else this.stuck.set(r.name, { lsn: r.replayLsn, since: now });
      } else {
        this.stuck.delete(r.name);
      }
      out.push({
        name: r.name,
        lagMs: Math.max(r.replayLagMs ?? 0, stalledMs),
        behindBytes: r.behindBytes,
      });
    }
    for (const k of [...this.stuck.keys()]) if (!seen.has(k)) this.stuck.delete(k);
    return out;
  }
}

/** pg_stat_statements counters of one query (cumulative). */
export interface StatementCounters {
  calls: number;
  totalMs: number;
}

export type StatementSnapshot = ReadonlyMap<string, StatementCounters>;

/** What `b` adds to `a` per query (queries whose counters went down — a reset — are left out). */
export function snapshotDelta(a: StatementSnapshot, b: StatementSnapshot): Map<string, StatementCounters> {
  const out = new Map<string, StatementCounters>();
  for (const [q, cb] of b) {
    const ca = a.get(q) ?? { calls: 0, totalMs: 0 };
    const calls = cb.calls - ca.calls;
    const totalMs = cb.totalMs - ca.totalMs;
    if (calls > 0 && totalMs >= 0) out.set(q, { calls, totalMs });
  }
  return out;
}

/** The `n` queries with the most total time in a baseline (the queries the ratio follows). */
export function topQueries(baseline: StatementSnapshot, n = 20): string[] {
  return [...baseline.entries()]
    .filter(([, c]) => c.calls > 0 && c.totalMs > 0)
    .sort((x, y) => y[1].totalMs - x[1].totalMs)
    .slice(0, n)
    .map(([q]) => q);
}

/**
 * The call-weighted latency ratio: the time the top queries took during a window, over the time
 * the same calls would have taken at their baseline means. 2 = twice as slow. Undefined when
 * fewer than `minCalls` calls of those queries completed in the window (too little to judge).
 */
export function latencyRatio(
  baseline: StatementSnapshot,
  during: StatementSnapshot,
  minCalls = 20,
): number | undefined {
  let calls = 0;
  let actual = 0;
  let expected = 0;
  for (const [q, d] of during) {
    const b = baseline.get(q);
    if (!b || b.calls <= 0 || b.totalMs <= 0) continue;
    calls += d.calls;
    actual += d.totalMs;
    expected += d.calls * (b.totalMs / b.calls);
  }
  if (calls < minCalls || expected <= 0) return undefined;
  return actual / expected;
}

/** What the watcher saw over one statement (attempt): what braid.watch records. */
export interface WatchSummary {
  samples: number;
  maxBlocked: number;
  longestBlockMs: number;
  ownLockWaitMs: number;
  maxReplicaLagMs: number | null;
  maxLatencyRatio: number | null;
}

export function emptySummary(): WatchSummary {
  return {
    samples: 0,
    maxBlocked: 0,
    longestBlockMs: 0,
    ownLockWaitMs: 0,
    maxReplicaLagMs: null,
    maxLatencyRatio: null,
  };
}

/** Folds one sample into a summary (a new object). */
export function addSample(sum: WatchSummary, s: WatchSample): WatchSummary {
  const lag = maxLag(s.replicas)?.lagMs;
  return {
    samples: sum.samples + 1,
    maxBlocked: Math.max(sum.maxBlocked, s.blocked.length),
    longestBlockMs: Math.max(sum.longestBlockMs, longestBlock(s)?.waitMs ?? 0),
    ownLockWaitMs: Math.max(sum.ownLockWaitMs, s.ownLockWaitMs),
    maxReplicaLagMs: lag === undefined ? sum.maxReplicaLagMs : Math.max(sum.maxReplicaLagMs ?? 0, lag),
    maxLatencyRatio:
      s.latencyRatio === undefined ? sum.maxLatencyRatio : Math.max(sum.maxLatencyRatio ?? 0, s.latencyRatio),
  };
}

/** Merges two summaries (several attempts or batches of one statement). */
export function mergeSummaries(a: WatchSummary, b: WatchSummary): WatchSummary {
  const maxN = (x: number | null, y: number | null): number | null =>
    x === null ? y : y === null ? x : Math.max(x, y);
  return {
    samples: a.samples + b.samples,
    maxBlocked: Math.max(a.maxBlocked, b.maxBlocked),
    longestBlockMs: Math.max(a.longestBlockMs, b.longestBlockMs),
    ownLockWaitMs: Math.max(a.ownLockWaitMs, b.ownLockWaitMs),
    maxReplicaLagMs: maxN(a.maxReplicaLagMs, b.maxReplicaLagMs),
    maxLatencyRatio: maxN(a.maxLatencyRatio, b.maxLatencyRatio),
  };
}

/** The wait before retry `n` (1-based) after a trip: backoff × 2^(n-1). */
export function backoffFor(settings: Pick<OnlineSettings, 'backoffMs'>, n: number): number {
  return settings.backoffMs * 2 ** Math.max(0, n - 1);
}

/** How long braid may wait in total for the server to recover (throttling): the sum of its backoffs. */
export function patienceMs(settings: Pick<OnlineSettings, 'backoffMs' | 'retries'>): number {
  return Math.max(settings.backoffMs, settings.backoffMs * (2 ** settings.retries - 1));
}

/** "12.5k", "1.2M": a count for a progress line. */
export function formatCount(n: number): string {
  if (n < 10_000) return String(Math.round(n));
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(n < 10_000_000 ? 2 : 1)}M`;
}

/** The live line for a statement: elapsed, rows, blocked sessions, lag (and latency, when known). */
export function progressLine(label: string, s: WatchSample): string {
  const parts = [`${label}`, formatMs(s.elapsedMs)];
  if (s.progress) {
    const { done, total, unit } = s.progress;
    parts.push(
      total
        ? `${formatCount(done)}/${formatCount(total)} ${unit} (${Math.min(100, Math.floor((100 * done) / total))}%)`
        : `${formatCount(done)} ${unit}`,
    );
    if (s.progress.phase) parts.push(s.progress.phase);
  }
  const lb = longestBlock(s);
  parts.push(`blocked ${s.blocked.length}${lb ? ` (longest ${formatMs(lb.waitMs)})` : ''}`);
  if (s.ownLockWaitMs > 0) parts.push(`waiting for a lock ${formatMs(s.ownLockWaitMs)}`);
  const lag = maxLag(s.replicas);
  if (lag) parts.push(`lag ${formatMs(lag.lagMs)}`);
  if (s.latencyRatio !== undefined) parts.push(`latency ×${s.latencyRatio.toFixed(2)}`);
  return parts.join(' · ');
}

// ---------------------------------------------------------------------------------------------
// Batch pacing (-- braid:batch without size= or delay=)

/** How a batched statement sizes its batches and pauses between them. */
export interface PacingSettings {
  /** Fixed keys per batch (`size=N`); undefined: adaptive, starting at `startSize`. */
  fixedSize?: number;
  startSize: number;
  /** Adaptive: the duration each batch aims at (ms). */
  targetMs: number;
  minSize: number;
  maxSize: number;
  /** Fixed pause between batches (`delay=D`); undefined: paced (a share of the last batch's time). */
  fixedDelayMs?: number;
  /** Paced pause = this × the last batch's duration (the backfill's duty cycle is 1 / (1 + pauseFactor)). */
  pauseFactor: number;
  /** Paced pause never exceeds this (ms). */
  maxPauseMs: number;
}

/** What one batch took and what the watcher saw during it. */
export interface BatchObservation {
  ms: number;
  /** Keys the batch covered (its size). */
  keys: number;
  /** The watcher's summary of the batch (samples may be 0 for a short batch). */
  watch?: WatchSummary;
}

/**
 * Batch pacing, pure: the size of the next batch and the pause before it. Adaptive sizing is a
 * proportional controller on the batch's duration: next = size × target ÷ duration, at most
 * doubled or halved at a time (one slow batch — a checkpoint, a lock wait — does not collapse the
 * size), within [minSize, maxSize]. A batch during which the watcher saw sessions waiting behind
 * braid, or the top queries slower than 1.5× their baseline, halves the next size and doubles the
 * pause: the application is telling braid it hurts.
 */
export class BatchPacer {
  private size: number;
  private pause = 0;
  constructor(readonly settings: PacingSettings) {
    this.size = settings.fixedSize ?? clampInt(settings.startSize, settings.minSize, settings.maxSize);
  }

  get adaptive(): boolean {
    return this.settings.fixedSize === undefined;
  }

  /** Keys for the next batch. */
  nextSize(): number {
    return this.size;
  }

  /** Folds in a finished batch; returns the pause before the next one (ms). */
  observe(o: BatchObservation): number {
    const st = this.settings;
    const hurt = (o.watch?.maxBlocked ?? 0) > 0 || (o.watch?.maxLatencyRatio ?? 0) > PACING_LATENCY_RATIO;
    if (this.adaptive) {
      const ms = Math.max(1, o.ms);
      let next = (o.keys * st.targetMs) / ms;
      next = Math.min(next, o.keys * 2, this.size * 2);
      next = Math.max(next, this.size / 2);
      if (hurt) next = Math.min(next, this.size / 2);
      this.size = clampInt(next, st.minSize, st.maxSize);
    }
    if (st.fixedDelayMs !== undefined) return st.fixedDelayMs;
    const paced = Math.min(st.maxPauseMs, o.ms * st.pauseFactor);
    this.pause = hurt ? Math.min(st.maxPauseMs, Math.max(paced, this.pause) * 2 || st.targetMs) : paced;
    return Math.round(this.pause);
  }
}

/** Above this latency ratio (when pg_stat_statements tells it) a batch counts as hurting. */
export const PACING_LATENCY_RATIO = 1.5;

function clampInt(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.round(n)));
}

/** The pacing of a `-- braid:batch` directive (its size=, delay= and target=, else the defaults). */
export function pacingOf(d: {
  size: number;
  adaptive: boolean;
  targetMs: number;
  delayMs: number;
  pacedDelay: boolean;
}): PacingSettings {
  return {
    ...(d.adaptive ? {} : { fixedSize: d.size }),
    startSize: d.size,
    targetMs: d.targetMs,
    minSize: 10,
    maxSize: 100_000,
    ...(d.pacedDelay ? {} : { fixedDelayMs: d.delayMs }),
    pauseFactor: PACING_PAUSE_FACTOR,
    maxPauseMs: 1000,
  };
}

/**
 * Paced pause = this × the last batch's duration: the backfill runs a quarter of the time
 * (scripts/bench/online.mjs: 1, 2, 3 and 4 measured; docs/online.md).
 */
export const PACING_PAUSE_FACTOR = 3;
