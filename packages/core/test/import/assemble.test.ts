import {
  assignTimestamps,
  bookkeepingReferences,
  importMigrations,
  importSlug,
  isTimestamp,
  timestampFromUnix,
  timestampFromVersion,
} from '@braid/core';

describe('timestamps', () => {
  test('recognises timestamp-shaped versions only when they are real dates', () => {
    expect(timestampFromVersion('2023-01-15-123456')).toBe('20230115123456');
    expect(timestampFromVersion('20230115123456')).toBe('20230115123456');
    expect(timestampFromVersion('2013-12-30T23:49:00Z')).toBe('20131230234900');
    expect(timestampFromVersion('00000000000000')).toBeUndefined();
    expect(timestampFromVersion('20231315123456')).toBeUndefined();
    expect(timestampFromVersion('1')).toBeUndefined();
    expect(timestampFromVersion('1.2.3')).toBeUndefined();
    expect(isTimestamp('20240229000000')).toBe(true);
    expect(isTimestamp('20230229000000')).toBe(false);
  });
  test('synthesises strictly increasing timestamps in source order', () => {
    expect(assignTimestamps([undefined, undefined, undefined])).toEqual([
      '19700101000001',
      '19700101000002',
      '19700101000003',
    ]);
    expect(assignTimestamps([undefined, '20230115123456', '20230115123456', undefined])).toEqual([
      '19700101000001',
      '20230115123456',
      '20230115123457',
      '20230115123458',
    ]);
    // crosses a minute/day boundary correctly
    expect(assignTimestamps([undefined], '20231231235959')).toEqual(['20240101000000']);
    // a derived timestamp that would not sort after `after` is moved past it
    expect(assignTimestamps(['20200101000000', undefined], '20250101000000')).toEqual([
      '20250101000001',
      '20250101000002',
    ]);
  });
});

describe('importSlug', () => {
  test('turns any name into a valid slug', () => {
    expect(importSlug('Create Users Table')).toBe('create_users_table');
    expect(importSlug('add-index.v2 (Café)!')).toBe('add_index_v2_cafe');
    expect(importSlug('日本語')).toBe('migration');
    expect(importSlug('')).toBe('migration');
  });
});

describe('dates in versions', () => {
  test('a version that starts with a date keeps it; shorter date forms too', () => {
    expect(timestampFromVersion('2026-07-30-140000-0000')).toBe('20260730140000');
    expect(timestampFromVersion('202607301400000000')).toBe('20260730140000');
    expect(timestampFromVersion('2023.01.15.12.34.56.789')).toBe('20230115123456');
    expect(timestampFromVersion('202301151234')).toBe('20230115123400');
    expect(timestampFromVersion('20230115')).toBe('20230115000000');
    expect(timestampFromVersion('2023-01-15')).toBe('20230115000000');
    // not dates: sequence numbers, zero versions, impossible dates, other lengths
    expect(timestampFromVersion('00000001')).toBeUndefined();
    expect(timestampFromVersion('0000000000000000')).toBeUndefined();
    expect(timestampFromVersion('20231301')).toBeUndefined();
    expect(timestampFromVersion('2023011')).toBeUndefined();
    expect(timestampFromVersion('1500000000')).toBeUndefined();
  });
  test('Unix-time versions (golang-migrate -format unix / unixNano) from 2001-09-09 to 2099', () => {
    expect(timestampFromUnix('1500000000')).toBe('20170714024000');
    expect(timestampFromUnix('1500000000123456789')).toBe('20170714024000');
    expect(timestampFromUnix('0000000001')).toBeUndefined();
    expect(timestampFromUnix('9999999999')).toBeUndefined();
    expect(timestampFromUnix('150000000')).toBeUndefined();
  });
});

describe("other tools' bookkeeping tables", () => {
  test('every line naming one is found, outside comments', () => {
    const sql = [
      '-- __diesel_schema_migrations in a comment is fine',
      'CREATE TRIGGER t BEFORE INSERT ON __diesel_schema_migrations',
      '  EXECUTE FUNCTION f();',
      "insert into public.schema_migrations (version) values ('1');",
      'select * from flyway_schema_history; /* sqitch.changes */',
      'select * from "sqitch".changes;',
      'drop schema if exists sqitch cascade;',
      'select my_schema_migrations_backup from x;',
    ].join('\n');
    expect(bookkeepingReferences(sql).map((r) => `${r.line}:${r.name}`)).toEqual([
      '2:__diesel_schema_migrations',
      '4:schema_migrations',
      '5:flyway_schema_history',
      '6:sqitch',
      '7:sqitch',
    ]);
  });

  test('the importer warns, naming the source line and the braid file line, and says what to do', () => {
    const r = importMigrations('diesel', {
      '2025-08-01-000017_forbid_diesel_cli/up.sql':
        '-- a comment\nCREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;\n' +
        'CREATE TRIGGER f BEFORE INSERT ON __diesel_schema_migrations EXECUTE FUNCTION f();\n',
      '2025-08-01-000017_forbid_diesel_cli/down.sql': 'DROP FUNCTION f CASCADE;\n',
    });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(
      /^2025-08-01-000017_forbid_diesel_cli\/up\.sql:3 \(\.migrations\/20250801000017_forbid_diesel_cli\/up\.sql:5\): uses Diesel's bookkeeping table __diesel_schema_migrations\./,
    );
    expect(r.warnings[0]).toContain('braid hash');
    expect(r.warnings[0]).toContain("to_regclass('__diesel_schema_migrations') is not null");
    // the line named is the line in the written file
    expect(r.migrations[0].files.up.split('\n')[4]).toContain('__diesel_schema_migrations');
  });

  test('dbmate sections name the line in the source file', () => {
    const r = importMigrations('dbmate', {
      '1_x.sql':
        '-- migrate:up\n\n\ncreate table a (id int);\ninsert into schema_migrations values (2);\n-- migrate:down\n',
    });
    expect(r.warnings[0]).toMatch(
      /^1_x\.sql:5 \(\.migrations\/19700101000001_x\/up\.sql:\d+\): uses golang-migrate and dbmate/,
    );
    const line = Number(/up\.sql:(\d+)\)/.exec(r.warnings[0])![1]);
    expect(r.migrations[0].files.up.split('\n')[line - 1]).toContain('schema_migrations');
  });
});
