import fs from 'node:fs';
import path from 'node:path';
import { runBraid, runBraidJson } from './helpers/repo';
import { engines, inspect, makeProject, targetDb } from './helpers/cli';

const USERS = {
  slug: 'create_users',
  up: 'create table users (id int primary key, email text not null);\n',
  down: 'drop table users;\n',
};

interface DriftJson {
  databaseDrift: { kind: string; key: string; action: string }[];
  historyDrift: { pending: string[]; unknown: string[]; edited: unknown[] };
  captured: { id: string; path: string } | null;
  shadow: { replayed: number; source: string; migrations: number };
}

describe.each(engines())('braid drift on %s', (engine) => {
  it('reports a hand-made ALTER TABLE and CREATE INDEX by name, captures them, and is clean after', async () => {
    const p = makeProject([USERS]);
    const t = await targetDb(engine, p);
    const cwd = p.repo.dir;
    try {
      expect((await runBraid(['up', ...t.args], { cwd })).code).toBe(0);

      const clean = await runBraidJson<DriftJson>(['drift', ...t.args], { cwd });
      expect(clean.code).toBe(0);
      expect(clean.json.databaseDrift).toEqual([]);

      // The same question again costs no replay (cache), asserted through braid's statistics.
      const again = await runBraidJson<DriftJson>(['drift', ...t.args], { cwd });
      expect(again.json.shadow).toMatchObject({ replayed: 0, source: 'model-cache', migrations: 1 });
      const fresh = await runBraidJson<DriftJson>(['drift', ...t.args, '--no-cache'], { cwd });
      expect(fresh.json.shadow).toMatchObject({ replayed: 1, source: 'fresh', migrations: 1 });

      await inspect(t, (ex) =>
        ex.exec(`alter table users add column nickname text; create index users_email_idx on users (email);`),
      );
      const drift = await runBraidJson<DriftJson>(['drift', ...t.args], { cwd });
      expect(drift.code).toBe(1);
      const names = drift.json.databaseDrift.map((c) => `${c.action} ${c.kind} ${c.key}`);
      expect(names).toEqual(
        expect.arrayContaining(['changed table public.users', 'added index public.users_email_idx']),
      );

      const text = await runBraid(['drift', ...t.args], { cwd });
      expect(text.stdout).toMatch(/column nickname: added/);
      expect(text.stdout).toMatch(/users_email_idx/);

      const cap = await runBraidJson<DriftJson>(['drift', ...t.args, '--capture', 'hand made change'], {
        cwd,
      });
      expect(cap.code).toBe(0);
      expect(cap.json.captured?.id).toMatch(/^\d{14}_hand_made_change$/);
      const up = fs.readFileSync(path.join(cwd, '.migrations', cap.json.captured!.id, 'up.sql'), 'utf8');
      expect(up).toMatch(/ADD COLUMN "nickname"/);
      expect(up).toMatch(/CREATE INDEX CONCURRENTLY users_email_idx/);
      expect(up).toMatch(/^-- braid:no-transaction/);

      // The capture is a proper migration: check passes, up has nothing left to do here, drift is empty.
      expect((await runBraid(['check'], { cwd })).code).toBe(0);
      const up2 = await runBraidJson(['up', ...t.args], { cwd });
      expect(up2.code).toBe(0);
      expect(up2.json['results']).toEqual([]);
      const after = await runBraidJson<DriftJson>(['drift', ...t.args], { cwd });
      expect(after.code).toBe(0);
      expect(after.json.databaseDrift).toEqual([]);
      expect(after.json.historyDrift.pending).toEqual([]);
    } finally {
      await t.drop();
      p.repo.cleanup();
    }
  });

  it('reports history drift: pending and applied-but-unknown migrations', async () => {
    const p = makeProject([USERS]);
    const t = await targetDb(engine, p);
    const cwd = p.repo.dir;
    try {
      const pending = await runBraidJson<DriftJson>(['drift', ...t.args], { cwd });
      expect(pending.code).toBe(1);
      expect(pending.json.historyDrift.pending).toEqual(p.ids);
    } finally {
      await t.drop();
      p.repo.cleanup();
    }
  });
});
