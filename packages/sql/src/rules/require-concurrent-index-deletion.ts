import { b } from '../ast';
import type { StatementRule } from './types';
import { body } from './util';

export const requireConcurrentIndexDeletion: StatementRule = {
  id: 'require-concurrent-index-deletion',
  scope: 'statement',
  kinds: ['DropStmt'],
  severity: 'error',
  message: 'DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table',
  help: 'Use DROP INDEX CONCURRENTLY in a migration marked `-- braid:no-transaction`.',
  seeAlso: ['squawk: require-concurrent-index-deletion'],
  docs: {
    problem:
      'DROP INDEX locks the index’s table in ACCESS EXCLUSIVE mode: reads and writes wait, and everything queued behind it waits too.',
    solution:
      'Use DROP INDEX CONCURRENTLY (it waits for conflicting transactions instead of blocking them), in a migration marked `-- braid:no-transaction`.',
    bad: 'DROP INDEX orders_user_id_idx;',
    good: '-- braid:no-transaction\nDROP INDEX CONCURRENTLY orders_user_id_idx;',
  },
  check(st, ctx) {
    const n = body(st, 'DropStmt');
    if (!n || n['removeType'] !== 'OBJECT_INDEX' || b(n, 'concurrent')) return;
    const idx = st.footprint.drops.filter(
      (d) => d.kind === 'index' && !ctx.isNew(`${d.schema ?? 'public'}.${d.name}`),
    );
    return idx.length ? [true] : [];
  },
};
