import type { StatementRule } from './types';

export const concurrentlyInTransaction: StatementRule = {
  id: 'concurrently-in-transaction',
  scope: 'statement',
  severity: 'error',
  message: 'this statement cannot run inside a transaction, but the migration runs in one',
  help: 'Add `-- braid:no-transaction` at the top of up.sql (and keep such statements in their own migration).',
  seeAlso: ['squawk: ban-concurrent-index-creation-in-transaction'],
  docs: {
    problem:
      'CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, VACUUM, CREATE DATABASE and a few others refuse to run in a transaction block. braid runs each migration in a transaction unless told otherwise, so the migration fails at deploy time.',
    solution:
      'Mark the migration with `-- braid:no-transaction` on the first lines of up.sql. braid then runs its statements one by one and records progress per statement.',
    bad: 'CREATE INDEX CONCURRENTLY i ON t (a);',
    good: '-- braid:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);',
  },
  check(st, ctx) {
    if (!ctx.transactional || st.locks.transactional) return;
    return [
      `${st.locks.nonTransactionalReason ?? 'this statement cannot run in a transaction block'}, but the migration is not marked -- braid:no-transaction`,
    ];
  },
};
