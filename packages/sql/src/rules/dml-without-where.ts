import { o } from '../ast';
import type { StatementRule } from './types';
import { body, relName } from './util';

export const dmlWithoutWhere: StatementRule = {
  id: 'dml-without-where',
  scope: 'statement',
  kinds: ['UpdateStmt', 'DeleteStmt'],
  severity: 'error',
  message: 'UPDATE or DELETE without WHERE touches every row of the table',
  help: 'Add a WHERE clause (WHERE true if you really mean every row) and batch large backfills.',

  docs: {
    problem:
      'An UPDATE or DELETE without WHERE rewrites or removes every row in one transaction: long row locks, table bloat, a large WAL burst, and it is usually a mistake.',
    solution:
      'Restrict it with WHERE. For a deliberate whole-table backfill, write WHERE true (or batch it by key ranges).',
    bad: 'UPDATE users SET active = true;',
    good: 'UPDATE users SET active = true WHERE active IS NULL;',
  },
  check(st, ctx) {
    const n = body(st, 'UpdateStmt') ?? body(st, 'DeleteStmt');
    if (!n || o(n, 'whereClause') || o(n, 'whereCurrentOf')) return;
    const t = relName(st, o(n, 'relation'));
    if (ctx.isNew(t)) return [];
    return [`${st.kind === 'UpdateStmt' ? 'UPDATE' : 'DELETE'} on ${t} without WHERE touches every row`];
  },
};
