/**
 * The watcher and circuit breaker on the command line (docs/online.md): the flags of up, promote
 * and rollout, the settings they resolve to (defaults < braid.json `online` < the environment's
 * `online` < flags), and what braid shows while it watches: on a terminal a live line per
 * statement (elapsed, rows, blocked sessions, lag) and a progress bar with an ETA for batches;
 * elsewhere the trips, throttling and a line per batched statement.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import {
  CONFIG_FILE,
  formatCount,
  formatMs,
  parseConfig,
  parseOnlineFlags,
  progressLine,
  resolveOnline,
  type BraidConfig,
  type OnlineFlags,
  type OnlineLayer,
  type OnlineSettings,
} from '@braid/core';
import type { BatchProgress, OnlineEvents, OnlineOptions } from '@braid/pg';
import type { Context } from './runtime';

export type OnlineArgs = OnlineFlags;

/** The watcher's and breaker's flags (up, promote, rollout). */
export function withOnlineOptions<T>(y: Argv<T>): Argv<T & OnlineArgs> {
  return y
    .option('watch', {
      type: 'boolean',
      describe: 'watch the server from a second session while migrating (default on; --no-watch: off)',
    })
    .option('max-blocked-sessions', {
      type: 'string',
      describe: 'circuit breaker: cancel braid’s statement when more sessions than N wait behind it',
    })
    .option('max-blocked-for', {
      type: 'string',
      describe: 'circuit breaker: cancel it when a session has waited behind it longer than D (e.g. 1s)',
    })
    .option('max-replica-lag', {
      type: 'string',
      describe: 'circuit breaker: cancel it (and throttle batches) when a replica lags more than D',
    })
    .option('max-latency-ratio', {
      type: 'string',
      describe: 'circuit breaker: cancel it when the top queries (pg_stat_statements) run X times slower',
    })
    .option('breaker-retries', { type: 'string', describe: 'retries after the breaker trips (default 3)' })
    .option('breaker-backoff', {
      type: 'string',
      describe: 'wait after a trip, doubled each time (default 5s)',
    })
    .option('latency-baseline', {
      type: 'string',
      describe: 'measure the latency baseline for D before the first migration (default 0: cumulative means)',
    });
}

/** braid.json when the project has one (its `online`); an invalid one is refused (exit 2). */
export function readConfigIfAny(root: string): BraidConfig | undefined {
  const file = path.join(root, CONFIG_FILE);
  if (!fs.existsSync(file)) return undefined;
  return parseConfig(fs.readFileSync(file, 'utf8'), CONFIG_FILE);
}

/** Resolves the settings: defaults, braid.json's `online`, the environment's, the flags. */
export function onlineSettings(args: OnlineArgs, layers: Array<OnlineLayer | undefined>): OnlineSettings {
  return resolveOnline(...layers, parseOnlineFlags(args));
}

let liveOpen = false;

/** Ends the live line (before any other line is written to stderr). */
export function closeLive(): void {
  if (!liveOpen) return;
  process.stderr.write('\n');
  liveOpen = false;
}

function showLive(ctx: Context, text: string): void {
  const width = process.stderr.columns || 120;
  const t = ctx.out.clean(text);
  process.stderr.write(`\r\u001b[K${t.length > width - 1 ? `${t.slice(0, width - 2)}…` : t}`);
  liveOpen = true;
}

function bar(fraction: number, width = 20): string {
  const n = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

/** The batch progress line: bar, keys covered, rows changed, rate and ETA. */
export function batchLine(label: string, p: BatchProgress): string {
  const frac = p.total ? Math.min(1, p.scanned / p.total) : undefined;
  const rate = p.elapsedMs > 0 ? (p.rows / p.elapsedMs) * 1000 : 0;
  const keyRate = p.elapsedMs > 0 ? (p.scanned / p.elapsedMs) * 1000 : 0;
  const eta =
    !p.final && p.total && keyRate > 0 ? formatMs(((p.total - p.scanned) / keyRate) * 1000) : undefined;
  return [
    label,
    `batch ${p.batches}${p.final ? ' (last)' : ''}`,
    frac !== undefined ? `${bar(frac)} ${Math.floor(frac * 100)}%` : undefined,
    `${formatCount(p.scanned)}${p.total ? `/${formatCount(p.total)}` : ''} keys`,
    `${formatCount(p.rows)} rows changed`,
    `${formatCount(rate)} rows/s`,
    eta ? `ETA ${eta}` : undefined,
  ]
    .filter((x): x is string => x !== undefined)
    .join(' · ');
}

/** The engine's online options with the printers of this command. */
export function onlineOptions(
  ctx: Context,
  settings: OnlineSettings,
  extra: { events?: OnlineEvents; onBatch?: (p: BatchProgress) => void } = {},
): OnlineOptions & { onBatch: (p: BatchProgress) => void } {
  const tty = ctx.out.stderrTTY;
  const noted = new Set<string>();
  let lastBatchNote = 0;
  return {
    ...settings,
    events: {
      onSample: (unit, s) => {
        extra.events?.onSample?.(unit, s);
        if (tty) showLive(ctx, progressLine(unit.label, s));
      },
      onTrip: (t) => {
        extra.events?.onTrip?.(t);
        closeLive();
        ctx.out.note(
          `braid: ${t.unit.label}: circuit breaker tripped (attempt ${t.attempt}): ${t.breach.message}; cancelled braid's statement${t.waitMs !== undefined ? `, retrying in ${formatMs(t.waitMs)}` : ''}`,
        );
      },
      onThrottle: (unit, b) => {
        extra.events?.onThrottle?.(unit, b);
        closeLive();
        ctx.out.note(`braid: ${unit.label}: waiting for the server to recover: ${b.message}`);
      },
      onNote: (m) => {
        extra.events?.onNote?.(m);
        if (noted.has(m)) return;
        noted.add(m);
        closeLive();
        ctx.out.note(`braid: ${m}`);
      },
    },
    onBatch: (p) => {
      extra.onBatch?.(p);
      const label = p.label;
      if (tty) {
        showLive(ctx, batchLine(label, p));
        if (p.final) closeLive();
      } else if (p.final || Date.now() - lastBatchNote > 5000) {
        lastBatchNote = Date.now();
        ctx.out.note(`braid: ${batchLine(label, p)}`);
      }
    },
  };
}
