import { importMigrations } from '@braid/core';
import { expectWellFormed } from './helpers';

describe('dbmate importer', () => {
  const listing = {
    '20240101000000_create users.sql':
      '-- migrate:up\ncreate table users (id int);\n\n-- migrate:down\ndrop table users;\n',
    '20240102000000_index.sql':
      '-- migrate:up transaction:false\ncreate index concurrently users_id on users (id);\n-- migrate:down transaction:false\ndrop index concurrently users_id;\n',
    '20240103000000_seed.sql': '-- migrate:up\ninsert into users values (1);\n-- migrate:down\n',
    'schema.sql': 'create table users (id int);',
    '.gitkeep': '',
  };

  test('splits sections, maps transaction:false, orders by file name', () => {
    const r = importMigrations('dbmate', listing);
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.id)).toEqual([
      '20240101000000_create_users',
      '20240102000000_index',
      '20240103000000_seed',
    ]);
    const [users, index, seed] = r.migrations;
    expect(users.files.up).toContain('create table users (id int);');
    expect(users.files.up).not.toContain('drop table users');
    expect(users.files.down).toBe('drop table users;\n');
    expect(index.noTransaction).toBe(true);
    expect(seed.irreversible).toBe(true);
    expect(r.warnings).toEqual([expect.stringMatching(/^schema\.sql: ignored/)]);
  });

  test('malformed files are refused, naming file and line', () => {
    expect(() => importMigrations('dbmate', { '1_x.sql': 'create table x (id int);\n' })).toThrow(
      /^1_x\.sql:1: SQL before the -- migrate:up marker/,
    );
    expect(() => importMigrations('dbmate', { '1_x.sql': '-- migrate:down\nselect 1;\n' })).toThrow(
      /^1_x\.sql: no -- migrate:up marker/,
    );
    expect(() =>
      importMigrations('dbmate', { '1_x.sql': '-- migrate:up transaction:maybe\nselect 1;\n' }),
    ).toThrow(/^1_x\.sql:1: transaction:maybe must be true or false/);
    expect(() =>
      importMigrations('dbmate', {
        '1_x.sql': '-- migrate:up\nselect 1;',
        '1_y.sql': '-- migrate:up\nselect 1;',
      }),
    ).toThrow(/^1_y\.sql: duplicate version 1/);
  });
});

describe("dbmate's ordering rule (file names, byte order)", () => {
  // dbmate's FindMigrations sorts by file name: `10_…` before `2_…`, though 2 < 10 as numbers.
  test('mixed widths run in file-name order, as dbmate runs them, not numerically', () => {
    const r = importMigrations('dbmate', {
      '2_add_email.sql': '-- migrate:up\nalter table users add column email text;\n-- migrate:down\n',
      '10_create_users.sql':
        '-- migrate:up\ncreate table users (id int);\n-- migrate:down\ndrop table users;\n',
      '20240101000000_timestamp.sql': '-- migrate:up\nselect 1;\n',
    });
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.source)).toEqual([
      '10_create_users',
      '20240101000000_timestamp',
      '2_add_email',
    ]);
    expect(r.migrations.map((m) => m.version)).toEqual(['10', '20240101000000', '2']);
    expect(r.migrations[2].id > r.migrations[1].id).toBe(true);
    // dbmate's order is the byte order of the names: nothing to report
    expect(r.order.differsFromNames).toBe(false);
  });
});
