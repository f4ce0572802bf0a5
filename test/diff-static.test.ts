/**
 * `braid diff --static` reads only the three manifests and the files of the migrations each side
 * added or edited (not every migration at every ref): its findings must equal those of the full
 * read that the replaying diff does.
 */
import { join } from 'node:path';
import { hashMigration, parseManifest, serializeManifest } from '@braid/core';
import { buildScenario, primaryEngine, shadowArgs, type Scenario } from './helpers/branching';
import { git, runBraid, runBraidJson } from './helpers/repo';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const engine = primaryEngine();
const SCENARIO: Scenario = {
  base: ['create table users (id int primary key, name text);', 'create table items (id int);'],
  ours: [['alter table users add column phone text;', 'create index items_id on items (id);']],
  theirs: [['create table orders (id int, user_id int);'], ['alter table users add column nickname text;']],
};

interface Side {
  added: string[];
  edited: string[];
  removed: string[];
  touches: unknown[];
  incomplete: unknown[];
}
interface VerdictJson {
  static: boolean;
  ours: Side;
  theirs: Side;
  collisions: unknown[];
  mergedOrder?: string[];
}

const staticPart = (v: VerdictJson) => ({
  ours: [v.ours.added, v.ours.edited, v.ours.removed, v.ours.touches, v.ours.incomplete],
  theirs: [v.theirs.added, v.theirs.edited, v.theirs.removed, v.theirs.touches, v.theirs.incomplete],
  collisions: v.collisions,
  mergedOrder: v.mergedOrder,
});

describe('braid diff --static reads only what it analyses', () => {
  test('same migrations, footprints and collisions as the full read (an edited base migration too)', async () => {
    const b = buildScenario(SCENARIO);
    try {
      // feature also edits a base migration (its file and its manifest hash)
      git(b.repo.dir, ['checkout', '-q', 'feature']);
      const id = b.baseIds[1];
      const up = join(b.repo.dir, '.migrations', id, 'up.sql');
      writeFileSync(up, 'create table items (id bigint);\n');
      const mpath = join(b.repo.dir, '.migrations', 'manifest');
      const m = parseManifest(readFileSync(mpath, 'utf8')).manifest;
      const e = m.entries.find((x) => x.id === id)!;
      e.hash = hashMigration({
        up: readFileSync(up, 'utf8'),
        down: readFileSync(up.replace('up.sql', 'down.sql'), 'utf8'),
      });
      writeFileSync(mpath, serializeManifest(m));
      b.repo.commit('edit a shared migration');
      git(b.repo.dir, ['checkout', '-q', 'main']);

      const s = await runBraidJson<VerdictJson>(['diff', 'main', 'feature', '--static'], { cwd: b.repo.dir });
      expect(s.json.static).toBe(true);
      expect(s.json.theirs.edited).toEqual([id]);
      expect(s.json.theirs.added).toEqual(b.theirsIds);
      expect(s.json.ours.added).toEqual(b.oursIds);
      const full = await runBraidJson<VerdictJson>(['diff', 'main', 'feature', ...shadowArgs(engine)], {
        cwd: b.repo.dir,
      });
      // (an edited shared migration is a manifest conflict: no replay, but the full read was made)
      expect(staticPart(s.json)).toEqual(staticPart(full.json));
      expect((s.json.theirs.touches as { at: string }[]).some((t) => t.at.startsWith(`${id}/`))).toBe(true);
    } finally {
      b.repo.cleanup();
    }
  });

  test('footprints are remembered in .git/braid by content: same verdict warm, corrupt memo ignored', async () => {
    const b = buildScenario(SCENARIO);
    try {
      const memo = join(b.repo.dir, '.git', 'braid', 'footprints.json');
      const run = async (): Promise<VerdictJson> =>
        (await runBraidJson<VerdictJson>(['diff', 'main', 'feature', '--static'], { cwd: b.repo.dir })).json;
      const cold = await run();
      expect(existsSync(memo)).toBe(true);
      const keys = Object.keys(JSON.parse(readFileSync(memo, 'utf8')).entries as object);
      expect(keys.map((k) => k.split(' ')[0]).sort()).toEqual([...b.oursIds, ...b.theirsIds].sort());
      expect(keys.every((k) => /^\S+ sha256:[0-9a-f]{64}$/.test(k))).toBe(true);
      expect(await run()).toEqual(cold);
      writeFileSync(memo, '{"v":1,"build":');
      expect(await run()).toEqual(cold);
      // different contents under the same id: a different key (the memo does not answer)
      git(b.repo.dir, ['checkout', '-q', 'feature']);
      const id = b.theirsIds[0];
      const up = join(b.repo.dir, '.migrations', id, 'up.sql');
      writeFileSync(up, 'create table orders2 (id int, user_id int);\n');
      const mpath = join(b.repo.dir, '.migrations', 'manifest');
      const m = parseManifest(readFileSync(mpath, 'utf8')).manifest;
      m.entries.find((x) => x.id === id)!.hash = hashMigration({
        up: readFileSync(up, 'utf8'),
        down: readFileSync(up.replace('up.sql', 'down.sql'), 'utf8'),
      });
      writeFileSync(mpath, serializeManifest(m));
      b.repo.commit('orders is orders2');
      git(b.repo.dir, ['checkout', '-q', 'main']);
      const after = await run();
      expect(JSON.stringify(after.theirs.touches)).toContain('table public.orders2');
    } finally {
      b.repo.cleanup();
    }
  });

  test('a migration a side lists without its up.sql: exit 2 naming the ref and the file', async () => {
    const b = buildScenario(SCENARIO);
    try {
      git(b.repo.dir, ['checkout', '-q', 'feature']);
      rmSync(join(b.repo.dir, '.migrations', b.theirsIds[0], 'up.sql'));
      git(b.repo.dir, ['add', '-A']);
      b.repo.commit('lose an up.sql');
      git(b.repo.dir, ['checkout', '-q', 'main']);
      const r = await runBraid(['diff', 'main', 'feature', '--static'], { cwd: b.repo.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`feature:.migrations/${b.theirsIds[0]}/up.sql does not exist at feature`);
    } finally {
      b.repo.cleanup();
    }
  });
});
