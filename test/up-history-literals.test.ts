/**
 * `braid up` writes each transactional migration's history row and commit in the same round trip
 * as its file, with the provenance inlined as SQL literals: names with quotes and backslashes must
 * arrive exactly, on both engines, and a failing file must leave no history row.
 */
import { runBraid } from './helpers/repo';
import { engines, inspect, makeProject, targetDb } from './helpers/cli';

const AWKWARD = `O'Brien \\ "Q" $1 -- x`;

describe.each(engines())('history rows from the one-round-trip commit on %s', (engine) => {
  it('records provenance with quotes and backslashes exactly, and a server-measured duration', async () => {
    const p = makeProject([
      {
        slug: 'a',
        up: 'create table a (id int);\n-- a trailing comment without newline',
        down: 'drop table a;\n',
      },
      { slug: 'b', up: "create table b (s text default E'back\\\\slash');", down: 'drop table b;\n' },
      { slug: 'c', up: 'create table c (id int);\ninsert into c values (1/0);\n', down: 'drop table c;\n' },
    ]);
    p.repo.git('config', 'user.name', AWKWARD);
    p.repo.git('config', 'user.email', `o'brien\\@example.com`);
    const t = await targetDb(engine, p);
    try {
      const r = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${p.ids[2]}/up.sql:2`);
      const rows = await inspect(
        t,
        async (ex) =>
          (
            await ex.query<{
              id: string;
              git_author_name: string;
              git_author_email: string;
              duration_ms: number;
            }>('select id, git_author_name, git_author_email, duration_ms from braid.history order by seq')
          ).rows,
      );
      expect(rows.map((x) => x.id)).toEqual([p.ids[0], p.ids[1]]);
      for (const row of rows) {
        expect(row.git_author_name).toBe(AWKWARD);
        expect(row.git_author_email).toBe(`o'brien\\@example.com`);
        expect(Number.isInteger(row.duration_ms) && row.duration_ms >= 0).toBe(true);
      }
      const audit = await inspect(
        t,
        async (ex) =>
          (
            await ex.query<{ id: string; outcome: string }>(
              'select id, outcome from braid.audit order by seq',
            )
          ).rows,
      );
      expect(audit).toEqual([
        { id: p.ids[0], outcome: 'ok' },
        { id: p.ids[1], outcome: 'ok' },
        { id: p.ids[2], outcome: 'failed' },
      ]);
      const applied = await inspect(
        t,
        async (ex) =>
          (await ex.query<{ n: number }>('select count(*)::int as n from braid.applied')).rows[0]?.n,
      );
      expect(applied).toBe(2);
      const c = await inspect(
        t,
        async (ex) =>
          (await ex.query<{ n: number }>(`select count(*)::int as n from pg_class where relname = 'c'`))
            .rows[0]?.n,
      );
      expect(c).toBe(0);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});
