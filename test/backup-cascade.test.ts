/**
 * `TRUNCATE … CASCADE` and backups (docs/backups.md), on the real server: the statement names
 * one table, PostgreSQL also empties every table with a foreign key to it, recursively. `braid
 * plan` lists those tables as data at risk, `braid up --backup` copies them too (found in
 * pg_constraint at backup time) and `braid down` puts every row of every one of them back.
 */
import { runBraid, runBraidJson } from './helpers/repo';
import { inspect, makeProject, targetDb, type TargetDb } from './helpers/cli';
import { requireServer } from './helpers/fleet';
import { randomBytes } from 'node:crypto';

const env = { BRAID_BACKUP_KEY: randomBytes(32).toString('base64') };

const SCHEMA = {
  slug: 'shop',
  up: `create table parent (id int primary key, label text not null);
create table child (id int primary key, parent_id int not null references parent, note text);
create table grandchild (id int primary key, child_id int references child, x numeric(8,2));
create table other (id int primary key, parent_id int);
insert into parent select g, 'parent ' || g from generate_series(1, 300) g;
insert into child select g, 1 + g % 300, case when g % 7 = 0 then null else 'note ' || g end from generate_series(1, 1000) g;
insert into grandchild select g, 1 + g % 1000, g / 3.0 from generate_series(1, 500) g;
insert into other select g, g from generate_series(1, 50) g;
`,
  down: 'drop table grandchild, child, parent, other;\n',
};
const TRUNCATE = {
  slug: 'truncate_parent',
  up: 'truncate parent cascade;\n',
  down: '-- the tables stay; their rows come back from the backup\nselect 1;\n',
};

const TABLES: Record<string, string> = {
  parent: 'id, label',
  child: 'id, parent_id, note',
  grandchild: 'id, child_id, x',
  other: 'id, parent_id',
};

const fingerprints = (t: TargetDb) =>
  inspect(t, async (ex) => {
    const out: Record<string, { n: string; h: string }> = {};
    for (const [table, cols] of Object.entries(TABLES)) {
      const r = await ex.query<{ n: string; h: string }>(
        `select count(*)::text as n, md5(coalesce(string_agg(row(${cols})::text, '|' order by id), '')) as h from ${table}`,
      );
      out[table] = r.rows[0];
    }
    return out;
  });

interface PlanJson {
  migrations: { id: string; dataAtRisk: { table: string; reasons: string[]; backedUp: boolean }[] }[];
}

describe('TRUNCATE … CASCADE on the server', () => {
  it('plan lists the referencing tables, up backs them up, down restores every row of all three', async () => {
    requireServer();
    const p = makeProject([SCHEMA, TRUNCATE]);
    const t = await targetDb('postgres', p);
    try {
      expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir, env })).code).toBe(0);
      const before = await fingerprints(t);
      expect(before.parent.n).toBe('300');
      expect(before.child.n).toBe('1000');
      expect(before.grandchild.n).toBe('500');

      const plan = await runBraidJson<PlanJson>(['plan', ...t.args, '--backup', 'destructive'], {
        cwd: p.repo.dir,
        env,
      });
      expect(plan.code).toBe(0);
      const risk = plan.json.migrations.find((m) => m.id === p.ids[1])!.dataAtRisk;
      expect(risk.map((d) => d.table).sort()).toEqual(['public.child', 'public.grandchild', 'public.parent']);
      expect(risk.every((d) => d.backedUp)).toBe(true);
      expect(risk.find((d) => d.table === 'public.grandchild')!.reasons).toEqual([
        'truncate cascade of public.parent (line 1)',
      ]);

      const up = await runBraid(['up', ...t.args, '--backup', 'destructive'], { cwd: p.repo.dir, env });
      expect(up.code).toBe(0);
      expect(up.stdout).toMatch(/backed up 1800 rows of 3 tables to \S+\.braidbak/);
      const emptied = await fingerprints(t);
      expect([emptied.parent.n, emptied.child.n, emptied.grandchild.n]).toEqual(['0', '0', '0']);
      expect(emptied.other).toEqual(before.other);

      const down = await runBraid(['down', ...t.args], { cwd: p.repo.dir, env });
      expect(down.code).toBe(0);
      expect(down.stdout).toMatch(/restored 1800 rows of 3 tables from/);
      expect(await fingerprints(t)).toEqual(before);
    } finally {
      await t.drop();
    }
  });
});
