import { ruleSuite } from './helper';

ruleSuite('verify-asserts-nothing', {
  ok: [
    {
      up: 'CREATE TABLE t (a int);',
      down: 'DROP TABLE t;',
      verify: 'SELECT a FROM t WHERE false;',
    },
    {
      up: 'CREATE TABLE t (a int);',
      down: 'DROP TABLE t;',
      verify: 'DO $$ BEGIN ASSERT (SELECT count(*) FROM t) = 0; END $$;',
    },
    {
      up: 'CREATE TABLE t (a int);',
      down: 'DROP TABLE t;',
    },
  ],
  error: [
    {
      up: 'CREATE TABLE t (a int);',
      down: 'DROP TABLE t;',
      verify: 'SELECT 1;',
    },
    {
      up: 'CREATE TABLE t (a int);',
      down: 'DROP TABLE t;',
      verify: '-- todo\n',
    },
  ],
});
