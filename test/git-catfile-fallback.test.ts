/**
 * braid spawns no `git version` process: the cat-file reader starts with `--batch-command`
 * (git >= 2.36) and falls back to plain `--batch` when an older git rejects the option. An old
 * git is imitated by a wrapper on PATH that answers `--batch-command` with git's usage error.
 */
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { GitRepo } from '@braid/git';
import { createGitRepo, tempDir, type TempRepo } from './helpers/gitrepo';

describe('cat-file without --batch-command (git < 2.36)', () => {
  let repo: TempRepo;
  let bin: string;
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  const savedPath = process.env['PATH'];

  beforeAll(() => {
    repo = createGitRepo();
    repo.write('a.txt', 'hello\n');
    repo.write('dir/b.txt', 'world\n');
    repo.commit('two files');
    bin = tempDir();
    writeFileSync(
      join(bin, 'git'),
      [
        '#!/bin/sh',
        'for a in "$@"; do',
        '  if [ "$a" = "--batch-command" ]; then',
        `    echo rejected >> "${join(bin, 'log')}"`,
        '    echo "error: unknown option \\`batch-command\'" >&2',
        '    echo "usage: git cat-file <type> <object>" >&2',
        '    exit 129',
        '  fi',
        'done',
        `exec "${realGit}" "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(join(bin, 'git'), 0o755);
    process.env['PATH'] = `${bin}:${savedPath ?? ''}`;
  });
  afterAll(() => {
    process.env['PATH'] = savedPath;
    repo.cleanup();
    rmSync(bin, { recursive: true, force: true });
  });

  it('reads objects through plain --batch after the usage error, pipelined reads included', async () => {
    const g = await GitRepo.open(repo.dir);
    try {
      const [a, b, missing] = await Promise.all([
        g.readFile('HEAD', 'a.txt'),
        g.readFile('HEAD', 'dir/b.txt'),
        g.readFile('HEAD', 'nope.txt'),
      ]);
      expect(a?.toString()).toBe('hello\n');
      expect(b?.toString()).toBe('world\n');
      expect(missing).toBeUndefined();
      // later reads go to the same (plain) process
      expect((await g.readTree('HEAD'))?.map((e) => e.name)).toEqual(['a.txt', 'dir']);
    } finally {
      g.close();
    }
    expect(existsSync(join(bin, 'log'))).toBe(true);
    expect(readFileSync(join(bin, 'log'), 'utf8').trim().split('\n')).toEqual(['rejected']);
  });
});
