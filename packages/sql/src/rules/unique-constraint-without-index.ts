import { o, s } from '../ast';
import type { StatementRule } from './types';
import { alterCmds } from './util';

export const uniqueConstraintWithoutIndex: StatementRule = {
  id: 'unique-constraint-without-index',
  scope: 'statement',
  kinds: ['AlterTableStmt'],
  severity: 'error',
  message: 'adding a UNIQUE or PRIMARY KEY constraint builds an index under an ACCESS EXCLUSIVE lock',
  help: 'CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT … UNIQUE/PRIMARY KEY USING INDEX.',
  seeAlso: ['squawk: disallowed-unique-constraint'],
  docs: {
    problem:
      'ALTER TABLE … ADD UNIQUE/PRIMARY KEY builds the index while holding ACCESS EXCLUSIVE: no reads or writes until it is done.',
    solution:
      'Build a unique index with CREATE UNIQUE INDEX CONCURRENTLY (no-transaction migration), then attach it: ALTER TABLE … ADD CONSTRAINT … UNIQUE USING INDEX (instant).',
    bad: 'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);',
    good: '-- braid:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY users_email_idx ON users (email);\nALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;',
  },
  check(st, ctx) {
    const out: string[] = [];
    for (const c of alterCmds(st)) {
      if (c.subtype !== 'AT_AddConstraint' || ctx.isNew(c.table)) continue;
      const con = o(o(c.cmd, 'def'), 'Constraint');
      const t = s(con, 'contype');
      if (
        (t === 'CONSTR_UNIQUE' || t === 'CONSTR_PRIMARY' || t === 'CONSTR_EXCLUSION') &&
        s(con, 'indexname') === undefined
      ) {
        out.push(
          `adding a ${t === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : t === 'CONSTR_UNIQUE' ? 'UNIQUE' : 'EXCLUDE'} constraint to ${c.table} builds its index under an ACCESS EXCLUSIVE lock`,
        );
      }
    }
    return out;
  },
};
