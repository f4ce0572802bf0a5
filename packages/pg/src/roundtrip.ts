/**
 * `braid test`: round trips on ONE shadow connection (a PGlite instance or a temporary database
 * on a server), never restarted between migrations.
 *
 * For each tested migration, in manifest order, inside one transaction:
 *   up.sql, verify.sql -> schema S1 -> SAVEPOINT -> down.sql -> schema must equal S0 (the one
 *   before up) -> up.sql, verify.sql again -> schema must equal S1 -> ROLLBACK TO SAVEPOINT -> COMMIT.
 * The savepoint puts the shadow back exactly in the state after up.sql whatever went wrong in
 * down or re-up, so one run reports every broken migration of a history and the next migration
 * starts from the schema it was written for. A failing up.sql is rolled back: the run continues
 * without it (said in the notes). `-- braid:no-transaction` migrations run statement by statement
 * outside a transaction (as `braid up` runs them); after a failure there the state cannot be put
 * back, which the notes say too.
 *
 * Migrations before the first tested one are applied (up only) first; untested migrations
 * between tested ones are applied too. The shadow carries no braid registry: nothing to ignore.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import {
  describeDownDiff,
  describeReupDiff,
  diffSchemas,
  FindingsError,
  isEmptyDiff,
  statusOf,
  versionText,
  type EngineRun,
  type MeasuredImpact,
  type MigrationTestResult,
  type SchemaModel,
  type TestProblem,
} from '@braid/core';
import { splitStatements } from '@braid/sql';
import type { SourceMigration } from './apply';
import type { Executor } from './executor';
import { connectPg, openPGlite } from './executors';
import { introspect } from './introspect';
import { codePointPositionToIndex, errorSnippet, locate, pgErrorInfo } from './pgerror';
import { quoteIdent } from './quote';

export type RoundTripEvent =
  | { type: 'prefix'; done: number; total: number; id: string }
  | { type: 'tested'; done: number; total: number; result: MigrationTestResult };

export interface RoundTripOptions {
  /** Folder label for error locations, default ".migrations". */
  dirLabel?: string;
  /** Measure tables rewritten and indexes built (two catalog queries per migration); default true. */
  impact?: boolean;
  onEvent?: (e: RoundTripEvent) => void;
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
  ex: Executor;
  dir: string;
  impact: boolean;
}

function fileOf(c: Ctx, m: SourceMigration, name: string): string {
  return `${c.dir}/${m.id}/${name}`;
}

/** up.sql then verify.sql (if any). */
async function runUp(c: Ctx, m: SourceMigration): Promise<void> {
  await runFile(c.ex, fileOf(c, m, 'up.sql'), m.files.up);
  if (m.files.verify !== undefined) await runFile(c.ex, fileOf(c, m, 'verify.sql'), m.files.verify);
}

/** Applies a migration without testing it (the prefix, or untested migrations in between). */
async function applyOnly(c: Ctx, m: SourceMigration): Promise<void> {
  try {
    if (m.directives.noTransaction) {
      await runUp(c, m);
      return;
    }
    await c.ex.exec('begin');
    try {
      await runUp(c, m);
      await c.ex.exec('commit');
    } catch (e) {
      await c.ex.exec('rollback').catch(() => undefined);
      throw e;
    }
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
 * One transactional round trip. Returns the result and the schema the shadow is left in
 * (after up.sql, or before it when up.sql failed).
 */
async function roundTripTx(
  c: Ctx,
  m: SourceMigration,
  s0: SchemaModel,
): Promise<{ result: MigrationTestResult; state: SchemaModel }> {
  const t0 = performance.now();
  const problems: TestProblem[] = [];
  const notes: string[] = [];
  const irreversible = m.directives.irreversible;
  let impact: MeasuredImpact | undefined;
  await c.ex.exec('begin');
  let s1: SchemaModel;
  try {
    const before = c.impact ? await relations(c.ex) : undefined;
    const u0 = performance.now();
    await runUp(c, m);
    const upMs = performance.now() - u0;
    if (before) impact = impactOf(before, await relations(c.ex), upMs);
    s1 = await introspect(c.ex);
  } catch (e) {
    await c.ex.exec('rollback').catch(() => undefined);
    problems.push(problem('up-fails', e));
    notes.push('up.sql was rolled back; the following migrations run without it');
    return { result: finish(m, problems, notes, t0, impact), state: s0 };
  }
  try {
    if (!irreversible && m.files.down === undefined) {
      problems.push({
        category: 'down-fails',
        message: `${fileOf(c, m, 'down.sql')} does not exist and the migration is not marked -- braid:irreversible`,
        file: fileOf(c, m, 'down.sql'),
      });
    } else if (!irreversible) {
      await c.ex.exec('savepoint braid_after_up');
      await downAndReup(c, m, s0, s1, problems);
      await c.ex.exec('rollback to savepoint braid_after_up');
      if (problems.length > 0) notes.push('continued from the state after up.sql');
    }
    await c.ex.exec('commit');
  } catch (e) {
    await c.ex.exec('rollback').catch(() => undefined);
    throw e;
  }
  return { result: finish(m, problems, notes, t0, impact), state: s1 };
}

async function downAndReup(
  c: Ctx,
  m: SourceMigration,
  s0: SchemaModel,
  s1: SchemaModel,
  problems: TestProblem[],
): Promise<void> {
  try {
    await runFile(c.ex, fileOf(c, m, 'down.sql'), m.files.down ?? '');
  } catch (e) {
    problems.push(problem('down-fails', e));
    return;
  }
  const sDown = await introspect(c.ex);
  const dd = differs('down-differs', c, m, s0, sDown);
  if (dd) problems.push(dd);
  try {
    await runUp(c, m);
  } catch (e) {
    const p = problem('reup-fails', e);
    if (dd) p.message += ' (after a down.sql that does not restore the schema, see above)';
    problems.push(p);
    return;
  }
  const sReup = await introspect(c.ex);
  const rd = differs('reup-differs', c, m, s1, sReup);
  if (rd) problems.push(rd);
}

/** A no-transaction migration: statements in autocommit, as `braid up` runs them. */
async function roundTripNoTx(
  c: Ctx,
  m: SourceMigration,
  s0: SchemaModel,
): Promise<{ result: MigrationTestResult; state: SchemaModel }> {
  const t0 = performance.now();
  const problems: TestProblem[] = [];
  const notes: string[] = [];
  let impact: MeasuredImpact | undefined;
  const before = c.impact ? await relations(c.ex) : undefined;
  const u0 = performance.now();
  try {
    await runUp(c, m);
  } catch (e) {
    problems.push(problem('up-fails', e));
    notes.push(
      'no-transaction: the statements before the failing one stay applied; the following migrations run on that state',
    );
    return { result: finish(m, problems, notes, t0, impact), state: await introspect(c.ex) };
  }
  const upMs = performance.now() - u0;
  if (before) impact = impactOf(before, await relations(c.ex), upMs);
  const s1 = await introspect(c.ex);
  if (m.directives.irreversible) return { result: finish(m, problems, notes, t0, impact), state: s1 };
  if (m.files.down === undefined) {
    problems.push({
      category: 'down-fails',
      message: `${fileOf(c, m, 'down.sql')} does not exist and the migration is not marked -- braid:irreversible`,
    });
    return { result: finish(m, problems, notes, t0, impact), state: s1 };
  }
  await downAndReup(c, m, s0, s1, problems);
  const last = problems[problems.length - 1];
  let state = s1;
  if (last && (last.category === 'down-fails' || last.category === 'reup-fails')) {
    notes.push(
      `no-transaction: ${last.category === 'down-fails' ? 'down.sql' : 'up.sql'} stopped part-way and cannot be undone; the following migrations run on that state`,
    );
    state = await introspect(c.ex);
  } else if (last?.category === 'reup-differs') {
    state = await introspect(c.ex);
  }
  return { result: finish(m, problems, notes, t0, impact), state };
}

function finish(
  m: SourceMigration,
  problems: TestProblem[],
  notes: string[],
  t0: number,
  impact: MeasuredImpact | undefined,
): MigrationTestResult {
  return {
    id: m.id,
    status: statusOf(problems, m.directives.irreversible),
    problems,
    ms: Math.round((performance.now() - t0) * 10) / 10,
    notes,
    ...(impact ? { impact } : {}),
  };
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
  const c: Ctx = { ex, dir: opts.dirLabel ?? '.migrations', impact: opts.impact ?? true };
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
  for (let i = 0; i < first; i++) {
    await applyOnly(c, migrations[i]);
    opts.onEvent?.({ type: 'prefix', done: i + 1, total: first, id: migrations[i].id });
  }
  let state = await introspect(ex);
  const total = tested.size;
  for (let i = first; i <= last; i++) {
    const m = migrations[i];
    if (!tested.has(m.id)) {
      await applyOnly(c, m);
      state = await introspect(ex);
      continue;
    }
    const r = m.directives.noTransaction ? await roundTripNoTx(c, m, state) : await roundTripTx(c, m, state);
    state = r.state;
    results.push(r.result);
    opts.onEvent?.({ type: 'tested', done: results.length, total, result: r.result });
  }
  run.ms = Math.round(performance.now() - t0);
  return run;
}

/** A shadow for one test run: PGlite in memory, or a temporary database on a server. */
export interface TestShadow {
  ex: Executor;
  close(): Promise<void>;
}

export async function openTestShadow(serverUrl?: string): Promise<TestShadow> {
  if (!serverUrl) {
    const ex = await openPGlite(undefined, { applicationName: 'braid test' });
    return { ex, close: () => ex.close() };
  }
  const admin = await connectPg(serverUrl, 'braid test');
  const name = `braid_test_tmp_${randomBytes(6).toString('hex')}`;
  try {
    await admin.exec(`create database ${quoteIdent(name)} template template0`);
  } catch (e) {
    await admin.close();
    throw e;
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
