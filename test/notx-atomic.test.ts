/**
 * A no-transaction migration records each statement's progress in the same transaction as the
 * statement, so no crash can leave a statement done but unrecorded (which a resume would run a
 * second time). The crash is made deterministic: a trigger on braid.progress fails the progress
 * write right after the statement ran, exactly where a kill between the two would land.
 */
import { runBraid } from './helpers/repo';
import { engines, inspect, makeProject, targetDb, type MigSpec, type TargetDb } from './helpers/cli';

const FIRST: MigSpec = { slug: 'first', up: 'create table first (id int);\n', down: 'drop table first;\n' };

const NOTX: MigSpec = {
  slug: 'notx',
  up: '-- braid:no-transaction\ncreate table once (id int primary key);\ninsert into once values (1);\ncreate index concurrently once_id on once (id);\n',
  down: '-- braid:no-transaction\ndrop table once;\n',
};

// golang-migrate style: explicit groups inside a no-transaction migration. A regression guard: the
// group's progress rows were already written inside the user's transaction before this change;
// the plain-statement case above is the one the change fixed (it fails on the earlier engine).
const GROUPED: MigSpec = {
  slug: 'grouped',
  up: '-- braid:no-transaction\nbegin;\ncreate table g1 (id int);\ninsert into g1 values (1);\ncommit;\ncreate table g2 (id int);\n',
  down: '-- braid:no-transaction\ndrop table g2;\ndrop table g1;\n',
};

async function failProgressWrites(t: TargetDb, on: boolean): Promise<void> {
  await inspect(t, (ex) =>
    ex.exec(
      on
        ? `create function public.fail_progress() returns trigger language plpgsql as $$
             begin raise exception 'injected: crash before the progress row'; end $$;
           create trigger fail_progress before insert on braid.progress
             for each row execute function public.fail_progress();`
        : 'drop trigger fail_progress on braid.progress; drop function public.fail_progress();',
    ),
  );
}

async function count(t: TargetDb, sql: string): Promise<number> {
  return inspect(t, async (ex) => Number((await ex.query<{ n: number }>(sql)).rows[0]?.n));
}

describe.each(engines())('no-transaction progress is atomic with each statement on %s', (engine) => {
  it.each([
    ['a plain statement', NOTX, 'once'],
    ['an explicit BEGIN … COMMIT group', GROUPED, 'g1'],
  ])('a failure right after %s leaves it undone, and the rerun applies it once', async (_l, mig, table) => {
    const p = makeProject([FIRST, mig]);
    const t = await targetDb(engine, p);
    try {
      expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir })).code).toBe(0);
      await failProgressWrites(t, true);
      const failed = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain('injected: crash before the progress row');
      // The statement whose progress could not be written is not committed either.
      expect(await count(t, `select count(*)::int as n from pg_class where relname = '${table}'`)).toBe(0);
      await failProgressWrites(t, false);
      const rerun = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(rerun.stderr).not.toContain('already exists');
      expect(rerun.code).toBe(0);
      expect(await count(t, `select count(*)::int as n from ${table}`)).toBe(1);
      expect(await count(t, 'select count(*)::int as n from braid.progress')).toBe(0);
      expect(await count(t, `select count(*)::int as n from braid.history where id = '${p.ids[1]}'`)).toBe(1);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});
