import { importMigrations, parseSqitchPlan, sqitchLayout } from '@braid/core';
import { expectWellFormed } from './helpers';

const plan = `%syntax-version=1.0.0
%project=flipr
%uri=https://example.com/flipr

# a comment
appschema 2013-12-30T23:49:00Z Marge N. O’Vera <marge@example.com> # Add schema.
users [appschema] 2013-12-30T23:49:00Z Marge N. O’Vera <marge@example.com> # Creates users.
users_idx [users !legacy otherproj:thing] 2013-12-31T10:00:00Z Marge <marge@example.com>
@v1.0 2014-01-01T00:00:00Z Marge <marge@example.com> # Tag v1.0.
users [users@v1.0 flipr:appschema] 2014-01-02T00:00:00Z Marge <marge@example.com> # Reworked.
`;

const wrap = (s: string) => `-- Deploy\nBEGIN;\n${s}\nCOMMIT;\n`;

const listing = {
  'sqitch.plan': plan,
  'sqitch.conf': '[core]\n\tengine = pg\n',
  'deploy/appschema.sql': wrap('create schema flipr;'),
  'revert/appschema.sql': wrap('drop schema flipr;'),
  'verify/appschema.sql': "BEGIN;\nselect pg_catalog.has_schema_privilege('flipr', 'usage');\nROLLBACK;\n",
  'deploy/users@v1.0.sql': wrap('create table flipr.users (name text);'),
  'revert/users@v1.0.sql': wrap('drop table flipr.users;'),
  'deploy/users.sql': wrap('alter table flipr.users add column email text;'),
  'revert/users.sql': wrap('alter table flipr.users drop column email;'),
  'deploy/users_idx.sql': 'create index concurrently users_name on flipr.users (name);\n',
  'revert/users_idx.sql': 'drop index concurrently users_name;\n',
  'deploy/orphan.sql': 'select 1;',
};

describe('sqitch importer', () => {
  test('plan parsing', () => {
    const p = parseSqitchPlan(plan);
    expect(p.project).toBe('flipr');
    expect(p.items.map((i) => `${i.kind}:${i.name}`)).toEqual([
      'change:appschema',
      'change:users',
      'change:users_idx',
      'tag:v1.0',
      'change:users',
    ]);
  });

  test('plan order, planned_at timestamps, requires, reworks, unwrapped BEGIN/COMMIT', () => {
    const r = importMigrations('sqitch', listing);
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.id)).toEqual([
      '20131230234900_appschema',
      '20131230234901_users',
      '20131231100000_users_idx',
      '20140102000000_users',
    ]);
    const [schema, users1, idx, users2] = r.migrations;
    expect(schema.noTransaction).toBe(false);
    expect(schema.files.up).toContain('create schema flipr;');
    expect(schema.files.up).not.toMatch(/^BEGIN;/m);
    expect(schema.files.verify).toContain('has_schema_privilege');
    expect(schema.files.verify).not.toMatch(/^ROLLBACK;/m);
    expect(users1.requires).toEqual(['20131230234900_appschema']);
    expect(users1.sourceFiles.up).toBe('deploy/users@v1.0.sql');
    expect(users1.files.up).toContain('create table flipr.users');
    expect(idx.noTransaction).toBe(true);
    expect(idx.requires).toEqual(['20131230234901_users']);
    expect(users2.sourceFiles.up).toBe('deploy/users.sql');
    expect(users2.requires).toEqual(['20131230234901_users', '20131230234900_appschema']);
    expect(r.warnings.some((w) => w.includes('conflict !legacy'))).toBe(true);
    expect(r.warnings.some((w) => w.includes('otherproj:thing'))).toBe(true);
    expect(r.warnings.some((w) => w.startsWith('deploy/orphan.sql: ignored'))).toBe(true);
  });

  test('missing deploy script, unknown dependency and malformed lines are refused, naming the file', () => {
    const { 'deploy/appschema.sql': _, ...noDeploy } = listing;
    expect(() => importMigrations('sqitch', noDeploy)).toThrow(/^deploy\/appschema\.sql: missing/);
    expect(() =>
      importMigrations('sqitch', {
        ...listing,
        'sqitch.plan': plan + 'x [nope] 2014-01-03T00:00:00Z M <m@x>\n',
        'deploy/x.sql': 'select 1;',
      }),
    ).toThrow(/^sqitch\.plan:11: dependency nope of x is not planned before it/);
    expect(() => importMigrations('sqitch', { ...listing, 'sqitch.plan': plan + 'garbage line\n' })).toThrow(
      /^sqitch\.plan:11: malformed change line/,
    );
    expect(() => importMigrations('sqitch', { 'deploy/a.sql': '' })).toThrow(/^sqitch\.plan: not found/);
  });

  test('a verify script with other transaction control is refused', () => {
    expect(() =>
      importMigrations('sqitch', { ...listing, 'verify/appschema.sql': 'select 1; commit; select 2;' }),
    ).toThrow(/^verify\/appschema\.sql: a verify script runs inside the migration's transaction/);
  });
});

describe('sqitch reworks', () => {
  const head = '%syntax-version=1.0.0\n%project=p\n';
  const line = (s: string, t: string) => `${s} ${t} A <a@x>\n`;
  test('the earlier occurrence uses the first tag between the occurrences that has a file', () => {
    const r = importMigrations('sqitch', {
      'sqitch.plan':
        head +
        line('f', '2020-01-01T00:00:00Z') +
        line('@t1', '2020-01-02T00:00:00Z') +
        line('@t2', '2020-01-03T00:00:00Z') +
        line('f [f@t2]', '2020-01-04T00:00:00Z'),
      'deploy/f@t2.sql': 'create function f() returns int language sql as $$ select 1 $$;',
      'deploy/f.sql': 'create or replace function f() returns int language sql as $$ select 2 $$;',
      'revert/f.sql': 'create or replace function f() returns int language sql as $$ select 1 $$;',
    });
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.sourceFiles.up)).toEqual(['deploy/f@t2.sql', 'deploy/f.sql']);
    expect(r.migrations[0].irreversible).toBe(true);
    expect(r.migrations[1].requires).toEqual([r.migrations[0].id]);
    expect(r.migrations[1].files.down).toContain('select 1');
  });
  test('a rework without a tag since the previous occurrence is refused', () => {
    expect(() =>
      importMigrations('sqitch', {
        'sqitch.plan': head + line('f', '2020-01-01T00:00:00Z') + line('f', '2020-01-04T00:00:00Z'),
        'deploy/f.sql': 'select 1;',
      }),
    ).toThrow(/^sqitch\.plan:4: change f is reworked without a tag/);
  });
});

describe('sqitch.conf layout', () => {
  test('top_dir, plan_file and engine overrides are followed', () => {
    const conf = `[core]
\tengine = pg
\ttop_dir = db   # where everything is
[engine "pg"]
\tdeploy_dir = "db/up"
[engine "mysql"]
\tdeploy_dir = nope
`;
    expect(sqitchLayout(conf)).toEqual({
      plan: 'db/sqitch.plan',
      deploy: 'db/up',
      revert: 'db/revert',
      verify: 'db/verify',
      extension: 'sql',
    });
    const r = importMigrations('sqitch', {
      'sqitch.conf': conf,
      'db/sqitch.plan': '%project=p\na 2020-01-01T00:00:00Z A <a@x>\n',
      'db/up/a.sql': 'create table a (id int);',
      'db/revert/a.sql': 'drop table a;',
      'db/up/stray.sql': 'select 1;',
    });
    expect(r.migrations.map((m) => [m.id, m.sourceFiles.up, m.sourceFiles.down])).toEqual([
      ['20200101000000_a', 'db/up/a.sql', 'db/revert/a.sql'],
    ]);
    expect(r.warnings).toEqual(['db/up/stray.sql: ignored (no change in db/sqitch.plan uses it)']);
  });
  test('defaults without sqitch.conf; absolute paths are refused', () => {
    expect(sqitchLayout(undefined)).toEqual({
      plan: 'sqitch.plan',
      deploy: 'deploy',
      revert: 'revert',
      verify: 'verify',
      extension: 'sql',
    });
    expect(() => sqitchLayout('[core]\ntop_dir = /srv/db\n')).toThrow(
      /^sqitch\.conf: top_dir = \/srv\/db: an absolute path/,
    );
  });
});

describe("sqitch's ordering rule (plan order)", () => {
  test('changes run in plan order, not name order; their planned-at time and the project are kept for adopt', () => {
    const r = importMigrations('sqitch', {
      'sqitch.plan':
        '%syntax-version=1.0.0\n%project=shop\n' +
        'zeta_schema 2020-01-01T00:00:00Z A <a@example.com>\n' +
        'alpha_table [zeta_schema] 2020-01-02T00:00:00Z A <a@example.com>\n',
      'deploy/zeta_schema.sql': 'create schema zeta;',
      'deploy/alpha_table.sql': 'create table zeta.alpha (id int);',
    });
    expectWellFormed(r);
    expect(r.migrations.map((m) => m.source)).toEqual(['zeta_schema', 'alpha_table']);
    expect(r.migrations.map((m) => m.version)).toEqual(['2020-01-01T00:00:00Z', '2020-01-02T00:00:00Z']);
    expect(r.project).toBe('shop');
    expect(r.order).toMatchObject({ differsFromNames: true, moved: 2, rule: expect.stringMatching(/plan/) });
  });
});
