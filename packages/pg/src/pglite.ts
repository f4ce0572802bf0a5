/**
 * PGlite specifics: a cached initdb snapshot (a fresh cluster costs ≈3 s to initdb, ≈0.4-0.6 s to
 * load from a snapshot), the contrib extensions `CREATE EXTENSION` may ask for, and an exclusive
 * lock file for a persisted data directory (only one process may open it at a time).
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EnvironmentError } from '@braid/core';

/**
 * Contrib modules shipped by @electric-sql/pglite 0.5.16 (dist/contrib/*). PGlite loads an
 * extension's files only when `CREATE EXTENSION` runs, so registering all of them at start-up
 * costs nothing measurable (≈0.48 s with eight registered vs ≈0.6 s with none, on this machine);
 * braid therefore always registers every one. Keys are the SQL extension names.
 */
export const PGLITE_CONTRIB: Readonly<Record<string, string>> = {
  amcheck: 'amcheck',
  auto_explain: 'auto_explain',
  bloom: 'bloom',
  btree_gin: 'btree_gin',
  btree_gist: 'btree_gist',
  citext: 'citext',
  cube: 'cube',
  dict_int: 'dict_int',
  dict_xsyn: 'dict_xsyn',
  earthdistance: 'earthdistance',
  file_fdw: 'file_fdw',
  fuzzystrmatch: 'fuzzystrmatch',
  hstore: 'hstore',
  intarray: 'intarray',
  isn: 'isn',
  lo: 'lo',
  ltree: 'ltree',
  moddatetime: 'moddatetime',
  pageinspect: 'pageinspect',
  pg_buffercache: 'pg_buffercache',
  pg_freespacemap: 'pg_freespacemap',
  pg_stat_statements: 'pg_stat_statements',
  pg_surgery: 'pg_surgery',
  pg_trgm: 'pg_trgm',
  pg_visibility: 'pg_visibility',
  pg_walinspect: 'pg_walinspect',
  pgcrypto: 'pgcrypto',
  seg: 'seg',
  tablefunc: 'tablefunc',
  tcn: 'tcn',
  tsm_system_rows: 'tsm_system_rows',
  tsm_system_time: 'tsm_system_time',
  unaccent: 'unaccent',
  'uuid-ossp': 'uuid_ossp',
};

type ExtensionModule = import('@electric-sql/pglite').Extension;

const req = createRequire(__filename);

/** The registered extensions (export name → module), loaded once per process. */
export function pgliteExtensions(): Record<string, ExtensionModule> {
  const out: Record<string, ExtensionModule> = {};
  for (const mod of new Set(Object.values(PGLITE_CONTRIB))) {
    try {
      const m = req(`@electric-sql/pglite/contrib/${mod}`) as Record<string, ExtensionModule>;
      if (m[mod]) out[mod] = m[mod];
    } catch {
      // Not shipped by this PGlite build: CREATE EXTENSION will say so.
    }
  }
  return out;
}

/** The installed PGlite version (the snapshot cache is keyed by it). */
export function pgliteVersion(): string {
  try {
    const entry = req.resolve('@electric-sql/pglite');
    let dir = path.dirname(entry);
    for (let i = 0; i < 4; i++) {
      const p = path.join(dir, 'package.json');
      if (fs.existsSync(p)) {
        const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === '@electric-sql/pglite' && pkg.version) return pkg.version;
      }
      dir = path.dirname(dir);
    }
  } catch {
    // fall through
  }
  return 'unknown';
}

/** ~/.cache/braid (or $XDG_CACHE_HOME/braid; BRAID_CACHE_DIR overrides). */
export function cacheDir(): string {
  const explicit = process.env['BRAID_CACHE_DIR'];
  if (explicit) return explicit;
  const xdg = process.env['XDG_CACHE_HOME'];
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'braid');
}

export function snapshotPath(): string {
  return path.join(cacheDir(), `pglite-${pgliteVersion()}-initdb.tar`);
}

/**
 * The initdb snapshot as a Blob: read from the cache, or made once (initdb, then dumpDataDir)
 * and written atomically (temp file + rename, so concurrent processes never read half a file).
 * Returns undefined when the cache cannot be written (read-only home): callers fall back to initdb.
 */
export async function initdbSnapshot(): Promise<Blob | undefined> {
  const file = snapshotPath();
  try {
    return new Blob([fs.readFileSync(file)]);
  } catch {
    // not cached yet
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create();
  const blob = await db.dumpDataDir('none');
  await db.close();
  const buf = Buffer.from(await blob.arrayBuffer());
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, buf);
    fs.renameSync(tmp, file);
  } catch {
    // cache not writable: still usable for this process
  }
  return new Blob([buf]);
}

function isInitialised(dataDir: string): boolean {
  return fs.existsSync(path.join(dataDir, 'PG_VERSION'));
}

/** The options to open PGlite in memory or in `dataDir`, starting new clusters from the snapshot. */
export async function pgliteOptions(
  dataDir: string | undefined,
): Promise<{ extensions: Record<string, ExtensionModule>; loadDataDir?: Blob }> {
  const extensions = pgliteExtensions();
  if (dataDir !== undefined && isInitialised(dataDir)) return { extensions };
  const snap = await initdbSnapshot();
  return snap ? { extensions, loadDataDir: snap } : { extensions };
}

/** An exclusive, pid-stamped lock file beside a persisted PGlite data directory. */
export interface FileLock {
  readonly path: string;
  release(): void;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): { pid: number; command: string } | undefined {
  try {
    const [pid, ...rest] = fs.readFileSync(file, 'utf8').split('\n');
    return { pid: Number(pid), command: rest.join(' ').trim() };
  } catch {
    return undefined;
  }
}

/**
 * Takes `<dataDir>.lock` (O_EXCL), writing this process's pid and command. A lock whose pid is
 * dead is stale and taken over. Waits up to `waitMs` (polling with backoff), then fails with
 * exit 3 naming the holder.
 */
export async function acquireFileLock(dataDir: string, waitMs: number, command = 'braid'): Promise<FileLock> {
  const file = `${path.resolve(dataDir)}.lock`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + waitMs;
  let delay = 50;
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  for (;;) {
    // Created complete and atomically: the content is written to a temp file first, then
    // hard-linked into place (link fails with EEXIST when the lock exists), so a reader never
    // sees an empty lock file.
    fs.writeFileSync(tmp, `${process.pid}\n${command}\n`);
    let linked = false;
    try {
      fs.linkSync(tmp, file);
      linked = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        fs.rmSync(tmp, { force: true });
        throw new EnvironmentError('lock-file', `cannot create lock file ${file}: ${(e as Error).message}`);
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    if (linked) {
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        const h = readHolder(file);
        if (h && h.pid === process.pid) fs.rmSync(file, { force: true });
        process.removeListener('exit', release);
      };
      process.on('exit', release);
      return { path: file, release };
    }
    const holder = readHolder(file);
    if (holder && holder.pid > 0 && !pidAlive(holder.pid)) {
      // Stale: its process is gone (crash, kill -9). Move it aside atomically and look at what
      // was moved: if another waiter replaced it meanwhile with a live lock, put that back.
      const aside = `${file}.${process.pid}.stale`;
      try {
        fs.renameSync(file, aside);
        const moved = readHolder(aside);
        if (moved && moved.pid !== holder.pid && pidAlive(moved.pid)) {
          try {
            fs.linkSync(aside, file);
          } catch {
            // a third process holds it now
          }
        }
        fs.rmSync(aside, { force: true });
      } catch {
        // someone else moved it first
      }
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder
        ? `pid ${holder.pid}${holder.command ? ` (${holder.command})` : ''}`
        : 'another process';
      throw new EnvironmentError(
        'lock-timeout',
        `the embedded database ${dataDir} is in use by ${who}; gave up after ${Math.round(waitMs / 1000)} s (lock file ${file}, --lock-wait)`,
        { data: { holderPid: holder?.pid, lockFile: file } },
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(10, deadline - Date.now()))));
    delay = Math.min(delay * 2, 1000);
  }
}
