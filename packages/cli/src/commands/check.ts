import { checkProject, formatFinding, MIGRATIONS_DIR, UsageError, type Finding } from '@braid/core';
import { defineCommand } from '../runtime';
import { findProject, scanProject } from '../project';

/**
 * Extra checks other layers register (protected history from git, lint from sql). Each gets the
 * project root and returns more findings; `braid check` stays fast, so keep them cheap.
 */
export const extraChecks: ((root: string) => Promise<Finding[]>)[] = [];

/**
 * `braid check`: the pre-commit check. Manifest syntax and header hash, folders listed and
 * present, hashes current, ids, requires, down.sql. One line per finding; exit 1 when any.
 */
export const checkCommand = defineCommand({
  command: 'check',
  describe: 'pre-commit check: manifest integrity, hashes, ids, requires, missing down.sql (no database)',
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const input = scanProject(root);
    if (!input) {
      throw new UsageError('no-project', `no ${MIGRATIONS_DIR}/ in ${root} or above (run \`braid init\`)`);
    }
    const findings = checkProject(input);
    for (const extra of extraChecks) findings.push(...(await extra(root)));
    if (args.json) {
      ctx.out.result({ ok: findings.length === 0, root, migrations: input.folders.size, findings });
    } else if (findings.length === 0) {
      ctx.out.print(`ok: ${input.folders.size} migration(s), manifest and hashes consistent`);
    } else {
      for (const f of findings) ctx.out.print(formatFinding(f));
      ctx.out.note(`braid check: ${findings.length} finding(s)`);
    }
    return findings.length === 0 ? 0 : 1;
  },
});
