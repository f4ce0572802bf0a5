/**
 * Function signatures in footprints (overloads are different objects) and PL/pgSQL bodies whose
 * RETURN takes an expression (the body is parsed with the function's own result and parameters).
 */
import { footprint, loadParser, parseSql, qname, type Footprint } from '@braid/sql';

function fp(sql: string, searchPath?: string[]): Footprint {
  const r = parseSql(sql);
  if (!r.ok) throw new Error(r.message);
  return footprint(r.stmts[0].stmt, searchPath ? { searchPath } : {});
}
const names = (refs: Array<{ kind: string; schema?: string; name: string; args?: string[] }>) =>
  refs.map((r) => `${r.kind} ${qname(r as never)}`);
const alters = (f: Footprint) => f.alters.map((x) => `${x.object.kind} ${qname(x.object)} ${x.action}`);

beforeAll(async () => {
  await loadParser();
});

describe('function signatures', () => {
  test.each<[string, Partial<Record<'creates' | 'drops' | 'reads' | 'alters' | 'renames', string[]>>]>([
    [
      "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'select 1'",
      { creates: ['function public.f(integer)'] },
    ],
    [
      "CREATE FUNCTION f(integer) RETURNS int LANGUAGE sql AS 'select 1'",
      { creates: ['function public.f(integer)'] },
    ],
    [
      "CREATE FUNCTION f(int4) RETURNS int LANGUAGE sql AS 'select 1'",
      { creates: ['function public.f(integer)'] },
    ],
    [
      "CREATE FUNCTION f(a text) RETURNS int LANGUAGE sql AS 'select 1'",
      { creates: ['function public.f(text)'] },
    ],
    [
      "CREATE FUNCTION s.f(a int, OUT b text, INOUT c bigint, VARIADIC d int[]) LANGUAGE sql AS 'select 1'",
      { creates: ['function s.f(integer, bigint, integer[])'] },
    ],
    [
      "CREATE FUNCTION f(x varchar(10), y character varying, z numeric(10,2), t timestamptz, u timestamp with time zone) RETURNS int LANGUAGE sql AS 'select 1'",
      {
        creates: [
          'function public.f(character varying, character varying, numeric, timestamp with time zone, timestamp with time zone)',
        ],
      },
    ],
    [
      'CREATE FUNCTION f(a double precision, b float8, c bool, d int2, e char(3), f "char") RETURNS int LANGUAGE sql AS \'select 1\'',
      {
        creates: [
          'function public.f(double precision, double precision, boolean, smallint, character, "char")',
        ],
      },
    ],
    [
      'CREATE FUNCTION f(a pg_catalog."char", b character(2), c bpchar) RETURNS int LANGUAGE sql AS \'select 1\'',
      { creates: ['function public.f("char", character, character)'] },
    ],
    [
      "CREATE FUNCTION f(m public.mood, n mood) RETURNS int LANGUAGE sql AS 'select 1'",
      { creates: ['function public.f(mood, mood)'] },
    ],
    [
      "CREATE FUNCTION f(a int) RETURNS TABLE (x int, y text) LANGUAGE sql AS 'select 1, 2'",
      { creates: ['function public.f(integer)'] },
    ],
    ["CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", { creates: ['function public.f()'] }],
    // %TYPE cannot be resolved without the catalog: unknown signature (matches every overload).
    [
      "CREATE FUNCTION f(a t.c%TYPE) RETURNS int LANGUAGE sql AS 'select 1'",
      { creates: ['function public.f'] },
    ],
    [
      "CREATE PROCEDURE p(a int, OUT b text) LANGUAGE sql AS 'select 1'",
      { creates: ['procedure public.p(integer)'] },
    ],
    ['DROP FUNCTION f(int)', { drops: ['function public.f(integer)'] }],
    ['DROP FUNCTION f(a integer, OUT b text)', { drops: ['function public.f(integer)'] }],
    ['DROP FUNCTION f()', { drops: ['function public.f()'] }],
    // No parentheses: whichever overload exists (any).
    ['DROP FUNCTION f', { drops: ['function public.f'] }],
    [
      'DROP FUNCTION IF EXISTS f(text), app.g(int[])',
      { drops: ['function public.f(text)', 'function app.g(integer[])'] },
    ],
    ['DROP PROCEDURE p(int)', { drops: ['procedure public.p(integer)'] }],
    ['DROP AGGREGATE agg(int, text)', { drops: ['function public.agg(integer, text)'] }],
    ['ALTER FUNCTION f(int) SET search_path = app', { alters: ['function public.f(integer) alter'] }],
    ['ALTER FUNCTION f(int) OWNER TO bob', { alters: ['function public.f(integer) owner'] }],
    ["COMMENT ON FUNCTION f(int) IS 'x'", { alters: ['function public.f(integer) comment'] }],
    [
      'GRANT EXECUTE ON FUNCTION f(int), g(text) TO bob',
      { alters: ['function public.f(integer) grant', 'function public.g(text) grant'] },
    ],
    ['REVOKE EXECUTE ON FUNCTION f(bigint) FROM bob', { alters: ['function public.f(bigint) revoke'] }],
    [
      'ALTER FUNCTION f(int) RENAME TO g',
      { renames: ['function public.f(integer) -> function public.g(integer)'] },
    ],
    [
      'ALTER FUNCTION f(int) SET SCHEMA app',
      { renames: ['function public.f(integer) -> function app.f(integer)'] },
    ],
    [
      'CREATE AGGREGATE agg(int, text) (sfunc = agg_step, stype = int)',
      { creates: ['function public.agg(integer, text)'], reads: ['function public.agg_step'] },
    ],
    ['CREATE AGGREGATE cnt(*) (sfunc = s, stype = int)', { creates: ['function public.cnt()'] }],
    [
      'CREATE AGGREGATE old (basetype = int, sfunc = s, stype = int)',
      { creates: ['function public.old(integer)'] },
    ],
    // A call cannot know the overload: name-only reads (match any overload).
    ['CREATE VIEW v AS SELECT app.f(1)', { reads: ['function app.f'] }],
    [
      'CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION app.trg_fn()',
      { reads: ['function app.trg_fn'] },
    ],
  ])('%s', (sql, expected) => {
    const f = fp(sql);
    if (expected.creates) expect(names(f.creates)).toEqual(expected.creates);
    if (expected.drops) expect(names(f.drops)).toEqual(expected.drops);
    if (expected.reads) expect(names(f.reads)).toEqual(expected.reads);
    if (expected.alters) expect(alters(f)).toEqual(expected.alters);
    if (expected.renames)
      expect(f.renames.map((r) => `${r.from.kind} ${qname(r.from)} -> ${r.to.kind} ${qname(r.to)}`)).toEqual(
        expected.renames,
      );
  });

  test('an unknown signature is marked: args undefined (any overload), unlike f() (no arguments)', () => {
    expect(fp('DROP FUNCTION f').drops[0]?.args).toBeUndefined();
    expect(fp('DROP FUNCTION f()').drops[0]?.args).toEqual([]);
  });

  test('the search_path qualifies the function, not its argument types', () => {
    expect(
      names(fp("CREATE FUNCTION f(app.mood) RETURNS int LANGUAGE sql AS 'select 1'", ['app']).creates),
    ).toEqual(['function app.f(mood)']);
  });
});

describe('PL/pgSQL bodies are parsed with the function header', () => {
  const plpgsql = (ret: string, body: string, params = '') =>
    fp(`CREATE FUNCTION f(${params}) ${ret} LANGUAGE plpgsql AS $$ ${body} $$`);

  test.each<[string, string, string, string[]]>([
    ['RETURNS int', 'BEGIN RETURN (SELECT count(*) FROM t); END', '', ['table public.t']],
    ['RETURNS bigint', 'BEGIN RETURN (SELECT max(id) FROM app.items) + 1; END', '', ['table app.items']],
    [
      'RETURNS boolean',
      'BEGIN RETURN EXISTS (SELECT 1 FROM t WHERE a = x); END',
      'x int',
      ['table public.t'],
    ],
    [
      'RETURNS SETOF int',
      'BEGIN RETURN QUERY SELECT id FROM t; RETURN NEXT (SELECT 1 FROM u); END',
      '',
      ['table public.t', 'table public.u'],
    ],
    ['RETURNS TABLE (id int)', 'BEGIN RETURN QUERY SELECT t.id FROM t; END', '', ['table public.t']],
    [
      'RETURNS trigger',
      'BEGIN INSERT INTO audit VALUES (new.id); RETURN new; END',
      '',
      ['table public.audit'],
    ],
    ['', 'BEGIN total := (SELECT sum(n) FROM t); RETURN; END', 'OUT total bigint', ['table public.t']],
    ['RETURNS public.mood', 'BEGIN RETURN (SELECT m FROM t LIMIT 1); END', '', ['table public.t']],
    ['RETURNS public.mood[]', 'BEGIN RETURN ARRAY(SELECT m FROM t); END', '', ['table public.t']],
    [
      'RETURNS int',
      'DECLARE n int; BEGIN n := x + 1; RETURN (SELECT n FROM t); END',
      'x int',
      ['table public.t'],
    ],
    ['RETURNS void', 'BEGIN DELETE FROM t; RETURN; END', '', ['table public.t']],
  ])('%s %s', (ret, body, params, reads) => {
    const f = plpgsql(ret, body, params);
    expect(f.incomplete).toBe(false);
    expect(f.notes.filter((n) => /does not parse/.test(n))).toEqual([]);
    expect(names(f.reads)).toEqual(reads);
  });

  test('procedures: a body with RETURN and INOUT parameters', () => {
    const f = fp(
      'CREATE PROCEDURE p(INOUT n int) LANGUAGE plpgsql AS $$ BEGIN n := (SELECT count(*) FROM t); RETURN; END $$',
    );
    expect(f.incomplete).toBe(false);
    expect(names(f.reads)).toEqual(['table public.t']);
  });

  test('a body that really does not parse is still incomplete', () => {
    const f = plpgsql('RETURNS int', 'BEGIN RETURN (SELECT FROM WHERE; END');
    expect(f.incomplete).toBe(true);
  });

  test('dynamic SQL is still incomplete', () => {
    const f = plpgsql('RETURNS int', "BEGIN EXECUTE 'select 1'; RETURN 1; END");
    expect(f.incomplete).toBe(true);
  });
});
