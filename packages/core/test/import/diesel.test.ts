import { dieselVersion, importMigrations, UsageError } from '@braid/core';
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

  test('a folder without up.sql is refused, naming it (diesel refuses the directory too)', () => {
    let err: unknown;
    try {
      importMigrations('diesel', { ...listing, '2023-03-01-000000_x/down.sql': 'select 1;' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as UsageError).message).toMatch(/^2023-03-01-000000_x\/: no up\.sql: not a diesel migration/);
  });

  test('duplicate versions are refused once dashes are removed, naming both folders', () => {
    expect(() =>
      importMigrations('diesel', { ...listing, '2023-01-15-123456_other/up.sql': 'select 1;' }),
    ).toThrow(/duplicate version 20230115123456/);
    // Diesel's version drops every "-": these two are the same version (its HashMap keeps one)
    expect(() =>
      importMigrations('diesel', { ...listing, '20230115123456_same/up.sql': 'select 1;' }),
    ).toThrow(
      /^20230115123456_same\/: duplicate version 20230115123456: 2023-01-15-123456_Create Users\/ has the same one/,
    );
  });

  test('a metadata.toml diesel cannot read is ignored as diesel ignores it (in a transaction), with a warning', () => {
    const r = importMigrations('diesel', {
      ...listing,
      '2023-01-15-123456_Create Users/metadata.toml': 'run_in_transaction = = x',
      '2023-01-20-000000_no down/metadata.toml': 'run_in_transaction = "no"',
    });
    expect(r.migrations[1].noTransaction).toBe(false);
    expect(r.migrations[2].noTransaction).toBe(false);
    expect(r.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^2023-01-15-123456_Create Users\/metadata\.toml: invalid TOML .*runs the migration in a transaction/,
        ),
        expect.stringMatching(
          /^2023-01-20-000000_no down\/metadata\.toml: run_in_transaction is not true or false/,
        ),
      ]),
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

describe("diesel's ordering rule", () => {
  // The crates.io pattern: plain `20170102131034_x` names and dashed `2017-08-31-230457_x` names in
  // one directory, and newer `-0000` suffixes. In byte order every "2017-…" name sorts before
  // "20170…" ("-" < "0"); Diesel sorts by the version with dashes removed.
  const mixed = {
    '00000000000000_diesel_initial_setup/up.sql': 'select 1;\n',
    '20170102131034_create_users/up.sql': 'create table users (id int primary key);\n',
    '2017-08-31-230457_add_emails_table/up.sql':
      'create table emails (user_id int references users (id), email text);\n',
    '20170905000000_use_emails/up.sql': 'create index emails_email on emails (email);\n',
    '2018-01-01-000000-0000_with suffix/up.sql': 'alter table emails add column verified boolean;\n',
    '2018-01-01-000000-0001_same second/up.sql': 'select 2;\n',
    '.hidden_20000101000000_x/up.sql': 'this is not a migration',
  };

  test('the version is the name up to the first "_", every "-" removed', () => {
    expect(dieselVersion('2017-08-31-230457_invitations')).toBe('20170831230457');
    expect(dieselVersion('2026-07-30-140000-0000_add_users_username_index')).toBe('202607301400000000');
    expect(dieselVersion('20170102131034_dumped_migration_120')).toBe('20170102131034');
    expect(dieselVersion('no_underscore_version')).toBe('no');
    expect(dieselVersion('justname')).toBe('justname');
  });

  test("mixed names are imported in diesel's order, not byte order, and the mapping says so", () => {
    const r = importMigrations('diesel', mixed);
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.source)).toEqual([
      '00000000000000_diesel_initial_setup',
      '20170102131034_create_users',
      '2017-08-31-230457_add_emails_table',
      '20170905000000_use_emails',
      '2018-01-01-000000-0000_with suffix',
      '2018-01-01-000000-0001_same second',
    ]);
    // the byte order would have put the dashed 2017 name second, before the table it references
    expect(
      Object.keys(mixed)
        .filter((k) => !k.startsWith('.'))
        .sort()[1],
    ).toMatch(/^2017-08-31/);
    expect(r.order.differsFromNames).toBe(true);
    expect(r.order.first).toEqual({ source: '20170102131034_create_users', position: 2, namePosition: 3 });
    expect(r.order.rule).toMatch(/every "-" removed/);
    expect(r.migrations.map((m) => m.version)).toEqual([
      '00000000000000',
      '20170102131034',
      '20170831230457',
      '20170905000000',
      '201801010000000000',
      '201801010000000001',
    ]);
  });

  test('the real date stays in the id, also for the 18-digit -0000 versions', () => {
    const r = importMigrations('diesel', mixed);
    expect(r.migrations.map((m) => m.id)).toEqual([
      '19700101000001_diesel_initial_setup',
      '20170102131034_create_users',
      '20170831230457_add_emails_table',
      '20170905000000_use_emails',
      '20180101000000_with_suffix',
      // same second as the previous one: one second later, so ids stay unique and in order
      '20180101000001_same_second',
    ]);
  });

  test('an order that agrees with byte order is not reported', () => {
    const r = importMigrations('diesel', listing);
    expect(r.order.differsFromNames).toBe(false);
    expect(r.order.moved).toBe(0);
  });
});
