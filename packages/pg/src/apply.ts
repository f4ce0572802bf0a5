/**
 * The apply engine: plan, then apply. A plan (serialisable: status, --dry-run and --json print
 * it) lists pending migrations in manifest order, or the rollback list newest first; applyUp /
 * applyDown execute it holding braid's advisory lock, each migration in its own transaction with
 * its history and audit rows (verify.sql inside it). `-- braid:no-transaction` migrations run
 * statement by statement with progress rows and resume after a crash.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  BraidError,
  EnvironmentError,
  FindingsError,
  UsageError,
  redact,
  tenantRegistrySchema,
  type BatchDirective,
} from '@braid/core';
import { splitStatements } from '@braid/sql';
import type { Executor } from './executor';
import { withAdvisoryLock, type LockHolder } from './lock';
import { ensureRegistryForLease, fenceLease, leaseTableExists, withLease } from './lease';
import { PgExecutor } from './executors';
import {
  ensureRegistry,
  readApplied,
  readAppliedAndProgress,
  readProgress,
  readRegistryState,
  recordAudit,
  recordHistory,
  historySql,
  type AppliedRow,
  type ProgressRow,
  type Provenance,
} from './registry';
import { codePointPositionToIndex, errorSnippet, locate, pgErrorInfo, type PgErrorInfo } from './pgerror';
import { quoteIdent } from './quote';
import { refuseRegistrySchema } from './registry-schema';
import { BreakerExhausted, OnlineGuard, type OnlineOptions, type WatchUnit } from './watch';
import { BatchRefused, PROGRESS_BATCH, runBatched, type BatchProgress } from './batch';

/** What the engine needs of a migration (core's Migration satisfies it). */
export interface SourceMigration {
  id: string;
  files: { up: string; down?: string; verify?: string };
  directives: { noTransaction: boolean; irreversible: boolean; batch?: BatchDirective };
  hash: string;
}

export interface EditedMigration {
  id: string;
  appliedChecksum: string;
  currentChecksum: string;
}

export interface StatusReport {
  applied: AppliedRow[];
  pending: string[];
  edited: EditedMigration[];
  /** Applied in the database, absent from this branch's manifest. */
  unknown: string[];
  /** No-transaction migrations stopped part-way: statements done so far. */
  partial: { id: string; statementsDone: number; checksum: string }[];
  registry: { exists: boolean; outdated: boolean };
}

export interface PlanStep {
  id: string;
  direction: 'up' | 'down';
  checksum: string;
  transactional: boolean;
  /** For a no-transaction migration stopped part-way: statements already done. */
  resumeFrom?: number;
}

export interface Plan {
  direction: 'up' | 'down';
  steps: PlanStep[];
  target?: string;
}

/**
 * A progress row whose statement_hash starts with this marks a bare CREATE INDEX CONCURRENTLY
 * that was started, not finished: written (and committed) just before the statement runs, turned
 * into the statement's hash when it returns. A crash in between leaves the marker, and the resume
 * looks at the index instead of running the statement blindly (runNoTransaction).
 */
export const PROGRESS_STARTED = 'started:';

/** Whether a progress row records a finished statement (not a started-only marker). */
export function progressDone(p: ProgressRow): boolean {
  return !p.statementHash.startsWith(PROGRESS_STARTED) && !p.statementHash.startsWith(PROGRESS_BATCH);
}

/** Pure: the database's history against this branch's migrations (manifest order). */
export function computeStatus(
  migrations: readonly SourceMigration[],
  applied: readonly AppliedRow[],
  progress: readonly ProgressRow[],
  registry: { exists: boolean; outdated: boolean } = { exists: applied.length > 0, outdated: false },
): StatusReport {
  const byId = new Map(migrations.map((m) => [m.id, m]));
  const appliedIds = new Set(applied.map((a) => a.id));
  const edited: EditedMigration[] = [];
  const unknown: string[] = [];
  for (const a of applied) {
    const m = byId.get(a.id);
    if (!m) unknown.push(a.id);
    else if (m.hash !== a.checksum)
      edited.push({ id: a.id, appliedChecksum: a.checksum, currentChecksum: m.hash });
  }
  const partialMap = new Map<string, { id: string; statementsDone: number; checksum: string }>();
  for (const p of progress) {
    const cur = partialMap.get(p.id) ?? { id: p.id, statementsDone: 0, checksum: p.checksum };
    if (progressDone(p)) cur.statementsDone++;
    partialMap.set(p.id, cur);
  }
  return {
    applied: [...applied],
    pending: migrations.filter((m) => !appliedIds.has(m.id)).map((m) => m.id),
    edited,
    unknown,
    partial: [...partialMap.values()],
    registry,
  };
}

/**
 * Every migration `id` transitively depends on (through parents and requires), in the order
 * found, skipping (and not walking past) the ones in `seen`, which it adds to.
 */
function dependenciesOf(
  id: string,
  dependsOn: ReadonlyMap<string, readonly string[]>,
  seen: Set<string> = new Set(),
): string[] {
  const out: string[] = [];
  const stack = [id];
  while (stack.length > 0) {
    for (const d of dependsOn.get(stack.pop()!) ?? []) {
      if (d !== id && !seen.has(d)) {
        seen.add(d);
        out.push(d);
        stack.push(d);
      }
    }
  }
  return out;
}

/**
 * Pure: pending migrations in manifest order, up to and including `to`. With the DAG
 * (`dependsOn`: manifest parents + `-- braid:requires`), a pending migration that an applied one
 * depends on is refused (the database skipped it: history drift); a pending migration merely
 * sorting before applied ones (written concurrently, DESIGN §1 out-of-order application) is applied.
 */
export function planUp(
  migrations: readonly SourceMigration[],
  status: StatusReport,
  opts: { to?: string; dependsOn?: ReadonlyMap<string, readonly string[]> } = {},
): Plan {
  if (opts.dependsOn && status.pending.length > 0) {
    const pendingSet = new Set(status.pending);
    // One walk over the DAG for all applied migrations (a dependency already visited from an
    // earlier one was found not pending, and so were its own dependencies): O(migrations), not
    // O(applied × history).
    const seen = new Set<string>();
    for (const a of status.applied) {
      for (const d of dependenciesOf(a.id, opts.dependsOn, seen)) {
        if (pendingSet.has(d)) {
          throw new FindingsError(
            'ancestor-pending',
            `${d} is pending but ${a.id}, which depends on it, is already applied: the database skipped it; apply it by hand or roll ${a.id} back first`,
            { data: { pending: d, applied: a.id } },
          );
        }
      }
    }
  }
  let list = migrations;
  if (opts.to !== undefined) {
    const at = migrations.findIndex((m) => m.id === opts.to);
    if (at < 0) {
      throw new UsageError('unknown-id', `--to: no migration ${opts.to} in this branch's manifest`, {
        data: { argument: '--to', id: opts.to },
      });
    }
    list = migrations.slice(0, at + 1);
  }
  const pending = new Set(status.pending);
  const partial = new Map(status.partial.map((p) => [p.id, p.statementsDone]));
  const steps: PlanStep[] = list
    .filter((m) => pending.has(m.id))
    .map((m) => {
      const step: PlanStep = {
        id: m.id,
        direction: 'up',
        checksum: m.hash,
        transactional: !m.directives.noTransaction,
      };
      const done = partial.get(m.id);
      if (done !== undefined && m.directives.noTransaction) step.resumeFrom = done;
      return step;
    });
  return opts.to === undefined ? { direction: 'up', steps } : { direction: 'up', steps, target: opts.to };
}

/** Pure: the rollback list, newest applied first (default one step). */
export function planDown(
  migrations: readonly SourceMigration[],
  status: StatusReport,
  opts: { to?: string; steps?: number } = {},
): Plan {
  const newestFirst = [...status.applied].sort((a, b) => b.historySeq - a.historySeq);
  let rows: AppliedRow[];
  if (opts.to !== undefined) {
    const at = newestFirst.findIndex((a) => a.id === opts.to);
    if (at < 0) {
      const known = migrations.some((m) => m.id === opts.to);
      throw new UsageError(
        'unknown-id',
        known
          ? `--to: ${opts.to} is not applied to this database (down --to keeps that migration and rolls back the ones applied after it)`
          : `--to: no migration ${opts.to} is applied or in this branch's manifest`,
        { data: { argument: '--to', id: opts.to } },
      );
    }
    rows = newestFirst.slice(0, at);
  } else {
    const n = opts.steps ?? 1;
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(
        'bad-steps',
        `--steps: expected a positive whole number, got ${String(opts.steps)}`,
      );
    }
    rows = newestFirst.slice(0, n);
  }
  const byId = new Map(migrations.map((m) => [m.id, m]));
  const steps = rows.map((a): PlanStep => {
    const m = byId.get(a.id);
    return {
      id: a.id,
      direction: 'down',
      checksum: a.checksum,
      transactional: m ? !m.directives.noTransaction : true,
    };
  });
  return opts.to === undefined ? { direction: 'down', steps } : { direction: 'down', steps, target: opts.to };
}

/** Reads the status of a database (creates nothing). */
export async function readStatus(
  ex: Executor,
  migrations: readonly SourceMigration[],
): Promise<StatusReport> {
  const reg = await readRegistryState(ex);
  const applied = reg.exists ? await readApplied(ex) : [];
  const progress = reg.exists ? await readProgress(ex) : [];
  return computeStatus(migrations, applied, progress, reg);
}

export type ApplyEvent =
  | { type: 'lock-wait'; holder: LockHolder | undefined }
  | {
      type: 'registry';
      applied: string[];
      /** the registry schema (a tenant's own, else braid) */ schema: string;
    }
  | { type: 'start'; id: string; direction: 'up' | 'down'; resumeFrom?: number }
  | { type: 'done'; id: string; direction: 'up' | 'down'; ms: number; dryRun: boolean }
  | { type: 'skip'; id: string; reason: string }
  | { type: 'retry'; id: string; attempt: number; waitMs: number; reason: string }
  | { type: 'index-rebuilt'; id: string; index: string }
  | { type: 'index-adopted'; id: string; index: string }
  | { type: 'warning'; message: string };

export interface ApplyOptions {
  provenance: Provenance;
  /** Advisory-lock wait (ms), default 60 000. */
  lockWaitMs?: number;
  /** lock_timeout for DDL (ms), default 5 000. */
  lockTimeoutMs?: number;
  /** Retries after a lock timeout (SQLSTATE 55P03), default 3, with doubling backoff from 500 ms. */
  lockRetries?: number;
  retryBaseMs?: number;
  allowEdited?: boolean;
  dryRun?: boolean;
  /** Folder label for error locations, default ".migrations". */
  dirLabel?: string;
  onEvent?: (e: ApplyEvent) => void;
  /** The DAG: each migration's parents and `requires` (enables the out-of-order checks). */
  dependsOn?: ReadonlyMap<string, readonly string[]>;
  /** Runner lock: `advisory` (default, session advisory lock) or `lease` (pooler-safe registry row). */
  lock?: 'advisory' | 'lease';
  /** Lease time to live without a heartbeat (ms), default 30 000. */
  leaseTtlMs?: number;
  /**
   * Checked before each migration (never inside one): true stops applyUp cleanly there, its
   * result then has `stopped: true` (braid rollout's pause and stop-the-wave).
   */
  shouldStop?: () => boolean;
  /**
   * Run after each migration applyUp applied (outside its transaction, before the next one):
   * a throw stops applyUp there and reaches its caller, the migration staying applied (braid
   * rollout's `--replica-wait migration`).
   */
  afterEach?: (ex: Executor, id: string) => Promise<void>;
  /**
   * The watcher and circuit breaker (watch.ts, docs/online.md); absent: no watcher (as before).
   * `onBatch`: after each batch of a `-- braid:batch` statement.
   */
  online?: OnlineOptions & { onBatch?: (p: BatchProgress) => void };
  /** Pre-change backups and restores (docs/backups.md); absent: none. */
  backup?: BackupHooks;
}

/** What the CLI plugs into the engine for pre-change backups (docs/backups.md). */
export interface BackupHooks {
  /**
   * `up`: runs inside the migration's transaction, before up.sql (a no-transaction migration:
   * before its first statement). Writes the archive completely (and its registry row) or throws:
   * then nothing of the migration runs. Returns a note for the result line, if any.
   */
  beforeUp?: (ex: Executor, m: SourceMigration) => Promise<string | undefined>;
  /**
   * `down`: before anything rolls back, for every step (a missing key or a damaged archive
   * stops the whole `down` here). Returns the restore to run after down.sql in the same
   * transaction (it returns a note), or undefined when the migration has no backup.
   */
  prepareDown?: (
    ex: Executor,
    m: SourceMigration,
  ) => Promise<((ex: Executor) => Promise<string>) | undefined>;
}

export interface StepResult {
  id: string;
  direction: 'up' | 'down';
  ms: number;
  outcome: 'applied' | 'rolled-back' | 'dry-run' | 'skipped';
  note?: string;
}

export interface ApplyResult {
  plan: Plan;
  results: StepResult[];
  dryRun: boolean;
  registryUpgraded: string[];
  /** applyUp stopped before the end of its plan because opts.shouldStop said so. */
  stopped?: boolean;
}

/** A migration failed: one-line message `<file>:LINE:COL: …`, details in data and `snippet`. */
export class MigrationFailedError extends FindingsError {
  readonly snippet: string[];
  constructor(message: string, snippet: string[], data: Record<string, unknown>) {
    super('migration-failed', message, { data });
    this.snippet = snippet;
  }
}

const sha = (s: string): string => 'sha256:' + createHash('sha256').update(s).digest('hex');

interface Ctx {
  ex: Executor;
  opts: ApplyOptions;
  byId: Map<string, SourceMigration>;
  dir: string;
  backendPid?: number;
  /** --lock lease: our lease, checked before each migration's commit (fenceLease). */
  lease?: { name: string; token: string };
  watcher?: PgExecutor;
  /** Advisory lock taken on a server: the registry check also refuses a transaction pooler. */
  checkPooler?: boolean;
  lastBlockers: { pid: number; applicationName: string; query: string }[];
  /** The watcher and circuit breaker, on a server when opts.online asks for it. */
  guard?: OnlineGuard;
}

function emit(c: Ctx, e: ApplyEvent): void {
  c.opts.onEvent?.(e);
}

function refuseEdited(status: StatusReport, allowEdited: boolean | undefined): void {
  if (status.edited.length === 0 || allowEdited) return;
  const first = status.edited[0];
  const more = status.edited.length > 1 ? ` (and ${status.edited.length - 1} more)` : '';
  throw new FindingsError(
    'edited-after-apply',
    `migration ${first.id} was edited after it was applied (checksum ${first.appliedChecksum.slice(0, 19)} in the database, ${first.currentChecksum.slice(0, 19)} in the files)${more}; restore it, or pass --allow-edited`,
    { data: { edited: status.edited } },
  );
}

async function startWatcher(c: Ctx): Promise<void> {
  if (!(c.ex instanceof PgExecutor) || c.watcher) return;
  try {
    c.watcher = await c.ex.sibling('braid (lock observer)');
  } catch {
    // diagnostics only
  }
}

/** Runs fn while polling, from a second session, which sessions block ours. */
async function observingBlockers<T>(c: Ctx, fn: () => Promise<T>): Promise<T> {
  if (c.ex.engine !== 'postgres' || c.backendPid === undefined) return fn();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async (): Promise<void> => {
    if (stopped) return;
    await startWatcher(c);
    if (c.watcher && !stopped) {
      try {
        const r = await c.watcher.query<{ pid: number; application_name: string; query: string }>(
          `select pid, coalesce(application_name, '') as application_name, coalesce(query, '') as query
             from pg_stat_activity where pid = any(pg_blocking_pids($1))`,
          [c.backendPid],
        );
        if (r.rows.length > 0) {
          c.lastBlockers = r.rows.map((x) => ({
            pid: x.pid,
            applicationName: x.application_name,
            query: x.query,
          }));
        }
      } catch {
        // diagnostics only
      }
    }
    if (!stopped) timer = setTimeout(() => void poll(), 250);
  };
  timer = setTimeout(() => void poll(), 300);
  try {
    return await fn();
  } finally {
    stopped = true;
    if (timer) clearTimeout(timer);
  }
}

function lockTimeoutSql(c: Ctx, local: boolean): string {
  const ms = Math.max(0, Math.round(c.opts.lockTimeoutMs ?? 5000));
  return `set ${local ? 'local ' : ''}lock_timeout = '${ms}ms'`;
}

/**
 * Runs one attempt function with retries on lock timeout (55P03) and doubling backoff; with the
 * online guard, each attempt is watched and a breaker trip retried (watch.ts).
 */
async function withLockRetries<T>(
  c: Ctx,
  id: string,
  attempt: () => Promise<T>,
  unit?: Omit<WatchUnit, 'id'>,
  /** For the guard: a unit recorded by its caller (batches: one row per statement). */
  runOpts?: Parameters<OnlineGuard['run']>[2],
): Promise<T> {
  const retries = c.opts.lockRetries ?? 3;
  let wait = c.opts.retryBaseMs ?? 500;
  for (let n = 0; ; n++) {
    c.lastBlockers = [];
    try {
      return await guarded(c, { id, direction: 'up', label: id, ...unit }, attempt, runOpts);
    } catch (e) {
      // the watcher saw who blocked braid (without it, observingBlockers did)
      if (c.guard && pgErrorInfo(e)?.code === '55P03') c.lastBlockers = c.guard.lastBlockers();
      const info = pgErrorInfo(e);
      if (info?.code !== '55P03' || n >= retries) throw e;
      emit(c, { type: 'retry', id, attempt: n + 1, waitMs: wait, reason: info.message });
      await new Promise((r) => setTimeout(r, wait));
      wait *= 2;
    }
  }
}

/** A statement of a file: its text and where it starts (JS string index). */
interface StmtRef {
  text: string;
  charStart: number;
}

/**
 * Builds the MigrationFailedError for an error raised while running `text` of `fileName` (or,
 * when `stmt` is given, that statement of it): `<file>:LINE:COL` from the error's position,
 * else the statement's start.
 */
function failure(
  c: Ctx,
  id: string,
  fileName: string,
  text: string,
  e: unknown,
  stmt?: StmtRef,
): { error: Error; statement?: string; info?: PgErrorInfo } {
  const info = pgErrorInfo(e);
  if (!info) return { error: e instanceof Error ? e : new Error(String(e)) };
  const file = `${c.dir}/${id}/${fileName}`;
  let loc;
  let statement: string | undefined;
  if (stmt) {
    const idx =
      info.position !== undefined
        ? stmt.charStart + codePointPositionToIndex(stmt.text, info.position)
        : stmt.charStart;
    loc = locate(file, text, idx);
    statement = stmt.text;
  } else if (info.position !== undefined) {
    const idx = codePointPositionToIndex(text, info.position);
    loc = locate(file, text, idx);
    statement = statementAt(text, idx);
  }
  let message = `${loc ? `${loc.file}:${loc.line}:${loc.col}` : file}: ${info.message} (SQLSTATE ${info.code})`;
  if (info.code === '55P03') {
    const b = c.lastBlockers[0];
    message += b
      ? `; blocked by pid ${b.pid}${b.applicationName ? ` (${b.applicationName})` : ''}: ${oneLine(b.query)}`
      : '; the blocking session was not observed';
  }
  const data: Record<string, unknown> = {
    id,
    file,
    sqlstate: info.code,
    ...(loc ? { line: loc.line, column: loc.col } : {}),
    ...(info.detail ? { detail: info.detail } : {}),
    ...(info.hint ? { hint: info.hint } : {}),
    ...(statement ? { statement: redact(statement) } : {}),
    ...(c.lastBlockers.length > 0 ? { blockers: c.lastBlockers } : {}),
  };
  const out: { error: Error; statement?: string; info?: PgErrorInfo } = {
    error: new MigrationFailedError(message, errorSnippet(loc, info), data),
    info,
  };
  if (statement !== undefined) out.statement = statement;
  return out;
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 197)}...` : t;
}

function statementAt(text: string, index: number): string | undefined {
  try {
    const stmts = splitStatements(text);
    const s =
      stmts.find((x) => index >= x.charStart && index <= x.charEnd + 1) ??
      stmts.find((x) => x.charStart >= index);
    return s?.text;
  } catch {
    return undefined;
  }
}

async function auditFailure(
  c: Ctx,
  id: string,
  direction: string,
  checksum: string,
  ms: number,
  f: { error: Error; statement?: string; info?: PgErrorInfo },
): Promise<void> {
  if (c.opts.dryRun) return;
  try {
    await recordAudit(
      c.ex,
      {
        id,
        direction,
        outcome: 'failed',
        checksum,
        durationMs: ms,
        statement: f.statement ? redact(f.statement) : null,
        error: redact(f.error.message),
        sqlstate: f.info?.code ?? null,
      },
      c.opts.provenance,
    );
  } catch {
    // the audit must not hide the migration's own error
  }
}

/**
 * Runs a file inside the current transaction. The fast path sends the whole file in one round
 * trip (the parser is not even loaded); when it fails, braid rolls back to a savepoint taken just
 * before and re-runs the file statement by statement, so that every error (also a runtime error
 * PostgreSQL reports without a position) names its statement. `opening`: statements that open
 * the transaction and end with `savepoint braid_file`, sent in the same round trip as the file
 * (an error position is then shifted back into the file); without it, the savepoint is taken
 * first.
 */
/**
 * Runs a file in the open transaction (or opens it: `opening`), falling back to statement by
 * statement to name the failing one. `closing` (only with `opening`) is sent after the file in
 * the same round trip — the history row and `commit` — and the result says whether it ran: when
 * the file passes statement by statement after failing as a whole, the transaction is still
 * open and the caller records the history itself (which names a failure of its own correctly).
 */
async function execFile(
  c: Ctx,
  id: string,
  fileName: string,
  text: string,
  opening?: string,
  closing?: string,
): Promise<boolean> {
  if (opening === undefined) await c.ex.exec('savepoint braid_file');
  try {
    const whole = opening === undefined ? text : opening + text;
    await c.ex.exec(closing === undefined ? whole : `${whole}\n;\n${closing}`);
    return closing !== undefined;
  } catch (e) {
    if (opening !== undefined) shiftPosition(e, opening.length);
    const info = pgErrorInfo(e);
    // A lock timeout is retried by the caller: locating it would only wait a second time. So is
    // a statement the circuit breaker cancelled.
    if (info?.code === '55P03' || (info?.code === '57014' && c.guard?.cancelled)) {
      throw Object.assign(new Error('file failed'), {
        braidFailure: failure(c, id, fileName, text, e),
        cause: e,
      });
    }
    try {
      await c.ex.exec('rollback to savepoint braid_file');
    } catch (e2) {
      // A syntax error stops the whole string before its first statement runs: no transaction
      // was opened. Open it now (the caller rolls it back).
      if (opening === undefined || pgErrorInfo(e2)?.code !== '25P01') throw e2;
      await c.ex.exec(opening);
    }
    await execStatements(c, id, fileName, text);
    if (closing !== undefined) return false;
    // The statements passed one by one although the file failed as a whole: report the file.
    throw Object.assign(new Error('file failed'), {
      braidFailure: failure(c, id, fileName, text, e),
      cause: e,
    });
  }
}

/**
 * Shifts a server error's `position` (1-based, in code points) back by `by` ASCII characters sent
 * before the file; a position inside them is dropped.
 */
function shiftPosition(e: unknown, by: number): void {
  if (!(e instanceof Error)) return;
  const x = e as Error & { position?: unknown };
  if (x.position === undefined) return;
  const pos = Number(x.position) - by;
  if (Number.isFinite(pos) && pos > 0) x.position = String(pos);
  else delete x.position;
}

/** Runs a file statement by statement, naming the failing statement. */
async function execStatements(c: Ctx, id: string, fileName: string, text: string): Promise<void> {
  let stmts: StmtRef[] | undefined;
  try {
    stmts = splitStatements(text);
  } catch {
    stmts = undefined;
  }
  if (!stmts) {
    try {
      await c.ex.exec(text);
    } catch (e) {
      throw Object.assign(new Error('file failed'), {
        braidFailure: failure(c, id, fileName, text, e),
        cause: e,
      });
    }
    return;
  }
  for (const st of stmts) {
    try {
      await c.ex.exec(st.text);
    } catch (e) {
      throw Object.assign(new Error('statement failed'), {
        braidFailure: failure(c, id, fileName, text, e, st),
        cause: e,
      });
    }
  }
}

/** The watcher and breaker around an attempt (or, without them, the lock observer of old). */
async function guarded<T>(
  c: Ctx,
  unit: WatchUnit,
  attempt: () => Promise<T>,
  runOpts?: Parameters<OnlineGuard['run']>[2],
): Promise<T> {
  if (!c.guard) return observingBlockers(c, attempt);
  try {
    return await c.guard.run(unit, attempt, runOpts);
  } catch (e) {
    if (e instanceof BreakerExhausted) throw breakerFailure(c, unit, e);
    throw e;
  }
}

/** BreakerExhausted → the migration's failure, with every trip in its account (exit 1). */
function breakerFailure(c: Ctx, unit: WatchUnit, e: BreakerExhausted): MigrationFailedError {
  const m = c.byId.get(unit.id);
  const where =
    unit.statementIndex === undefined
      ? 'rolled back: nothing of it is applied'
      : `stopped before statement ${unit.statementIndex + 1}${m?.directives.batch ? ' (or inside it, after its last committed batch)' : ''}; braid up resumes there`;
  const account = e.trips.map(
    (t) =>
      `  trip ${t.attempt} at ${t.at}: ${t.breach.message}${t.waitMs !== undefined ? `; retried after ${Math.round(t.waitMs)} ms` : ''}`,
  );
  return new MigrationFailedError(`${c.dir}/${unit.id}: ${e.message}; ${where}`, account, {
    id: unit.id,
    breaker: e.trips.map((t) => ({ attempt: t.attempt, at: t.at, ...t.breach, waitMs: t.waitMs ?? null })),
    ...(unit.statementIndex !== undefined ? { statementIndex: unit.statementIndex } : {}),
  });
}

type Failure = { error: Error; statement?: string; info?: PgErrorInfo };
function asFailure(e: unknown): Failure | undefined {
  return (e as { braidFailure?: Failure }).braidFailure;
}

async function runTransactional(
  c: Ctx,
  m: SourceMigration,
  direction: 'up' | 'down',
  hooks: { notes?: string[]; restore?: (ex: Executor) => Promise<string> } = {},
): Promise<number> {
  const t0 = performance.now();
  const text = direction === 'up' ? m.files.up : (m.files.down ?? '');
  const fileName = direction === 'up' ? 'up.sql' : 'down.sql';
  const before = direction === 'up' && !c.opts.dryRun ? c.opts.backup?.beforeUp : undefined;
  const after = direction === 'down' ? hooks.restore : undefined;
  try {
    await withLockRetries(
      c,
      m.id,
      async () => {
        // One round trip: the transaction, its lock_timeout, the savepoint execFile falls back to
        // and the file itself.
        try {
          // Without verify.sql, a lease to fence or a dry run, the history row and the commit
          // travel in that same round trip.
          const oneTrip =
            !c.opts.dryRun &&
            !c.lease &&
            !before &&
            !after &&
            !(direction === 'up' && m.files.verify !== undefined);
          const closing = oneTrip
            ? `${historySql({ id: m.id, checksum: m.hash, direction }, c.opts.provenance, { auditOk: true })};\ncommit`
            : undefined;
          if (before || after) {
            // The backup is taken in the migration's transaction, before up.sql: the archive is
            // complete on disk before anything changes, and its registry row commits with it.
            await c.ex.exec(`begin; ${lockTimeoutSql(c, true)}`);
            if (before) {
              const note = await before(c.ex, m);
              if (note) hooks.notes?.push(note);
            }
            await execFile(c, m.id, fileName, text);
            if (after) hooks.notes?.push(await after(c.ex));
          } else {
            const opening = `begin; ${lockTimeoutSql(c, true)}; savepoint braid_file;\n`;
            if (await execFile(c, m.id, fileName, text, opening, closing)) return;
          }
          if (direction === 'up' && m.files.verify !== undefined)
            await execFile(c, m.id, 'verify.sql', m.files.verify);
          const ms = performance.now() - t0;
          if (c.opts.dryRun) {
            await c.ex.exec('rollback');
            return;
          }
          if (c.lease) await fenceLease(c.ex, c.lease.name, c.lease.token);
          await recordHistory(
            c.ex,
            { id: m.id, checksum: m.hash, direction, durationMs: ms },
            c.opts.provenance,
            // prepared once per session: only where the pooler check passed (advisory lock)
            { auditOk: true, prepared: c.checkPooler === true },
          );
          await c.ex.exec('commit');
        } catch (e) {
          await c.ex.exec('rollback').catch(() => undefined);
          const f = asFailure(e);
          if (f?.info?.code === '55P03' || (f?.info?.code === '57014' && c.guard?.cancelled))
            throw (e as { cause: unknown }).cause;
          throw e;
        }
      },
      { direction, label: m.id },
    );
  } catch (e) {
    const f = asFailure(e) ?? failure(c, m.id, fileName, text, e);
    await auditFailure(c, m.id, direction, m.hash, performance.now() - t0, f);
    throw f.error;
  }
  return performance.now() - t0;
}

const CIC_RE =
  /^\s*create\s+(?:unique\s+)?index\s+concurrently\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\s+on\s+(?:only\s+)?((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?)/i;

function unquote(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name.toLowerCase();
}

type IndexRow = { nspname: string; relname: string; valid: boolean };

/** The indexes named by a CREATE INDEX CONCURRENTLY statement on its table, valid or not. */
async function cicIndexes(c: Ctx, stmt: string): Promise<IndexRow[]> {
  const m = CIC_RE.exec(stmt);
  if (!m) return [];
  const r = await c.ex.query<IndexRow>(
    `select n.nspname, c.relname, i.indisvalid as valid
       from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
      where c.relname = $1 and i.indrelid = to_regclass($2)`,
    [unquote(m[1]), m[2].replace(/\s*\.\s*/, '.')],
  );
  return r.rows;
}

/** Drops the INVALID indexes an interrupted CREATE INDEX CONCURRENTLY left (of cicIndexes). */
async function dropInvalidIndexes(c: Ctx, id: string, found: readonly IndexRow[]): Promise<void> {
  for (const row of found) {
    if (row.valid) continue;
    const name = `${quoteIdent(row.nspname)}.${quoteIdent(row.relname)}`;
    await c.ex.exec(`drop index concurrently if exists ${name}`);
    emit(c, { type: 'index-rebuilt', id, index: `${row.nspname}.${row.relname}` });
    await recordAudit(
      c.ex,
      { id, direction: 'up', outcome: 'index-rebuilt', statement: `drop index concurrently ${name}` },
      c.opts.provenance,
    ).catch(() => undefined);
  }
}

async function runNoTransaction(
  c: Ctx,
  m: SourceMigration,
  direction: 'up' | 'down',
  progress: ProgressRow[],
): Promise<number> {
  const t0 = performance.now();
  const text = direction === 'up' ? m.files.up : (m.files.down ?? '');
  const fileName = direction === 'up' ? 'up.sql' : 'down.sql';
  const stmts = splitStatements(text);
  const mine = progress.filter((p) => p.id === m.id);
  if (direction === 'up' && mine.some((p) => p.checksum !== m.hash) && !c.opts.allowEdited) {
    throw new FindingsError(
      'edited-while-partial',
      `migration ${m.id} stopped part-way (no-transaction) and its files changed since; restore them, or pass --allow-edited to resume anyway`,
      { data: { id: m.id } },
    );
  }
  const done = new Set(direction === 'up' ? mine.filter(progressDone).map((p) => p.statementIndex) : []);
  const started = new Set(
    direction === 'up' ? mine.filter((p) => !progressDone(p)).map((p) => p.statementIndex) : [],
  );
  const record = async (indices: number[], hash: (i: number) => string): Promise<void> => {
    if (direction !== 'up' || indices.length === 0) return;
    await c.ex.query(
      `insert into braid.progress (id, checksum, statement_index, statement_hash)
       select $1, $2, i, h from unnest($3::int[], $4::text[]) as x(i, h)
       on conflict (id, statement_index)
         do update set statement_hash = excluded.statement_hash, done_at = clock_timestamp()`,
      [m.id, m.hash, indices, indices.map(hash)],
    );
  };
  const markDone = (indices: number[]): Promise<void> => record(indices, (i) => sha(stmts[i].text));
  const adopted: string[] = [];
  const markStarted = (i: number): Promise<void> => record([i], (k) => PROGRESS_STARTED + sha(stmts[k].text));
  // An explicit BEGIN … COMMIT group of the file (golang-migrate style): its statements run bare
  // and their progress rows are written inside the group, just before its COMMIT, so a crash
  // leaves either the whole group done and recorded or nothing.
  let group: number[] | undefined;
  for (let i = 0; i < stmts.length; i++) {
    if (done.has(i)) continue;
    const s = stmts[i];
    const control = txControl(s.text);
    try {
      if (control === 'begin' || group) {
        if (control === 'begin') group = [];
        group?.push(i);
        if (control === 'commit' && group) await markDone(group.slice(0, -1));
        await c.ex.exec(s.text);
        if (control === 'commit' || control === 'rollback') {
          if (control === 'rollback' && group) await markDone(group);
          else await markDone([i]);
          group = undefined;
        }
        continue;
      }
      if (direction === 'up') {
        // A run killed after its CREATE INDEX CONCURRENTLY returned and before the statement was
        // recorded left a started marker and a valid index: the statement is done.
        const found = await cicIndexes(c, s.text);
        const valid = started.has(i) ? found.find((x) => x.valid) : undefined;
        if (valid) {
          await markDone([i]);
          adopted.push(`${valid.nspname}.${valid.relname}`);
          emit(c, { type: 'index-adopted', id: m.id, index: `${valid.nspname}.${valid.relname}` });
          continue;
        }
        await dropInvalidIndexes(c, m.id, found);
      }
      if (direction === 'up' && m.directives.batch && !control) {
        const label = `${m.id} statement ${i + 1}/${stmts.length}`;
        try {
          await runBatched(
            {
              ex: c.ex,
              ...(c.guard ? { guard: c.guard } : {}),
              lockTimeout: lockTimeoutSql(c, true),
              runUnit: (unit, attempt, opts) =>
                withLockRetries(c, m.id, () => attempt(0), unit, { quiet: true, ...opts }),
              ...(c.opts.online?.onBatch ? { onBatch: c.opts.online.onBatch } : {}),
              onNote: (message) => emit(c, { type: 'warning', message }),
            },
            m,
            i,
            s.text,
            m.directives.batch,
            sha(s.text),
            label,
          );
          continue;
        } catch (e) {
          if (!(e instanceof BatchRefused)) throw e;
          if (e.message !== 'not a data statement') {
            const loc = locate(`${c.dir}/${m.id}/${fileName}`, text, s.charStart);
            throw new MigrationFailedError(`${loc.file}:${loc.line}:${loc.col}: ${e.message}`, [], {
              id: m.id,
              file: loc.file,
              line: loc.line,
              column: loc.col,
              statement: redact(s.text),
            });
          }
          // not UPDATE / DELETE / INSERT … SELECT: runs as written below
        }
      }
      let tries = 0;
      await withLockRetries(
        c,
        m.id,
        async () => {
          // a retry (lock timeout, breaker) of a CREATE INDEX CONCURRENTLY the server interrupted
          // first drops the INVALID index it left
          if (tries++ > 0 && direction === 'up')
            await dropInvalidIndexes(c, m.id, await cicIndexes(c, s.text));
          // The statement and its progress row commit together, so a crash between the two cannot
          // make a resume run it twice. A statement PostgreSQL refuses inside a transaction block
          // (CREATE INDEX CONCURRENTLY, VACUUM, a procedure that commits) runs bare instead; an
          // interrupted CONCURRENTLY index is dropped and rebuilt on resume (dropInvalidIndexes).
          await c.ex.exec(`begin; ${lockTimeoutSql(c, true)}`);
          try {
            await c.ex.exec(s.text);
            await markDone([i]);
            await c.ex.exec('commit');
            return;
          } catch (e) {
            await c.ex.exec('rollback').catch(() => undefined);
            const code = pgErrorInfo(e)?.code;
            if (code !== '25001' && code !== '2D000') throw e;
          }
          await c.ex.exec(lockTimeoutSql(c, false));
          // committed before a named CONCURRENTLY index is built: what a resume after a crash
          // between the build and markDone goes by (PROGRESS_STARTED)
          if (direction === 'up' && CIC_RE.test(s.text)) await markStarted(i);
          try {
            await c.ex.exec(s.text);
          } finally {
            await c.ex.exec('reset lock_timeout').catch(() => undefined);
          }
          await markDone([i]);
        },
        { direction, statementIndex: i, label: `${m.id} statement ${i + 1}/${stmts.length}` },
      );
    } catch (e) {
      if (group) await c.ex.exec('rollback').catch(() => undefined);
      const f = failure(c, m.id, fileName, text, e, s);
      if (!f.statement) f.statement = s.text;
      await auditFailure(c, m.id, direction, m.hash, performance.now() - t0, f);
      throw f.error;
    }
  }
  try {
    await c.ex.exec('begin');
    if (direction === 'up' && m.files.verify !== undefined)
      await execFile(c, m.id, 'verify.sql', m.files.verify);
    const ms = performance.now() - t0;
    if (c.lease) await fenceLease(c.ex, c.lease.name, c.lease.token);
    await recordHistory(c.ex, { id: m.id, checksum: m.hash, direction, durationMs: ms }, c.opts.provenance);
    await recordAudit(
      c.ex,
      {
        id: m.id,
        direction,
        outcome: 'ok',
        checksum: m.hash,
        durationMs: ms,
        ...(adopted.length > 0
          ? { reason: `resumed: kept the index ${adopted.join(', ')}, built by an interrupted run and valid` }
          : {}),
      },
      c.opts.provenance,
    );
    await c.ex.query('delete from braid.progress where id = $1', [m.id]);
    await c.ex.exec('commit');
  } catch (e) {
    await c.ex.exec('rollback').catch(() => undefined);
    const f = asFailure(e) ?? failure(c, m.id, 'verify.sql', m.files.verify ?? '', e);
    await auditFailure(c, m.id, direction, m.hash, performance.now() - t0, f);
    throw f.error;
  }
  return performance.now() - t0;
}

/** Whether a statement (leading comments already stripped) is transaction control. */
function txControl(text: string): 'begin' | 'commit' | 'rollback' | undefined {
  const m = /^(begin|start\s+transaction|commit|end|rollback|abort)\b/i.exec(text.trimStart());
  if (!m) return undefined;
  const w = m[1].toLowerCase();
  if (w === 'begin' || w.startsWith('start')) return 'begin';
  if (w === 'rollback' || w === 'abort') {
    // ROLLBACK TO SAVEPOINT stays inside the group.
    return /^\w+\s+(?:work\s+|transaction\s+)?to\b/i.test(text.trimStart()) ? undefined : 'rollback';
  }
  return 'commit';
}

function context(ex: Executor, migrations: readonly SourceMigration[], opts: ApplyOptions): Ctx {
  return {
    ex,
    opts,
    byId: new Map(migrations.map((m) => [m.id, m])),
    dir: opts.dirLabel ?? '.migrations',
    lastBlockers: [],
  };
}

/** Runs fn holding the runner lock. fn must start with registryCheck (the pooler check). */
async function locked<T>(c: Ctx, body: () => Promise<T>): Promise<T> {
  // holding the lock: the watcher's session opens next to ours (online guard)
  const fn = async (): Promise<T> => {
    if (c.opts.online && !c.opts.dryRun)
      c.guard = await OnlineGuard.open(c.ex, c.backendPid, c.opts.online, c.opts.provenance, {
        record: true,
      });
    return body();
  };
  try {
    if (c.opts.lock === 'lease' && c.ex.engine === 'postgres') {
      const r = await c.ex.query<{ pid: number }>('select pg_backend_pid() as pid');
      c.backendPid = r.rows[0]?.pid;
      return await leased(c, fn);
    }
    return await withAdvisoryLock(
      c.ex,
      { waitMs: c.opts.lockWaitMs ?? 60_000, onWait: (holder) => emit(c, { type: 'lock-wait', holder }) },
      async (lockPid) => {
        // the lock statement also read the backend pid
        c.backendPid = lockPid;
        c.checkPooler = c.ex.engine === 'postgres' && lockPid !== undefined;
        return fn();
      },
    );
  } finally {
    await c.watcher?.close();
    c.watcher = undefined;
    await c.guard?.close().catch(() => undefined);
    c.guard = undefined;
  }
}

/**
 * Whether braid's registry exists, in one round trip with the pooler check: the advisory lock
 * was taken, but this statement ran on another backend: a transaction pooler.
 */
async function registryCheck(c: Ctx): Promise<boolean> {
  const r = await c.ex.query<{ ok: boolean; pid: number }>(
    `select to_regclass('braid.registry_migrations') is not null as ok, pg_backend_pid() as pid`,
  );
  const pid = r.rows[0]?.pid;
  if (c.checkPooler && pid !== c.backendPid) {
    throw new EnvironmentError(
      'pooler-detected',
      `${c.ex.label} goes through a pooler in transaction mode (statements ran on backends ${c.backendPid} and ${pid}): advisory locks do not hold there; use --lock lease`,
    );
  }
  return Boolean(r.rows[0]?.ok);
}

/** After ensureRegistry: the status and the no-transaction progress rows, in one round trip. */
async function statusAfterEnsure(
  ex: Executor,
  migrations: readonly SourceMigration[],
): Promise<{ status: StatusReport; progress: ProgressRow[] }> {
  const { applied, progress } = await readAppliedAndProgress(ex);
  return {
    status: computeStatus(migrations, applied, progress, { exists: true, outdated: false }),
    progress,
  };
}

/** --lock lease: the registry row lock (lease.ts); heartbeats on a second session. */
async function leased<T>(c: Ctx, fn: () => Promise<T>): Promise<T> {
  if (c.opts.dryRun && !(await leaseTableExists(c.ex))) return fn(); // nothing to protect: rolled back
  await ensureRegistryForLease(c.ex, c.opts.provenance.braidVersion);
  const ex = c.ex;
  return withLease(
    ex,
    {
      waitMs: c.opts.lockWaitMs ?? 60_000,
      ...(c.opts.leaseTtlMs === undefined ? {} : { ttlMs: c.opts.leaseTtlMs }),
      onWait: (cur) =>
        emit(c, {
          type: 'warning',
          message: `waiting for the migration lease${cur ? ` held by ${cur.holder} (expires ${cur.expiresAt})` : ''}`,
        }),
      ...(ex instanceof PgExecutor ? { openHeartbeat: () => ex.sibling('braid (lease heartbeat)') } : {}),
    },
    (lease) => {
      c.lease = { name: lease.name, token: lease.token };
      return fn();
    },
  );
}

/** `braid up`: applies pending migrations (or, with dryRun, runs them in one rolled-back transaction). */
export async function applyUp(
  ex: Executor,
  migrations: readonly SourceMigration[],
  opts: ApplyOptions & { to?: string },
): Promise<ApplyResult> {
  const c = context(ex, migrations, opts);
  return locked(c, async () => {
    const exists = await registryCheck(c);
    let registryUpgraded: string[] = [];
    let status: StatusReport;
    let progress: ProgressRow[] = [];
    if (!opts.dryRun) {
      registryUpgraded = await ensureRegistry(ex, opts.provenance.braidVersion, { exists });
      if (registryUpgraded.length > 0)
        emit(c, {
          type: 'registry',
          applied: registryUpgraded,
          schema: ex.tenant === undefined ? 'braid' : tenantRegistrySchema(ex.tenant),
        });
      ({ status, progress } = await statusAfterEnsure(ex, migrations));
    } else {
      status = exists
        ? await readStatus(ex, migrations)
        : computeStatus(migrations, [], [], { exists, outdated: true });
    }
    refuseEdited(status, opts.allowEdited);
    const plan = planUp(migrations, status, {
      ...(opts.to === undefined ? {} : { to: opts.to }),
      ...(opts.dependsOn === undefined ? {} : { dependsOn: opts.dependsOn }),
    });
    const order = new Map(migrations.map((m, i) => [m.id, i]));
    const lastApplied = Math.max(-1, ...status.applied.map((a) => order.get(a.id) ?? -1));
    for (const step of plan.steps) {
      if ((order.get(step.id) ?? 0) < lastApplied) {
        emit(c, {
          type: 'warning',
          message: `${step.id} sorts before migrations already applied: applying it out of order (written concurrently)`,
        });
      }
    }
    for (const u of status.unknown)
      emit(c, { type: 'warning', message: `${u} is applied but unknown to this branch` });
    // before anything runs: no pending migration may put objects in braid's registry schema
    await refuseRegistrySchema(
      plan.steps.map((s) => c.byId.get(s.id)!),
      opts.dirLabel ?? '.migrations',
    );
    if (!opts.dryRun) await auditAllowEdited(c, status, 'up');
    const results: StepResult[] = opts.dryRun ? await dryRun(c, plan) : [];
    let stopped = false;
    if (!opts.dryRun) {
      for (const step of plan.steps) {
        if (opts.shouldStop?.()) {
          stopped = true;
          break;
        }
        const m = c.byId.get(step.id)!;
        emit(c, {
          type: 'start',
          id: m.id,
          direction: 'up',
          ...(step.resumeFrom ? { resumeFrom: step.resumeFrom } : {}),
        });
        const notes: string[] = [];
        const ms = await completedOnFailure(results, async () => {
          if (step.transactional) return runTransactional(c, m, 'up', { notes });
          // no-transaction: the backup before the first statement (not again when resuming)
          const before = opts.backup?.beforeUp;
          if (before && !step.resumeFrom) {
            const note = await before(ex, m);
            if (note) notes.push(note);
          }
          return runNoTransaction(c, m, 'up', progress);
        });
        if (step.resumeFrom) notes.unshift(`resumed at statement ${step.resumeFrom + 1}`);
        emit(c, { type: 'done', id: m.id, direction: 'up', ms, dryRun: false });
        results.push({
          id: m.id,
          direction: 'up',
          ms,
          outcome: 'applied',
          ...(notes.length ? { note: notes.join('; ') } : {}),
        });
        if (opts.afterEach) await opts.afterEach(ex, m.id);
      }
    }
    return {
      plan,
      results,
      dryRun: Boolean(opts.dryRun),
      registryUpgraded,
      ...(stopped ? { stopped } : {}),
    };
  });
}

async function auditAllowEdited(c: Ctx, status: StatusReport, direction: 'up' | 'down'): Promise<void> {
  if (status.edited.length === 0 || !c.opts.allowEdited) return;
  for (const e of status.edited) {
    emit(c, { type: 'warning', message: `${e.id} was edited after it was applied (--allow-edited)` });
    await recordAudit(
      c.ex,
      {
        id: e.id,
        direction,
        outcome: 'allow-edited',
        checksum: e.currentChecksum,
        error: `applied as ${e.appliedChecksum}`,
      },
      c.opts.provenance,
    );
  }
}

/** Runs one step; when it fails, the error carries the steps completed before it (`completed`). */
async function completedOnFailure(results: StepResult[], fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof BraidError) e.data['completed'] = results.map((r) => ({ ...r }));
    throw e;
  }
}

/** Dry run: every transactional step in one transaction, rolled back at the end. */
async function dryRun(c: Ctx, plan: Plan): Promise<StepResult[]> {
  const results: StepResult[] = [];
  await c.ex.exec('begin');
  try {
    await c.ex.exec(lockTimeoutSql(c, true));
    for (const step of plan.steps) {
      const m = c.byId.get(step.id)!;
      if (!step.transactional) {
        results.push({
          id: m.id,
          direction: 'up',
          ms: 0,
          outcome: 'skipped',
          note: 'no-transaction: not run in a dry run',
        });
        emit(c, { type: 'skip', id: m.id, reason: 'no-transaction migrations are not run in a dry run' });
        continue;
      }
      emit(c, { type: 'start', id: m.id, direction: 'up' });
      const t0 = performance.now();
      try {
        await execFile(c, m.id, 'up.sql', m.files.up);
        if (m.files.verify !== undefined) await execFile(c, m.id, 'verify.sql', m.files.verify);
      } catch (e) {
        throw asFailure(e)?.error ?? e;
      }
      const ms = performance.now() - t0;
      emit(c, { type: 'done', id: m.id, direction: 'up', ms, dryRun: true });
      results.push({ id: m.id, direction: 'up', ms, outcome: 'dry-run' });
    }
  } finally {
    await c.ex.exec('rollback').catch(() => undefined);
  }
  return results;
}

/** `braid down`: rolls back newest first. */
export async function applyDown(
  ex: Executor,
  migrations: readonly SourceMigration[],
  opts: ApplyOptions & { to?: string; steps?: number },
): Promise<ApplyResult> {
  const c = context(ex, migrations, opts);
  return locked(c, async () => {
    const registryUpgraded = await ensureRegistry(ex, opts.provenance.braidVersion, {
      exists: await registryCheck(c),
    });
    const { status } = await statusAfterEnsure(ex, migrations);
    refuseEdited(status, opts.allowEdited);
    await auditAllowEdited(c, status, 'down');
    const plan = planDown(migrations, status, {
      ...(opts.to === undefined ? {} : { to: opts.to }),
      ...(opts.steps === undefined ? {} : { steps: opts.steps }),
    });
    for (const step of plan.steps) {
      const m = c.byId.get(step.id);
      if (!m) {
        throw new UsageError(
          'unknown-migration',
          `cannot roll back ${step.id}: it is applied but unknown to this branch (no down.sql here); check out the branch that has it`,
          { data: { id: step.id } },
        );
      }
      if (m.directives.irreversible || m.files.down === undefined) {
        throw new UsageError(
          'irreversible',
          `cannot roll back ${m.id}: it is marked irreversible (-- braid:irreversible)${m.files.down === undefined ? ' and has no down.sql' : ''}; nothing was rolled back`,
          { data: { id: m.id } },
        );
      }
    }
    // Every restore is prepared (archive found, key checked, decrypted, verified) before the
    // first migration rolls back: a missing key or a damaged archive stops `down` here.
    const restores = new Map<string, (ex: Executor) => Promise<string>>();
    const prepare = opts.backup?.prepareDown;
    if (prepare) {
      for (const step of plan.steps) {
        const r = await prepare(ex, c.byId.get(step.id)!);
        if (r) restores.set(step.id, r);
      }
    }
    const results: StepResult[] = [];
    for (const step of plan.steps) {
      const m = c.byId.get(step.id)!;
      const src: SourceMigration = { ...m, hash: step.checksum };
      emit(c, { type: 'start', id: m.id, direction: 'down' });
      const notes: string[] = [];
      const restore = restores.get(m.id);
      const ms = await completedOnFailure(results, async () => {
        if (step.transactional)
          return runTransactional(c, src, 'down', { notes, ...(restore ? { restore } : {}) });
        const t = await runNoTransaction(c, src, 'down', []);
        // no-transaction: down.sql ran statement by statement; the restore in a transaction of its own
        if (restore) {
          await ex.exec('begin');
          try {
            notes.push(await restore(ex));
            await ex.exec('commit');
          } catch (e) {
            await ex.exec('rollback').catch(() => undefined);
            throw e;
          }
        }
        return t;
      });
      emit(c, { type: 'done', id: m.id, direction: 'down', ms, dryRun: false });
      results.push({
        id: m.id,
        direction: 'down',
        ms,
        outcome: 'rolled-back',
        ...(notes.length ? { note: notes.join('; ') } : {}),
      });
    }
    return { plan, results, dryRun: false, registryUpgraded };
  });
}

/** Throws EnvironmentError for a failure to reach the registry (used by status). */
export function registryUnavailable(label: string, e: unknown): EnvironmentError {
  return new EnvironmentError(
    'registry-unreadable',
    `cannot read braid's registry in ${label}: ${redact(String(e))}`,
  );
}
