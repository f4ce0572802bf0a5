import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openExecutor } from '@braid/pg';
import { embeddedPath } from '../db';
import { appliedRows, driftNote, readEmbeddedState, writeEmbeddedState } from '../embedded-state';
import { defineCommand } from '../runtime';
import { projectMigrations } from './up';

function previousName(cwd: string, prev: string): string {
  try {
    const name = execFileSync(
      'git',
      ['name-rev', '--name-only', '--no-undefined', '--refs=refs/heads/*', prev],
      { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    ).trim();
    if (name && !/[~^]/.test(name)) return name;
  } catch {
    // not on a branch
  }
  return prev.slice(0, 12);
}

/**
 * `braid post-checkout <prev> <new> <flag>`: what braid's post-checkout hook runs. One line on
 * stderr when the embedded database's history does not match the checked-out branch (migrations
 * applied from another branch, or this branch's migrations not applied), with the command that
 * fixes it. Reads the state file the last braid command left next to the database; opens the
 * database only when that file is missing or stale (and never waits for its lock). Always exits 0:
 * a hook must never fail a checkout.
 */
export const postCheckoutCommand = defineCommand<{ prev: string; new: string; flag: string }>({
  command: 'post-checkout <prev> <new> <flag>',
  describe:
    "git post-checkout hook (set up by `braid install`): notes when the embedded database holds another branch's migrations",
  builder: (y) =>
    y
      .positional('prev', { type: 'string', demandOption: true, describe: 'the previous HEAD' })
      .positional('new', { type: 'string', demandOption: true, describe: 'the new HEAD' })
      .positional('flag', {
        type: 'string',
        demandOption: true,
        describe: '1 for a branch checkout, 0 for a file checkout',
      }),
  handler: async (args, ctx) => {
    let note: string | undefined;
    let source: 'state-file' | 'database' | 'none' = 'none';
    try {
      if (args.flag !== '1') return 0;
      const { root, migrations } = projectMigrations(ctx.cwd);
      const dataDir = embeddedPath(ctx.cwd, root);
      if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) return 0;
      let applied = readEmbeddedState(dataDir);
      if (applied) source = 'state-file';
      else {
        const ex = await openExecutor(`pglite:${dataDir}`, `braid post-checkout (pid ${process.pid})`, {
          lockWaitMs: 0,
        });
        try {
          applied = await appliedRows(ex);
        } finally {
          await ex.close();
        }
        writeEmbeddedState(dataDir, applied);
        source = 'database';
      }
      note = driftNote({
        migrations,
        applied,
        previous: previousName(ctx.cwd, args.prev),
        dataDirLabel: path.relative(root, dataDir) || dataDir,
      });
    } catch {
      // No project on this branch, a manifest with conflict markers, the database locked by a
      // running braid or unreadable: say nothing, never fail the checkout.
      note = undefined;
    } finally {
      if (args.json) ctx.out.result({ note: note ?? null, source });
      else if (note) ctx.out.note(note);
    }
    return 0;
  },
});
