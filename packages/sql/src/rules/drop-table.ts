import { qname } from '../footprint';
import type { StatementRule } from './types';

export const dropTable: StatementRule = {
  id: 'drop-table',
  scope: 'statement',
  severity: 'warning',
  message: 'dropping a table destroys data and breaks clients that still use it',
  help: 'Make sure no deployed code uses the table (or rename it away first); suppress with a reason.',
  seeAlso: ['squawk: ban-drop-table', 'atlas: DS102'],
  docs: {
    problem:
      'DROP TABLE loses all its rows (down.sql cannot restore them) and takes an ACCESS EXCLUSIVE lock.',
    solution:
      'Stop using the table first; consider renaming it and dropping it in a later release. Suppress with `-- braid:ignore drop-table <reason>`.',
    bad: 'DROP TABLE audit_log;',
    good: '-- braid:ignore drop-table replaced by audit_events in release 40\nDROP TABLE audit_log;',
  },
  check(st, ctx) {
    return st.footprint.drops
      .filter((d) => (d.kind === 'table' || d.kind === 'materialized view') && !ctx.isNew(qname(d)))
      .map((d) => `dropping ${d.kind} ${qname(d)} destroys its data`);
  },
};
