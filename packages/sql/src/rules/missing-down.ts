import type { MigrationRule } from './types';

export const missingDown: MigrationRule = {
  id: 'missing-down',
  scope: 'migration',
  severity: 'error',
  message: 'down.sql is missing or empty',
  help: 'Write the rollback in down.sql, or mark the migration `-- braid:irreversible` in up.sql.',
  docs: {
    problem:
      '`braid down` needs a down.sql that undoes up.sql; without one a bad deploy can only be fixed forward, under pressure.',
    solution:
      'Write down.sql (the mirror of up.sql; `braid test` proves it round-trips). If the change truly cannot be undone, say so with `-- braid:irreversible` at the top of up.sql: `braid down` then refuses with a clear error.',
    bad: '(no down.sql)',
    good: 'DROP TABLE IF EXISTS accounts;',
  },
  check(m) {
    if (m.up?.directives.has('irreversible')) return [];
    // An up.sql with no statement yet (a fresh `braid new` template) has nothing to undo.
    if (m.up && m.up.statements.length === 0 && m.up.syntaxErrors.length === 0) return [];
    if (!m.down)
      return [
        {
          file: `${m.dir}/down.sql`,
          line: 1,
          column: 1,
          message: 'down.sql is missing (mark up.sql `-- braid:irreversible` if that is intended)',
        },
      ];
    if (m.down.statements.length === 0 && m.down.syntaxErrors.length === 0) {
      return [{ file: m.down.path, line: 1, column: 1, message: 'down.sql is empty: it undoes nothing' }];
    }
    return [];
  },
};
