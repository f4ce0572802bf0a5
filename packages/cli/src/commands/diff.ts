import { UsageError } from '@braid/core';
import { GitRepo } from '@braid/git';
import { migrationsAt } from '../history';
import { findProject } from '../project';
import { defineCommand } from '../runtime';
import { shadowSpec, withShadow, type ShadowArgs } from '../shadow';
import { computeVerdict, renderVerdictMarkdown, renderVerdictText } from '../verdict';

interface DiffArgs extends ShadowArgs {
  refA: string;
  refB: string | undefined;
  static: boolean | undefined;
  format: string | undefined;
}

/** `A...B` or `A..B` -> [A, B]; else [refA, refB]. */
export function parseRange(refA: string, refB: string | undefined): [string, string] {
  if (refB === undefined) {
    const m = /^(.*?)\.\.\.?(.*)$/.exec(refA);
    if (!m || m[1] === '' || m[2] === '') {
      throw new UsageError(
        'bad-range',
        `braid diff: give two refs (\`braid diff main feature\`) or a range (\`braid diff main...feature\`), got ${JSON.stringify(refA)}`,
        { data: { argument: 'refA' } },
      );
    }
    return [m[1], m[2]];
  }
  return [refA, refB];
}

function shortLabel(ref: string, commit: string | undefined): string {
  return /^[0-9a-f]{40,64}$/.test(ref) && commit ? commit.slice(0, 12) : ref;
}

/**
 * `braid diff <refA> <refB>` / `braid diff A...B`: branch drift. The merge base, the migrations
 * each side added (or edited/removed) since it, their footprints and collisions, the object diff
 * of each side and the verdict (two shadow replays; `--static` skips them). Exit 1 on conflict.
 */
export const diffCommand = defineCommand<DiffArgs>({
  command: 'diff <refA> [refB]',
  describe: 'branch drift between two refs: new migrations per side, schema diffs, collisions, merge verdict',
  builder: (y) =>
    withShadow(
      y
        .positional('refA', { type: 'string', demandOption: true, describe: 'ours (or a range A...B)' })
        .positional('refB', { type: 'string', describe: 'theirs' })
        .option('static', {
          type: 'boolean',
          describe: 'skip the replays: migrations, footprints and collisions only (no database)',
        })
        .option('format', { type: 'string', describe: 'text (default), json or md' }),
    ),
  handler: async (args, ctx) => {
    const format = args.json ? 'json' : (args.format ?? 'text');
    if (!['text', 'json', 'md'].includes(format)) {
      throw new UsageError('bad-format', `--format ${format}: expected text, json or md`, {
        data: { argument: '--format' },
      });
    }
    const [a, b] = parseRange(args.refA, args.refB);
    const root = findProject(ctx.cwd);
    const repo = await GitRepo.open(root);
    let verdict;
    let manifests;
    try {
      const baseCommit = await repo.mergeBase(a, b);
      const [base, ours, theirs] = await Promise.all([
        migrationsAt(repo, root, baseCommit),
        migrationsAt(repo, root, a),
        migrationsAt(repo, root, b),
      ]);
      repo.close();
      manifests = { base: base.manifest, ours: ours.manifest, theirs: theirs.manifest };
      verdict = await computeVerdict({
        base: { label: baseCommit.slice(0, 12), manifest: base.manifest, migrations: base.migrations },
        ours: { label: shortLabel(a, ours.commit), manifest: ours.manifest, migrations: ours.migrations },
        theirs: {
          label: shortLabel(b, theirs.commit),
          manifest: theirs.manifest,
          migrations: theirs.migrations,
        },
        ...(args.static ? {} : { shadow: shadowSpec(args, ctx, root) }),
        onProgress: (l) => {
          if (ctx.out.stderrTTY) ctx.out.note(l);
        },
      });
    } finally {
      repo.close();
    }
    if (format === 'json') ctx.out.result(verdict);
    else if (format === 'md')
      process.stdout.write(ctx.out.clean(renderVerdictMarkdown(verdict, manifests)) + '\n');
    else for (const l of renderVerdictText(verdict)) ctx.out.print(l);
    return verdict.verdict === 'conflict' ? 1 : 0;
  },
});
