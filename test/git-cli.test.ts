/**
 * Protected history through the built CLI, in the checkouts issue 5 names: a `git worktree`
 * checkout and a shallow clone (where only the tips of the refs exist).
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BRAID_JS,
  createGitRepo,
  git,
  runBraid,
  runBraidJson,
  tempDir,
  wrapRepo,
  type TempRepo,
} from './helpers/repo';

interface CheckJson {
  ok: boolean;
  protectedRefs: string[];
  findings: { code: string; file: string; line?: number; message: string }[];
}

describe('braid check and hash on protected history, in worktrees and shallow clones', () => {
  let upstream: TempRepo;
  let id: string;
  const parents: string[] = [];

  beforeAll(async () => {
    upstream = createGitRepo();
    expect((await runBraid(['init'], { cwd: upstream.dir })).code).toBe(0);
    id = (await runBraidJson<{ id: string }>(['new', 'create_users'], { cwd: upstream.dir })).json.id;
    writeFileSync(
      join(upstream.dir, '.migrations', id, 'up.sql'),
      'create table users (\n  id int primary key,\n  email text\n);\n',
    );
    writeFileSync(join(upstream.dir, '.migrations', id, 'down.sql'), 'drop table users;\n');
    expect((await runBraid(['hash'], { cwd: upstream.dir })).code).toBe(0);
    upstream.commit('create users');
  });
  afterAll(() => {
    upstream.cleanup();
    for (const p of parents) wrapRepo(p).cleanup();
  });

  test('in a git worktree: an edit to a migration on main fails check at its first differing line', async () => {
    const parent = tempDir();
    parents.push(parent);
    const wt = join(parent, 'wt');
    upstream.git('worktree', 'add', '-q', '-b', 'feature', wt);
    const ok = await runBraidJson<CheckJson>(['check'], { cwd: wt });
    expect(ok.code).toBe(0);
    expect(ok.json.protectedRefs).toEqual(['main']);

    const up = join(wt, '.migrations', id, 'up.sql');
    writeFileSync(up, readFileSync(up, 'utf8').replace('email text', 'email varchar(200)'));
    const bad = await runBraid(['check'], { cwd: join(wt, '.migrations') });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`.migrations/${id}/up.sql:3: `);
    expect(bad.stdout).toContain('protected (on main)');
    const hash = await runBraid(['hash'], { cwd: wt });
    expect(hash.code).toBe(1);
    expect(hash.stderr).toContain(`refusing to rehash ${id}`);
  });

  test('in a shallow clone: origin/HEAD target protected, check works without the full history', async () => {
    const parent = tempDir();
    parents.push(parent);
    const dir = join(parent, 'clone');
    git(parent, ['clone', '-q', '--depth', '1', `file://${upstream.dir}`, dir]);
    const clone = wrapRepo(dir, []);
    clone.git('checkout', '-q', '-b', 'topic');
    expect(clone.git('rev-parse', '--is-shallow-repository').trim()).toBe('true');
    const ok = await runBraidJson<CheckJson>(['check'], { cwd: dir });
    expect(ok.code).toBe(0);
    expect(ok.json.protectedRefs).toEqual(['main', 'origin/main']);

    writeFileSync(join(dir, '.migrations', id, 'down.sql'), 'drop table if exists users;\n');
    const bad = await runBraidJson<CheckJson>(['check'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.json.findings).toEqual([
      expect.objectContaining({ code: 'protected-edited', file: `.migrations/${id}/down.sql`, line: 1 }),
    ]);
  });

  test('as a pre-commit hook inside a worktree: git commit is refused for a protected edit', () => {
    const parent = tempDir();
    parents.push(parent);
    const hooks = join(parent, 'hooks');
    mkdirSync(hooks);
    writeFileSync(
      join(hooks, 'pre-commit'),
      `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BRAID_JS)} check\n`,
    );
    chmodSync(join(hooks, 'pre-commit'), 0o755);
    const wt = join(parent, 'wt');
    upstream.git('worktree', 'add', '-q', '-b', 'hooked', wt);
    const w = wrapRepo(wt, []);
    w.git('config', 'core.hooksPath', hooks);
    try {
      // An unrelated change passes the hook.
      w.write('notes.txt', 'hello\n');
      w.git('add', 'notes.txt');
      w.git('commit', '-q', '-m', 'notes');
      // An edit to the protected migration is stopped by it, naming file and line.
      const up = join(wt, '.migrations', id, 'up.sql');
      writeFileSync(up, readFileSync(up, 'utf8').replace('id int primary key', 'id bigint primary key'));
      w.git('add', '-A');
      let err: { status?: number; stdout?: string; stderr?: string } | undefined;
      try {
        w.git('commit', '-q', '-m', 'sneaky edit');
      } catch (e) {
        err = e as typeof err;
      }
      expect(err?.status).toBe(1);
      expect(`${err?.stdout ?? ''}${err?.stderr ?? ''}`).toContain(`.migrations/${id}/up.sql:2: `);
      expect(w.git('log', '-1', '--format=%s').trim()).toBe('notes');
    } finally {
      upstream.git('config', '--unset', 'core.hooksPath');
    }
  });

  test('braid.protected config names the protected refs', async () => {
    const parent = tempDir();
    parents.push(parent);
    const dir = join(parent, 'clone');
    git(parent, ['clone', '-q', `file://${upstream.dir}`, dir]);
    const clone = wrapRepo(dir, []);
    clone.git('checkout', '-q', '-b', 'topic');
    clone.git('config', 'braid.protected', 'release');
    const warn = await runBraidJson<CheckJson>(['check'], { cwd: dir });
    expect(warn.code).toBe(0);
    expect(warn.json.protectedRefs).toEqual([]);
    expect(warn.stderr).toContain('protected ref release does not exist');
    clone.git('branch', 'release', 'origin/main');
    writeFileSync(join(dir, '.migrations', id, 'down.sql'), '-- changed\ndrop table users;\n');
    const bad = await runBraidJson<CheckJson>(['check'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.json.protectedRefs).toEqual(['release']);
    expect(bad.json.findings[0]).toMatchObject({ code: 'protected-edited', line: 1 });
    expect(bad.json.findings[0].message).toContain('on release');
  });
});
