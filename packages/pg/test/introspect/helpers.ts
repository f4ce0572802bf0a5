import {
  type DdlOptions,
  type DdlStatement,
  type SchemaModel,
  diffSchemas,
  generateDdl,
  renderDiffText,
} from '@braid/core';
import { type Executor, introspect, openExecutor } from '@braid/pg';
import { createTestDatabase, type TestDatabase } from '../../../../test/helpers/db';

export const READER = 'braid_test_reader';

/** Roles are cluster-wide: create the test role once, tolerating a concurrent creator. */
export async function ensureRole(ex: Executor): Promise<void> {
  await ex.exec(`do $$ begin
    if not exists (select 1 from pg_roles where rolname = '${READER}') then create role ${READER}; end if;
  exception when duplicate_object or unique_violation then null; end $$;`);
}

export interface Opened {
  db: TestDatabase;
  ex: Executor;
}

export async function open(sql: string): Promise<Opened> {
  const db = await createTestDatabase({ prefix: 'braid_schema' });
  const ex = await openExecutor(db.url);
  try {
    await ensureRole(ex);
    if (sql.trim()) await ex.exec(sql);
  } catch (e) {
    await ex.close();
    await db.drop();
    throw e;
  }
  return { db, ex };
}

export async function close(...o: Opened[]): Promise<void> {
  for (const x of o) {
    await x.ex.close();
    await x.db.drop();
  }
}

/** Applies statements one by one (each in its own implicit transaction, like psql). */
export async function apply(ex: Executor, stmts: DdlStatement[]): Promise<void> {
  for (const s of stmts) {
    try {
      await ex.exec(s.sql);
    } catch (e) {
      throw new Error(
        `${(e as Error).message}\n  in: ${s.sql}\n  script:\n${stmts.map((x) => x.sql).join(';\n')}`,
      );
    }
  }
}

export function remaining(a: SchemaModel, b: SchemaModel): string[] {
  return renderDiffText(diffSchemas(a, b));
}

/**
 * The central property: SQL generated from A to B, applied to A, leaves B; and back.
 * Returns the statements of both directions for further assertions.
 */
export async function roundTrip(
  a: string,
  b: string,
  opts: DdlOptions = {},
): Promise<{ forward: DdlStatement[]; backward: DdlStatement[]; modelA: SchemaModel; modelB: SchemaModel }> {
  const A = await open(a);
  let B: Opened;
  try {
    B = await open(b);
  } catch (e) {
    await close(A);
    throw e;
  }
  try {
    const modelA = await introspect(A.ex);
    const modelB = await introspect(B.ex);
    const forward = generateDdl(modelA, modelB, opts);
    await apply(A.ex, forward);
    expect(remaining(await introspect(A.ex), modelB)).toEqual([]);
    const backward = generateDdl(modelB, modelA, opts);
    await apply(A.ex, backward);
    expect(remaining(await introspect(A.ex), modelA)).toEqual([]);
    // Nothing to do between equal schemas.
    expect(generateDdl(modelB, modelB)).toEqual([]);
    return { forward, backward, modelA, modelB };
  } finally {
    await close(A, B);
  }
}

export const sqlOf = (s: DdlStatement[]): string => s.map((x) => x.sql).join(';\n');
