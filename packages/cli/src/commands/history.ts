/**
 * `braid history [--db URL | --targets FILE] [--format text|json|html] [--out FILE]
 * [--since DATE] [--limit N]`: what the registries and audit logs of one or many databases say
 * was applied, attempted, failed and rolled back (docs/history.md). Read-only: every target is
 * read in a READ ONLY transaction; nothing is created, not even the registry.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  buildHistoryModel,
  databaseLabel,
  EnvironmentError,
  isValidId,
  MIGRATIONS_DIR,
  parseDirectives,
  parseManifest,
  parseSince,
  withoutUrls,
  titleFromId,
  UsageError,
  type AuditRow,
  type ExitCode,
  type HistoryModel,
  type HistoryRow,
  type MigrationMeta,
  type TargetRead,
  type WatchRow,
} from '@braid/core';
import { openExecutor, type Executor } from '@braid/pg';
import { renderHistoryHtml, renderHistoryJson, renderHistoryText } from '@braid/report';
import { readTargetsFile, resolveTargetUrls } from '../targets';
import { braidVersion, parseCount, parseDuration, resolveDb, urlPassword } from '../db';
import { findProject } from '../project';
import { defineCommand, withDb, type Context } from '../runtime';
import { writeOut } from './report';

const FORMATS = ['text', 'json', 'html'] as const;

/** registry column → model key, for the optional columns (absent in older registries). */
const COMMON_COLS: ReadonlyArray<readonly [string, string]> = [
  ['db_role', 'dbRole'],
  ['git_author_name', 'gitAuthorName'],
  ['git_author_email', 'gitAuthorEmail'],
  ['git_commit', 'gitCommit'],
  ['braid_version', 'braidVersion'],
  ['git_branch', 'gitBranch'],
  ['manifest_hash', 'manifestHash'],
  ['environment', 'environment'],
  ['rollout_id', 'rolloutId'],
  ['target', 'target'],
];
const AUDIT_COLS: ReadonlyArray<readonly [string, string]> = [
  ...COMMON_COLS,
  ['id', 'id'],
  ['checksum', 'checksum'],
  ['statement', 'statement'],
  ['error', 'error'],
  ['sqlstate', 'sqlstate'],
  ['reason', 'reason'],
];
const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

function utc(col: string): string {
  return `to_char(${col} at time zone 'UTC', ${ISO})`;
}

/** A registry row as the drivers return it (text and integer columns). */
type Row = Record<string, string | number | null>;

interface ReadOptions {
  since?: string;
  limit?: number;
}

/** Selects the rows of one registry table, only the columns this registry has. */
async function readTable(
  ex: Executor,
  table: 'history' | 'audit',
  present: Set<string>,
  opts: ReadOptions,
): Promise<Row[]> {
  const timeCol = table === 'history' ? 'applied_at' : 'at';
  const fixed =
    table === 'history'
      ? ['seq', 'id', 'checksum', 'direction', 'duration_ms']
      : ['seq', 'direction', 'outcome', 'duration_ms'];
  const optional = (table === 'history' ? COMMON_COLS : AUDIT_COLS).filter(([c]) => present.has(c));
  const cols = [
    ...fixed.filter((c) => present.has(c)).map((c) => (c === 'seq' ? 'seq::text as seq' : c)),
    `${utc(timeCol)} as at_iso`,
    ...optional.map(([c]) => c),
  ];
  const params: unknown[] = [];
  let where = '';
  if (opts.since !== undefined) {
    params.push(opts.since);
    where = ` where ${timeCol} >= $1::timestamptz`;
  }
  const limit = opts.limit !== undefined ? ` limit ${Math.floor(opts.limit)}` : '';
  const r = await ex.query<Row>(
    `select ${cols.join(', ')} from braid.${table}${where} order by seq desc${limit}`,
    params,
  );
  return r.rows.reverse();
}

function copyOptional(
  row: Row,
  cols: ReadonlyArray<readonly [string, string]>,
  into: Record<string, unknown>,
): void {
  for (const [c, k] of cols) {
    const v = row[c];
    if (v !== null && v !== undefined) into[k] = String(v);
  }
}

/** braid.watch (registry v4): what the watcher saw per statement. */
async function readWatch(ex: Executor, opts: ReadOptions): Promise<WatchRow[]> {
  const params: unknown[] = [];
  let where = '';
  if (opts.since !== undefined) {
    params.push(opts.since);
    where = ' where at >= $1::timestamptz';
  }
  const limit = opts.limit !== undefined ? ` limit ${Math.floor(opts.limit)}` : '';
  const r = await ex.query<Row>(
    `select seq::text as seq, ${utc('at')} as at_iso, id, direction, statement_index, attempt, outcome, elapsed_ms,
            rows::text as rows, batches, max_blocked, longest_block_ms, own_lock_wait_ms, max_replica_lag_ms,
            max_latency_ratio::float8 as max_latency_ratio, breach, environment, rollout_id
       from braid.watch${where} order by seq desc${limit}`,
    params,
  );
  const num = (v: string | number | null | undefined): number | null =>
    v === null || v === undefined ? null : Number(v);
  return r.rows.reverse().map((x) => ({
    seq: Number(x['seq']),
    at: String(x['at_iso']),
    id: String(x['id']),
    direction: String(x['direction']),
    statement: x['statement_index'] === null ? null : Number(x['statement_index']) + 1,
    attempt: Number(x['attempt']),
    outcome: String(x['outcome']),
    elapsedMs: Number(x['elapsed_ms']),
    rows: num(x['rows']),
    batches: num(x['batches']),
    maxBlocked: Number(x['max_blocked']),
    longestBlockMs: Number(x['longest_block_ms']),
    ownLockWaitMs: Number(x['own_lock_wait_ms']),
    maxReplicaLagMs: num(x['max_replica_lag_ms']),
    maxLatencyRatio: num(x['max_latency_ratio']),
    breach: x['breach'] === null ? null : String(x['breach']),
    ...(x['environment'] !== null ? { environment: String(x['environment']) } : {}),
    ...(x['rollout_id'] !== null ? { rolloutId: String(x['rollout_id']) } : {}),
  }));
}

/** Reads one target's registry; never writes (READ ONLY transaction, no registry creation). */
async function readRegistry(ex: Executor, t: TargetRead, opts: ReadOptions): Promise<void> {
  await ex.exec('begin transaction read only');
  try {
    const exists = await ex.query<{ ok: boolean }>(
      `select to_regclass('braid.registry_migrations') is not null as ok`,
    );
    if (!exists.rows[0]?.ok) return;
    const ids = await ex.query<{ id: string }>('select id from braid.registry_migrations');
    t.registryVersion = ids.rows.length;
    const cols = await ex.query<{ table_name: string; column_name: string }>(
      `select table_name::text as table_name, column_name::text as column_name from information_schema.columns
        where table_schema = 'braid' and table_name in ('history', 'audit', 'applied')`,
    );
    const present = { history: new Set<string>(), audit: new Set<string>(), applied: new Set<string>() };
    for (const c of cols.rows) present[c.table_name as keyof typeof present]?.add(c.column_name);
    if (present.applied.has('id')) {
      const order = present.applied.has('history_seq') ? 'history_seq' : 'id';
      const a = await ex.query<{ id: string }>(`select id from braid.applied order by ${order}`);
      t.applied = a.rows.map((x) => x.id);
    }
    if (present.history.size > 0) {
      for (const row of await readTable(ex, 'history', present.history, opts)) {
        const h: Record<string, unknown> = {
          seq: Number(row['seq']),
          id: String(row['id']),
          checksum: String(row['checksum'] ?? ''),
          direction: row['direction'] === 'down' ? 'down' : 'up',
          at: String(row['at_iso']),
          durationMs: Number(row['duration_ms'] ?? 0),
        };
        copyOptional(row, COMMON_COLS, h);
        t.history.push(h as unknown as HistoryRow);
      }
    }
    const hasWatch = await ex.query<{ ok: boolean }>(`select to_regclass('braid.watch') is not null as ok`);
    if (hasWatch.rows[0]?.ok) t.watch = await readWatch(ex, opts);
    if (present.audit.size > 0) {
      for (const row of await readTable(ex, 'audit', present.audit, opts)) {
        const a: Record<string, unknown> = {
          seq: Number(row['seq']),
          at: String(row['at_iso']),
          direction: String(row['direction'] ?? ''),
          outcome: String(row['outcome'] ?? ''),
        };
        if (row['duration_ms'] !== null && row['duration_ms'] !== undefined)
          a['durationMs'] = Number(row['duration_ms']);
        copyOptional(row, AUDIT_COLS, a);
        t.audit.push(a as unknown as AuditRow);
      }
    }
  } finally {
    await ex.exec('rollback').catch(() => undefined);
  }
}

async function readTarget(
  name: string,
  url: string,
  opts: ReadOptions,
  lockWaitMs: number,
): Promise<TargetRead> {
  const t: TargetRead = {
    name,
    database: databaseLabel(url),
    reachable: true,
    registryVersion: 0,
    applied: [],
    history: [],
    audit: [],
  };
  if (url.startsWith('pglite:') && url !== 'pglite:memory' && !fs.existsSync(url.slice('pglite:'.length))) {
    // The embedded database does not exist yet: nothing was ever applied (and reading must not create it).
    t.engine = 'pglite';
    return t;
  }
  let ex: Executor;
  try {
    ex = await openExecutor(url, `braid history (pid ${process.pid})`, { lockWaitMs });
  } catch (e) {
    t.reachable = false;
    t.error = withoutUrls(e instanceof Error ? e.message : String(e));
    return t;
  }
  t.engine = ex.engine;
  try {
    await readRegistry(ex, t, opts);
  } catch (e) {
    t.reachable = false;
    t.error = withoutUrls(e instanceof Error ? e.message : String(e));
  } finally {
    await ex.close().catch(() => undefined);
  }
  return t;
}

/** Ticket, reason and flags of the working tree's migrations (tolerant: a bad folder is skipped). */
export function workingTreeMeta(root: string): { meta: Map<string, MigrationMeta>; order: string[] } {
  const dir = path.join(root, MIGRATIONS_DIR);
  const meta = new Map<string, MigrationMeta>();
  let order: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return { meta, order };
  }
  try {
    const text = fs.readFileSync(path.join(dir, 'manifest'), 'utf8');
    order = parseManifest(text, `${MIGRATIONS_DIR}/manifest`).manifest.entries.map((e) => e.id);
  } catch {
    order = [];
  }
  for (const id of names) {
    if (!isValidId(id)) continue;
    let up: string;
    try {
      up = fs.readFileSync(path.join(dir, id, 'up.sql'), 'utf8');
    } catch {
      continue;
    }
    try {
      const d = parseDirectives(up, `${MIGRATIONS_DIR}/${id}/up.sql`);
      meta.set(id, {
        id,
        title: titleFromId(id),
        tickets: d.tickets,
        ...(d.reason !== undefined ? { reason: d.reason } : {}),
        irreversible: d.irreversible,
        noTransaction: d.noTransaction,
      });
    } catch {
      meta.set(id, { id, title: titleFromId(id), tickets: [] });
    }
  }
  return { meta, order };
}

async function mapLimit<T, R>(items: readonly T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

interface HistoryArgs {
  db: string | undefined;
  targets: string | undefined;
  format: string | undefined;
  out: string | undefined;
  since: string | undefined;
  limit: string | undefined;
  'lock-wait': string | undefined;
}

export function renderHistory(model: HistoryModel, format: string): string {
  return format === 'html'
    ? renderHistoryHtml(model)
    : format === 'json'
      ? renderHistoryJson(model)
      : renderHistoryText(model);
}

/** Where to read: the `--targets` file's targets (URLs from their variables) or one database. */
function resolveTargets(
  args: HistoryArgs,
  ctx: Context,
  root: string,
): { fleet: boolean; list: Array<{ name: string; url: string }> } {
  if (args.targets !== undefined) {
    const specs = readTargetsFile(ctx.cwd, args.targets);
    const urls = resolveTargetUrls(ctx, root, specs, args.targets);
    return { fleet: true, list: specs.map((s) => ({ name: s.name, url: urls.get(s.name)! })) };
  }
  const db = resolveDb(args.db, ctx.cwd, root);
  for (const s of db.secrets) ctx.out.addSecret(s);
  return { fleet: false, list: [{ name: databaseLabel(db.url), url: db.url }] };
}

export const historyCommand = defineCommand<HistoryArgs>({
  command: 'history',
  describe:
    'what was applied where, when, by whom, how long it took, what failed or was rolled back (text, json or a self-contained html page)',
  builder: (y) =>
    withDb(y)
      .option('targets', {
        type: 'string',
        describe: 'a targets file {"targets":[{"name","urlEnv"}]} (the rollout format): read every target',
      })
      .option('format', { type: 'string', describe: 'text (default), json or html' })
      .option('out', { type: 'string', describe: 'write to FILE instead of stdout' })
      .option('since', {
        type: 'string',
        describe: 'only rows at or after DATE (YYYY-MM-DD or ISO timestamp, UTC)',
      })
      .option('limit', { type: 'string', describe: 'only the last N history and N audit rows per target' })
      .option('lock-wait', {
        type: 'string',
        describe: 'how long to wait for the embedded database’s lock (another braid process), e.g. 60s',
      }),
  handler: async (args, ctx): Promise<ExitCode> => {
    const format = args.format ?? (args.json ? 'json' : 'text');
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new UsageError('bad-format', `--format ${format}: expected text, json or html`, {
        data: { argument: '--format' },
      });
    }
    if (args.db !== undefined && args.targets !== undefined) {
      throw new UsageError('bad-arguments', '--db and --targets: give one or the other', {
        data: { argument: '--targets' },
      });
    }
    const opts: ReadOptions = {};
    if (args.since !== undefined) opts.since = parseSince(args.since);
    if (args.limit !== undefined) opts.limit = parseCount(args.limit, '--limit', 0, 1);
    const lockWaitMs = parseDuration(args['lock-wait'], '--lock-wait', 60_000);
    const root = findProject(ctx.cwd);
    const { fleet, list } = resolveTargets(args, ctx, root);
    for (const t of list) ctx.out.addSecret(urlPassword(t.url));
    const reads = await mapLimit(list, 4, (t) => readTarget(t.name, t.url, opts, lockWaitMs));
    const reachable = reads.filter((r) => r.reachable).length;
    if (!fleet && reachable === 0) {
      throw new EnvironmentError('db-unreachable', reads[0]?.error ?? 'the database is unreachable');
    }
    const { meta, order } = workingTreeMeta(root);
    const model = buildHistoryModel({
      targets: reads,
      migrations: meta,
      order,
      generator: `braid ${braidVersion()}`,
      ...(args.since !== undefined ? { since: opts.since } : {}),
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    });
    const text = ctx.out.clean(renderHistory(model, format));
    if (args.out) {
      const p = writeOut(ctx.cwd, args.out, text);
      if (args.json) ctx.out.result({ file: p, format, targets: reads.length, reachable });
      else ctx.out.note(`braid: wrote ${p} (${format}, ${reads.length} target(s), ${reachable} reachable)`);
    } else if (args.json && format !== 'json') {
      ctx.out.result({ format, history: text });
    } else process.stdout.write(text.endsWith('\n') ? text : text + '\n');
    for (const r of reads) {
      if (!r.reachable) ctx.out.note(`braid: ${r.name}: unreachable: ${r.error ?? ''}`);
    }
    return reachable === 0 ? 3 : 0;
  },
});
