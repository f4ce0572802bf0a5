-- braid.watch keeps every row: version 5 does not know throttle waits, so they are removed
-- (the append-only trigger is paused for that one statement).
alter table braid.watch drop constraint watch_outcome_check;
alter table braid.watch disable trigger watch_append_only;
delete from braid.watch where outcome = 'throttled';
alter table braid.watch enable trigger watch_append_only;
alter table braid.watch add constraint watch_outcome_check check (outcome in ('ok', 'tripped', 'failed'));
