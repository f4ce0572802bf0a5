import fs from 'node:fs';
import path from 'node:path';
import { UsageError, type Migration } from '@braid/core';
import { GitRepo, repoRelativeDir } from '@braid/git';
import {
  buildReportModel,
  renderHtml,
  renderJson,
  renderMarkdown,
  type Hazard,
  type ReportModel,
} from '@braid/report';
import type { ShadowSpec } from '@braid/pg';
import { lintMigrations, loadParser } from '@braid/sql';
import { braidVersion } from '../db';
import { migrationsAt, type History } from '../history';
import { baseHistory, mergeBases } from '../mergebase';
import { findProject } from '../project';
import { defineCommand, type Context } from '../runtime';
import { shadowSpec, withShadow, type ShadowArgs } from '../shadow';
import { computeVerdict, type BranchVerdict } from '../verdict';
import { parseRange } from './diff';

/** Lint findings of a side's new migrations (the rest of its history is context only). */
export function sideHazards(side: 'ours' | 'theirs', migrations: Migration[], added: string[]): Hazard[] {
  if (added.length === 0) return [];
  const findings = lintMigrations(
    migrations.map((m) => ({ id: m.id, ...m.files })),
    { only: added, unprotected: added },
  );
  return findings
    .filter((f) => f.suppressed === undefined)
    .map((f) => ({
      side,
      migration: f.migration,
      file: f.file,
      line: f.line,
      column: f.column,
      rule: f.rule,
      severity: f.severity,
      message: f.message,
      help: f.help,
    }));
}

export function refLabel(ref: string, commit: string | undefined): string {
  return /^[0-9a-f]{40,64}$/.test(ref) && commit ? commit.slice(0, 12) : ref;
}

export interface BranchReport {
  model: ReportModel;
  verdict: BranchVerdict;
  /** The project's migrations folder relative to the repository root (`.migrations`, `db/.migrations`). */
  migrationsDir: string;
  histories: { base: History; ours: History; theirs: History };
}

/** The verdict of merging `theirsRef` into `oursRef` and the report model around it. */
export async function branchReport(
  ctx: Context,
  root: string,
  oursRef: string,
  theirsRef: string,
  shadow: ShadowSpec | undefined,
): Promise<BranchReport> {
  const repo = await GitRepo.open(root);
  try {
    // Several merge bases after a criss-cross: the verdict is against their union (mergebase.ts).
    const bases = await mergeBases(repo, oursRef, theirsRef);
    const baseCommit = bases[0];
    const [single, ours, theirs] = await Promise.all([
      migrationsAt(repo, root, baseCommit),
      migrationsAt(repo, root, oursRef),
      migrationsAt(repo, root, theirsRef),
    ]);
    const virtual = bases.length > 1 ? await baseHistory(repo, root, bases, ours.manifest, true) : undefined;
    const base: History = virtual
      ? { ...single, manifest: virtual.manifest, migrations: virtual.migrations }
      : single;
    const migrationsDir = repoRelativeDir(repo, root);
    repo.close();
    const verdict = await computeVerdict({
      base: {
        label: virtual?.label ?? baseCommit.slice(0, 12),
        manifest: base.manifest,
        migrations: base.migrations,
      },
      ours: { label: refLabel(oursRef, ours.commit), manifest: ours.manifest, migrations: ours.migrations },
      theirs: {
        label: refLabel(theirsRef, theirs.commit),
        manifest: theirs.manifest,
        migrations: theirs.migrations,
      },
      ...(shadow ? { shadow } : {}),
      onProgress: (l) => {
        if (ctx.out.stderrTTY) ctx.out.note(l);
      },
    });
    await loadParser();
    const hazards = [
      ...sideHazards('ours', ours.migrations, verdict.ours.added),
      ...sideHazards('theirs', theirs.migrations, verdict.theirs.added),
    ];
    const model = buildReportModel({
      verdict,
      manifests: { base: base.manifest, ours: ours.manifest, theirs: theirs.manifest },
      hazards,
      generator: `braid ${braidVersion()}`,
    });
    return { model, verdict, migrationsDir, histories: { base, ours, theirs } };
  } finally {
    repo.close();
  }
}

export function renderReport(model: ReportModel, format: string): string {
  return format === 'html'
    ? renderHtml(model)
    : format === 'json'
      ? renderJson(model)
      : renderMarkdown(model);
}

/** Writes FILE (creating its folder); relative paths are resolved against cwd. */
export function writeOut(cwd: string, file: string, text: string): string {
  const p = path.resolve(cwd, file);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

interface ReportArgs extends ShadowArgs {
  range: string;
  refB: string | undefined;
  format: string | undefined;
  out: string | undefined;
  static: boolean | undefined;
}

/**
 * `braid report <A>...<B> --format md|html|json [--out FILE] [--static]`: the reviewer report of
 * merging B into A. Exit 1 on conflict (the report is still written).
 */
export const reportCommand = defineCommand<ReportArgs>({
  command: 'report <range> [refB]',
  describe: 'the reviewer report of merging B into A (A...B): verdict, diffs, collisions, hazards, DAG',
  builder: (y) =>
    withShadow(
      y
        .positional('range', { type: 'string', demandOption: true, describe: 'A...B (or A, with B next)' })
        .positional('refB', { type: 'string', describe: 'B, when the first argument is a single ref' })
        .option('format', { type: 'string', describe: 'md (default), html or json' })
        .option('out', { type: 'string', describe: 'write the report to FILE instead of stdout' })
        .option('static', { type: 'boolean', describe: 'skip the replays (no database)' }),
    ),
  handler: async (args, ctx) => {
    const format = args.format ?? (args.json ? 'json' : 'md');
    if (!['md', 'html', 'json'].includes(format)) {
      throw new UsageError('bad-format', `--format ${format}: expected md, html or json`, {
        data: { argument: '--format' },
      });
    }
    let a: string, b: string;
    try {
      [a, b] = parseRange(args.range, args.refB);
    } catch (e) {
      if (e instanceof UsageError && e.code === 'bad-range') {
        throw new UsageError(
          'bad-range',
          `braid report: give a range (\`braid report main...feature\`) or two refs, got ${JSON.stringify(args.range)}`,
          { data: { argument: 'range' } },
        );
      }
      throw e;
    }
    const root = findProject(ctx.cwd);
    const r = await branchReport(ctx, root, a, b, args.static ? undefined : shadowSpec(args, ctx, root));
    const text = ctx.out.clean(renderReport(r.model, format));
    if (args.out) {
      const p = writeOut(ctx.cwd, args.out, text);
      if (args.json) ctx.out.result({ file: p, format, verdict: r.verdict.verdict });
      else ctx.out.note(`braid: wrote ${p} (${format}, verdict ${r.verdict.verdict})`);
    } else if (args.json && format !== 'json') {
      ctx.out.result({ format, verdict: r.verdict.verdict, report: text });
    } else process.stdout.write(text.endsWith('\n') ? text : text + '\n');
    return r.verdict.verdict === 'conflict' ? 1 : 0;
  },
});
