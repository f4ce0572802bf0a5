import { execFile } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { EnvironmentError, parseManifest, UsageError } from '@braid/core';
import {
  failsAt,
  LINT_FORMATS,
  loadParser,
  renderGithub,
  renderGitlab,
  renderJson,
  renderSarif,
  renderText,
  ruleById,
  type LintFormat,
  type TableRows,
} from '@braid/sql';
import { defineCommand, type Context } from '../runtime';
import { lintProject } from '../lint-run';
import { markBaseline, readBaselineCheck } from '../baseline';
import { findProject, MANIFEST_REL, migrationsDir, requireManifestText } from '../project';

declare const BRAID_VERSION: string;

interface LintArgs {
  ids: string[] | undefined;
  since: string | undefined;
  format: string | undefined;
  'fail-on': string;
  'pg-version': string | undefined;
  disable: string[] | undefined;
  'stats-from': string | undefined;
  'batch-rows': string | undefined;
}

/** Reads --stats-from (stats-from.ts). Set by the full CLI (commands/index.ts): see stats-from.ts. */
type TableRowsReader = (ctx: Context, url: string) => Promise<Record<string, TableRows>>;
let tableRowsReader: TableRowsReader | undefined;
export function setTableRowsReader(r: TableRowsReader): void {
  tableRowsReader = r;
}

/** Parses --batch-rows (a whole number of rows, ≥ 1). */
export function parseBatchRows(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.replace(/_/g, ''));
  if (!/^[0-9_]+$/.test(v) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(
      'bad-batch-rows',
      `--batch-rows ${v}: expected a whole number of rows such as 100000`,
      {
        data: { argument: '--batch-rows' },
      },
    );
  }
  return n;
}

/** Parses --pg-version (a major version, 10..19). */
export function parsePgVersion(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 9 || n > 30) {
    throw new UsageError(
      'bad-pg-version',
      `--pg-version ${v}: expected a PostgreSQL major version such as 15`,
      {
        data: { argument: '--pg-version' },
      },
    );
  }
  return n;
}

/** Migration ids present in `.migrations/` at a git ref (one `git ls-tree`). */
function idsAtRef(root: string, ref: string): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      ['-C', root, 'ls-tree', '--name-only', `${ref}`, '--', '.migrations/'],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
            reject(new EnvironmentError('git-missing', 'git is not installed (needed by --since)'));
          } else {
            const why = String(stderr).split('\n')[0] || err.message;
            reject(new UsageError('bad-ref', `--since ${ref}: ${why}`, { data: { argument: '--since' } }));
          }
          return;
        }
        const ids = new Set<string>();
        for (const line of String(stdout).split('\n')) {
          const name = line.trim().replace(/^\.migrations\//, '');
          if (name && name !== 'manifest' && !name.startsWith('.')) ids.add(name);
        }
        resolve(ids);
      },
    );
  });
}

/**
 * `braid lint [IDs | --since REF]`: static hazards in migrations (locks, rewrites, destructive and
 * backward-incompatible changes, braid's own checks). Exit 1 when a finding at or above
 * --fail-on is not suppressed.
 */
export const lintCommand = defineCommand<LintArgs>({
  command: 'lint [ids..]',
  describe: 'static hazards: locks, rewrites, destructive and backward-incompatible changes',
  builder: (y) =>
    y
      .positional('ids', { type: 'string', array: true, describe: 'migration ids (default: all)' })
      .option('since', {
        type: 'string',
        describe:
          'lint only migrations that are not in .migrations/ at this git ref (tables they create count as new)',
      })
      .option('format', {
        type: 'string',
        choices: LINT_FORMATS as unknown as string[],
        describe: 'output format (default text; --json = json)',
      })
      .option('fail-on', {
        type: 'string',
        choices: ['error', 'warning', 'none'],
        default: 'error',
        describe: 'lowest severity that fails (exit 1)',
      })
      .option('disable', { type: 'string', array: true, describe: 'rule ids to skip (repeatable)' })
      .option('pg-version', { type: 'string', describe: 'target PostgreSQL major version (default 15)' })
      .option('stats-from', {
        type: 'string',
        describe:
          'read the row estimates of the tables of the database at URL (pg_class.reltuples, n_live_tup; never its values): batch-large-dml reports unbatched data changes over large tables',
      })
      .option('batch-rows', {
        type: 'string',
        describe: 'with --stats-from: rows above which batch-large-dml reports a table (default 100000)',
      }),
  handler: async (args, ctx) => {
    // A lint is a short batch job: let V8 optimize only the functions that stay hot for a while.
    // With the default budget TurboFan compiles hundreds of functions on background threads,
    // which cost about as much CPU as the lint itself on a 2-core machine (measured on 2,000
    // migrations: all threads 0.85 s -> 0.50 s of CPU, main thread unchanged). Process-wide,
    // and this process only lints.
    setFlagsFromString('--interrupt-budget=1000000');
    // No helper threads for young-generation collections: on two cores they only compete with
    // the lint's own threads (bin/early.js sets the same when it starts the lint's workers).
    setFlagsFromString('--no-parallel-scavenge');
    // Compile the parser while the migrations are read (lint loads no other WebAssembly, so the
    // baseline-only compiler is safe here; see LoadParserOptions).
    const parserReady = loadParser({ baselineOnly: true });
    parserReady.catch(() => undefined); // awaited (and reported) by lint() below
    const pgVersion = parsePgVersion(args['pg-version']);
    const batchRows = parseBatchRows(args['batch-rows']);
    const format: LintFormat = (args.format as LintFormat | undefined) ?? (args.json ? 'json' : 'text');
    const root = findProject(ctx.cwd);
    const { manifest } = parseManifest(requireManifestText(root), MANIFEST_REL);
    const ids = manifest.entries.map((e) => e.id);
    let only: string[] | undefined;
    let unprotected: string[] = [];
    if (args.ids && args.ids.length) {
      const known = new Set(ids);
      for (const id of args.ids) {
        if (!known.has(id)) {
          throw new UsageError('unknown-migration', `${id}: no such migration in .migrations/manifest`, {
            data: { argument: id },
          });
        }
      }
      only = args.ids;
    }
    if (args.since !== undefined) {
      const atRef = await idsAtRef(root, args.since);
      unprotected = ids.filter((id) => !atRef.has(id));
      only = only ? only.filter((id) => unprotected.includes(id)) : unprotected;
    }
    const disable = (args.disable ?? [])
      .flatMap((d) => d.split(','))
      .map((d) => d.trim())
      .filter(Boolean);
    for (const d of disable) {
      if (!ruleById(d))
        throw new UsageError('unknown-rule', `--disable ${d}: no such rule (see docs/rules)`, {
          data: { argument: '--disable' },
        });
    }
    let tables: Record<string, TableRows> | undefined;
    if (args['stats-from'] !== undefined) {
      if (!tableRowsReader)
        throw new Error('braid lint --stats-from: run through the full CLI (bin/early.js)');
      tables = await tableRowsReader(ctx, args['stats-from']);
    }
    const run = await lintProject(
      migrationsDir(root),
      ids,
      {
        disable,
        ...(pgVersion ? { pgVersion } : {}),
        unprotected,
        ...(only ? { only } : {}),
        ...(tables ? { tables } : {}),
        ...(batchRows !== undefined ? { batchRows } : {}),
      },
      format === 'text',
      parserReady,
    );
    const findings = run.findings;
    // Imported history (.migrations/baseline): reported, marked baseline, never failing.
    markBaseline(findings, readBaselineCheck(root, ids));
    const failOn = args['fail-on'] as 'error' | 'warning' | 'none';
    switch (format) {
      case 'json':
        ctx.out.resultCompact({
          ...renderJson(findings),
          migrations: only ? only.length : ids.length,
          stats: run.stats,
        });
        break;
      case 'sarif':
        ctx.out.result(
          renderSarif(findings, typeof BRAID_VERSION === 'string' ? BRAID_VERSION : '0.0.0-dev'),
        );
        break;
      case 'gitlab':
        ctx.out.result(renderGitlab(findings));
        break;
      case 'github':
        for (const line of renderGithub(findings)) process.stdout.write(ctx.out.clean(line) + '\n');
        break;
      default: {
        const sources = run.sources;
        for (const line of renderText(findings, sources)) ctx.out.print(line);
      }
    }
    return failsAt(findings, failOn) ? 1 : 0;
  },
});
