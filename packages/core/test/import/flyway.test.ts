import { compareFlywayVersions, flywayChecksum, importMigrations, parseFlywayName } from '@braid/core';
import { expectWellFormed } from './helpers';

describe('flyway importer', () => {
  const listing = {
    'V1__Create_users.sql': 'create table users (id int);',
    'U1__Create_users.sql': 'drop table users;',
    'sub/V1.10__later.sql': 'alter table users add column c text;',
    'V1.9__earlier.sql': 'alter table users add column b text;',
    'V1_2__underscored.sql': 'alter table users add column a text;',
    'V2__index.sql': '-- flyway:executeInTransaction=false\ncreate index concurrently i on users (id);',
    'V3__detected.sql': 'create index concurrently j on users (b);',
    'V4__conf.sql': 'vacuum users;',
    'V4__conf.sql.conf': 'executeInTransaction=false\n',
    'R__users_view.sql': 'create or replace view v as select id from users;',
    'V5__placeholders.sql': 'create table ${schema}.x (id int);',
  };

  test('orders by numeric version parts, pairs undo scripts, imports repeatables last', () => {
    const r = importMigrations('flyway', listing);
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.source)).toEqual([
      'V1__Create_users',
      'V1_2__underscored',
      'V1.9__earlier',
      'V1.10__later',
      'V2__index',
      'V3__detected',
      'V4__conf',
      'V5__placeholders',
      'R__users_view',
    ]);
    expect(r.migrations[0].id).toBe('19700101000001_create_users');
    expect(r.migrations[0].files.down).toBe('drop table users;');
    expect(r.migrations[1].irreversible).toBe(true);
    expect(r.migrations.filter((m) => m.noTransaction).map((m) => m.source)).toEqual([
      'V2__index',
      'V3__detected',
      'V4__conf',
    ]);
    expect(r.migrations[8].id).toBe('19700101000009_repeatable_users_view');
    expect(r.warnings.some((w) => w.includes('R__users_view.sql: repeatable migration imported once'))).toBe(
      true,
    );
    expect(r.warnings.some((w) => w.startsWith('V5__placeholders.sql: contains Flyway placeholders'))).toBe(
      true,
    );
  });

  test('version comparison ignores trailing zeros; equal versions are duplicates', () => {
    expect(compareFlywayVersions('1.0', '1')).toBe(0);
    expect(compareFlywayVersions('1.10', '1.9')).toBe(1);
    expect(compareFlywayVersions('2', '10')).toBe(-1);
    expect(() =>
      importMigrations('flyway', { 'V1__a.sql': 'select 1;', 'V1.0__b.sql': 'select 1;' }),
    ).toThrow(/duplicate version/);
  });

  test('an undo without its versioned migration is refused', () => {
    expect(() => importMigrations('flyway', { 'V1__a.sql': 'select 1;', 'U2__b.sql': 'select 1;' })).toThrow(
      /^U2__b\.sql: an undo migration without a versioned migration V2__\*\.sql/,
    );
  });

  test('timestamp versions are kept', () => {
    const r = importMigrations('flyway', { 'V20230115123456__a.sql': 'select 1;' });
    expect(r.migrations[0].id).toBe('20230115123456_a');
  });
});

describe("flyway's ordering rule", () => {
  // Byte order: R__…, V1.1__b, V10__e, V1_2__c, V1__a, V2__d; Flyway: 1, 1.1, 1.2, 2, 10, then R__ by description
  const listing = {
    'V1__a.sql': 'create table t (id int);',
    'V1.1__b.sql': 'alter table t add column b int;',
    'V1_2__c.SQL': 'alter table t add column c int;',
    'V2__d.sql': 'alter table t add column d int;',
    'V10__e.sql': 'alter table t add column e int;',
    'R__b_view.sql': 'create or replace view b as select * from a;',
    'R__a_view.sql': 'create or replace view a as select * from t;',
    'V3.sql': 'select 1;',
  };

  test('numeric versions part by part, repeatables after them by description; the suffix in any case', () => {
    const r = importMigrations('flyway', listing);
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.source)).toEqual([
      'V1__a',
      'V1.1__b',
      'V1_2__c',
      'V2__d',
      'V3',
      'V10__e',
      'R__a_view',
      'R__b_view',
    ]);
    expect(r.migrations.map((m) => m.version)).toEqual(['1', '1.1', '1.2', '2', '3', '10', 'R', 'R']);
    expect(r.order.differsFromNames).toBe(true);
  });

  test("each migration carries Flyway's checksum (CRC-32 of its lines, line breaks excluded)", () => {
    const r = importMigrations('flyway', listing);
    // CRC-32 of "create table t (id int);" as a signed int (node:zlib's crc32 agrees: 354602754)
    expect(r.migrations[0].checksum).toBe('354602754');
    expect(flywayChecksum('a\nb\n')).toBe(flywayChecksum('a\r\nb'));
    expect(flywayChecksum('\uFEFFab')).toBe(flywayChecksum('ab'));
    expect(flywayChecksum('')).toBe(0);
    // crc32("ab") = 0x9e83486d -> -1635563411 as a Java int
    expect(flywayChecksum('ab')).toBe(-1635563411);
  });

  test('names as Flyway reads them', () => {
    expect(parseFlywayName('V1_2__c.SQL')).toEqual({ kind: 'V', version: '1.2', description: 'c' });
    expect(parseFlywayName('V3.sql')).toEqual({ kind: 'V', version: '3', description: '' });
    expect(parseFlywayName('V1__a__b.sql')).toEqual({ kind: 'V', version: '1', description: 'a  b' });
    expect(parseFlywayName('R__my_view.sql')).toEqual({ kind: 'R', version: '', description: 'my view' });
    expect(parseFlywayName('R1__x.sql')).toBeUndefined();
    expect(parseFlywayName('V1..2__x.sql')).toBeUndefined();
    expect(parseFlywayName('V1.a__x.sql')).toBeUndefined();
    expect(parseFlywayName('v1__x.sql')).toBeUndefined();
  });

  test('a baseline migration (B…) is reported, with what Flyway would do instead', () => {
    const r = importMigrations('flyway', { ...listing, 'B1_20_0__baseline.sql': 'create table t (id int);' });
    expect(r.migrations.map((m) => m.source)).not.toContain('B1_20_0__baseline');
    expect(r.warnings).toContainEqual(
      expect.stringMatching(
        /^B1_20_0__baseline\.sql: a Flyway baseline migration, ignored: on a new database Flyway runs it instead of the versioned migrations up to 1\.20\.0/,
      ),
    );
  });
});
