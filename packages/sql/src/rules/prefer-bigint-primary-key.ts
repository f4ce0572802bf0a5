import type { StatementRule } from './types';
import { COLUMN_DEF_KINDS, primaryKeyColumns } from './util';

const SMALL = new Set([
  'int4',
  'int2',
  'integer',
  'int',
  'smallint',
  'serial',
  'serial4',
  'smallserial',
  'serial2',
]);

export const preferBigintPrimaryKey: StatementRule = {
  id: 'prefer-bigint-primary-key',
  scope: 'statement',
  kinds: COLUMN_DEF_KINDS,
  severity: 'warning',
  message: 'an integer primary key can run out of values (2^31)',
  help: 'Use bigint (GENERATED … AS IDENTITY) for primary keys.',
  seeAlso: ['squawk: prefer-big-int'],
  docs: {
    problem:
      'int4 keys overflow at 2,147,483,647; widening the column later rewrites the table and every referencing foreign key under lock.',
    solution:
      'Start with bigint: `id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`. The extra 4 bytes per row are cheap compared to the migration.',
    bad: 'CREATE TABLE t (id int PRIMARY KEY);',
    good: 'CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);',
  },
  check(st) {
    return primaryKeyColumns(st)
      .filter((k) => k.type !== undefined && SMALL.has(k.type))
      .map(
        (k) =>
          `primary key ${k.table}.${k.column} is ${k.type === 'int4' ? 'integer' : k.type!}: prefer bigint`,
      );
  },
};
