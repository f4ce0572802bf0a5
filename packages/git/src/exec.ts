/**
 * Running the system git (DESIGN §5): execFile with an argv array, never a shell, never the
 * working tree. Every failure becomes a BraidError: git missing -> EnvironmentError (exit 3).
 */
import { execFile } from 'node:child_process';
import { EnvironmentError } from '@braid/core';

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

/** The environment every git child runs with: no prompts, no pager, stable (English) messages. */
export function gitEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_PAGER: 'cat',
    GIT_OPTIONAL_LOCKS: '0',
    LC_ALL: 'C',
    LANGUAGE: 'C',
  };
}

/** The error for a missing git binary. */
export function gitMissing(cause: unknown): EnvironmentError {
  return new EnvironmentError(
    'git-missing',
    'git is not installed or not on PATH (braid reads history through the system git)',
    {
      cause,
    },
  );
}

/**
 * Runs `git <args>` in cwd. Resolves with the exit code (non-zero codes are not thrown: callers
 * decide what a failure means); rejects only when git cannot be started.
 */
export function runGit(cwd: string, args: readonly string[], input?: string | Buffer): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args as string[],
      { cwd, env: gitEnv(), encoding: 'buffer', maxBuffer: 1024 * 1024 * 512 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
        if (e && e.code === 'ENOENT') {
          reject(gitMissing(e));
          return;
        }
        if (e && typeof e.code !== 'number') {
          reject(
            new EnvironmentError(
              'git-failed',
              `git ${args[0] ?? ''} failed: ${e.message.split('\n')[0] ?? ''}`,
              { cause: e },
            ),
          );
          return;
        }
        resolve({ stdout, stderr: stderr.toString('utf8'), code: e ? (e.code as unknown as number) : 0 });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs git and returns trimmed stdout; a non-zero exit becomes an EnvironmentError naming the command. */
export async function gitText(
  cwd: string,
  args: readonly string[],
  input?: string | Buffer,
): Promise<string> {
  const r = await runGit(cwd, args, input);
  if (r.code !== 0) {
    throw new EnvironmentError(
      'git-failed',
      `git ${args.join(' ')} failed (exit ${r.code}): ${firstLine(r.stderr) || 'no message'}`,
      { data: { args: [...args], exitCode: r.code } },
    );
  }
  return r.stdout.toString('utf8').trim();
}

export function firstLine(s: string): string {
  return (s.split('\n').find((l) => l.trim() !== '') ?? '').trim();
}

let versionPromise: Promise<[number, number, number]> | undefined;

/** The system git's version (`git version 2.39.5` -> [2, 39, 5]); asked once per process. */
export function gitVersion(): Promise<[number, number, number]> {
  versionPromise ??= runGit(process.cwd(), ['version']).then((r) => {
    const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(r.stdout.toString('utf8'));
    return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [0, 0, 0];
  });
  return versionPromise;
}

/** Whether git has `cat-file --batch-command` with `flush` (2.36+). */
export async function hasBatchCommand(): Promise<boolean> {
  const [major, minor] = await gitVersion();
  return major > 2 || (major === 2 && minor >= 36);
}
