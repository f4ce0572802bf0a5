import {
  diffSchemas,
  EXIT_FINDINGS,
  isEmptyDiff,
  normalizeSlug,
  renderDiffText,
  type SchemaDiff,
} from '@braid/core';
import {
  introspect,
  readApplied,
  readProgress,
  readRegistryState,
  recordAudit,
  recordHistory,
  replaySchema,
  withAdvisoryLock,
  withTransaction,
  computeStatus,
  type ReplayStats,
  type StatusReport,
} from '@braid/pg';
import { defineCommand, withDb } from '../runtime';
import { gitProvenance, openDb, parseDuration, withLockWait } from '../db';
import { displayPath, withProjectLock } from '../project';
import { shadowSpec, withShadow, type ShadowArgs } from '../shadow';
import { createMigration } from './new';
import { migrationFilesFromSchemas } from '../declared';
import { projectMigrations } from './up';

interface DriftArgs extends ShadowArgs {
  db: string | undefined;
  'lock-wait': string | undefined;
  capture: string | undefined;
}

/**
 * `braid drift`: database drift (the live schema vs the schema its applied migrations describe,
 * replayed on a shadow) and history drift (pending, applied-but-unknown, edited-since-applied).
 * Holds braid's advisory lock while it looks, so a deploy in flight is not reported as drift.
 * `--capture <slug>` turns database drift into a new migration recorded as applied here.
 */
export const driftCommand = defineCommand<DriftArgs>({
  command: 'drift',
  describe: 'database drift and history drift of a live database; --capture turns drift into a migration',
  builder: (y) =>
    withShadow(withLockWait(withDb(y))).option('capture', {
      type: 'string',
      describe:
        'write the database drift as a new migration with this slug (recorded as applied in this database)',
    }),
  handler: async (args, ctx) => {
    const captureSlug =
      args.capture === undefined ? undefined : normalizeSlug(args.capture, { argName: '--capture' });
    const { root, migrations } = projectMigrations(ctx.cwd);
    const { ex, db } = await openDb(args, ctx, root, 'braid drift');
    try {
      const fallbackServer = ex.engine === 'postgres' && !args['shadow-db'] ? db.url : undefined;
      return await withAdvisoryLock(
        ex,
        {
          waitMs: parseDuration(args['lock-wait'], '--lock-wait', 60_000),
          onWait: () => ctx.out.note('braid: waiting for a braid runner to finish before looking for drift'),
        },
        async () => {
          const reg = await readRegistryState(ex);
          const applied = reg.exists ? await readApplied(ex) : [];
          const progress = reg.exists ? await readProgress(ex) : [];
          const status = computeStatus(migrations, applied, progress, reg);
          const appliedIds = new Set(applied.map((a) => a.id));
          const appliedKnown = migrations.filter((m) => appliedIds.has(m.id));
          let replay: { model: import('@braid/core').SchemaModel; stats: ReplayStats };
          const spec = shadowSpec(args, ctx, root, fallbackServer ? { fallbackServer } : {});
          try {
            replay = await replaySchema(appliedKnown, spec);
          } catch (e) {
            // The target server may not let this role create databases: fall back to PGlite.
            if (!fallbackServer || !/permission denied|must be owner|CREATEDB/i.test(String(e))) throw e;
            ctx.out.note('braid: cannot create a shadow database on the target server; replaying on PGlite');
            replay = await replaySchema(appliedKnown, shadowSpec(args, ctx, root));
          }
          const live = await introspect(ex);
          const diff = diffSchemas(replay.model, live);
          const dbDrift = !isEmptyDiff(diff);
          const histDrift = status.pending.length + status.unknown.length + status.edited.length > 0;

          let captured: { id: string; path: string } | undefined;
          if (captureSlug !== undefined && dbDrift) {
            captured = await capture(ctx.cwd, root, captureSlug, replay.model, live, async (id, hash) => {
              await withTransaction(ex, async () => {
                const prov = await gitProvenance(ctx.cwd);
                await recordHistory(ex, { id, checksum: hash, direction: 'up', durationMs: 0 }, prov);
                await recordAudit(ex, { id, direction: 'capture', outcome: 'ok', checksum: hash }, prov);
              });
            });
          }
          report(ctx, {
            database: db.label,
            status,
            diff,
            stats: replay.stats,
            unknownNotReplayed: status.unknown,
            captured,
            captureSlug,
          });
          return (dbDrift && !captured) || histDrift ? EXIT_FINDINGS : 0;
        },
      );
    } finally {
      await ex.close();
    }
  },
});

async function capture(
  cwd: string,
  root: string,
  slug: string,
  expected: import('@braid/core').SchemaModel,
  live: import('@braid/core').SchemaModel,
  record: (id: string, hash: string) => Promise<void>,
): Promise<{ id: string; path: string }> {
  return withProjectLock(root, async () => {
    const made = createMigration(root, slug, () =>
      migrationFilesFromSchemas(expected, live, '`braid drift --capture` from a hand-made change'),
    );
    await record(made.id, made.hash);
    return { id: made.id, path: displayPath(cwd, made.folder) };
  });
}

function report(
  ctx: import('../runtime').Context,
  r: {
    database: string;
    status: StatusReport;
    diff: SchemaDiff;
    stats: ReplayStats;
    unknownNotReplayed: string[];
    captured: { id: string; path: string } | undefined;
    captureSlug: string | undefined;
  },
): void {
  const { status, diff } = r;
  if (ctx.out.json) {
    ctx.out.result({
      database: r.database,
      databaseDrift: diff.changes,
      historyDrift: { pending: status.pending, unknown: status.unknown, edited: status.edited },
      captured: r.captured ?? null,
      shadow: r.stats,
    });
    return;
  }
  ctx.out.print(`database: ${r.database}`);
  ctx.out.print(
    `shadow: ${r.stats.engine} ${Math.floor(r.stats.serverVersionNum / 10000)}, ${r.stats.migrations} applied migration(s) replayed` +
      ` (${r.stats.source === 'model-cache' ? 'from cache' : `${r.stats.replayed} replayed`})`,
  );
  if (isEmptyDiff(diff)) ctx.out.print('database drift: none');
  else {
    ctx.out.print(
      `database drift: ${diff.changes.length} object(s) differ from what the applied migrations describe`,
    );
    for (const line of renderDiffText(diff)) ctx.out.print(`  ${line}`);
  }
  const hist = status.pending.length + status.unknown.length + status.edited.length;
  if (hist === 0) ctx.out.print('history drift: none');
  else {
    ctx.out.print('history drift:');
    for (const id of status.pending) ctx.out.print(`  pending                 ${id}`);
    for (const id of status.unknown) ctx.out.print(`  applied, unknown here   ${id} (not replayed)`);
    for (const e of status.edited) ctx.out.print(`  edited since applied    ${e.id}`);
  }
  if (r.captured) {
    ctx.out.print(
      `captured: ${r.captured.path} (recorded as applied in this database; commit it so other databases get it)`,
    );
  } else if (r.captureSlug !== undefined) {
    ctx.out.print('captured: nothing (no database drift)');
  }
  if (!r.captured && !isEmptyDiff(diff))
    ctx.out.note(`braid: turn it into a migration with \`braid drift --capture <slug>\``);
}
