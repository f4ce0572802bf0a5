import { runBraid } from './helpers/repo';
import { engines, inspect, makeProject, targetDb } from './helpers/cli';

const MIGS = Array.from({ length: 6 }, (_, i) => ({
  slug: `t${i}`,
  up: `create table t${i} (id int primary key);\ninsert into t${i} values (${i});\nselect pg_sleep(0.1);\n`,
  down: `drop table t${i};\n`,
}));

describe.each(engines())('8 concurrent `braid up` on one %s database', (engine) => {
  it('applies every migration exactly once; every runner exits 0 (or 3 after --lock-wait)', async () => {
    const p = makeProject(MIGS);
    const t = await targetDb(engine, p);
    try {
      const runs = await Promise.all(
        Array.from({ length: 8 }, () => runBraid(['up', ...t.args, '--json'], { cwd: p.repo.dir })),
      );
      for (const r of runs) expect([0, 3].includes(r.code) ? 'ok' : `exit ${r.code}: ${r.stderr}`).toBe('ok');
      const ok = runs.filter((r) => r.code === 0);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      // between them, the successful runners applied each migration exactly once
      const applied = ok.flatMap((r) =>
        (JSON.parse(r.stdout) as { results: { id: string }[] }).results.map((x) => x.id),
      );
      expect([...applied].sort()).toEqual([...p.ids].sort());
      for (const r of runs.filter((x) => x.code === 3)) expect(r.stderr).toMatch(/lock|in use/);

      const hist = await inspect(t, (ex) =>
        ex.query<{ id: string; direction: string }>('select id, direction from braid.history order by seq'),
      );
      expect(hist.rows.map((h) => h.id)).toEqual(p.ids);
      expect(hist.rows.every((h) => h.direction === 'up')).toBe(true);
      const rows = await inspect(t, (ex) =>
        ex.query<{ n: number }>(
          `select (select count(*) from t0) + (select count(*) from t1) + (select count(*) from t2)
                + (select count(*) from t3) + (select count(*) from t4) + (select count(*) from t5) as n`,
        ),
      );
      expect(Number(rows.rows[0]?.n)).toBe(6);
      const audit = await inspect(t, (ex) =>
        ex.query<{ n: number }>(`select count(*)::int as n from braid.audit where outcome = 'ok'`),
      );
      expect(audit.rows[0]?.n).toBe(6);
    } finally {
      p.repo.cleanup();
      await t.drop();
    }
  });
});
