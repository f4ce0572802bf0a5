import { s } from '../ast';
import type { StatementRule } from './types';
import { alterCmds } from './util';

export const columnTypeChange: StatementRule = {
  id: 'column-type-change',
  scope: 'statement',
  kinds: ['AlterTableStmt'],
  severity: 'error',
  message: 'changing a column type rewrites the table under an ACCESS EXCLUSIVE lock',
  help: 'Add a new column, backfill it in batches, switch readers and writers, then drop the old one; or make the change binary-coercible (varchar(n) → text, wider varchar/numeric).',
  seeAlso: ['squawk: changing-column-type'],
  docs: {
    problem:
      'ALTER COLUMN … TYPE rewrites every row (and rebuilds indexes) while holding ACCESS EXCLUSIVE, unless the change is binary-coercible (varchar(n) → varchar(m ≥ n) or text, numeric widening, cidr → inet). It may also break clients that expect the old type.',
    solution:
      'Use the expand/contract pattern: add the new column, backfill in batches, keep both in sync (trigger or application), switch reads, then drop the old column.',
    bad: 'ALTER TABLE events ALTER COLUMN id TYPE bigint;',
    good: 'ALTER TABLE events ADD COLUMN id_new bigint;\n-- backfill in batches, switch, then drop the old column',
  },
  check(st, ctx) {
    const out: string[] = [];
    for (const c of alterCmds(st)) {
      if (c.subtype !== 'AT_AlterColumnType' || ctx.isNew(c.table)) continue;
      const eff = st.locks.effects.find((e) => e.object === c.table);
      if (eff && !eff.rewrite) continue;
      out.push(
        `changing the type of ${c.table}.${s(c.cmd, 'name') ?? ''} rewrites the table under an ACCESS EXCLUSIVE lock`,
      );
    }
    return out;
  },
};
