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

describe("golang-migrate's ordering rule (versions parsed as unsigned 64-bit integers)", () => {
  // Mixed widths and styles: sequence numbers with and without padding, a timestamp, a Unix time.
  // Byte order: 0002, 1, 10, 1500000000, 20240101120000, 9; golang-migrate: 1, 2, 9, 10, …
  const listing = {
    '1_create_users.up.sql': 'create table users (id int primary key);',
    '1_create_users.down.sql': 'drop table users;',
    '0002_add_email.up.sql': 'alter table users add column email text;',
    '9_index_email.up.sql': 'create index users_email on users (email);',
    '10_add_name.up.sql': 'alter table users add column name text;',
    '1500000000_unix_time.up.sql': 'select 1;',
    '20240101120000_timestamp.up.sql': 'select 2;',
    '99999999999999999999_too_big.up.sql': 'select 3;',
    '11_other_ext.up.txt': 'select 4;',
  };

  test('numeric order, whatever the width; the mapping reports that names sort otherwise', () => {
    const r = importMigrations('golang-migrate', listing);
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.source)).toEqual([
      '1_create_users',
      '0002_add_email',
      '9_index_email',
      '10_add_name',
      '11_other_ext',
      '1500000000_unix_time',
      '20240101120000_timestamp',
    ]);
    expect(r.migrations.map((m) => m.version)).toEqual([
      '1',
      '2',
      '9',
      '10',
      '11',
      '1500000000',
      '20240101120000',
    ]);
    expect(r.order.differsFromNames).toBe(true);
    expect(r.order.rule).toMatch(/unsigned 64-bit/);
  });

  test('a Unix-time version keeps its date; a version beyond 64 bits is skipped, as golang-migrate skips it', () => {
    const r = importMigrations('golang-migrate', listing);
    const ids = r.migrations.map((m) => m.id);
    expect(ids).toContain('20170714024000_unix_time'); // 1500000000 = 2017-07-14 02:40:00 UTC
    expect(ids[ids.length - 1]).toBe('20240101120000_timestamp');
    expect(r.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^99999999999999999999_too_big\.up\.sql: ignored \(its version does not fit in 64 bits/,
        ),
        expect.stringMatching(/^11_other_ext\.up\.txt: imported although its extension is \.txt/),
      ]),
    );
  });
});
