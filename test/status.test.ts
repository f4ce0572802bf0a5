import { runBraid, runBraidJson } from './helpers/repo';
import { addMigrations, editFile, engines, inspect, makeProject, targetDb } from './helpers/cli';

describe.each(engines())('braid status on %s', (engine) => {
  it('shows applied, pending, edited-since-applied and applied-but-unknown migrations', async () => {
    const p = makeProject([
      { slug: 'a', up: 'create table a (id int);\n', down: 'drop table a;\n' },
      { slug: 'b', up: 'create table b (id int);\n', down: 'drop table b;\n' },
    ]);
    const t = await targetDb(engine, p);
    try {
      const fresh = await runBraidJson(['status', ...t.args], { cwd: p.repo.dir });
      expect(fresh.code).toBe(0);
      expect(fresh.json['applied']).toEqual([]);
      expect((fresh.json['pending'] as { id: string }[]).map((x) => x.id)).toEqual(p.ids);
      expect(fresh.json['registry']).toEqual({ exists: false, outdated: true });

      expect((await runBraid(['up', ...t.args], { cwd: p.repo.dir })).code).toBe(0);
      // a migration applied from another branch, unknown to this one
      await inspect(t, (ex) =>
        ex.query(
          `insert into braid.applied (id, checksum, history_seq) values ('20250101000000_elsewhere', 'sha256:x', 0)`,
        ),
      );
      editFile(p, p.ids[1], 'up.sql', 'create table b (id bigint);\n');
      addMigrations(p, [{ slug: 'c', up: 'create table c (id int);\n', down: 'drop table c;\n' }]);

      const s = await runBraidJson(['status', ...t.args], { cwd: p.repo.dir });
      expect(s.code).toBe(0);
      const applied = s.json['applied'] as { id: string; state: string }[];
      expect(applied.map((a) => [a.id, a.state])).toEqual([
        ['20250101000000_elsewhere', 'unknown'],
        [p.ids[0], 'ok'],
        [p.ids[1], 'edited'],
      ]);
      expect((s.json['pending'] as { id: string }[]).map((x) => x.id)).toEqual([p.ids[2]]);
      expect(s.json['unknown']).toEqual(['20250101000000_elsewhere']);
      expect((s.json['edited'] as { id: string }[]).map((x) => x.id)).toEqual([p.ids[1]]);

      const text = await runBraid(['status', ...t.args], { cwd: p.repo.dir });
      expect(text.stdout).toContain(`EDITED since applied   ${p.ids[1]}`);
      expect(text.stdout).toContain(`pending                ${p.ids[2]}`);
      expect(text.stdout).toContain('3 applied, 1 pending, 1 edited, 1 unknown to this branch');
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});
