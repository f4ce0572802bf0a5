import {
  EXIT_FINDINGS,
  UsageError,
  authenticateArchive,
  openArchive,
  readArchive,
  type ArchiveHeader,
  type BraidError,
} from '@braid/core';
import { readBackups, restoreTables, type Executor } from '@braid/pg';
import { withDb, defineCommand, type Context } from '../runtime';
import { findProject } from '../project';
import { openDb } from '../db';
import { readConfigIfAny } from '../online';
import {
  applyRetention,
  backupSettings,
  listArchives,
  archiveSource,
  loadBackupKey,
  type BackupSettings,
} from '../backup';

const ACTIONS = ['list', 'verify', 'restore', 'prune'] as const;

/** A database session only where one is needed (server store, restore, prune, --db). */
async function maybeDb(
  args: { db?: string | undefined },
  ctx: Context,
  root: string,
  s: BackupSettings,
  needed: boolean,
): Promise<{ ex: Executor; label: string } | undefined> {
  if (!needed && !args.db && s.store !== 'server') return undefined;
  const { ex, db } = await openDb(args, ctx, root, 'braid backup');
  return { ex, label: db.label };
}

function summary(h: ArchiveHeader): string {
  const rows = h.tables.reduce((a, t) => a + t.rows, 0);
  return `${h.migration}, ${h.createdAt}, ${rows} rows of ${h.tables.map((t) => `${t.schema}.${t.name}`).join(', ')}`;
}

export const backupCommand = defineCommand({
  command: 'backup <action> [archives..]',
  describe: 'pre-change backups: list, verify (decrypt and check, no database), restore ARCHIVE, prune',
  builder: (y) =>
    withDb(y)
      .positional('action', { type: 'string', choices: ACTIONS as unknown as string[], demandOption: true })
      .positional('archives', { type: 'string', array: true, describe: 'archive names (default: all)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'prune: say what would go' }),
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const s = backupSettings(root, readConfigIfAny(root));
    const action = args.action as (typeof ACTIONS)[number];
    const names = args.archives ?? [];
    const conn = await maybeDb(args, ctx, root, s, action === 'restore' || action === 'prune');
    const ex = conn?.ex;
    try {
      const all = await listArchives(s, ex);
      const pick = names.length ? all.filter((a) => names.includes(a.name)) : all;
      const unknown = names.filter((n) => !all.some((a) => a.name === n));
      if (unknown.length)
        throw new UsageError(
          'unknown-archive',
          `no archive ${unknown[0]} in ${s.store === 'server' ? 'braid_backup.archives' : s.dir}`,
          {
            data: { archive: unknown[0] },
          },
        );
      if (action === 'list') {
        const rows = ex ? await readBackups(ex) : [];
        const out = [];
        for (const a of pick) {
          const { header } = openArchive(await archiveSource(s, a.name, ex), a.name);
          const row = rows.find((r) => r.archive === a.name);
          out.push({
            name: a.name,
            store: a.store,
            bytes: a.bytes,
            migration: header.migration,
            target: header.target,
            createdAt: header.createdAt,
            commit: header.commit,
            keyId: header.keyId,
            tables: header.tables.map((t) => ({
              table: `${t.schema}.${t.name}`,
              scope: t.scope,
              rows: t.rows,
            })),
            ...(ex ? { state: row ? (row.restoredAt ? 'restored' : 'applied') : 'orphan' } : {}),
          });
        }
        if (ctx.out.json) ctx.out.result({ store: s.store, archives: out });
        else {
          for (const a of out)
            ctx.out.print(
              `${a.name}  ${a.bytes} bytes  ${a.tables.map((t) => `${t.table} (${t.scope}, ${t.rows} rows)`).join(', ')}${a.state ? `  [${a.state}]` : ''}`,
            );
          ctx.out.print(
            `${out.length} archive${out.length === 1 ? '' : 's'} in ${s.store === 'server' ? 'braid_backup.archives' : s.dir}`,
          );
        }
        return;
      }
      if (action === 'verify') {
        const key = loadBackupKey(s, 'verify decrypts the archives');
        const results: { name: string; ok: boolean; message: string }[] = [];
        for (const a of pick) {
          try {
            const header = await readArchive(await archiveSource(s, a.name, ex), key, a.name);
            results.push({ name: a.name, ok: true, message: `ok: ${summary(header)}` });
          } catch (e) {
            results.push({ name: a.name, ok: false, message: (e as BraidError).message });
          }
        }
        const bad = results.filter((r) => !r.ok).length;
        if (ctx.out.json) ctx.out.result({ archives: results, ok: bad === 0 });
        else {
          for (const r of results) ctx.out.print(r.ok ? `${r.name}: ${r.message}` : r.message);
          ctx.out.print(`${results.length - bad} of ${results.length} archives verified`);
        }
        return bad > 0 ? EXIT_FINDINGS : 0;
      }
      if (action === 'restore') {
        if (pick.length !== 1 || names.length !== 1)
          throw new UsageError('restore-one', 'backup restore: name exactly one archive', {
            data: { argument: 'archives' },
          });
        const key = loadBackupKey(s, 'restore decrypts the archive; nothing was restored');
        const a = pick[0];
        const src = await archiveSource(s, a.name, ex);
        const header = await authenticateArchive(src, key, a.name);
        await ex!.exec('begin');
        try {
          const restored = await restoreTables(
            ex!,
            header,
            (each) => readArchive(src, key, a.name, (i, _t, chunks) => each(i, chunks)).then(() => undefined),
            a.name,
          );
          await ex!.exec('commit');
          const n = restored.reduce((x, r) => x + r.rows, 0);
          if (ctx.out.json) ctx.out.result({ archive: a.name, database: conn?.label, restored });
          else
            ctx.out.print(
              `restored ${n} rows of ${restored.length} tables from ${a.name} into ${conn?.label}`,
            );
        } catch (e) {
          await ex!.exec('rollback').catch(() => undefined);
          throw e;
        }
        return;
      }
      // prune
      const gone = await applyRetention(s, ex!, conn!.label, { dryRun: args['dry-run'] });
      if (ctx.out.json) ctx.out.result({ pruned: gone, dryRun: args['dry-run'] });
      else {
        for (const g of gone)
          ctx.out.print(`${args['dry-run'] ? 'would prune' : 'pruned'} ${g.name} (${g.reason})`);
        ctx.out.print(
          `${gone.length} archive${gone.length === 1 ? '' : 's'} ${args['dry-run'] ? 'would be ' : ''}pruned`,
        );
      }
    } finally {
      await ex?.close();
    }
  },
});
