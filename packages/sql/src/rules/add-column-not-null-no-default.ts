import { s } from '../ast';
import type { StatementRule } from './types';
import { COLUMN_DEF_KINDS, columnDefs, constraintsOf } from './util';

export const addColumnNotNullNoDefault: StatementRule = {
  id: 'add-column-not-null-no-default',
  scope: 'statement',
  kinds: COLUMN_DEF_KINDS,
  severity: 'error',
  message: 'adding a NOT NULL column without a DEFAULT fails on a table that has rows',
  help: 'Add the column with a constant DEFAULT, or add it nullable, backfill, then SET NOT NULL safely.',
  seeAlso: ['squawk: adding-required-field'],
  docs: {
    problem:
      'ALTER TABLE … ADD COLUMN … NOT NULL without a default cannot fill existing rows: the migration fails on any non-empty table (it works on an empty development database and then breaks in production).',
    solution:
      'Give the column a constant DEFAULT (instant since PostgreSQL 11), or add it nullable, backfill it, and set NOT NULL with a validated CHECK first.',
    bad: 'ALTER TABLE users ADD COLUMN plan text NOT NULL;',
    good: "ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';",
  },
  check(st, ctx) {
    const out: string[] = [];
    for (const d of columnDefs(st)) {
      if (d.created || ctx.isNew(d.table)) continue;
      const cons = constraintsOf(d.col);
      const has = (t: string) => cons.some((c) => s(c, 'contype') === t);
      if (
        (has('CONSTR_NOTNULL') || has('CONSTR_PRIMARY')) &&
        !has('CONSTR_DEFAULT') &&
        !has('CONSTR_IDENTITY') &&
        !has('CONSTR_GENERATED')
      ) {
        out.push(
          `adding NOT NULL column ${d.table}.${s(d.col, 'colname') ?? ''} without a DEFAULT fails if the table has rows`,
        );
      }
    }
    return out;
  },
};
