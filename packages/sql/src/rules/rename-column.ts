import { qname } from '../footprint';
import type { StatementRule } from './types';

export const renameColumn: StatementRule = {
  id: 'rename-column',
  scope: 'statement',
  severity: 'warning',
  message: 'renaming a column breaks clients that still use the old name',
  help: 'Add the new column (or a view), migrate readers and writers, then drop the old name in a later release.',
  seeAlso: ['squawk: renaming-column', 'atlas: BC102'],
  docs: {
    problem:
      'A deployed application keeps querying the old column name between the migration and its own deployment: the rename is backward-incompatible.',
    solution:
      'Expand/contract: add the new column, write to both, backfill, switch reads, then drop the old column once no deployed code uses it.',
    bad: 'ALTER TABLE users RENAME COLUMN name TO full_name;',
    good: 'ALTER TABLE users ADD COLUMN full_name text;\n-- dual-write and backfill, then later: ALTER TABLE users DROP COLUMN name;',
  },
  check(st, ctx) {
    return st.footprint.renames
      .filter((r) => r.from.kind === 'column' && !ctx.isNew(r.from.table ?? ''))
      .map((r) => `renaming column ${qname(r.from)} to ${r.to.name} breaks clients that use the old name`);
  },
};
