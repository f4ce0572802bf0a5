import { ruleSuite } from './helper';

ruleSuite('require-lock-timeout', {
  ok: [
    "SET lock_timeout = '5s';\nALTER TABLE t ADD COLUMN c int;",
    'CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN c int;',
    'CREATE INDEX i ON t (a);',
  ],
  error: ['ALTER TABLE t ADD COLUMN c int;', "DROP TABLE t;\nSET lock_timeout = '5s';"],
});
