/**
 * Which database a command talks to (DESIGN §2): --db, else DATABASE_URL, else the standard PG*
 * variables, else the embedded PGlite database persisted inside the repository's git directory
 * (`$(git rev-parse --git-dir)/braid/pglite`; outside git, `<root>/.braid/pglite`). Also the
 * git provenance recorded with every applied migration.
 */
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Argv } from 'yargs';
import { UsageError, redact } from '@braid/core';
import { openExecutor, type Executor, type Provenance } from '@braid/pg';
import { recordOnClose } from './embedded-state';
import type { Context } from './runtime';

declare const BRAID_VERSION: string;

export function braidVersion(): string {
  return typeof BRAID_VERSION === 'string' ? BRAID_VERSION : '0.0.0-dev';
}

export type DbSource = '--db' | 'DATABASE_URL' | 'PG*' | 'embedded';

export interface ResolvedDb {
  /** What openExecutor accepts (may hold a password: never print it; use `label`). */
  url: string;
  /** Password-free description. */
  label: string;
  source: DbSource;
  /** Passwords to scrub from any output. */
  secrets: string[];
}

/** The git directory of the repository at cwd (per worktree), or undefined outside git. */
export function gitDir(cwd: string): string | undefined {
  try {
    const out = execFileSync('git', ['rev-parse', '--git-dir'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return out ? path.resolve(cwd, out) : undefined;
  } catch {
    return undefined;
  }
}

/** The embedded database's directory for a working directory (root: the project root). */
export function embeddedPath(cwd: string, root: string = cwd): string {
  const g = gitDir(cwd);
  return g ? path.join(g, 'braid', 'pglite') : path.join(root, '.braid', 'pglite');
}

/** The password of a connection URL (decoded), to scrub from output; undefined when none. */
export function urlPassword(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
}

const PG_VARS = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'] as const;

/** Builds a postgres:// URL from the PG* variables (the password stays in PGPASSWORD). */
function urlFromPgEnv(env: NodeJS.ProcessEnv): string {
  const host = env['PGHOSTADDR'] || env['PGHOST'] || 'localhost';
  const port = env['PGPORT'] || '5432';
  const user = env['PGUSER'] || env['USER'] || 'postgres';
  const db = env['PGDATABASE'] || user;
  const socket = host.startsWith('/');
  const u = `postgres://${encodeURIComponent(user)}@${socket ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${port}/${encodeURIComponent(db)}`;
  return socket ? `${u}?host=${encodeURIComponent(host)}` : u;
}

export function resolveDb(
  db: string | undefined,
  cwd: string,
  root: string = cwd,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedDb {
  const secrets = [env['PGPASSWORD']].filter((s): s is string => Boolean(s));
  const make = (url: string, source: DbSource): ResolvedDb => {
    const pw = urlPassword(url);
    if (pw) secrets.push(pw);
    const label = url.startsWith('pglite:') ? url : redact(url);
    return { url, label, source, secrets };
  };
  if (db !== undefined) {
    if (db.trim() === '') throw new UsageError('bad-db-url', '--db: empty connection string');
    if (db.startsWith('pglite:') && db !== 'pglite:memory') {
      return make(`pglite:${path.resolve(cwd, db.slice('pglite:'.length))}`, '--db');
    }
    return make(db, '--db');
  }
  if (env['DATABASE_URL']) return make(env['DATABASE_URL'], 'DATABASE_URL');
  if (PG_VARS.some((k) => env[k])) return make(urlFromPgEnv(env), 'PG*');
  return make(`pglite:${embeddedPath(cwd, root)}`, 'embedded');
}

export interface DbArgs {
  db: string | undefined;
  'lock-wait': string | undefined;
}

/** Parses a duration: "60", "60s", "500ms", "2m" → milliseconds. */
export function parseDuration(value: string | number | undefined, flag: string, fallbackMs: number): number {
  if (value === undefined || value === '') return fallbackMs;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(String(value));
  if (!m) {
    throw new UsageError(
      'bad-duration',
      `${flag}: expected a duration such as 5s, 500ms or 2m, got ${String(value)}`,
    );
  }
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000);
}

/** Resolves and opens the command's database, noting the embedded one on stderr. */
export async function openDb(
  args: { db?: string | undefined; 'lock-wait'?: string | undefined },
  ctx: Context,
  root: string,
  applicationName: string,
): Promise<{ ex: Executor; db: ResolvedDb }> {
  const db = resolveDb(args.db, ctx.cwd, root);
  for (const s of db.secrets) ctx.out.addSecret(s);
  if (db.source === 'embedded')
    ctx.out.note(`braid: using the embedded database at ${db.url.slice('pglite:'.length)}`);
  const ex = await openExecutor(db.url, `${applicationName} (pid ${process.pid})`, {
    lockWaitMs: parseDuration(args['lock-wait'], '--lock-wait', 60_000),
  });
  // The post-checkout hook reads what the embedded database has applied without booting it.
  if (db.source === 'embedded') recordOnClose(ex, db.url.slice('pglite:'.length));
  return { ex, db };
}

/**
 * Git identity and commit of the working directory, when known. HEAD and the user's name and
 * email are read by two git processes that run while the caller goes on (loading the project,
 * connecting). Never rejects. The name and email are what `git config user.name` prints (the
 * last value).
 */
export async function gitProvenance(cwd: string): Promise<Provenance> {
  const git = (argv: string[]): Promise<string | undefined> =>
    new Promise((resolve) => {
      execFile('git', argv, { cwd, encoding: 'utf8' }, (err, stdout) => resolve(err ? undefined : stdout));
    });
  const [head, config] = await Promise.all([
    git(['rev-parse', '--verify', '-q', 'HEAD']),
    git(['config', '--get-regexp', '^user\\.(name|email)$']),
  ]);
  const p: Provenance = { braidVersion: braidVersion() };
  const commit = head?.trim();
  if (commit) p.gitCommit = commit;
  let name: string | undefined;
  let email: string | undefined;
  for (const line of (config ?? '').split('\n')) {
    const sp = line.indexOf(' ');
    const key = (sp < 0 ? line : line.slice(0, sp)).toLowerCase();
    const value = sp < 0 ? '' : line.slice(sp + 1).trim();
    if (key === 'user.name') name = value;
    else if (key === 'user.email') email = value;
  }
  if (name) p.gitAuthorName = name;
  if (email) p.gitAuthorEmail = email;
  return p;
}

/** --lock-wait (every database command). */
export function withLockWait<T>(y: Argv<T>): Argv<T & { 'lock-wait': string | undefined }> {
  return y.option('lock-wait', {
    type: 'string',
    describe: 'how long to wait for another braid runner (advisory lock / embedded database lock), e.g. 60s',
  });
}

/** Options of commands that apply migrations (up, down). */
export function withApplyOptions<T>(y: Argv<T>): Argv<
  T & {
    'lock-wait': string | undefined;
    'lock-timeout': string | undefined;
    'lock-retries': string | undefined;
    'allow-edited': boolean;
    lock: string;
    'lease-ttl': string | undefined;
  }
> {
  return withLockWait(y)
    .option('lock', {
      type: 'string',
      choices: ['advisory', 'lease'],
      default: 'advisory',
      describe:
        'runner lock: a session advisory lock, or a lease row (works through PgBouncer in transaction mode)',
    })
    .option('lease-ttl', {
      type: 'string',
      describe: 'with --lock lease: how long a lease lives without a heartbeat (default 30s)',
    })
    .option('lock-timeout', {
      type: 'string',
      describe: 'lock_timeout for each migration’s DDL (default 5s); retried with backoff on timeout',
    })
    .option('lock-retries', { type: 'string', describe: 'retries after a lock timeout (default 3)' })
    .option('allow-edited', {
      type: 'boolean',
      default: false,
      describe: 'run even though an applied migration’s files changed since (audited)',
    });
}

export function parseCount(value: string | undefined, flag: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new UsageError(
      'bad-number',
      `${flag}: expected a whole number${min > 0 ? ` ≥ ${min}` : ''}, got ${value}`,
    );
  }
  return Number(value);
}

/** --lock / --lease-ttl → the apply engine's options. */
export function lockOptions(args: { lock?: string; 'lease-ttl'?: string | undefined }): {
  lock: 'advisory' | 'lease';
  leaseTtlMs: number;
} {
  return {
    lock: args.lock === 'lease' ? 'lease' : 'advisory',
    leaseTtlMs: parseDuration(args['lease-ttl'], '--lease-ttl', 30_000),
  };
}
