import { chmodSync, existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { braidEnv, createGitRepo, git, runBraid, runBraidJson, tempDir, type TempRepo } from './helpers/repo';

/**
 * The replays of `braid check` and `braid diff --static` (packages/cli/src/replay.ts): a run whose
 * inputs are all unchanged prints the recorded output without starting git; any change to an
 * input runs the command for real. Whether git ran is seen through a `git` on PATH that logs
 * each call before running the real one.
 */
describe('replay of braid check and braid diff --static', () => {
  let repo: TempRepo;
  let a: string;
  let b: string;
  let bin: string;
  let log: string;
  const mig = (id: string, f = ''): string => join(repo.dir, '.migrations', id, f);
  /** Runs braid with the logging git first on PATH; `git` tells whether git was started. */
  const run = async (
    args: string[],
    env: Record<string, string | undefined> = {},
  ): Promise<{ code: number; stdout: string; stderr: string; git: boolean }> => {
    rmSync(log, { force: true });
    const r = await runBraid(args, { cwd: repo.dir, env: { PATH: `${bin}:${process.env['PATH']}`, ...env } });
    return { ...r, git: existsSync(log) };
  };
  /** Sets a path's times a few seconds back: stable (not racy) for the record. */
  const age = (p: string): void => {
    const t = Date.now() / 1000 - 5;
    utimesSync(p, t, t);
  };
  /** Two runs: the first records (runs git), the second replays (no git), same output. */
  const expectReplayed = async (args: string[], env: Record<string, string | undefined> = {}) => {
    const first = await run(args, env);
    expect(first.git).toBe(true);
    const second = await run(args, env);
    expect({ ...second, git: undefined }).toEqual({ ...first, git: undefined });
    expect(second.git).toBe(false);
    return second;
  };

  beforeEach(async () => {
    repo = createGitRepo();
    bin = tempDir('braid-replay-bin-');
    log = join(bin, 'calls.log');
    writeFileSync(join(bin, 'git'), `#!/bin/sh\necho "$*" >> '${log}'\nexec /usr/bin/git "$@"\n`);
    chmodSync(join(bin, 'git'), 0o755);
    await runBraid(['init'], { cwd: repo.dir });
    a = (await runBraidJson<{ id: string }>(['new', 'create users'], { cwd: repo.dir })).json.id;
    writeFileSync(mig(a, 'up.sql'), 'create table users (id bigint primary key);\n');
    writeFileSync(mig(a, 'down.sql'), 'drop table users;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    repo.commit('users');
    // main holds `a`; feature adds `b`
    repo.git('checkout', '-q', '-b', 'feature');
    b = (await runBraidJson<{ id: string }>(['new', 'add phone'], { cwd: repo.dir })).json.id;
    writeFileSync(mig(b, 'up.sql'), 'alter table users add column phone text;\n');
    writeFileSync(mig(b, 'down.sql'), 'alter table users drop column phone;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    repo.commit('phone');
    for (const p of [
      mig(a),
      mig(a, 'up.sql'),
      mig(a, 'down.sql'),
      mig(b),
      mig(b, 'up.sql'),
      mig(b, 'down.sql'),
    ])
      age(p);
    for (const p of ['.migrations', '.migrations/manifest']) age(join(repo.dir, p));
  });
  afterEach(() => {
    repo.cleanup();
    rmSync(bin, { recursive: true, force: true });
  });

  it('replays a passing check, also --json and --no-lint, with the output of a real run', async () => {
    const text = await expectReplayed(['check']);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe('ok: 2 migration(s), manifest and hashes consistent\n');
    const json = await expectReplayed(['check', '--json']);
    const real = await run(['check', '--json'], { BRAID_NO_REPLAY: '1' });
    expect(real.git).toBe(true);
    expect(json.stdout).toBe(real.stdout);
    await expectReplayed(['check', '--no-lint']);
    // the hook as `braid install` writes it runs the same replay
    await runBraid(['install'], { cwd: repo.dir });
    await run(['check']);
    rmSync(log, { force: true });
    const hook = spawnSync(join(repo.dir, '.git', 'hooks', 'pre-commit'), [], {
      cwd: repo.dir,
      env: braidEnv({ PATH: `${bin}:${process.env['PATH']}` }),
      encoding: 'utf8',
    });
    expect(hook.status).toBe(0);
    expect(hook.stdout).toBe(text.stdout);
    expect(existsSync(log)).toBe(false);
    // it starts Node without the large young generation (a replay allocates next to nothing)
    const hookText = readFileSync(join(repo.dir, '.git', 'hooks', 'pre-commit'), 'utf8');
    expect(hookText).toContain("'--liftoff-only'");
    expect(hookText).not.toContain('--min-semi-space-size');
  });

  it('runs the check again after an edit to a migration (a stale hash is reported)', async () => {
    await expectReplayed(['check']);
    writeFileSync(mig(b, 'up.sql'), 'alter table users add column phone varchar(20);\n');
    const r = await run(['check']);
    expect(r.git).toBe(true);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/changed since it was hashed/);
  });

  it('runs the check again after a file is added to a folder or .migrations', async () => {
    await expectReplayed(['check']);
    rmSync(mig(b, 'down.sql'));
    const gone = await run(['check']);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toMatch(/down\.sql is missing/);
    writeFileSync(mig(b, 'down.sql'), 'alter table users drop column phone;\n');
    age(mig(b, 'down.sql'));
    age(mig(b));
    await expectReplayed(['check']);
    writeFileSync(join(repo.dir, '.migrations', 'notes.txt'), 'hi\n');
    const stray = await run(['check']);
    expect(stray.git).toBe(true);
    expect(stray.code).toBe(1);
    expect(stray.stdout).toMatch(/notes\.txt: unexpected entry/);
  });

  it('runs the check again when a protected ref moves, BRAID_PROTECTED or braid.protected change', async () => {
    await expectReplayed(['check']);
    // main gets another version of `b` (committed in another worktree: this one's files do not
    // change): the working `b` is now an edit of a protected migration
    const other = join(tempDir('braid-replay-wt-'), 'wt');
    repo.git('worktree', 'add', '-q', '--detach', other, 'feature');
    const inOther = (...args: string[]) => git(other, args);
    writeFileSync(
      join(other, '.migrations', b, 'up.sql'),
      'alter table users add column phone varchar(40);\n',
    );
    await runBraid(['hash'], { cwd: other, env: { BRAID_PROTECTED: 'none' } });
    inOther('commit', '-qam', 'phone on main, differently');
    inOther('branch', '-f', 'main', 'HEAD');
    const moved = await run(['check']);
    expect(moved.git).toBe(true);
    expect(moved.code).toBe(1);
    expect(moved.stdout).toMatch(/protected|main/);
    // protection off: passes, recorded under that setting only
    await expectReplayed(['check'], { BRAID_PROTECTED: 'none' });
    expect((await run(['check'])).code).toBe(1);
    // the same through git config
    repo.git('config', 'braid.protected', 'none');
    const viaConfig = await run(['check']);
    expect(viaConfig.git).toBe(true);
    expect(viaConfig.code).toBe(0);
    repo.git('config', '--unset', 'braid.protected');
    expect((await run(['check'])).code).toBe(1);
  });

  it('replays after commits that leave the migrations alone (HEAD and main keyed by their .migrations tree)', async () => {
    // main gains a migration this branch lacks: the check reads HEAD's tree (was it removed here?)
    const other = join(tempDir('braid-replay-wt-'), 'wt');
    repo.git('worktree', 'add', '-q', other, 'main');
    const inOther = (...args: string[]) => git(other, args);
    const c = (await runBraidJson<{ id: string }>(['new', 'add email'], { cwd: other })).json.id;
    writeFileSync(join(other, '.migrations', c, 'up.sql'), 'alter table users add column email text;\n');
    writeFileSync(join(other, '.migrations', c, 'down.sql'), 'alter table users drop column email;\n');
    await runBraid(['hash'], { cwd: other });
    inOther('add', '-A');
    inOther('commit', '-qm', 'email on main');
    await expectReplayed(['check']);
    // a commit here that touches no migration: HEAD moved, its .migrations tree did not
    writeFileSync(join(repo.dir, 'README.md'), 'hello\n');
    repo.commit('readme');
    const afterCommit = await run(['check']);
    expect(afterCommit.git).toBe(false);
    expect(afterCommit.code).toBe(0);
    // and one on main
    writeFileSync(join(other, 'NOTES.md'), 'notes\n');
    inOther('add', '-A');
    inOther('commit', '-qm', 'notes on main');
    expect((await run(['check'])).git).toBe(false);
    // a commit on main that changes a migration this branch has: the check runs, and reports it
    writeFileSync(join(other, '.migrations', a, 'down.sql'), 'drop table if exists users;\n');
    await runBraid(['hash'], { cwd: other });
    inOther('add', '-A');
    inOther('commit', '-qm', 'edit a on main');
    const edited = await run(['check']);
    expect(edited.git).toBe(true);
    expect(edited.code).toBe(1);
  });

  it('does not replay a check with another lint setting', async () => {
    writeFileSync(mig(b, 'up.sql'), 'alter table users add column phone text not null;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    age(mig(b, 'up.sql'));
    age(join(repo.dir, '.migrations', 'manifest'));
    const quiet = await expectReplayed(['check', '--no-lint']);
    expect(quiet.code).toBe(0);
    const linted = await run(['check']);
    expect(linted.git).toBe(true);
    expect(linted.code).toBe(1);
    expect(linted.stdout).toMatch(/\[/); // a lint rule's finding
  });

  it('records nothing while an input is newer than the run (the racy rule)', async () => {
    const t = Date.now() / 1000 + 60; // a time after the run's stamp
    utimesSync(mig(b, 'up.sql'), t, t);
    expect((await run(['check'])).git).toBe(true);
    expect((await run(['check'])).git).toBe(true);
    const t2 = Date.now() / 1000 + 60;
    utimesSync(join(repo.dir, '.migrations', 'manifest'), t2, t2);
    age(mig(b, 'up.sql'));
    expect((await run(['check'])).git).toBe(true);
    expect((await run(['check'])).git).toBe(true);
  });

  it('BRAID_NO_REPLAY=1 always runs the check', async () => {
    await run(['check']);
    expect((await run(['check'], { BRAID_NO_REPLAY: '1' })).git).toBe(true);
  });

  it('replays braid diff --static by the refs it names, with its exit code', async () => {
    const first = await expectReplayed(['diff', 'main', 'feature', '--static']);
    expect(first.code).toBe(0);
    await expectReplayed(['diff', 'main...feature', '--static', '--format', 'md']);
    // a new commit on main that conflicts with feature: the same arguments now run again
    repo.git('checkout', '-q', 'main');
    const c = (await runBraidJson<{ id: string }>(['new', 'drop users'], { cwd: repo.dir })).json.id;
    writeFileSync(mig(c, 'up.sql'), 'alter table users add column phone int;\n');
    writeFileSync(mig(c, 'down.sql'), 'alter table users drop column phone;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    repo.commit('phone int on main');
    repo.git('checkout', '-q', 'feature');
    const moved = await run(['diff', 'main', 'feature', '--static']);
    expect(moved.git).toBe(true);
    expect(moved.stdout).not.toBe(first.stdout);
    const again = await run(['diff', 'main', 'feature', '--static']);
    expect(again.git).toBe(false);
    expect(again.code).toBe(moved.code);
    expect(again.stdout).toBe(moved.stdout);
    // revisions other than plain refs and full commit ids are never replayed
    await run(['diff', 'main~1', 'feature', '--static']);
    expect((await run(['diff', 'main~1', 'feature', '--static'])).git).toBe(true);
    const full = repo.git('rev-parse', 'main').trim();
    await expectReplayed(['diff', full, 'feature', '--static']);
  });

  it('keeps its records in .git/braid (never in the work tree)', async () => {
    await run(['check']);
    await run(['diff', 'main', 'feature', '--static']);
    const head = JSON.parse(
      readFileSync(join(repo.dir, '.git', 'braid', 'stat-cache.json'), 'utf8').split('\n')[0],
    ) as {
      check?: { key: string };
    };
    expect(JSON.parse(head.check?.key ?? 'null')).toEqual(expect.arrayContaining(['braid-check-replay 1']));
    expect(existsSync(join(repo.dir, '.git', 'braid', 'diff-replay.json'))).toBe(true);
    expect(repo.git('status', '--porcelain')).toBe('');
  });
});
