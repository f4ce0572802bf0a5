/**
 * The watcher and the circuit breaker (docs/online.md). While braid's statement runs, a second
 * session samples the server every pollMs: the sessions waiting (directly or in a lock queue)
 * behind braid's backend, how long, braid's own lock wait, each replica's lag, the progress of a
 * CREATE INDEX, and (where pg_stat_statements is loaded) the latency of the top queries against a
 * baseline. A sample that breaches a threshold makes the watcher cancel braid's own statement —
 * `pg_cancel_backend` of braid's backend pid, checked against its backend_start, never anything
 * else — and the guard then waits with backoff and retries, up to `retries` times.
 * PGlite has one connection: there is no watcher there (OnlineGuard.open returns undefined).
 */
import { performance } from 'node:perf_hooks';
import {
  addSample,
  backoffFor,
  breachOf,
  breakerArmed,
  emptySummary,
  formatMs,
  LagTracker,
  latencyRatio,
  mergeSummaries,
  patienceMs,
  snapshotDelta,
  throttleOf,
  topQueries,
  type BlockedSession,
  type Breach,
  type OnlineSettings,
  type ReplicaReading,
  type StatementCounters,
  type StatementSnapshot,
  type WatchSample,
  type WatchSummary,
} from '@braid/core';
import type { Executor } from './executor';
import { PgExecutor } from './executors';
import type { Provenance } from './registry';
import { pgErrorInfo } from './pgerror';

/** What is being watched: a migration (transactional: one unit), or one statement of it. */
export interface WatchUnit {
  id: string;
  direction: 'up' | 'down';
  /** 0-based statement index (no-transaction migrations); undefined: the whole migration. */
  statementIndex?: number;
  /** For progress lines: "20261207_add_x" or "20261207_add_x statement 2/3". */
  label: string;
}

export interface Trip {
  unit: WatchUnit;
  /** 1-based attempt that was cancelled. */
  attempt: number;
  breach: Breach;
  /** Wait before the next attempt (ms); undefined for the last trip. */
  waitMs?: number;
  at: string;
}

export interface OnlineEvents {
  /** Every sample while a statement runs (the live progress line). */
  onSample?: (unit: WatchUnit, s: WatchSample) => void;
  onTrip?: (t: Trip) => void;
  /** Between batches or before a retry: braid waits for the server to recover. */
  onThrottle?: (unit: WatchUnit, b: Breach) => void;
  /** Once per run: what the watcher cannot see (no pg_stat_statements, …). */
  onNote?: (message: string) => void;
}

export interface OnlineOptions extends OnlineSettings {
  events?: OnlineEvents;
}

/** The breaker tripped more often than its retries allow. The migration failed (exit 1). */
export class BreakerExhausted extends Error {
  constructor(
    message: string,
    readonly trips: Trip[],
  ) {
    super(message);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The watcher's one query per sample. $1: braid's backend pid. */
function sampleSql(serverVersionNum: number): string {
  const waitStart =
    serverVersionNum >= 140000
      ? `coalesce((select min(l.waitstart) from pg_locks l where l.pid = a.pid and not l.granted), a.query_start)`
      : 'a.query_start';
  return `select
  (select coalesce(json_agg(json_build_array(a.pid, coalesce(a.application_name, ''),
            extract(epoch from clock_timestamp() - ${waitStart}) * 1000, pg_blocking_pids(a.pid), left(coalesce(a.query, ''), 300))), '[]')
     from pg_stat_activity a where a.wait_event_type = 'Lock' and a.pid <> pg_backend_pid()) as waiting,
  (select coalesce(json_agg(json_build_array(a.pid, coalesce(a.application_name, ''), left(coalesce(a.query, ''), 300))), '[]')
     from pg_stat_activity a where a.pid = any(pg_blocking_pids($1))) as blockers,
  (select coalesce(json_agg(json_build_array(coalesce(nullif(r.application_name, ''), host(r.client_addr), r.pid::text),
            extract(epoch from r.replay_lag) * 1000,
            case when pg_is_in_recovery() then null else pg_wal_lsn_diff(pg_current_wal_lsn(), coalesce(r.replay_lsn, r.flush_lsn)) end,
            pg_wal_lsn_diff(coalesce(r.replay_lsn, r.flush_lsn), '0/0'))), '[]')
     from pg_stat_replication r) as replicas,
  (select json_build_array(p.phase, p.tuples_done, p.tuples_total, p.blocks_done, p.blocks_total)
     from pg_stat_progress_create_index p where p.pid = $1) as cic`;
}

type Json = unknown;
const text = (v: Json): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const arr = (v: Json): Json[][] => (typeof v === 'string' ? JSON.parse(v) : (v ?? [])) as Json[][];

/** The sessions waiting behind `root`, transitively (a queue behind a queue counts). */
function blockedBehind(root: number, waiting: Json[][]): { blocked: BlockedSession[]; ownWaitMs: number } {
  const rows = waiting.map((w) => ({
    pid: Number(w[0]),
    applicationName: text(w[1]),
    waitMs: Math.max(0, Number(w[2] ?? 0)),
    by: (Array.isArray(w[3]) ? w[3] : []).map(Number),
    query: text(w[4]),
  }));
  const own = rows.find((r) => r.pid === root);
  const set = new Set<number>([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of rows) {
      if (!set.has(r.pid) && r.by.some((p) => set.has(p))) {
        set.add(r.pid);
        grew = true;
      }
    }
  }
  return {
    blocked: rows
      .filter((r) => r.pid !== root && set.has(r.pid))
      .map(({ pid, applicationName, waitMs, query }) => ({ pid, applicationName, waitMs, query })),
    ownWaitMs: own ? own.waitMs : 0,
  };
}

/** The second session. Only OnlineGuard uses it. */
class Watcher {
  private armedAt = 0;
  private armed = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private summary: WatchSummary = emptySummary();
  private tripped: Breach | undefined;
  private unit: WatchUnit | undefined;
  private readonly lag = new LagTracker();
  private last: WatchSample | undefined;
  /** pg_stat_statements: the baseline means and the top queries' snapshots since arm. */
  private baseline: StatementSnapshot | undefined;
  private top: string[] = [];
  private latencySnaps: Array<{ at: number; snap: StatementSnapshot }> = [];
  private lastLatencyAt = 0;
  /** Extra progress a caller knows (batches). */
  progress: WatchSample['progress'];

  constructor(
    readonly ex: PgExecutor,
    private readonly mainPid: number,
    private readonly mainStart: string,
    private readonly o: OnlineOptions,
    private readonly sql: string,
  ) {}

  /** Reads pg_stat_statements for this database (the top queries only, once chosen). */
  private async statements(only?: string[]): Promise<Map<string, StatementCounters>> {
    const col = this.ex.serverVersionNum >= 130000 ? 'total_exec_time' : 'total_time';
    const r = await this.ex.query<{ q: string; calls: string | number; ms: number }>(
      `select queryid::text as q, calls, ${col} as ms from pg_stat_statements
        where dbid = (select oid from pg_database where datname = current_database())
          and queryid is not null and query not like '%braid.%'${only ? ' and queryid = any($1::bigint[])' : ''}`,
      only ? [only] : [],
    );
    return new Map(r.rows.map((x) => [x.q, { calls: Number(x.calls), totalMs: Number(x.ms) }]));
  }

  /** Sets up the latency baseline; returns a note when pg_stat_statements cannot be read. */
  async startLatency(): Promise<string | undefined> {
    let first: Map<string, StatementCounters>;
    try {
      first = await this.statements();
    } catch (e) {
      const why = pgErrorInfo(e)?.message ?? String(e);
      return /does not exist/.test(why)
        ? 'latency not watched: pg_stat_statements is not installed in this database'
        : `latency not watched: pg_stat_statements cannot be read (${why})`;
    }
    let base: StatementSnapshot = first;
    if (this.o.latencyBaselineMs > 0 && this.o.thresholds.maxLatencyRatio !== undefined) {
      this.o.events?.onNote?.(
        `measuring the latency of the top queries for ${formatMs(this.o.latencyBaselineMs)} before migrating (latencyBaseline)`,
      );
      await sleep(this.o.latencyBaselineMs);
      base = snapshotDelta(first, await this.statements());
    }
    this.baseline = base;
    this.top = topQueries(base);
    if (this.top.length === 0)
      return 'latency not watched: pg_stat_statements has no queries for this database yet';
    return undefined;
  }

  arm(unit: WatchUnit): void {
    this.unit = unit;
    this.armed = true;
    this.armedAt = performance.now();
    this.summary = emptySummary();
    this.tripped = undefined;
    this.latencySnaps = [];
    this.progress = undefined;
    this.schedule(Math.min(this.o.pollMs, 100));
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.armed) return;
      this.inFlight = this.poll().finally(() => {
        this.inFlight = undefined;
        if (this.armed) this.schedule(this.o.pollMs);
      });
    }, ms);
  }

  /** Stops sampling; waits for a sample or cancel in flight (so a cancel never lands on braid's next statement). */
  async disarm(): Promise<{ summary: WatchSummary; tripped?: Breach; elapsedMs: number }> {
    this.armed = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    const out = { summary: this.summary, elapsedMs: performance.now() - this.armedAt };
    return this.tripped ? { ...out, tripped: this.tripped } : out;
  }

  /** Whether the breaker cancelled braid's current statement. */
  get cancelled(): boolean {
    return this.tripped !== undefined;
  }

  async sample(): Promise<WatchSample> {
    const r = await this.ex.query<{ waiting: Json; blockers: Json; replicas: Json; cic: Json }>(this.sql, [
      this.mainPid,
    ]);
    const row = r.rows[0] ?? { waiting: [], blockers: [], replicas: [], cic: null };
    const { blocked, ownWaitMs } = blockedBehind(this.mainPid, arr(row.waiting));
    const readings: ReplicaReading[] = arr(row.replicas).map((x) => ({
      name: String(x[0]),
      replayLagMs: x[1] === null ? null : Number(x[1]),
      behindBytes: x[2] === null ? null : Number(x[2]),
      replayLsn: x[3] === null ? null : Number(x[3]),
    }));
    const s: WatchSample = {
      elapsedMs: this.armed ? performance.now() - this.armedAt : 0,
      blocked,
      ownLockWaitMs: ownWaitMs,
      blockers: arr(row.blockers).map((b) => ({
        pid: Number(b[0]),
        applicationName: text(b[1]),
        query: text(b[2]),
      })),
      replicas: this.lag.update(performance.now(), readings),
    };
    const cic = (typeof row.cic === 'string' ? JSON.parse(row.cic) : row.cic) as Json[] | null;
    if (cic) {
      const tuples = Number(cic[2] ?? 0) > 0;
      s.progress = {
        done: Number(tuples ? cic[1] : cic[3]),
        total: Number(tuples ? cic[2] : cic[4]) || null,
        unit: tuples ? 'tuples' : 'blocks',
        phase: text(cic[0]),
      };
    } else if (this.progress) s.progress = this.progress;
    const ratio = await this.latency();
    if (ratio !== undefined) s.latencyRatio = ratio;
    this.last = s;
    return s;
  }

  /** The latency ratio over the last ~5 s since arm (sampled at most once a second). */
  private async latency(): Promise<number | undefined> {
    if (!this.baseline || this.top.length === 0) return undefined;
    const now = performance.now();
    if (now - this.lastLatencyAt < 1000 && this.latencySnaps.length > 0) return this.lastRatio;
    this.lastLatencyAt = now;
    const snap = await this.statements(this.top);
    this.latencySnaps.push({ at: now, snap });
    while (this.latencySnaps.length > 2 && now - this.latencySnaps[1].at >= 5000) this.latencySnaps.shift();
    const from = this.latencySnaps[0];
    this.lastRatio =
      from === this.latencySnaps[this.latencySnaps.length - 1]
        ? undefined
        : latencyRatio(this.baseline, snapshotDelta(from.snap, snap));
    return this.lastRatio;
  }
  private lastRatio: number | undefined;

  private async poll(): Promise<void> {
    let s: WatchSample;
    try {
      s = await this.sample();
    } catch {
      return; // the watcher is diagnostics; the migration goes on without this sample
    }
    if (!this.armed) return;
    this.summary = addSample(this.summary, s);
    if (this.unit) this.o.events?.onSample?.(this.unit, s);
    if (this.tripped || !breakerArmed(this.o.thresholds)) return;
    const b = breachOf(s, this.o.thresholds);
    if (!b) return;
    this.tripped = b;
    await this.cancelOwn();
  }

  /**
   * Cancels braid's own statement, and nothing else: the pid is the one braid's session reported
   * for itself, and the backend must still have the start time it had then.
   */
  private async cancelOwn(): Promise<void> {
    try {
      await this.ex.query(
        `select pg_cancel_backend(pid) from pg_stat_activity where pid = $1 and backend_start = $2::timestamptz`,
        [this.mainPid, this.mainStart],
      );
    } catch {
      // the statement goes on; the next sample tries again
      this.tripped = undefined;
    }
  }

  lastSample(): WatchSample | undefined {
    return this.last;
  }

  async close(): Promise<void> {
    this.armed = false;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
    await this.ex.close();
  }
}

/**
 * The watcher and breaker around each unit of work of the apply engine. One per run (per target).
 */
export class OnlineGuard {
  readonly trips: Trip[] = [];
  private constructor(
    private readonly w: Watcher,
    private readonly o: OnlineOptions,
    private readonly provenance: Provenance,
    private readonly record: boolean,
  ) {}

  /**
   * Opens the watcher's session next to `ex` (whose backend is `mainPid`). Undefined when there
   * can be none (PGlite, watch off) or it cannot be opened (the migration runs unwatched; onNote says so).
   */
  static async open(
    ex: Executor,
    mainPid: number | undefined,
    o: OnlineOptions,
    provenance: Provenance,
    opts: { record: boolean },
  ): Promise<OnlineGuard | undefined> {
    if (!o.watch) return undefined;
    if (!(ex instanceof PgExecutor) || mainPid === undefined) {
      // said only when thresholds were asked for: plain `braid up` on PGlite prints what it always did
      if (breakerArmed(o.thresholds))
        o.events?.onNote?.(
          'not watched: the embedded database (PGlite) has a single connection, so no second session can watch the migration',
        );
      return undefined;
    }
    let side: PgExecutor;
    try {
      side = await ex.sibling('braid (watcher)');
    } catch (e) {
      o.events?.onNote?.(
        `not watched: cannot open the watcher's session (${e instanceof Error ? e.message : String(e)})`,
      );
      if (breakerArmed(o.thresholds)) throw e;
      return undefined;
    }
    try {
      const r = await side.query<{ s: string | null }>(
        'select backend_start::text as s from pg_stat_activity where pid = $1',
        [mainPid],
      );
      const start = r.rows[0]?.s;
      if (!start) throw new Error(`braid's backend ${mainPid} is not visible in pg_stat_activity`);
      const w = new Watcher(side, mainPid, start, o, sampleSql(ex.serverVersionNum));
      const note = await w.startLatency();
      if (note && o.thresholds.maxLatencyRatio !== undefined) o.events?.onNote?.(note);
      return new OnlineGuard(w, o, provenance, opts.record);
    } catch (e) {
      await side.close();
      throw e;
    }
  }

  /** Whether the breaker cancelled the statement that is running now (the engine skips locating the error). */
  get cancelled(): boolean {
    return this.w.cancelled;
  }

  /** Progress the caller knows (batches), shown with the next samples. */
  setProgress(p: WatchSample['progress']): void {
    this.w.progress = p;
  }

  /** The blockers of braid's statement in the last sample (for a lock timeout's message). */
  lastBlockers(): WatchSample['blockers'] {
    return this.w.lastSample()?.blockers ?? [];
  }

  /**
   * Runs one unit's attempts: `attempt(n)` (n = 0, 1, …) with the watcher armed. A cancel by the
   * breaker is retried after backoff (and once the server is healthy again); other errors are
   * rethrown as they are. `quiet`: the caller records the unit's successful attempts itself
   * (batches: one `ok` row per statement, all its batches); a tripped or failed attempt still gets
   * its own row, with the statement's progress so far (`rows`, `batches`), so that a breaker trip
   * inside a batch is in braid.watch like any other.
   */
  async run<T>(
    unit: WatchUnit,
    attempt: (n: number) => Promise<T>,
    opts: {
      quiet?: boolean;
      onSummary?: (s: WatchSummary) => void;
      rows?: () => number | undefined;
      batches?: () => number | undefined;
    } = {},
  ): Promise<T> {
    const mine: Trip[] = [];
    for (let n = 0; ; n++) {
      this.w.arm(unit);
      let result: T | undefined;
      let error: unknown;
      let failed = false;
      try {
        result = await attempt(n);
      } catch (e) {
        error = e;
        failed = true;
      }
      const { summary, tripped, elapsedMs } = await this.w.disarm();
      opts.onSummary?.(summary);
      const cancel = failed && tripped !== undefined && pgErrorInfo(error)?.code === '57014';
      const outcome = !failed ? 'ok' : cancel ? 'tripped' : 'failed';
      if ((!opts.quiet || outcome !== 'ok') && (summary.samples > 0 || tripped))
        await this.recordUnit(unit, n + 1, outcome, summary, elapsedMs, {
          ...(tripped ? { breach: tripped.message } : {}),
          rows: opts.rows?.(),
          ...(opts.batches ? { batches: opts.batches() } : {}),
        });
      if (!failed) return result as T;
      if (!cancel) throw error;
      const trip: Trip = { unit, attempt: n + 1, breach: tripped, at: new Date().toISOString() };
      mine.push(trip);
      this.trips.push(trip);
      if (n >= this.o.retries) {
        this.o.events?.onTrip?.(trip);
        throw new BreakerExhausted(
          `circuit breaker tripped ${mine.length} time(s) (${this.o.retries} retries): ${tripped.message}`,
          mine,
        );
      }
      trip.waitMs = backoffFor(this.o, n + 1);
      this.o.events?.onTrip?.(trip);
      await sleep(trip.waitMs);
      await this.waitHealthy(unit, opts);
    }
  }

  /**
   * Waits while replica lag or latency breach their thresholds (braid runs nothing meanwhile), at
   * most patienceMs; then throws BreakerExhausted. A wait (at least one breaching sample) is one
   * braid.watch row, outcome `throttled`: its duration, the breach that started it, what the
   * watcher saw meanwhile and the statement's progress so far (`progress`: batches).
   */
  async waitHealthy(
    unit: WatchUnit,
    progress: { rows?: () => number | undefined; batches?: () => number | undefined } = {},
  ): Promise<void> {
    if (!breakerArmed(this.o.thresholds)) return;
    const t0 = performance.now();
    const deadline = t0 + patienceMs(this.o);
    let first: Breach | undefined;
    let seen = emptySummary();
    const record = () =>
      first
        ? this.recordUnit(unit, 1, 'throttled', seen, performance.now() - t0, {
            breach: first.message,
            rows: progress.rows?.(),
            ...(progress.batches ? { batches: progress.batches() } : {}),
          })
        : Promise.resolve();
    for (;;) {
      let b: Breach | undefined;
      try {
        const sample = await this.w.sample();
        b = throttleOf(sample, this.o.thresholds);
        if (b || first) seen = addSample(seen, sample);
      } catch {
        await record();
        return;
      }
      if (!b) {
        await record();
        return;
      }
      if (!first) {
        first = b;
        this.o.events?.onThrottle?.(unit, b);
      }
      if (performance.now() > deadline) {
        await record();
        throw new BreakerExhausted(
          `the server did not recover within ${formatMs(patienceMs(this.o))} (backoff × (2^retries − 1)): ${b.message}`,
          [...this.trips],
        );
      }
      await sleep(Math.max(this.o.pollMs, 250));
    }
  }

  /** One braid.watch row (on the watcher's session: it stays when the migration rolls back). */
  async recordUnit(
    unit: WatchUnit,
    attempt: number,
    outcome: 'ok' | 'tripped' | 'failed' | 'throttled',
    s: WatchSummary,
    elapsedMs: number,
    extra: { breach?: string; rows?: number | undefined; batches?: number } = {},
  ): Promise<void> {
    if (!this.record) return;
    const p = this.provenance;
    try {
      await this.w.ex.query(
        `insert into braid.watch (id, direction, statement_index, attempt, outcome, elapsed_ms, rows, batches,
            max_blocked, longest_block_ms, own_lock_wait_ms, max_replica_lag_ms, max_latency_ratio, breach,
            git_commit, braid_version, environment, rollout_id, target)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
        [
          unit.id,
          unit.direction,
          unit.statementIndex ?? null,
          attempt,
          outcome,
          Math.round(elapsedMs),
          extra.rows ?? null,
          extra.batches ?? null,
          s.maxBlocked,
          Math.round(s.longestBlockMs),
          Math.round(s.ownLockWaitMs),
          s.maxReplicaLagMs === null ? null : Math.round(s.maxReplicaLagMs),
          s.maxLatencyRatio,
          extra.breach ?? null,
          p.gitCommit ?? null,
          p.braidVersion,
          p.environment ?? null,
          p.rolloutId ?? null,
          p.target ?? null,
        ],
      );
    } catch {
      // a registry without braid.watch (it is created before any migration runs) or a lost
      // session: the record is diagnostics, the migration's outcome stands
    }
  }

  async close(): Promise<void> {
    await this.w.close();
  }
}

export { mergeSummaries };
