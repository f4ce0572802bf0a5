/**
 * The merge driver end to end: real repositories, `braid install`, a real `git merge`. Safe pairs
 * must merge, pass `braid check` and apply on a fresh database; colliding pairs must stop the
 * merge and name the object. Replays run on the server (--shadow-db) when
 * BRAID_TEST_DATABASE_URL is set, else on PGlite; two pairs always run on PGlite too.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest } from '@braid/core';
import { createTestDatabase, serverUrl } from './helpers/db';
import { buildScenario, gitRun, install, primaryEngine, type Scenario } from './helpers/branching';
import { runBraid } from './helpers/repo';

const BASE = [
  `create table users (id int primary key, name text, age int default 0);
create type mood as enum ('happy', 'sad');
create table legacy_audit (id int);
create table roles (name text primary key);
insert into roles values ('admin');`,
];

const SAFE: [string, Scenario][] = [
  [
    'new tables on each side',
    { base: BASE, ours: [['create table a (id int);']], theirs: [['create table b (id int);']] },
  ],
  [
    'different columns of one table',
    {
      base: BASE,
      ours: [['alter table users add column phone text;']],
      theirs: [['alter table users add column email text;']],
    },
  ],
  [
    'index plus column',
    {
      base: BASE,
      ours: [['alter table users add column phone text;']],
      theirs: [['create index users_name on users (name);']],
    },
  ],
  [
    'function plus view',
    {
      base: BASE,
      ours: [['create function one() returns int language sql as $$ select 1 $$;']],
      theirs: [['create view adults as select id, name from users where age >= 18;']],
    },
  ],
  [
    'seed plus DDL',
    {
      base: BASE,
      ours: [["insert into roles values ('editor');"]],
      theirs: [
        ['create table audit_log (id bigint generated always as identity, at timestamptz default now());'],
      ],
    },
  ],
  [
    'several commits per side',
    {
      base: BASE,
      ours: [
        ['create table o1 (id int primary key);'],
        ['create table o2 (id int references o1 (id));', 'create index o2_id on o2 (id);'],
      ],
      theirs: [
        ['create table t1 (id int);'],
        ['alter table t1 add column x int;'],
        ['create view t1v as select * from t1;'],
      ],
    },
  ],
  [
    'a no-transaction step',
    {
      base: BASE,
      ours: [['-- braid:no-transaction\ncreate index concurrently users_age on users (age);']],
      theirs: [['create table c (id int);']],
    },
  ],
  [
    'the same table name in two schemas',
    {
      base: BASE,
      ours: [['create schema app;\ncreate table app.items (id int);']],
      theirs: [['create schema billing;\ncreate table billing.items (id int);']],
    },
  ],
  [
    'function overloads (the same name, different signatures; keyed by signature, no collision)',
    {
      base: BASE,
      ours: [['create function pick(a int) returns int language sql as $$ select a $$;']],
      theirs: [['create function pick(a text) returns text language sql as $$ select a $$;']],
    },
  ],
  [
    'a CHECK and rows that satisfy it',
    {
      base: BASE,
      ours: [['alter table users add constraint age_nonneg check (age >= 0);']],
      theirs: [["insert into users (id, name, age) values (7, 'x', 30);"]],
    },
  ],
];

const CONFLICTS: [string, Scenario, RegExp][] = [
  [
    'same column, different types',
    {
      base: BASE,
      ours: [['alter table users add column nickname text;']],
      theirs: [['alter table users add column nickname int;']],
    },
    /column public\.users\.nickname added on both sides/,
  ],
  [
    'rename vs use',
    {
      base: BASE,
      ours: [['alter table users rename column name to full_name;']],
      theirs: [['create view names as select name from users;']],
    },
    /column public\.users\.name/,
  ],
  [
    'drop vs reference',
    {
      base: BASE,
      ours: [['drop table legacy_audit;']],
      theirs: [
        ['create function audits() returns bigint language sql as $$ select count(*) from legacy_audit $$;'],
      ],
    },
    /table public\.legacy_audit dropped by ours/,
  ],
  [
    'same table name',
    { base: BASE, ours: [['create table t (id int);']], theirs: [['create table t (id bigint);']] },
    /table public\.t added on both sides/,
  ],
  [
    'enum values added on both sides',
    {
      base: BASE,
      ours: [["alter type mood add value 'angry';"]],
      theirs: [["alter type mood add value 'calm';"]],
    },
    /type public\.mood changed on both sides/,
  ],
  [
    'default changed on both sides',
    {
      base: BASE,
      ours: [['alter table users alter column age set default 1;']],
      theirs: [['alter table users alter column age set default 2;']],
    },
    /column public\.users\.age changed on both sides/,
  ],
  [
    'function body changed on both sides',
    {
      base: [...BASE, 'create function f() returns int language sql as $$ select 0 $$;'],
      ours: [['create or replace function f() returns int language sql as $$ select 1 $$;']],
      theirs: [['create or replace function f() returns int language sql as $$ select 2 $$;']],
    },
    /function public\.f/,
  ],
  [
    'duplicate seed row',
    {
      base: BASE,
      ours: [["insert into roles values ('auditor');"]],
      theirs: [["insert into roles values ('auditor');"]],
    },
    /duplicate key value violates unique constraint/,
  ],
  [
    'NOT NULL vs insert',
    {
      base: BASE,
      ours: [['alter table users alter column name set not null;']],
      theirs: [['insert into users (id) values (1);']],
    },
    /column public\.users\.name/,
  ],
  [
    'a CHECK and rows that violate it',
    {
      base: BASE,
      ours: [['alter table users add constraint age_nonneg check (age >= 0);']],
      theirs: [["insert into users (id, name, age) values (7, 'x', -1);"]],
    },
    /violates check constraint "age_nonneg"/,
  ],
  [
    'a select-star view vs a new column (the orders give different views)',
    {
      base: BASE,
      ours: [['create view everyone as select * from users;']],
      theirs: [['alter table users add column email text;']],
    },
    /the two orders yield different schemas: view public\.everyone/,
  ],
  [
    'drop column vs index on it',
    {
      base: BASE,
      ours: [['alter table users drop column age;']],
      theirs: [['create index users_age on users (age);']],
    },
    /column public\.users\.age/,
  ],
  [
    'the same overload on both sides, spelled differently (int vs integer)',
    {
      base: BASE,
      ours: [['create function pick(a int) returns int language sql as $$ select a $$;']],
      theirs: [['create function pick(b integer) returns int language sql as $$ select b + 1 $$;']],
    },
    /function public\.pick\(integer\) added on both sides/,
  ],
  [
    'a call by name vs a new overload of that name',
    {
      base: [...BASE, 'create function pick(a int) returns int language sql as $$ select a $$;'],
      ours: [['create view picked as select public.pick(1) as p;']],
      theirs: [['create function pick(a text) returns text language sql as $$ select a $$;']],
    },
    /function public\.pick\(text\) added by theirs .*used by ours/,
  ],
];

const engine = primaryEngine();

async function freshUp(dir: string): Promise<void> {
  const db = await createTestDatabase({ prefix: 'braid_branch', pglitePath: join(dir, '.git', 'fresh-db') });
  try {
    const r = await runBraid(['up', '--db', db.url], { cwd: dir });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  } finally {
    await db.drop();
  }
}

async function expectSafeMerge(s: Scenario, eng: 'pglite' | 'postgres'): Promise<void> {
  const b = buildScenario(s);
  try {
    await install(b.repo, eng);
    const m = gitRun(b.repo.dir, ['merge', '--no-edit', 'feature']);
    expect(`${m.stdout}${m.stderr}\nexit ${m.code}`).toMatch(/\nexit 0$/);
    const manifest = parseManifest(readFileSync(join(b.repo.dir, '.migrations', 'manifest'), 'utf8'));
    expect(manifest.headerHashOk).toBe(true);
    // base, then theirs (older ids), then ours; parents kept as written
    expect(manifest.manifest.entries.map((e) => e.id)).toEqual([...b.baseIds, ...b.theirsIds, ...b.oursIds]);
    const firstOurs = manifest.manifest.entries.find((e) => e.id === b.oursIds[0])!;
    expect(firstOurs.parents).toEqual([b.baseIds[b.baseIds.length - 1]]);
    const check = await runBraid(['check'], { cwd: b.repo.dir });
    expect({ code: check.code, out: check.stdout }).toEqual({ code: 0, out: expect.stringMatching(/^ok:/) });
    await freshUp(b.repo.dir);
  } finally {
    b.repo.cleanup();
  }
}

async function expectConflict(s: Scenario, re: RegExp, eng: 'pglite' | 'postgres'): Promise<void> {
  const b = buildScenario(s);
  try {
    await install(b.repo, eng);
    const m = gitRun(b.repo.dir, ['merge', '--no-edit', 'feature']);
    expect(m.code).not.toBe(0);
    const out = m.stdout + m.stderr;
    expect(out).toMatch(/CONFLICT \(content\): Merge conflict in \.migrations\/manifest/);
    expect(out).toMatch(re);
    const text = readFileSync(join(b.repo.dir, '.migrations', 'manifest'), 'utf8');
    expect(text).toMatch(/^<<<<<<< main\n/);
    expect(text).toMatch(/\n=======\n/);
    const reports = readdirSync(join(b.repo.dir, '.git', 'braid')).filter((f) => f.startsWith('conflict-'));
    expect(reports).toEqual(['conflict-main.md']);
    const report = readFileSync(join(b.repo.dir, '.git', 'braid', 'conflict-main.md'), 'utf8');
    expect(report).toMatch(/CONFLICT/);
    expect(report).toMatch(re);
    // braid check refuses the unresolved manifest
    expect((await runBraid(['check'], { cwd: b.repo.dir })).code).not.toBe(0);
  } finally {
    b.repo.cleanup();
  }
}

describe(`merge driver, commuting pairs merge (${engine})`, () => {
  test.each(SAFE)('%s', async (_name, s) => {
    await expectSafeMerge(s, engine);
  });
});

describe(`merge driver, colliding pairs stop the merge and name the object (${engine})`, () => {
  test.each(CONFLICTS)('%s', async (_name, s, re) => {
    await expectConflict(s, re, engine);
  });
});

if (serverUrl()) {
  describe('merge driver on PGlite as well', () => {
    test('commuting pair', async () => {
      await expectSafeMerge(SAFE[1][1], 'pglite');
    });
    test('colliding pair', async () => {
      await expectConflict(CONFLICTS[7][1], CONFLICTS[7][2], 'pglite');
    });
  });
}

test('a merge with no migration changes on one side does not involve the driver result', async () => {
  const b = buildScenario({ base: BASE, ours: [], theirs: [['create table only_theirs (id int);']] });
  try {
    await install(b.repo, engine);
    b.repo.write('README', 'ours\n');
    b.repo.commit('ours: docs only');
    const m = gitRun(b.repo.dir, ['merge', '--no-edit', 'feature']);
    expect(m.code).toBe(0);
    expect(existsSync(join(b.repo.dir, '.migrations', b.theirsIds[0], 'up.sql'))).toBe(true);
    expect((await runBraid(['check'], { cwd: b.repo.dir })).code).toBe(0);
  } finally {
    b.repo.cleanup();
  }
});
