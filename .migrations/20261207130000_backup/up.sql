-- braid's registry, version 5: pre-change backups (docs/backups.md).

-- One row per archive taken before a migration was applied, written in the migration's own
-- transaction: a backup whose migration did not commit leaves no row (its archive is an orphan,
-- which `braid backup prune` removes). `braid down` restores from the newest row of the
-- migration not yet restored. No key or secret here: key_id is a fingerprint of the key.
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
