import { ruleSuite } from './helper';

ruleSuite('prefer-bigint-primary-key', {
  ok: ['CREATE TABLE t (id bigint PRIMARY KEY);', 'CREATE TABLE t (id uuid PRIMARY KEY);'],
  error: [
    'CREATE TABLE t (id int PRIMARY KEY);',
    'CREATE TABLE t (id integer, PRIMARY KEY (id));',
    'CREATE TABLE t (id serial PRIMARY KEY);',
  ],
});
