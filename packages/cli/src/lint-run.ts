/**
 * `braid lint` over a whole project, on more than one thread when the history is long.
 *
 * The history is cut into chunks of consecutive migrations. The main thread lints chunks from the
 * front, in order, with the exact carried state (column types, branch-new tables). Worker threads
 * (lint-worker.ts) lint chunks from the back, each as if nothing came before it, and log what
 * they would have needed to know (@braid/sql lintChunk). Each chunk is claimed through a shared
 * array, so no chunk is linted twice and the threads meet wherever the work balances. The main
 * thread then folds the workers' chunks in order (mergeChunk), linting again the rare migration
 * whose guess about earlier migrations was wrong: the findings are exactly a sequential lint's.
 *
 * Errors are a sequential lint's too: the first migration (in manifest order) whose folder cannot
 * be read or whose directives are bad is reported, whichever thread met it. A worker that
 * crashes or cannot start costs time, not results: its unfinished chunks are linted here.
 *
 * Knobs (environment): BRAID_LINT_WORKERS=N (default: one per core idle right now besides this
 * thread's, at most 3, for histories of 256 migrations or more; 0 = this thread only), BRAID_LINT_CHUNK=K (migrations per
 * chunk), BRAID_LINT_MAIN_CHUNKS=K (the main thread lints at most K chunks itself, for tests),
 * BRAID_LINT_TRACE=1 (when each thread reached each phase, on stderr, in ms since the process
 * started).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import {
  EnvironmentError,
  FindingsError,
  MIGRATIONS_DIR,
  parseDirectives,
  UsageError,
  isBraidError,
} from '@braid/core';
import {
  ExactState,
  Linter,
  loadParser,
  mergeChunk,
  sortFindings,
  type ChunkResult,
  type Finding,
  type LintOptions,
  type MigrationInput,
} from '@braid/sql';
import { readMigrationFolder } from './project';

/** Reads one migration for the lint, with the checks loadProject makes (folder, up.sql, directives). */
export function readLintInput(migrationsAbs: string, id: string): MigrationInput {
  const files = readMigrationFolder(migrationsAbs, id);
  parseDirectives(files.up, `${MIGRATIONS_DIR}/${id}/up.sql`);
  const input: MigrationInput = { id, dir: `${MIGRATIONS_DIR}/${id}`, up: files.up };
  if (files.down !== undefined) input.down = files.down;
  if (files.verify !== undefined) input.verify = files.verify;
  return input;
}

/** What a worker is given (workerData). Plain data. */
export interface LintWorkerData {
  /** Absolute `.migrations/`. */
  dir: string;
  /** Every migration id, in apply (manifest) order. */
  ids: string[];
  chunkSize: number;
  /** One Int32 per chunk: 0 = free, 1 = the main thread's, 2 + k = worker k's. */
  claims: SharedArrayBuffer;
  /** This worker's claim mark (2 + k). */
  mark: number;
  options: {
    pgVersion?: number;
    unprotected: string[];
    only?: string[];
    disable: string[];
    tables?: LintOptions['tables'];
    batchRows?: number;
  };
  /** Send the texts of files with findings (for the text format's source lines). */
  sources: boolean;
}

/** An error as it crosses threads: enough to rebuild the BraidError the worker met. */
export interface ErrorData {
  kind: 'usage' | 'environment' | 'findings' | 'internal';
  code: string;
  message: string;
  data: Record<string, unknown>;
}

/** What a worker posts. */
export type LintWorkerMessage =
  | { type: 'chunk'; n: number; result: ChunkResult; sources: Array<[string, string]> }
  | { type: 'error'; n: number; error: ErrorData }
  | { type: 'done'; trace: Array<[string, number]> };

/** Milliseconds since the Unix epoch, comparable across threads. */
export const clock = (): number => performance.timeOrigin + performance.now();

export const MAIN_MARK = 1;

/** Where bin/early.js leaves the workers it started (a global: it is not part of the bundle). */
const PRESTARTED = Symbol.for('braid.lint.prestarted');
/** The worker count bin/early.js chose (autoLintWorkers) when it prestarted workers. */
const AUTO_WORKERS = Symbol.for('braid.lint.autoWorkers');

/** The automatic worker rule, kept once in bin/early.js (which runs before any bundle). */
interface WorkerRule {
  autoLintWorkers(cores: number, busy: number): number;
  busyOthers(loadavgText?: string): number;
}
let rule: WorkerRule | undefined;
function workerRule(): WorkerRule {
  // dist/braid-*.js and src/lint-run.ts both sit one folder below packages/cli
  rule ??= createRequire(__filename)(path.join(__dirname, '..', 'bin', 'early.js')) as WorkerRule;
  return rule;
}

/** Lint workers for a long history: one per idle core besides this thread's, at most 3 (bin/early.js). */
export function autoLintWorkers(cores: number, busy: number): number {
  return workerRule().autoLintWorkers(cores, busy);
}

/** Other tasks runnable right now (the running count of /proc/loadavg, less this process; bin/early.js). */
export function busyOthers(loadavgText?: string): number {
  return workerRule().busyOthers(loadavgText);
}

export function errorData(e: unknown): ErrorData {
  if (isBraidError(e)) {
    const kind =
      e instanceof UsageError ? 'usage' : e instanceof EnvironmentError ? 'environment' : 'findings';
    return { kind, code: e.code, message: e.message, data: e.data };
  }
  return { kind: 'internal', code: 'internal', message: String((e as Error)?.stack ?? e), data: {} };
}

function rebuild(e: ErrorData): Error {
  switch (e.kind) {
    case 'usage':
      return new UsageError(e.code, e.message, { data: e.data });
    case 'environment':
      return new EnvironmentError(e.code, e.message, { data: e.data });
    case 'findings':
      return new FindingsError(e.code, e.message, { data: e.data });
    default:
      return new Error(e.message);
  }
}

/** Texts of the files that findings point at, from a set of inputs. */
export function sourcesOf(
  findings: readonly Finding[],
  inputs: readonly MigrationInput[],
): Array<[string, string]> {
  const wanted = new Set(findings.map((f) => f.file));
  const out: Array<[string, string]> = [];
  for (const m of inputs) {
    const dir = m.dir ?? `${MIGRATIONS_DIR}/${m.id}`;
    for (const [name, text] of [
      ['up.sql', m.up],
      ['down.sql', m.down],
      ['verify.sql', m.verify],
    ] as const) {
      const p = `${dir}/${name}`;
      if (text !== undefined && wanted.has(p)) out.push([p, text]);
    }
  }
  return out;
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    throw new UsageError('bad-env', `${name}=${v}: expected a whole number`, { data: { argument: name } });
  }
  return n;
}

/** The worker script next to the running bundle (absent when running from sources). */
function workerScript(): string | undefined {
  const file = path.join(__dirname, 'lint-worker.js');
  return fs.existsSync(file) ? file : undefined;
}

export interface LintRunStats {
  workers: number;
  /** Of those, started by bin/early.js before the bundle loaded. */
  prestarted: number;
  chunks: number;
  /** Chunks linted on the main thread / by workers. */
  mainChunks: number;
  workerChunks: number;
  /** Migrations of workers' chunks linted again on the main thread (a guess was wrong). */
  relinted: number;
}

export interface LintRunResult {
  findings: Finding[];
  /** Texts of the files findings point at (text format), when asked for. */
  sources: Map<string, string>;
  stats: LintRunStats;
}

/**
 * Lints every migration of `ids` (manifest order) under `migrationsAbs`. `parserReady` is the
 * pending loadParser() (started early so that it overlaps with reading).
 */
export async function lintProject(
  migrationsAbs: string,
  ids: readonly string[],
  options: LintOptions & { unprotected: string[]; disable: string[] },
  wantSources: boolean,
  parserReady: Promise<void> = loadParser(),
): Promise<LintRunResult> {
  const tracing = Boolean(process.env['BRAID_LINT_TRACE']);
  const trace = (what: string, at = clock()): void => {
    if (tracing) process.stderr.write(`lint trace: ${(at - performance.timeOrigin).toFixed(0)} ms ${what}\n`);
  };
  trace('main: start');
  const script = workerScript();
  // bin/early.js decided when it prestarted workers (reading the load now would count them)
  const early = (globalThis as Record<symbol, unknown>)[AUTO_WORKERS];
  const auto =
    ids.length >= 256
      ? typeof early === 'number'
        ? early
        : autoLintWorkers(os.availableParallelism(), busyOthers())
      : 0;
  const workers = script ? Math.min(16, envInt('BRAID_LINT_WORKERS') ?? auto) : 0;
  const chunkSize = envInt('BRAID_LINT_CHUNK') || Math.max(8, Math.ceil(ids.length / 64));
  const mainLimit = envInt('BRAID_LINT_MAIN_CHUNKS') ?? Infinity;
  const chunks = Math.ceil(ids.length / chunkSize);
  const claims = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, chunks)));
  const stats: LintRunStats = { workers, prestarted: 0, chunks, mainChunks: 0, workerChunks: 0, relinted: 0 };

  // Started before the main thread gets busy: a worker needs ~0.1 s to boot and load the parser.
  const results = new Map<number, ChunkResult>();
  const failures = new Map<number, ErrorData>();
  const sources = new Map<string, string>();
  const pool: Worker[] = [];
  let settled = 0;
  let onSettled: (() => void) | undefined;
  // Workers bin/early.js started before the bundle loaded; the ones this lint does not need stop.
  const prestarted = ((globalThis as Record<symbol, unknown>)[PRESTARTED] as Worker[] | undefined) ?? [];
  delete (globalThis as Record<symbol, unknown>)[PRESTARTED];
  const wanted = chunks > 1 ? workers : 0;
  for (const w of prestarted.slice(wanted)) void w.terminate();
  for (let k = 0; k < wanted; k++) {
    const data: LintWorkerData = {
      dir: migrationsAbs,
      ids: [...ids],
      chunkSize,
      claims: claims.buffer,
      mark: 2 + k,
      options: {
        ...(options.pgVersion ? { pgVersion: options.pgVersion } : {}),
        unprotected: options.unprotected,
        ...(options.only ? { only: [...options.only] } : {}),
        disable: options.disable,
        ...(options.tables ? { tables: options.tables } : {}),
        ...(options.batchRows !== undefined ? { batchRows: options.batchRows } : {}),
      },
      sources: wantSources,
    };
    // the same young generation as bin/early.js gives the workers it starts
    const w = prestarted[k] ?? new Worker(script!, { resourceLimits: { maxYoungGenerationSizeMb: 6 } });
    if (prestarted[k]) stats.prestarted++;
    pool.push(w);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      settled++;
      if (settled === pool.length) onSettled?.();
    };
    w.on('message', (msg: LintWorkerMessage) => {
      if (msg.type === 'chunk') {
        results.set(msg.n, msg.result);
        for (const [p, t] of msg.sources) sources.set(p, t);
      } else if (msg.type === 'error') failures.set(msg.n, msg.error);
      else {
        for (const [what, at] of msg.trace) trace(`worker ${k}: ${what}`, at);
        finish();
      }
    });
    // a crash or a failed start: its unreported chunks are linted here
    w.on('error', finish);
    w.on('exit', finish);
    w.unref(); // never keeps the process alive on its own
    // a prestarted worker that is gone already has nothing to report
    if (w.threadId < 0) finish();
    else w.postMessage({ type: 'job', data });
  }

  const readChunk = (n: number): MigrationInput[] =>
    ids.slice(n * chunkSize, (n + 1) * chunkSize).map((id) => readLintInput(migrationsAbs, id));
  const findings: Finding[] = [];
  let n = 0;
  try {
    // The parser compiles on background threads: read the first chunks meanwhile.
    const readAhead = new Map<number, MigrationInput[]>();
    let parserLoaded = false;
    parserReady.then(
      () => (parserLoaded = true),
      () => (parserLoaded = true),
    );
    while (!parserLoaded && n < chunks && n < mainLimit) {
      if (Atomics.compareExchange(claims, n, 0, MAIN_MARK) !== 0) break;
      readAhead.set(n, readChunk(n++));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await parserReady;
    trace(`main: parser loaded (${readAhead.size} chunks read meanwhile)`);
    const linter = new Linter(options);
    const state = new ExactState();
    const lintHere = (n: number): void => {
      const inputs = readAhead.get(n) ?? readChunk(n);
      readAhead.delete(n);
      const before = findings.length;
      for (const m of inputs) for (const f of linter.lintOne(m, state)) findings.push(f);
      if (wantSources) for (const [p, t] of sourcesOf(findings.slice(before), inputs)) sources.set(p, t);
      stats.mainChunks++;
    };
    for (const k of [...readAhead.keys()]) lintHere(k);
    for (; n < chunks && n < mainLimit; n++) {
      if (Atomics.compareExchange(claims, n, 0, MAIN_MARK) !== 0) break;
      lintHere(n);
    }
    trace(`main: linted ${stats.mainChunks} chunks`);
    if (n < chunks && pool.length) {
      // the rest was claimed by workers (or is left for after them): wait for their reports
      if (settled < pool.length) {
        for (const w of pool) w.ref();
        await new Promise<void>((resolve) => (onSettled = resolve));
      }
    }
    for (; n < chunks; n++) {
      const failed = failures.get(n);
      const result = results.get(n);
      if (failed) throw rebuild(failed);
      if (result) {
        const merged = mergeChunk(linter, state, result, (index) => {
          stats.relinted++;
          return readLintInput(migrationsAbs, ids[index]);
        });
        for (const f of merged) findings.push(f);
        stats.workerChunks++;
      } else {
        lintHere(n); // never claimed, or claimed by a worker that did not report it
      }
    }
  } finally {
    for (const w of pool) void w.terminate();
  }
  trace(`main: merged ${stats.workerChunks} worker chunks`);
  return { findings: sortFindings(findings), sources, stats };
}
