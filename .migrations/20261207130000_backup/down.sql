drop table braid.backups;
