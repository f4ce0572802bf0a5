-- braid's registry, version 2: the lease lock (--lock lease) and promotion provenance.

-- The pooler-safe lock: one row per lease, taken and renewed in single-statement transactions,
-- stolen only after expires_at (by the database's clock).
create table braid.lease (
  name text primary key,
  holder text not null,
  token text not null,
  acquired_at timestamptz not null default clock_timestamp(),
  heartbeat_at timestamptz not null default clock_timestamp(),
  expires_at timestamptz not null
);

-- Where an applied migration came from (braid promote): branch, manifest hash, environment.
alter table braid.history
  add column git_branch text,
  add column manifest_hash text,
  add column environment text;
alter table braid.audit
  add column git_branch text,
  add column manifest_hash text,
  add column environment text;
