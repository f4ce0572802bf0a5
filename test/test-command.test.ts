import fs from 'node:fs';
import path from 'node:path';
import type { TestReport } from '@braid/core';
import { connectPg } from '@braid/pg';
import { runBraid, runBraidJson } from './helpers/repo';
import { addMigrations, makeProject, type MigSpec } from './helpers/cli';
import { serverUrl } from './helpers/db';

const users: MigSpec = {
  slug: 'users',
  up: "create table users (id int primary key, email text, status text default 'new');\n",
  down: 'drop table users;\n',
};
const phoneBadDown: MigSpec = {
  slug: 'phone',
  up: 'alter table users add column phone text;\n',
  down: '-- oops\nalter table users drop column phne;\n',
};
const leavesIndex: MigSpec = {
  slug: 'email_idx',
  up: 'create index users_email_idx on users (email);\n',
  down: 'select 1;\n',
};
const wrongDefault: MigSpec = {
  slug: 'status_default',
  up: "alter table users alter column status set default 'active';\n",
  down: 'alter table users alter column status drop default;\n',
};
const irreversible: MigSpec = {
  slug: 'backfill',
  up: "-- braid:irreversible\nupdate users set status = 'x';\n",
};
const good: MigSpec = {
  slug: 'orders',
  up: 'create table orders (id int primary key, user_id int references users (id));\n',
  down: 'drop table orders;\n',
  verify: 'select user_id from orders limit 0;\n',
};

/** The shadow-selecting arguments of each engine (the server through --shadow-db). */
function shadowArgs(): [string, string[]][] {
  const list: [string, string[]][] = [['pglite', []]];
  const s = serverUrl();
  if (s) list.push(['server', ['--shadow-db', s]]);
  return list;
}

describe.each(shadowArgs())('braid test on %s', (_engine, args) => {
  it('reports each broken migration with its category and object, exit 1, and writes JUnit', async () => {
    const p = makeProject([users, phoneBadDown, leavesIndex, wrongDefault, irreversible, good]);
    try {
      const junit = path.join(p.repo.dir, 'reports', 'braid.xml');
      // Every migration is on main (protected): the default tests nothing.
      const none = await runBraid(['test', ...args], { cwd: p.repo.dir });
      expect(none.code).toBe(0);
      expect(none.stdout).toContain('nothing to test (not yet on main');

      const r = await runBraid(['test', '--all', ...args, '--junit', 'reports/braid.xml'], {
        cwd: p.repo.dir,
      });
      expect(r.code).toBe(1);
      const [a, b, c, d, e, f] = p.ids;
      expect(r.stdout).toMatch(new RegExp(`^ok +${a}$`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`^down-fails +${b}$`, 'm'));
      expect(r.stdout).toContain(`.migrations/${b}/down.sql:2:`);
      expect(r.stdout).toContain('phne');
      expect(r.stdout).toMatch(new RegExp(`^down-differs +${c} \\(also reup-fails\\)$`, 'm'));
      expect(r.stdout).toContain('      down.sql leaves index users_email_idx');
      expect(r.stdout).toMatch(new RegExp(`^down-differs +${d}$`, 'm'));
      expect(r.stdout).toContain("      down.sql restores users.status default 'new'::text as NULL");
      expect(r.stdout).toMatch(new RegExp(`^irreversible +${e} — declared irreversible, down skipped$`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`^ok +${f}$`, 'm'));
      expect(r.stdout).toContain('note: continued from the state after up.sql');
      expect(r.stdout).toMatch(
        /6 migrations tested on (PGlite|PostgreSQL server) [0-9.]+: 2 ok, 1 irreversible, 3 failed/,
      );

      const xml = fs.readFileSync(junit, 'utf8');
      expect(xml.match(/<testcase /g)).toHaveLength(6);
      expect(xml).toContain(`name="${b}"`);
      expect(xml).toContain('<failure type="down-fails"');
      expect(xml).toContain('<failure type="down-differs"');
      expect(xml).toContain('<skipped ');
      expect(xml).toMatch(/<testsuites name="braid test" tests="6" failures="3" errors="0" skipped="1"/);
    } finally {
      p.repo.cleanup();
    }
  });

  it('tests a feature branch’s new migrations by default, by id, --since, as JSON and markdown', async () => {
    const p = makeProject([users]);
    try {
      p.repo.git('checkout', '-q', '-b', 'feature');
      const [idx, ok] = addMigrations(p, [leavesIndex, good]);
      const def = await runBraidJson<TestReport>(['test', ...args], { cwd: p.repo.dir });
      expect(def.code).toBe(1);
      expect(def.json.tested).toEqual([idx, ok]);
      expect(def.json.runs).toHaveLength(1);
      const run = def.json.runs[0];
      expect(run.prefix).toBe(1);
      expect(run.engine).toBe(args.length ? 'postgres' : 'pglite');
      expect(run.results.map((x) => x.status)).toEqual(['down-differs', 'ok']);
      expect(run.results[0].problems[0].differences).toEqual(['down.sql leaves index users_email_idx']);

      const one = await runBraid(['test', ok, ...args], { cwd: p.repo.dir });
      expect(one.code).toBe(0);
      expect(one.stdout).toContain('(2 earlier migrations applied first, not tested)');
      expect(one.stdout).toMatch(/1 migration tested on .*: 1 ok/);
      if (args.length === 0) {
        // The prefix came from (and left) a PGlite snapshot in the shadow cache: the second run
        // starts from it and gives the same answer.
        const cache = path.join(p.repo.dir, '.git', 'braid', 'shadow');
        expect(
          fs.readdirSync(cache).filter((f) => /^pglite-[0-9a-f]{32}\.tar$/.test(f)).length,
        ).toBeGreaterThan(0);
        const again = await runBraid(['test', ok], { cwd: p.repo.dir });
        expect(again.code).toBe(0);
        expect(again.stdout).toContain('(2 earlier migrations applied first, not tested)');
        fs.rmSync(cache, { recursive: true, force: true });
        const fresh = await runBraid(['test', idx], { cwd: p.repo.dir });
        expect(fresh.code).toBe(1);
        expect(fresh.stdout).toContain('down.sql leaves index users_email_idx');
      }

      const since = await runBraid(['test', '--since', 'main', '--format', 'md', ...args], {
        cwd: p.repo.dir,
      });
      expect(since.code).toBe(1);
      expect(since.stdout).toContain('## braid test');
      expect(since.stdout).toContain(`| \`${idx}\` | **down-differs** |`);
      expect(since.stdout).toContain(`| \`${ok}\` | ok |`);
    } finally {
      p.repo.cleanup();
    }
  });
});

describe.each(shadowArgs())('braid test --seed on %s', (_engine, args) => {
  it('flags a migration that drops a column with data as data-losing, not as failed', async () => {
    const p = makeProject([
      users,
      {
        slug: 'drop_email',
        up: 'alter table users drop column email;\n',
        down: 'alter table users add column email text;\n',
      },
      {
        slug: 'not_null_default',
        up: "alter table users add column plan text not null default 'free';\n",
        down: 'alter table users drop column plan;\n',
      },
    ]);
    try {
      const r = await runBraid(['test', '--all', '--seed', '30', ...args], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('    data-losing: up.sql drops column users.email holding 30 values');
      expect(r.stdout).toContain(
        '    data-losing: down.sql does not restore the values of users.email (30 before up.sql, 0 after down.sql)',
      );
      expect(r.stdout).toMatch(/3 migrations tested on .*: 3 ok, 1 data-losing in/);
      const j = await runBraidJson<TestReport>(['test', p.ids[2], '--seed', '30', ...args], {
        cwd: p.repo.dir,
      });
      expect(j.code).toBe(0);
      const res = j.json.runs[0].results[0];
      expect(res.dataLosing).toBe(false);
      expect(res.data?.seeded).toEqual(['public.users']);

      addMigrations(p, [
        {
          slug: 'email_idx',
          up: 'create index users_email_idx on users (status);\n',
          down: 'drop index users_email_idx;\n',
        },
        {
          slug: 'drop_idx',
          up: 'drop index users_email_idx;\n',
          down: 'create index users_email_idx on users (status);\n',
        },
      ]);
      p.repo.write('queries.sql', "-- the hot query\nselect id from users where status = 'v7';\n");
      const q = await runBraid(
        ['test', p.ids[3], p.ids[4], '--seed', '500', '--queries', 'queries.sql', ...args],
        {
          cwd: p.repo.dir,
        },
      );
      expect(q.code).toBe(0);
      expect(q.stdout).toContain('plan-change: query queries.sql:2:');
      expect(q.stdout).toContain('replaces');
    } finally {
      p.repo.cleanup();
    }
  });
});

describe('braid test arguments', () => {
  it('refuses unknown ids, conflicting selections, bad formats and a server engine without --shadow-db', async () => {
    const p = makeProject([users]);
    try {
      const cases: [string[], string][] = [
        [['test', '20990101000000_nope'], '20990101000000_nope: no migration with this id'],
        [['test', '--all', '--since', 'main'], 'not several of them'],
        [['test', '--format', 'xml'], '--format xml: expected text, md or json'],
        [['test', '--engines', 'server'], '--engines server needs --shadow-db URL'],
        [['test', '--engines', 'oracle'], '--engines: unknown engine "oracle"'],
        [['test', '--engines', 'pglite,postgres://u:secret@[bad'], '--engines: not a valid URL'],
        [['test', '--seed', '0'], '--seed 0: expected a number of rows'],
        [['test', '--queries', 'missing.sql'], '--queries missing.sql: cannot read'],
        [['test', '--plan-threshold', '0.5'], '--plan-threshold 0.5: expected a factor above 1'],
      ];
      for (const [argv, msg] of cases) {
        const r = await runBraid(argv, { cwd: p.repo.dir });
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(msg);
        expect(r.stderr).not.toContain('secret');
      }
    } finally {
      p.repo.cleanup();
    }
  });

  const server = serverUrl();
  if (server) {
    it('--engines pglite,server records engine, version and result per migration on each', async () => {
      const p = makeProject([users, leavesIndex, wrongDefault, good]);
      // Other test files run alongside this one on the same server and make their own temporary
      // databases: only a database that appeared during this run and that no session uses any
      // more counts as left behind.
      const tempDbs = async (): Promise<{ datname: string; busy: boolean }[]> => {
        const admin = await connectPg(server, 'braid-test');
        try {
          const r = await admin.query<{ datname: string; busy: boolean }>(
            `select d.datname, exists (select 1 from pg_stat_activity a where a.datname = d.datname) as busy
               from pg_database d where d.datname like 'braid\\_test\\_tmp\\_%'`,
          );
          return r.rows;
        } finally {
          await admin.close();
        }
      };
      const before = new Set((await tempDbs()).map((d) => d.datname));
      try {
        const r = await runBraidJson<TestReport>(
          ['test', '--all', '--engines', 'pglite,server', '--shadow-db', server],
          {
            cwd: p.repo.dir,
          },
        );
        expect(r.code).toBe(1);
        expect(r.json.runs.map((x) => x.engine)).toEqual(['pglite', 'postgres']);
        expect(r.json.runs[0].serverVersionNum).toBeGreaterThanOrEqual(180000);
        const [pg, srv] = r.json.runs;
        expect(srv.results.map((x) => x.status)).toEqual(pg.results.map((x) => x.status));
        expect(pg.results.map((x) => x.status)).toEqual(['ok', 'down-differs', 'down-differs', 'ok']);
        // No temporary database is left on the server.
        const left = (await tempDbs()).filter((d) => !before.has(d.datname) && !d.busy);
        expect(left).toEqual([]);
      } finally {
        p.repo.cleanup();
      }
    });

    it('--engines with server URLs: one run per server, told apart by address, and a matrix of differences', async () => {
      // A migration that only PostgreSQL 16+ accepts (a subquery in FROM without an alias) shows
      // in the matrix when PGlite (18) and an older server run it; on a 16+ server the two agree.
      const newer: MigSpec = {
        slug: 'newer_syntax',
        up: 'create view newest as select * from (select 1 as one);\n',
        down: 'drop view newest;\n',
      };
      const p = makeProject([users, newer]);
      const admin = await connectPg(server, 'braid-test');
      const second = `braid_engines_${process.pid}_${Date.now()}`;
      await admin.exec(`create database ${second}`);
      try {
        const u = new URL(server);
        u.pathname = `/${second}`;
        const r = await runBraid(
          ['test', '--all', '--engines', `pglite,server,${u.toString()}`, '--shadow-db', server],
          {
            cwd: p.repo.dir,
          },
        );
        const serverMajor = Math.floor(admin.serverVersionNum / 10000);
        const lines = r.stdout.split('\n');
        expect(lines.filter((l) => l.startsWith('== '))).toHaveLength(3);
        expect(lines.some((l) => l.startsWith('== PostgreSQL server') && l.includes(`/${second})`))).toBe(
          true,
        );
        if (serverMajor < 16) {
          expect(r.code).toBe(1);
          const at = lines.findIndex((l) => l.startsWith('engine matrix: 1 migration differs'));
          expect(at).toBeGreaterThan(0);
          expect(lines[at + 2]).toMatch(/^ {2}\d+_newer_syntax +ok +up-fails +up-fails$/);
        } else {
          expect(r.code).toBe(0);
          expect(lines.some((l) => l.startsWith('engines agree'))).toBe(true);
        }
      } finally {
        p.repo.cleanup();
        await admin.exec(`drop database if exists ${second} with (force)`);
        await admin.close();
      }
    });
  }
});
