import { analyzeSql, scanStatements } from '@braid/core';

describe('scanStatements', () => {
  test('splits top-level statements, ignoring ; in strings, comments, dollar quotes and atomic bodies', () => {
    const sql = `-- a comment; with semicolon
create table "a;b" (x text default 'it''s; fine');
/* block ; /* nested ; */ still */ insert into t values (E'\\'; x');
create function f() returns int language plpgsql as $body$ begin return 1; end $body$;
create function g() returns int language sql begin atomic select 1; select case when true then 2 end; end;
select $1::int; select 2`;
    const st = scanStatements(sql);
    expect(st.map((s) => s.words.slice(0, 2).join(' '))).toEqual([
      'CREATE TABLE',
      'INSERT INTO',
      'CREATE FUNCTION',
      'CREATE FUNCTION',
      'SELECT INT',
      'SELECT',
    ]);
    expect(sql.slice(st[0].start, st[0].end)).toBe(`create table "a;b" (x text default 'it''s; fine');`);
  });
});

describe('analyzeSql', () => {
  test('recognises a single BEGIN ... COMMIT wrapper', () => {
    const a = analyzeSql('BEGIN;\ncreate table t (id int);\nCOMMIT;\n');
    expect(a.wrapper?.endKind).toBe('commit');
    expect(a.nonTransactional).toHaveLength(0);
  });
  test('two blocks, or BEGIN with options, are not a simple wrapper', () => {
    expect(analyzeSql('begin; select 1; commit; begin; select 2; commit;').wrapper).toBeUndefined();
    expect(analyzeSql('begin isolation level serializable; select 1; commit;').wrapper).toBeUndefined();
    expect(analyzeSql('begin; select 1; commit;').txControl).toHaveLength(2);
  });
  test('PL/pgSQL BEGIN/END inside dollar quotes is not transaction control', () => {
    const a = analyzeSql('do $$ begin perform 1; end $$;');
    expect(a.txControl).toHaveLength(0);
  });
  test('flags statements refused in a transaction block', () => {
    for (const s of [
      'create index concurrently i on t (x)',
      'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (x)',
      'drop index concurrently i',
      'reindex (verbose) index concurrently i',
      'vacuum analyze t',
      'create database x',
      'alter system set work_mem = 1',
      'alter table public.t detach partition public.p concurrently',
    ])
      expect(analyzeSql(s).nonTransactional).toHaveLength(1);
    for (const s of [
      'create index i on t (x)',
      "select 'create index concurrently'",
      'refresh materialized view concurrently v',
    ])
      expect(analyzeSql(s).nonTransactional).toHaveLength(0);
  });
  test('ROLLBACK TO SAVEPOINT is not transaction control', () => {
    expect(analyzeSql('savepoint a; rollback to savepoint a; release a;').txControl).toHaveLength(0);
  });
});
