/**
 * `braid test [IDs | --since REF | --all]`: round trips (up, verify, down, up again) on a shadow
 * database, one connection for the whole run per engine (see @braid/pg roundtrip.ts).
 * Default selection: the migrations not yet on a protected ref (main, master, origin/HEAD, …);
 * all of them when the project is not in git or no protected ref exists.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  baselineOf,
  compareWithBaseline,
  describeSkipped,
  detectQueryFormat,
  engineKey,
  EnvironmentError,
  EXIT_FINDINGS,
  maxParam,
  MIGRATIONS_DIR,
  parsePgssExport,
  parsePlansFile,
  PLANS_FILE,
  PlansFileError,
  QueryFileError,
  redact,
  serializePlansFile,
  setKey,
  withSet,
  type BaselineSet,
  type PlansFile,
  type SkippedQuery,
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
import {
  openPrefixedShadow,
  readStats,
  runRoundTrips,
  type RoundTripQuery,
  type ShadowSpec,
  type SourceMigration,
  type StatsSource,
} from '@braid/pg';
import { readStatsFrom } from '../stats-from';
import { defineCommand, type Context } from '../runtime';
import { migrationsAt } from '../history';
import { shadowSpec, withShadow } from '../shadow';
import { projectMigrations } from './up';
import { migrationsDir, writeFileAtomic } from '../project';

interface TestArgs {
  ids: string[] | undefined;
  since: string | undefined;
  all: boolean;
  engines: string | undefined;
  format: string | undefined;
  junit: string | undefined;
  impact: boolean;
  seed: string | undefined;
  data: boolean;
  queries: string | undefined;
  'queries-top': string | undefined;
  'plan-threshold': string | undefined;
  'stats-from': string | undefined;
  'update-baselines': boolean;
  'shadow-db': string | undefined;
}

/** An engine of the matrix: the embedded PGlite, or a server where braid may create a database. */
export type EngineChoice = { kind: 'pglite' } | { kind: 'server'; url: string };

const isUrl = (e: string) => /^postgres(ql)?:\/\//i.test(e);

/**
 * `--engines`: a comma-separated list of `pglite`, `server` (= the `--shadow-db` URL) and
 * server URLs (`postgres://…`), so that one run can test on several engines and major versions
 * (`--engines pglite,server,postgres://pg17.internal/postgres`). Default: the server when
 * `--shadow-db` is given, else PGlite.
 */
export function parseEngines(value: string | undefined, shadowDb: string | undefined): EngineChoice[] {
  if (value === undefined) return shadowDb ? [{ kind: 'server', url: shadowDb }] : [{ kind: 'pglite' }];
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const out: EngineChoice[] = [];
  const seen = new Set<string>();
  for (const raw of list) {
    const e = isUrl(raw) ? raw : raw.toLowerCase();
    let v: EngineChoice | undefined;
    if (e === 'pglite') v = { kind: 'pglite' };
    else if (e === 'postgres' || e === 'server') {
      if (!shadowDb) {
        throw new UsageError(
          'no-shadow-server',
          '--engines server needs --shadow-db URL (a server where braid may create a temporary database)',
          { data: { argument: '--engines' } },
        );
      }
      v = { kind: 'server', url: shadowDb };
    } else if (isUrl(e)) {
      try {
        new URL(e);
      } catch {
        throw new UsageError('bad-engines', `--engines: not a valid URL: ${redact(e)}`, {
          data: { argument: '--engines' },
        });
      }
      v = { kind: 'server', url: e };
    }
    if (!v) {
      throw new UsageError(
        'bad-engines',
        `--engines: unknown engine "${redact(e)}" (expected pglite, server or a postgres:// URL)`,
        { data: { argument: '--engines' } },
      );
    }
    const key = v.kind === 'pglite' ? 'pglite' : v.url;
    if (!seen.has(key)) out.push(v);
    seen.add(key);
  }
  if (out.length === 0) {
    throw new UsageError('bad-engines', '--engines: expected pglite, server or a postgres:// URL', {
      data: { argument: '--engines' },
    });
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
  seed: SeedArgs,
  plan: { queries?: RoundTripQuery[]; planThreshold: number },
): Promise<EngineRun> {
  const { serverUrl: _default, ...rest } = spec;
  const engineSpec: ShadowSpec = engine.kind === 'server' ? { ...rest, serverUrl: engine.url } : rest;
  const where = engine.kind === 'server' ? serverWhere(engine.url) : undefined;
  const label = where ? `server ${where}` : 'pglite';
  const first = migrations.findIndex((m) => tested.has(m.id));
  const prefix = first > 0 ? migrations.slice(0, first) : [];
  if (prefix.length > 0 && ctx.out.stderrTTY) {
    ctx.out.note(
      `braid test (${label}): preparing the ${prefix.length} earlier migrations (cached for next time)…`,
    );
  }
  let shadow = await openPrefixedShadow(prefix, engineSpec);
  let bar: import('cli-progress').SingleBar | undefined;
  try {
    if (ctx.out.stderrTTY && tested.size > 1) {
      const { SingleBar, Presets } = await import('cli-progress');
      bar = new SingleBar(
        {
          stream: process.stderr,
          format: `braid test (${label}) [{bar}] {value}/{total} {id}`,
          clearOnComplete: true,
          hideCursor: true,
        },
        Presets.shades_classic,
      );
      bar.start(tested.size, 0, { id: '' });
    }
    const run = await runRoundTrips(shadow.ex, migrations, tested, {
      ...(seed.rows ? { seed: seed.rows } : {}),
      ...(seed.restoreData ? { restoreData: true } : {}),
      ...(seed.stats ? { stats: seed.stats, seedDefault: seed.defaultRows } : {}),
      ...plan,
      prefixApplied: shadow.prefixApplied,
      // A round trip that left the shadow in another state than after up.sql: a new shadow with
      // the migrations applied so far (from the replay caches when they have that list).
      rebuild: async (applied) => {
        await shadow.close();
        shadow = await openPrefixedShadow(applied, engineSpec);
        return { ex: shadow.ex, prefixApplied: shadow.prefixApplied };
      },
      onEvent: (e) => {
        if (e.type === 'tested') bar?.update(e.done, { id: e.result.id });
      },
    });
    if (where) run.where = where;
    return run;
  } finally {
    bar?.stop();
    await shadow.close();
  }
}

/** host:port/database of a server URL, without user or password (for telling servers apart). */
function serverWhere(url: string): string {
  const u = new URL(url);
  return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
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
      .option('data', {
        type: 'boolean',
        default: false,
        describe:
          'prove rollbacks keep data: seed rows (--seed, default 1000), back up what each migration puts at risk, run up, down with the restore, and compare row fingerprints of every affected table',
      })
      .option('queries', {
        type: 'string',
        describe:
          'EXPLAIN each query of FILE (statements, or a pg_stat_statements CSV/JSON export) before and after every tested migration and report plan changes (best with --seed or --stats-from)',
      })
      .option('queries-top', {
        type: 'string',
        describe:
          'with a pg_stat_statements export as --queries: plan the N queries with the highest total time (default 50)',
      })
      .option('update-baselines', {
        type: 'boolean',
        default: false,
        describe:
          'with --queries: write each tested migration’s plans to .migrations/<id>/.plans.json (commit them; later runs compare with them)',
      })
      .option('stats-from', {
        type: 'string',
        describe:
          'shape the seeded rows (row counts, null fractions, distinct counts, widths) from the planner statistics of the database at URL; never reads its values (--seed ROWS caps the rows, default 10000)',
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
    for (const e of engines) {
      if (e.kind !== 'server' || e.url === serverUrl) continue;
      const pw = new URL(e.url).password;
      if (pw) ctx.out.addSecret(decodeURIComponent(pw));
    }
    const seedRows = parseSeed(args.seed);
    if (args['update-baselines'] && args.queries === undefined) {
      throw new UsageError(
        'no-queries',
        '--update-baselines needs --queries FILE (the queries whose plans it stores)',
        {
          data: { argument: '--update-baselines' },
        },
      );
    }
    const { root, migrations } = projectMigrations(ctx.cwd);
    const plan = await readQueries(ctx, root, args.queries, args['plan-threshold'], args['queries-top']);
    const { tested, selection } = await selectMigrations(args, root, migrations);
    const seedArgs: SeedArgs =
      args['stats-from'] === undefined
        ? { rows: seedRows ?? (args.data ? DATA_ROWS : undefined) }
        : {
            rows: seedRows ?? STATS_CAP,
            defaultRows: seedRows ?? STATS_DEFAULT_ROWS,
            stats: tested.size > 0 ? await loadStats(ctx, args['stats-from']) : new Map(),
          };
    const seed: SeedArgs = args.data ? { ...seedArgs, restoreData: true } : seedArgs;
    // A broken baseline file is a usage error before any work (not after a long run).
    if (plan.queries && !args['update-baselines']) for (const id of tested) readPlansFile(root, id);
    const spec = shadowSpec(args, ctx, root);
    const runs: EngineRun[] = [];
    if (tested.size > 0) {
      for (const e of engines) runs.push(await runEngine(ctx, e, spec, migrations, tested, seed, plan));
    }
    const baselines = plan.queries
      ? applyBaselines(root, runs, plan, dataLabel(seed), args['update-baselines'])
      : undefined;
    const report: TestReport & { queries?: QueriesInfo; baselines?: Omit<BaselineInfo, 'writes'> } = {
      selection,
      tested: migrations.filter((m) => tested.has(m.id)).map((m) => m.id),
      runs,
      ok: reportOk(runs),
      ...(plan.info ? { queries: plan.info } : {}),
      ...(baselines ? { baselines: publicBaselines(baselines) } : {}),
    };
    if (baselines?.written.length) {
      // Written only after every engine ran: a failing run leaves no partial baselines.
      for (const w of baselines.writes) writeFileAtomic(w.file, w.text);
    }
    if (args.junit) writeJUnit(ctx, args.junit, report);
    if (format === 'json') ctx.out.result(report);
    else if (format === 'md') process.stdout.write(ctx.out.clean(renderTestMarkdown(report)));
    else {
      for (const l of renderTestText(report, { impact: args.impact })) ctx.out.print(l);
      if (seed.stats && args['stats-from']) {
        for (const l of statsLines(runs, redact(args['stats-from']), seed)) ctx.out.print(l);
      }
      if (plan.info) ctx.out.print(queriesLine(plan.info));
      if (baselines) for (const l of baselineLines(baselines)) ctx.out.print(l);
    }
    return report.ok ? 0 : EXIT_FINDINGS;
  },
});

interface QueriesInfo {
  file: string;
  format: 'sql' | 'pgss-csv' | 'pgss-json';
  planned: number;
  skipped: SkippedQuery[];
}

interface PlanArgs {
  queries?: RoundTripQuery[];
  planThreshold: number;
  info?: QueriesInfo;
  /** The queries file relative to the project root, posix separators: the baselines' key. */
  key?: string;
}

function parseTop(v: string | undefined): number {
  if (v === undefined) return 50;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError('bad-queries-top', `--queries-top ${v}: expected a number of queries from 1`, {
      data: { argument: '--queries-top' },
    });
  }
  return n;
}

/**
 * --queries FILE: a .sql file of statements (split by the parser, labelled FILE:LINE) or a
 * pg_stat_statements export (CSV with a header row, JSON array or JSON lines), told apart by
 * content. An export's utility statements and braid registry queries are skipped (and counted).
 */
async function readQueries(
  ctx: Context,
  root: string,
  file: string | undefined,
  threshold: string | undefined,
  topArg: string | undefined,
): Promise<PlanArgs> {
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
  const top = parseTop(topArg);
  if (file === undefined) return { planThreshold: t };
  let text: string;
  const abs = path.resolve(ctx.cwd, file);
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    throw new UsageError('bad-queries', `--queries ${file}: cannot read: ${(e as Error).message}`, {
      data: { argument: '--queries' },
    });
  }
  const key = path.relative(root, abs).split(path.sep).join('/');
  const format = detectQueryFormat(text);
  if (format !== 'sql') {
    let parsed;
    try {
      parsed = parsePgssExport(text, file, top);
    } catch (e) {
      if (e instanceof QueryFileError) {
        throw new UsageError('bad-queries', `--queries ${file}${e.line ? `:${e.line}` : ''}: ${e.message}`, {
          data: { argument: '--queries' },
        });
      }
      throw e;
    }
    if (parsed.queries.length === 0) {
      throw new UsageError(
        'bad-queries',
        `--queries ${file}: no plannable query in the pg_stat_statements export (${describeSkipped(parsed.skipped) ?? 'it is empty'})`,
        { data: { argument: '--queries' } },
      );
    }
    return {
      queries: parsed.queries.map((q) => ({ label: q.label, text: q.text, params: q.params })),
      planThreshold: t,
      info: { file, format, planned: parsed.queries.length, skipped: parsed.skipped },
      key,
    };
  }
  await loadParser();
  const queries = splitStatements(text).map((st) => ({
    label: `${file}:${st.line}`,
    text: st.text,
    params: maxParam(st.text),
  }));
  if (queries.length === 0) {
    throw new UsageError('bad-queries', `--queries ${file}: no statement in the file`, {
      data: { argument: '--queries' },
    });
  }
  return { queries, planThreshold: t, info: { file, format, planned: queries.length, skipped: [] }, key };
}

function queriesLine(info: QueriesInfo): string {
  const kind =
    info.format === 'sql'
      ? 'statements'
      : `pg_stat_statements ${info.format === 'pgss-csv' ? 'CSV' : 'JSON'} export, by total time`;
  const skipped = describeSkipped(info.skipped);
  return `queries: ${info.planned} planned from ${info.file} (${kind})${skipped ? `; ${skipped}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// --stats-from URL

interface SeedArgs {
  rows: number | undefined;
  defaultRows?: number;
  stats?: StatsSource;
  /** --data: back up, restore and compare row fingerprints (docs/backups.md). */
  restoreData?: boolean;
}

/** --data without --seed: rows per table. */
const DATA_ROWS = 1000;

/** --stats-from without --seed: rows per table capped at this many. */
const STATS_CAP = 10000;
/** --stats-from without --seed: rows of a table the statistics do not know. */
const STATS_DEFAULT_ROWS = 1000;

function loadStats(ctx: Context, url: string): Promise<StatsSource> {
  return readStatsFrom(ctx, url, { command: 'braid test', purpose: 'shape the data' }, readStats);
}

/** "seed: shaped by the statistics of postgres://…/db: 2 tables from statistics, 1 with defaults (cap 10000)". */
function statsLines(runs: EngineRun[], url: string, seed: SeedArgs): string[] {
  const first = runs[0];
  if (!first) return [];
  const shapes = first.results.flatMap((r) => r.data?.shape ?? []);
  const fromStats = shapes.filter((s) => s.source === 'stats').length;
  const lines = [
    `seed: shaped by the statistics of ${url}: ${fromStats} table${fromStats === 1 ? '' : 's'} from statistics, ${shapes.length - fromStats} with the default ${seed.defaultRows} rows (cap ${seed.rows} rows per table; no value read)`,
  ];
  for (const s of shapes) {
    if (s.fallback)
      lines.push(`seed: ${s.table}: the shaped rows were refused (${s.fallback}); filled with plain rows`);
  }
  return lines;
}

function dataLabel(seed: SeedArgs): string {
  if (seed.stats) return `stats-from (cap ${seed.rows}, default ${seed.defaultRows})`;
  return seed.rows ? `seed ${seed.rows}` : 'none';
}

// ---------------------------------------------------------------------------------------------
// Plan baselines: .migrations/<id>/.plans.json

interface BaselineInfo {
  mode: 'update' | 'compare';
  /** Files written (--update-baselines), relative to the project root. */
  written: string[];
  /** Baseline files compared with. */
  compared: string[];
  /** Migrations with plans but no baseline for this queries file and engine. */
  missing: string[];
  /** Baselines not compared because the data options differ, in words. */
  notCompared: string[];
  writes: { file: string; text: string }[];
}

/**
 * A migration's .plans.json (undefined when there is none). Invalid: a usage error naming the
 * file, unless `lenient` (--update-baselines rewrites it).
 */
function readPlansFile(
  root: string,
  id: string,
  lenient = false,
): { file: string; rel: string; plans: PlansFile | undefined } {
  const file = path.join(migrationsDir(root), id, PLANS_FILE);
  const rel = `${MIGRATIONS_DIR}/${id}/${PLANS_FILE}`;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { file, rel, plans: undefined };
  }
  try {
    return { file, rel, plans: parsePlansFile(text) };
  } catch (e) {
    if (lenient || !(e instanceof PlansFileError)) return { file, rel, plans: undefined };
    throw new UsageError(
      'bad-plans-file',
      `${rel}: ${e.message} (braid test --update-baselines rewrites it)`,
      {
        data: { file: rel },
      },
    );
  }
}

function applyBaselines(
  root: string,
  runs: EngineRun[],
  plan: PlanArgs,
  data: string,
  update: boolean,
): BaselineInfo {
  const info: BaselineInfo = {
    mode: update ? 'update' : 'compare',
    written: [],
    compared: [],
    missing: [],
    notCompared: [],
    writes: [],
  };
  const queries = plan.queries ?? [];
  const key = plan.key ?? '';
  const pending = new Map<string, { file: string; rel: string; id: string; plans: PlansFile | undefined }>();
  const load = (id: string) => {
    let entry = pending.get(id);
    if (entry) return entry;
    const { file, rel, plans } = readPlansFile(root, id, update);
    entry = { file, rel, id, plans };
    pending.set(id, entry);
    return entry;
  };
  for (const run of runs) {
    const engine = engineKey(run.engine, run.serverVersionNum);
    for (const r of run.results) {
      if (!r.plans) continue;
      const entry = load(r.id);
      const current = r.plans.map((p, i) => ({
        label: p.label,
        text: queries[i]?.text ?? '',
        plan: p.plan ?? undefined,
      }));
      if (update) {
        const set: BaselineSet = {
          queries: key,
          engine,
          data,
          plans: Object.fromEntries(current.map((q) => [q.label, baselineOf(q.text, q.plan)])),
        };
        entry.plans = withSet(entry.plans, r.id, set);
        continue;
      }
      const set = entry.plans?.sets[setKey(key, engine)];
      if (!set) {
        if (!info.missing.includes(r.id)) info.missing.push(r.id);
        continue;
      }
      if (set.data !== data) {
        info.notCompared.push(
          `${entry.rel}: made with ${set.data}, this run uses ${data}: not compared (use the same data options, or --update-baselines)`,
        );
        continue;
      }
      if (!info.compared.includes(entry.rel)) info.compared.push(entry.rel);
      const { changes } = compareWithBaseline(current, set, plan.planThreshold);
      if (changes.length > 0) {
        r.baselineChanges = [
          ...(r.baselineChanges ?? []),
          ...changes.map((c) => `${c} after ${r.id} (baseline ${entry.rel}, ${engine})`),
        ];
      }
    }
  }
  if (update) {
    for (const entry of pending.values()) {
      if (!entry.plans) continue;
      const text = serializePlansFile(entry.plans);
      let old: string | undefined;
      try {
        old = fs.readFileSync(entry.file, 'utf8');
      } catch {
        old = undefined;
      }
      info.written.push(entry.rel);
      if (old !== text) info.writes.push({ file: entry.file, text });
    }
  }
  return info;
}

function publicBaselines(b: BaselineInfo): Omit<BaselineInfo, 'writes'> {
  const { writes: _writes, ...rest } = b;
  void _writes;
  return rest;
}

function baselineLines(b: BaselineInfo): string[] {
  const out: string[] = [];
  if (b.mode === 'update') {
    const changed = new Set(b.writes.map((w) => w.file));
    if (b.written.length === 0) out.push('baselines: no tested migration was planned (nothing written)');
    else
      out.push(
        `baselines: wrote ${b.written.length} file${b.written.length === 1 ? '' : 's'} (${changed.size} changed): ${b.written.join(', ')} — commit them so reviewers see plan changes in the diff`,
      );
    return out;
  }
  if (b.compared.length > 0) out.push(`baselines: compared with ${b.compared.join(', ')}`);
  if (b.missing.length > 0 && b.compared.length + b.notCompared.length > 0)
    out.push(`baselines: none yet for ${b.missing.join(', ')} (--update-baselines writes them)`);
  for (const n of b.notCompared) out.push(`baselines: ${n}`);
  return out;
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
