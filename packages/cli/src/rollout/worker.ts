/**
 * `braid rollout worker`: one of any number of processes, on any machines, that share a rollout
 * through its control database. Each slot claims a target (FOR UPDATE SKIP LOCKED), keeps its
 * lease alive with a heartbeat, applies the target's pending migrations through the same engine
 * as `braid up` (under the target's own braid lock: a takeover after a kill -9 resumes from the
 * target's registry and never applies a migration twice), waits for the target's replicas, and
 * releases the lease. Pause (from any machine) stops every slot between migrations within one
 * heartbeat; the worker then idles until resume.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  EXIT_FINDINGS,
  EXIT_OK,
  heartbeatEvery,
  heartbeatVerdict,
  workerDecision,
  type HeartbeatVerdict,
  type OnlineSettings,
} from '@braid/core';
import {
  applyUp,
  MigrationFailedError,
  openExecutor,
  type Executor,
  type Provenance,
  type SourceMigration,
} from '@braid/pg';
import type { Context } from '../runtime';
import { Control, type Claim, type ControlRollout } from './control';
import { Progress } from './progress';
import { resolveTargetUrls } from '../targets';
import { targetOnline } from './target-options';
import type { ApplyBackups } from '../backup';
import { afterEachMigration, ReplicaWaitError, waitForReplicas } from './replicas';

export interface WorkerDeps {
  ctx: Context;
  root: string;
  controlUrl: string;
  rolloutId?: string;
  migrations: SourceMigration[];
  dependsOn: Map<string, string[]>;
  manifestHash: string;
  provenance: Provenance;
  concurrency: number;
  braidVersion: string;
  /** The watcher and circuit breaker of each target, as in a single-process rollout. */
  online?: OnlineSettings;
  /** Pre-change backups of each target (braid.json's backup policy), by the target's label. */
  backup?: (target: string) => ApplyBackups;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim().slice(0, 400);
const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export async function runWorker(d: WorkerDeps, first: Control, rollout: ControlRollout): Promise<number> {
  const worker = `${os.hostname()}:${process.pid}:${randomBytes(2).toString('hex')}`;
  const progress = new Progress(d.ctx.out, true);
  progress.event({ event: 'worker-start', worker, rolloutId: rollout.id, slots: d.concurrency });
  const poll = heartbeatEvery(rollout.options.leaseTtlMs);
  let outcome: 'done' | 'blocked' = 'done';

  const slot = async (i: number): Promise<void> => {
    const control =
      i === 0
        ? first
        : await Control.open(d.controlUrl, `braid rollout worker ${worker}`, false, d.braidVersion);
    try {
      for (;;) {
        const r = await control.rollout(rollout.id);
        if (!r) return;
        const decision = workerDecision(await control.waveCounts(r), control.flags(r));
        if (decision.kind === 'done') return;
        if (decision.kind === 'blocked') {
          outcome = 'blocked';
          return;
        }
        if (decision.kind === 'paused' || decision.kind === 'wait') {
          await sleep(poll);
          continue;
        }
        const claim = await control.claim(r, decision.wave, worker);
        if (!claim) {
          await sleep(Math.min(poll, 200));
          continue;
        }
        await runClaim(d, control, r, claim, progress);
      }
    } finally {
      if (i !== 0) await control.close();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, d.concurrency) }, (_, i) => slot(i)));
  progress.event({ event: 'worker-done', worker, rolloutId: rollout.id, outcome });
  return outcome === 'done' ? EXIT_OK : EXIT_FINDINGS;
}

async function appliedCount(ex: Executor): Promise<number> {
  const r = await ex.query<{ n: string }>(
    `select case when to_regclass('braid.applied') is null then 0 else (select count(*) from braid.applied) end as n`,
  );
  return Number(r.rows[0]?.n ?? 0);
}

async function runClaim(
  d: WorkerDeps,
  control: Control,
  r: ControlRollout,
  claim: Claim,
  progress: Progress,
): Promise<void> {
  const o = r.options;
  progress.event({
    event: 'target-start',
    target: claim.name,
    attempt: claim.attempt,
    takeover: claim.takeover,
  });
  let verdict = 'continue' as HeartbeatVerdict;
  let applied = 0;
  let beat: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    beat = beat.then(async () => {
      try {
        const v = heartbeatVerdict(await control.heartbeat(r, claim, applied));
        if (verdict === 'continue') verdict = v;
      } catch (e) {
        progress.event({
          event: 'heartbeat-failed',
          target: claim.name,
          error: d.ctx.out.clean(oneLine(errText(e))),
        });
        // the control database is away: keep going; the lease may expire and be taken over,
        // and the target's own lock keeps the two runs apart
      }
    });
  }, heartbeatEvery(o.leaseTtlMs));
  const stopTimer = async (): Promise<void> => {
    clearInterval(timer);
    await beat;
  };
  let ex: Executor | undefined;
  try {
    let url: string;
    try {
      url = resolveTargetUrls(d.ctx, d.root, [claim], r.targetsFile).get(claim.name)!;
      ex = await openExecutor(url, `braid rollout worker ${claim.name} (pid ${process.pid})`, {
        lockWaitMs: o.lockWaitMs,
      });
    } catch (e) {
      await stopTimer();
      const failure = { kind: 'connect', error: d.ctx.out.clean(oneLine(errText(e))) };
      await control.release(r, claim, 'failed', { applied, failure });
      progress.event({ event: 'target-failed', target: claim.name, ...failure });
      return;
    }
    const provenance: Provenance = { ...d.provenance, rolloutId: r.id, target: claim.name };
    const backups = d.backup?.(ex.label);
    try {
      const res = await applyUp(ex, d.migrations, {
        provenance,
        dependsOn: d.dependsOn,
        lock: o.lock,
        lockWaitMs: o.lockWaitMs,
        lockTimeoutMs: o.lockTimeoutMs,
        lockRetries: o.lockRetries,
        shouldStop: () => verdict !== 'continue',
        afterEach: afterEachMigration(o.replicaWait, o.replicaTimeoutMs),
        ...(d.online
          ? { online: targetOnline(d.online, claim.name, progress, (t) => d.ctx.out.clean(t)) }
          : {}),
        ...(backups ? { backup: backups.hooks } : {}),
        onEvent: (e) => {
          if (e.type === 'done' && e.direction === 'up') {
            applied++;
            progress.event({
              event: 'migration-applied',
              target: claim.name,
              id: e.id,
              ms: Math.round(e.ms),
            });
          }
        },
      });
      applied = await appliedCount(ex);
      for (const m of (await backups?.prune(ex)) ?? [])
        progress.event({ event: 'warning', target: claim.name, message: d.ctx.out.clean(m) });
      if (res.stopped) {
        await stopTimer();
        const lost = verdict === 'lost';
        const note =
          verdict === 'stop-paused'
            ? 'paused between migrations'
            : verdict === 'stop-blocked'
              ? 'stopped: another target failed'
              : 'lease lost';
        if (!lost) await control.release(r, claim, 'paused', { applied, note });
        progress.event({ event: lost ? 'lease-lost' : 'target-paused', target: claim.name, note, applied });
        return;
      }
      const rep = await waitForReplicas(ex, o.replicaTimeoutMs);
      await stopTimer();
      if (!rep.ok) {
        const failure = { kind: 'replica', error: rep.message };
        await control.release(r, claim, 'failed', { applied, failure, replicas: rep.replicas });
        progress.event({ event: 'target-failed', target: claim.name, ...failure });
        return;
      }
      const kept = await control.release(r, claim, 'done', { applied, replicas: rep.replicas });
      progress.event({
        event: kept ? 'target-done' : 'lease-lost',
        target: claim.name,
        applied,
        replicas: rep.replicas,
      });
    } catch (e) {
      await stopTimer();
      if (e instanceof ReplicaWaitError) {
        applied = await appliedCount(ex).catch(() => applied);
        const failure = { kind: 'replica', error: e.message };
        await control.release(r, claim, 'failed', { applied, failure, replicas: e.replicas });
        progress.event({ event: 'target-failed', target: claim.name, ...failure });
        return;
      }
      const data = e instanceof MigrationFailedError ? e.data : {};
      const failure = {
        kind: e instanceof MigrationFailedError ? 'migration' : 'error',
        ...(typeof data['id'] === 'string' ? { migration: data['id'] } : {}),
        error: d.ctx.out.clean(oneLine(errText(e))),
      };
      applied = await appliedCount(ex).catch(() => applied);
      await control.release(r, claim, 'failed', { applied, failure });
      progress.event({ event: 'target-failed', target: claim.name, ...failure });
    }
  } finally {
    clearInterval(timer);
    await ex?.close().catch(() => undefined);
  }
}
