import { ruleSuite } from './helper';

ruleSuite('add-column-not-null-no-default', {
  ok: [
    'ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;',
    'ALTER TABLE t ADD COLUMN c int;',
    'CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN c int NOT NULL;',
  ],
  error: ['ALTER TABLE t ADD COLUMN c int NOT NULL;'],
});
