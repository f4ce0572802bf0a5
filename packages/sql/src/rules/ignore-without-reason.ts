import type { MigrationFinding, MigrationRule } from './types';

export const ignoreWithoutReason: MigrationRule = {
  id: 'ignore-without-reason',
  scope: 'migration',
  severity: 'error',
  message: 'a braid:ignore comment must give a reason',
  help: 'Write `-- braid:ignore <rule-id> <why this is safe>`.',
  docs: {
    problem:
      'Suppressions without a reason hide hazards from reviewers: nobody can tell whether the risk was considered.',
    solution:
      'Give the reason after the rule id, e.g. `-- braid:ignore drop-column unused since release 42`. The reason is shown in lint output and reports. A suppression without one is ignored.',
    bad: '-- braid:ignore drop-column\nALTER TABLE t DROP COLUMN c;',
    good: '-- braid:ignore drop-column unused since release 42\nALTER TABLE t DROP COLUMN c;',
  },
  check(m) {
    const out: MigrationFinding[] = [];
    for (const f of [m.up, m.down, m.verify]) {
      if (!f) continue;
      const all = [...f.fileSuppressions, ...f.statements.flatMap((s) => s.suppressions)];
      for (const sup of all) {
        if (!sup.reason)
          out.push({
            file: f.path,
            line: sup.line,
            column: sup.col,
            message: `braid:ignore ${sup.rules.join(',')} gives no reason (the suppression is not applied)`,
          });
      }
    }
    return out;
  },
};
