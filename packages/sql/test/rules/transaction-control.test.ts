import { ruleSuite } from './helper';

ruleSuite('transaction-control', {
  ok: ['CREATE TABLE t (a int);'],
  error: ['BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;', 'ROLLBACK;'],
});
