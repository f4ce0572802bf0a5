import type { StatementRule } from './types';

export const truncate: StatementRule = {
  id: 'truncate',
  scope: 'statement',
  kinds: ['TruncateStmt'],
  severity: 'error',
  message: 'TRUNCATE deletes every row and takes an ACCESS EXCLUSIVE lock',
  help: 'Delete the rows you mean to delete with a WHERE clause, in batches; suppress with a reason if the table must be emptied.',
  seeAlso: ['squawk: ban-truncate-cascade'],
  docs: {
    problem:
      'TRUNCATE removes all rows (with CASCADE, of referencing tables too), cannot be undone by down.sql and locks the table in ACCESS EXCLUSIVE mode.',
    solution:
      'Delete with an explicit WHERE, in batches; or suppress with `-- braid:ignore truncate <reason>`.',
    bad: 'TRUNCATE sessions;',
    good: "DELETE FROM sessions WHERE expires_at < now() - interval '30 days';",
  },
  check(st, ctx) {
    if (st.kind !== 'TruncateStmt') return;
    return st.footprint.writes
      .filter((w) => !ctx.isNew(`${w.schema ?? 'public'}.${w.name}`))
      .map((w) => `TRUNCATE ${w.schema ?? 'public'}.${w.name} deletes every row`);
  },
};
