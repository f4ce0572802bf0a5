import { ruleSuite } from './helper';

ruleSuite('set-not-null-without-check', {
  ok: [
    'CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;',
    'ALTER TABLE t ADD CONSTRAINT nn CHECK (a IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT nn;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;',
  ],
  error: [
    'ALTER TABLE t ALTER COLUMN a SET NOT NULL;',
    'ALTER TABLE t ADD CONSTRAINT nn CHECK (a IS NOT NULL) NOT VALID;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;',
  ],
});
