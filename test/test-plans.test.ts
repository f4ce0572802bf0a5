/**
 * braid test --queries with a pg_stat_statements export (CSV and JSON, `$n` parameters planned
 * as generic plans) and plan baselines stored in `.migrations/<id>/.plans.json`: written with
 * --update-baselines, committed, compared by later runs (plan-changed-vs-baseline, exit 1), and
 * invisible to `braid check` and to the migration's content hash.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hashMigration, type TestReport } from '@braid/core';
import { git, runBraid, runBraidJson } from './helpers/repo';
import { makeProject, type MigSpec } from './helpers/cli';
import { serverUrl } from './helpers/db';
import { scanProject } from '../packages/cli/src/project';

const users: MigSpec = {
  slug: 'users',
  up: 'create table users (id int primary key, email text, status text);\n',
  down: 'drop table users;\n',
};
const statusIdx: MigSpec = {
  slug: 'status_idx',
  up: 'create index users_status_idx on users (status);\n',
  down: 'drop index users_status_idx;\n',
};
const dropIdx: MigSpec = {
  slug: 'drop_status_idx',
  up: 'drop index users_status_idx;\n',
  down: 'create index users_status_idx on users (status);\n',
};

/** A pg_stat_statements CSV export as psql's \copy … csv header writes it (quoted multi-line query). */
const CSV = [
  'queryid,calls,total_exec_time,query',
  '-6543210987654321098,12,4.5,BEGIN',
  '8123456789012345678,4000,912.75,"select id, email',
  '  from users where status = $1"',
  '42,7,1.25,"select count(*) from braid.migrations where id = $1"',
  '77,3,0.5,SET statement_timeout = $1',
  '99,300,88.0,"select id from users where email = $1 and id > $2"',
  '',
].join('\n');

/** The JSON form: `select json_agg(s) from pg_stat_statements s` (queryid as a bare bigint). */
const JSON_EXPORT = `[{"userid":10,"dbid":5,"toplevel":true,"queryid":8123456789012345678,"query":"select id, email\\n  from users where status = $1","calls":4000,"total_exec_time":912.75},
 {"userid":10,"dbid":5,"toplevel":true,"queryid":-1,"query":"create index on users (email)","calls":1,"total_exec_time":30.0}]`;

function shadowArgs(): [string, string[]][] {
  const list: [string, string[]][] = [['pglite', []]];
  const s = serverUrl();
  if (s) list.push(['server', ['--shadow-db', s]]);
  return list;
}

describe.each(shadowArgs())('braid test --queries pg_stat_statements on %s', (_engine, args) => {
  it('plans $1 queries as generic plans, skips utility and registry queries, reports the dropped index by queryid', async () => {
    const p = makeProject([users, statusIdx, dropIdx]);
    try {
      p.repo.write('pgss.csv', CSV);
      // A .txt name: the format is recognised from the content.
      p.repo.write('pgss.txt', JSON_EXPORT);
      const [, , drop] = p.ids;
      const r = await runBraid(['test', drop, '--seed', '2000', '--queries', 'pgss.csv', ...args], {
        cwd: p.repo.dir,
      });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        /plan-change: query queryid 8123456789012345678: Seq Scan on users replaces (Bitmap )?Index Scan using users_status_idx/,
      );
      expect(r.stdout).toContain(
        'queries: 2 planned from pgss.csv (pg_stat_statements CSV export, by total time); 3 skipped: 2 utility statements (not plannable: BEGIN, SET, DDL, …), 1 braid registry query',
      );

      const j = await runBraidJson<
        TestReport & { queries: { skipped: { label: string; reason: string }[] } }
      >(['test', drop, '--seed', '2000', '--queries', 'pgss.txt', ...args], { cwd: p.repo.dir });
      expect(j.code).toBe(0);
      const res = j.json.runs[0].results[0];
      expect(res.planChanges?.join('\n')).toContain(
        'query queryid 8123456789012345678: Seq Scan on users replaces',
      );
      // The generic plan after the drop: a sequential scan, planned with the parameter unknown.
      expect(res.plans?.[0].plan?.tree[0]).toContain('Seq Scan on users');
      expect(j.json.queries.skipped).toEqual([{ label: 'queryid -1', reason: 'utility' }]);

      // --queries-top 1: only the query with the highest total time.
      const top = await runBraidJson<TestReport & { queries: { planned: number } }>(
        ['test', drop, '--seed', '100', '--queries', 'pgss.csv', '--queries-top', '1', ...args],
        { cwd: p.repo.dir },
      );
      expect(top.json.queries.planned).toBe(1);
      expect(top.json.runs[0].results[0].plans?.map((x) => x.label)).toEqual(['queryid 8123456789012345678']);
    } finally {
      p.repo.cleanup();
    }
  });

  it('stores plan baselines in .migrations/<id>/.plans.json; a later plan change fails with the query and the migration, and shows in git diff', async () => {
    const p = makeProject([
      users,
      {
        slug: 'orders',
        up: 'create table orders (id int primary key, user_id int, total int);\ncreate index orders_user_idx on orders (user_id);\n',
        down: 'drop table orders;\n',
      },
    ]);
    try {
      p.repo.write('queries.sql', '-- hot path\nselect id, total from orders where user_id = $1;\n');
      const [, orders] = p.ids;
      const base = ['test', orders, '--seed', '2000', '--queries', 'queries.sql', ...args];
      const w = await runBraid([...base, '--update-baselines'], { cwd: p.repo.dir });
      expect(w.code).toBe(0);
      const rel = `.migrations/${orders}/.plans.json`;
      expect(w.stdout).toContain(`baselines: wrote 1 file (1 changed): ${rel}`);
      const text = fs.readFileSync(path.join(p.repo.dir, rel), 'utf8');
      const doc = JSON.parse(text) as { sets: Record<string, { plans: Record<string, { plan: string[] }> }> };
      const set = Object.values(doc.sets)[0];
      expect(set.plans['queries.sql:2'].plan.join('\n')).toContain('orders_user_idx');
      // Diff-friendly: one plan node per line, no volatile numbers (rows, widths, startup costs).
      expect(text).not.toMatch(/Plan Rows|Startup Cost|Plan Width/);
      expect(text).toContain('\n          "plan": [\n');

      // The baseline is not part of the migration: the hash, `braid check` and the manifest ignore it.
      const files = {
        up: fs.readFileSync(path.join(p.repo.dir, `.migrations/${orders}/up.sql`), 'utf8'),
        down: fs.readFileSync(path.join(p.repo.dir, `.migrations/${orders}/down.sql`), 'utf8'),
      };
      expect(p.entries[1].hash).toBe(hashMigration(files));
      const rehash = await runBraidJson<{ changed: unknown[] }>(['hash'], { cwd: p.repo.dir });
      expect(rehash.json.changed).toEqual([]);
      // What `braid check` scans: .plans.json is neither a stray entry nor a migration file.
      const scan = scanProject(p.repo.dir);
      expect(scan?.strayEntries).toEqual([]);
      expect(Object.keys(scan?.folders.get(orders)?.files ?? {}).sort()).toEqual(['down', 'up']);
      git(p.repo.dir, ['add', rel]);
      git(p.repo.dir, ['commit', '-q', '-m', 'plan baselines']);

      // Same run again: equal to the baseline, exit 0.
      const same = await runBraid(base, { cwd: p.repo.dir });
      expect(same.code).toBe(0);
      expect(same.stdout).toContain(`baselines: compared with ${rel}`);
      expect(same.stdout).not.toContain('plan-changed-vs-baseline');

      // An earlier migration is edited so that the index the query uses is gone after `orders`.
      fs.writeFileSync(
        path.join(p.repo.dir, `.migrations/${orders}/up.sql`),
        'create table orders (id int primary key, user_id int, total int);\n',
      );
      const changed = await runBraid(base, { cwd: p.repo.dir });
      expect(changed.code).toBe(1);
      expect(changed.stdout).toMatch(
        /plan-changed-vs-baseline: query queries.sql:2: Seq Scan on orders replaces (Bitmap )?Index Scan using orders_user_idx/,
      );
      expect(changed.stdout).toContain(`after ${orders} (baseline ${rel}`);
      expect(changed.stdout).toMatch(/1 plan-changed-vs-baseline/);

      // Accept the change: the baseline is rewritten and git diff shows the plan change.
      const again = await runBraid([...base, '--update-baselines'], { cwd: p.repo.dir });
      expect(again.code).toBe(0);
      const diff = git(p.repo.dir, ['diff', '--', rel]);
      expect(diff).toMatch(/^-\s+"\s*(Bitmap )?Index Scan using orders_user_idx.*",?$/m);
      expect(diff).toMatch(/^\+\s+"Seq Scan on orders"/m);
      const after = await runBraid(base, { cwd: p.repo.dir });
      expect(after.code).toBe(0);
    } finally {
      p.repo.cleanup();
    }
  });
});

describe('braid test --queries arguments', () => {
  it('refuses a broken export, a broken baseline file, --update-baselines without --queries and a bad --queries-top', async () => {
    const p = makeProject([users]);
    try {
      p.repo.write('bad.csv', 'queryid,query\n1,"select 1\n');
      p.repo.write('short.csv', 'queryid,calls,query\n1,2\n');
      p.repo.write('utility.json', '[{"query":"BEGIN"},{"query":"SET x = $1"}]');
      p.repo.write('q.sql', 'select 1;\n');
      p.repo.write(`.migrations/${p.ids[0]}/.plans.json`, '{"format": "braid-plans 1", "sets": ');
      const cases: [string[], string][] = [
        [['test', '--queries', 'bad.csv'], '--queries bad.csv:2: unterminated quoted field'],
        [['test', '--queries', 'short.csv'], '--queries short.csv:2: 2 fields where the header has 3'],
        [
          ['test', '--queries', 'utility.json'],
          'no plannable query in the pg_stat_statements export (2 skipped: 2 utility',
        ],
        [['test', '--update-baselines'], '--update-baselines needs --queries FILE'],
        [['test', '--queries-top', '0'], '--queries-top 0: expected a number'],
        [['test', '--all', '--queries', 'q.sql'], `.migrations/${p.ids[0]}/.plans.json: not valid JSON`],
      ];
      for (const [argv, msg] of cases) {
        const r = await runBraid(argv, { cwd: p.repo.dir });
        expect(r.stderr).toContain(msg);
        expect(r.code).toBe(2);
      }
    } finally {
      p.repo.cleanup();
    }
  });
});
