import { batchability, loadParser } from '@braid/sql';

beforeAll(() => loadParser());

const cond = 'x.id > $1';
const rewrite = (sql: string) => {
  const r = batchability(sql);
  if (!r?.ok) throw new Error(`not batchable: ${r ? r.reason : 'not DML'}`);
  return { ...r.statement, sql: r.statement.withCondition(cond) };
};

describe('batchability', () => {
  test('UPDATE and DELETE: the condition is ANDed to the statement’s own WHERE', () => {
    expect(rewrite('update public.t set a = 1 where a is null or b = 2')).toMatchObject({
      kind: 'update',
      table: { schema: 'public', name: 't' },
      qualifier: 't',
      sql: 'update public.t set a = 1 WHERE (a is null or b = 2) AND x.id > $1',
    });
    expect(rewrite('update t as u set a = (select max(v) from w where w.k = u.k)')).toMatchObject({
      qualifier: 'u',
      sql: 'update t as u set a = (select max(v) from w where w.k = u.k) WHERE x.id > $1',
    });
    expect(rewrite("delete from t using s where t.k = s.k and s.note = 'where ('")).toMatchObject({
      kind: 'delete',
      sql: "delete from t using s WHERE (t.k = s.k and s.note = 'where (') AND x.id > $1",
    });
    expect(
      rewrite('with old as (select k from s where z) update t set a = 1 from old where old.k = t.k').sql,
    ).toBe(
      'with old as (select k from s where z) update t set a = 1 from old WHERE (old.k = t.k) AND x.id > $1',
    );
  });

  test('INSERT … SELECT: batches over the source table, before ON CONFLICT', () => {
    expect(
      rewrite(
        'insert into dst (a, b) select a, b from src s where s.a > 0 on conflict (a) where a > 1 do nothing',
      ),
    ).toMatchObject({
      kind: 'insert-select',
      table: { name: 'src' },
      qualifier: 's',
      sql: 'insert into dst (a, b) select a, b from src s WHERE (s.a > 0) AND x.id > $1 on conflict (a) where a > 1 do nothing',
    });
    expect(rewrite('insert into dst select * from src join o on o.k = src.k').sql).toBe(
      'insert into dst select * from src join o on o.k = src.k WHERE x.id > $1',
    );
  });

  test('statements that run as written, and data statements braid refuses to cut', () => {
    expect(batchability('alter table t add column c int')).toBeUndefined();
    expect(batchability('insert into t values (1)')).toBeUndefined();
    const reason = (sql: string) => {
      const r = batchability(sql);
      return r && !r.ok ? r.reason : r;
    };
    expect(reason('update t set a = 1 returning a')).toBe('a batched UPDATE cannot have RETURNING');
    expect(reason('insert into d select k, count(*) from s group by k')).toBe(
      'a batched INSERT … SELECT cannot have GROUP BY',
    );
    expect(reason('insert into d select 1 union select 2')).toMatch(/UNION/);
    expect(reason('insert into d select * from s limit 10')).toMatch(/LIMIT/);
    expect(reason('insert into d select now()')).toMatch(/must read FROM a table/);
  });
});
