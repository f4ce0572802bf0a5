import { introspect, openExecutor, replaySqlFiles } from '@braid/pg';
import { diffSchemas, type SchemaModel } from '@braid/core';
import { addMigrations, makeProject } from './helpers/cli';
import { createTestDatabase, serverUrl } from './helpers/db';
import { runBraid, runBraidJson } from './helpers/repo';

const A = `create table users (id int primary key, email text);
create view active as select id, email from users;
`;
const B = `create table users (id int primary key, email varchar(200) not null, phone text);
create view active as select id, email from users;
create index users_phone on users (phone);
`;

describe('braid schema diff', () => {
  it('diffs two SQL files: sql, text and json formats; destructive statements exit 1 unless allowed', async () => {
    const p = makeProject([]);
    try {
      p.repo.write('a.sql', A);
      p.repo.write('b.sql', B);
      const sql = await runBraid(['schema', 'diff', '--from', 'a.sql', '--to', 'b.sql'], { cwd: p.repo.dir });
      expect(sql.stderr).toContain('destructive');
      expect(sql.code).toBe(1);
      expect(sql.stdout).toContain('-- braid:destructive narrows public.users.email');
      expect(sql.stdout.indexOf('DROP VIEW "public"."active"')).toBeLessThan(
        sql.stdout.indexOf('TYPE character varying(200)'),
      );

      const ok = await runBraid(
        ['schema', 'diff', '--from', 'a.sql', '--to', 'b.sql', '--allow-destructive', '--format', 'text'],
        {
          cwd: p.repo.dir,
        },
      );
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('~ table public.users');
      expect(ok.stdout).toContain('column email: notNull false → true; type text → character varying(200)');
      expect(ok.stdout).toContain('+ index public.users_phone');

      const j = await runBraidJson<{
        changes: { key: string; action: string }[];
        destructive: number;
        statements: unknown[];
      }>(['schema', 'diff', '--from', 'a.sql', '--to', 'b.sql', '--allow-destructive', '--online'], {
        cwd: p.repo.dir,
      });
      expect(j.code).toBe(0);
      expect(j.json.destructive).toBe(1);
      // Objects in model order (tables, …, indexes); the view is rebuilt by the SQL but not changed.
      expect(j.json.changes.map((c) => `${c.action} ${c.key}`)).toEqual([
        'changed public.users',
        'added public.users_phone',
      ]);
      expect(JSON.stringify(j.json.statements)).toContain('CREATE INDEX CONCURRENTLY users_phone');
    } finally {
      p.repo.cleanup();
    }
  });

  it('applied to the first database, the generated SQL leaves the second schema (database URL sources)', async () => {
    const a = await createTestDatabase({ prefix: 'braid_sdiff', pglitePath: undefined });
    const b = await createTestDatabase({ prefix: 'braid_sdiff' });
    const p = makeProject([]);
    try {
      if (a.engine === 'pglite') {
        // Without a server: SQL folder sources replayed on PGlite, and the script checked there.
        p.repo.write('schema-a/01.sql', A);
        p.repo.write('schema-b/01.sql', B);
        const r = await runBraid(
          ['schema', 'diff', '--from', 'schema-a', '--to', 'schema-b', '--allow-destructive'],
          {
            cwd: p.repo.dir,
          },
        );
        expect(r.code).toBe(0);
        const ex = await openExecutor('pglite:memory');
        await replaySqlFiles(ex, [{ label: 'a', text: A }]);
        await ex.exec(r.stdout);
        const ex2 = await openExecutor('pglite:memory');
        await ex2.exec(B);
        expect(diffSchemas(await introspect(ex), await introspect(ex2)).changes).toEqual([]);
        await ex.close();
        await ex2.close();
        return;
      }
      const ea = await openExecutor(a.url);
      const eb = await openExecutor(b.url);
      await ea.exec(A);
      await eb.exec(B);
      const r = await runBraid(['schema', 'diff', '--from', a.url, '--to', b.url, '--allow-destructive'], {
        cwd: p.repo.dir,
      });
      expect(r.code).toBe(0);
      await ea.exec(r.stdout);
      expect(diffSchemas(await introspect(ea), await introspect(eb)).changes).toEqual([]);
      const again = await runBraid(['schema', 'diff', '--from', a.url, '--to', b.url], { cwd: p.repo.dir });
      expect(again.code).toBe(0);
      expect(again.stdout).toBe('');
      expect(again.stderr).toContain('no schema differences');
      await ea.close();
      await eb.close();
    } finally {
      p.repo.cleanup();
      await a.drop();
      await b.drop();
    }
  });

  it('takes git refs (migrations replayed) and a SQL folder on --shadow-db', async () => {
    const p = makeProject([
      { slug: 'users', up: 'create table users (id int primary key);', down: 'drop table users;' },
    ]);
    try {
      addMigrations(p, [
        {
          slug: 'email',
          up: 'alter table users add column email text;',
          down: 'alter table users drop column email;',
        },
      ]);
      const r = await runBraid(['schema', 'diff', '--from', 'HEAD~1', '--to', 'HEAD'], { cwd: p.repo.dir });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe('ALTER TABLE "public"."users" ADD COLUMN "email" text;');
      p.repo.write('declared/users.sql', 'create table users (id int primary key, email text, name text);');
      const args = ['schema', 'diff', '--from', 'HEAD', '--to', 'declared', '--format', 'text'];
      const server = serverUrl();
      const d = await runBraid(server ? [...args, '--shadow-db', server] : args, { cwd: p.repo.dir });
      expect(d.code).toBe(0);
      expect(d.stdout).toContain('column name: added');
    } finally {
      p.repo.cleanup();
    }
  });

  it('bad sources exit 2 naming the argument; replay failures name file and line', async () => {
    const p = makeProject([]);
    try {
      const r = await runBraid(['schema', 'diff', '--from', 'no-such-thing', '--to', 'HEAD'], {
        cwd: p.repo.dir,
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--from no-such-thing');
      p.repo.write('bad.sql', 'create table t (a int);\n\ncreate index on missing (a);\n');
      const b = await runBraid(['schema', 'diff', '--from', 'bad.sql', '--to', 'HEAD'], { cwd: p.repo.dir });
      expect(b.code).toBe(2);
      expect(b.stderr).toContain('bad.sql:3:');
    } finally {
      p.repo.cleanup();
    }
  });
});

const S = `create type status as enum ('new', 'paid');
create table customers (id int primary key, email text not null unique);
comment on table customers is 'who pays';
create table orders (id bigint generated always as identity primary key,
  customer_id int not null references customers(id) on delete cascade, state status not null default 'new');
create index orders_customer on orders (customer_id);
create view open_orders as select id, customer_id from orders where state = 'new';
create function order_count() returns bigint language sql as 'select count(*) from orders';
`;

describe('braid schema inspect', () => {
  it('prints one schema as the SQL that creates it in a new database, its objects, or its model', async () => {
    const p = makeProject([]);
    const db = await createTestDatabase({
      prefix: 'braid_inspect',
      pglitePath: `${p.repo.dir}/.git/inspect-db`,
    });
    try {
      p.repo.write('s.sql', S);
      const cwd = p.repo.dir;
      const sql = await runBraid(['schema', 'inspect', '--from', 's.sql'], { cwd });
      expect(sql.code).toBe(0);
      // a new database has public and PL/pgSQL already
      expect(sql.stdout).not.toContain('CREATE SCHEMA "public"');
      expect(sql.stdout).not.toContain('plpgsql');
      expect(sql.stdout.indexOf('CREATE TYPE "public"."status"')).toBeGreaterThanOrEqual(0);
      expect(sql.stdout.indexOf('CREATE TYPE "public"."status"')).toBeLessThan(
        sql.stdout.indexOf('CREATE TABLE "public"."orders"'),
      );
      expect(sql.stdout.indexOf('CREATE TABLE "public"."orders"')).toBeLessThan(
        sql.stdout.indexOf('CREATE VIEW "public"."open_orders"'),
      );

      // applied to a new database, the SQL gives the same model as the file it came from
      const ex = await openExecutor(db.url);
      try {
        await ex.exec(sql.stdout);
      } finally {
        await ex.close();
      }
      // like with like: the file replayed on the engine it is compared with (docs/schema.md)
      const shadow = db.engine === 'pglite' ? [] : ['--shadow-db', serverUrl() ?? ''];
      const want = await runBraidJson<{ source: string; model: SchemaModel }>(
        ['schema', 'inspect', '--from', 's.sql', ...shadow],
        { cwd },
      );
      const got = await runBraidJson<{ source: string; label: string; model: SchemaModel }>(
        ['schema', 'inspect', '--from', db.url, '--format', 'json'],
        { cwd },
      );
      expect([want.code, got.code]).toEqual([0, 0]);
      expect([want.json.source, got.json.source]).toEqual(['sql', 'database']);
      expect(Object.keys(got.json.model.tables).sort()).toEqual(['public.customers', 'public.orders']);
      expect(got.json.model.tables['public.customers'].comment).toBe('who pays');
      expect(diffSchemas(want.json.model, got.json.model).changes).toEqual([]);

      const text = await runBraid(['schema', 'inspect', '--from', db.url, '--format', 'text'], { cwd });
      expect(text.code).toBe(0);
      for (const line of ['+ enum public.status', '+ table public.orders', '+ view public.open_orders'])
        expect(text.stdout).toContain(line);
      expect(text.stdout).not.toContain('schema public');

      const both = await runBraid(['schema', 'inspect', '--from', 's.sql', '--to', 's.sql'], { cwd });
      expect(both.code).toBe(2);
      expect(both.stderr).toContain('schema inspect takes --from only (--to is for schema diff)');
      const half = await runBraid(['schema', 'diff', '--from', 's.sql'], { cwd });
      expect(half.code).toBe(2);
      expect(half.stderr).toContain('schema diff: missing required argument --to');
    } finally {
      p.repo.cleanup();
      await db.drop();
    }
  });
});
