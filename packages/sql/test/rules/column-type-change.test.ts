import { ruleSuite } from './helper';

ruleSuite('column-type-change', {
  ok: [
    'ALTER TABLE t ALTER COLUMN c TYPE text;',
    'CREATE TABLE t (c varchar(10));\nALTER TABLE t ALTER COLUMN c TYPE bigint;',
  ],
  error: ['ALTER TABLE t ALTER COLUMN c TYPE bigint;', 'ALTER TABLE t ALTER COLUMN c TYPE int USING c::int;'],
});
