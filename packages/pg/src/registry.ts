/**
 * braid's registry (schema `braid` in the target): created and upgraded from the embedded
 * registry migrations (generated from the top-level .migrations/ folder), under braid's
 * advisory lock. A registry newer than this braid is refused (exit 3).
 */
import { EnvironmentError } from '@braid/core';
import { createHash } from 'node:crypto';
import type { Executor } from './executor';
import { PgExecutor } from './executors';
import { quoteLiteral } from './quote';
import { withTransaction } from './lock';
import { REGISTRY_MIGRATIONS } from './registry-migrations';

export { REGISTRY_MIGRATIONS };

export interface AppliedRow {
  id: string;
  checksum: string;
  appliedAt: string;
  historySeq: number;
}

export interface ProgressRow {
  id: string;
  checksum: string;
  statementIndex: number;
  statementHash: string;
}

/** True when the braid schema exists (without creating anything). */
export async function registryExists(ex: Executor): Promise<boolean> {
  const r = await ex.query<{ ok: boolean }>(
    `select to_regclass('braid.registry_migrations') is not null as ok`,
  );
  return Boolean(r.rows[0]?.ok);
}

async function registryIds(ex: Executor, exists?: boolean): Promise<string[]> {
  if (!(exists ?? (await registryExists(ex)))) return [];
  const r = await ex.query<{ id: string }>('select id from braid.registry_migrations order by id');
  return r.rows.map((x) => x.id);
}

/** Refuses a registry that has migrations this braid does not know (a newer braid wrote it). */
function checkNotNewer(ex: Executor, ids: string[]): void {
  const known = new Set(REGISTRY_MIGRATIONS.map((m) => m.id));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new EnvironmentError(
      'registry-newer',
      `the braid registry in ${ex.label} was written by a newer braid (registry migration ${unknown[unknown.length - 1]} is unknown to this version): upgrade braid`,
      { data: { unknownRegistryMigrations: unknown } },
    );
  }
}

/**
 * Creates or upgrades the registry. Call it holding braid's advisory lock. The missing registry
 * migrations run in one transaction with their registry_migrations rows (all or none; four
 * round trips however many there are). `known.exists`: the caller already asked whether the
 * registry exists (saves that round trip).
 */
export async function ensureRegistry(
  ex: Executor,
  braidVersion: string,
  known: { exists?: boolean } = {},
): Promise<string[]> {
  const have = await registryIds(ex, known.exists);
  checkNotNewer(ex, have);
  const done = new Set(have);
  const missing = REGISTRY_MIGRATIONS.filter((m) => !done.has(m.id));
  if (missing.length === 0) return [];
  // begin, the scripts, the rows, commit: separate statements, so that each also stands alone
  // through a transaction pooler (--lock lease)
  await withTransaction(ex, async () => {
    await ex.exec(missing.map((m) => m.up).join('\n;\n'));
    await ex.query(
      'insert into braid.registry_migrations (id, braid_version) select unnest($1::text[]), $2',
      [missing.map((m) => m.id), braidVersion],
    );
  });
  return missing.map((m) => m.id);
}

/** For read-only commands (status): the registry's state without creating it. */
export async function readRegistryState(ex: Executor): Promise<{ exists: boolean; outdated: boolean }> {
  const ids = await registryIds(ex);
  checkNotNewer(ex, ids);
  return { exists: ids.length > 0, outdated: ids.length < REGISTRY_MIGRATIONS.length };
}

/** The applied set. Call only once the registry is known to exist (readRegistryState, ensureRegistry). */
export async function readApplied(ex: Executor): Promise<AppliedRow[]> {
  const r = await ex.query<{ id: string; checksum: string; applied_at: string; history_seq: string }>(
    'select id, checksum, applied_at::text as applied_at, history_seq from braid.applied order by history_seq',
  );
  return r.rows.map((x) => ({
    id: x.id,
    checksum: x.checksum,
    appliedAt: x.applied_at,
    historySeq: Number(x.history_seq),
  }));
}

/**
 * readApplied and readProgress in one round trip (the apply engine reads both before it starts).
 * Call only once the registry is known to exist.
 */
export async function readAppliedAndProgress(
  ex: Executor,
): Promise<{ applied: AppliedRow[]; progress: ProgressRow[] }> {
  const r = await ex.query<{ applied: unknown; progress: unknown }>(
    `select (select coalesce(json_agg(json_build_array(id, checksum, applied_at::text, history_seq) order by history_seq), '[]')
               from braid.applied) as applied,
            (select coalesce(json_agg(json_build_array(id, checksum, statement_index, statement_hash) order by id, statement_index), '[]')
               from braid.progress) as progress`,
  );
  // json arrives parsed from pg and PGlite; accept text too
  const rows = (v: unknown): unknown[][] => (typeof v === 'string' ? JSON.parse(v) : v) as unknown[][];
  const row = r.rows[0];
  return {
    applied: rows(row?.applied ?? []).map((x) => ({
      id: String(x[0]),
      checksum: String(x[1]),
      appliedAt: String(x[2]),
      historySeq: Number(x[3]),
    })),
    progress: rows(row?.progress ?? []).map((x) => ({
      id: String(x[0]),
      checksum: String(x[1]),
      statementIndex: Number(x[2]),
      statementHash: String(x[3]),
    })),
  };
}

/** Progress of no-transaction migrations. Call only once the registry is known to exist. */
export async function readProgress(ex: Executor): Promise<ProgressRow[]> {
  const r = await ex.query<{ id: string; checksum: string; statement_index: number; statement_hash: string }>(
    'select id, checksum, statement_index, statement_hash from braid.progress order by id, statement_index',
  );
  return r.rows.map((x) => ({
    id: x.id,
    checksum: x.checksum,
    statementIndex: Number(x.statement_index),
    statementHash: x.statement_hash,
  }));
}

/** Who runs braid: recorded with every history and audit row. */
export interface Provenance {
  braidVersion: string;
  gitAuthorName?: string;
  gitAuthorEmail?: string;
  gitCommit?: string;
  /** Set by `braid promote`: the branch, the manifest's hash and the environment name. */
  gitBranch?: string;
  manifestHash?: string;
  environment?: string;
  /** Set by `braid rollout`: the rollout id and the target's name (registry v3 columns). */
  rolloutId?: string;
  target?: string;
}

export interface HistoryEntry {
  id: string;
  checksum: string;
  direction: 'up' | 'down';
  durationMs: number;
}

/** The statement recordHistory runs: parameters $1…$n and their values. */
function historyStatement(
  // historySql passes an SQL expression for the duration, measured by the server
  e: Omit<HistoryEntry, 'durationMs'> & { durationMs: number | { sql: string } },
  p: Provenance,
  opts: { auditOk?: boolean },
): { text: string; values: (string | number | null | { sql: string })[] } {
  // One statement (data-modifying CTEs): the history row, the applied set and, for a success,
  // its audit row change together, in one round trip.
  const audit = opts.auditOk
    ? `, a as (
         insert into braid.audit (id, direction, outcome, checksum, duration_ms, git_author_name, git_author_email, git_commit, braid_version${promoteCols(p)}${rolloutCols(p)})
         values ($1, $3, 'ok', $2, $4, $5, $6, $7, $8${promoteVals(p, 9)}${rolloutVals(p, 9 + promoteParams(p).length)})
       )`
    : '';
  const applied =
    e.direction === 'up'
      ? 'insert into braid.applied (id, checksum, history_seq) select $1, $2, seq from h'
      : 'delete from braid.applied where id = $1 and exists (select 1 from h)';
  const text = `with h as (
       insert into braid.history (id, checksum, direction, duration_ms, git_author_name, git_author_email, git_commit, braid_version${promoteCols(p)}${rolloutCols(p)})
       values ($1, $2, $3, $4, $5, $6, $7, $8${promoteVals(p, 9)}${rolloutVals(p, 9 + promoteParams(p).length)}) returning seq
     )${audit}
     ${applied}`;
  const values = [
    e.id,
    e.checksum,
    e.direction,
    typeof e.durationMs === 'number' ? Math.round(e.durationMs) : e.durationMs,
    p.gitAuthorName ?? null,
    p.gitAuthorEmail ?? null,
    p.gitCommit ?? null,
    p.braidVersion,
    ...promoteParams(p),
    ...rolloutParams(p),
  ];
  return { text, values };
}

/** Appends a history row and updates braid.applied. Run inside the migration's transaction. */
export async function recordHistory(
  ex: Executor,
  e: HistoryEntry,
  p: Provenance,
  opts: { auditOk?: boolean; prepared?: boolean } = {},
): Promise<void> {
  const { text, values } = historyStatement(e, p, opts);
  // One history statement per migration: prepared once per session on a server session that is
  // known not to be behind a pooler (the caller says so)
  if (opts.prepared && ex instanceof PgExecutor) {
    await ex.queryNamed(
      `braid_history_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`,
      text,
      values,
    );
  } else {
    await ex.query(text, values);
  }
}

/**
 * recordHistory's statement with its values inlined as literals, for a simple-query string that
 * ends a migration's transaction in the same round trip as its file. The duration is measured by
 * the server: from the start of that string to this statement.
 */
export function historySql(
  e: Omit<HistoryEntry, 'durationMs'>,
  p: Provenance,
  opts: { auditOk?: boolean },
): string {
  const durationMs = { sql: '(extract(epoch from clock_timestamp() - statement_timestamp()) * 1000)::int' };
  const { text, values } = historyStatement({ ...e, durationMs }, p, opts);
  return text.replace(/\$(\d+)\b/g, (_m, n: string) => {
    const v = values[Number(n) - 1];
    if (v === undefined) throw new Error(`historySql: no value for $${n}`);
    return typeof v === 'object' && v !== null ? v.sql : quoteLiteral(v);
  });
}

export interface AuditEntry {
  id: string | null;
  direction: string;
  outcome:
    | 'ok'
    | 'failed'
    | 'dry-run'
    | 'allow-edited'
    | 'index-rebuilt'
    | 'health-ok'
    | 'health-failed'
    | 'rolled-back';
  checksum?: string | null;
  durationMs?: number | null;
  statement?: string | null;
  error?: string | null;
  sqlstate?: string | null;
  /** Why (a health check's failure, a rollback-on-failure); registry v3. */
  reason?: string | null;
}

export async function recordAudit(ex: Executor, a: AuditEntry, p: Provenance): Promise<void> {
  // reason is a registry v3 column: only named when set (rollout rows; the registry is v3 then).
  const reason = a.reason != null;
  const first = 13 + promoteParams(p).length;
  await ex.query(
    `insert into braid.audit (id, direction, outcome, checksum, duration_ms, statement, error, sqlstate,
                              git_author_name, git_author_email, git_commit, braid_version${promoteCols(p)}${rolloutCols(p)}${reason ? ', reason' : ''})
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12${promoteVals(p, 13)}${rolloutVals(p, first)}${reason ? `, $${first + rolloutParams(p).length}` : ''})`,
    [
      a.id,
      a.direction,
      a.outcome,
      a.checksum ?? null,
      a.durationMs == null ? null : Math.round(a.durationMs),
      a.statement ?? null,
      a.error ?? null,
      a.sqlstate ?? null,
      p.gitAuthorName ?? null,
      p.gitAuthorEmail ?? null,
      p.gitCommit ?? null,
      p.braidVersion,
      ...promoteParams(p),
      ...rolloutParams(p),
      ...(reason ? [a.reason] : []),
    ],
  );
}

// Promotion provenance columns (registry migration 20261125170000_lease): only written when set,
// so plain up/down keep working on the same statements as before.
const hasPromote = (p: Provenance): boolean =>
  p.gitBranch !== undefined || p.manifestHash !== undefined || p.environment !== undefined;
function promoteCols(p: Provenance): string {
  return hasPromote(p) ? ', git_branch, manifest_hash, environment' : '';
}
function promoteVals(p: Provenance, first: number): string {
  return hasPromote(p) ? `, $${first}, $${first + 1}, $${first + 2}` : '';
}
function promoteParams(p: Provenance): (string | null)[] {
  return hasPromote(p) ? [p.gitBranch ?? null, p.manifestHash ?? null, p.environment ?? null] : [];
}

// Rollout provenance columns (registry migration 20261125180000_rollout): only written when set.
const hasRollout = (p: Provenance): boolean => p.rolloutId !== undefined || p.target !== undefined;
function rolloutCols(p: Provenance): string {
  return hasRollout(p) ? ', rollout_id, target' : '';
}
function rolloutVals(p: Provenance, first: number): string {
  return hasRollout(p) ? `, $${first}, $${first + 1}` : '';
}
function rolloutParams(p: Provenance): (string | null)[] {
  return hasRollout(p) ? [p.rolloutId ?? null, p.target ?? null] : [];
}
