/**
 * braid's post-checkout hook end to end: `braid install` in a real repository, `braid up` on the
 * embedded PGlite database, then real `git checkout`s. The hook prints one line when the database
 * holds migrations of another branch (naming them and the command that fixes it), nothing when
 * the branch is in sync, never fails the checkout, reads the state file braid leaves next to the
 * database instead of booting PGlite, and chains an existing hook under core.hooksPath.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildScenario, install, type Built } from './helpers/branching';
import { testGitEnv } from './helpers/gitrepo';
import { git, runBraid, runBraidJson } from './helpers/repo';

/** `git checkout` with both streams (the hook writes to stderr). */
function checkout(dir: string, ref: string): { code: number; stderr: string } {
  const r = spawnSync('git', ['checkout', '-q', ref], { cwd: dir, env: testGitEnv(), encoding: 'utf8' });
  return { code: r.status ?? -1, stderr: r.stderr };
}

/** main: one base migration; feature: the base plus one migration main lacks. */
function scenario(): Built {
  return buildScenario({
    base: ['create table users (id int primary key);'],
    ours: [],
    theirs: [['create table orders (id int primary key);']],
  });
}

const pglite = (b: Built) => join(b.repo.dir, '.git', 'braid', 'pglite');

describe('post-checkout hook', () => {
  test('a branch whose migrations the database lacks, another branch applied: one line naming them and the fix; in sync: nothing', async () => {
    const b = scenario();
    try {
      await install(b.repo, 'pglite');
      // No embedded database yet: checkouts say nothing.
      expect(checkout(b.repo.dir, 'feature')).toEqual({ code: 0, stderr: '' });
      const up = await runBraid(['up'], { cwd: b.repo.dir });
      expect(up.code).toBe(0);
      expect(existsSync(`${pglite(b)}.state.json`)).toBe(true);

      // main lacks feature's migration: history drift.
      const back = checkout(b.repo.dir, 'main');
      expect(back.code).toBe(0);
      const lines = back.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^braid: history drift: /);
      expect(lines[0]).toContain(`1 migration(s) this branch does not have (${b.theirsIds[0]})`);
      expect(lines[0]).toContain(`\`git checkout feature && braid down --to ${b.baseIds[0]}\``);
      expect(lines[0]).toContain('`rm -rf .git/braid/pglite && braid up`');

      // Back on feature: in sync, nothing.
      expect(checkout(b.repo.dir, 'feature')).toEqual({ code: 0, stderr: '' });

      // The fix the note names works: roll back on feature, then main is in sync.
      const down = await runBraid(['down', '--to', b.baseIds[0]], { cwd: b.repo.dir });
      expect(down.code).toBe(0);
      expect(checkout(b.repo.dir, 'main')).toEqual({ code: 0, stderr: '' });
      // ... and feature now has a migration to apply.
      const fwd = checkout(b.repo.dir, 'feature');
      expect(fwd.code).toBe(0);
      expect(fwd.stderr.trim()).toBe(
        `braid: the embedded database lacks 1 migration(s) of this branch (${b.theirsIds[0]}): run \`braid up\``,
      );
      // A file checkout (flag 0) says nothing.
      const file = spawnSync('git', ['checkout', 'main', '--', '.migrations/manifest'], {
        cwd: b.repo.dir,
        env: testGitEnv(),
        encoding: 'utf8',
      });
      expect({ code: file.status, stderr: file.stderr }).toEqual({ code: 0, stderr: '' });
    } finally {
      b.repo.cleanup();
    }
  });

  test('reads the state file braid leaves next to the database (no PGlite boot); opens the database when it is stale', async () => {
    const b = scenario();
    try {
      git(b.repo.dir, ['checkout', '-q', 'feature']);
      expect((await runBraid(['up'], { cwd: b.repo.dir })).code).toBe(0);
      git(b.repo.dir, ['checkout', '-q', 'main']); // not installed: no hook ran
      const hook = (): Promise<{ json: { note: string | null; source: string } }> =>
        runBraidJson<{ note: string | null; source: string }>(['post-checkout', 'x', 'y', '1'], {
          cwd: b.repo.dir,
        });
      const fast = await hook();
      expect(fast.json.source).toBe('state-file');
      expect(fast.json.note).toContain(b.theirsIds[0]);

      // A state file that no longer matches the data directory is not trusted.
      const state = JSON.parse(readFileSync(`${pglite(b)}.state.json`, 'utf8')) as { applied: unknown[] };
      writeFileSync(
        `${pglite(b)}.state.json`,
        JSON.stringify({ ...state, fingerprint: 'stale', applied: [] }),
      );
      const slow = await hook();
      expect(slow.json.source).toBe('database');
      expect(slow.json.note).toContain(b.theirsIds[0]);
      // ... and the database read refreshed it.
      expect((await hook()).json.source).toBe('state-file');

      // Missing entirely: the same.
      rmSync(`${pglite(b)}.state.json`);
      expect((await hook()).json).toEqual({
        note: expect.stringContaining(b.theirsIds[0]),
        source: 'database',
      });

      // A file checkout: nothing is read.
      const flag0 = await runBraidJson(['post-checkout', 'x', 'y', '0'], { cwd: b.repo.dir });
      expect(flag0.json).toEqual({ note: null, source: 'none' });
    } finally {
      b.repo.cleanup();
    }
  });

  test('never fails the checkout: an unreadable database, a manifest with conflict markers', async () => {
    const b = scenario();
    try {
      await install(b.repo, 'pglite');
      checkout(b.repo.dir, 'feature');
      expect((await runBraid(['up'], { cwd: b.repo.dir })).code).toBe(0);
      // Corrupt the database: pg_control garbage, state file gone.
      writeFileSync(join(pglite(b), 'global', 'pg_control'), 'not a control file');
      rmSync(`${pglite(b)}.state.json`);
      const r = checkout(b.repo.dir, 'main');
      expect(r).toEqual({ code: 0, stderr: '' });
      // A branch whose manifest does not parse.
      git(b.repo.dir, ['checkout', '-q', '-b', 'broken']);
      b.repo.write('.migrations/manifest', '<<<<<<< main\ngarbage\n');
      git(b.repo.dir, ['commit', '-q', '--no-verify', '-am', 'broken manifest']);
      checkout(b.repo.dir, 'main');
      expect(checkout(b.repo.dir, 'broken')).toEqual({ code: 0, stderr: '' });
    } finally {
      b.repo.cleanup();
    }
  });

  test('core.hooksPath with an existing post-checkout hook: chained (runs first, keeps its status), restored by uninstall', async () => {
    const b = scenario();
    try {
      // A shared hooks folder outside the working tree (core.hooksPath, absolute).
      const hooks = join(b.repo.dir, '.git', 'shared-hooks');
      mkdirSync(hooks);
      const mine =
        '#!/bin/sh\necho "$1 $2 $3" >> "$(git rev-parse --git-dir)/mine.log"\necho "mine ran" >&2\n';
      writeFileSync(join(hooks, 'post-checkout'), mine);
      chmodSync(join(hooks, 'post-checkout'), 0o755);
      git(b.repo.dir, ['config', 'core.hooksPath', hooks]);
      await install(b.repo, 'pglite');
      expect(readFileSync(join(hooks, 'post-checkout.pre-braid'), 'utf8')).toBe(mine);
      expect(readFileSync(join(hooks, 'post-checkout'), 'utf8')).toContain('braid-hook');

      expect(checkout(b.repo.dir, 'feature')).toEqual({ code: 0, stderr: 'mine ran\n' });
      expect((await runBraid(['up'], { cwd: b.repo.dir })).code).toBe(0);
      const r = checkout(b.repo.dir, 'main');
      expect(r.code).toBe(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines[0]).toBe('mine ran');
      expect(lines[1]).toMatch(new RegExp(`^braid: history drift: .*${b.theirsIds[0]}`));
      expect(lines).toHaveLength(2);
      expect(
        readFileSync(join(b.repo.dir, '.git', 'mine.log'), 'utf8')
          .trim()
          .split('\n'),
      ).toHaveLength(2);

      // The chained hook's failure is the hook's failure (git checkout reports it); braid's part runs anyway.
      writeFileSync(join(hooks, 'post-checkout.pre-braid'), '#!/bin/sh\necho "mine failed" >&2\nexit 3\n');
      const f = checkout(b.repo.dir, 'feature');
      expect(f.code).not.toBe(0);
      expect(f.stderr).toBe('mine failed\n');
      // braid's own part does not fail it.
      writeFileSync(join(hooks, 'post-checkout.pre-braid'), '#!/bin/sh\nexit 0\n');
      expect(checkout(b.repo.dir, 'main')).toEqual({
        code: 0,
        stderr: expect.stringMatching(/^braid: history drift: /),
      });
      writeFileSync(join(hooks, 'post-checkout.pre-braid'), mine);

      expect((await runBraid(['uninstall'], { cwd: b.repo.dir })).code).toBe(0);
      expect(readFileSync(join(hooks, 'post-checkout'), 'utf8')).toBe(mine);
      expect(existsSync(join(hooks, 'post-checkout.pre-braid'))).toBe(false);
    } finally {
      b.repo.cleanup();
    }
  });
});
