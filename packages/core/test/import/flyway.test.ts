import { compareFlywayVersions, importMigrations } from '@braid/core';
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
