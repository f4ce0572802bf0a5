import { a, inner, o, s, typeNameOf } from '../ast';
import type { AnalyzedStatement } from '../analyze';
import { defaultSchema } from '../footprint';
import type { AstNode } from '../parser';

export function body(st: AnalyzedStatement, kind: string): AstNode | undefined {
  return st.kind === kind ? inner(st.ast) : undefined;
}

/** Schema-qualified name of a RangeVar, with the statement's search_path. */
export function relName(st: AnalyzedStatement, rv: AstNode | undefined): string {
  if (!rv) return '';
  return `${s(rv, 'schemaname') ?? defaultSchema(st.searchPath)}.${s(rv, 'relname') ?? ''}`;
}

export interface AlterCmd {
  table: string;
  subtype: string;
  cmd: AstNode;
}
export interface ColumnDefOf {
  table: string;
  col: AstNode;
  created: boolean;
}

// Several rules and the lint context ask for these per statement: computed once per statement
// (the results are read-only, hence shared).
const alterMemo = new WeakMap<AnalyzedStatement, readonly AlterCmd[]>();
const columnMemo = new WeakMap<AnalyzedStatement, readonly ColumnDefOf[]>();

/** ALTER TABLE subcommands: [table, subtype, cmd]. */
export function alterCmds(st: AnalyzedStatement): readonly AlterCmd[] {
  const n = body(st, 'AlterTableStmt');
  if (!n) return [];
  let out = alterMemo.get(st);
  if (out) return out;
  const table = relName(st, o(n, 'relation'));
  out = a(n, 'cmds').map((c) => {
    const cmd = o(c, 'AlterTableCmd') ?? {};
    return { table, subtype: s(cmd, 'subtype') ?? '', cmd };
  });
  alterMemo.set(st, out);
  return out;
}

/** The statement kinds columnDefs() and primaryKeyColumns() find anything in. */
export const COLUMN_DEF_KINDS: readonly string[] = ['CreateStmt', 'AlterTableStmt'];

/** Column definitions a statement introduces: CREATE TABLE columns and ALTER TABLE ADD COLUMN. */
export function columnDefs(st: AnalyzedStatement): readonly ColumnDefOf[] {
  if (st.kind !== 'CreateStmt' && st.kind !== 'AlterTableStmt') return [];
  const memo = columnMemo.get(st);
  if (memo) return memo;
  const out: ColumnDefOf[] = [];
  const cs = body(st, 'CreateStmt');
  if (cs) {
    const table = relName(st, o(cs, 'relation'));
    for (const el of a(cs, 'tableElts')) {
      const col = o(el, 'ColumnDef');
      if (col) out.push({ table, col, created: true });
    }
  }
  for (const c of alterCmds(st)) {
    if (c.subtype === 'AT_AddColumn') {
      const col = o(o(c.cmd, 'def'), 'ColumnDef');
      if (col) out.push({ table: c.table, col, created: false });
    }
  }
  columnMemo.set(st, out);
  return out;
}

export function constraintsOf(col: AstNode): AstNode[] {
  return a(col, 'constraints')
    .map((x) => o(x, 'Constraint'))
    .filter((x): x is AstNode => x !== undefined);
}

export function colType(col: AstNode): { name: string; mods: number[] } {
  return typeNameOf(o(col, 'typeName'));
}

/** Primary key columns declared in a CREATE TABLE / ADD COLUMN / ADD CONSTRAINT. */
export function primaryKeyColumns(
  st: AnalyzedStatement,
): Array<{ table: string; column: string; type?: string }> {
  const out: Array<{ table: string; column: string; type?: string }> = [];
  const types = new Map<string, string>();
  for (const d of columnDefs(st)) {
    types.set(`${d.table}.${s(d.col, 'colname') ?? ''}`, colType(d.col).name);
    if (constraintsOf(d.col).some((c) => s(c, 'contype') === 'CONSTR_PRIMARY')) {
      out.push({ table: d.table, column: s(d.col, 'colname') ?? '', type: colType(d.col).name });
    }
  }
  const cs = body(st, 'CreateStmt');
  const tableCons: Array<{ table: string; con: AstNode }> = [];
  if (cs) {
    for (const el of a(cs, 'tableElts')) {
      const con = o(el, 'Constraint');
      if (con) tableCons.push({ table: relName(st, o(cs, 'relation')), con });
    }
  }
  for (const c of alterCmds(st)) {
    const con = c.subtype === 'AT_AddConstraint' ? o(o(c.cmd, 'def'), 'Constraint') : undefined;
    if (con) tableCons.push({ table: c.table, con });
  }
  for (const { table, con } of tableCons) {
    if (s(con, 'contype') !== 'CONSTR_PRIMARY') continue;
    for (const k of a(con, 'keys')) {
      const column = s(o(k, 'String'), 'sval') ?? '';
      const type = types.get(`${table}.${column}`);
      out.push(type ? { table, column, type } : { table, column });
    }
  }
  return out;
}
