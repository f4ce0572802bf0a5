-- braid's registry, version 3: fleet rollout provenance and health checks.

-- Which rollout (id from the rollout state file) and target name applied a migration, and why a
-- row was written (a health check's failure, a rollback-on-failure).
alter table braid.history
  add column rollout_id text,
  add column target text;
alter table braid.audit
  add column rollout_id text,
  add column target text,
  add column reason text;

-- Health checks and the rollback they trigger are audited too.
alter table braid.audit drop constraint audit_outcome_check;
-- braid:ignore constraint-missing-not-valid the audit is small and only braid writes it
alter table braid.audit add constraint audit_outcome_check check (
  outcome in ('ok', 'failed', 'dry-run', 'allow-edited', 'index-rebuilt', 'health-ok', 'health-failed', 'rolled-back')
);
