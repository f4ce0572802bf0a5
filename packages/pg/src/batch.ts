/**
 * Batched data migrations (`-- braid:batch size=N key=COL delay=D`, docs/online.md). A batched
 * statement (UPDATE, DELETE, INSERT … SELECT) runs as many transactions, each over the next
 * `size` keys of its table: the batch's upper bound is the size-th key after the last committed
 * one (`order by key offset size-1 limit 1`, an index scan), the statement runs with
 * `key > last and key <= bound` ANDed to its WHERE, and the progress row (the bound, rows and
 * batches so far) is written in the same transaction. So a batch is never done twice, and a run
 * killed at any point resumes after the last committed batch. The last batch has no upper bound
 * (it also takes rows inserted past the end meanwhile) and marks the statement done.
 * Between batches braid waits while the watcher sees replica lag or latency over their
 * thresholds (throttling: each wait a braid.watch row, outcome `throttled`), then the pause.
 */
import { performance } from 'node:perf_hooks';
import {
  BatchPacer,
  emptySummary,
  mergeSummaries,
  pacingOf,
  type BatchDirective,
  type WatchSummary,
} from '@braid/core';
import { batchability, loadParser } from '@braid/sql';
import type { Executor } from './executor';
import { quoteIdent } from './quote';
import type { OnlineGuard, WatchUnit } from './watch';

/** Marks a batched statement in progress in braid.progress.statement_hash (the statement's hash follows). */
export const PROGRESS_BATCH = 'batch:';

export interface BatchProgress {
  id: string;
  /** "<id> statement 2/3" */
  label: string;
  statementIndex: number;
  batches: number;
  /** Rows the batches changed (their row counts). */
  rows: number;
  /** Keys covered so far (the batches' sizes), against the table's estimated rows. */
  scanned: number;
  /** Keys of the batch just done, and the next batch's (adaptive sizing changes it). */
  size: number;
  nextSize: number;
  /** The pause before the next batch (ms). */
  pauseMs: number;
  total: number | null;
  elapsedMs: number;
  /** Batches this run did (a resumed run started at batches − done). */
  doneThisRun: number;
  /** The batch was the last one. */
  final: boolean;
}

export interface BatchDeps {
  ex: Executor;
  guard?: OnlineGuard;
  /** `set local lock_timeout = …` */
  lockTimeout: string;
  /** Runs one attempt function with the engine's lock-timeout retries and the breaker. */
  runUnit: <T>(
    unit: WatchUnit,
    attempt: (n: number) => Promise<T>,
    opts: { onSummary: (s: WatchSummary) => void; rows: () => number; batches: () => number },
  ) => Promise<T>;
  onBatch?: (p: BatchProgress) => void;
  onNote?: (message: string) => void;
}

/** A statement that cannot run in batches: the migration fails before it does anything. */
export class BatchRefused extends Error {}

interface KeyInfo {
  column: string;
  notNull: boolean;
  indexed: boolean;
  rows: number | null;
}

async function keyInfo(ex: Executor, table: string, key: string | undefined): Promise<KeyInfo | string> {
  const r = await ex.query<{
    attname: string;
    attnotnull: boolean;
    indexed: boolean;
    reltuples: number;
    pk: boolean;
  }>(
    `select a.attname::text as attname, a.attnotnull,
            exists (select 1 from pg_index i where i.indrelid = c.oid and i.indkey[0] = a.attnum and i.indpred is null
                     and (select amname from pg_am where oid = (select relam from pg_class where oid = i.indexrelid)) = 'btree') as indexed,
            c.reltuples::float8 as reltuples,
            exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary and i.indnatts = 1 and i.indkey[0] = a.attnum) as pk
       from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      where c.oid = to_regclass($1) and ($2::text is null or a.attname = $2)`,
    [table, key ?? null],
  );
  if (r.rows.length === 0 && key === undefined) return `${table} does not exist`;
  const row = key === undefined ? r.rows.find((x) => x.pk) : r.rows[0];
  if (!row) {
    return key === undefined
      ? `${table} has no one-column primary key: name the key column (-- braid:batch key=COL)`
      : `${table} has no column ${key} (or does not exist)`;
  }
  const n = Number(row.reltuples);
  return {
    column: row.attname,
    notNull: row.attnotnull,
    indexed: row.indexed,
    rows: n < 0 ? null : Math.round(n),
  };
}

/**
 * Runs statement `index` of migration `m` in batches. `doneHash`: what marks the statement done in
 * braid.progress (the engine's hash of its text).
 */
export async function runBatched(
  d: BatchDeps,
  m: { id: string; hash: string },
  index: number,
  text: string,
  directive: BatchDirective,
  doneHash: string,
  label: string,
): Promise<void> {
  await loadParser();
  const b = batchability(text);
  if (!b) throw new BatchRefused('not a data statement');
  if (!b.ok) throw new BatchRefused(`${b.reason} (-- braid:batch, line ${directive.line})`);
  const st = b.statement;
  const table = `${st.table.schema ? `${quoteIdent(st.table.schema)}.` : ''}${quoteIdent(st.table.name)}`;
  const info = await keyInfo(d.ex, table, directive.key);
  if (typeof info === 'string') throw new BatchRefused(`-- braid:batch: ${info}`);
  if (!info.notNull)
    throw new BatchRefused(
      `-- braid:batch: the key column ${info.column} of ${table} may be NULL (rows with a NULL key would be in no batch); use a NOT NULL key such as the primary key`,
    );
  if (!info.indexed)
    throw new BatchRefused(
      `-- braid:batch: no btree index starts with the key column ${info.column} of ${table}: every batch would scan the whole table; index it first (CREATE INDEX CONCURRENTLY)`,
    );
  const k = quoteIdent(info.column);
  const qk = `${quoteIdent(st.qualifier)}.${k}`;
  const prev = await d.ex.query<{
    batch_key: string | null;
    batch_rows: string | null;
    batches: number | null;
  }>(
    'select batch_key, batch_rows::text as batch_rows, batches from braid.progress where id = $1 and statement_index = $2',
    [m.id, index],
  );
  let last: string | null = prev.rows[0]?.batch_key ?? null;
  let rows = Number(prev.rows[0]?.batch_rows ?? 0);
  let batches = Number(prev.rows[0]?.batches ?? 0);
  const startBatches = batches;
  const pacer = new BatchPacer(pacingOf(directive));
  // keys covered by the batches before a resume: fixed sizes tell; adaptive ones changed (their rows are the estimate)
  let scanned = directive.adaptive ? rows : batches * directive.size;
  if (batches > 0)
    d.onNote?.(
      `${label}: resuming after batch ${batches} (${info.column} > ${last ?? '(start)'}, ${rows} row(s) done)`,
    );
  const boundSql = (lower: boolean, size: number) =>
    `select ${k}::text as k from ${table}${lower ? ` where ${k} > $1` : ''} order by ${k} offset ${size - 1} limit 1`;
  const t0 = performance.now();
  let summary = emptySummary();
  const unit: WatchUnit = { id: m.id, direction: 'up', statementIndex: index, label };
  for (;;) {
    // a wait here is its own braid.watch row (outcome throttled), with the progress before it
    await d.guard?.waitHealthy(unit, { rows: () => rows, batches: () => batches - startBatches });
    const size = pacer.nextSize();
    let batchWatch = emptySummary();
    const b0 = performance.now();
    const r = await d.runUnit(
      unit,
      async () => {
        await d.ex.exec(`begin; ${d.lockTimeout}`);
        try {
          const bq = await d.ex.query<{ k: string }>(
            boundSql(last !== null, size),
            last !== null ? [last] : [],
          );
          const bound = bq.rows[0]?.k ?? null;
          const params: string[] = [];
          const conds: string[] = [];
          if (last !== null) {
            params.push(last);
            conds.push(`${qk} > $${params.length}`);
          }
          if (bound !== null) {
            params.push(bound);
            conds.push(`${qk} <= $${params.length}`);
          }
          const sql = st.withCondition(conds.length > 0 ? `(${conds.join(' and ')})` : 'true');
          const res = await d.ex.query(sql, params);
          const final = bound === null;
          await d.ex.query(
            `insert into braid.progress (id, checksum, statement_index, statement_hash, batch_key, batch_rows, batches)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (id, statement_index) do update set statement_hash = excluded.statement_hash,
               batch_key = excluded.batch_key, batch_rows = excluded.batch_rows, batches = excluded.batches,
               done_at = clock_timestamp()`,
            [
              m.id,
              m.hash,
              index,
              final ? doneHash : PROGRESS_BATCH + doneHash,
              bound ?? last,
              rows + res.rowCount,
              batches + 1,
            ],
          );
          await d.ex.exec('commit');
          return { bound, changed: res.rowCount, final };
        } catch (e) {
          await d.ex.exec('rollback').catch(() => undefined);
          throw e;
        }
      },
      {
        onSummary: (s) => {
          summary = mergeSummaries(summary, s);
          batchWatch = mergeSummaries(batchWatch, s);
        },
        // a tripped or failed batch's own braid.watch row: the statement's progress before it
        rows: () => rows,
        batches: () => batches - startBatches,
      },
    );
    const batchMs = performance.now() - b0;
    batches++;
    rows += r.changed;
    scanned += size;
    if (r.bound !== null) last = r.bound;
    const pauseMs = r.final ? 0 : pacer.observe({ ms: batchMs, keys: size, watch: batchWatch });
    const progress: BatchProgress = {
      id: m.id,
      label,
      statementIndex: index,
      batches,
      rows,
      scanned: r.final ? Math.max(info.rows ?? 0, scanned) : scanned,
      size,
      nextSize: pacer.nextSize(),
      pauseMs,
      total: info.rows,
      elapsedMs: performance.now() - t0,
      doneThisRun: batches - startBatches,
      final: r.final,
    };
    d.guard?.setProgress({
      done: progress.scanned,
      total: info.rows,
      unit: 'keys',
      phase: `batch ${batches}`,
    });
    d.onBatch?.(progress);
    if (r.final) break;
    if (pauseMs > 0) await new Promise((res) => setTimeout(res, pauseMs));
  }
  await d.guard?.recordUnit(unit, 1, 'ok', summary, performance.now() - t0, {
    rows,
    batches: batches - startBatches,
  });
}
