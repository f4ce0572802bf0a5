/**
 * braid test --stats-from URL: the seeded rows take their shape (row counts, null fractions,
 * distinct counts, widths) from a real database's planner statistics, and none of its values.
 * The stats source is a database on the server (PGlite cannot be reached by URL); the shadow is
 * PGlite and the server. The shapes are checked on the shadow itself by the migration's
 * verify.sql (it raises, so up-fails and exit 1, when a shape is off).
 */
import { randomBytes } from 'node:crypto';
import { redact, type SeedShape, type TestReport } from '@braid/core';
import { connectPg } from '@braid/pg';
import { runBraid, runBraidJson } from './helpers/repo';
import { makeProject, type MigSpec } from './helpers/cli';
import { createTestDatabase, serverUrl, type TestDatabase } from './helpers/db';

const server = serverUrl();

/** A grep-able value that exists only in the stats source. */
const SECRET = `zz-secret-${randomBytes(6).toString('hex')}`;

const ITEMS = `create table items (
  id int primary key,
  note text,
  kind text,
  label text,
  code varchar(40) not null,
  must text not null,
  tag text unique
);
create table other (id int primary key, name text);
`;

function history(): MigSpec[] {
  return [
    { slug: 'items', up: ITEMS, down: 'drop table other;\ndrop table items;\n' },
    {
      slug: 'items_kind_idx',
      up: 'create index items_kind_idx on items (kind);\n',
      down: 'drop index items_kind_idx;\n',
      // Runs on the shadow after up.sql: the generated rows have the source's shape, not its values.
      verify: `do $$
declare n bigint; nulls bigint; kinds bigint; w numeric; leaked bigint; tags bigint; musts bigint;
begin
  select count(*), count(*) filter (where note is null), count(distinct kind), avg(length(code)),
         count(*) filter (where label like '%zz-secret-%' or kind like '%zz-secret-%'
                            or note like '%zz-secret-%'),
         count(distinct tag), count(must)
    into n, nulls, kinds, w, leaked, tags, musts from items;
  if n = 0 then raise exception 'items is empty'; end if;
  if abs(nulls::numeric / n - 0.3) > 0.02 then raise exception 'null fraction of note: % of %', nulls, n; end if;
  if kinds <> 5 then raise exception 'distinct kinds: %', kinds; end if;
  if w < 25 or w > 35 then raise exception 'average code length: %', w; end if;
  if leaked > 0 then raise exception 'a value of the stats source reached the shadow'; end if;
  if tags <> n then raise exception 'unique tag has % distinct values in % rows', tags, n; end if;
  if musts <> n then raise exception 'NOT NULL column must has NULLs'; end if;
end $$;
`,
    },
  ];
}

/** The stats source: 500 rows, note 30 % NULL, kind and label 5 distinct values, code ~30 chars. */
async function statsSource(): Promise<TestDatabase> {
  const db = await createTestDatabase({ prefix: 'braid_stats_src' });
  const ex = await connectPg(db.url, 'braid-test');
  try {
    await ex.exec(`
      create table items (id int primary key, note text, kind text, label text, code varchar(40) not null,
                          must text, tag text);
      insert into items
      select g,
             case when g % 10 < 3 then null else 'note ${SECRET} ' || g end,
             'kind ${SECRET} ' || (g % 5),
             '${SECRET}-' || (g % 5),
             lpad(g::text, 30, '0'),
             case when g % 2 = 0 then null else 'm' end,
             't' || (g % 5)
        from generate_series(1, 500) g;
      analyze items;`);
  } finally {
    await ex.close();
  }
  return db;
}

function shadowArgs(): [string, string[]][] {
  const list: [string, string[]][] = [['pglite', []]];
  if (server) list.push(['server', ['--shadow-db', server]]);
  return list;
}

if (server) {
  describe.each(shadowArgs())('braid test --stats-from on %s', (_engine, args) => {
    let src: TestDatabase;
    beforeAll(async () => {
      src = await statsSource();
    });
    afterAll(async () => {
      await src.drop();
    });

    it('shapes rows, null fractions, distinct counts and widths from the statistics, never the values', async () => {
      const p = makeProject(history());
      try {
        const [, kindIdx] = p.ids;
        const r = await runBraidJson<TestReport>(['test', kindIdx, '--stats-from', src.url, ...args], {
          cwd: p.repo.dir,
        });
        // verify.sql checked the shapes on the shadow (it raises otherwise: up-fails, exit 1).
        expect(r.json.runs[0].results[0].problems).toEqual([]);
        expect(r.code).toBe(0);
        const shape = r.json.runs[0].results[0].data?.shape ?? [];
        const items = shape.find((s) => s.table === 'public.items') as SeedShape;
        expect(items.rows).toBe(500);
        expect(items.source).toBe('stats');
        const col = (c: string) => items.columns.find((x) => x.column === c);
        expect(col('note')?.nullFrac).toBeCloseTo(0.3, 1);
        expect(col('kind')?.distinct).toBe(5);
        // NOT NULL ignores null_frac; a unique column ignores n_distinct.
        expect(col('must')?.nullFrac).toBe(0);
        expect(col('tag')?.distinct).toBeNull();
        expect(col('code')?.width).toBeGreaterThanOrEqual(30);
        // A table the source does not have: the default (1000 rows without --seed).
        const other = shape.find((s) => s.table === 'public.other') as SeedShape;
        expect(other).toMatchObject({ rows: 1000, source: 'default' });
        // No value of the source in the output (the URL's database name is not a value).
        expect(r.stdout).not.toContain(SECRET);

        // --seed ROWS caps the rows of every table (and sizes the tables the source lacks).
        const capped = await runBraidJson<TestReport>(
          ['test', kindIdx, '--stats-from', src.url, '--seed', '200', ...args],
          { cwd: p.repo.dir },
        );
        expect(capped.code).toBe(0);
        const cs = capped.json.runs[0].results[0].data?.shape ?? [];
        expect(cs.map((s) => [s.table, s.rows])).toEqual([
          ['public.items', 200],
          ['public.other', 200],
        ]);
        const text = await runBraid(['test', kindIdx, '--stats-from', src.url, '--seed', '200', ...args], {
          cwd: p.repo.dir,
        });
        expect(text.code).toBe(0);
        expect(text.stdout).toContain(
          `seed: shaped by the statistics of ${redact(src.url)}: 1 table from statistics, 1 with the default 200 rows (cap 200 rows per table; no value read)`,
        );
      } finally {
        p.repo.cleanup();
      }
    });
  });

  describe('braid test --stats-from errors', () => {
    it('an unreachable source is exit 3 on one line, password redacted; a malformed URL is exit 2', async () => {
      const p = makeProject(history());
      try {
        const bad = await runBraid(
          ['test', '--all', '--stats-from', 'postgres://someone:hunter22pw@127.0.0.1:1/nowhere'],
          { cwd: p.repo.dir },
        );
        expect(bad.code).toBe(3);
        expect(bad.stderr).toContain(
          '--stats-from: cannot connect to postgres://someone:***@127.0.0.1:1/nowhere',
        );
        expect(bad.stderr.trim().split('\n')).toHaveLength(1);
        expect(bad.stdout + bad.stderr).not.toContain('hunter22pw');
        const malformed = await runBraid(['test', '--all', '--stats-from', 'not a url'], { cwd: p.repo.dir });
        expect(malformed.code).toBe(2);
        expect(malformed.stderr).toContain('--stats-from: not a valid URL');
      } finally {
        p.repo.cleanup();
      }
    });
  });
} else {
  it('braid test --stats-from needs a server (BRAID_TEST_DATABASE_URL) for its stats source', () => {
    expect(serverUrl()).toBeUndefined();
  });
}
