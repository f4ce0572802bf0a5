import { ruleSuite } from './helper';

ruleSuite('dml-without-where', {
  ok: [
    'UPDATE t SET a = 1 WHERE b = 2;',
    'DELETE FROM t WHERE true;',
    'CREATE TABLE t (a int);\nUPDATE t SET a = 1;',
  ],
  error: ['UPDATE t SET a = 1;', 'DELETE FROM t;'],
});
