/**
 * Criss-cross merges: two branches that merged each other, then both added migrations, so
 * `git merge-base --all` gives two commits. Git merges the two merge bases into a virtual base
 * first (calling braid's driver with the merge bases' manifests), then merges the tips against
 * it. braid must merge the commuting case, stop the colliding one naming the object, and judge
 * `braid diff` / `braid ci` against the same virtual base.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashMigration, parseManifest, serializeManifest, type ManifestEntry } from '@braid/core';
import { createTestDatabase } from './helpers/db';
import { spawnSync } from 'node:child_process';
import { install, primaryEngine, shadowArgs } from './helpers/branching';
import { testGitEnv } from './helpers/gitrepo';
import { createGitRepo, git, runBraid, runBraidJson, writeMigration, type TempRepo } from './helpers/repo';

const engine = primaryEngine();

function manifestOf(repo: TempRepo): ManifestEntry[] {
  const text = readFileSync(join(repo.dir, '.migrations', 'manifest'), 'utf8');
  return text.trim() ? parseManifest(text).manifest.entries : [];
}

/** Adds a migration (parent: the manifest's last entry) and commits it. */
function addMigration(repo: TempRepo, id: string, up: string): void {
  const files = { up, down: 'select 1;\n' };
  writeMigration(repo, id, files);
  const entries = manifestOf(repo);
  const last = entries[entries.length - 1];
  entries.push({ id, hash: hashMigration(files), parents: last ? [last.id] : [] });
  repo.write('.migrations/manifest', serializeManifest({ entries }));
  git(repo.dir, ['add', '-A']);
  git(repo.dir, ['commit', '-q', '--no-verify', '-m', id]);
}

/** `git merge` with both streams (the driver reports on stderr). */
function merge(repo: TempRepo, what: string): { code: number; out: string } {
  const r = spawnSync('git', ['merge', '--no-edit', what], {
    cwd: repo.dir,
    env: testGitEnv(),
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

/** Replays on a loaded machine: generous time per test (no timing assertions). */
const SLOW = 600_000;

interface CrissCross {
  repo: TempRepo;
  x0: string;
  y0: string;
}

let n = 0;
const id = (slug: string, hour: number) => {
  n++;
  return `20261126${String(hour).padStart(2, '0')}${String(n % 60).padStart(2, '0')}00_${slug}`;
};

/**
 * main: users. X adds x1, Y adds y1; X merges Y's first commit and Y merges X's (the driver proves
 * each); then X adds `x2` and Y adds `y2`. Checked out: X. `git merge Y` is a criss-cross.
 */
async function crissCross(x1: string, y1: string, x2: string, y2: string): Promise<CrissCross> {
  const repo = createGitRepo();
  repo.write('.migrations/manifest', serializeManifest({ entries: [] }));
  git(repo.dir, ['add', '-A']);
  git(repo.dir, ['commit', '-q', '--no-verify', '-m', 'init']);
  addMigration(repo, id('users', 10), 'create table users (id int primary key, name text);');
  await install(repo, engine);
  git(repo.dir, ['checkout', '-q', '-b', 'X']);
  addMigration(repo, id('x1', 11), x1);
  const x0 = git(repo.dir, ['rev-parse', 'HEAD']).trim();
  git(repo.dir, ['checkout', '-q', '-b', 'Y', 'main']);
  addMigration(repo, id('y1', 12), y1);
  const y0 = git(repo.dir, ['rev-parse', 'HEAD']).trim();
  git(repo.dir, ['checkout', '-q', 'X']);
  expect(merge(repo, y0).code).toBe(0);
  git(repo.dir, ['checkout', '-q', 'Y']);
  expect(merge(repo, x0).code).toBe(0);
  git(repo.dir, ['checkout', '-q', 'X']);
  addMigration(repo, id('x2', 13), x2);
  git(repo.dir, ['checkout', '-q', 'Y']);
  addMigration(repo, id('y2', 14), y2);
  git(repo.dir, ['checkout', '-q', 'X']);
  const bases = git(repo.dir, ['merge-base', '--all', 'X', 'Y']).trim().split('\n');
  expect(bases.sort()).toEqual([x0, y0].sort());
  return { repo, x0, y0 };
}

async function freshUp(dir: string): Promise<void> {
  const db = await createTestDatabase({ prefix: 'braid_cc', pglitePath: join(dir, '.git', 'fresh-db') });
  try {
    const r = await runBraid(['up', '--db', db.url], { cwd: dir });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  } finally {
    await db.drop();
  }
}

interface VerdictJson {
  verdict: string;
  labels: { base: string };
  ours: { added: string[] };
  theirs: { added: string[] };
  reasons: string[];
}

/** x1, y1, x2, y2 of a criss-cross whose new migrations (x2, y2) commute. */
const COMMUTING = [
  'create table x1 (id int);',
  'create table y1 (id int);',
  'alter table users add column phone text;',
  "create table audit (id int, at text default 'now');",
] as const;

describe(`criss-cross merges (${engine})`, () => {
  test(
    'both sides new migrations commute: the merge goes through, braid check passes, a fresh database applies it',
    async () => {
      const c = await crissCross(...COMMUTING);
      try {
        const before = manifestOf(c.repo).map((e) => e.id);
        const diff = await runBraidJson<VerdictJson>(['diff', 'X', 'Y', ...shadowArgs(engine)], {
          cwd: c.repo.dir,
        });
        expect(diff.code).toBe(0);
        expect(diff.json.verdict).toBe('safe');
        expect(diff.json.labels.base).toMatch(/^virtual base of [0-9a-f]{12} \+ [0-9a-f]{12}$/);
        expect(diff.json.ours.added).toEqual([before[3]]);
        expect(diff.json.theirs.added).toHaveLength(1);
        expect(diff.json.theirs.added[0]).toMatch(/_y2$/);

        const m = merge(c.repo, 'Y');
        expect(`${m.out}\nexit ${m.code}`).toMatch(/\nexit 0$/);
        expect(m.out).toMatch(/braid: merged the manifests of two merge bases/);
        const ids = manifestOf(c.repo).map((e) => e.id);
        expect(ids.slice(0, 4)).toEqual(before);
        expect(ids).toHaveLength(5);
        expect(ids[4]).toMatch(/_y2$/);
        const check = await runBraid(['check'], { cwd: c.repo.dir });
        expect({ code: check.code, out: check.stdout }).toEqual({
          code: 0,
          out: expect.stringMatching(/^ok:/),
        });
        await freshUp(c.repo.dir);
      } finally {
        c.repo.cleanup();
      }
    },
    SLOW,
  );

  test(
    'a real collision after the criss-cross: the merge stops and names the object; braid diff and braid ci say conflict',
    async () => {
      const c = await crissCross(
        'create table x1 (id int);',
        'create table y1 (id int);',
        'alter table users add column nickname text;',
        'alter table users add column nickname int;',
      );
      try {
        const diff = await runBraidJson<VerdictJson>(['diff', 'X', 'Y', ...shadowArgs(engine)], {
          cwd: c.repo.dir,
        });
        expect(diff.code).toBe(1);
        expect(diff.json.reasons.join('\n')).toMatch(/column public\.users\.nickname added on both sides/);
        // Only the new migrations are judged (x1/y1 are shared history).
        expect(diff.json.ours.added).toHaveLength(1);

        const ci = await runBraid(['ci', '--base', 'Y', ...shadowArgs(engine)], { cwd: c.repo.dir });
        expect(ci.code).toBe(1);
        expect(ci.stdout).toMatch(/column public\.users\.nickname/);

        const m = merge(c.repo, 'Y');
        expect(m.code).not.toBe(0);
        expect(m.out).toMatch(/CONFLICT \(content\): Merge conflict in \.migrations\/manifest/);
        expect(m.out).toMatch(/column public\.users\.nickname added on both sides/);
        expect(readFileSync(join(c.repo.dir, '.git', 'braid', 'conflict-X.md'), 'utf8')).toMatch(
          /column public\.users\.nickname/,
        );
      } finally {
        c.repo.cleanup();
      }
    },
    SLOW,
  );

  test(
    'merge bases that were merged by hand (the driver had said conflict): the criss-cross still judges only the new migrations',
    async () => {
      // x1 and y1 do not commute (a select-star view vs a new column): each cross merge was
      // resolved by hand (union manifest), so both tips carry that decision already.
      const repo = createGitRepo();
      try {
        repo.write('.migrations/manifest', serializeManifest({ entries: [] }));
        git(repo.dir, ['add', '-A']);
        git(repo.dir, ['commit', '-q', '--no-verify', '-m', 'init']);
        addMigration(repo, id('users', 10), 'create table users (id int primary key, name text);');
        await install(repo, engine);
        git(repo.dir, ['checkout', '-q', '-b', 'X']);
        addMigration(repo, id('x1', 11), 'create view everyone as select * from users;');
        const x0 = git(repo.dir, ['rev-parse', 'HEAD']).trim();
        const x0Manifest = manifestOf(repo);
        git(repo.dir, ['checkout', '-q', '-b', 'Y', 'main']);
        addMigration(repo, id('y1', 12), 'alter table users add column email text;');
        const y0 = git(repo.dir, ['rev-parse', 'HEAD']).trim();
        const union = [...x0Manifest, manifestOf(repo)[1]];
        const byHand = (other: string) => {
          const r = merge(repo, other);
          expect(r.code).not.toBe(0); // the driver stops it
          repo.write('.migrations/manifest', serializeManifest({ entries: union }));
          git(repo.dir, ['add', '-A']);
          git(repo.dir, ['commit', '-q', '--no-verify', '--no-edit']);
        };
        git(repo.dir, ['checkout', '-q', 'X']);
        byHand(y0);
        git(repo.dir, ['checkout', '-q', 'Y']);
        byHand(x0);
        addMigration(repo, id('y2', 14), 'create table y2 (id int);');
        git(repo.dir, ['checkout', '-q', 'X']);
        addMigration(repo, id('x2', 13), 'create table x2 (id int);');

        const m = merge(repo, 'Y');
        expect(`${m.out}\nexit ${m.code}`).toMatch(/\nexit 0$/);
        const ids = manifestOf(repo).map((e) => e.id);
        expect(ids.slice(0, 3)).toEqual(union.map((e) => e.id));
        expect(ids.slice(3).map((x) => x.replace(/^\d+_/, ''))).toEqual(['x2', 'y2']);
        expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(0);
      } finally {
        repo.cleanup();
      }
    },
    SLOW,
  );

  test(
    'a tip that removed a migration of a merge base: the merge stops (never a silent union)',
    async () => {
      const c = await crissCross(
        'create table x1 (id int);',
        'create table y1 (id int);',
        'create table x2 (id int);',
        'create table y2 (id int);',
      );
      try {
        // X drops y1 from its manifest (history rewritten after it was shared).
        const entries = manifestOf(c.repo);
        const y1 = entries.find((e) => e.id.endsWith('_y1'))!;
        const kept = entries
          .filter((e) => e.id !== y1.id)
          .map((e) => (e.parents.includes(y1.id) ? { ...e, parents: [entries[1].id] } : e));
        c.repo.write('.migrations/manifest', serializeManifest({ entries: kept }));
        c.repo.remove(`.migrations/${y1.id}`);
        git(c.repo.dir, ['add', '-A']);
        git(c.repo.dir, ['commit', '-q', '--no-verify', '-m', 'drop y1']);
        const m = merge(c.repo, 'Y');
        expect(m.code).not.toBe(0);
        expect(m.out).toMatch(new RegExp(`${y1.id} existed at the merge base and was removed by ours`));
      } finally {
        c.repo.cleanup();
      }
    },
    SLOW,
  );

  test(
    'merge-points after a criss-cross judges against the virtual base: only the new migrations on either side',
    async () => {
      const c = await crissCross(...COMMUTING);
      try {
        const ids = manifestOf(c.repo).map((e) => e.id); // on X: users, x1, y1 (merged), x2
        const r = await runBraidJson<{
          mergeBases: string[];
          baseLabel: string;
          points: { commit: string; verdict: string; introduced: string[] }[];
          lastSafe?: { commit: string };
          intoNew: string[];
          migrations: { id: string; status: string }[];
        }>(['merge-points', 'Y', '--into', 'X', ...shadowArgs(engine)], { cwd: c.repo.dir });
        expect(r.code).toBe(0);
        expect(r.json.mergeBases.sort()).toEqual([c.x0, c.y0].sort());
        expect(r.json.baseLabel).toMatch(/^virtual base of [0-9a-f]{12} \+ [0-9a-f]{12}$/);
        // x1 and y1 are shared history of both tips: neither is new on either side
        expect(r.json.intoNew).toEqual([ids[3]]);
        // Y's commits that X lacks: the merge of x1 into Y, then y2
        const y = git(c.repo.dir, ['rev-list', '--first-parent', '--reverse', 'X..Y']).trim().split('\n');
        expect(r.json.points.map((p) => p.commit)).toEqual(y);
        expect(r.json.points.map((p) => p.verdict)).toEqual(['safe', 'safe']);
        expect(r.json.points.flatMap((p) => p.introduced)).toEqual([expect.stringMatching(/_y2$/)]);
        expect(r.json.lastSafe?.commit).toBe(y[1]);
        expect(r.json.migrations).toEqual([
          { id: expect.stringMatching(/_y2$/), status: 'commutes', reason: expect.any(String) },
        ]);
        const text = await runBraid(['merge-points', 'Y', '--into', 'X', '--static'], { cwd: c.repo.dir });
        expect(text.code).toBe(0);
        expect(text.stdout).toMatch(
          /^merge points of Y into X \(virtual base of [0-9a-f]{12} \+ [0-9a-f]{12}, 2 commit\(s\), static analysis only\):/,
        );
      } finally {
        c.repo.cleanup();
      }
    },
    SLOW,
  );
});
