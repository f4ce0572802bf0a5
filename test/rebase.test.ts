/**
 * `braid rebase --onto <ref>`: a conflicting pair (the result depends on the order: a `select *`
 * view on one side, a new column of its table on the other) made to merge cleanly through the
 * real merge driver after the rebase; refusals (dirty tree) and a failing round trip after the
 * move (nothing written).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest } from '@braid/core';
import { buildScenario, gitRun, install, primaryEngine, shadowArgs, type Built } from './helpers/branching';
import { git, runBraid, runBraidJson } from './helpers/repo';
import type { RebaseResult } from '../packages/cli/src/commands/rebase';

const BASE = ['create table users (id int primary key, name text, age int default 0);'];

function manifestIds(dir: string): string[] {
  return parseManifest(readFileSync(join(dir, '.migrations', 'manifest'), 'utf8')).manifest.entries.map(
    (e) => e.id,
  );
}

describe('braid rebase --onto', () => {
  let b: Built;
  afterEach(() => b?.repo.cleanup());

  test('a conflicting pair merges cleanly after the rebase (new ids, parents, requires, manifest)', async () => {
    const engine = primaryEngine();
    b = buildScenario({
      base: BASE,
      ours: [
        [{ up: 'alter table users add column phone text;', down: 'alter table users drop column phone;' }],
      ],
      theirs: [
        [
          { up: 'create view v as select * from users;', down: 'drop view v;' },
          // the requires line is filled in below (it names the first migration's id)
        ],
      ],
    });
    const repo = b.repo;
    await install(repo, engine);
    git(repo.dir, ['checkout', '-q', 'feature']);
    // A second migration that requires the first one explicitly.
    const viewId = b.theirsIds[0];
    const r0 = await runBraid(['new', 'comment_view'], { cwd: repo.dir });
    expect(r0.code).toBe(0);
    const commentId = manifestIds(repo.dir).pop()!;
    repo.write(
      `.migrations/${commentId}/up.sql`,
      `-- braid:requires ${viewId}\ncomment on view v is 'all users';\n`,
    );
    repo.write(`.migrations/${commentId}/down.sql`, 'comment on view v is null;\n');
    expect((await runBraid(['hash'], { cwd: repo.dir })).code).toBe(0);
    git(repo.dir, ['add', '-A']);
    git(repo.dir, ['commit', '-q', '--no-verify', '-m', 'comment on the view']);

    // Before: the verdict is a conflict (the view's columns depend on the order).
    const before = await runBraid(['diff', 'main', 'feature', ...shadowArgs(engine)], { cwd: repo.dir });
    expect(before.code).toBe(1);
    // ...and the driver stops the real merge.
    git(repo.dir, ['checkout', '-q', 'main']);
    const stopped = gitRun(repo.dir, ['merge', '--no-edit', 'feature']);
    expect(stopped.code).not.toBe(0);
    git(repo.dir, ['merge', '--abort']);
    git(repo.dir, ['checkout', '-q', 'feature']);

    // A dirty migrations folder is refused, and nothing changes.
    repo.write('.migrations/stray.txt', 'x');
    const dirty = await runBraid(['rebase', '--onto', 'main'], { cwd: repo.dir });
    expect(dirty.code).toBe(2);
    expect(dirty.stderr).toContain('uncommitted changes');
    repo.remove('.migrations/stray.txt');

    const r = await runBraidJson<RebaseResult>(['rebase', '--onto', 'main', ...shadowArgs(engine)], {
      cwd: repo.dir,
    });
    expect(r.code).toBe(0);
    const j = r.json;
    expect(j.written).toBe(true);
    expect(j.moved.map((m) => m.from)).toEqual([viewId, commentId]);
    const newView = j.moved[0].to;
    expect(j.moved[0].renamed).toBe(true); // its timestamp sorted before main's newest
    expect(newView.endsWith('_theirs')).toBe(true); // slug kept
    expect(newView > b.oursIds[0]).toBe(true);
    expect(j.moved[0].parents).toEqual([b.oursIds[0]]); // main's head
    expect(j.moved[1].parents).toEqual([newView]);
    expect(j.moved[1].rewritten).toEqual(['up.sql']);
    expect(j.broughtIn).toEqual([b.oursIds[0]]);
    expect(j.roundTrips).toBe(2);
    // The working tree: old folder gone, new folder there, requires rewritten, manifest = main's + moved.
    expect(existsSync(join(repo.dir, '.migrations', viewId))).toBe(false);
    expect(existsSync(join(repo.dir, '.migrations', newView, 'up.sql'))).toBe(true);
    expect(readFileSync(join(repo.dir, '.migrations', j.moved[1].to, 'up.sql'), 'utf8').split('\n')[0]).toBe(
      `-- braid:requires ${newView}`,
    );
    expect(manifestIds(repo.dir)).toEqual([...b.baseIds, ...b.oursIds, newView, j.moved[1].to]);
    expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(0);

    // Commit as told, then the merge into main goes through the driver cleanly.
    expect(j.next[0]).toMatch(/^git add -A -- /);
    git(repo.dir, ['add', '-A', '--', '.migrations']);
    git(repo.dir, ['commit', '-q', '--no-verify', '-m', 'braid rebase --onto main']);
    const after = await runBraid(['diff', 'main', 'feature', ...shadowArgs(engine)], { cwd: repo.dir });
    expect(after.code).toBe(0);
    git(repo.dir, ['checkout', '-q', 'main']);
    const m = gitRun(repo.dir, ['merge', '--no-edit', 'feature']);
    expect(m.code).toBe(0);
    expect(readdirSync(join(repo.dir, '.migrations')).filter((n) => n.includes('<'))).toEqual([]);
    expect(manifestIds(repo.dir)).toEqual([...b.baseIds, ...b.oursIds, newView, j.moved[1].to]);
    expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(0);
  });

  test('a move whose round trip fails writes nothing', async () => {
    b = buildScenario({
      base: BASE,
      ours: [
        [
          {
            up: 'alter table users alter column age set default 1;',
            down: 'alter table users alter column age set default 0;',
          },
        ],
      ],
      // Its down.sql restores the default of the old base (0), not main's (1).
      theirs: [
        [
          {
            up: 'alter table users alter column age set default 2;',
            down: 'alter table users alter column age set default 0;',
          },
        ],
      ],
    });
    const repo = b.repo;
    git(repo.dir, ['checkout', '-q', 'feature']);
    const manifestBefore = readFileSync(join(repo.dir, '.migrations', 'manifest'), 'utf8');
    const r = await runBraid(['rebase', '--onto', 'main', ...shadowArgs(primaryEngine())], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nothing written');
    expect(r.stderr).toContain(b.theirsIds[0]);
    expect(readFileSync(join(repo.dir, '.migrations', 'manifest'), 'utf8')).toBe(manifestBefore);
    expect(git(repo.dir, ['status', '--porcelain'])).toBe('');
  });

  test('nothing to move when HEAD has no migration beyond the target', async () => {
    b = buildScenario({ base: BASE, ours: [['create table a (id int);']], theirs: [] });
    const r = await runBraid(['rebase', '--onto', 'main', '--static'], { cwd: b.repo.dir });
    // --static is not an option of rebase: the proof is the point
    expect(r.code).toBe(2);
    const ok = await runBraid(['rebase', '--onto', 'main'], { cwd: b.repo.dir });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('nothing to move');
  });
});
