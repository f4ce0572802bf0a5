import type { MigrationFinding, MigrationRule } from './types';

export const syntaxError: MigrationRule = {
  id: 'syntax-error',
  scope: 'migration',
  severity: 'error',
  message: 'the file does not parse',
  help: 'Fix the SQL at the position shown (braid parses with PostgreSQL’s own grammar).',
  docs: {
    problem:
      'A statement that PostgreSQL cannot parse will fail at deploy time; other rules cannot analyse it.',
    solution: 'Fix the syntax at the reported line and column.',
    bad: 'CREAT TABLE t (id int);',
    good: 'CREATE TABLE t (id int);',
  },
  check(m) {
    const out: MigrationFinding[] = [];
    for (const f of [m.up, m.down, m.verify]) {
      for (const e of f?.syntaxErrors ?? [])
        out.push({
          file: f!.path,
          line: e.line,
          column: e.col,
          message: e.message.startsWith('syntax error') ? e.message : `syntax error: ${e.message}`,
        });
    }
    return out;
  },
};
