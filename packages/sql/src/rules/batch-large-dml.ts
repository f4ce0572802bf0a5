import { a, inner, kindOf, o, s } from '../ast';
import type { AstNode } from '../parser';
import type { StatementRule } from './types';
import { body, relName } from './util';
import type { AnalyzedStatement } from '../analyze';

/** The table whose rows the statement goes through (UPDATE/DELETE: its target; INSERT … SELECT: its first FROM table). */
function scannedTable(st: AnalyzedStatement): { what: string; table: string } | undefined {
  const ud = body(st, 'UpdateStmt') ?? body(st, 'DeleteStmt');
  if (ud) {
    const rv = o(ud, 'relation');
    return rv ? { what: st.kind === 'UpdateStmt' ? 'UPDATE' : 'DELETE', table: relName(st, rv) } : undefined;
  }
  const ins = body(st, 'InsertStmt');
  const sel = o(o(ins, 'selectStmt'), 'SelectStmt');
  if (!sel || a(sel, 'valuesLists').length > 0) return undefined; // INSERT … VALUES
  // the leftmost table of the first FROM item (through JOINs), as -- braid:batch cuts it
  let item: AstNode | undefined = a(sel, 'fromClause')[0];
  while (item && kindOf(item) === 'JoinExpr') item = o(inner(item), 'larg');
  const rv = item ? o(item, 'RangeVar') : undefined;
  return rv && s(rv, 'relname') ? { what: 'INSERT … SELECT', table: relName(st, rv) } : undefined;
}

/** `id`, or `"OrderId"` when the name needs quotes. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

export const batchLargeDml: StatementRule = {
  id: 'batch-large-dml',
  scope: 'statement',
  kinds: ['UpdateStmt', 'DeleteStmt', 'InsertStmt'],
  severity: 'warning',
  message: 'a data change over a large table runs in one transaction',
  help: 'Put `-- braid:batch key=<key column>` in the leading comments of up.sql: braid then runs it in short keyed batches (docs/online.md). Only with statistics: braid lint --stats-from URL.',
  docs: {
    problem:
      'An UPDATE, DELETE or INSERT … SELECT over a table of many rows runs as one statement in one transaction: it holds the row locks of every row it changed until it commits (application writes to those rows wait for all of it), writes a burst of WAL that replicas must replay, and cannot be resumed when it is interrupted. The rule needs row counts, which the migration files do not have: it reports only when `braid lint --stats-from URL` reads the planner statistics (`pg_class.reltuples`, `pg_stat_user_tables.n_live_tup`; numbers only) of a database that has the table, and the table has more rows than `--batch-rows` (default 100000). Tables created in the migration or on the branch are not reported.',
    solution:
      'Add `-- braid:batch key=<column>` to the leading comment block of up.sql (the suggestion names the table’s primary key when the statistics database has one): `braid up` then runs every UPDATE, DELETE and INSERT … SELECT of the migration in keyed batches, each its own short transaction, paced and resumable (docs/online.md).',
    bad: 'UPDATE accounts SET flag = balance % 2 WHERE flag IS NULL;',
    good: '-- braid:batch key=id\nUPDATE accounts SET flag = balance % 2 WHERE flag IS NULL;',
  },
  check(st, ctx) {
    if (ctx.file.directives.has('batch')) return;
    const t = scannedTable(st);
    if (!t) return;
    const stats = ctx.tableRows(t.table);
    if (!stats || stats.rows <= ctx.batchRows || ctx.isNew(t.table)) return;
    const key = stats.primaryKey ? ` key=${ident(stats.primaryKey)}` : ' key=<an indexed NOT NULL column>';
    const rows = Math.round(stats.rows).toLocaleString('en-US');
    return [
      `${t.what} over ${t.table} (~${rows} rows by its statistics, more than ${ctx.batchRows.toLocaleString('en-US')}) runs in one transaction: batch it with -- braid:batch${key}`,
    ];
  },
};
