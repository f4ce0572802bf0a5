/**
 * braid lint --stats-from URL: batch-large-dml reports an UPDATE, DELETE or INSERT … SELECT
 * without `-- braid:batch` over a table whose planner statistics (a real, ANALYZEd server table)
 * say it has more rows than --batch-rows (default 100000), suggesting the directive with the
 * table's primary key. Silent for a small table, with the directive, and without statistics.
 */
import { connectPg } from '@braid/pg';
import { runBraid, runBraidJson } from './helpers/repo';
import { makeProject, type MigSpec } from './helpers/cli';
import { createTestDatabase, serverUrl, type TestDatabase } from './helpers/db';

const server = serverUrl();

interface LintJson {
  findings: Array<{ rule: string; migration: string; message: string; line: number }>;
}

function history(): MigSpec[] {
  return [
    {
      slug: 'tables',
      up: 'create table accounts (acct_id bigint primary key, balance int, flag int);\ncreate table small (id int primary key, n int);\ncreate table archive (acct_id bigint, balance int);\n',
      down: 'drop table archive;\ndrop table small;\ndrop table accounts;\n',
    },
    {
      slug: 'backfill',
      up: 'update accounts set flag = balance % 2 where flag is null;\n',
      down: 'update accounts set flag = null where flag is not null;\n',
    },
    { slug: 'small_fill', up: 'update small set n = 0 where n is null;\n', down: 'select 1;\n' },
    {
      slug: 'batched',
      up: '-- braid:batch key=acct_id\ndelete from accounts where balance < 0;\n',
      down: 'select 1;\n',
    },
    {
      slug: 'copy',
      up: 'insert into archive select a.acct_id, a.balance from accounts a where a.balance > 10;\n',
      down: 'delete from archive;\n',
    },
  ];
}

const byRule = (j: LintJson) => j.findings.filter((f) => f.rule === 'batch-large-dml');

if (server) {
  describe('braid lint --stats-from: batch-large-dml', () => {
    let src: TestDatabase;
    beforeAll(async () => {
      src = await createTestDatabase({ prefix: 'online_lintstats' });
      const ex = await connectPg(src.url, 'braid-test');
      try {
        await ex.exec(`
          create table accounts (acct_id bigint primary key, balance int, flag int);
          create table small (id int primary key, n int);
          create table archive (acct_id bigint, balance int);
          insert into accounts select g, g % 1000, null from generate_series(1, 200000) g;
          insert into small select g, null from generate_series(1, 100) g;
          analyze accounts;
          analyze small;`);
      } finally {
        await ex.close();
      }
    }, 60_000);
    afterAll(async () => {
      await src.drop();
    });

    it('reports large unbatched DML with the primary key as key, not small tables nor batched migrations', async () => {
      const p = makeProject(history());
      try {
        const [, backfill, , , copy] = p.ids;
        const r = await runBraidJson<LintJson>(['lint', '--json', '--stats-from', src.url], {
          cwd: p.repo.dir,
        });
        const hits = byRule(r.json);
        expect(hits.map((f) => f.migration).sort()).toEqual([backfill, copy].sort());
        const upd = hits.find((f) => f.migration === backfill)!;
        expect(upd.message).toMatch(/^UPDATE over public\.accounts \(~200,000 rows by its statistics/);
        expect(upd.message).toContain('-- braid:batch key=acct_id');
        const ins = hits.find((f) => f.migration === copy)!;
        expect(ins.message).toMatch(/^INSERT … SELECT over public\.accounts/);
        // a warning: the default --fail-on error does not fail on it
        expect(r.code).toBe(0);

        // the text format shows it too, and --fail-on warning fails
        const t = await runBraid(['lint', '--stats-from', src.url, '--fail-on', 'warning', backfill], {
          cwd: p.repo.dir,
        });
        expect(t.stdout).toContain('warning batch-large-dml: UPDATE over public.accounts');
        expect(t.code).toBe(1);

        // a higher threshold: silent
        const high = await runBraidJson<LintJson>(
          ['lint', '--json', '--stats-from', src.url, '--batch-rows', '300000'],
          { cwd: p.repo.dir },
        );
        expect(byRule(high.json)).toEqual([]);

        // without statistics the rule stays silent
        const plain = await runBraidJson<LintJson>(['lint', '--json'], { cwd: p.repo.dir });
        expect(byRule(plain.json)).toEqual([]);
      } finally {
        p.repo.cleanup();
      }
    }, 120_000);

    it('refuses a bad --batch-rows and an unreachable --stats-from with one line, exit 2', async () => {
      const p = makeProject(history());
      try {
        const bad = await runBraid(['lint', '--stats-from', src.url, '--batch-rows', 'lots'], {
          cwd: p.repo.dir,
        });
        expect(bad.code).toBe(2);
        expect(bad.stderr).toContain('--batch-rows lots: expected a whole number of rows');
        const url = new URL(src.url);
        url.pathname = '/online_no_such_db';
        const gone = await runBraid(['lint', '--stats-from', url.toString()], { cwd: p.repo.dir });
        expect(gone.stderr).toContain('--stats-from:');
        expect(gone.code).not.toBe(0);
      } finally {
        p.repo.cleanup();
      }
    }, 60_000);
  });
}
