import { ruleSuite } from './helper';

ruleSuite('missing-down', {
  ok: [
    {
      up: 'CREATE TABLE t (a int);',
      down: 'DROP TABLE t;',
    },
    {
      up: '-- braid:irreversible\nDROP TABLE t;',
    },
  ],
  error: [
    {
      up: 'CREATE TABLE t (a int);',
    },
    {
      up: 'CREATE TABLE t (a int);',
      down: '-- nothing\n',
    },
  ],
});
