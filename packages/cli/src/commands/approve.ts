import { UsageError } from '@braid/core';
import { addApproval, readApprovals, revokeApproval } from '@braid/git';
import { defineCommand } from '../runtime';
import { findProject, loadProject } from '../project';

/**
 * `braid approve <id> [--revoke]`: records (or removes) the reviewer's approval of a migration
 * as a git note under refs/notes/braid: approver (git config user.name/email), the migration's
 * content hash from the manifest, and a timestamp. Editing the migration later (a new hash)
 * invalidates the approval: `braid promote` then refuses, naming it.
 */
export const approveCommand = defineCommand<{ id: string; revoke: boolean }>({
  command: 'approve <id>',
  describe: 'approve a migration for promotion (a git note in refs/notes/braid); --revoke removes yours',
  builder: (y) =>
    y.positional('id', { type: 'string', demandOption: true, describe: 'migration id' }).option('revoke', {
      type: 'boolean',
      default: false,
      describe: 'remove your approval of this migration',
    }),
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const project = loadProject(root);
    const entry = project.manifest.entries.find((e) => e.id === args.id);
    if (!entry) {
      throw new UsageError('unknown-migration', `approve: ${args.id} is not in .migrations/manifest`, {
        data: { id: args.id },
      });
    }
    if (args.revoke) {
      const removed = await revokeApproval(root, args.id);
      if (ctx.out.json) ctx.out.result({ id: args.id, revoked: removed });
      else ctx.out.print(removed ? `revoked your approval of ${args.id}` : `you had not approved ${args.id}`);
      return 0;
    }
    const filesHash = project.migrations.get(args.id)?.hash;
    if (filesHash !== entry.hash) {
      throw new UsageError(
        'stale-hash',
        `approve: .migrations/${args.id} was edited since the manifest was hashed (${entry.hash.slice(0, 19)} in the manifest, ${String(filesHash).slice(0, 19)} on disk); run braid hash, commit, then approve`,
        { data: { id: args.id } },
      );
    }
    const a = await addApproval(root, args.id, entry.hash);
    const all = await readApprovals(root, args.id);
    const valid = all.filter((x) => x.hash === entry.hash);
    if (ctx.out.json) {
      ctx.out.result({ ...a, revoked: false, approvals: valid.length });
    } else {
      ctx.out.print(
        `approved ${args.id} (${entry.hash.slice(0, 19)}) as ${a.approverName}${a.approverEmail ? ` <${a.approverEmail}>` : ''}; ${valid.length} current approval(s)`,
      );
      ctx.out.note('braid: share approvals with `git push origin refs/notes/braid`');
    }
    return 0;
  },
});
