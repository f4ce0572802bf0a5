import { b, o } from '../ast';
import type { StatementRule } from './types';
import { body, relName } from './util';

export const requireConcurrentIndexCreation: StatementRule = {
  id: 'require-concurrent-index-creation',
  scope: 'statement',
  kinds: ['IndexStmt'],
  severity: 'error',
  message: 'CREATE INDEX without CONCURRENTLY blocks writes to the table while the index builds',
  help: 'Use CREATE INDEX CONCURRENTLY in a migration marked `-- braid:no-transaction`.',
  seeAlso: ['squawk: require-concurrent-index-creation'],
  docs: {
    problem:
      'CREATE INDEX takes a SHARE lock on the table: every INSERT, UPDATE and DELETE waits until the index is built, which on a large table can take minutes.',
    solution:
      'Build the index with CREATE INDEX CONCURRENTLY (SHARE UPDATE EXCLUSIVE: writes continue). It cannot run in a transaction, so put it in its own migration with `-- braid:no-transaction`. A table created in the same migration (or earlier on the same unmerged branch) is exempt.',
    bad: 'CREATE INDEX orders_user_id_idx ON orders (user_id);',
    good: '-- braid:no-transaction\nCREATE INDEX CONCURRENTLY orders_user_id_idx ON orders (user_id);',
  },
  check(st, ctx) {
    const n = body(st, 'IndexStmt');
    if (!n || b(n, 'concurrent')) return;
    const t = relName(st, o(n, 'relation'));
    return ctx.isNew(t)
      ? []
      : [`CREATE INDEX on ${t} without CONCURRENTLY blocks writes while the index builds`];
  },
};
