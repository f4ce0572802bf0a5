import type { StatementRule } from './types';

export const dropColumn: StatementRule = {
  id: 'drop-column',
  scope: 'statement',
  severity: 'warning',
  message: 'dropping a column destroys data and breaks clients that still read it',
  help: 'Stop using the column in every deployed version first; suppress with a reason once that is done.',
  seeAlso: ['squawk: ban-drop-column', 'atlas: DS103'],
  docs: {
    problem:
      'DROP COLUMN loses the data (a rollback cannot bring it back) and breaks any deployed code that still selects or writes the column.',
    solution:
      'Remove every use of the column from the application and deploy that first; then drop it, with `-- braid:ignore drop-column <why it is safe>`.',
    bad: 'ALTER TABLE users DROP COLUMN legacy_flag;',
    good: '-- braid:ignore drop-column unused since release 42\nALTER TABLE users DROP COLUMN legacy_flag;',
  },
  check(st, ctx) {
    return st.footprint.alters
      .filter(
        (x) =>
          x.action === 'drop' &&
          x.sub?.kind === 'column' &&
          !ctx.isNew(`${x.object.schema ?? 'public'}.${x.object.name}`),
      )
      .map(
        (x) =>
          `dropping column ${x.object.schema ?? 'public'}.${x.object.name}.${x.sub?.name ?? ''} destroys its data`,
      );
  },
};
