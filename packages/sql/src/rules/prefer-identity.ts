import { s } from '../ast';
import type { StatementRule } from './types';
import { colType, COLUMN_DEF_KINDS, columnDefs } from './util';

export const preferIdentity: StatementRule = {
  id: 'prefer-identity',
  scope: 'statement',
  kinds: COLUMN_DEF_KINDS,
  severity: 'warning',
  message: 'serial columns are legacy: use GENERATED … AS IDENTITY',
  help: 'Write `id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY` instead of serial/bigserial.',
  seeAlso: ['squawk: prefer-identity'],
  docs: {
    problem:
      'serial creates a separately owned sequence with loose permissions and ownership semantics (it is not copied by CREATE TABLE … LIKE, grants must be managed separately, it can be written to directly).',
    solution:
      'Use an identity column, the SQL-standard form: `GENERATED ALWAYS AS IDENTITY` (or BY DEFAULT).',
    bad: 'CREATE TABLE t (id serial PRIMARY KEY);',
    good: 'CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);',
  },
  check(st) {
    return columnDefs(st)
      .filter((d) => /^(small|big)?serial[248]?$/.test(colType(d.col).name))
      .map(
        (d) =>
          `column ${d.table}.${s(d.col, 'colname') ?? ''} uses ${colType(d.col).name}: prefer GENERATED … AS IDENTITY`,
      );
  },
};
