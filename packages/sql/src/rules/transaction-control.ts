import type { StatementRule } from './types';

export const transactionControl: StatementRule = {
  id: 'transaction-control',
  scope: 'statement',
  kinds: ['TransactionStmt'],
  severity: 'error',
  message: 'transaction control (BEGIN/COMMIT/ROLLBACK) inside a migration',
  help: 'Remove it: braid wraps each migration in a transaction (or none, with -- braid:no-transaction).',
  seeAlso: ['squawk: transaction-nesting'],
  docs: {
    problem:
      'braid runs each migration in its own transaction together with its history row. A COMMIT inside the file ends that transaction early: a failure after it leaves the migration half-applied and unrecorded.',
    solution:
      'Delete BEGIN/COMMIT/ROLLBACK/SAVEPOINT statements. For statements that cannot run in a transaction, use `-- braid:no-transaction`; in such a migration, explicit transactions that group statements are allowed.',
    bad: 'BEGIN;\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;',
    good: 'ALTER TABLE t ADD COLUMN c int;',
  },
  check(st, ctx) {
    // A `-- braid:no-transaction` migration runs statement by statement: explicit transactions
    // are how it groups statements, and braid's progress rows commit with them.
    if (!ctx.transactional) return undefined;
    return st.kind === 'TransactionStmt'
      ? [`transaction control statement "${st.text.split(/\s+/)[0].toUpperCase()}" inside a migration`]
      : undefined;
  },
};
