import { ruleSuite } from './helper';

ruleSuite('truncate', {
  ok: ['DELETE FROM t WHERE a = 1;', 'CREATE TABLE t (a int);\nTRUNCATE t;'],
  error: ['TRUNCATE t;', 'TRUNCATE a, b CASCADE;'],
});
