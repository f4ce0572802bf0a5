import { s } from '../ast';
import type { StatementRule } from './types';
import { alterCmds } from './util';

export const setNotNullWithoutCheck: StatementRule = {
  id: 'set-not-null-without-check',
  scope: 'statement',
  kinds: ['AlterTableStmt'],
  severity: 'error',
  message: 'SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock',
  help: 'Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL ≥ 12 skips the scan), then drop the CHECK.',
  seeAlso: ['squawk: adding-not-nullable-field'],
  docs: {
    problem:
      'ALTER COLUMN … SET NOT NULL verifies every row while holding ACCESS EXCLUSIVE: the table is unavailable for the duration of a full scan.',
    solution:
      'On PostgreSQL 12 and later, first add `CHECK (col IS NOT NULL) NOT VALID`, then `VALIDATE CONSTRAINT` (no write lock), then SET NOT NULL: PostgreSQL uses the validated constraint and skips the scan. Drop the CHECK afterwards.',
    bad: 'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
    good: 'ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\nALTER TABLE users DROP CONSTRAINT users_email_nn;',
  },
  check(st, ctx) {
    const out: string[] = [];
    for (const c of alterCmds(st)) {
      if (c.subtype !== 'AT_SetNotNull' || ctx.isNew(c.table)) continue;
      const col = s(c.cmd, 'name') ?? '';
      if (ctx.pgVersion >= 12 && ctx.hasNotNullCheck(c.table, col)) continue;
      out.push(`SET NOT NULL on ${c.table}.${col} scans the table under an ACCESS EXCLUSIVE lock`);
    }
    return out;
  },
};
