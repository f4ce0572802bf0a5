// The footprints come from the real analyser (@braid/sql) so that these tests exercise the
// verdict on what braid actually sees; core itself stays free of the parser.
import { analyzeFile, loadParser } from '@braid/sql';
import {
  decideVerdict,
  findCollisions,
  overlappingChanges,
  describeColumns,
  refineOverloads,
  touchesOf,
  type Collision,
  type SideSummary,
  type Touch,
} from '../src/verdict';
import type { SchemaDiff } from '../src/schema/diff';

beforeAll(async () => {
  await loadParser();
});

function touches(id: string, sql: string): Touch[] {
  const f = analyzeFile(`${id}/up.sql`, sql);
  return f.statements.flatMap((s) => touchesOf({ id, line: s.line, footprint: s.footprint }));
}

function side(id: string, sql: string, extra: Partial<SideSummary> = {}): SideSummary {
  return { added: [id], edited: [], removed: [], touches: touches(id, sql), incomplete: [], ...extra };
}

function collide(ours: string, theirs: string) {
  return findCollisions(touches('o', ours), touches('t', theirs)).filter((c) => c.severity === 'conflict');
}

describe('static collisions', () => {
  test.each([
    ['new tables on each side', 'create table a (id int);', 'create table b (id int);'],
    [
      'different columns of one table',
      'alter table users add column a text;',
      'alter table users add column b text;',
    ],
    [
      'index plus column',
      'alter table users add column a text;',
      'create index users_email on users (email);',
    ],
    [
      'function plus view',
      'create function f() returns int language sql as $$ select 1 $$;',
      'create view v as select id from orders;',
    ],
    ['seed plus DDL elsewhere', "insert into roles values ('admin');", 'create table audit (id int);'],
    [
      'same table name in two schemas',
      'create table app.users (id int);',
      'create table billing.users (id int);',
    ],
    ['inserts into one table', 'insert into roles values (1);', 'insert into roles values (2);'],
    [
      'function overloads (different signatures are different functions)',
      'create function f(a int) returns int language sql as $$ select a $$;',
      'create function f(a text) returns text language sql as $$ select a $$;',
    ],
    [
      'an overload vs a change of another overload',
      'create function app.f(a int, b int) returns int language sql as $$ select a $$;',
      'alter function app.f(int) owner to bob;',
    ],
  ])('%s: no blocking collision', (_n, o, t) => {
    expect(collide(o, t)).toEqual([]);
  });

  test.each([
    [
      'same column added with different types',
      'alter table users add column nickname text;',
      'alter table users add column nickname int;',
      /column public\.users\.nickname added on both sides \(ours o\/up\.sql:1; theirs t\/up\.sql:1\)/,
    ],
    [
      'rename vs use',
      'alter table users rename column name to full_name;',
      'create view v as select name from users;',
      /column public\.users\.name .*renamed.* by ours .*while theirs uses table public\.users \(t\/up\.sql:1\)/,
    ],
    [
      'drop vs reference',
      'drop table legacy_audit;',
      'create function f() returns bigint language sql as $$ select count(*) from legacy_audit $$;',
      /table public\.legacy_audit dropped by ours \(o\/up\.sql:1\), used by theirs's t\/up\.sql:1/,
    ],
    [
      'same table name',
      'create table t (id int);',
      'create table t (id int);',
      /table public\.t added on both sides/,
    ],
    [
      'enum values added on both sides',
      "alter type mood add value 'x';",
      "alter type mood add value 'y';",
      /type public\.mood changed on both sides/,
    ],
    [
      'default changed on both sides',
      'alter table users alter column age set default 1;',
      'alter table users alter column age set default 2;',
      /column public\.users\.age changed on both sides/,
    ],
    [
      'function body changed on both sides',
      'create or replace function f() returns int language sql as $$ select 1 $$;',
      'create or replace function f() returns int language sql as $$ select 2 $$;',
      /function public\.f\(\) added on both sides/,
    ],
    [
      'NOT NULL vs insert',
      'alter table users alter column name set not null;',
      'insert into users (id) values (1);',
      /column public\.users\.name changed \(set not null\) by ours .*while theirs uses table public\.users/,
    ],
    [
      'column type change vs view',
      'alter table users alter column age type bigint;',
      'create view adults as select * from users where age > 17;',
      /column public\.users\.age/,
    ],
    [
      'the same overload spelled differently (int vs integer, OUT arguments ignored)',
      'create function f(a int) returns int language sql as $$ select a $$;',
      'create function f(x integer, out y text) language sql as $$ select 1 $$;',
      /function public\.f\(integer\) added on both sides/,
    ],
    [
      'DROP FUNCTION without arguments vs a new overload (any overload)',
      'drop function f;',
      'create function f(a text) returns text language sql as $$ select a $$;',
      /function public\.f\(text\) changed on both sides: ours dropped/,
    ],
    [
      'a call (name only) vs a new overload',
      'create view v as select app.f(1) as x;',
      'create function app.f(a text) returns text language sql as $$ select a $$;',
      /function app\.f\(text\) added by theirs .*used by ours/,
    ],
    [
      'an overload dropped vs the same overload altered',
      'drop function f(int);',
      'alter function f(integer) rename to g;',
      /function public\.f\(integer\)/,
    ],
  ])('%s: conflict naming the object', (_n, o, t, re) => {
    const c = collide(o, t);
    expect(c.length).toBeGreaterThan(0);
    expect(c.map((x) => x.reason).join('\n')).toMatch(re);
    // symmetric: swapping the sides still conflicts
    expect(collide(t, o).length).toBeGreaterThan(0);
  });

  test('a statement location is <id>/up.sql:LINE', () => {
    const ts = touches('20260101000000_x', '-- c\n\ncreate table a (id int);');
    expect(ts[0].at).toBe('20260101000000_x/up.sql:3');
  });
});

describe('overlappingChanges (object diffs)', () => {
  const d = (...changes: SchemaDiff['changes']): SchemaDiff => ({ changes });
  test('different columns of one table do not overlap; the same column does', () => {
    const colA = {
      collection: 'tables' as const,
      kind: 'table',
      key: 'public.users',
      action: 'changed' as const,
      fields: [{ path: 'columns.a', from: null, to: {} }],
    };
    const colB = { ...colA, fields: [{ path: 'columns.b', from: null, to: {} }] };
    expect(overlappingChanges(d(colA), d(colB))).toEqual([]);
    expect(overlappingChanges(d(colA), d(colA))).toEqual([
      'table public.users: column a changed on both sides',
    ]);
  });
  test('added on both sides overlaps', () => {
    const t = {
      collection: 'tables' as const,
      kind: 'table',
      key: 'public.t',
      action: 'added' as const,
      fields: [],
    };
    expect(overlappingChanges(d(t), d(t))).toEqual(['table public.t: added by ours, added by theirs']);
  });
});

describe('describeColumns', () => {
  const added = (type: string): SchemaDiff => ({
    changes: [
      {
        collection: 'tables',
        kind: 'table',
        key: 'public.users',
        action: 'changed',
        fields: [{ path: 'columns.nickname', from: null, to: { type, notNull: false, default: null } }],
      },
    ],
  });
  const c = () =>
    findCollisions(
      touches('o', 'alter table users add column nickname text;'),
      touches('t', 'alter table users add column nickname int;'),
    )[0];
  test('names the differing types', () => {
    expect(describeColumns(c(), added('text'), added('integer')).reason).toMatch(
      /^column public\.users\.nickname added on both sides with different types \(ours text, theirs integer\)/,
    );
  });
  test('identical definitions are still a conflict, said so', () => {
    const r = describeColumns(c(), added('text'), added('text'));
    expect(r.severity).toBe('conflict');
    expect(r.reason).toMatch(/with identical definitions/);
  });
});

describe('refineOverloads', () => {
  const fn = (key: string, action: 'added' | 'changed' = 'added') => ({
    collection: 'functions' as const,
    kind: 'function',
    key,
    action,
    fields: [],
  });
  // Footprints now carry signatures; refineOverloads still guards a name-only collision of creates.
  const c = (): Collision => {
    const create = (at: string): Touch => ({
      object: 'function public.f',
      action: 'create',
      destructive: false,
      at,
    });
    return {
      object: 'function public.f',
      severity: 'conflict',
      reason: 'function public.f added on both sides',
      ours: [create('o/up.sql:1')],
      theirs: [create('t/up.sql:1')],
    };
  };
  test('two new overloads with disjoint signatures become a note', () => {
    const r = refineOverloads(
      c(),
      { changes: [fn('public.f(a integer)')] },
      { changes: [fn('public.f(a text)')] },
    );
    expect(r.severity).toBe('note');
    expect(r.reason).toMatch(/different overloads/);
  });
  test('the same signature, or a replaced function, stays a conflict', () => {
    expect(
      refineOverloads(c(), { changes: [fn('public.f(a integer)')] }, { changes: [fn('public.f(a integer)')] })
        .severity,
    ).toBe('conflict');
    expect(
      refineOverloads(
        c(),
        { changes: [fn('public.f(a integer)', 'changed')] },
        { changes: [fn('public.f(a text)')] },
      ).severity,
    ).toBe('conflict');
    expect(refineOverloads(c(), undefined, undefined).severity).toBe('conflict');
  });
});

describe('decideVerdict', () => {
  const shadow = { engine: 'pglite' as const, major: 18 };
  const okReplays = [
    { order: 'ours-then-theirs' as const, ok: true, sequence: ['o'] },
    { order: 'theirs-then-ours' as const, ok: true, sequence: ['t'] },
  ];

  test('safe only with both replays, equal schemas and no collisions', () => {
    const v = decideVerdict({
      base: 'b',
      ours: side('o', 'create table a (id int);'),
      theirs: side('t', 'create table b (id int);'),
      manifestConflicts: [],
      replay: { outcomes: okReplays, orderDiff: { changes: [] }, shadow },
    });
    expect(v.verdict).toBe('safe');
    expect(v.reasons).toEqual([]);
    expect(v.shadow).toEqual(shadow);
    expect(JSON.parse(JSON.stringify(v))).toEqual(v);
  });

  test('static only: never safe', () => {
    const v = decideVerdict({
      base: 'b',
      ours: side('o', 'create table a (id int);'),
      theirs: side('t', 'create table b (id int);'),
      manifestConflicts: [],
    });
    expect(v.verdict).toBe('unproven');
    expect(v.static).toBe(true);
    expect(v.reasons[0]).toMatch(/do not overlap/);
  });

  test('a failing replay order is a conflict naming the order and the error', () => {
    const v = decideVerdict({
      base: 'b',
      ours: side('o', 'create table a (id int);'),
      theirs: side('t', 'create table b (id int);'),
      manifestConflicts: [],
      replay: {
        outcomes: [okReplays[0], { ...okReplays[1], ok: false, error: 'x/up.sql:1:1: boom' }],
        shadow,
      },
    });
    expect(v.verdict).toBe('conflict');
    expect(v.reasons).toEqual(['replay theirs then ours fails: x/up.sql:1:1: boom']);
  });

  test('different schemas in the two orders: conflict naming the objects', () => {
    const v = decideVerdict({
      base: 'b',
      ours: side('o', 'create table a (id int);'),
      theirs: side('t', 'create table b (id int);'),
      manifestConflicts: [],
      replay: {
        outcomes: okReplays,
        orderDiff: {
          changes: [{ collection: 'types', kind: 'enum', key: 'public.mood', action: 'changed', fields: [] }],
        },
        shadow,
      },
    });
    expect(v.verdict).toBe('conflict');
    expect(v.orderDifference).toEqual(['enum public.mood']);
  });

  test('static collisions make a conflict even when both replays pass', () => {
    const v = decideVerdict({
      base: 'b',
      ours: side('o', 'alter table u alter column a set default 1;'),
      theirs: side('t', 'alter table u alter column a set default 2;'),
      manifestConflicts: [],
      replay: { outcomes: okReplays, orderDiff: { changes: [] }, shadow },
    });
    expect(v.verdict).toBe('conflict');
    expect(v.advice.length).toBeGreaterThan(0);
  });

  test('manifest conflicts are reasons', () => {
    const v = decideVerdict({
      base: 'b',
      ours: side('o', ''),
      theirs: side('t', ''),
      manifestConflicts: ['x was edited by ours'],
      replay: { outcomes: okReplays, orderDiff: { changes: [] }, shadow },
    });
    expect(v.verdict).toBe('conflict');
    expect(v.reasons).toEqual(['manifest: x was edited by ours']);
  });

  test('an incomplete footprint facing a destructive change is a conflict', () => {
    const v = decideVerdict({
      base: 'b',
      ours: side('o', 'create table a (id int);', {
        incomplete: [{ at: 'o/up.sql:1', notes: ['dynamic EXECUTE'] }],
      }),
      theirs: side('t', 'drop table zzz;'),
      manifestConflicts: [],
      replay: { outcomes: okReplays, orderDiff: { changes: [] }, shadow },
    });
    expect(v.verdict).toBe('conflict');
    expect(v.reasons[0]).toMatch(
      /cannot be fully analysed \(dynamic EXECUTE\).*table public\.zzz at t\/up\.sql:1/,
    );
  });
});
