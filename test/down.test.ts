import { runBraid, runBraidJson } from './helpers/repo';
import { engines, inspect, makeProject, tableExists, targetDb } from './helpers/cli';

const table = (name: string) => ({
  slug: `create_${name}`,
  up: `create table ${name} (id int primary key);\n`,
  down: `drop table ${name};\n`,
});

describe.each(engines())('braid down on %s', (engine) => {
  it('rolls back one step by default, then --steps N, then --to ID (newest first)', async () => {
    const p = makeProject([table('a'), table('b'), table('c'), table('d'), table('e')]);
    const t = await targetDb(engine, p);
    try {
      expect((await runBraid(['up', ...t.args], { cwd: p.repo.dir })).code).toBe(0);
      const one = await runBraid(['down', ...t.args], { cwd: p.repo.dir });
      expect(one.code).toBe(0);
      expect(one.stdout).toContain(`rolled back ${p.ids[4]}`);
      expect(await tableExists(t, 'e')).toBe(false);
      expect(await tableExists(t, 'd')).toBe(true);

      const two = await runBraidJson(['down', ...t.args, '--steps', '2'], { cwd: p.repo.dir });
      expect(two.code).toBe(0);
      expect((two.json['results'] as { id: string }[]).map((r) => r.id)).toEqual([p.ids[3], p.ids[2]]);

      const to = await runBraid(['down', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir });
      expect(to.code).toBe(0);
      expect(to.stdout).toContain(`rolled back ${p.ids[1]}`);
      expect(await tableExists(t, 'a')).toBe(true);
      expect(await tableExists(t, 'b')).toBe(false);

      const bad = await runBraid(['down', ...t.args, '--to', p.ids[3]], { cwd: p.repo.dir });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(`--to: ${p.ids[3]} is not applied`);
      const badSteps = await runBraid(['down', ...t.args, '--steps', 'zero'], { cwd: p.repo.dir });
      expect(badSteps.code).toBe(2);

      const hist = await inspect(t, (ex) =>
        ex.query<{ id: string; direction: string }>('select id, direction from braid.history order by seq'),
      );
      expect(hist.rows.filter((h) => h.direction === 'down').map((h) => h.id)).toEqual([
        p.ids[4],
        p.ids[3],
        p.ids[2],
        p.ids[1],
      ]);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });

  it('refuses to roll back an irreversible migration, rolling back nothing', async () => {
    const p = makeProject([
      table('a'),
      { slug: 'backfill', up: '-- braid:irreversible\ninsert into a values (1);\n' },
      table('c'),
    ]);
    const t = await targetDb(engine, p);
    try {
      expect((await runBraid(['up', ...t.args], { cwd: p.repo.dir })).code).toBe(0);
      const r = await runBraid(['down', ...t.args, '--steps', '2'], { cwd: p.repo.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`cannot roll back ${p.ids[1]}: it is marked irreversible`);
      expect(await tableExists(t, 'c')).toBe(true);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});
