-- The audit keeps every row: outcomes version 2 does not know are mapped to the nearest it does
-- (the append-only trigger is paused for that one statement).
alter table braid.audit drop constraint audit_outcome_check;
alter table braid.audit disable trigger audit_append_only;
update braid.audit set outcome = case outcome when 'health-failed' then 'failed' else 'ok' end
  where outcome in ('health-ok', 'health-failed', 'rolled-back');
alter table braid.audit enable trigger audit_append_only;
alter table braid.audit add constraint audit_outcome_check check (
  outcome in ('ok', 'failed', 'dry-run', 'allow-edited', 'index-rebuilt')
);
alter table braid.audit
  drop column reason,
  drop column target,
  drop column rollout_id;
alter table braid.history
  drop column target,
  drop column rollout_id;
