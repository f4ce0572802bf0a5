/**
 * The shadow database a command replays on: `--shadow-db URL` (a server where braid may create
 * and drop databases), else PGlite in-process. Caches live in the git directory (never
 * committed): `$(git rev-parse --git-common-dir)/braid/shadow`, shared by all worktrees.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Argv } from 'yargs';
import type { ShadowSpec } from '@braid/pg';
import { braidVersion, urlPassword } from './db';
import type { Context } from './runtime';

export interface ShadowArgs {
  'shadow-db': string | undefined;
  /** false with --no-cache (yargs' boolean negation of --cache). */
  cache: boolean;
}

export function withShadow<T>(y: Argv<T>): Argv<T & ShadowArgs> {
  return y
    .option('shadow-db', {
      type: 'string',
      describe:
        'a PostgreSQL server URL where braid may create and drop temporary databases for replays (default: PGlite in-process)',
    })
    .option('cache', {
      type: 'boolean',
      default: true,
      describe: 'use and fill the replay caches (--no-cache replays from scratch)',
    });
}

/** The folder for shadow caches of the repository at cwd. */
export function shadowCacheDir(cwd: string, root: string): string {
  try {
    const out = execFileSync('git', ['rev-parse', '--git-common-dir'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (out) return path.join(path.resolve(cwd, out), 'braid', 'shadow');
  } catch {
    // not a git repository
  }
  return path.join(root, '.braid', 'shadow');
}

export function shadowSpec(
  args: Partial<ShadowArgs>,
  ctx: Context,
  root: string,
  opts: { fallbackServer?: string; dirLabel?: string } = {},
): ShadowSpec {
  const server = args['shadow-db'] ?? opts.fallbackServer;
  if (args['shadow-db']) ctx.out.addSecret(urlPassword(args['shadow-db']));
  return {
    cacheDir: shadowCacheDir(ctx.cwd, root),
    braidVersion: braidVersion(),
    ...(server ? { serverUrl: server } : {}),
    ...(args.cache === false ? { noCache: true } : {}),
    ...(opts.dirLabel ? { dirLabel: opts.dirLabel } : {}),
  };
}
