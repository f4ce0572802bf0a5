/**
 * Real temporary git repositories for the git-reader tests: deterministic identity, default
 * branch `main`, fixed commit dates (each commit one minute after the previous one), and no
 * influence from the user's or the machine's git configuration.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

let clock = Date.UTC(2026, 10, 25, 10, 0, 0);

/** Environment for git children: isolated from global/system config, fixed identity and dates. */
export function testGitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Test Author',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'Test Author',
    GIT_COMMITTER_EMAIL: 'author@example.com',
    ...extra,
  };
}

export function git(cwd: string, args: string[], extra: Record<string, string> = {}): string {
  return execFileSync('git', args, {
    cwd,
    env: testGitEnv(extra),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface TempRepo {
  dir: string;
  git(...args: string[]): string;
  write(path: string, content: string): void;
  remove(path: string): void;
  /** Stages everything and commits with the next fixed date; returns the commit id. */
  commit(message: string): string;
  cleanup(): void;
}

// Every temporary directory a test file made: removed after the file (test/helpers/setup.ts), so
// a test that fails before its own cleanup, or forgets it, leaves nothing in the temp folder.
const created = new Set<string>();

export function tempDir(prefix = 'braid-git-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.add(dir);
  return dir;
}

/** Removes every directory tempDir() made in this test file. */
export function removeTempDirs(): void {
  for (const d of created) rmSync(d, { recursive: true, force: true });
  created.clear();
}

/** Wraps an existing directory (a clone or worktree) as a TempRepo. */
export function wrapRepo(dir: string, owned: string[] = [dir]): TempRepo {
  return {
    dir,
    git: (...args) => git(dir, args),
    write(path, content) {
      const p = join(dir, path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
    },
    remove(path) {
      rmSync(join(dir, path), { recursive: true, force: true });
    },
    commit(message) {
      git(dir, ['add', '--all']);
      clock += 60_000;
      const date = new Date(clock).toISOString().replace('.000Z', '+00:00');
      git(dir, ['commit', '-q', '--allow-empty', '-m', message], {
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_DATE: date,
      });
      return git(dir, ['rev-parse', 'HEAD']).trim();
    },
    cleanup() {
      for (const d of owned) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** A fresh repository on branch main. */
export function createGitRepo(): TempRepo {
  const dir = tempDir();
  git(dir, ['init', '-q', '-b', 'main', '.']);
  git(dir, ['config', 'user.name', 'Test Author']);
  git(dir, ['config', 'user.email', 'author@example.com']);
  git(dir, ['config', 'commit.gpgsign', 'false']);
  return wrapRepo(dir);
}

/** Writes a migration folder (up, and down/verify when given). */
export function writeMigration(
  repo: TempRepo,
  id: string,
  files: { up: string; down?: string; verify?: string },
  dir = '.migrations',
): void {
  repo.write(`${dir}/${id}/up.sql`, files.up);
  if (files.down !== undefined) repo.write(`${dir}/${id}/down.sql`, files.down);
  if (files.verify !== undefined) repo.write(`${dir}/${id}/verify.sql`, files.verify);
}
