import { ruleSuite } from './helper';

ruleSuite('require-concurrent-index-creation', {
  ok: [
    'CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);',
    '-- braid:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);',
  ],
  error: ['CREATE INDEX i ON t (a);', 'CREATE UNIQUE INDEX i ON s.t (a, b);'],
});
