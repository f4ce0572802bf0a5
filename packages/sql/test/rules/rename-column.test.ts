import { ruleSuite } from './helper';

ruleSuite('rename-column', {
  ok: ['CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b;'],
  error: ['ALTER TABLE t RENAME COLUMN a TO b;'],
});
