import { introspect, openExecutor, replaySqlFiles } from '@braid/pg';
import { diffSchemas } from '@braid/core';
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
