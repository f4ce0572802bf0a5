/**
 * The model behind `braid history` (pure): what each target database's registry and audit log
 * say was applied, attempted, failed and rolled back, aggregated into a timeline, per-day success
 * rates and per-migration durations. The CLI reads the rows (read-only) and renders the model
 * with @braid/report; nothing here does I/O.
 */
import { UsageError } from './errors';
import { idSlug, isValidId } from './ids';
import { redact } from './redact';

/**
 * A password- and user-free description of a database: `host:port/db` for a server URL,
 * `pglite:PATH` / `pglite:memory` for PGlite. Never a connection string.
 */
export function databaseLabel(url: string): string {
  if (url.startsWith('pglite:')) return url;
  try {
    const u = new URL(url);
    const host = u.searchParams.get('host') ?? u.hostname;
    const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
    return `${host}${u.port ? `:${u.port}` : ''}/${db}`;
  } catch {
    return redact(url).replace(/^[a-z]+:\/\/[^@/]*@/i, '');
  }
}

/**
 * Replaces every connection string in a message (a driver's error names the URL it tried) by its
 * databaseLabel(), so that history output never holds a connection string, not even a redacted one.
 */
export function withoutUrls(text: string): string {
  return redact(text).replace(/\b(?:postgres(?:ql)?|pglite):\/\/\S*?(?=:?\s|:?$|[)"',])/gi, (u) =>
    databaseLabel(u),
  );
}

/** A successful up or down (`braid.history`). Optional fields are absent in older registries. */
export interface HistoryRow {
  seq: number;
  id: string;
  checksum: string;
  direction: 'up' | 'down';
  /** ISO timestamp (UTC). */
  at: string;
  durationMs: number;
  dbRole?: string;
  gitAuthorName?: string;
  gitAuthorEmail?: string;
  gitCommit?: string;
  braidVersion?: string;
  gitBranch?: string;
  manifestHash?: string;
  environment?: string;
  rolloutId?: string;
  target?: string;
}

/** An attempt (`braid.audit`). */
export interface AuditRow {
  seq: number;
  at: string;
  id?: string;
  direction: string;
  outcome: string;
  checksum?: string;
  durationMs?: number;
  statement?: string;
  error?: string;
  sqlstate?: string;
  dbRole?: string;
  gitAuthorName?: string;
  gitAuthorEmail?: string;
  gitCommit?: string;
  braidVersion?: string;
  gitBranch?: string;
  manifestHash?: string;
  environment?: string;
  rolloutId?: string;
  target?: string;
  reason?: string;
}

/** What the watcher saw over one statement attempt (`braid.watch`, registry v4; docs/online.md). */
export interface WatchRow {
  seq: number;
  at: string;
  id: string;
  direction: string;
  /** 1-based statement; null for a transactional migration (one unit). */
  statement: number | null;
  attempt: number;
  outcome: string;
  elapsedMs: number;
  rows: number | null;
  batches: number | null;
  maxBlocked: number;
  longestBlockMs: number;
  ownLockWaitMs: number;
  maxReplicaLagMs: number | null;
  maxLatencyRatio: number | null;
  breach: string | null;
  environment?: string;
  rolloutId?: string;
}

export interface WatchEvent extends WatchRow {
  targetName: string;
}

/** What the CLI read from one target. */
export interface TargetRead {
  /** The target's name (`--targets`), or the database label (`--db`). */
  name: string;
  /** databaseLabel() of its URL. */
  database: string;
  engine?: 'postgres' | 'pglite';
  reachable: boolean;
  /** Why it could not be read (redacted). */
  error?: string;
  /** Registry migrations present (0: no braid registry; 3: the current one). */
  registryVersion: number;
  /** Migrations applied now (braid.applied), in apply order. */
  applied: string[];
  history: HistoryRow[];
  audit: AuditRow[];
  /** braid.watch rows (absent before registry v4). */
  watch?: WatchRow[];
}

/** `-- braid:ticket` / `-- braid:reason` and flags of a migration found in the working tree. */
export interface MigrationMeta {
  id: string;
  title: string;
  tickets: string[];
  reason?: string;
  irreversible?: boolean;
  noTransaction?: boolean;
}

export interface AppliedEvent extends HistoryRow {
  targetName: string;
}

export interface FailureEvent {
  targetName: string;
  seq: number;
  at: string;
  id?: string;
  direction: string;
  /** `failed` (the migration) or `health-failed` (a health check after it). */
  outcome: string;
  durationMs?: number;
  error?: string;
  sqlstate?: string;
  statement?: string;
  reason?: string;
  dbRole?: string;
  gitAuthorName?: string;
  gitCommit?: string;
  environment?: string;
  rolloutId?: string;
}

export interface RollbackEvent {
  targetName: string;
  at: string;
  /** The migration reverted (absent for a rollout's summary row that names none). */
  id?: string;
  /** `braid down` (a down in braid.history), or `rollback-on-failure` (an audit row `rolled-back`). */
  kind: 'down' | 'rollback-on-failure';
  reason?: string;
  rolloutId?: string;
  dbRole?: string;
  gitAuthorName?: string;
  durationMs?: number;
}

export interface DayStat {
  /** YYYY-MM-DD (UTC). */
  day: string;
  /** Migration runs (audit outcomes ok and failed, up and down). */
  attempts: number;
  ok: number;
  failed: number;
  healthFailed: number;
  rolledBack: number;
  /** ok / attempts, or null on a day without attempts. */
  successRate: number | null;
}

export interface DurationStat {
  id: string;
  /** Latest successful up per target (ms). */
  perTarget: Array<{ target: string; ms: number }>;
  min: number;
  median: number;
  max: number;
}

/** A target as read, without its rows, and what they add up to. */
export interface TargetSummary extends Omit<TargetRead, 'history' | 'audit'> {
  ups: number;
  downs: number;
  failed: number;
  rolledBack: number;
  lastAt?: string;
}

export interface HistoryModel {
  version: 1;
  title: string;
  generator: string;
  filters: { since?: string; limit?: number };
  targets: TargetSummary[];
  /** Successful ups and downs, newest first. */
  applied: AppliedEvent[];
  failures: FailureEvent[];
  rollbacks: RollbackEvent[];
  /** What the watcher saw per statement (newest first): blocked sessions, lag, breaker trips. */
  watch: WatchEvent[];
  days: DayStat[];
  durations: DurationStat[];
  /** Metadata of the migrations named anywhere above that exist in the working tree. */
  migrations: Record<string, MigrationMeta>;
  /** `failed`: migration runs that failed; `healthFailed`: failed health checks (not attempts). */
  totals: {
    attempts: number;
    ok: number;
    failed: number;
    healthFailed: number;
    rolledBack: number;
    successRate: number | null;
  };
}

/** "add_phone_to_users" → "Add phone to users". */
export function titleFromId(id: string): string {
  const slug = isValidId(id) ? idSlug(id) : id;
  const words = slug.replace(/_+/g, ' ').trim();
  return words ? words[0].toUpperCase() + words.slice(1) : id;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : Math.round((s[mid - 1] + s[mid]) / 2);
}

function day(at: string): string {
  return at.slice(0, 10);
}

const newestFirst = <T extends { at: string; seq?: number }>(a: T, b: T): number =>
  a.at < b.at ? 1 : a.at > b.at ? -1 : (b.seq ?? 0) - (a.seq ?? 0);

export interface HistoryInput {
  targets: TargetRead[];
  migrations?: ReadonlyMap<string, MigrationMeta>;
  /** Manifest order of the working tree (orders the duration chart); else by first apply. */
  order?: readonly string[];
  generator: string;
  title?: string;
  since?: string;
  limit?: number;
}

/** Builds the history model from what was read on every target. Texts are redacted again here. */
export function buildHistoryModel(input: HistoryInput): HistoryModel {
  const applied: AppliedEvent[] = [];
  const failures: FailureEvent[] = [];
  const rollbacks: RollbackEvent[] = [];
  const days = new Map<string, DayStat>();
  const dayOf = (at: string): DayStat => {
    const d = day(at);
    let s = days.get(d);
    if (!s) {
      s = { day: d, attempts: 0, ok: 0, failed: 0, healthFailed: 0, rolledBack: 0, successRate: null };
      days.set(d, s);
    }
    return s;
  };
  const r = (s: string | undefined): string | undefined => (s === undefined ? undefined : withoutUrls(s));
  const durations = new Map<string, Map<string, { at: string; ms: number }>>();
  const firstSeen = new Map<string, string>();
  const targets: TargetSummary[] = [];
  const watch: WatchEvent[] = [];

  for (const t of input.targets) {
    for (const w of t.watch ?? [])
      watch.push({ ...w, targetName: t.name, ...(w.breach ? { breach: withoutUrls(w.breach) } : {}) });
    let failed = 0;
    let rolledBack = 0;
    for (const h of t.history) {
      applied.push({ ...h, targetName: t.name });
      if (h.direction === 'up') {
        let per = durations.get(h.id);
        if (!per) durations.set(h.id, (per = new Map<string, { at: string; ms: number }>()));
        const prev = per.get(t.name);
        if (!prev || prev.at <= h.at) per.set(t.name, { at: h.at, ms: h.durationMs });
        const f = firstSeen.get(h.id);
        if (f === undefined || h.at < f) firstSeen.set(h.id, h.at);
      }
    }
    // Rollbacks: every down in the history; a rollout's `rolled-back` audit rows give the reason.
    const reasons = t.audit.filter((a) => a.outcome === 'rolled-back');
    const usedReason = new Set<AuditRow>();
    for (const h of t.history) {
      if (h.direction !== 'down') continue;
      const match =
        reasons.find((a) => a.id === h.id && a.rolloutId !== undefined && a.rolloutId === h.rolloutId) ??
        reasons.find((a) => a.id === undefined && a.rolloutId !== undefined && a.rolloutId === h.rolloutId);
      if (match) usedReason.add(match);
      rollbacks.push({
        targetName: t.name,
        at: h.at,
        id: h.id,
        kind: match ? 'rollback-on-failure' : 'down',
        ...(match?.reason ? { reason: redact(match.reason) } : {}),
        ...(h.rolloutId ? { rolloutId: h.rolloutId } : {}),
        ...(h.dbRole ? { dbRole: h.dbRole } : {}),
        ...(h.gitAuthorName ? { gitAuthorName: h.gitAuthorName } : {}),
        durationMs: h.durationMs,
      });
      rolledBack++;
      dayOf(h.at).rolledBack++;
    }
    for (const a of reasons) {
      if (usedReason.has(a)) continue;
      // A rollback recorded only in the audit (a registry whose downs were not kept, or a summary row).
      if (a.id !== undefined && t.history.some((h) => h.direction === 'down' && h.id === a.id)) continue;
      rollbacks.push({
        targetName: t.name,
        at: a.at,
        ...(a.id ? { id: a.id } : {}),
        kind: 'rollback-on-failure',
        ...(a.reason ? { reason: redact(a.reason) } : {}),
        ...(a.rolloutId ? { rolloutId: a.rolloutId } : {}),
        ...(a.dbRole ? { dbRole: a.dbRole } : {}),
        ...(a.gitAuthorName ? { gitAuthorName: a.gitAuthorName } : {}),
      });
      rolledBack++;
      dayOf(a.at).rolledBack++;
    }
    for (const a of t.audit) {
      if (a.outcome === 'ok' || a.outcome === 'failed') {
        const s = dayOf(a.at);
        s.attempts++;
        if (a.outcome === 'ok') s.ok++;
        else s.failed++;
      }
      if (a.outcome === 'failed' || a.outcome === 'health-failed') {
        if (a.outcome === 'health-failed') dayOf(a.at).healthFailed++;
        failed++;
        failures.push({
          targetName: t.name,
          seq: a.seq,
          at: a.at,
          ...(a.id ? { id: a.id } : {}),
          direction: a.direction,
          outcome: a.outcome,
          ...(a.durationMs !== undefined ? { durationMs: a.durationMs } : {}),
          ...(a.error !== undefined ? { error: r(a.error) } : {}),
          ...(a.sqlstate !== undefined ? { sqlstate: a.sqlstate } : {}),
          ...(a.statement !== undefined ? { statement: r(a.statement) } : {}),
          ...(a.reason !== undefined ? { reason: r(a.reason) } : {}),
          ...(a.dbRole ? { dbRole: a.dbRole } : {}),
          ...(a.gitAuthorName ? { gitAuthorName: a.gitAuthorName } : {}),
          ...(a.gitCommit ? { gitCommit: a.gitCommit } : {}),
          ...(a.environment ? { environment: a.environment } : {}),
          ...(a.rolloutId ? { rolloutId: a.rolloutId } : {}),
        });
      }
    }
    const times = [...t.history.map((h) => h.at), ...t.audit.map((a) => a.at)].sort();
    targets.push({
      name: t.name,
      database: t.database,
      ...(t.engine ? { engine: t.engine } : {}),
      reachable: t.reachable,
      ...(t.error !== undefined ? { error: withoutUrls(t.error) } : {}),
      registryVersion: t.registryVersion,
      applied: [...t.applied],
      ups: t.history.filter((h) => h.direction === 'up').length,
      downs: t.history.filter((h) => h.direction === 'down').length,
      failed,
      rolledBack,
      ...(times.length ? { lastAt: times[times.length - 1] } : {}),
    });
  }

  const dayList = [...days.values()].sort((a, b) => (a.day < b.day ? -1 : 1));
  for (const d of dayList) d.successRate = d.attempts ? d.ok / d.attempts : null;

  const pos = new Map((input.order ?? []).map((id, i) => [id, i] as const));
  const durationList: DurationStat[] = [...durations.entries()]
    .map(([id, per]) => {
      const perTarget = [...per.entries()].map(([target, v]) => ({ target, ms: v.ms }));
      const ms = perTarget.map((p) => p.ms);
      return { id, perTarget, min: Math.min(...ms), median: median(ms), max: Math.max(...ms) };
    })
    .sort((a, b) => {
      const pa = pos.get(a.id);
      const pb = pos.get(b.id);
      if (pa !== undefined && pb !== undefined) return pa - pb;
      if (pa !== undefined) return -1;
      if (pb !== undefined) return 1;
      const fa = firstSeen.get(a.id) ?? '';
      const fb = firstSeen.get(b.id) ?? '';
      return fa < fb ? -1 : fa > fb ? 1 : a.id < b.id ? -1 : 1;
    });

  const named = new Set<string>([
    ...applied.map((a) => a.id),
    ...failures.flatMap((f) => (f.id ? [f.id] : [])),
    ...rollbacks.flatMap((x) => (x.id ? [x.id] : [])),
  ]);
  const migrations: Record<string, MigrationMeta> = {};
  for (const id of [...named].sort()) {
    const m = input.migrations?.get(id);
    if (m) migrations[id] = m;
  }
  const attempts = dayList.reduce((n, d) => n + d.attempts, 0);
  const ok = dayList.reduce((n, d) => n + d.ok, 0);
  return {
    version: 1,
    title: input.title ?? 'braid history',
    generator: input.generator,
    filters: {
      ...(input.since !== undefined ? { since: input.since } : {}),
      ...(input.limit !== undefined ? { limit: input.limit } : {}),
    },
    targets,
    applied: applied.sort(newestFirst),
    failures: failures.sort(newestFirst),
    rollbacks: rollbacks.sort(newestFirst),
    watch: watch.sort(newestFirst),
    days: dayList,
    durations: durationList,
    migrations,
    totals: {
      attempts,
      ok,
      failed: failures.filter((f) => f.outcome === 'failed').length,
      healthFailed: failures.filter((f) => f.outcome === 'health-failed').length,
      rolledBack: rollbacks.length,
      successRate: attempts ? ok / attempts : null,
    },
  };
}

/** `--since`: YYYY-MM-DD or an ISO timestamp; returns the ISO form used in queries. */
export function parseSince(value: string): string {
  const v = value.trim();
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(v);
  const ok = dateOnly || /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(v);
  const iso = dateOnly ? `${v}T00:00:00Z` : v.replace(' ', 'T');
  // No zone means UTC (as every time braid prints), never the machine's local time.
  const d = ok ? new Date(/(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`) : undefined;
  if (!d || Number.isNaN(d.getTime())) {
    throw new UsageError(
      'bad-since',
      `--since: expected a date (YYYY-MM-DD) or an ISO timestamp, got ${JSON.stringify(value)}`,
      { data: { argument: '--since' } },
    );
  }
  return d.toISOString();
}
