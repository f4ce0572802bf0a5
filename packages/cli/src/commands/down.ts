import { applyDown } from '@braid/pg';
import { withDb, defineCommand } from '../runtime';
import { gitProvenance, lockOptions, openDb, parseCount, parseDuration, withApplyOptions } from '../db';
import { eventPrinter, projectMigrations, runApply } from './up';
import { backupHooks, backupSettings } from '../backup';
import { readConfigIfAny } from '../online';

export const downCommand = defineCommand({
  command: 'down',
  describe: 'roll back applied migrations, newest first (default: one)',
  builder: (y) =>
    withApplyOptions(withDb(y))
      .option('to', {
        type: 'string',
        describe: 'roll back every migration applied after this id (it stays applied)',
      })
      .option('steps', { type: 'string', describe: 'roll back this many migrations (default 1)' })
      .option('restore', {
        type: 'boolean',
        default: true,
        describe:
          'after down.sql, put back the data of the migration’s pre-change backup (--no-restore: roll back without it)',
      })
      .conflicts('to', 'steps'),
  handler: async (args, ctx) => {
    // git answers (provenance) while the project loads and the database connects
    const provenance = gitProvenance(ctx.cwd);
    const { root, migrations } = projectMigrations(ctx.cwd);
    const opts = {
      lockWaitMs: parseDuration(args['lock-wait'], '--lock-wait', 60_000),
      lockTimeoutMs: parseDuration(args['lock-timeout'], '--lock-timeout', 5_000),
      lockRetries: parseCount(args['lock-retries'], '--lock-retries', 3),
      ...lockOptions(args),
      allowEdited: args['allow-edited'],
      onEvent: eventPrinter(ctx),
      ...(args.to === undefined ? {} : { to: args.to }),
      ...(args.steps === undefined ? {} : { steps: parseCount(args.steps, '--steps', 1, 1) }),
    };
    const backup = backupSettings(root, readConfigIfAny(root));
    const { ex, db } = await openDb(args, ctx, root, 'braid down');
    return runApply(ctx, ex, db, async () => {
      const p = await provenance;
      return applyDown(ex, migrations, {
        ...opts,
        provenance: p,
        ...(args.restore
          ? { backup: backupHooks(backup, db.label, p.gitCommit, { restore: true, up: false }) }
          : {}),
      });
    });
  },
});
