import { ruleSuite } from './helper';

ruleSuite('prefer-timestamptz', {
  ok: ['CREATE TABLE t (c timestamptz);', 'CREATE TABLE t (c timestamp with time zone);'],
  error: [
    'CREATE TABLE t (c timestamp);',
    'ALTER TABLE t ADD COLUMN c timestamp without time zone;',
    'ALTER TABLE t ALTER COLUMN c TYPE timestamp;',
  ],
});
