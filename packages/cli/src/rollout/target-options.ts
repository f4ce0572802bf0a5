/**
 * What every target of a rollout is applied with, whoever applies it (the single-process runner
 * in run.ts or a `braid rollout worker` through a control database): the watcher and circuit
 * breaker (braid.json's top-level `online`, then the flags) and the pre-change backups
 * (braid.json's top-level `backup` policy), reported as progress events of the target.
 */
import { formatMs, type OnlineSettings } from '@braid/core';
import type { ApplyOptions } from '@braid/pg';
import { applyBackups, backupSettings, type ApplyBackups } from '../backup';
import { onlineSettings, readConfigIfAny, type OnlineArgs } from '../online';
import type { Progress } from './progress';

/** The watcher and breaker of every target: braid.json's top-level `online`, then the flags. */
export function rolloutOnline(args: OnlineArgs, root: string): OnlineSettings {
  return onlineSettings(args, [readConfigIfAny(root)?.online]);
}

/** braid.json's backup policy for every target of a rollout, by the target's label (none when off). */
export function rolloutBackup(
  root: string,
  commit: string | undefined,
): ((target: string) => ApplyBackups) | undefined {
  const s = backupSettings(root, readConfigIfAny(root));
  if (s.policy === 'off') return undefined;
  return (label) => applyBackups(s, label, commit);
}

/** The engine's online options for one target: trips, throttling and batches as progress events. */
export function targetOnline(
  o: OnlineSettings,
  name: string,
  progress: Progress,
  clean: (s: string) => string,
): NonNullable<ApplyOptions['online']> {
  return {
    ...o,
    events: {
      onTrip: (t) =>
        progress.event({
          event: 'breaker-trip',
          target: name,
          id: t.unit.id,
          ...(t.unit.statementIndex !== undefined ? { statement: t.unit.statementIndex + 1 } : {}),
          attempt: t.attempt,
          breach: t.breach.kind,
          message: clean(t.breach.message),
          ...(t.waitMs !== undefined ? { retryInMs: t.waitMs } : {}),
        }),
      onThrottle: (unit, b) =>
        progress.event({ event: 'throttle', target: name, id: unit.id, message: clean(b.message) }),
      onNote: (m) => progress.event({ event: 'warning', target: name, message: clean(m) }),
    },
    onBatch: (p) => {
      if (p.final)
        progress.event({
          event: 'batched',
          target: name,
          id: p.id,
          statement: p.statementIndex + 1,
          batches: p.batches,
          rows: p.rows,
          took: formatMs(p.elapsedMs),
        });
    },
  };
}
