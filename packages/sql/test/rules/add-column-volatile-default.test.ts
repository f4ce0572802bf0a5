import { ruleSuite } from './helper';

ruleSuite('add-column-volatile-default', {
  ok: [
    'ALTER TABLE t ADD COLUMN c int DEFAULT 0;',
    'ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now();',
    'CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();',
    'CREATE TABLE t (id uuid DEFAULT gen_random_uuid());',
  ],
  error: [
    'ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();',
    'ALTER TABLE t ADD COLUMN c float DEFAULT random();',
    'ALTER TABLE t ADD COLUMN id bigserial;',
    'ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED;',
  ],
});
