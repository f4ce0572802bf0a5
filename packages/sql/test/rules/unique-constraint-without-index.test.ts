import { ruleSuite } from './helper';

ruleSuite('unique-constraint-without-index', {
  ok: [
    'ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX i;',
    'CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT u UNIQUE (a);',
  ],
  error: ['ALTER TABLE t ADD CONSTRAINT u UNIQUE (a);', 'ALTER TABLE t ADD PRIMARY KEY (id);'],
});
