import { ruleSuite } from './helper';

ruleSuite('require-concurrent-index-deletion', {
  ok: [
    '-- braid:no-transaction\nDROP INDEX CONCURRENTLY i;',
    'CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\nDROP INDEX i;',
  ],
  error: ['DROP INDEX i;', 'DROP INDEX IF EXISTS s.i;'],
});
