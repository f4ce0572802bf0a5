import { runBraid, runBraidJson } from './helpers/repo';
import { addMigrations, editFile, engines, inspect, makeProject, tableExists, targetDb } from './helpers/cli';

const USERS = {
  slug: 'create_users',
  up: 'create table users (id int primary key, name text not null);\n',
  down: 'drop table users;\n',
};
const PHONE = {
  slug: 'add_phone',
  up: 'alter table users add column phone text;\n',
  down: 'alter table users drop column phone;\n',
  verify: `do $$ begin
  perform phone from users limit 1;
end $$;
`,
};
const ORDERS = {
  slug: 'create_orders',
  up: 'create table orders (id int primary key, user_id int references users);\n',
  down: 'drop table orders;\n',
};

describe.each(engines())('braid up on %s', (engine) => {
  it('applies pending migrations in order, records history, and is then up to date', async () => {
    const p = makeProject([USERS, PHONE, ORDERS]);
    const t = await targetDb(engine, p);
    try {
      const r = await runBraidJson(['up', ...t.args], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      const results = (r.json['results'] as { id: string; outcome: string }[]).map((x) => [x.id, x.outcome]);
      expect(results).toEqual(p.ids.map((id) => [id, 'applied']));
      if (engine === 'pglite')
        expect(r.stderr).toMatch(/using the embedded database at .*\.git\/braid\/pglite/);
      // Every result names the engine and version it ran on.
      expect(r.json['engine']).toBe(engine === 'pglite' ? 'pglite' : 'postgres');
      expect(r.json['serverVersion']).toMatch(engine === 'pglite' ? /^1[89]\.\d+$/ : /^\d+\.\d+$/);
      expect(await tableExists(t, 'orders')).toBe(true);
      const hist = await inspect(t, (ex) =>
        ex.query<{
          id: string;
          direction: string;
          git_commit: string | null;
          git_author_email: string | null;
          braid_version: string;
        }>(
          'select id, direction, git_commit, git_author_email, braid_version from braid.history order by seq',
        ),
      );
      expect(hist.rows.map((h) => h.id)).toEqual(p.ids);
      expect(hist.rows[0].git_commit).toBe(p.repo.git('rev-parse', 'HEAD').trim());
      expect(hist.rows[0].git_author_email).toBe('author@example.com');
      expect(hist.rows[0].braid_version).toMatch(/^\d+\.\d+\.\d+/);

      const again = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(
        engine === 'pglite'
          ? /nothing to apply: up to date \(.*, PGlite 1[89]\.\d+\)/
          : /nothing to apply: up to date \(.*, PostgreSQL \d+\.\d+\)/,
      );
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });

  it('--to stops after the named migration; an unknown --to id is a usage error', async () => {
    const p = makeProject([USERS, PHONE, ORDERS]);
    const t = await targetDb(engine, p);
    try {
      const bad = await runBraid(['up', ...t.args, '--to', '20990101000000_nope'], { cwd: p.repo.dir });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--to: no migration 20990101000000_nope');
      const r = await runBraid(['up', ...t.args, '--to', p.ids[1]], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`applied ${p.ids[1]}`);
      expect(r.stdout).not.toContain(p.ids[2]);
      expect(await tableExists(t, 'orders')).toBe(false);
      const s = await runBraidJson(['status', ...t.args], { cwd: p.repo.dir });
      expect((s.json['pending'] as { id: string }[]).map((x) => x.id)).toEqual([p.ids[2]]);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });

  it('--dry-run runs the migrations, prints timing, and rolls everything back', async () => {
    const p = makeProject([USERS, PHONE]);
    const t = await targetDb(engine, p);
    try {
      const r = await runBraid(['up', ...t.args, '--dry-run'], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`dry run ${p.ids[0]} \\(\\d+ ms\\)`));
      expect(r.stdout).toMatch(/2 migrations dry run and rolled back/);
      expect(await tableExists(t, 'users')).toBe(false);
      // a failing migration also fails the dry run, with its location
      addMigrations(p, [{ slug: 'broken', up: 'select 1;\ncreate tabel x (a int);\n', down: 'select 1;\n' }]);
      const bad = await runBraid(['up', ...t.args, '--dry-run'], { cwd: p.repo.dir });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(`.migrations/${p.ids[2]}/up.sql:2:8: syntax error at or near "tabel"`);
      expect(await tableExists(t, 'users')).toBe(false);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });

  it('verify.sql runs in the migration transaction: a failing check rolls the migration back', async () => {
    const p = makeProject([
      USERS,
      {
        slug: 'add_email',
        up: 'alter table users add column email text;\n',
        down: 'alter table users drop column email;\n',
        verify:
          "do $$ begin\n  if not exists (select 1 from users) then\n    raise exception 'users is empty';\n  end if;\nend $$;\n",
      },
    ]);
    const t = await targetDb(engine, p);
    try {
      const r = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`.migrations/${p.ids[1]}/verify.sql`);
      expect(r.stderr).toContain('users is empty');
      const cols = await inspect(t, (ex) =>
        ex.query<{ n: number }>(
          `select count(*)::int as n from information_schema.columns where table_name = 'users' and column_name = 'email'`,
        ),
      );
      expect(cols.rows[0].n).toBe(0);
      const audit = await inspect(t, (ex) =>
        ex.query<{ id: string; outcome: string; error: string }>(
          `select id, outcome, error from braid.audit order by seq`,
        ),
      );
      expect(audit.rows.map((a) => [a.id, a.outcome])).toEqual([
        [p.ids[0], 'ok'],
        [p.ids[1], 'failed'],
      ]);
      expect(audit.rows[1].error).toContain('users is empty');
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });

  it('reports malformed SQL as file:line:col with the source line and a caret', async () => {
    const p = makeProject([
      USERS,
      { slug: 'bad', up: '-- a comment\nalter table users\n  add colum x int;\n', down: 'select 1;\n' },
    ]);
    const t = await targetDb(engine, p);
    try {
      const r = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `.migrations/${p.ids[1]}/up.sql:3:15: syntax error at or near "int" (SQLSTATE 42601)`,
      );
      expect(r.stderr).toContain('  3 |   add colum x int;\n    |               ^');
      const j = await runBraidJson(['up', ...t.args], { cwd: p.repo.dir });
      expect(j.code).toBe(1);
      expect(j.json).toMatchObject({
        error: 'migration-failed',
        id: p.ids[1],
        line: 3,
        column: 15,
        sqlstate: '42601',
      });
      // the first migration was applied and stays applied
      expect(await tableExists(t, 'users')).toBe(true);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });

  it('refuses to run when an applied migration was edited, unless --allow-edited (audited)', async () => {
    const p = makeProject([USERS]);
    const t = await targetDb(engine, p);
    try {
      expect((await runBraid(['up', ...t.args], { cwd: p.repo.dir })).code).toBe(0);
      editFile(p, p.ids[0], 'up.sql', USERS.up + '-- edited\n');
      addMigrations(p, [ORDERS]);
      const r = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`migration ${p.ids[0]} was edited after it was applied`);
      expect(r.stderr).toContain('--allow-edited');
      expect(await tableExists(t, 'orders')).toBe(false);
      const ok = await runBraid(['up', ...t.args, '--allow-edited'], { cwd: p.repo.dir });
      expect(ok.code).toBe(0);
      expect(await tableExists(t, 'orders')).toBe(true);
      const audit = await inspect(t, (ex) =>
        ex.query<{ outcome: string }>(`select outcome from braid.audit where id = $1 order by seq`, [
          p.ids[0],
        ]),
      );
      expect(audit.rows.map((a) => a.outcome)).toEqual(['ok', 'allow-edited']);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});
