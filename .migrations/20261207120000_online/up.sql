-- braid's registry, version 4: online migrations (docs/online.md).

-- A batched statement (-- braid:batch) in progress: the key of the last committed batch, the rows
-- and batches done so far. Written in the same transaction as each batch, so a batch is never
-- done twice after a crash.
alter table braid.progress
  add column batch_key text,
  add column batch_rows bigint,
  add column batches integer;

-- What the watcher saw while each statement ran (a transactional migration is one unit), one row
-- per attempt it sampled: blocked sessions, lock waits, replica lag, latency, and whether the
-- circuit breaker tripped.
create table braid.watch (
  seq bigint generated always as identity primary key,
  at timestamptz not null default clock_timestamp(),
  id text not null,
  direction text not null,
  statement_index integer,
  attempt integer not null,
  outcome text not null check (outcome in ('ok', 'tripped', 'failed')),
  elapsed_ms integer not null,
  rows bigint,
  batches integer,
  max_blocked integer not null,
  longest_block_ms integer not null,
  own_lock_wait_ms integer not null,
  max_replica_lag_ms integer,
  max_latency_ratio real,
  breach text,
  db_role text not null default current_user,
  git_commit text,
  braid_version text not null,
  environment text,
  rollout_id text,
  target text
);

create trigger watch_append_only before update or delete on braid.watch
  for each row execute function braid.append_only();
