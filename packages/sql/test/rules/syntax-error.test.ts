import { ruleSuite } from './helper';

ruleSuite('syntax-error', {
  ok: ['CREATE TABLE t (a int);'],
  error: [
    'CREAT TABLE t (a int);',
    {
      up: 'CREATE TABLE t (a int);',
      verify: 'SELECT FROM FROM t;',
    },
    {
      up: 'CREATE TABLE t (a int);',
      down: 'DROP TABEL t;',
    },
  ],
});
