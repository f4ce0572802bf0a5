import { ruleSuite } from './helper';

ruleSuite('constraint-missing-not-valid', {
  ok: [
    'ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;',
    'ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES u (id) NOT VALID;',
    'CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);',
    'ALTER TABLE t VALIDATE CONSTRAINT c;',
  ],
  error: [
    'ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);',
    'ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES u (id);',
  ],
});
