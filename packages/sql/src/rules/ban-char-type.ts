import { s } from '../ast';
import type { StatementRule } from './types';
import { colType, COLUMN_DEF_KINDS, columnDefs } from './util';

export const banCharType: StatementRule = {
  id: 'ban-char-type',
  scope: 'statement',
  kinds: COLUMN_DEF_KINDS,
  severity: 'warning',
  message: 'char(n) pads with spaces and is never faster than text',
  help: 'Use text (with a CHECK on length if needed) or varchar.',
  seeAlso: ['squawk: ban-char-field'],
  docs: {
    problem:
      'char(n) blank-pads values, compares with trailing-space semantics that surprise applications, and has no storage or speed advantage over text in PostgreSQL.',
    solution: 'Use text, with `CHECK (length(col) = n)` if a fixed length matters.',
    bad: 'CREATE TABLE t (code char(3));',
    good: 'CREATE TABLE t (code text CHECK (length(code) = 3));',
  },
  check(st) {
    return columnDefs(st)
      .filter(
        (d) =>
          colType(d.col).name === 'bpchar' ||
          colType(d.col).name === 'char' ||
          colType(d.col).name === 'character',
      )
      .map((d) => `column ${d.table}.${s(d.col, 'colname') ?? ''} uses char(n): prefer text`);
  },
};
