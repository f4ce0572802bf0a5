/**
 * Waiting for a target's replicas (issue 16, docs/rollout.md): after braid's last commit on a
 * target (or after each migration with `--replica-wait migration`), poll the primary's
 * pg_stat_replication until every replica has replayed that commit's LSN, or time out. Used by
 * the single-process `braid rollout` and by `braid rollout worker`; the decision is pure
 * (`replicaWaitDecision` in core), the polling is here.
 */
import { replicaWaitDecision, UsageError, type ReplicaCatchUp, type ReplicaPosition } from '@braid/core';
import type { Executor } from '@braid/pg';

export type ReplicaWaitMode = 'target' | 'migration';

export interface ReplicaWaitResult {
  ok: boolean;
  message?: string;
  replicas: ReplicaCatchUp[];
}

/** A failed wait after a migration (`--replica-wait migration`): stops the target there. */
export class ReplicaWaitError extends Error {
  constructor(
    message: string,
    readonly replicas: ReplicaCatchUp[],
  ) {
    super(message);
  }
}

export function parseReplicaWait(v: string | undefined): ReplicaWaitMode {
  if (v === undefined || v === 'target') return 'target';
  if (v === 'migration') return 'migration';
  throw new UsageError('bad-replica-wait', `--replica-wait: expected target or migration, got "${v}"`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until every replica of the target has replayed braid's last commit (or times out). */
export async function waitForReplicas(ex: Executor, timeoutMs: number): Promise<ReplicaWaitResult> {
  if (ex.engine !== 'postgres') return { ok: true, replicas: [] };
  const lsn = await ex.query<{ lsn: string }>(
    `select case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as lsn`,
  );
  const commit = lsn.rows[0]?.lsn;
  if (!commit) return { ok: true, replicas: [] };
  const started = Date.now();
  for (;;) {
    const r = await ex.query<{ name: string; replay: string | null }>(
      `select coalesce(nullif(application_name, ''), client_addr::text, pid::text) as name, replay_lsn::text as replay
         from pg_stat_replication`,
    );
    const positions: ReplicaPosition[] = r.rows.map((x) => ({ name: x.name, replayLsn: x.replay }));
    const dec = replicaWaitDecision(positions, commit, Date.now() - started, timeoutMs);
    if (dec.kind === 'ok') return { ok: true, replicas: dec.replicas };
    if (dec.kind === 'timeout') return { ok: false, message: dec.message, replicas: dec.replicas };
    await sleep(dec.retryInMs);
  }
}

/** The `afterEach` hook of applyUp for `--replica-wait migration` (undefined otherwise). */
export function afterEachMigration(
  mode: ReplicaWaitMode | undefined,
  timeoutMs: number,
): ((ex: Executor, id: string) => Promise<void>) | undefined {
  if (mode !== 'migration') return undefined;
  return async (ex, id) => {
    const rep = await waitForReplicas(ex, timeoutMs);
    if (!rep.ok) throw new ReplicaWaitError(`after ${id}: ${rep.message ?? 'replicas behind'}`, rep.replicas);
  };
}
