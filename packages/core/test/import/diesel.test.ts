import { importMigrations, UsageError } from '@braid/core';
import { expectWellFormed } from './helpers';

const listing = {
  'diesel.toml': '[print_schema]\n',
  '.keep': '',
  '00000000000000_diesel_initial_setup/up.sql':
    'create function diesel_set_updated_at() returns trigger language plpgsql as $$ begin return new; end $$;\n',
  '00000000000000_diesel_initial_setup/down.sql': 'drop function diesel_set_updated_at();\n',
  '2023-01-15-123456_Create Users/up.sql': 'create table users (id int primary key);\n',
  '2023-01-15-123456_Create Users/down.sql': 'drop table users;\n',
  '2023-02-01-000000_index email/up.sql': 'create index concurrently users_id on users (id);\n',
  '2023-02-01-000000_index email/down.sql': 'drop index concurrently users_id;\n',
  '2023-02-01-000000_index email/metadata.toml': 'run_in_transaction = false\n',
  '2023-01-20-000000_no down/up.sql': 'alter table users add column email text;\n',
};

describe('diesel importer', () => {
  test('orders by version string, keeps timestamps, flags run_in_transaction = false', () => {
    const r = importMigrations('diesel', listing);
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.id)).toEqual([
      '19700101000001_diesel_initial_setup',
      '20230115123456_create_users',
      '20230120000000_no_down',
      '20230201000000_index_email',
    ]);
    const [setup, users, noDown, index] = r.migrations;
    expect(setup.noTransaction).toBe(false);
    expect(users.files.up).toContain(
      '-- Imported by braid from diesel: 2023-01-15-123456_Create Users/up.sql',
    );
    expect(users.files.up).toContain('create table users (id int primary key);');
    expect(users.files.down).toBe('drop table users;\n');
    expect(noDown.irreversible).toBe(true);
    expect(noDown.files.up.startsWith('-- braid:irreversible\n')).toBe(true);
    expect(index.noTransaction).toBe(true);
    expect(index.files.up.startsWith('-- braid:no-transaction\n')).toBe(true);
  });

  test('a down.sql without up.sql is refused, naming the file', () => {
    expect(() =>
      importMigrations('diesel', { ...listing, '2023-03-01-000000_x/down.sql': 'select 1;' }),
    ).toThrow(/2023-03-01-000000_x\/down\.sql: a down\.sql without an up\.sql/);
  });

  test('duplicate versions are refused', () => {
    expect(() =>
      importMigrations('diesel', { ...listing, '2023-01-15-123456_other/up.sql': 'select 1;' }),
    ).toThrow(/duplicate version 2023-01-15-123456/);
  });

  test('a malformed metadata.toml is refused with exit 2, naming it', () => {
    let err: unknown;
    try {
      importMigrations('diesel', {
        ...listing,
        '2023-01-15-123456_Create Users/metadata.toml': 'run_in_transaction = = x',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as UsageError).message).toMatch(
      /^2023-01-15-123456_Create Users\/metadata\.toml: invalid TOML/,
    );
  });

  test('an empty directory is refused', () => {
    expect(() => importMigrations('diesel', { 'diesel.toml': '' })).toThrow(/no diesel migrations found/);
  });

  test('the --append lower bound moves every id after the existing ones', () => {
    const r = importMigrations('diesel', listing, { after: '20250101000000' });
    expectWellFormed(r);
    expect(r.migrations[0].id).toBe('20250101000001_diesel_initial_setup');
    expect(r.migrations[1].id).toBe('20250101000002_create_users');
  });
});

test('the source comment names the imported directory when given', () => {
  const r = importMigrations('diesel', listing, { sourceDir: 'db/migrations/' });
  expect(r.migrations[1].files.up).toContain(
    '-- Imported by braid from diesel: db/migrations/2023-01-15-123456_Create Users/up.sql\n',
  );
});
