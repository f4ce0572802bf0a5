import { ruleSuite } from './helper';

ruleSuite('prefer-identity', {
  ok: ['CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);'],
  error: ['CREATE TABLE t (id serial PRIMARY KEY);', 'ALTER TABLE t ADD COLUMN n bigserial;'],
});
