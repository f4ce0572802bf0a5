import { ruleSuite } from './helper';

ruleSuite('ignore-without-reason', {
  ok: ['-- braid:ignore drop-table replaced by v2\nDROP TABLE t;'],
  error: [
    '-- braid:ignore drop-table\nDROP TABLE t;',
    'CREATE TABLE x (a int);\n-- braid:ignore truncate\nTRUNCATE t;',
  ],
});
