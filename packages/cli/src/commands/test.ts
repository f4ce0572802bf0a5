/**
 * `braid test [IDs | --since REF | --all]`: round trips (up, verify, down, up again) on a shadow
 * database, one connection for the whole run per engine (see @braid/pg roundtrip.ts).
 * Default selection: the migrations not yet on a protected ref (main, master, origin/HEAD, …);
 * all of them when the project is not in git or no protected ref exists.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  EnvironmentError,
  EXIT_FINDINGS,
  redact,
  renderJUnit,
  renderTestMarkdown,
  renderTestText,
  reportOk,
  UsageError,
  type EngineRun,
  type TestReport,
} from '@braid/core';
import { loadParser, splitStatements } from '@braid/sql';
import { GitRepo, readProtectedIndex, repoRelativeDir } from '@braid/git';
import { openPrefixedShadow, runRoundTrips, type ShadowSpec, type SourceMigration } from '@braid/pg';
import { defineCommand, type Context } from '../runtime';
import { migrationsAt } from '../history';
import { shadowSpec, withShadow } from '../shadow';
import { projectMigrations } from './up';

interface TestArgs {
  ids: string[] | undefined;
  since: string | undefined;
  all: boolean;
  engines: string | undefined;
  format: string | undefined;
  junit: string | undefined;
  impact: boolean;
  seed: string | undefined;
  queries: string | undefined;
  'plan-threshold': string | undefined;
  'shadow-db': string | undefined;
}

type EngineChoice = 'pglite' | 'server';

export function parseEngines(value: string | undefined, shadowDb: string | undefined): EngineChoice[] {
  if (value === undefined) return shadowDb ? ['server'] : ['pglite'];
  const list = value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const out: EngineChoice[] = [];
  for (const e of list) {
    const v = e === 'postgres' || e === 'server' ? 'server' : e === 'pglite' ? 'pglite' : undefined;
    if (!v) {
      throw new UsageError('bad-engines', `--engines: unknown engine "${e}" (expected pglite, server)`, {
        data: { argument: '--engines' },
      });
    }
    if (!out.includes(v)) out.push(v);
  }
  if (out.length === 0) {
    throw new UsageError('bad-engines', '--engines: expected pglite, server or both', {
      data: { argument: '--engines' },
    });
  }
  if (out.includes('server') && !shadowDb) {
    throw new UsageError(
      'no-shadow-server',
      '--engines server needs --shadow-db URL (a server where braid may create a temporary database)',
      {
        data: { argument: '--engines' },
      },
    );
  }
  return out;
}

/** Resolves positional ids: exact, else a unique prefix of one id. */
function resolveIds(given: string[], migrations: readonly SourceMigration[]): Set<string> {
  const out = new Set<string>();
  for (const g of given) {
    const exact = migrations.find((m) => m.id === g);
    if (exact) {
      out.add(exact.id);
      continue;
    }
    const matches = migrations.filter((m) => m.id.startsWith(g));
    if (matches.length === 1) out.add(matches[0].id);
    else if (matches.length === 0) {
      throw new UsageError('unknown-id', `${g}: no migration with this id in the manifest`, {
        data: { argument: g },
      });
    } else {
      throw new UsageError(
        'ambiguous-id',
        `${g}: matches ${matches.length} migrations (${matches
          .slice(0, 3)
          .map((m) => m.id)
          .join(', ')}${matches.length > 3 ? ', …' : ''}); give more of the id`,
        { data: { argument: g } },
      );
    }
  }
  return out;
}

async function selectMigrations(
  args: TestArgs,
  root: string,
  migrations: readonly SourceMigration[],
): Promise<{ tested: Set<string>; selection: string }> {
  const ids = (args.ids ?? []).map(String);
  const modes = [ids.length > 0, args.all, args.since !== undefined].filter(Boolean).length;
  if (modes > 1) {
    throw new UsageError(
      'conflicting-selection',
      'give migration ids, --since REF or --all, not several of them',
    );
  }
  if (ids.length > 0) return { tested: resolveIds(ids, migrations), selection: 'ids' };
  if (args.all) return { tested: new Set(migrations.map((m) => m.id)), selection: 'all' };
  if (args.since !== undefined) {
    const repo = await GitRepo.open(root);
    try {
      const at = await migrationsAt(repo, root, args.since);
      const old = new Set(at.migrations.map((m) => m.id));
      return {
        tested: new Set(migrations.filter((m) => !old.has(m.id)).map((m) => m.id)),
        selection: `since ${args.since}`,
      };
    } finally {
      repo.close();
    }
  }
  // Default: what is not yet on a protected ref.
  let repo: GitRepo;
  try {
    repo = await GitRepo.open(root);
  } catch {
    return { tested: new Set(migrations.map((m) => m.id)), selection: 'all (not a git repository)' };
  }
  try {
    const idx = await readProtectedIndex(repo, repoRelativeDir(repo, root));
    if (idx.refs.length === 0) {
      return { tested: new Set(migrations.map((m) => m.id)), selection: 'all (no protected ref)' };
    }
    const names = idx.refs.map((r) => r.name).join(', ');
    return {
      tested: new Set(migrations.filter((m) => !idx.migrations.has(m.id)).map((m) => m.id)),
      selection: `not yet on ${names}; --all tests every migration`,
    };
  } finally {
    repo.close();
  }
}

async function runEngine(
  ctx: Context,
  engine: EngineChoice,
  spec: ShadowSpec,
  migrations: readonly SourceMigration[],
  tested: Set<string>,
  seed: number | undefined,
  plan: { queries?: { label: string; text: string }[]; planThreshold: number },
): Promise<EngineRun> {
  const { serverUrl, ...rest } = spec;
  const engineSpec: ShadowSpec = engine === 'server' && serverUrl ? { ...rest, serverUrl } : rest;
  const first = migrations.findIndex((m) => tested.has(m.id));
  const prefix = first > 0 ? migrations.slice(0, first) : [];
  if (prefix.length > 0 && ctx.out.stderrTTY) {
    ctx.out.note(
      `braid test (${engine}): preparing the ${prefix.length} earlier migrations (cached for next time)…`,
    );
  }
  const shadow = await openPrefixedShadow(prefix, engineSpec);
  let bar: import('cli-progress').SingleBar | undefined;
  try {
    if (ctx.out.stderrTTY && tested.size > 1) {
      const { SingleBar, Presets } = await import('cli-progress');
      bar = new SingleBar(
        {
          stream: process.stderr,
          format: `braid test (${engine}) [{bar}] {value}/{total} {id}`,
          clearOnComplete: true,
          hideCursor: true,
        },
        Presets.shades_classic,
      );
      bar.start(tested.size, 0, { id: '' });
    }
    return await runRoundTrips(shadow.ex, migrations, tested, {
      ...(seed ? { seed } : {}),
      ...plan,
      prefixApplied: shadow.prefixApplied,
      onEvent: (e) => {
        if (e.type === 'tested') bar?.update(e.done, { id: e.result.id });
      },
    });
  } finally {
    bar?.stop();
    await shadow.close();
  }
}

export const testCommand = defineCommand<TestArgs>({
  command: 'test [ids..]',
  describe: 'round trips on a shadow database: up, verify, down (schema must equal the one before), up again',
  builder: (y) =>
    withShadow(y)
      .positional('ids', {
        type: 'string',
        array: true,
        describe: 'migration ids (or unique prefixes) to test',
      })
      .option('since', { type: 'string', describe: 'test the migrations that are not in REF’s manifest' })
      .option('all', { type: 'boolean', default: false, describe: 'test every migration' })
      .option('engines', {
        type: 'string',
        describe:
          'pglite, server or pglite,server (server = --shadow-db); default: server with --shadow-db, else pglite',
      })
      .option('format', { type: 'string', describe: 'text (default), md or json' })
      .option('junit', { type: 'string', describe: 'also write a JUnit XML report to FILE' })
      .option('seed', {
        type: 'string',
        describe:
          'fill every empty table with ROWS generated rows before each migration and report data the migration loses or down.sql cannot restore',
      })
      .option('queries', {
        type: 'string',
        describe:
          'EXPLAIN each query of FILE.sql before and after every tested migration and report plan changes (best with --seed)',
      })
      .option('plan-threshold', {
        type: 'string',
        describe: 'report a query whose total cost grows by more than this factor (default 2)',
      })
      .option('impact', {
        type: 'boolean',
        default: false,
        describe: 'show measured impact per migration (duration, tables rewritten, indexes built)',
      }),
  handler: async (args, ctx) => {
    const format = args.json ? 'json' : (args.format ?? 'text');
    if (!['text', 'json', 'md'].includes(format)) {
      throw new UsageError('bad-format', `--format ${format}: expected text, md or json`, {
        data: { argument: '--format' },
      });
    }
    const serverUrl = args['shadow-db'];
    if (serverUrl) {
      try {
        const pw = new URL(serverUrl).password;
        if (pw) ctx.out.addSecret(decodeURIComponent(pw));
      } catch {
        throw new UsageError('bad-shadow-db', `--shadow-db: not a valid URL: ${redact(serverUrl)}`, {
          data: { argument: '--shadow-db' },
        });
      }
    }
    const engines = parseEngines(args.engines, serverUrl);
    const seed = parseSeed(args.seed);
    const plan = await readQueries(ctx, args.queries, args['plan-threshold']);
    const { root, migrations } = projectMigrations(ctx.cwd);
    const { tested, selection } = await selectMigrations(args, root, migrations);
    const spec = shadowSpec(args, ctx, root);
    const runs: EngineRun[] = [];
    if (tested.size > 0) {
      for (const e of engines) runs.push(await runEngine(ctx, e, spec, migrations, tested, seed, plan));
    }
    const report: TestReport = {
      selection,
      tested: migrations.filter((m) => tested.has(m.id)).map((m) => m.id),
      runs,
      ok: reportOk(runs),
    };
    if (args.junit) writeJUnit(ctx, args.junit, report);
    if (format === 'json') ctx.out.result(report);
    else if (format === 'md') process.stdout.write(ctx.out.clean(renderTestMarkdown(report)));
    else for (const l of renderTestText(report, { impact: args.impact })) ctx.out.print(l);
    return report.ok ? 0 : EXIT_FINDINGS;
  },
});

async function readQueries(
  ctx: Context,
  file: string | undefined,
  threshold: string | undefined,
): Promise<{ queries?: { label: string; text: string }[]; planThreshold: number }> {
  const t = threshold === undefined ? 2 : Number(threshold);
  if (!Number.isFinite(t) || t <= 1) {
    throw new UsageError(
      'bad-plan-threshold',
      `--plan-threshold ${threshold}: expected a factor above 1, e.g. 2`,
      {
        data: { argument: '--plan-threshold' },
      },
    );
  }
  if (file === undefined) return { planThreshold: t };
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(ctx.cwd, file), 'utf8');
  } catch (e) {
    throw new UsageError('bad-queries', `--queries ${file}: cannot read: ${(e as Error).message}`, {
      data: { argument: '--queries' },
    });
  }
  await loadParser();
  const queries = splitStatements(text).map((st) => ({ label: `${file}:${st.line}`, text: st.text }));
  if (queries.length === 0) {
    throw new UsageError('bad-queries', `--queries ${file}: no statement in the file`, {
      data: { argument: '--queries' },
    });
  }
  return { queries, planThreshold: t };
}

function parseSeed(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1 || n > 1_000_000) {
    throw new UsageError('bad-seed', `--seed ${v}: expected a number of rows from 1 to 1000000`, {
      data: { argument: '--seed' },
    });
  }
  return n;
}

function writeJUnit(ctx: Context, file: string, report: TestReport): void {
  const target = path.resolve(ctx.cwd, file);
  try {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, ctx.out.clean(renderJUnit(report)));
  } catch (e) {
    throw new EnvironmentError('junit-write', `--junit ${file}: cannot write: ${(e as Error).message}`, {
      data: { argument: '--junit' },
    });
  }
}
