import type { StatementRule } from './types';

export const dropDatabase: StatementRule = {
  id: 'drop-database',
  scope: 'statement',
  severity: 'error',
  message: 'dropping a database in a migration destroys it',
  help: 'Databases are not managed by migrations: drop them by hand.',
  seeAlso: ['squawk: ban-drop-database'],
  docs: {
    problem:
      'DROP DATABASE is irreversible, cannot run in a transaction and does not belong in a schema migration.',
    solution: 'Remove the statement; manage databases outside migrations.',
    bad: 'DROP DATABASE legacy;',
  },
  check(st) {
    return st.footprint.drops
      .filter((d) => d.kind === 'database')
      .map((d) => `dropping database ${d.name} in a migration`);
  },
};
