/**
 * --stats-from at the engine level: readStats reads numbers only, and runRoundTrips seeds with
 * them (FK, CHECK and generic plans of $n queries included), on PGlite and on the server.
 */
import { openTestShadow, readStats, runRoundTrips, type SourceMigration, type StatsSource } from '@braid/pg';
import { serverUrl } from '../../../test/helpers/db';

let n = 0;
function mig(slug: string, up: string, down: string, verify?: string): SourceMigration {
  n++;
  return {
    id: `202602020000${String(n).padStart(2, '0')}_${slug}`,
    files: { up, down, ...(verify === undefined ? {} : { verify }) },
    directives: { noTransaction: false, irreversible: false },
    hash: `sha256:${String(n).padStart(64, '0')}`,
  };
}

const engines: [string, string | undefined][] = [['pglite', undefined]];
if (serverUrl()) engines.push(['server', serverUrl()]);

describe.each(engines)('statistics as data shapes on %s', (_name, server) => {
  it('readStats returns row counts and per-column null_frac, n_distinct, avg_width (numbers, no values)', async () => {
    const sh = await openTestShadow(server);
    try {
      await sh.ex.exec(`
        create schema "Sales";
        create table "Sales".t (id int, c text);
        insert into "Sales".t select g, case when g % 4 = 0 then null else 'val-' || (g % 3) end
          from generate_series(1, 400) g;
        analyze "Sales".t;`);
      const s = await readStats(sh.ex);
      const t = s.get('"Sales".t');
      expect(t?.rows).toBe(400);
      const c = t?.columns.get('c');
      expect(c?.nullFrac).toBeCloseTo(0.25, 2);
      expect(c?.nDistinct).toBe(3);
      expect(c?.avgWidth).toBe(6);
      expect(Object.keys(c ?? {}).sort()).toEqual(['avgWidth', 'nDistinct', 'nullFrac']);
      // Negative n_distinct (a fraction of the rows) is kept as is: -1 = every row distinct.
      expect(t?.columns.get('id')?.nDistinct).toBe(-1);
    } finally {
      await sh.close();
    }
  });

  it('seeds FK, CHECK and enum columns with the shapes, falls back to the plain generator when a CHECK refuses them', async () => {
    const parent = mig(
      'parent',
      `create type mood as enum ('a', 'b', 'c', 'd');
       create table parent (id int primary key, m mood);
       create table child (id int primary key, parent_id int references parent (id));
       create table strict (id int primary key, v text check (v is not null));`,
      'drop table strict; drop table child; drop table parent; drop type mood;',
    );
    const idx = mig(
      'child_idx',
      'create index child_parent_idx on child (parent_id);',
      'drop index child_parent_idx;',
      `do $$ begin
         if (select count(distinct parent_id) from child) <> 3 then raise exception 'parent_id distinct'; end if;
         if (select count(*) from child where parent_id is null) <> 1000 then raise exception 'parent_id nulls'; end if;
         if (select count(*) from parent) <> 20 then raise exception 'parent rows'; end if;
         if (select count(distinct m) from parent) <> 2 then raise exception 'enum distinct'; end if;
       end $$;`,
    );
    const stats: StatsSource = new Map([
      [
        'public.parent',
        {
          rows: 20,
          columns: new Map([['m', { nullFrac: 0, nDistinct: 2, avgWidth: 4 }]]),
        },
      ],
      [
        'public.child',
        {
          rows: 5000,
          columns: new Map([['parent_id', { nullFrac: 0.2, nDistinct: 3, avgWidth: 4 }]]),
        },
      ],
      [
        'public.strict',
        {
          rows: 50,
          // The CHECK (v is not null) refuses the NULLs the stats ask for: plain rows instead.
          columns: new Map([['v', { nullFrac: 0.5, nDistinct: -0.5, avgWidth: 8 }]]),
        },
      ],
    ]);
    const sh = await openTestShadow(server);
    try {
      const run = await runRoundTrips(sh.ex, [parent, idx], new Set([idx.id]), {
        seed: 10000,
        stats,
        seedDefault: 10,
        queries: [
          { label: 'q1', text: 'select id from child where parent_id = $1', params: 1 },
          { label: 'q2', text: 'select parent_id from child where id = $1', params: 1 },
        ],
      });
      const r = run.results[0];
      expect(r.problems).toEqual([]);
      const shape = (t: string) => r.data?.shape?.find((s) => s.table === t);
      expect(shape('public.child')?.rows).toBe(5000);
      expect(shape('public.child')?.fallback).toBeUndefined();
      expect(shape('public.strict')?.fallback).toMatch(/check constraint/);
      expect(r.data?.seeded.sort()).toEqual(['public.child', 'public.parent', 'public.strict']);
      expect(r.data?.notSeeded).toEqual([]);
      expect(r.status).toBe('ok');
      // Generic plans of $1 queries (parameter types inferred, values unknown).
      expect(r.plans?.[0].plan?.tree.join(' ')).toMatch(/on child/);
      expect(r.plans?.[1].plan?.tree.join(' ')).toMatch(/Index Scan using child_pkey on child/);
    } finally {
      await sh.close();
    }
  });
});
