import { footprint, loadParser, parseSql, qname, searchPathAfter, type Footprint } from '@braid/sql';

function fp(sql: string, searchPath?: string[]): Footprint {
  const r = parseSql(sql);
  if (!r.ok) throw new Error(r.message);
  return footprint(r.stmts[0].stmt, searchPath ? { searchPath } : {});
}
const names = (refs: Array<{ kind: string; schema?: string; name: string; table?: string }>) =>
  refs.map((r) => `${r.kind} ${qname(r as never)}`);
const alters = (f: Footprint) =>
  f.alters.map((x) =>
    `${qname(x.object)} ${x.action} ${x.sub ? `${x.sub.kind}${x.sub.name ? ' ' + x.sub.name : ''}` : ''}`.trim(),
  );

beforeAll(async () => {
  await loadParser();
});

describe('footprint', () => {
  test.each<
    [string, Partial<Record<'creates' | 'drops' | 'reads' | 'writes' | 'alters' | 'renames', string[]>>]
  >([
    [
      'CREATE TABLE t (id int PRIMARY KEY, u int REFERENCES users(id))',
      { creates: ['table public.t'], reads: ['table public.users'] },
    ],
    ['CREATE TABLE app.t (LIKE base.tpl)', { creates: ['table app.t'], reads: ['table base.tpl'] }],
    [
      'CREATE VIEW v AS SELECT * FROM a JOIN s.b ON true',
      { creates: ['view public.v'], reads: ['table public.a', 'table s.b'] },
    ],
    [
      'CREATE MATERIALIZED VIEW mv AS WITH c AS (SELECT 1 FROM x) SELECT * FROM c',
      { creates: ['materialized view public.mv'], reads: ['table public.x'] },
    ],
    [
      'CREATE INDEX CONCURRENTLY i ON t (a)',
      { creates: ['index public.i'], alters: ['public.t add index i'] },
    ],
    [
      'ALTER TABLE t ADD COLUMN c text, DROP COLUMN d, ALTER COLUMN e TYPE bigint',
      { alters: ['public.t add column c', 'public.t drop column d', 'public.t type column e'] },
    ],
    ['ALTER TABLE t ALTER COLUMN c SET DEFAULT 1', { alters: ['public.t set default default c'] }],
    ['ALTER TABLE t ALTER COLUMN c SET NOT NULL', { alters: ['public.t set not null column c'] }],
    [
      'ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES o.users (id) NOT VALID',
      { alters: ['public.t add constraint fk'], reads: ['table o.users'] },
    ],
    ['ALTER TABLE t VALIDATE CONSTRAINT fk', { alters: ['public.t validate constraint fk'] }],
    ['ALTER TABLE t DROP CONSTRAINT fk', { alters: ['public.t drop constraint fk'] }],
    ["ALTER TYPE mood ADD VALUE 'meh'", { alters: ['public.mood add value enum value meh'] }],
    ["ALTER TYPE s.mood RENAME VALUE 'a' TO 'b'", { alters: ['s.mood rename value enum value a'] }],
    ['ALTER TABLE t RENAME COLUMN a TO b', { renames: ['column public.t.a -> column public.t.b'] }],
    ['ALTER TABLE s.t RENAME TO u', { renames: ['table s.t -> table s.u'] }],
    ['ALTER INDEX i RENAME TO j', { renames: ['index public.i -> index public.j'] }],
    [
      'ALTER TABLE t RENAME CONSTRAINT a TO b',
      { renames: ['constraint public.t.a -> constraint public.t.b'] },
    ],
    ['ALTER TABLE t SET SCHEMA archive', { renames: ['table public.t -> table archive.t'] }],
    ['DROP TABLE a, s.b CASCADE', { drops: ['table public.a', 'table s.b'] }],
    ['DROP INDEX CONCURRENTLY IF EXISTS i', { drops: ['index public.i'] }],
    ['DROP SCHEMA old CASCADE', { drops: ['schema old'] }],
    ['DROP FUNCTION f(int)', { drops: ['function public.f(integer)'] }],
    ['DROP TYPE mood', { drops: ['type public.mood'] }],
    ['DROP TRIGGER trg ON s.t', { drops: ['trigger s.t.trg'], alters: ['s.t drop trigger trg'] }],
    ["CREATE TYPE mood AS ENUM ('a')", { creates: ['type public.mood'] }],
    ['CREATE SEQUENCE s.seq', { creates: ['sequence s.seq'] }],
    ['CREATE SCHEMA app', { creates: ['schema app'] }],
    ['CREATE EXTENSION pgcrypto', { creates: ['extension pgcrypto'] }],
    [
      'CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()',
      { creates: ['trigger public.t.trg'], reads: ['function public.f'] },
    ],
    [
      'INSERT INTO t (a) SELECT a FROM u',
      { writes: ['table public.t'], reads: ['table public.t', 'table public.u'] },
    ],
    ['UPDATE t SET a = 1 WHERE id IN (SELECT id FROM u)', { writes: ['table public.t'] }],
    ['DELETE FROM s.t', { writes: ['table s.t'], reads: ['table s.t'] }],
    ['TRUNCATE t', { writes: ['table public.t'] }],
    [
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT count(*) FROM accounts $$',
      { creates: ['function public.f()'], reads: ['table public.accounts'] },
    ],
    [
      'CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $$ BEGIN UPDATE ledger SET x = 1 WHERE false; END $$',
      { creates: ['function public.g()'], reads: ['table public.ledger'] },
    ],
  ])('%s', (sql, expected) => {
    const f = fp(sql);
    if (expected.creates) expect(names(f.creates)).toEqual(expected.creates);
    if (expected.drops) expect(names(f.drops)).toEqual(expected.drops);
    if (expected.reads) expect(names(f.reads)).toEqual(expected.reads);
    if (expected.writes) expect(names(f.writes)).toEqual(expected.writes);
    if (expected.alters) expect(alters(f)).toEqual(expected.alters);
    if (expected.renames)
      expect(f.renames.map((r) => `${r.from.kind} ${qname(r.from)} -> ${r.to.kind} ${qname(r.to)}`)).toEqual(
        expected.renames,
      );
    expect(f.incomplete).toBe(false);
  });

  test('search_path qualifies unqualified names', () => {
    const r = parseSql('SET search_path TO app, public; CREATE TABLE t (id int); SET search_path = DEFAULT');
    if (!r.ok) throw new Error('parse');
    let path = ['public'];
    path = searchPathAfter(r.stmts[0].stmt, path);
    expect(path).toEqual(['app', 'public']);
    expect(names(footprint(r.stmts[1].stmt, { searchPath: path }).creates)).toEqual(['table app.t']);
    expect(searchPathAfter(r.stmts[2].stmt, path)).toEqual(['$user', 'public']);
    expect(names(fp('CREATE TABLE t (id int)', ['$user', 'x']).creates)).toEqual(['table x.t']);
  });

  test('bodies that cannot be analysed make the footprint incomplete', () => {
    expect(fp("CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS 'return 1'").incomplete).toBe(true);
    const dyn = fp("DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'x'; END $$");
    expect(dyn.incomplete).toBe(true);
    expect(dyn.notes.join()).toMatch(/dynamic SQL/);
    const bad = fp('CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELEC 1 $$');
    expect(bad.incomplete).toBe(true);
  });

  test('a DO block does what its statements do', () => {
    const f = fp('DO $$ BEGIN ALTER TABLE t ADD COLUMN c int; DROP TABLE old; END $$');
    expect(alters(f)).toEqual(['public.t add column c']);
    expect(names(f.drops)).toEqual(['table public.old']);
    expect(f.incomplete).toBe(false);
  });
});
