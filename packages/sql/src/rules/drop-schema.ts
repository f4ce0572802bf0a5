import type { StatementRule } from './types';

export const dropSchema: StatementRule = {
  id: 'drop-schema',
  scope: 'statement',
  severity: 'error',
  message: 'dropping a schema destroys every object in it',
  help: 'Drop the objects you mean to drop explicitly; suppress with a reason if the whole schema must go.',
  seeAlso: ['atlas: DS101'],
  docs: {
    problem:
      'DROP SCHEMA (with CASCADE) removes every table, view, function and type in it, with their data.',
    solution:
      'Drop the individual objects explicitly, or suppress with `-- braid:ignore drop-schema <reason>`.',
    bad: 'DROP SCHEMA reporting CASCADE;',
    good: 'DROP VIEW reporting.daily;\nDROP SCHEMA reporting;',
  },
  check(st) {
    return st.footprint.drops
      .filter((d) => d.kind === 'schema')
      .map((d) => `dropping schema ${d.name} destroys every object in it`);
  },
};
