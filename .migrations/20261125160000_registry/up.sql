-- braid's own registry (schema "braid" in every target database), version 1.
-- Applied by braid itself, under its advisory lock, before any user migration.

create schema if not exists braid;

-- Which registry migrations (this folder's siblings) this database has.
create table braid.registry_migrations (
  id text primary key,
  applied_at timestamptz not null default clock_timestamp(),
  braid_version text not null
);

-- The migrations currently applied (one row each; deleted when rolled back).
create table braid.applied (
  id text primary key,
  checksum text not null,
  applied_at timestamptz not null default clock_timestamp(),
  history_seq bigint not null
);

-- Every successful up and down, append-only.
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
  braid_version text not null
);

-- Every attempt, success or failure, append-only (the failing statement and error, redacted).
create table braid.audit (
  seq bigint generated always as identity primary key,
  at timestamptz not null default clock_timestamp(),
  id text,
  direction text not null,
  outcome text not null check (outcome in ('ok', 'failed', 'dry-run', 'allow-edited', 'index-rebuilt')),
  checksum text,
  duration_ms integer,
  statement text,
  error text,
  sqlstate text,
  db_role text not null default current_user,
  git_author_name text,
  git_author_email text,
  git_commit text,
  braid_version text not null
);

-- Progress of a no-transaction migration, statement by statement (cleared when it completes).
create table braid.progress (
  id text not null,
  checksum text not null,
  statement_index integer not null,
  statement_hash text not null,
  done_at timestamptz not null default clock_timestamp(),
  primary key (id, statement_index)
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
