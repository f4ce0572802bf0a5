import { ruleSuite } from './helper';

ruleSuite('drop-column', {
  ok: ['CREATE TABLE t (a int, b int);\nALTER TABLE t DROP COLUMN b;', 'ALTER TABLE t ADD COLUMN b int;'],
  error: ['ALTER TABLE t DROP COLUMN b;'],
});
