import { s } from '../ast';
import type { StatementRule } from './types';
import { alterCmds, colType, COLUMN_DEF_KINDS, columnDefs } from './util';
import { o } from '../ast';

export const preferTimestamptz: StatementRule = {
  id: 'prefer-timestamptz',
  scope: 'statement',
  kinds: COLUMN_DEF_KINDS,
  severity: 'warning',
  message: 'timestamp without time zone loses the instant a value refers to',
  help: 'Use timestamptz (timestamp with time zone).',
  seeAlso: ['squawk: prefer-timestamptz'],
  docs: {
    problem:
      '`timestamp` stores a wall-clock reading without a zone: the same value means different instants for clients in different zones, and DST transitions make values ambiguous.',
    solution:
      'Use `timestamptz`: it stores an instant (UTC) and converts on input/output with the session TimeZone.',
    bad: 'CREATE TABLE t (created_at timestamp NOT NULL DEFAULT now());',
    good: 'CREATE TABLE t (created_at timestamptz NOT NULL DEFAULT now());',
  },
  check(st) {
    const out = columnDefs(st)
      .filter((d) => colType(d.col).name === 'timestamp')
      .map(
        (d) =>
          `column ${d.table}.${s(d.col, 'colname') ?? ''} is timestamp without time zone: prefer timestamptz`,
      );
    for (const c of alterCmds(st)) {
      if (
        c.subtype === 'AT_AlterColumnType' &&
        colType(o(o(c.cmd, 'def'), 'ColumnDef') ?? {}).name === 'timestamp'
      ) {
        out.push(
          `column ${c.table}.${s(c.cmd, 'name') ?? ''} is changed to timestamp without time zone: prefer timestamptz`,
        );
      }
    }
    return out;
  },
};
