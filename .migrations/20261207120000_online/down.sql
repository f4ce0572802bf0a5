drop table braid.watch;
alter table braid.progress
  drop column batches,
  drop column batch_rows,
  drop column batch_key;
