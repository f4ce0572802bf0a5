import { ruleSuite } from './helper';

ruleSuite('drop-schema', {
  ok: ['DROP TABLE t;', 'CREATE SCHEMA s;'],
  error: ['DROP SCHEMA s CASCADE;'],
});
