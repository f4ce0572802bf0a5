import { readStatus, type StatusReport } from '@braid/pg';
import { withDb, defineCommand } from '../runtime';
import { openDb, withLockWait } from '../db';
import { projectMigrations } from './up';

export const statusCommand = defineCommand({
  command: 'status',
  describe: 'applied, pending, edited since applied, and applied-but-unknown migrations',
  builder: (y) => withLockWait(withDb(y)),
  handler: async (args, ctx) => {
    const { root, migrations } = projectMigrations(ctx.cwd);
    const { ex, db } = await openDb(args, ctx, root, 'braid status');
    let s: StatusReport;
    try {
      s = await readStatus(ex, migrations);
    } finally {
      await ex.close();
    }
    const edited = new Set(s.edited.map((e) => e.id));
    const unknown = new Set(s.unknown);
    const partial = new Map(s.partial.map((p) => [p.id, p.statementsDone]));
    if (ctx.out.json) {
      ctx.out.result({
        database: db.label,
        engine: ex.engine,
        applied: s.applied.map((a) => ({
          id: a.id,
          checksum: a.checksum,
          appliedAt: a.appliedAt,
          state: unknown.has(a.id) ? 'unknown' : edited.has(a.id) ? 'edited' : 'ok',
        })),
        pending: s.pending.map((id) => ({
          id,
          ...(partial.has(id) ? { statementsDone: partial.get(id) } : {}),
        })),
        edited: s.edited,
        unknown: s.unknown,
        registry: s.registry,
      });
      return;
    }
    ctx.out.print(`database: ${db.label}`);
    for (const a of s.applied) {
      const tag = unknown.has(a.id)
        ? 'unknown to this branch'
        : edited.has(a.id)
          ? 'EDITED since applied'
          : 'applied';
      ctx.out.print(`  ${tag.padEnd(22)} ${a.id}  (${a.appliedAt})`);
    }
    for (const id of s.pending) {
      const p = partial.get(id);
      ctx.out.print(
        `  ${'pending'.padEnd(22)} ${id}${p ? `  (stopped after statement ${p}; up resumes)` : ''}`,
      );
    }
    ctx.out.print(
      `${s.applied.length} applied, ${s.pending.length} pending, ${s.edited.length} edited, ${s.unknown.length} unknown to this branch`,
    );
  },
});
