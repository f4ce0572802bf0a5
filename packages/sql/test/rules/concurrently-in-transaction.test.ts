import { ruleSuite } from './helper';

ruleSuite('concurrently-in-transaction', {
  ok: ['-- braid:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);', 'CREATE INDEX i ON t (a);'],
  error: [
    'CREATE INDEX CONCURRENTLY i ON t (a);',
    'DROP INDEX CONCURRENTLY i;',
    'VACUUM t;',
    'REINDEX INDEX CONCURRENTLY i;',
  ],
});
