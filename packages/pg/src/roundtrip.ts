/**
 * `braid test`: round trips on ONE shadow connection (a PGlite instance or a temporary database
 * on a server).
 *
 * For each tested migration, in manifest order, every step committed as `braid up` and
 * `braid down` commit it (one transaction each; `-- braid:no-transaction` migrations statement
 * by statement outside a transaction, as `braid up` runs them):
 *   up.sql + verify.sql -> schema S1; down.sql -> schema must equal S0 (the one before up);
 *   up.sql + verify.sql again -> schema must equal S1.
 * Committing matters: `ALTER TYPE ... ADD VALUE` followed by a down.sql that uses the new value,
 * a deferred constraint checked at COMMIT, "pending trigger events": one transaction (or
 * savepoints) around the three steps would give verdicts that braid up/down never produce.
 *
 * A failing up.sql is rolled back and the run continues without it; later failures that touch
 * what it would have created are labelled as its consequences. A failing down.sql is rolled
 * back, which leaves the shadow in S1. When down.sql and the second up.sql leave anything but S1
 * (a re-up that fails or differs, a no-transaction step stopped part-way), the shadow is rebuilt
 * (`RoundTripOptions.rebuild`: a new database with the migrations applied so far), so that every
 * migration is tested on the schema it was written for. scripts/fidelity/psql-loop.mjs runs the
 * same loop with psql and pg_dump only; the two agree migration for migration.
 *
 * Migrations before the first tested one are applied (up only) first; untested migrations
 * between tested ones are applied too. The shadow carries no braid registry: nothing to ignore.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import {
  describeDownDiff,
  describeReupDiff,
  diffSchemas,
  displayKey,
  EnvironmentError,
  FindingsError,
  isEmptyDiff,
  statusOf,
  summarizePlan,
  versionText,
  type DataReport,
  type PlanNode,
  type PlanSummary,
  type SeedShape,
  type EngineRun,
  type MeasuredImpact,
  type MigrationTestResult,
  type SchemaModel,
  type TestProblem,
  type Touch,
  ConsequenceTracker,
  touchesOf,
} from '@braid/core';
import {
  analyzeFile,
  backupTargets,
  dataAtRisk,
  loadParser,
  lockRank,
  LOCK_LEVELS,
  splitStatements,
  type LockLevel,
} from '@braid/sql';
import type { SourceMigration } from './apply';
import type { Executor } from './executor';
import { connectPg, openPGlite } from './executors';
import { openPGliteFrom, replaySchema, type ShadowSpec } from './shadow';
import { introspect } from './introspect';
import { codePointPositionToIndex, errorSnippet, locate, pgErrorInfo } from './pgerror';
import { quoteIdent } from './quote';
import { copyTargets, resolveTargets, restoreTables } from './backup';
import type { ArchiveHeader } from '@braid/core';
import type { StatsSource } from './stats';

export type RoundTripEvent =
  | { type: 'prefix'; done: number; total: number; id: string }
  | { type: 'tested'; done: number; total: number; result: MigrationTestResult };

export interface RoundTripOptions {
  /** Folder label for error locations, default ".migrations". */
  dirLabel?: string;
  /** Measure tables rewritten and indexes built (two catalog queries per migration); default true. */
  impact?: boolean;
  /** Fill every empty table with this many generated rows before each tested migration. */
  seed?: number;
  /**
   * With `seed`: planner statistics of a real database (--stats-from) that shape the generated
   * rows per table and column; `seed` is then the cap on rows per table, and `seedDefault` the
   * rows of a table the statistics do not know.
   */
  stats?: StatsSource;
  seedDefault?: number;
  /**
   * `braid test --data` (docs/backups.md): with `seed`, the data each migration puts at risk is
   * copied before up.sql (as `braid up --backup all` would), put back after down.sql (as
   * `braid down` does), and the row fingerprints of every affected table compared: rows the
   * rollback still loses are reported with the table and the count.
   */
  restoreData?: boolean;
  /**
   * Queries to EXPLAIN before and after each tested migration's up.sql (`label` e.g. q.sql:3).
   * `params` > 0 (a pg_stat_statements text with $1…): planned as a generic plan.
   */
  queries?: RoundTripQuery[];
  /** Report a plan whose total cost grows by more than this factor (default 2). */
  planThreshold?: number;
  /** The shadow already holds every migration before the first tested one (openPrefixedShadow). */
  prefixApplied?: boolean;
  /**
   * Opens a new shadow holding exactly `applied` (their up.sql, in order) and returns its
   * session; `prefixApplied` false: it is empty and runRoundTrips applies them. The caller owns
   * every shadow it opens (closes the previous one here, the last one after the run). Without
   * it, a round trip that leaves the shadow in another state than S1 is followed by the next
   * migration on that state (said in the notes).
   */
  rebuild?: (applied: readonly SourceMigration[]) => Promise<{ ex: Executor; prefixApplied: boolean }>;
  onEvent?: (e: RoundTripEvent) => void;
}

export interface RoundTripQuery {
  label: string;
  text: string;
  params?: number;
}

/** A statement (or file) failure, located in its file. */
class StepFailure extends Error {
  constructor(readonly problem: Omit<TestProblem, 'category'>) {
    super(problem.message);
  }
}

function located(
  file: string,
  text: string,
  e: unknown,
  stmt?: { text: string; charStart: number },
): StepFailure {
  const info = pgErrorInfo(e);
  if (!info) {
    const msg = e instanceof Error ? e.message : String(e);
    return new StepFailure({ message: `${file}: ${msg}`, file });
  }
  let idx: number | undefined;
  if (stmt) {
    idx =
      info.position !== undefined
        ? stmt.charStart + codePointPositionToIndex(stmt.text, info.position)
        : stmt.charStart;
  } else if (info.position !== undefined) {
    idx = codePointPositionToIndex(text, info.position);
  }
  const loc = idx === undefined ? undefined : locate(file, text, idx);
  const message = `${loc ? `${loc.file}:${loc.line}:${loc.col}` : file}: ${info.message}${info.code ? ` (SQLSTATE ${info.code})` : ''}`;
  return new StepFailure({
    message,
    file,
    ...(loc ? { line: loc.line, column: loc.col } : {}),
    ...(info.code ? { sqlstate: info.code } : {}),
    snippet: errorSnippet(loc, info),
  });
}

/** Runs a file statement by statement on the current session, errors located as file:line:col. */
async function runFile(ex: Executor, file: string, text: string): Promise<void> {
  let stmts: { text: string; charStart: number }[] | undefined;
  try {
    stmts = splitStatements(text);
  } catch {
    stmts = undefined;
  }
  if (!stmts) {
    try {
      await ex.exec(text);
    } catch (e) {
      throw located(file, text, e);
    }
    return;
  }
  for (const st of stmts) {
    try {
      await ex.exec(st.text);
    } catch (e) {
      throw located(file, text, e, st);
    }
  }
}

interface RelRow {
  oid: string;
  fn: string;
  kind: string;
  name: string;
  tbl: string;
}

const Q_RELS = `
select c.oid::text as oid, c.relfilenode::text as fn, c.relkind::text as kind,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name,
       coalesce(i.indrelid, 0)::text as tbl
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  left join pg_index i on i.indexrelid = c.oid
 where c.relkind in ('r', 'm', 'i')
   and n.nspname not in ('pg_catalog', 'information_schema', 'braid')
   and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'`;

async function relations(ex: Executor): Promise<Map<string, RelRow>> {
  const r = await ex.query<RelRow>(Q_RELS);
  return new Map(r.rows.map((x) => [x.oid, x]));
}

const Q_LOCKS = `
select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name, l.mode
  from pg_locks l
  join pg_class c on c.oid = l.relation
  join pg_namespace n on n.oid = c.relnamespace
 where l.pid = pg_backend_pid() and l.granted and l.locktype = 'relation'
   and c.relkind in ('r', 'p', 'm')
   and n.nspname not in ('pg_catalog', 'information_schema', 'braid')
   and n.nspname not like 'pg\\_%'`;

/** The relation locks this session holds: "name mode" pairs. */
async function heldLocks(ex: Executor): Promise<Set<string>> {
  const r = await ex.query<{ name: string; mode: string }>(Q_LOCKS);
  return new Set(r.rows.map((x) => `${x.name}\u0000${x.mode}`));
}

/** AccessExclusiveLock -> ACCESS EXCLUSIVE. */
function lockLevelOf(mode: string): LockLevel | undefined {
  const words = mode
    .replace(/Lock$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
  return (LOCK_LEVELS as readonly string[]).includes(words) ? (words as LockLevel) : undefined;
}

function stronger(a: LockLevel | undefined, b: LockLevel | undefined): LockLevel | undefined {
  if (!a) return b;
  if (!b) return a;
  return lockRank(a) >= lockRank(b) ? a : b;
}

const bare = (name: string): string => name.replace(/"/g, '');

/** The strongest lock the static analysis predicts per table for up.sql. */
function predictedLocks(m: SourceMigration, pgVersion: number): Map<string, LockLevel> {
  const out = new Map<string, LockLevel>();
  try {
    const f = analyzeFile(`${m.id}/up.sql`, m.files.up, { pgVersion: Math.floor(pgVersion / 10000) });
    for (const st of f.statements) {
      for (const e of st.locks.effects) {
        const k = bare(e.object);
        out.set(k, stronger(out.get(k), e.lock)!);
      }
    }
  } catch {
    // no prediction
  }
  return out;
}

/** Observed (new locks since `l0`) vs predicted, on tables that existed before up.sql. */
function lockImpact(
  l0: Set<string>,
  l1: Set<string>,
  existing: Set<string>,
  predicted: Map<string, LockLevel>,
): { locks: NonNullable<MeasuredImpact['locks']>; disagreements: string[] } {
  const observed = new Map<string, LockLevel>();
  for (const key of l1) {
    if (l0.has(key)) continue;
    const [name, mode] = key.split('\u0000');
    if (!existing.has(name)) continue;
    const lvl = lockLevelOf(mode);
    if (lvl) observed.set(name, stronger(observed.get(name), lvl)!);
  }
  const tables = new Set([...observed.keys()]);
  for (const [t] of predicted) {
    const match = [...existing].find((e) => bare(e) === t);
    if (match) tables.add(match);
  }
  const locks: NonNullable<MeasuredImpact['locks']> = [];
  const disagreements: string[] = [];
  for (const t of [...tables].sort()) {
    const o = observed.get(t) ?? null;
    const p = predicted.get(bare(t)) ?? null;
    locks.push({ table: t, observed: o, predicted: p });
    if (o && p && o !== p) {
      disagreements.push(`${displayKey(t)}: took ${o}, predicted ${p}`);
    } else if (o && !p && lockRank(o) > lockRank('ROW EXCLUSIVE')) {
      disagreements.push(`${displayKey(t)}: took ${o}, not predicted`);
    }
  }
  return { locks, disagreements };
}

function impactOf(before: Map<string, RelRow>, after: Map<string, RelRow>, upMs: number): MeasuredImpact {
  const rewritten: string[] = [];
  const indexesBuilt: string[] = [];
  for (const [oid, a] of after) {
    const b = before.get(oid);
    if (a.kind === 'i') {
      // An index built on a table that existed before up.sql (new tables' indexes are empty).
      const onOldTable = before.has(a.tbl);
      if ((!b && onOldTable) || (b && b.fn !== a.fn)) indexesBuilt.push(a.name);
    } else if (b && b.fn !== a.fn) {
      rewritten.push(a.name);
    }
  }
  return { upMs: Math.round(upMs * 10) / 10, rewritten: rewritten.sort(), indexesBuilt: indexesBuilt.sort() };
}

interface Ctx {
  /** The shadow's session; replaced when the shadow is rebuilt (see RoundTripOptions.rebuild). */
  ex: Executor;
  dir: string;
  impact: boolean;
  seed?: SeedPlan;
  queries?: RoundTripQuery[];
  planThreshold: number;
  restoreData?: boolean;
}

function fileOf(c: Ctx, m: SourceMigration, name: string): string {
  return `${c.dir}/${m.id}/${name}`;
}

/** up.sql then verify.sql (if any). */
async function runUp(c: Ctx, m: SourceMigration): Promise<void> {
  await runFile(c.ex, fileOf(c, m, 'up.sql'), m.files.up);
  if (m.files.verify !== undefined) await runFile(c.ex, fileOf(c, m, 'verify.sql'), m.files.verify);
}

/**
 * A read-only look at the shadow inside a transaction of its own: between the committed steps
 * there is none, and PGlite answers catalog queries several times faster inside one (≈40 ms vs
 * ≈300 ms per introspection).
 */
async function inTx<T>(ex: Executor, fn: () => Promise<T>): Promise<T> {
  await ex.exec('begin');
  try {
    return await fn();
  } finally {
    await ex.exec('rollback').catch(() => undefined);
  }
}

/** The schema model of the shadow now (see inTx). */
function inspect(ex: Executor): Promise<SchemaModel> {
  return inTx(ex, () => introspect(ex));
}

/**
 * One committed step, as `braid up` and `braid down` run a transactional migration: `begin`, the
 * step, `commit`. A failing statement, or a failing COMMIT (a deferred constraint or trigger),
 * rolls the step back and is thrown (a COMMIT failure as a StepFailure naming `file`).
 */
async function committed(c: Ctx, file: string, step: () => Promise<void>): Promise<void> {
  await c.ex.exec('begin');
  try {
    await step();
  } catch (e) {
    await c.ex.exec('rollback').catch(() => undefined);
    throw e;
  }
  try {
    await c.ex.exec('commit');
  } catch (e) {
    await c.ex.exec('rollback').catch(() => undefined);
    const info = pgErrorInfo(e);
    throw new StepFailure({
      message: `${file}: at COMMIT: ${info?.message ?? (e instanceof Error ? e.message : String(e))}${info?.code ? ` (SQLSTATE ${info.code})` : ''}`,
      file,
      ...(info?.code ? { sqlstate: info.code } : {}),
    });
  }
}

/** Runs a step of migration `m` the way braid runs it: committed, or bare for no-transaction. */
function asBraidRuns(c: Ctx, m: SourceMigration, file: string, step: () => Promise<void>): Promise<void> {
  return m.directives.noTransaction ? step() : committed(c, file, step);
}

/** Applies a migration without testing it (the prefix, or untested migrations in between). */
async function applyOnly(c: Ctx, m: SourceMigration): Promise<void> {
  try {
    await asBraidRuns(c, m, fileOf(c, m, 'up.sql'), () => runUp(c, m));
  } catch (e) {
    if (e instanceof StepFailure) {
      throw new FindingsError(
        'untested-migration-failed',
        `${e.problem.message} (while applying ${m.id}, which is not tested but comes before a tested migration)`,
        { data: { id: m.id, ...e.problem } },
      );
    }
    throw e;
  }
}

function problem(category: TestProblem['category'], e: unknown): TestProblem {
  if (e instanceof StepFailure) return { category, ...e.problem };
  return { category, message: e instanceof Error ? e.message : String(e) };
}

function differs(
  category: 'down-differs' | 'reup-differs',
  c: Ctx,
  m: SourceMigration,
  from: SchemaModel,
  to: SchemaModel,
): TestProblem | undefined {
  const d = diffSchemas(from, to);
  if (isEmptyDiff(d)) return undefined;
  const differences = category === 'down-differs' ? describeDownDiff(d) : describeReupDiff(d);
  const n = d.changes.length;
  return {
    category,
    message:
      category === 'down-differs'
        ? `${fileOf(c, m, 'down.sql')} does not restore the schema from before up.sql (${n} object${n === 1 ? ' differs' : 's differ'})`
        : `${fileOf(c, m, 'up.sql')} run again after down.sql gives a different schema (${n} object${n === 1 ? ' differs' : 's differ'})`,
    differences,
    changes: d.changes,
  };
}

/**
 * Where the shadow must be after a round trip: as it is ('kept'), or rebuilt because the state
 * it is in is not the one the next migration was written for: 'after-up' (down.sql and up.sql
 * again left something else than S1) or 'before-up' (a no-transaction up.sql stopped part-way).
 */
type Rebuild = 'kept' | 'after-up' | 'before-up';

interface RoundTrip {
  result: MigrationTestResult;
  /** The schema the shadow is in now (when kept). */
  state: SchemaModel;
  rebuild: Rebuild;
}

/**
 * One round trip of a transactional migration, every step committed as `braid up` and
 * `braid down` commit it: up.sql + verify.sql (one transaction) -> S1; down.sql (one
 * transaction) -> must equal S0; up.sql + verify.sql again (one transaction) -> must equal S1.
 */
async function roundTripTx(c: Ctx, m: SourceMigration, s0: SchemaModel): Promise<RoundTrip> {
  const t0 = performance.now();
  const problems: TestProblem[] = [];
  const notes: string[] = [];
  const irreversible = m.directives.irreversible;
  let impact: MeasuredImpact | undefined;
  let data: DataReport | undefined;
  let d0: DataSnapshot | undefined;
  let planChanges: string[] | undefined;
  let afterPlans: (PlanSummary | undefined)[] | undefined;
  const upFile = fileOf(c, m, 'up.sql');
  let s1: SchemaModel;
  let saved: SavedData | undefined;
  const order0 = await inTx(c.ex, () => columnOrders(c.ex));
  try {
    const seedPlan = c.seed;
    if (seedPlan) {
      // The rows are committed before up.sql runs: data the migration finds, as in production.
      await committed(c, upFile, async () => {
        data = { ...(await seed(c.ex, seedPlan)), lost: [], notRestored: [] };
      });
      d0 = await dataSnapshot(c.ex);
    }
    await committed(c, upFile, async () => {
      const p0 = c.queries ? await plans(c.ex, c.queries) : undefined;
      const before = c.impact ? await relations(c.ex) : undefined;
      const l0 = c.impact ? await heldLocks(c.ex) : undefined;
      if (c.restoreData && data) saved = await saveAtRisk(c.ex, m);
      const u0 = performance.now();
      await runUp(c, m);
      const upMs = performance.now() - u0;
      if (before && l0) {
        const l1 = await heldLocks(c.ex);
        impact = impactOf(before, await relations(c.ex), upMs);
        const existing = new Set([...before.values()].filter((r) => r.kind !== 'i').map((r) => r.name));
        Object.assign(impact, lockImpact(l0, l1, existing, predictedLocks(m, c.ex.serverVersionNum)));
      }
      if (data && d0) data.lost = dataLoss(d0, await dataSnapshot(c.ex), 'up');
      if (p0 && c.queries) {
        if (data && seedPlan) {
          // Tables up.sql created are filled now (not only before the next migration), so the
          // plans after up.sql (and their baselines) see data.
          const more = await seed(c.ex, seedPlan);
          data.seeded.push(...more.seeded);
          data.notSeeded.push(...more.notSeeded);
          if (more.shape) data.shape = [...(data.shape ?? []), ...more.shape];
        }
        afterPlans = await plans(c.ex, c.queries);
        planChanges = comparePlans(c.queries, p0, afterPlans, c.planThreshold);
      }
    });
    s1 = await inspect(c.ex);
  } catch (e) {
    problems.push(problem('up-fails', e));
    notes.push('up.sql was rolled back; the following migrations run without it');
    return { result: finish(m, problems, notes, t0, impact, data), state: s0, rebuild: 'kept' };
  }
  let rebuild: Rebuild = 'kept';
  const order: string[] = [];
  if (!irreversible && m.files.down === undefined) {
    problems.push({
      category: 'down-fails',
      message: `${fileOf(c, m, 'down.sql')} does not exist and the migration is not marked -- braid:irreversible`,
      file: fileOf(c, m, 'down.sql'),
    });
  } else if (!irreversible) {
    rebuild = await downAndReup(c, m, { s0, s1, order0 }, problems, order, async () => {
      if (saved && data) {
        const d = data;
        const s = saved;
        await committed(c, fileOf(c, m, 'down.sql'), async () => {
          const r = await putBack(c.ex, s);
          notes.push(...r.notes);
          d.notRestored.push(...r.lost);
        });
        if (lostAlready(data)) return;
      }
      if (data && d0) data.notRestored.push(...dataLoss(d0, await dataSnapshot(c.ex), 'down'));
    });
  }
  const result = finish(m, problems, notes, t0, impact, data);
  if (order.length > 0) result.columnOrder = order;
  if (planChanges) result.planChanges = planChanges;
  if (afterPlans && c.queries) {
    const qs = c.queries;
    result.plans = afterPlans.map((p, i) => ({ label: qs[i].label, plan: p ?? null }));
  }
  return { result, state: s1, rebuild };
}

/**
 * down.sql, then up.sql again, each as braid runs it (committed, or bare for no-transaction).
 * Returns whether the shadow is still in S1 ('kept': down.sql failed and was rolled back, or the
 * re-up gave S1 again) or must be rebuilt.
 */
async function downAndReup(
  c: Ctx,
  m: SourceMigration,
  before: { s0: SchemaModel; s1: SchemaModel; order0: ColumnOrders },
  problems: TestProblem[],
  order: string[],
  afterDown?: () => Promise<void>,
): Promise<Rebuild> {
  const downFile = fileOf(c, m, 'down.sql');
  try {
    await asBraidRuns(c, m, downFile, () => runFile(c.ex, downFile, m.files.down ?? ''));
  } catch (e) {
    problems.push(problem('down-fails', e));
    // A transactional down.sql was rolled back: the shadow is in S1 again.
    return m.directives.noTransaction ? 'after-up' : 'kept';
  }
  await afterDown?.();
  const sDown = await inspect(c.ex);
  const dd = differs('down-differs', c, m, before.s0, sDown);
  if (dd) problems.push(dd);
  else order.push(...columnOrderChanges(before.order0, await inTx(c.ex, () => columnOrders(c.ex))));
  try {
    await asBraidRuns(c, m, fileOf(c, m, 'up.sql'), () => runUp(c, m));
  } catch (e) {
    const p = problem('reup-fails', e);
    if (dd) p.message += ' (after a down.sql that does not restore the schema, see above)';
    problems.push(p);
    return 'after-up';
  }
  const sReup = await inspect(c.ex);
  const rd = differs('reup-differs', c, m, before.s1, sReup);
  if (rd) {
    problems.push(rd);
    return 'after-up';
  }
  return 'kept';
}

/** A no-transaction migration: statements in autocommit, as `braid up` runs them. */
async function roundTripNoTx(c: Ctx, m: SourceMigration, s0: SchemaModel): Promise<RoundTrip> {
  const t0 = performance.now();
  const problems: TestProblem[] = [];
  const notes: string[] = [];
  let impact: MeasuredImpact | undefined;
  let data: DataReport | undefined;
  let d0: DataSnapshot | undefined;
  const order0 = await inTx(c.ex, () => columnOrders(c.ex));
  const seedPlan = c.seed;
  if (seedPlan) {
    await committed(c, fileOf(c, m, 'up.sql'), async () => {
      data = { ...(await seed(c.ex, seedPlan)), lost: [], notRestored: [] };
    });
    d0 = await dataSnapshot(c.ex);
  }
  const before = c.impact ? await relations(c.ex) : undefined;
  const u0 = performance.now();
  try {
    await runUp(c, m);
  } catch (e) {
    problems.push(problem('up-fails', e));
    notes.push('no-transaction: up.sql stopped part-way; the following migrations run without it');
    return { result: finish(m, problems, notes, t0, impact, data), state: s0, rebuild: 'before-up' };
  }
  const upMs = performance.now() - u0;
  if (before) impact = impactOf(before, await relations(c.ex), upMs);
  if (data && d0) data.lost = dataLoss(d0, await dataSnapshot(c.ex), 'up');
  const s1 = await inspect(c.ex);
  if (m.directives.irreversible)
    return { result: finish(m, problems, notes, t0, impact, data), state: s1, rebuild: 'kept' };
  if (m.files.down === undefined) {
    problems.push({
      category: 'down-fails',
      message: `${fileOf(c, m, 'down.sql')} does not exist and the migration is not marked -- braid:irreversible`,
    });
    return { result: finish(m, problems, notes, t0, impact, data), state: s1, rebuild: 'kept' };
  }
  const order: string[] = [];
  const rebuild = await downAndReup(c, m, { s0, s1, order0 }, problems, order, async () => {
    if (data && d0) data.notRestored = dataLoss(d0, await dataSnapshot(c.ex), 'down');
  });
  const result = finish(m, problems, notes, t0, impact, data);
  if (order.length > 0) result.columnOrder = order;
  return { result, state: s1, rebuild };
}

function finish(
  m: SourceMigration,
  problems: TestProblem[],
  notes: string[],
  t0: number,
  impact: MeasuredImpact | undefined,
  data?: DataReport,
): MigrationTestResult {
  const losing = data ? data.lost.length + data.notRestored.length > 0 : false;
  return {
    id: m.id,
    status: statusOf(problems, m.directives.irreversible),
    problems,
    ms: Math.round((performance.now() - t0) * 10) / 10,
    notes,
    ...(impact ? { impact } : {}),
    ...(data ? { data, dataLosing: losing } : {}),
  };
}

/**
 * SQLSTATEs that no earlier migration can cause: a syntax error (often syntax of a newer
 * PostgreSQL), a feature the engine lacks, a missing privilege. Such a failure is a finding of
 * its own even after an earlier up.sql failed.
 */
const NEVER_A_CONSEQUENCE = new Set(['42601', '0A000', '42501']);

function mayFollowFromState(p: TestProblem): boolean {
  return !(p.sqlstate && NEVER_A_CONSEQUENCE.has(p.sqlstate));
}

/** What each migration touches (up.sql and down.sql), for labelling follow-on failures. */
function touchesOfMigration(m: SourceMigration, pgVersion: number, files: ('up' | 'down')[]): Touch[] {
  const out: Touch[] = [];
  for (const f of files) {
    const text = f === 'up' ? m.files.up : m.files.down;
    if (text === undefined) continue;
    try {
      const a = analyzeFile(`${m.id}/${f}.sql`, text, { pgVersion: Math.floor(pgVersion / 10000) });
      for (const st of a.statements)
        out.push(...touchesOf({ id: m.id, line: st.line, footprint: st.footprint }));
    } catch {
      // unparsable: no touches (never labelled a consequence)
    }
  }
  return out;
}

/**
 * Round-trips the migrations whose ids are in `tested` (manifest order), on `ex`, which must be
 * an empty database. `migrations` is the whole manifest: the ones before the first tested
 * migration are applied first.
 */
export async function runRoundTrips(
  ex: Executor,
  migrations: readonly SourceMigration[],
  tested: ReadonlySet<string>,
  opts: RoundTripOptions = {},
): Promise<EngineRun> {
  const t0 = performance.now();
  const c: Ctx = {
    ex,
    dir: opts.dirLabel ?? '.migrations',
    impact: opts.impact ?? true,
    ...(opts.seed
      ? {
          seed: {
            rows: opts.seed,
            ...(opts.stats ? { stats: opts.stats, defaultRows: opts.seedDefault ?? opts.seed } : {}),
          },
        }
      : {}),
    ...(opts.queries && opts.queries.length > 0 ? { queries: opts.queries } : {}),
    planThreshold: opts.planThreshold ?? 2,
    ...(opts.restoreData ? { restoreData: true } : {}),
  };
  const first = migrations.findIndex((m) => tested.has(m.id));
  let last = -1;
  migrations.forEach((m, i) => {
    if (tested.has(m.id)) last = i;
  });
  const results: MigrationTestResult[] = [];
  const run: EngineRun = {
    engine: ex.engine,
    serverVersion: versionText(ex.serverVersionNum),
    serverVersionNum: ex.serverVersionNum,
    prefix: Math.max(first, 0),
    results,
    ms: 0,
  };
  if (first < 0) return run;
  await loadParser();
  /** The migrations whose up.sql is applied on the shadow now, in order (what a rebuild replays). */
  const applied: SourceMigration[] = migrations.slice(0, first);
  for (let i = 0; i < first && !opts.prefixApplied; i++) {
    await applyOnly(c, migrations[i]);
    opts.onEvent?.({ type: 'prefix', done: i + 1, total: first, id: migrations[i].id });
  }
  let state = await inspect(c.ex);
  const total = tested.size;
  const consequences = new ConsequenceTracker();
  let rebuilds = 0;
  for (let i = first; i <= last; i++) {
    const m = migrations[i];
    if (!tested.has(m.id)) {
      await applyOnly(c, m);
      applied.push(m);
      state = await inspect(c.ex);
      continue;
    }
    const r = m.directives.noTransaction ? await roundTripNoTx(c, m, state) : await roundTripTx(c, m, state);
    const upFailed = r.result.status === 'up-fails';
    if (!upFailed) applied.push(m);
    state = r.state;
    if (r.rebuild !== 'kept' && i < last) {
      if (opts.rebuild) {
        const fresh = await opts.rebuild(applied);
        c.ex = fresh.ex;
        if (!fresh.prefixApplied) for (const a of applied) await applyOnly(c, a);
        state = await inspect(c.ex);
        rebuilds++;
        r.result.notes.push(
          `continued from the state ${r.rebuild === 'after-up' ? 'after up.sql' : 'before up.sql'} (the shadow was rebuilt: ${applied.length} migration${applied.length === 1 ? '' : 's'} replayed)`,
        );
      } else {
        state = await inspect(c.ex);
        r.result.notes.push('the following migrations run on the state this round trip left');
      }
    } else if (r.result.problems.length > 0 && !upFailed && i < last) {
      r.result.notes.push('continued from the state after up.sql');
    }
    if (r.result.problems.length > 0 && !consequences.empty && mayFollowFromState(r.result.problems[0])) {
      const root = consequences.rootOf(touchesOfMigration(m, c.ex.serverVersionNum, ['up', 'down']));
      if (root) {
        r.result.consequenceOf = root;
        r.result.notes.push(`a consequence of ${root}, whose up.sql failed (see there)`);
      }
    }
    if (upFailed)
      consequences.failed(m.id, touchesOfMigration(m, c.ex.serverVersionNum, ['up']), r.result.consequenceOf);
    // Nothing runs after the last tested migration: how the run continued does not matter.
    if (i === last) r.result.notes = r.result.notes.filter((n) => !CONTINUE_NOTES.some((p) => n.includes(p)));
    results.push(r.result);
    opts.onEvent?.({ type: 'tested', done: results.length, total, result: r.result });
  }
  if (rebuilds > 0) run.rebuilds = rebuilds;
  run.ms = Math.round(performance.now() - t0);
  return run;
}

const CONTINUE_NOTES = ['continued from the state', 'the following migrations run'];

/** Each table's columns in attnum order (what a dropped and re-added column changes). */
type ColumnOrders = Map<string, string[]>;

const Q_COLUMN_ORDER = `
select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as t,
       array_agg(a.attname::text order by a.attnum) as cols
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
 where c.relkind in ('r', 'p', 'f')
   and n.nspname not in ('pg_catalog', 'information_schema', 'braid')
   and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
 group by 1`;

async function columnOrders(ex: Executor): Promise<ColumnOrders> {
  const r = await ex.query<{ t: string; cols: string[] | string }>(Q_COLUMN_ORDER);
  return new Map(r.rows.map((x) => [x.t, pgTextArray(x.cols)]));
}

/** node-postgres parses text[]; PGlite too; a '{a,b}' literal is parsed here just in case. */
function pgTextArray(v: string[] | string): string[] {
  if (Array.isArray(v)) return v;
  return v
    .replace(/^\{|\}$/g, '')
    .split(',')
    .map((s) => s.replace(/^"|"$/g, ''));
}

/** The columns that moved: those outside a longest common subsequence of the two orders. */
function movedColumns(before: string[], after: string[]): string[] {
  const n = before.length;
  const m = after.length;
  const L: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i][j] = before[i] === after[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    }
  }
  const kept = new Set<string>();
  for (let i = 0, j = 0; i < n && j < m;) {
    if (before[i] === after[j]) {
      kept.add(before[i]);
      i++;
      j++;
    } else if (L[i + 1][j] >= L[i][j + 1]) i++;
    else j++;
  }
  return after.filter((c) => !kept.has(c));
}

/**
 * Tables whose columns are the same before up.sql and after down.sql but in another order, in
 * words. Not a failure: PostgreSQL cannot move a column, so a down.sql that re-adds a dropped
 * column puts it last; code that depends on column position (SELECT *, INSERT or COPY without
 * a column list) sees the change.
 */
export function columnOrderChanges(before: ColumnOrders, after: ColumnOrders): string[] {
  const out: string[] = [];
  for (const [t, cols] of before) {
    const now = after.get(t);
    if (!now || now.length !== cols.length || now.every((x, i) => x === cols[i])) continue;
    if ([...now].sort().join('\u0000') !== [...cols].sort().join('\u0000')) continue;
    const moved = movedColumns(cols, now).map(
      (c) =>
        `${displayKey(t)}.${c} is column ${now.indexOf(c) + 1} of ${now.length} (was ${cols.indexOf(c) + 1})`,
    );
    out.push(`down.sql restores the columns of ${displayKey(t)} in another order: ${moved.join(', ')}`);
  }
  return out.sort();
}

/** A shadow for one test run: PGlite in memory, or a temporary database on a server. */
export interface TestShadow {
  ex: Executor;
  close(): Promise<void>;
}

export async function openTestShadow(serverUrl?: string, template = 'template0'): Promise<TestShadow> {
  if (!serverUrl) {
    const ex = await openPGlite(undefined, { applicationName: 'braid test' });
    return { ex, close: () => ex.close() };
  }
  const admin = await connectPg(serverUrl, 'braid test');
  const name = `braid_test_tmp_${randomBytes(6).toString('hex')}`;
  try {
    await admin.exec(`create database ${quoteIdent(name)} template ${quoteIdent(template)}`);
  } catch (e) {
    await admin.close();
    throw new EnvironmentError(
      'shadow-create',
      `--shadow-db ${admin.label}: cannot create a temporary database for the test run: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  let ex: Executor;
  try {
    ex = await connectPg(u.toString(), 'braid test');
  } catch (e) {
    await admin.exec(`drop database if exists ${quoteIdent(name)}`).catch(() => undefined);
    await admin.close();
    throw e;
  }
  return {
    ex,
    close: async () => {
      await ex.close();
      const force = admin.serverVersionNum >= 130000 ? ' with (force)' : '';
      await admin.exec(`drop database if exists ${quoteIdent(name)}${force}`).catch(() => undefined);
      await admin.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// --seed ROWS: generated data before each migration, and what the migration does to it.

interface SeedColumn {
  name: string;
  type: string;
  category: string;
  typname: string;
  notnull: boolean;
  skip: boolean;
  maxlen: number | null;
  is_enum: boolean;
  fk_table: string | null;
  fk_column: string | null;
  /** Part of a unique index (or the primary key): values must stay distinct per row. */
  uniq: boolean;
}

interface SeedTable {
  oid: string;
  name: string;
  columns: SeedColumn[];
  deps: string[];
}

const Q_SEED_TABLES = `
select c.oid::text as oid,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name,
       coalesce((select json_agg(json_build_object(
           'name', a.attname,
           'type', format_type(a.atttypid, a.atttypmod),
           'category', t.typcategory,
           'typname', t.typname,
           'notnull', a.attnotnull,
           'skip', a.attidentity <> '' or a.attgenerated <> ''
                   or coalesce(pg_get_expr(d.adbin, d.adrelid) like 'nextval(%', false),
           'maxlen', case when a.atttypmod > 4 and t.typcategory = 'S' then a.atttypmod - 4 end,
           'is_enum', t.typtype = 'e',
           'fk_table', fk.ftable,
           'fk_column', fk.fcolumn,
           'uniq', exists (select from pg_index ui where ui.indrelid = a.attrelid and ui.indisunique
                             and a.attnum = any(ui.indkey))) order by a.attnum)
          from pg_attribute a
          join pg_type t on t.oid = a.atttypid
          left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
          left join lateral (
            select quote_ident(fn.nspname) || '.' || quote_ident(fc.relname) as ftable, fa.attname as fcolumn
              from pg_constraint k
              join pg_class fc on fc.oid = k.confrelid
              join pg_namespace fn on fn.oid = fc.relnamespace
              join pg_attribute fa on fa.attrelid = k.confrelid and fa.attnum = k.confkey[1]
             where k.conrelid = a.attrelid and k.contype = 'f' and array_length(k.conkey, 1) = 1
               and k.conkey[1] = a.attnum
             limit 1) fk on true
         where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns,
       coalesce((select json_agg(distinct k.confrelid::text) from pg_constraint k
                  where k.conrelid = c.oid and k.contype = 'f' and k.confrelid <> c.oid), '[]') as deps
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
 where c.relkind = 'r' and not c.relispartition
   and n.nspname not in ('pg_catalog', 'information_schema', 'braid')
   and n.nspname not like 'pg\\_%'
 order by 2`;

function parseJson<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

async function seedTables(ex: Executor): Promise<SeedTable[]> {
  const r = await ex.query<{ oid: string; name: string; columns: unknown; deps: unknown }>(Q_SEED_TABLES);
  return r.rows.map((x) => ({
    oid: x.oid,
    name: x.name,
    columns: parseJson<SeedColumn[]>(x.columns),
    deps: parseJson<string[]>(x.deps),
  }));
}

/**
 * A SQL expression generating column values from the row number `g` (or the expression `gx` in
 * its place: --stats-from cycles it to get fewer distinct values), or undefined (leave NULL/default).
 */
function valueExpr(col: SeedColumn, gx = 'g'): string | undefined {
  if (col.skip) return undefined;
  const t = col.type;
  const g = gx;
  if (col.fk_table && col.fk_column) {
    const fc = quoteIdent(col.fk_column);
    return `(select ${fc} from ${col.fk_table} order by ${fc} offset ((${g} - 1) % greatest((select count(*) from ${col.fk_table}), 1)) limit 1)`;
  }
  if (col.is_enum) return `(enum_range(null::${t}))[1 + (${g} % array_length(enum_range(null::${t}), 1))]`;
  switch (col.typname) {
    case 'uuid':
      return `md5(${g}::text)::uuid`;
    case 'json':
    case 'jsonb':
      return `json_build_object('n', ${g})::${t}`;
    case 'bytea':
      return `decode(md5(${g}::text), 'hex')`;
    case 'inet':
    case 'cidr':
      return `('10.' || (${g} / 65536) % 256 || '.' || (${g} / 256) % 256 || '.' || ${g} % 256)::${t}`;
    case 'time':
    case 'timetz':
      return `(time '00:00' + ${g} * interval '1 second')::${t}`;
    case 'interval':
      return `${g} * interval '1 second'`;
    case 'int2':
      return `(${g} % 32767)::int2`;
    case 'bool':
      return `(${g} % 2 = 0)`;
  }
  switch (col.category) {
    case 'N':
      return `${g}::${t}`;
    case 'S':
      return col.maxlen ? `left('v' || ${g}, ${col.maxlen})::${t}` : `('v' || ${g})::${t}`;
    case 'D':
      return `(timestamp '2020-01-01' + ${g} * interval '1 minute')::${t}`;
    case 'A':
      return col.notnull ? `'{}'::${t}` : undefined;
  }
  return undefined;
}

/** How many rows to generate for a table, and how its columns are shaped (--stats-from). */
interface SeedPlan {
  /** --seed ROWS: the rows of every table, or (with stats) the cap. */
  rows: number;
  stats?: StatsSource;
  /** With stats: the rows of a table the statistics do not know. */
  defaultRows?: number;
}

/** A finite number in SQL (never a string from the stats source). */
function sqlNum(n: number): string {
  return Number.isFinite(n) ? String(n) : '0';
}

/**
 * The column expressions of one table shaped by the stats source: rows = min(reltuples, cap);
 * per column, NULLs spread evenly at `null_frac` (not for NOT NULL columns), values cycled to
 * `n_distinct` distinct ones (not for columns of a unique index or primary key), strings padded
 * to `avg_width`. Only numbers come from the source.
 */
function shapedColumns(
  t: SeedTable,
  plan: SeedPlan,
): { rows: number; cols: { c: SeedColumn; e: string }[]; shape?: SeedShape } {
  const plain = () =>
    t.columns
      .map((c) => ({ c, e: valueExpr(c) }))
      .filter((x): x is { c: SeedColumn; e: string } => x.e !== undefined);
  if (!plan.stats) return { rows: plan.rows, cols: plain() };
  const ts = plan.stats.get(t.name);
  const rows =
    ts && ts.rows >= 0 ? Math.min(Math.round(ts.rows), plan.rows) : (plan.defaultRows ?? plan.rows);
  const shape: SeedShape = { table: t.name, rows, source: ts ? 'stats' : 'default', columns: [] };
  const cols: { c: SeedColumn; e: string }[] = [];
  for (const c of t.columns) {
    const cs = ts?.columns.get(c.name);
    let distinct: number | null = null;
    let gx = 'g';
    if (cs && !c.uniq && !c.skip && cs.nDistinct !== 0 && rows > 0) {
      const k = cs.nDistinct > 0 ? Math.round(cs.nDistinct) : Math.round(-cs.nDistinct * rows);
      const kk = Math.max(1, Math.min(k, rows));
      if (kk < rows) gx = `(((g - 1) % ${kk}) + 1)`;
      distinct = kk;
    }
    let e = valueExpr(c, gx);
    let width: number | null = null;
    if (e && cs && c.category === 'S' && !c.is_enum && !c.fk_table && cs.avgWidth > 2) {
      // avg_width counts the 1-byte varlena header of a short string.
      const len = cs.avgWidth - 1;
      const x = e;
      e = `rpad(${x}::text, greatest(length(${x}::text), ${len}), 'x')::${c.type}`;
      width = cs.avgWidth;
    }
    let nullFrac = 0;
    if (e && cs && !c.notnull && cs.nullFrac > 0) {
      nullFrac = Math.min(1, Math.max(0, cs.nullFrac));
      const f = sqlNum(nullFrac);
      // Exactly floor(rows * f) NULLs, spread evenly (deterministic).
      e = `case when floor(g * ${f}::float8) <> floor((g - 1) * ${f}::float8) then null else ${e} end`;
    }
    if (e) cols.push({ c, e });
    if (cs) shape.columns.push({ column: c.name, nullFrac, distinct, width });
  }
  return { rows, cols, shape };
}

/** FK order: referenced tables first (cycles broken arbitrarily). */
function fkOrder(tables: SeedTable[]): SeedTable[] {
  const byOid = new Map(tables.map((t) => [t.oid, t]));
  const out: SeedTable[] = [];
  const seen = new Set<string>();
  const visit = (t: SeedTable, stack: Set<string>): void => {
    if (seen.has(t.oid) || stack.has(t.oid)) return;
    stack.add(t.oid);
    for (const d of t.deps) {
      const dep = byOid.get(d);
      if (dep) visit(dep, stack);
    }
    seen.add(t.oid);
    out.push(t);
  };
  for (const t of tables) visit(t, new Set());
  return out;
}

/**
 * Fills every empty table with generated rows (`plan.rows`, or shaped by the stats source) in
 * one INSERT … SELECT … FROM generate_series per table (server side), referenced tables first. A
 * table whose insert fails (a CHECK, a type braid cannot generate) is left empty and reported;
 * a shaped insert that fails is retried with the plain generator first. Must run in a transaction.
 */
async function seed(
  ex: Executor,
  plan: SeedPlan,
): Promise<{ seeded: string[]; notSeeded: { table: string; reason: string }[]; shape?: SeedShape[] }> {
  const seeded: string[] = [];
  const notSeeded: { table: string; reason: string }[] = [];
  const shapes: SeedShape[] = [];
  const insert = (t: SeedTable, rows: number, cols: { c: SeedColumn; e: string }[]) =>
    cols.length === 0
      ? `insert into ${t.name} select from generate_series(1, ${rows}) g`
      : `insert into ${t.name} (${cols.map((x) => quoteIdent(x.c.name)).join(', ')}) select ${cols.map((x) => x.e).join(', ')} from generate_series(1, ${rows}) g`;
  const attempt = async (sql: string): Promise<string | undefined> => {
    await ex.exec('savepoint braid_seed');
    try {
      await ex.exec(sql);
      await ex.exec('release savepoint braid_seed');
      return undefined;
    } catch (e) {
      await ex.exec('rollback to savepoint braid_seed');
      await ex.exec('release savepoint braid_seed');
      return pgErrorInfo(e)?.message ?? String(e);
    }
  };
  for (const t of fkOrder(await seedTables(ex))) {
    const empty = await ex.query<{ e: boolean }>(`select not exists (select from ${t.name}) as e`);
    if (!empty.rows[0]?.e) continue;
    const { rows, cols, shape } = shapedColumns(t, plan);
    if (shape) shapes.push(shape);
    if (rows === 0) continue;
    let failed = await attempt(insert(t, rows, cols));
    if (failed && shape) {
      const plainCols = shapedColumns(t, { rows }).cols;
      const again = await attempt(insert(t, rows, plainCols));
      if (!again) shape.fallback = failed;
      failed = again;
    }
    if (failed) {
      notSeeded.push({ table: t.name, reason: failed });
      continue;
    }
    await ex.exec(`analyze ${t.name}`);
    seeded.push(t.name);
  }
  return { seeded, notSeeded, ...(plan.stats ? { shape: shapes } : {}) };
}

/** Row count and non-null count per column of every user table: table -> { rows, columns }. */
type DataSnapshot = Map<string, { rows: number; columns: Map<string, number> }>;

async function dataSnapshot(ex: Executor): Promise<DataSnapshot> {
  const out: DataSnapshot = new Map();
  for (const t of await seedTables(ex)) {
    const cols = t.columns.map((c) => c.name);
    const sel = [`count(*)::text as "n"`, ...cols.map((c, i) => `count(${quoteIdent(c)})::text as "c${i}"`)];
    const r = await ex.query<Record<string, string>>(`select ${sel.join(', ')} from ${t.name}`);
    const row = r.rows[0] ?? {};
    out.set(t.name, {
      rows: Number(row['n'] ?? 0),
      columns: new Map(cols.map((c, i) => [c, Number(row[`c${i}`] ?? 0)])),
    });
  }
  return out;
}

function dataLoss(before: DataSnapshot, after: DataSnapshot, who: 'up' | 'down'): string[] {
  const out: string[] = [];
  for (const [table, b] of before) {
    const name = displayKey(table);
    const a = after.get(table);
    if (b.rows === 0) continue;
    if (!a) {
      out.push(
        who === 'up'
          ? `up.sql drops table ${name} holding ${b.rows} rows`
          : `down.sql does not restore table ${name} (${b.rows} rows before up.sql)`,
      );
      continue;
    }
    if (a.rows < b.rows) {
      out.push(
        who === 'up'
          ? `up.sql deletes ${b.rows - a.rows} of the ${b.rows} rows of ${name}`
          : `down.sql does not restore ${b.rows - a.rows} of the ${b.rows} rows of ${name}`,
      );
    }
    for (const [col, n] of b.columns) {
      if (n === 0) continue;
      const k = a.columns.get(col);
      if (k === undefined) {
        out.push(
          who === 'up'
            ? `up.sql drops column ${name}.${col} holding ${n} values`
            : `down.sql does not restore column ${name}.${col} (${n} values before up.sql)`,
        );
      } else if (k < n && a.rows >= b.rows) {
        out.push(
          who === 'up'
            ? `up.sql sets ${n - k} of the ${n} values of ${name}.${col} to NULL`
            : `down.sql does not restore the values of ${name}.${col} (${n} before up.sql, ${k} after down.sql)`,
        );
      }
    }
  }
  return out;
}

/**
 * A test shadow that already holds `prefix` (the migrations before the first tested one), taken
 * from the shadow replay caches (shadow.ts): a PGlite data-directory snapshot or a server
 * template database of that manifest prefix, made by replaySchema when missing. A second
 * `braid test` of the same branch then starts at once instead of replaying the whole history.
 * `prefixApplied` is false when no cache could be used (the caller applies the prefix).
 */
export async function openPrefixedShadow(
  prefix: readonly SourceMigration[],
  spec: ShadowSpec,
): Promise<TestShadow & { prefixApplied: boolean }> {
  if (prefix.length === 0 || spec.noCache) {
    return { ...(await openTestShadow(spec.serverUrl)), prefixApplied: false };
  }
  const replay = await replaySchema(prefix, spec);
  if (!spec.serverUrl) {
    const file = path.join(spec.cacheDir, `pglite-${replay.key}.tar`);
    let snapshot: Buffer | undefined;
    try {
      snapshot = fs.readFileSync(file);
    } catch {
      snapshot = undefined;
    }
    if (snapshot) {
      try {
        const ex = await openPGliteFrom(snapshot, 'pglite:test-shadow');
        return { ex, close: () => ex.close(), prefixApplied: true };
      } catch {
        // an unreadable snapshot: start from scratch
      }
    }
    return { ...(await openTestShadow()), prefixApplied: false };
  }
  // Server: the replay's template database (shadow.ts names it braid_shadow_<key prefix>).
  const template = `braid_shadow_${replay.key.slice(0, 24)}`;
  const admin = await connectPg(spec.serverUrl, 'braid test');
  let fromTemplate = false;
  try {
    const r = await admin.query<{ ok: boolean }>(
      'select exists (select from pg_database where datname = $1 and datistemplate) as ok',
      [template],
    );
    fromTemplate = Boolean(r.rows[0]?.ok);
  } finally {
    await admin.close();
  }
  if (fromTemplate) {
    try {
      return { ...(await openTestShadow(spec.serverUrl, template)), prefixApplied: true };
    } catch {
      // the template went away meanwhile (evicted by another run)
    }
  }
  return { ...(await openTestShadow(spec.serverUrl)), prefixApplied: false };
}

// ---------------------------------------------------------------------------------------------
// --queries FILE: plan changes between the state before and after a migration.

/**
 * EXPLAIN (FORMAT JSON) of each query (undefined when it does not plan here, e.g. a missing
 * table). A query with `$n` parameters (pg_stat_statements) gets its generic plan: `EXPLAIN
 * (GENERIC_PLAN)` on a PostgreSQL 16+ server; before 16, and on PGlite (whose query() always
 * uses the extended protocol, where `$1` would be a missing bind parameter), `PREPARE`
 * (parameter types inferred) and `EXPLAIN EXECUTE` with `plan_cache_mode = force_generic_plan`,
 * whose NULL arguments a generic plan does not look at (a custom plan for NULLs would be wrong).
 */
async function plans(ex: Executor, queries: RoundTripQuery[]): Promise<(PlanSummary | undefined)[]> {
  const out: (PlanSummary | undefined)[] = [];
  const first = (rows: Record<string, unknown>[]): PlanSummary => {
    const raw = Object.values(rows[0] ?? {})[0];
    const doc = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
    return summarizePlan(doc[0].Plan);
  };
  let seq = 0;
  for (const q of queries) {
    const n = q.params ?? 0;
    let prepared: string | undefined;
    await ex.exec('savepoint braid_plan');
    try {
      if (n === 0) {
        out.push(first((await ex.query<Record<string, unknown>>(`explain (format json) ${q.text}`)).rows));
      } else if (ex.serverVersionNum >= 160000 && ex.engine === 'postgres') {
        // node-postgres sends a query without parameters by the simple protocol: $1 stays text.
        out.push(
          first(
            (await ex.query<Record<string, unknown>>(`explain (format json, generic_plan) ${q.text}`)).rows,
          ),
        );
      } else {
        const name = `braid_plan_${process.pid}_${seq++}`;
        await ex.exec(`prepare ${name} as ${q.text}`);
        prepared = name;
        await ex.exec('set local plan_cache_mode = force_generic_plan');
        const args = Array.from({ length: n }, () => 'null').join(', ');
        out.push(
          first(
            (await ex.query<Record<string, unknown>>(`explain (format json) execute ${name}(${args})`)).rows,
          ),
        );
      }
    } catch {
      out.push(undefined);
    }
    await ex.exec('rollback to savepoint braid_plan');
    await ex.exec('release savepoint braid_plan');
    // PREPARE is not transactional: deallocate it once the savepoint is gone (works after an error).
    if (prepared) await ex.exec(`deallocate ${prepared}`).catch(() => undefined);
  }
  return out;
}

/**
 * Plan changes per query in words: an index no longer used (and what scans the table instead),
 * a query that no longer plans, total cost up by more than `threshold`×.
 */
function comparePlans(
  queries: RoundTripQuery[],
  before: (PlanSummary | undefined)[],
  after: (PlanSummary | undefined)[],
  threshold: number,
): string[] {
  const out: string[] = [];
  queries.forEach((q, i) => {
    const b = before[i];
    const a = after[i];
    if (!b) return;
    const name = `query ${q.label}`;
    if (!a) {
      out.push(`${name} no longer plans after up.sql (an object it uses is gone)`);
      return;
    }
    const usedAfter = new Set(a.scans.map((x) => x.index).filter(Boolean));
    for (const s of b.scans) {
      if (!s.index || usedAfter.has(s.index)) continue;
      const instead = a.scans.find((x) => x.relation !== null && x.relation === s.relation);
      out.push(
        instead
          ? `${name}: ${instead.node}${instead.index ? ` using ${instead.index}` : ''} on ${instead.relation} replaces ${s.node} using ${s.index}`
          : `${name} no longer uses index ${s.index}`,
      );
    }
    if (b.cost > 0 && a.cost / b.cost > threshold) {
      out.push(
        `${name}: total cost up ${(a.cost / b.cost).toFixed(1)}× (${b.cost.toFixed(2)} → ${a.cost.toFixed(2)})`,
      );
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// --data: the backup and restore of braid up/down, proven on seeded rows.

interface SavedData {
  header: ArchiveHeader;
  data: Buffer[];
  /** Per table: md5 of each row's backed-up columns (as jsonb: column order does not matter). */
  prints: Map<string, string[]>;
}

/** With a restore, the row fingerprints decide; the count comparison would repeat them. */
function lostAlready(data: DataReport): boolean {
  return data.notRestored.length > 0;
}

function printSql(t: { schema: string; name: string; columns: string[] }): string {
  const obj = t.columns.map((c) => `${quoteLiteral(c)}, ${quoteIdent(c)}`).join(', ');
  return `select md5(jsonb_build_object(${obj})::text) as h from ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

async function rowPrints(
  ex: Executor,
  t: { schema: string; name: string; columns: string[] },
): Promise<string[]> {
  return (await ex.query<{ h: string }>(printSql(t))).rows.map((r) => r.h);
}

/** Copies what the migration puts at risk (policy all), in the open transaction before up.sql. */
async function saveAtRisk(ex: Executor, m: SourceMigration): Promise<SavedData | undefined> {
  await loadParser();
  const targets = backupTargets(dataAtRisk(analyzeFile('up.sql', m.files.up).statements), 'all');
  if (targets.length === 0) return undefined;
  const { tables } = await resolveTargets(ex, targets);
  if (tables.length === 0) return undefined;
  const copied = await copyTargets(ex, tables);
  const prints = new Map<string, string[]>();
  for (const t of copied.tables) {
    // every row of the table (a rows target's other rows must come through untouched too)
    prints.set(`${t.schema}.${t.name}`, await rowPrints(ex, t));
  }
  const header = {
    format: 'braid-backup 1',
    migration: m.id,
    target: 'shadow',
    createdAt: new Date().toISOString(),
    commit: null,
    keyId: '',
    iv: '',
    compression: 'gzip',
    tables: copied.tables.map((t, i) => ({ ...t, bytes: copied.data[i].length, sha256: '' })),
  } as ArchiveHeader;
  return { header, data: copied.data, prints };
}

/** After down.sql: the restore, then the fingerprints of every affected table against before. */
async function putBack(ex: Executor, s: SavedData): Promise<{ notes: string[]; lost: string[] }> {
  const notes: string[] = [];
  const lost: string[] = [];
  let restored;
  try {
    restored = await restoreTables(ex, s.header, s.data, 'the backup');
  } catch (e) {
    const why = (e as Error).message.replace(/^the backup: /, '');
    return {
      notes,
      lost: s.header.tables.map(
        (t) =>
          `rollback with the backup restored loses ${t.rows} of the ${t.rows} backed-up rows of ${t.schema}.${t.name}: the backup cannot be put back after down.sql (${why})`,
      ),
    };
  }
  for (const r of restored)
    notes.push(`backup restored after down.sql: ${r.rows} rows of ${r.table} (${r.scope})`);
  for (const t of s.header.tables) {
    const key = `${t.schema}.${t.name}`;
    const before = s.prints.get(key) ?? [];
    let after: string[];
    try {
      await ex.exec('savepoint braid_prints');
      after = await rowPrints(ex, t);
      await ex.exec('release savepoint braid_prints');
    } catch {
      await ex.exec('rollback to savepoint braid_prints');
      after = [];
    }
    const have = new Map<string, number>();
    for (const h of after) have.set(h, (have.get(h) ?? 0) + 1);
    let missing = 0;
    for (const h of before) {
      const n = have.get(h) ?? 0;
      if (n > 0) have.set(h, n - 1);
      else missing++;
    }
    if (missing > 0)
      lost.push(
        `rollback with the backup restored loses ${missing} of the ${before.length} rows of ${key} (columns ${t.columns.join(', ')})`,
      );
  }
  return { notes, lost };
}
