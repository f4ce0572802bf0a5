import { ruleSuite } from './helper';

ruleSuite('drop-table', {
  ok: ['CREATE TABLE t (a int);\nDROP TABLE t;', 'DROP VIEW v;'],
  error: ['DROP TABLE t;', 'DROP TABLE IF EXISTS a, b CASCADE;'],
});
