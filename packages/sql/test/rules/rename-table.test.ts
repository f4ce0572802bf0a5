import { ruleSuite } from './helper';

ruleSuite('rename-table', {
  ok: ['CREATE TABLE t (a int);\nALTER TABLE t RENAME TO u;', 'ALTER INDEX i RENAME TO j;'],
  error: ['ALTER TABLE t RENAME TO u;', 'ALTER VIEW v RENAME TO w;'],
});
