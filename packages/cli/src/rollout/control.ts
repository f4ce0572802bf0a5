/**
 * The control database of a fleet rollout (`--control URL`): schema braid_control holds each
 * rollout's plan, waves, targets, per-target state, leases and attempts. The decisions are pure
 * (packages/core/src/fleet.ts); this file is the SQL that mirrors them so that the database
 * arbitrates the races between workers (claim with FOR UPDATE SKIP LOCKED, heartbeat and
 * release only while the lease token is ours).
 */
import {
  CLAIMABLE_SQL,
  CONTROL_SCHEMA_VERSION,
  checkControlVersion,
  type FleetRolloutFlags,
  type FleetWaveCounts,
} from '@braid/core';
import { randomUUID } from 'node:crypto';
import { openExecutor, type Executor } from '@braid/pg';

const SCHEMA_V1 = `
create schema if not exists braid_control;
create table braid_control.meta (
  version int not null,
  braid_version text not null,
  created_at timestamptz not null default now()
);
create table braid_control.rollout (
  id text primary key,
  created_at timestamptz not null default now(),
  commit text,
  manifest_hash text not null,
  migrations int not null,
  options jsonb not null,
  waves int not null,
  paused boolean not null default false,
  targets_file text not null
);
create table braid_control.target (
  rollout_id text not null references braid_control.rollout (id) on delete cascade,
  name text not null,
  ord int not null,
  wave int not null,
  url_env text not null,
  server text not null,
  status text not null default 'pending' check (status in ('pending', 'running', 'done', 'failed', 'paused')),
  attempts int not null default 0,
  lease_owner text,
  lease_token uuid,
  lease_expires_at timestamptz,
  heartbeat_at timestamptz,
  applied int not null default 0,
  failure jsonb,
  note text,
  replicas jsonb,
  started_at timestamptz,
  finished_at timestamptz,
  primary key (rollout_id, name)
);
create index target_claim on braid_control.target (rollout_id, wave, ord);
create table braid_control.attempt (
  rollout_id text not null,
  target text not null,
  attempt int not null,
  worker text not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  outcome text,
  applied int,
  error text,
  primary key (rollout_id, target, attempt)
);
`;

export interface ControlTarget {
  name: string;
  wave: number;
  urlEnv: string;
  server: string;
}

export interface ControlRollout {
  id: string;
  commit: string | null;
  manifestHash: string;
  migrations: number;
  options: {
    waves: string;
    continueOnError: boolean;
    serverConcurrency?: number;
    leaseTtlMs: number;
    lock: 'advisory' | 'lease';
    lockWaitMs: number;
    lockTimeoutMs: number;
    lockRetries: number;
    replicaTimeoutMs: number;
    /** when to wait for replicas: after the target (default) or after each migration */
    replicaWait?: 'target' | 'migration';
  };
  waves: number;
  paused: boolean;
  targetsFile: string;
}

export interface Claim {
  name: string;
  urlEnv: string;
  token: string;
  attempt: number;
  takeover: boolean;
}

export class Control {
  private constructor(
    readonly ex: Executor,
    readonly label: string,
  ) {}

  /** Connects (exit 3 when unreachable) and checks the schema version (a newer one: exit 3). */
  static async open(url: string, who: string, create: boolean, braidVersion: string): Promise<Control> {
    const ex = await openExecutor(url, who);
    const c = new Control(ex, ex.label);
    try {
      await c.ensure(create, braidVersion);
    } catch (e) {
      await ex.close();
      throw e;
    }
    return c;
  }

  private async version(): Promise<number | undefined> {
    const t = await this.ex.query<{ t: boolean }>(
      `select to_regclass('braid_control.meta') is not null as t`,
    );
    if (!t.rows[0]?.t) return undefined;
    const r = await this.ex.query<{ v: number | null }>('select max(version) as v from braid_control.meta');
    const v = r.rows[0]?.v;
    return v === null || v === undefined ? undefined : Number(v);
  }

  private async ensure(create: boolean, braidVersion: string): Promise<void> {
    const where = `the control database ${this.label}`;
    const v = await this.version();
    const what = checkControlVersion(v, CONTROL_SCHEMA_VERSION, where);
    if (what !== 'create') return;
    if (!create) return; // read-only commands on an empty control database: nothing there
    await this.ex.exec('begin');
    try {
      // one creator at a time; the second finds it made
      await this.ex.query('select pg_advisory_xact_lock(1651665257, 1129206860)');
      if ((await this.version()) === undefined) {
        await this.ex.exec(SCHEMA_V1);
        await this.ex.query('insert into braid_control.meta (version, braid_version) values ($1, $2)', [
          CONTROL_SCHEMA_VERSION,
          braidVersion,
        ]);
      }
      await this.ex.exec('commit');
    } catch (e) {
      await this.ex.exec('rollback').catch(() => undefined);
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.ex.close();
  }

  async createRollout(r: ControlRollout, targets: readonly ControlTarget[]): Promise<void> {
    await this.ex.exec('begin');
    try {
      await this.ex.query(
        `insert into braid_control.rollout (id, commit, manifest_hash, migrations, options, waves, targets_file)
         values ($1, $2, $3, $4, $5, $6, $7)`,
        [r.id, r.commit, r.manifestHash, r.migrations, JSON.stringify(r.options), r.waves, r.targetsFile],
      );
      await this.ex.query(
        `insert into braid_control.target (rollout_id, name, ord, wave, url_env, server)
         select $1, n, o::int, w, u, s
           from unnest($2::text[], $3::int[], $4::text[], $5::text[]) with ordinality as x(n, w, u, s, o)`,
        [
          r.id,
          targets.map((t) => t.name),
          targets.map((t) => t.wave),
          targets.map((t) => t.urlEnv),
          targets.map((t) => t.server),
        ],
      );
      await this.ex.exec('commit');
    } catch (e) {
      await this.ex.exec('rollback').catch(() => undefined);
      throw e;
    }
  }

  /** The rollout named, or the latest one. */
  async rollout(id?: string): Promise<ControlRollout | undefined> {
    if ((await this.version()) === undefined) return undefined;
    const r = await this.ex.query<{
      id: string;
      commit: string | null;
      manifest_hash: string;
      migrations: number;
      options: ControlRollout['options'];
      waves: number;
      paused: boolean;
      targets_file: string;
    }>(
      id === undefined
        ? 'select * from braid_control.rollout order by created_at desc, id desc limit 1'
        : 'select * from braid_control.rollout where id = $1',
      id === undefined ? [] : [id],
    );
    const x = r.rows[0];
    if (!x) return undefined;
    return {
      id: x.id,
      commit: x.commit,
      manifestHash: x.manifest_hash,
      migrations: x.migrations,
      options: x.options,
      waves: x.waves,
      paused: x.paused,
      targetsFile: x.targets_file,
    };
  }

  /** Counts per wave (live and expired leases told apart by the control database's clock). */
  async waveCounts(r: ControlRollout): Promise<FleetWaveCounts[]> {
    const q = await this.ex.query<{
      wave: number;
      total: string;
      pending: string;
      running: string;
      expired: string;
      paused: string;
      done: string;
      failed: string;
    }>(
      `select wave, count(*) as total,
              count(*) filter (where status = 'pending') as pending,
              count(*) filter (where status = 'running' and lease_expires_at > clock_timestamp()) as running,
              count(*) filter (where status = 'running' and (lease_expires_at is null or lease_expires_at <= clock_timestamp())) as expired,
              count(*) filter (where status = 'paused') as paused,
              count(*) filter (where status = 'done') as done,
              count(*) filter (where status = 'failed') as failed
         from braid_control.target where rollout_id = $1 group by wave order by wave`,
      [r.id],
    );
    return q.rows.map((x) => ({
      wave: Number(x.wave),
      total: Number(x.total),
      pending: Number(x.pending),
      running: Number(x.running),
      expired: Number(x.expired),
      paused: Number(x.paused),
      done: Number(x.done),
      failed: Number(x.failed),
    }));
  }

  flags(r: ControlRollout): FleetRolloutFlags {
    return { paused: r.paused, continueOnError: r.options.continueOnError };
  }

  /**
   * Claims one target of the wave: the first claimable one in rollout order (FOR UPDATE SKIP
   * LOCKED: two workers never pick the same row), whose server has room under the per-server
   * limit (then claims of the rollout are serialised by a transaction lock so the count is exact).
   */
  async claim(r: ControlRollout, wave: number, worker: string): Promise<Claim | undefined> {
    const limit = r.options.serverConcurrency;
    await this.ex.exec('begin');
    try {
      if (limit !== undefined) await this.ex.query('select pg_advisory_xact_lock(hashtext($1))', [r.id]);
      const q = await this.ex.query<{
        name: string;
        url_env: string;
        token: string;
        attempts: number;
        takeover: boolean;
      }>(
        `with live as (
           select server, count(*) as n from braid_control.target
            where rollout_id = $1 and status = 'running' and lease_expires_at > clock_timestamp()
            group by server),
         pick as (
           select t.rollout_id, t.name, t.status = 'running' as takeover from braid_control.target t
             left join live l on l.server = t.server
            where t.rollout_id = $1 and t.wave = $2 and ${CLAIMABLE_SQL}
              and ($5::int is null or coalesce(l.n, 0) < $5::int)
            order by t.ord
            for update of t skip locked
            limit 1)
         update braid_control.target t
            set status = 'running', attempts = t.attempts + 1, lease_owner = $3, lease_token = $4::uuid,
                lease_expires_at = clock_timestamp() + make_interval(secs => $6::float8 / 1000),
                heartbeat_at = clock_timestamp(), note = null,
                started_at = coalesce(t.started_at, clock_timestamp())
           from pick where t.rollout_id = pick.rollout_id and t.name = pick.name
         returning t.name, t.url_env, t.lease_token::text as token, t.attempts, pick.takeover`,
        [r.id, wave, worker, randomUUID(), limit ?? null, r.options.leaseTtlMs],
      );
      const row = q.rows[0];
      if (row)
        await this.ex.query(
          'insert into braid_control.attempt (rollout_id, target, attempt, worker) values ($1, $2, $3, $4)',
          [r.id, row.name, row.attempts, worker],
        );
      await this.ex.exec('commit');
      return row
        ? {
            name: row.name,
            urlEnv: row.url_env,
            token: row.token,
            attempt: Number(row.attempts),
            takeover: row.takeover,
          }
        : undefined;
    } catch (e) {
      await this.ex.exec('rollback').catch(() => undefined);
      throw e;
    }
  }

  /**
   * Renews the lease while the token is ours; answers whether the rollout is paused or blocked
   * by a failure (undefined: the lease is lost).
   */
  async heartbeat(
    r: ControlRollout,
    c: Claim,
    applied?: number,
  ): Promise<{ paused: boolean; blocked: boolean } | undefined> {
    const q = await this.ex.query<{ paused: boolean; blocked: boolean }>(
      `update braid_control.target t
          set lease_expires_at = clock_timestamp() + make_interval(secs => $3::float8 / 1000),
              heartbeat_at = clock_timestamp(), applied = coalesce($4::int, t.applied)
        where t.rollout_id = $1 and t.name = $2 and t.lease_token = $5::uuid and t.status = 'running'
        returning (select paused from braid_control.rollout where id = $1) as paused,
                  (not $6::boolean and exists (select 1 from braid_control.target f
                     where f.rollout_id = $1 and f.status = 'failed')) as blocked`,
      [r.id, c.name, r.options.leaseTtlMs, applied ?? null, c.token, r.options.continueOnError],
    );
    return q.rows[0];
  }

  /** Settles the claim (only while the token is ours). Returns false when the lease was lost. */
  async release(
    r: ControlRollout,
    c: Claim,
    status: 'done' | 'failed' | 'paused',
    info: { applied: number; failure?: unknown; note?: string; replicas?: unknown },
  ): Promise<boolean> {
    await this.ex.exec('begin');
    try {
      const q = await this.ex.query(
        `update braid_control.target
            set status = $3, lease_owner = null, lease_token = null, lease_expires_at = null,
                applied = $5, failure = $6::jsonb, note = $7, replicas = coalesce($8::jsonb, replicas),
                finished_at = case when $3 = 'paused' then null else clock_timestamp() end
          where rollout_id = $1 and name = $2 and lease_token = $4::uuid`,
        [
          r.id,
          c.name,
          status,
          c.token,
          info.applied,
          info.failure === undefined ? null : JSON.stringify(info.failure),
          info.note ?? null,
          info.replicas === undefined ? null : JSON.stringify(info.replicas),
        ],
      );
      await this.ex.query(
        `update braid_control.attempt set finished_at = clock_timestamp(), outcome = $4, applied = $5, error = $6
          where rollout_id = $1 and target = $2 and attempt = $3`,
        [
          r.id,
          c.name,
          c.attempt,
          q.rowCount > 0 ? status : 'lease-lost',
          info.applied,
          (info.failure as { error?: string } | undefined)?.error ?? null,
        ],
      );
      await this.ex.exec('commit');
      return q.rowCount > 0;
    } catch (e) {
      await this.ex.exec('rollback').catch(() => undefined);
      throw e;
    }
  }

  async setPaused(id: string, paused: boolean): Promise<void> {
    await this.ex.query('update braid_control.rollout set paused = $2 where id = $1', [id, paused]);
  }

  /** retry: a failed (or paused) target goes back to the queue. */
  async requeue(id: string, name: string): Promise<string | undefined> {
    const q = await this.ex.query<{ status: string }>(
      `with old as (select status from braid_control.target where rollout_id = $1 and name = $2 for update)
       update braid_control.target t set status = case when old.status in ('failed', 'paused') then 'pending' else t.status end,
              failure = case when old.status in ('failed', 'paused') then null else t.failure end, finished_at = null
         from old where t.rollout_id = $1 and t.name = $2 returning old.status`,
      [id, name],
    );
    return q.rows[0]?.status;
  }

  async targets(id: string): Promise<Record<string, unknown>[]> {
    const q = await this.ex.query(
      `select name, wave, status, attempts, applied, lease_owner as worker,
              case when status = 'running' then lease_expires_at > clock_timestamp() end as "leaseAlive",
              failure, note, replicas, started_at::text as "startedAt", finished_at::text as "finishedAt"
         from braid_control.target where rollout_id = $1 order by ord`,
      [id],
    );
    return q.rows;
  }
}
