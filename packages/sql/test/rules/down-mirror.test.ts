import { ruleSuite } from './helper';

ruleSuite('down-mirror', {
  ok: [
    {
      up: "CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\nCREATE TYPE mood AS ENUM ('a');",
      down: 'DROP TYPE mood;\nDROP TABLE t;',
    },
    {
      up: 'ALTER TABLE t ADD COLUMN c int;\nALTER TABLE t RENAME COLUMN a TO b;',
      down: 'ALTER TABLE t RENAME COLUMN b TO a;\nALTER TABLE t DROP COLUMN c;',
    },
    {
      up: 'CREATE SCHEMA s;\nCREATE TABLE s.t (a int);',
      down: 'DROP SCHEMA s CASCADE;',
    },
    {
      up: "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'select 1';\nCREATE FUNCTION g(text) RETURNS int LANGUAGE sql AS 'select 1';",
      down: 'DROP FUNCTION g;\nDROP FUNCTION f(integer);',
    },
  ],
  error: [
    {
      up: 'CREATE TABLE a (id int);\nCREATE TABLE b (id int);',
      down: 'DROP TABLE a;',
    },
    {
      up: 'ALTER TABLE t ADD COLUMN c int;',
      down: 'SELECT 1;',
    },
    {
      up: 'ALTER TABLE t RENAME TO u;',
      down: 'SELECT 1;',
    },
    {
      up: "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'select 1';",
      down: 'DROP FUNCTION f(text);',
    },
  ],
});
