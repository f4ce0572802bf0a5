-- braid's registry schema, declared (the desired state). The versioned history that builds it
-- lives in .migrations/ (braid's own format); `braid` applies it automatically to every target.

create schema braid;

create table braid.registry_migrations (
  id text primary key,
  applied_at timestamptz not null default clock_timestamp(),
  braid_version text not null
);

create table braid.applied (
  id text primary key,
  checksum text not null,
  applied_at timestamptz not null default clock_timestamp(),
  history_seq bigint not null
);

create table braid.history (
  seq bigint generated always as identity primary key,
  id text not null,
  checksum text not null,
  direction text not null check (direction in ('up', 'down')),
  applied_at timestamptz not null default clock_timestamp(),
  duration_ms integer not null,
  db_role text not null default current_user,
  git_author_name text,
  git_author_email text,
  git_commit text,
  braid_version text not null,
  git_branch text,
  manifest_hash text,
  environment text,
  rollout_id text,
  target text
);

create table braid.audit (
  seq bigint generated always as identity primary key,
  at timestamptz not null default clock_timestamp(),
  id text,
  direction text not null,
  outcome text not null check (
    outcome in ('ok', 'failed', 'dry-run', 'allow-edited', 'index-rebuilt', 'health-ok', 'health-failed', 'rolled-back')
  ),
  checksum text,
  duration_ms integer,
  statement text,
  error text,
  sqlstate text,
  db_role text not null default current_user,
  git_author_name text,
  git_author_email text,
  git_commit text,
  braid_version text not null,
  git_branch text,
  manifest_hash text,
  environment text,
  rollout_id text,
  target text,
  reason text
);

-- The lease lock (--lock lease): pooler-safe, stolen only after expires_at.
create table braid.lease (
  name text primary key,
  holder text not null,
  token text not null,
  acquired_at timestamptz not null default clock_timestamp(),
  heartbeat_at timestamptz not null default clock_timestamp(),
  expires_at timestamptz not null
);

create table braid.progress (
  id text not null,
  checksum text not null,
  statement_index integer not null,
  statement_hash text not null,
  done_at timestamptz not null default clock_timestamp(),
  batch_key text,
  batch_rows bigint,
  batches integer,
  primary key (id, statement_index)
);

-- What the watcher saw while each statement ran (docs/online.md), one row per sampled attempt.
create table braid.watch (
  seq bigint generated always as identity primary key,
  at timestamptz not null default clock_timestamp(),
  id text not null,
  direction text not null,
  statement_index integer,
  attempt integer not null,
  outcome text not null check (outcome in ('ok', 'tripped', 'failed', 'throttled')),
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

create function braid.append_only() returns trigger
language plpgsql as $$
begin
  raise exception 'braid.% is append-only', tg_table_name using errcode = '42501';
end;
$$;

create trigger history_append_only before update or delete on braid.history
  for each row execute function braid.append_only();
create trigger audit_append_only before update or delete on braid.audit
  for each row execute function braid.append_only();
create trigger watch_append_only before update or delete on braid.watch
  for each row execute function braid.append_only();

-- Pre-change backups (docs/backups.md): which archive holds the data of an applied migration.
create table braid.backups (
  archive text primary key,
  id text not null,
  store text not null check (store in ('local', 'server')),
  created_at timestamptz not null,
  key_id text not null,
  sha256 text not null,
  rows bigint not null,
  bytes bigint not null,
  restored_at timestamptz
);
create index backups_id on braid.backups (id, created_at);
