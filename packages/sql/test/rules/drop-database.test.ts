import { ruleSuite } from './helper';

ruleSuite('drop-database', {
  ok: ['DROP TABLE t;'],
  error: ['DROP DATABASE legacy;'],
});
