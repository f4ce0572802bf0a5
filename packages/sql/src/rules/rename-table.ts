import { qname } from '../footprint';
import type { StatementRule } from './types';

export const renameTable: StatementRule = {
  id: 'rename-table',
  scope: 'statement',
  severity: 'warning',
  message: 'renaming a table breaks clients that still use the old name',
  help: 'Create the new name as a view (or rename and leave a view with the old name) until no deployed code uses the old one.',
  seeAlso: ['squawk: renaming-table', 'atlas: BC101'],
  docs: {
    problem:
      'Running application code refers to the old table name until it is redeployed: the rename is backward-incompatible.',
    solution:
      'Rename the table and create a simple view with the old name (updatable), remove the view once every client uses the new name.',
    bad: 'ALTER TABLE customer RENAME TO customers;',
    good: 'ALTER TABLE customer RENAME TO customers;\nCREATE VIEW customer AS SELECT * FROM customers;',
  },
  check(st, ctx) {
    return st.footprint.renames
      .filter(
        (r) =>
          (r.from.kind === 'table' || r.from.kind === 'view') &&
          r.from.name !== r.to.name &&
          !ctx.isNew(qname(r.from)),
      )
      .map(
        (r) =>
          `renaming ${r.from.kind} ${qname(r.from)} to ${r.to.name} breaks clients that use the old name`,
      );
  },
};
