/**
 * kill -9 of `braid up` in the middle of a slow migration; the rerun completes and the schema
 * equals a clean run's. On the server the test waits until the migration is observably running
 * (pg_stat_activity); on PGlite (one process, nothing to observe from outside) it kills after a
 * moment — wherever the kill lands, the rerun must converge on the same schema.
 */
import { spawn } from 'node:child_process';
import { BRAID_JS, braidEnv, runBraid } from './helpers/repo';
import {
  engines,
  inspect,
  makeProject,
  targetDb,
  type MigSpec,
  type Project,
  type TargetDb,
} from './helpers/cli';
import { connectPg, type Executor } from '@braid/pg';

const KNOB: MigSpec = {
  slug: 'knob',
  up: 'create table knob (sleep_s float not null);\ninsert into knob values (30);\n',
  down: 'drop table knob;\n',
};
const SLOW_TX: MigSpec = {
  slug: 'slow_tx',
  up: 'create table slow (id int primary key, v text);\ninsert into slow select g, g::text from generate_series(1, 100) g;\nselect pg_sleep((select sleep_s from knob));\ncreate index slow_v on slow (v);\n',
  down: 'drop table slow;\n',
};
const SLOW_NOTX: MigSpec = {
  slug: 'slow_notx',
  up: '-- braid:no-transaction\ncreate table big (id int primary key, v text);\ninsert into big select g, g::text from generate_series(1, 100) g;\nselect pg_sleep((select sleep_s from knob));\ncreate index concurrently big_v on big (v);\nalter table big add column w int;\n',
  down: '-- braid:no-transaction\ndrop index concurrently big_v;\ndrop table big;\n',
};

async function schemaOf(t: TargetDb): Promise<string[]> {
  return inspect(t, async (ex) => {
    const cols = await ex.query<{ x: string }>(
      `select table_name || '.' || column_name || ':' || data_type as x from information_schema.columns
        where table_schema = 'public' order by 1`,
    );
    const idx = await ex.query<{ x: string }>(
      `select c.relname || ':' || i.indisvalid::text as x from pg_index i join pg_class c on c.oid = i.indexrelid
         join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' order by 1`,
    );
    return [...cols.rows.map((r) => r.x), ...idx.rows.map((r) => r.x)];
  });
}

function startUp(cwd: string, args: string[]): { pid: number; done: Promise<number | null> } {
  const child = spawn(process.execPath, [BRAID_JS, 'up', ...args], { cwd, env: braidEnv(), stdio: 'ignore' });
  const done = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  return { pid: child.pid!, done };
}

async function waitFor(admin: Executor, sql: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = await admin.query<{ n: number }>(sql);
    if (Number(r.rows[0]?.n) > 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`timed out waiting for: ${sql}`);
}

describe.each(engines())('kill -9 of braid up on %s', (engine) => {
  it.each([
    ['a slow transactional migration', SLOW_TX],
    ['a slow no-transaction migration', SLOW_NOTX],
  ])('in the middle of %s: the rerun completes and the schema equals a clean run', async (_label, slow) => {
    const clean = makeProject([KNOB, slow]);
    const p = makeProject([KNOB, slow]);
    const tc = await targetDb(engine, clean);
    const t = await targetDb(engine, p);
    try {
      // the clean run (no sleeping)
      expect((await runBraid(['up', ...tc.args, '--to', clean.ids[0]], { cwd: clean.repo.dir })).code).toBe(
        0,
      );
      await inspect(tc, (ex) => ex.query('update knob set sleep_s = 0'));
      expect((await runBraid(['up', ...tc.args], { cwd: clean.repo.dir })).code).toBe(0);

      expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir })).code).toBe(0);
      const run = startUp(p.repo.dir, t.args);
      if (engine === 'postgres') {
        const admin = await connectPg(t.args[1], 'crash-test');
        try {
          await waitFor(
            admin,
            `select count(*)::int as n from pg_stat_activity where datname = current_database() and query like '%pg_sleep%' and state = 'active' and pid <> pg_backend_pid()`,
          );
          process.kill(run.pid, 'SIGKILL');
          await run.done;
          // the server notices the dead client (client_connection_check_interval) and rolls back
          await waitFor(
            admin,
            `select (count(*) = 0)::int as n from pg_stat_activity where datname = current_database() and application_name like 'braid up%'`,
          );
          await admin.query('update knob set sleep_s = 0');
        } finally {
          await admin.close();
        }
      } else {
        await new Promise((res) => setTimeout(res, 4000));
        process.kill(run.pid, 'SIGKILL');
        await run.done;
        await inspect(t, (ex) => ex.query('update knob set sleep_s = 0'));
      }
      const rerun = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(rerun.stderr).not.toContain('internal error');
      expect(rerun.code).toBe(0);
      expect(await schemaOf(t)).toEqual(await schemaOf(tc));
      const hist = await inspect(t, (ex) =>
        ex.query<{ id: string }>('select id from braid.history order by seq'),
      );
      expect(hist.rows.map((h) => h.id)).toEqual(p.ids);
      const progress = await inspect(t, (ex) =>
        ex.query<{ n: number }>('select count(*)::int as n from braid.progress'),
      );
      expect(progress.rows[0]?.n).toBe(0);
    } finally {
      clean.repo.cleanup();
      p.repo.cleanup();
      await tc.drop();
      await t.drop();
    }
  });
});

if (engines().includes('postgres')) {
  describe('an interrupted CREATE INDEX CONCURRENTLY on the server', () => {
    /** A table, then a no-transaction migration that indexes it concurrently (then `more`). */
    function cicProject(more = ''): Project {
      return makeProject([
        { slug: 'tbl', up: 'create table big (id int primary key, v text);\n', down: 'drop table big;\n' },
        {
          slug: 'cic',
          up: `-- braid:no-transaction\ncreate index concurrently big_v on big (v);\n${more}`,
          down: '-- braid:no-transaction\ndrop index concurrently big_v;\n',
        },
      ]);
    }

    /**
     * Starts `braid up` while `old` holds an open snapshot, which makes CREATE INDEX CONCURRENTLY
     * wait after it created the (still invalid) index; returns once the build waits.
     */
    async function startHeldBack(p: Project, args: string[], old: Executor, admin: Executor) {
      await old.exec('begin isolation level repeatable read; select count(*) from big;');
      const run = startUp(p.repo.dir, args);
      await waitFor(
        admin,
        `select count(*)::int as n from pg_stat_activity where query ilike '%create index concurrently%' and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
      );
      return run;
    }

    /** kill -9 of braid up, then its backends ended (as the server does on its own, eventually). */
    async function killUp(
      run: { pid: number; done: Promise<number | null> },
      admin: Executor,
    ): Promise<void> {
      process.kill(run.pid, 'SIGKILL');
      await run.done;
      await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name like 'braid up%'`,
      );
      await waitFor(
        admin,
        `select (count(*) = 0)::int as n from pg_stat_activity where datname = current_database() and application_name like 'braid up%'`,
      );
    }

    it('leaves an INVALID index that the rerun detects, drops and rebuilds', async () => {
      const p = cicProject();
      const t = await targetDb('postgres', p);
      const url = t.args[1];
      try {
        expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir })).code).toBe(0);
        const old = await connectPg(url, 'old-snapshot');
        const admin = await connectPg(url, 'crash-test');
        try {
          await killUp(await startHeldBack(p, t.args, old, admin), admin);
          await old.exec('commit');
          const invalid = await admin.query<{ n: number }>(
            `select count(*)::int as n from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = 'big_v' and not i.indisvalid`,
          );
          expect(invalid.rows[0]?.n).toBe(1);
        } finally {
          await old.close();
          await admin.close();
        }
        const rerun = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
        expect(rerun.code).toBe(0);
        expect(rerun.stderr).toContain('dropped the INVALID index public.big_v');
        const valid = await inspect(t, (ex) =>
          ex.query<{ v: boolean }>(
            `select i.indisvalid as v from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = 'big_v'`,
          ),
        );
        expect(valid.rows.map((r) => r.v)).toEqual([true]);
        const audit = await inspect(t, (ex) =>
          ex.query<{ outcome: string }>(`select outcome from braid.audit where id = $1 order by seq`, [
            p.ids[1],
          ]),
        );
        expect(audit.rows.map((a) => a.outcome)).toEqual(['index-rebuilt', 'ok']);
      } finally {
        p.repo.cleanup();
        await t.drop();
      }
    });

    it('killed after the index was built, before the statement was recorded: the rerun keeps the valid index', async () => {
      const p = cicProject('select 1;\n');
      const t = await targetDb('postgres', p);
      const url = t.args[1];
      try {
        expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir })).code).toBe(0);
        const old = await connectPg(url, 'old-snapshot');
        const holder = await connectPg(url, 'progress-holder');
        const admin = await connectPg(url, 'crash-test');
        try {
          // While the build is held back, braid has recorded that it started it.
          const run = await startHeldBack(p, t.args, old, admin);
          const marker = await admin.query<{ h: string }>(
            `select statement_hash as h from braid.progress where id = $1 and statement_index = 0`,
            [p.ids[1]],
          );
          expect(marker.rows[0]?.h).toMatch(/^started:sha256:/);
          // Hold the marker row (a READ COMMITTED transaction holds no snapshot, so the build goes
          // on): braid, done building, blocks on recording the statement; it is killed there.
          await holder.exec(`begin; select * from braid.progress for update;`);
          await old.exec('commit');
          await waitFor(
            admin,
            `select count(*)::int as n from pg_stat_activity where query ilike '%insert into braid.progress%' and wait_event_type = 'Lock' and application_name like 'braid up%'`,
          );
          await killUp(run, admin);
          await holder.exec('rollback');
          const state = await admin.query<{ valid: boolean; h: string }>(
            `select (select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = 'big_v') as valid,
                    (select statement_hash from braid.progress where id = $1 and statement_index = 0) as h`,
            [p.ids[1]],
          );
          expect(state.rows[0]).toEqual({ valid: true, h: expect.stringMatching(/^started:/) });
        } finally {
          await old.close();
          await holder.close();
          await admin.close();
        }
        // Run again blindly, the statement would fail: the index already exists.
        const rerun = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
        expect(rerun.stderr).not.toContain('already exists');
        expect(rerun.code).toBe(0);
        expect(rerun.stderr).toContain(
          'the CREATE INDEX CONCURRENTLY of public.big_v finished before the last run stopped (the index is valid); keeping it',
        );
        const audit = await inspect(t, (ex) =>
          ex.query<{ outcome: string; reason: string | null }>(
            `select outcome, reason from braid.audit where id = $1 order by seq`,
            [p.ids[1]],
          ),
        );
        expect(audit.rows).toEqual([
          {
            outcome: 'ok',
            reason: 'resumed: kept the index public.big_v, built by an interrupted run and valid',
          },
        ]);
        const left = await inspect(t, (ex) =>
          ex.query<{ n: number }>('select count(*)::int as n from braid.progress'),
        );
        expect(left.rows[0]?.n).toBe(0);
      } finally {
        p.repo.cleanup();
        await t.drop();
      }
    });
  });
}
