import { importMigrations } from '@braid/core';
import { expectWellFormed } from './helpers';

describe('golang-migrate importer', () => {
  const listing = {
    '1_init.up.sql': 'create table a (id int);',
    '1_init.down.sql': 'drop table a;',
    '2_add index.up.sql': 'CREATE INDEX CONCURRENTLY a_id ON a (id);',
    '2_add index.down.sql': 'DROP INDEX CONCURRENTLY a_id;',
    '10_Wrapped.up.sql': 'BEGIN;\ncreate table b (id int);\nCOMMIT;\n',
    '10_Wrapped.down.sql': 'BEGIN; drop table b; COMMIT;',
    '0009_two blocks.up.sql':
      'begin; create table c (id int); commit;\nbegin; create table d (id int); commit;',
    'README.md': '# migrations',
    'sub/3_x.up.sql': 'select 1;',
  };

  test('orders numerically (any width) and maps transaction control', () => {
    const r = importMigrations('golang-migrate', listing);
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.id)).toEqual([
      '19700101000001_init',
      '19700101000002_add_index',
      '19700101000003_two_blocks',
      '19700101000004_wrapped',
    ]);
    const [init, index, two, wrapped] = r.migrations;
    expect(init.noTransaction).toBe(false);
    expect(init.files.up).toContain('-- Imported by braid from golang-migrate: 1_init.up.sql');
    expect(index.noTransaction).toBe(true);
    expect(two.noTransaction).toBe(true);
    expect(two.irreversible).toBe(true);
    expect(two.files.up).toContain('begin; create table c (id int); commit;');
    // a single BEGIN ... COMMIT block runs in braid's transaction: the statements are commented out
    expect(wrapped.noTransaction).toBe(false);
    expect(wrapped.files.up).not.toMatch(/^BEGIN;$/m);
    expect(wrapped.files.up).toContain('create table b (id int);');
    expect(wrapped.files.up).toContain('-- (braid import: "BEGIN;" removed');
    expect(wrapped.files.down).toContain('\ndrop table b;');
    expect(wrapped.files.down).not.toMatch(/^\s*COMMIT;/m);
    expect(r.warnings.some((w) => w.startsWith('README.md: ignored'))).toBe(true);
    expect(r.warnings.some((w) => w.startsWith('sub/3_x.up.sql: ignored'))).toBe(true);
  });

  test('timestamp versions become the id timestamps', () => {
    const r = importMigrations('golang-migrate', {
      '20240101120000_a.up.sql': 'select 1;',
      '20240101120000_a.down.sql': 'select 1;',
      '20240102120000_b.up.sql': 'select 2;',
    });
    expect(r.migrations.map((m) => m.id)).toEqual(['20240101120000_a', '20240102120000_b']);
  });

  test('a down without an up and duplicate versions are refused, naming the file', () => {
    expect(() => importMigrations('golang-migrate', { '3_x.down.sql': 'select 1;' })).toThrow(
      /^3_x\.down\.sql: a down migration without an up migration/,
    );
    expect(() =>
      importMigrations('golang-migrate', { '1_a.up.sql': 'select 1;', '01_b.up.sql': 'select 1;' }),
    ).toThrow(/duplicate up migration for version 1/);
  });
});

describe('golang-migrate importer: file hygiene', () => {
  test('a leading byte-order mark is dropped; psql meta-commands are reported', () => {
    const r = importMigrations('golang-migrate', {
      '1_a.up.sql': '\uFEFFcreate table a (id int);\n\\set ON_ERROR_STOP 1\n',
      '1_a.down.sql': '\uFEFFdrop table a;',
    });
    expect(r.migrations[0].files.up).not.toContain('\uFEFF');
    expect(r.migrations[0].files.down).toBe('drop table a;');
    expect(r.warnings).toEqual([
      expect.stringContaining('1_a.up.sql: contains the psql meta-command "\\set"'),
    ]);
  });
});
