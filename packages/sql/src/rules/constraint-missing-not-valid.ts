import { b, o, s } from '../ast';
import type { StatementRule } from './types';
import { alterCmds } from './util';

export const constraintMissingNotValid: StatementRule = {
  id: 'constraint-missing-not-valid',
  scope: 'statement',
  kinds: ['AlterTableStmt'],
  severity: 'error',
  message: 'adding a CHECK or FOREIGN KEY constraint without NOT VALID scans the whole table under lock',
  help: 'Add the constraint with NOT VALID, then VALIDATE CONSTRAINT in a later statement or migration.',
  seeAlso: ['squawk: constraint-missing-not-valid', 'squawk: adding-foreign-key-constraint'],
  docs: {
    problem:
      'ALTER TABLE … ADD CONSTRAINT … CHECK/FOREIGN KEY checks every existing row while holding ACCESS EXCLUSIVE (CHECK) or SHARE ROW EXCLUSIVE (FOREIGN KEY, on both tables) locks: writes are blocked for the duration of the scan.',
    solution:
      'Add the constraint with NOT VALID (only new rows are checked, the lock is brief), then run ALTER TABLE … VALIDATE CONSTRAINT, which scans with a SHARE UPDATE EXCLUSIVE lock that does not block reads or writes.',
    bad: 'ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);',
    good: 'ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;',
  },
  check(st, ctx) {
    const out: string[] = [];
    for (const c of alterCmds(st)) {
      if (c.subtype !== 'AT_AddConstraint' || ctx.isNew(c.table)) continue;
      const con = o(o(c.cmd, 'def'), 'Constraint');
      const t = s(con, 'contype');
      if ((t === 'CONSTR_CHECK' || t === 'CONSTR_FOREIGN') && !b(con, 'skip_validation')) {
        out.push(
          `adding ${t === 'CONSTR_CHECK' ? 'CHECK' : 'FOREIGN KEY'} constraint${s(con, 'conname') ? ` ${s(con, 'conname')!}` : ''} to ${c.table} without NOT VALID scans the table under lock`,
        );
      }
    }
    return out;
  },
};
