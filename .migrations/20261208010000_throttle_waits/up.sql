-- braid's registry, version 6: throttle waits in braid.watch (docs/online.md).

-- Before a batch (or a retry) braid waits while the watcher sees replica lag or latency over
-- their thresholds; each such wait is one row: outcome 'throttled', its duration in elapsed_ms
-- and its reason (the breach) in breach.
alter table braid.watch drop constraint watch_outcome_check;
-- braid:ignore constraint-missing-not-valid braid.watch is small and only braid writes it
alter table braid.watch add constraint watch_outcome_check check (
  outcome in ('ok', 'tripped', 'failed', 'throttled')
);
