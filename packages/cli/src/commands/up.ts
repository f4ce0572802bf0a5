import { EXIT_FINDINGS, manifestBodyHash, versionText, type ExitCode } from '@braid/core';
import {
  applyUp,
  mentionsRegistrySchema,
  MigrationFailedError,
  type ApplyEvent,
  type ApplyResult,
  type Executor,
  type SourceMigration,
  type StepResult,
} from '@braid/pg';
import { withDb, defineCommand, type Context } from '../runtime';
import { findProject, loadProject } from '../project';
import {
  gitProvenance,
  lockOptions,
  openDb,
  parseCount,
  parseDuration,
  withApplyOptions,
  type ResolvedDb,
} from '../db';
import { closeLive, onlineOptions, onlineSettings, readConfigIfAny, withOnlineOptions } from '../online';
import { applyBackups, backupSettings, parseBackupFlag } from '../backup';

/** Loads this branch's migrations (manifest order) for the apply engine. */
export function projectMigrations(cwd: string): {
  root: string;
  migrations: SourceMigration[];
  dependsOn: Map<string, string[]>;
  /** The manifest's body hash (its first line): what a rollout or promotion records. */
  manifestHash: string;
} {
  const root = findProject(cwd);
  const project = loadProject(root);
  const dependsOn = new Map(
    project.manifest.entries.map((e) => [
      e.id,
      [...e.parents, ...(project.migrations.get(e.id)?.directives.requires ?? [])],
    ]),
  );
  return {
    root,
    migrations: [...project.migrations.values()],
    dependsOn,
    manifestHash: manifestBodyHash(project.manifest),
  };
}

/** Progress lines on stderr (results go to stdout at the end). */
export function eventPrinter(ctx: Context): (e: ApplyEvent) => void {
  return (e) => {
    if (e.type !== 'done') closeLive();
    switch (e.type) {
      case 'lock-wait':
        ctx.out.note(
          `braid: waiting for another braid runner${e.holder ? ` (pid ${e.holder.pid}${e.holder.applicationName ? `, ${e.holder.applicationName}` : ''})` : ''}`,
        );
        break;
      case 'registry':
        ctx.out.note(`braid: registry schema "${e.schema}" created/upgraded (${e.applied.join(', ')})`);
        break;
      case 'start':
        if (ctx.out.stderrTTY || e.resumeFrom) {
          ctx.out.note(
            `${e.direction === 'up' ? 'applying' : 'rolling back'} ${e.id}${e.resumeFrom ? ` (resuming at statement ${e.resumeFrom + 1})` : ''}…`,
          );
        }
        break;
      case 'retry':
        ctx.out.note(`braid: ${e.id}: ${e.reason}; retry ${e.attempt} in ${e.waitMs} ms`);
        break;
      case 'index-rebuilt':
        ctx.out.note(
          `braid: ${e.id}: dropped the INVALID index ${e.index} left by an interrupted CREATE INDEX CONCURRENTLY; rebuilding`,
        );
        break;
      case 'index-adopted':
        ctx.out.note(
          `braid: ${e.id}: the CREATE INDEX CONCURRENTLY of ${e.index} finished before the last run stopped (the index is valid); keeping it`,
        );
        break;
      case 'skip':
        ctx.out.note(`braid: ${e.id}: skipped (${e.reason})`);
        break;
      case 'warning':
        ctx.out.note(`braid: warning: ${e.message}`);
        break;
      case 'done':
        closeLive();
        break;
    }
  };
}

/** "PGlite 18.6" or "PostgreSQL 15.20": the engine and version a result was produced on. */
export function engineLabel(ex: Pick<Executor, 'engine' | 'serverVersionNum'>): string {
  return `${ex.engine === 'pglite' ? 'PGlite' : 'PostgreSQL'} ${versionText(ex.serverVersionNum)}`;
}

/** The engine fields of every apply result in JSON. */
function engineJson(ex: Pick<Executor, 'engine' | 'serverVersionNum'>): {
  engine: string;
  serverVersion: string;
} {
  return { engine: ex.engine, serverVersion: versionText(ex.serverVersionNum) };
}

/** Prints a failed migration (message, source line, caret, detail, hint) and returns exit 1. */
export function reportMigrationFailure(
  ctx: Context,
  e: MigrationFailedError,
  ex?: Pick<Executor, 'engine' | 'serverVersionNum'>,
): ExitCode {
  const completed = (e.data['completed'] ?? []) as StepResult[];
  for (const s of completed) {
    ctx.out.print(`${s.direction === 'up' ? 'applied' : 'rolled back'} ${s.id} (${s.ms.toFixed(0)} ms)`);
  }
  ctx.out.note(`braid: ${e.message}${ex ? ` (on ${engineLabel(ex)})` : ''}`);
  for (const line of e.snippet) ctx.out.note(line);
  if (ctx.out.json) ctx.out.result({ ...e.toJSON(), ...(ex ? engineJson(ex) : {}) });
  return EXIT_FINDINGS;
}

export function printResult(
  ctx: Context,
  r: ApplyResult,
  db: ResolvedDb,
  ex: Pick<Executor, 'engine' | 'serverVersionNum'>,
): void {
  if (ctx.out.json) {
    ctx.out.result({ database: db.label, ...engineJson(ex), ...r });
    return;
  }
  const verb = r.plan.direction === 'up' ? (r.dryRun ? 'dry run' : 'applied') : 'rolled back';
  for (const s of r.results) {
    const label = s.outcome === 'skipped' ? 'skipped' : verb;
    ctx.out.print(`${label} ${s.id} (${s.ms.toFixed(0)} ms)${s.note ? ` — ${s.note}` : ''}`);
  }
  if (r.results.length === 0) {
    ctx.out.print(
      `${r.plan.direction === 'up' ? 'nothing to apply: up to date' : 'nothing to roll back'} (${db.label}, ${engineLabel(ex)})`,
    );
  } else {
    const n = r.results.filter((s) => s.outcome !== 'skipped').length;
    const total = r.results.reduce((a, s) => a + s.ms, 0);
    ctx.out.print(
      `${n} migration${n === 1 ? '' : 's'} ${verb}${r.dryRun ? ' and rolled back' : ''} on ${db.label} (${engineLabel(ex)}) in ${total.toFixed(0)} ms`,
    );
  }
}

export const upCommand = defineCommand({
  command: 'up',
  describe: 'apply pending migrations in manifest order',
  builder: (y) =>
    withOnlineOptions(withApplyOptions(withDb(y)))
      .option('to', { type: 'string', describe: 'stop after this migration id' })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'run the pending migrations in a transaction, then roll back (prints per-migration timing)',
      })
      .option('backup', {
        type: 'string',
        describe:
          'back up the data a migration puts at risk before it runs: off, destructive (dropped/retyped columns, dropped/truncated tables) or all (+ UPDATE/DELETE rows); default: braid.json backup.policy, else off',
      }),
  handler: async (args, ctx) => {
    // git answers (provenance) while the project loads and the database connects
    const provenance = gitProvenance(ctx.cwd);
    const { root, migrations, dependsOn } = projectMigrations(ctx.cwd);
    const config = readConfigIfAny(root);
    const online = onlineSettings(args, [config?.online]);
    const flag = parseBackupFlag(args.backup);
    const backup = backupSettings(root, config, flag ? { flag } : {});
    const opts = {
      dependsOn,
      lockWaitMs: parseDuration(args['lock-wait'], '--lock-wait', 60_000),
      lockTimeoutMs: parseDuration(args['lock-timeout'], '--lock-timeout', 5_000),
      lockRetries: parseCount(args['lock-retries'], '--lock-retries', 3),
      ...lockOptions(args),
      allowEdited: args['allow-edited'],
      dryRun: args['dry-run'],
      onEvent: eventPrinter(ctx),
      online: onlineOptions(ctx, online),
      ...(args.to === undefined ? {} : { to: args.to }),
    };
    const { ex, db } = await openDb(args, ctx, root, 'braid up');
    return runApply(ctx, ex, db, async () => {
      const p = await provenance;
      const b = backup.policy === 'off' ? undefined : applyBackups(backup, db.label, p.gitCommit);
      const r = await applyUp(ex, migrations, { ...opts, provenance: p, ...(b ? { backup: b.hooks } : {}) });
      for (const m of (await b?.prune(ex)) ?? []) ctx.out.note(`braid: ${m}`);
      return r;
    });
  },
});

export async function runApply(
  ctx: Context,
  ex: Executor,
  db: ResolvedDb,
  fn: () => Promise<ApplyResult>,
): Promise<ExitCode> {
  try {
    const r = await fn();
    printResult(ctx, r, db, ex);
    return 0;
  } catch (e) {
    if (e instanceof MigrationFailedError) {
      const code = reportMigrationFailure(ctx, e, ex);
      const st = e.data['statement'];
      if (typeof st === 'string' && mentionsRegistrySchema(st))
        ctx.out.note(
          'braid: the schema "braid" is reserved: it holds braid\'s registry (braid.applied, braid.history, ...) in every database braid migrates, so migrations must not put objects there (they clash with it, and drift checks leave that schema out); rename that schema (replays for braid check, diff and the merge driver accept it, a target database cannot)',
        );
      return code;
    }
    throw e;
  } finally {
    await ex.close();
  }
}
