import type { StatementRule } from './types';

export const requireLockTimeout: StatementRule = {
  id: 'require-lock-timeout',
  scope: 'statement',
  severity: 'info',
  message: 'an ACCESS EXCLUSIVE lock is requested without a lock_timeout',
  help: "SET lock_timeout = '5s' at the top of the migration (braid up --lock-timeout also sets one).",
  seeAlso: ['squawk: require-timeout-settings'],
  docs: {
    problem:
      'A statement that needs ACCESS EXCLUSIVE waits behind any long-running transaction on the table, and every query that arrives after it queues behind it: a short DDL becomes an outage.',
    solution:
      "`braid up` sets a lock_timeout (5 s by default, `--lock-timeout`) and retries, so this rule is informational; it matters when the migration is applied by other means. Set a lock_timeout before such statements (`SET lock_timeout = '5s';`) so the migration fails fast and can be retried, instead of stalling traffic.",
    bad: 'ALTER TABLE orders ADD COLUMN note text;',
    good: "SET lock_timeout = '5s';\nALTER TABLE orders ADD COLUMN note text;",
  },
  check(st, ctx) {
    if (ctx.lockTimeoutSet) return;
    const hit = st.locks.effects.filter((e) => e.lock === 'ACCESS EXCLUSIVE' && !ctx.isNew(e.object));
    return hit.length
      ? [`${hit.map((e) => e.object).join(', ')}: ACCESS EXCLUSIVE lock requested without a lock_timeout`]
      : [];
  },
};
