import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { connectPg } from '@braid/pg';
import { serverUrl } from './helpers/db';
import { runBraid } from './helpers/repo';
import { engines, inspect, makeProject, tableExists, targetDb } from './helpers/cli';

const A = { slug: 'a', up: 'create table a (id int);\n', down: 'drop table a;\n' };

describe('bad input and a hostile environment', () => {
  it('an unreachable database exits 3 and never prints the password', async () => {
    const p = makeProject([A]);
    try {
      const url = 'postgres://alice:Sup3rS3cretPw@127.0.0.1:1/nowhere';
      for (const args of [
        ['up', '--db', url],
        ['status', '--db', url, '--json'],
      ]) {
        const r = await runBraid(args, { cwd: p.repo.dir });
        expect(r.code).toBe(3);
        expect(r.stderr).toContain('cannot connect to postgres://alice:***@127.0.0.1:1/nowhere');
        expect(r.stdout + r.stderr).not.toContain('Sup3rS3cretPw');
      }
      // the same through DATABASE_URL and PGPASSWORD
      const env = await runBraid(['up'], {
        cwd: p.repo.dir,
        env: { PGHOST: '127.0.0.1', PGPORT: '1', PGUSER: 'bob', PGPASSWORD: 'An0therS3cret' },
      });
      expect(env.code).toBe(3);
      expect(env.stdout + env.stderr).not.toContain('An0therS3cret');
      const bad = await runBraid(['up', '--db', 'mysql://x'], { cwd: p.repo.dir });
      expect(bad.code).toBe(2);
    } finally {
      p.repo.cleanup();
    }
  });

  it('a second runner on an embedded database in use waits, then exits 3 naming the holder', async () => {
    const p = makeProject([A]);
    try {
      const dir = path.join(p.repo.dir, '.git', 'braid', 'pglite');
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      // a live process holds the lock file
      const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
      try {
        fs.writeFileSync(`${dir}.lock`, `${holder.pid}\nbraid up (pid ${holder.pid})\n`);
        const r = await runBraid(['up', '--lock-wait', '1s'], { cwd: p.repo.dir });
        expect(r.code).toBe(3);
        expect(r.stderr).toContain(`in use by pid ${holder.pid}`);
      } finally {
        holder.kill('SIGKILL');
      }
      // a stale lock (dead pid) is taken over
      fs.writeFileSync(`${dir}.lock`, `999999999\nbraid up\n`);
      const ok = await runBraid(['up', '--lock-wait', '1s'], { cwd: p.repo.dir });
      expect(ok.code).toBe(0);
      expect(fs.existsSync(`${dir}.lock`)).toBe(false);
    } finally {
      p.repo.cleanup();
    }
  });

  it.each(engines())(
    'a runtime error (no position from PostgreSQL) still names file:line:col of its statement on %s',
    async (engine) => {
      const p = makeProject([
        A,
        {
          slug: 'boom',
          up: 'insert into a values (1);\n\n  select 1 / (select count(*) - 1 from a);\n',
          down: 'select 1;\n',
        },
      ]);
      const t = await targetDb(engine, p);
      try {
        const r = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
        expect(r.code).toBe(1);
        expect(r.stdout).toContain(`applied ${p.ids[0]}`);
        expect(r.stderr).toContain(`.migrations/${p.ids[1]}/up.sql:3:3: division by zero (SQLSTATE 22012)`);
        expect(r.stderr).toContain('  3 |   select 1 / (select count(*) - 1 from a);\n    |   ^');
        const audit = await inspect(t, (ex) =>
          ex.query<{ statement: string; sqlstate: string }>(
            `select statement, sqlstate from braid.audit where outcome = 'failed'`,
          ),
        );
        expect(audit.rows).toEqual([
          { statement: 'select 1 / (select count(*) - 1 from a)', sqlstate: '22012' },
        ]);
      } finally {
        p.repo.cleanup();
        await t.drop();
      }
    },
  );

  it.each(engines())('rejects an unknown --to id with exit 2 on %s', async (engine) => {
    const p = makeProject([A]);
    const t = await targetDb(engine, p);
    try {
      const r = await runBraid(['up', ...t.args, '--to', 'nope'], { cwd: p.repo.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--to: no migration nope');
      expect(await tableExists(t, 'a')).toBe(false);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});

// The server-only part: a second session is what these scenarios are about (on PGlite the
// data directory's lock file plays the advisory lock's role: tested above).
const server = serverUrl();
if (server) {
  describe('a second session on the server', () => {
    it('connects without $USER (CI) and refuses a registry written by a newer braid (exit 3)', async () => {
      const p = makeProject([A]);
      const t = await targetDb('postgres', p);
      try {
        const u = new URL(t.args[1]);
        u.username = '';
        u.password = '';
        const noUser = await runBraid(['up', '--db', u.toString()], {
          cwd: p.repo.dir,
          env: { USER: undefined },
        });
        expect(noUser.code).toBe(0);
        const admin = await connectPg(t.args[1], 'test');
        try {
          await admin.query(
            `insert into braid.registry_migrations (id, braid_version) values ('29991231000000_future', '99.0.0')`,
          );
        } finally {
          await admin.close();
        }
        for (const cmd of ['status', 'up', 'down']) {
          const r = await runBraid([cmd, ...t.args], { cwd: p.repo.dir });
          expect(r.code).toBe(3);
          expect(r.stderr).toContain('written by a newer braid');
        }
      } finally {
        p.repo.cleanup();
        await t.drop();
      }
    });

    it('a second runner waits for the advisory lock, then exits 3 naming the holder pid and application_name', async () => {
      const p = makeProject([A]);
      const t = await targetDb('postgres', p);
      const url = t.args[1];
      const holder = await connectPg(url, 'holder-app');
      try {
        const r0 = await holder.query<{ pid: number }>('select pg_backend_pid() as pid');
        await holder.query('select pg_advisory_lock($1::int4, $2::int4)', [0x62726169, 0x64000001]);
        const r = await runBraid(['up', ...t.args, '--lock-wait', '1s'], { cwd: p.repo.dir });
        expect(r.code).toBe(3);
        expect(r.stderr).toContain(`pid ${r0.rows[0].pid} (holder-app)`);
        expect(r.stderr).toContain('--lock-wait');
        await holder.query('select pg_advisory_unlock_all()');
        const ok = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
        expect(ok.code).toBe(0);
      } finally {
        await holder.close();
        p.repo.cleanup();
        await t.drop();
      }
    });

    it('lock_timeout: retries with backoff, then fails naming the blocking session', async () => {
      const p = makeProject([
        A,
        { slug: 'b', up: 'alter table a add column b int;\n', down: 'alter table a drop column b;\n' },
      ]);
      const t = await targetDb('postgres', p);
      const url = t.args[1];
      try {
        expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir })).code).toBe(0);
        const blocker = await connectPg(url, 'long-report');
        try {
          const r0 = await blocker.query<{ pid: number }>('select pg_backend_pid() as pid');
          await blocker.exec('begin; select * from a;');
          const r = await runBraid(['up', ...t.args, '--lock-timeout', '400ms', '--lock-retries', '2'], {
            cwd: p.repo.dir,
          });
          expect(r.code).toBe(1);
          expect(r.stderr).toMatch(/lock timeout; retry 1 in \d+ ms/);
          expect(r.stderr).toMatch(/retry 2 in/);
          expect(r.stderr).toContain('(SQLSTATE 55P03)');
          expect(r.stderr).toMatch(
            new RegExp(`blocked by pid ${r0.rows[0].pid} \\(long-report\\): .*select \\* from a`),
          );
          await blocker.exec('commit');
        } finally {
          await blocker.close();
        }
        // once the blocker is gone, the same command succeeds
        const ok = await runBraid(['up', ...t.args, '--lock-timeout', '400ms'], { cwd: p.repo.dir });
        expect(ok.code).toBe(0);
      } finally {
        p.repo.cleanup();
        await t.drop();
      }
    });
  });
}
