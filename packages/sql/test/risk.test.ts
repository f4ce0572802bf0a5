import { analyzeFile, backupTargets, dataAtRisk, loadParser, mayPutDataAtRisk } from '@braid/sql';

beforeAll(() => loadParser());

const risks = (sql: string) => dataAtRisk(analyzeFile('up.sql', sql).statements);
const strip = (sql: string) => risks(sql).map(({ line: _l, statement: _s, ...r }) => r);

describe('dataAtRisk', () => {
  test('DROP TABLE, qualified or by the search_path; views and indexes are not data', () => {
    expect(
      strip('drop table users; drop table if exists app.logs, t2 cascade; drop view v; drop index i;'),
    ).toEqual([
      { kind: 'drop-table', table: { schema: 'public', name: 'users' }, dml: false },
      { kind: 'drop-table', table: { schema: 'app', name: 'logs' }, dml: false },
      { kind: 'drop-table', table: { schema: 'public', name: 't2' }, dml: false },
    ]);
    expect(strip('set search_path = app, public; drop table users;')[0].table).toEqual({
      schema: 'app',
      name: 'users',
    });
  });

  test('DROP COLUMN and ALTER COLUMN TYPE, several per statement; other ALTERs are not at risk', () => {
    expect(
      strip(
        'alter table crates drop column downloads, drop column if exists readme, alter column name type varchar(10), add column x int, alter column y set not null;',
      ),
    ).toEqual([
      {
        kind: 'drop-column',
        table: { schema: 'public', name: 'crates' },
        columns: ['downloads', 'readme'],
        dml: false,
      },
      { kind: 'retype-column', table: { schema: 'public', name: 'crates' }, columns: ['name'], dml: false },
    ]);
    expect(strip('alter table t alter column a type text, drop column a;')).toEqual([
      { kind: 'drop-column', table: { schema: 'public', name: 't' }, columns: ['a'], dml: false },
    ]);
    expect(strip('alter table t add column a int; alter table t rename column a to b;')).toEqual([]);
  });

  test('TRUNCATE: every table, CASCADE noted', () => {
    const r = strip('truncate a, s.b cascade;');
    expect(r.map((x) => x.table)).toEqual([
      { schema: 'public', name: 'a' },
      { schema: 's', name: 'b' },
    ]);
    expect(r[0].note).toMatch(/CASCADE/);
    // the referencing tables are not in the file: flagged for the catalog lookup at backup time
    expect(r.map((x) => x.cascade)).toEqual([true, true]);
    expect(strip('truncate a;')[0].cascade).toBeUndefined();
    const [target] = backupTargets(risks('truncate a cascade; truncate a;'), 'destructive');
    expect(target).toMatchObject({
      scope: 'table',
      cascade: true,
      reasons: ['truncate cascade (line 1)', 'truncate (line 1)'],
    });
  });

  test('UPDATE and DELETE: their own WHERE (with alias), RETURNING cut off; DML is flagged', () => {
    expect(strip("update users u set email = lower(email), name = 'x' where u.id < 10 returning id")).toEqual(
      [
        {
          kind: 'update',
          table: { schema: 'public', name: 'users' },
          columns: ['email', 'name'],
          dml: true,
          where: 'u.id < 10',
          qualifier: 'u',
        },
      ],
    );
    expect(strip("delete from logs where at < now() - interval '1 day'")).toEqual([
      {
        kind: 'delete',
        table: { schema: 'public', name: 'logs' },
        dml: true,
        where: "at < now() - interval '1 day'",
        qualifier: 'logs',
      },
    ]);
    expect(strip('delete from logs')[0]).toEqual({
      kind: 'delete',
      table: { schema: 'public', name: 'logs' },
      dml: true,
    });
  });

  test('a WHERE that cannot be evaluated beforehand means every row', () => {
    const all = (sql: string) => {
      const r = risks(sql);
      const last = r[r.length - 1];
      expect(last.where).toBeUndefined();
      return last.note;
    };
    expect(all('delete from t using s where t.k = s.k')).toMatch(/USING: every row/);
    expect(all('update t set a = 1 from s where t.k = s.k')).toMatch(/FROM: every row/);
    expect(all('with x as (select 1) delete from t where k in (select * from x)')).toMatch(/WITH/);
    expect(all('update t set a = 1; update t set b = 2 where a = 1')).toMatch(/earlier statement/);
    expect(all('update s set z = 1; delete from t where k in (select k from s where z = 1)')).toMatch(
      /reads public.s/,
    );
    expect(all('merge into t using s on t.k = s.k when matched then delete')).toMatch(/MERGE/);
  });

  test('tables created by the file itself hold no earlier data', () => {
    expect(
      strip('create table t (a int); insert into t values (1); alter table t drop column a; drop table t;'),
    ).toEqual([]);
    expect(strip('create table app.t as select 1 as a; truncate app.t;')).toEqual([]);
  });

  test('DROP SCHEMA … CASCADE: every table of the schema; without CASCADE nothing', () => {
    expect(strip('drop schema app cascade; drop schema other;')).toEqual([
      {
        kind: 'drop-schema',
        table: { schema: 'app', name: '*' },
        dml: false,
        note: 'DROP SCHEMA app CASCADE: every table of the schema',
      },
    ]);
  });

  test('line and statement index', () => {
    const r = risks('select 1;\n\nalter table t\n  drop column c;');
    expect(r[0]).toMatchObject({ line: 3, statement: 1 });
  });
});

describe('backupTargets', () => {
  const t = (sql: string, policy: 'off' | 'destructive' | 'all' = 'all') => backupTargets(risks(sql), policy);

  test('off: nothing; destructive: no DML; all: DML too', () => {
    const sql = 'alter table a drop column x; delete from b where id = 1;';
    expect(t(sql, 'off')).toEqual([]);
    expect(t(sql, 'destructive').map((x) => x.table.name)).toEqual(['a']);
    expect(t(sql, 'all').map((x) => [x.table.name, x.scope])).toEqual([
      ['a', 'columns'],
      ['b', 'rows'],
    ]);
  });

  test('one target per table: columns merge, row conditions OR, mixed scopes copy the whole table', () => {
    expect(
      t('alter table a drop column x; alter table a alter column y type text; alter table a drop column z;'),
    ).toEqual([
      {
        table: { schema: 'public', name: 'a' },
        scope: 'columns',
        columns: ['x', 'y', 'z'],
        reasons: ['drop-column x (line 1)', 'retype-column y (line 1)', 'drop-column z (line 1)'],
      },
    ]);
    const rows = t('delete from b where id = 1; delete from c where k = 2; delete from b where id = 3;');
    expect(rows.find((x) => x.table.name === 'c')).toMatchObject({
      scope: 'rows',
      where: ['k = 2'],
      qualifier: 'c',
    });
    // the second DELETE of b follows a statement that changed b: every row
    expect(rows.find((x) => x.table.name === 'b')?.scope).toBe('table');
    expect(t('alter table a drop column x; truncate a;')[0]).toEqual({
      table: { schema: 'public', name: 'a' },
      scope: 'table',
      reasons: ['drop-column x (line 1)', 'truncate (line 1)'],
    });
    expect(t('drop table a; alter table b drop column c; drop table b;').map((x) => x.scope)).toEqual([
      'table',
      'table',
    ]);
  });

  test('two row conditions on a table not touched in between are ORed', () => {
    const r = t('update b set x = 1 where id = 1; select 1; update c set y = 2 where b_id = 2;');
    expect(r.map((x) => x.where)).toEqual([['id = 1'], ['b_id = 2']]);
  });
});

describe('mayPutDataAtRisk (lets a backup skip the parser)', () => {
  const risky = [
    'DROP TABLE users;',
    'alter table t drop column c;',
    'Alter Table t Alter Column c Type bigint;',
    'truncate a cascade;',
    'update t set a = 1 where b;',
    'delete from t;',
    'merge into t using s on t.id = s.id when matched then delete;',
    'drop schema app cascade;',
    '/* x */ UPDATE "T" SET a = 1;',
  ];
  const safe = [
    'create table t (id int primary key);',
    'create index concurrently i on t (a);',
    "insert into t values (1, 'a');",
    'comment on table t is $$x$$;',
  ];
  test('true for every statement dataAtRisk reports, false for ones that only create or add', () => {
    for (const sql of risky) {
      expect(risks(sql).length).toBeGreaterThan(0);
      expect(mayPutDataAtRisk(sql)).toBe(true);
    }
    for (const sql of safe) {
      expect(risks(sql)).toEqual([]);
      expect(mayPutDataAtRisk(sql)).toBe(false);
    }
  });
});
