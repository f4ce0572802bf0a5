import type { MigrationRule } from './types';

export const verifyAssertsNothing: MigrationRule = {
  id: 'verify-asserts-nothing',
  scope: 'migration',
  severity: 'warning',
  message: 'verify.sql asserts nothing',
  help: 'Make verify.sql fail when the change is wrong: reference the new objects, or use a DO block with ASSERT/RAISE EXCEPTION.',
  docs: {
    problem:
      'verify.sql runs right after up.sql in the same transaction; an error rolls the migration back. A verify.sql that cannot fail (empty, comments, SELECT 1) gives false confidence.',
    solution:
      'Select from the objects the migration creates (a missing table or column is an error), or assert on data: `DO $$ BEGIN ASSERT (SELECT count(*) FROM t WHERE c IS NULL) = 0; END $$;`.',
    bad: 'SELECT 1;',
    good: 'SELECT id, email FROM accounts WHERE false;',
  },
  check(m) {
    const v = m.verify;
    if (!v || v.syntaxErrors.length > 0) return [];
    const asserts = v.statements.some((st) => {
      if (st.kind === 'DoStmt')
        return (
          /\b(assert|raise\s+exception|raise\s+'|raise\s+sqlstate)/i.test(st.text) ||
          /\braise\b/i.test(st.text)
        );
      return st.footprint.reads.length > 0 || st.footprint.writes.length > 0 || st.kind === 'CallStmt';
    });
    if (asserts) return [];
    const first = v.statements[0];
    return [
      {
        file: v.path,
        line: first?.line ?? 1,
        column: first?.col ?? 1,
        message: v.statements.length
          ? 'verify.sql references no object and asserts nothing: it cannot fail'
          : 'verify.sql is empty: it asserts nothing',
      },
    ];
  },
};
