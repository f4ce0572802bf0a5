import path from 'node:path';
import { renderMarkdown } from '@braid/report';
import { findProject } from '../project';
import { defineCommand } from '../runtime';
import { shadowSpec, withShadow, type ShadowArgs } from '../shadow';
import { branchReport, writeOut, type BranchReport } from './report';

interface CiArgs extends ShadowArgs {
  base: string;
  report: string | undefined;
  static: boolean | undefined;
}

function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** `<id>/up.sql:LINE` -> { file (repo-relative), line }. */
function locate(migrationsDir: string, at: string): { file: string; line?: number } {
  const m = /^(.*?):(\d+)$/.exec(at);
  const rel = m ? m[1] : at;
  return { file: `${migrationsDir}/${rel}`, ...(m ? { line: Number(m[2]) } : {}) };
}

/**
 * GitHub Actions workflow commands: one `::error` per blocking collision (at the branch's
 * statement, else the target's), one `::error` for a conflict without a located collision, and
 * `::error` / `::warning` for lint errors / warnings of the branch's new migrations.
 */
export function annotations(r: BranchReport): string[] {
  const out: string[] = [];
  const v = r.verdict;
  const line = (kind: 'error' | 'warning' | 'notice', msg: string, file?: string, ln?: number) => {
    const props = file ? ` file=${escapeProperty(file)}${ln ? `,line=${ln}` : ''}` : '';
    out.push(`::${kind}${props}::${escapeData(msg)}`);
  };
  const blocking = v.collisions.filter((c) => c.severity === 'conflict');
  for (const c of blocking) {
    const t = c.theirs[0] ?? c.ours[0];
    if (t) {
      const loc = locate(r.migrationsDir, t.at);
      line('error', `braid: ${c.reason}`, loc.file, loc.line);
    } else line('error', `braid: ${c.reason}`);
  }
  if (v.verdict === 'conflict' && blocking.length === 0) {
    line('error', `braid: merge conflict: ${v.reasons.join('; ') || 'see the report'}`);
  }
  for (const h of r.model.hazards) {
    if (h.severity === 'info') continue;
    const file = `${r.migrationsDir}/${h.migration}/${path.posix.basename(h.file)}`;
    line(h.severity, `${h.rule}: ${h.message}`, file, h.line);
  }
  return out;
}

/**
 * `braid ci --base <ref> [--report FILE]`: the verdict of merging HEAD into <ref> (from their
 * merge base), the markdown report on stdout or in FILE, GitHub annotations when GITHUB_ACTIONS
 * is set. Exit 1 on conflict.
 */
export const ciCommand = defineCommand<CiArgs>({
  command: 'ci',
  describe: 'CI check of a pull request: verdict of merging HEAD into --base, markdown report, annotations',
  builder: (y) =>
    withShadow(
      y
        .option('base', {
          type: 'string',
          demandOption: true,
          describe: 'the target branch (e.g. origin/main)',
        })
        .option('report', { type: 'string', describe: 'write the markdown report to FILE (else stdout)' })
        .option('static', { type: 'boolean', describe: 'skip the replays (no database)' }),
    ),
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const r = await branchReport(
      ctx,
      root,
      args.base,
      'HEAD',
      args.static ? undefined : shadowSpec(args, ctx, root),
    );
    const md = ctx.out.clean(renderMarkdown(r.model));
    if (process.env['GITHUB_ACTIONS'] && !args.json) {
      for (const a of annotations(r)) process.stdout.write(ctx.out.clean(a) + '\n');
    }
    if (args.report) {
      const p = writeOut(ctx.cwd, args.report, md);
      if (!args.json) ctx.out.note(`braid ci: wrote ${p}`);
    }
    if (args.json) ctx.out.result({ verdict: r.verdict.verdict, report: r.model });
    else if (!args.report) process.stdout.write(md);
    else
      ctx.out.print(
        `braid ci: verdict ${r.verdict.verdict} (${r.verdict.labels.theirs} into ${r.verdict.labels.ours})`,
      );
    return r.verdict.verdict === 'conflict' ? 1 : 0;
  },
});
