import {
  type SchemaModel,
  type TableDef,
  diffSchemas,
  displayIdent,
  emptyModel,
  generateDdl,
  isWidening,
  qualifiedKey,
  quoteIdent,
  quoteLiteral,
  renderDdl,
  renderDiffText,
} from '@braid/core';

function table(
  schema: string,
  name: string,
  columns: TableDef['columns'],
  extra: Partial<TableDef> = {},
): TableDef {
  return {
    schema,
    name,
    kind: 'table',
    unlogged: false,
    partitionKey: null,
    partitionOf: null,
    inherits: [],
    columns,
    constraints: {},
    rowSecurity: false,
    forceRowSecurity: false,
    comment: null,
    grants: [],
    ...extra,
  };
}
const col = (type: string, notNull = false, def: string | null = null) => ({
  type,
  notNull,
  default: def,
  identity: null,
  generated: null,
  collation: null,
  comment: null,
});

function model(tables: TableDef[]): SchemaModel {
  const m = emptyModel();
  for (const t of tables) m.tables[qualifiedKey(t.schema, t.name)] = t;
  return m;
}

describe('quoting', () => {
  it('quote_ident semantics for keys, always-quoted for SQL', () => {
    expect(displayIdent('users')).toBe('users');
    expect(displayIdent('Users')).toBe('"Users"');
    expect(displayIdent('select')).toBe('"select"');
    expect(displayIdent('a b')).toBe('"a b"');
    expect(displayIdent('x"y')).toBe('"x""y"');
    expect(quoteIdent('users')).toBe('"users"');
    expect(qualifiedKey('My Schema', 't')).toBe('"My Schema".t');
  });
  it('escapes literals', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral('a\\b')).toBe("E'a\\\\b'");
  });
});

describe('object diff', () => {
  it('column order is not a difference', () => {
    const a = model([table('public', 'users', { id: col('integer'), email: col('text') })]);
    const b = model([table('public', 'users', { email: col('text'), id: col('integer') })]);
    expect(diffSchemas(a, b).changes).toEqual([]);
  });

  it('reports field-level detail and renders it as text', () => {
    const a = model([table('public', 'users', { id: col('integer'), email: col('text') })]);
    const b = model([
      table('public', 'users', { id: col('integer'), email: col('citext', true) }),
      table('public', 'Posts', { id: col('integer') }),
    ]);
    const d = diffSchemas(a, b);
    expect(d.changes.map((c) => [c.action, c.key])).toEqual([
      ['added', 'public."Posts"'],
      ['changed', 'public.users'],
    ]);
    expect(d.changes[1]?.fields).toEqual([
      { path: 'columns.email.notNull', from: false, to: true },
      { path: 'columns.email.type', from: 'text', to: 'citext' },
    ]);
    expect(renderDiffText(d)).toEqual([
      '+ table public."Posts"',
      '~ table public.users',
      '    column email: notNull false → true; type text → citext',
    ]);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });

  it('shows the changed lines of a definition', () => {
    const fn = (body: string) => ({
      schema: 'public',
      name: 'f',
      kind: 'function' as const,
      identityArgs: '',
      returns: 'integer',
      definition: `CREATE OR REPLACE FUNCTION public.f()\n RETURNS integer\nAS $$ ${body} $$\n`,
      comment: null,
      grants: [],
    });
    const a = emptyModel();
    a.functions['public.f()'] = fn('select 1');
    const b = emptyModel();
    b.functions['public.f()'] = fn('select 2');
    expect(renderDiffText(diffSchemas(a, b))).toEqual([
      '~ function public.f()',
      '    definition changed:\n        - AS $$ select 1 $$\n        + AS $$ select 2 $$',
    ]);
  });

  it('is deterministic whatever the insertion order', () => {
    const t1 = table('public', 'a', { x: col('int') });
    const t2 = table('public', 'b', { x: col('int') });
    expect(diffSchemas(emptyModel(), model([t1, t2]))).toEqual(diffSchemas(emptyModel(), model([t2, t1])));
  });
});

describe('SQL generation (pure)', () => {
  it('knows widening from narrowing', () => {
    expect(isWidening('integer', 'bigint')).toBe(true);
    expect(isWidening('bigint', 'integer')).toBe(false);
    expect(isWidening('character varying(20)', 'character varying(40)')).toBe(true);
    expect(isWidening('character varying(40)', 'character varying(20)')).toBe(false);
    expect(isWidening('character varying(40)', 'text')).toBe(true);
    expect(isWidening('text', 'integer')).toBe(false);
    expect(isWidening('numeric(10,2)', 'numeric(12,2)')).toBe(true);
  });

  it('flags destructive statements and quotes hostile names', () => {
    const a = model([table('My "S"', 'T t', { 'Col"1': col('bigint'), gone: col('text') })]);
    const b = model([table('My "S"', 'T t', { 'Col"1': col('integer') })]);
    const stmts = generateDdl(a, b);
    expect(stmts.map((s) => [s.sql, s.destructive])).toEqual([
      ['ALTER TABLE "My ""S"""."T t" DROP COLUMN "gone"', true],
      ['ALTER TABLE "My ""S"""."T t" ALTER COLUMN "Col""1" TYPE integer USING "Col""1"::integer', true],
    ]);
    expect(renderDdl(stmts)).toContain('-- braid:destructive drops column "My ""S"""."T t".gone\n');
  });

  it('creates parents before partitions and drops them the other way round', () => {
    const parent = table(
      'public',
      'ev',
      { at: col('date', true) },
      { kind: 'partitioned', partitionKey: 'RANGE (at)' },
    );
    const part = table(
      'public',
      'ev_1',
      {},
      {
        partitionOf: { parent: 'public.ev', bound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')" },
      },
    );
    const fwd = generateDdl(emptyModel(), model([part, parent])).map((s) => s.sql);
    expect(fwd).toEqual([
      'CREATE TABLE "public"."ev" ("at" date NOT NULL) PARTITION BY RANGE (at)',
      `CREATE TABLE "public"."ev_1" PARTITION OF "public"."ev" FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`,
    ]);
    // Dropping the parent takes the partition with it.
    expect(generateDdl(model([part, parent]), emptyModel()).map((s) => s.sql)).toEqual([
      'DROP TABLE "public"."ev"',
    ]);
  });

  it('generates nothing between equal models', () => {
    const m = model([table('public', 'a', { x: col('int', true, '1') })]);
    expect(generateDdl(m, structuredClone(m))).toEqual([]);
    expect(renderDdl([])).toBe('');
  });
});
