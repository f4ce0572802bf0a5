import { o, s } from '../ast';
import { isVolatileExpr } from '../locks';
import type { StatementRule } from './types';
import { colType, COLUMN_DEF_KINDS, columnDefs, constraintsOf } from './util';

export const addColumnVolatileDefault: StatementRule = {
  id: 'add-column-volatile-default',
  scope: 'statement',
  kinds: COLUMN_DEF_KINDS,
  severity: 'error',
  message: 'adding a column with a volatile DEFAULT rewrites the whole table under an ACCESS EXCLUSIVE lock',
  help: 'Add the column without a default (or with a constant one), set the default afterwards, and backfill in batches.',
  seeAlso: ['squawk: adding-field-with-default'],
  docs: {
    problem:
      'Since PostgreSQL 11, ADD COLUMN with a constant (or stable, like now()) default is instant. A volatile default (random(), gen_random_uuid(), clock_timestamp(), nextval(), a serial or identity column, a stored generated column) must be computed per row: the table is rewritten while locked. Before PostgreSQL 11 any default rewrites.',
    solution:
      'Add the column without a default, ALTER COLUMN … SET DEFAULT for new rows, and backfill existing rows in batches (UPDATE … WHERE id BETWEEN …).',
    bad: 'ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();',
    good: 'ALTER TABLE users ADD COLUMN token uuid;\nALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();\n-- then backfill in batches',
  },
  check(st, ctx) {
    const out: string[] = [];
    for (const d of columnDefs(st)) {
      if (d.created || ctx.isNew(d.table)) continue;
      const name = s(d.col, 'colname') ?? '';
      const cons = constraintsOf(d.col);
      const dflt = cons.find((c) => s(c, 'contype') === 'CONSTR_DEFAULT');
      const gen = cons.find((c) => s(c, 'contype') === 'CONSTR_GENERATED' && s(c, 'generated_kind') !== 'v');
      const ident = cons.find((c) => s(c, 'contype') === 'CONSTR_IDENTITY');
      const serial = /^(small|big)?serial[248]?$/.test(colType(d.col).name);
      if (gen) out.push(`adding stored generated column ${d.table}.${name} rewrites the table`);
      else if (ident || serial)
        out.push(
          `adding ${serial ? 'serial' : 'identity'} column ${d.table}.${name} fills every row (table rewrite)`,
        );
      else if (dflt) {
        const v = isVolatileExpr(o(dflt, 'raw_expr'));
        if (v.volatile)
          out.push(`adding ${d.table}.${name} with volatile DEFAULT ${v.fn ?? ''}() rewrites the table`);
        else if (ctx.pgVersion < 11)
          out.push(`adding ${d.table}.${name} with a DEFAULT rewrites the table before PostgreSQL 11`);
      }
    }
    return out;
  },
};
