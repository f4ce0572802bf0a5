/**
 * The `.migrations/` folder on disk: finding the project, reading migrations and the manifest,
 * writing the manifest atomically. Everything else (parsing, hashing, checks) is pure, in core.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  EnvironmentError,
  folderFacts,
  makeMigration,
  BASELINE_FILE,
  MANIFEST_FILE,
  MIGRATION_FILES,
  MIGRATIONS_DIR,
  parseManifest,
  serializeManifest,
  UsageError,
  type CheckInput,
  type FolderFacts,
  type Manifest,
  type Migration,
  type MigrationFiles,
} from '@braid/core';
import { statStamp, type StatCache } from './statcache';

/** The manifest's path relative to the project root, as shown to users. */
export const MANIFEST_REL = `${MIGRATIONS_DIR}/${MANIFEST_FILE}`;

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The project root for a working directory: the nearest directory (cwd or above) that holds
 * `.migrations/`, without leaving the git work tree; else the git top level (the nearest
 * directory holding `.git`); else cwd itself. No git process is spawned (check must be fast).
 */
export function findProject(cwd: string): string {
  if (!isDir(cwd)) {
    throw new UsageError('bad-cwd', `--cwd ${cwd}: no such directory`, { data: { argument: '--cwd' } });
  }
  let dir = path.resolve(cwd);
  for (;;) {
    if (isDir(path.join(dir, MIGRATIONS_DIR))) return dir;
    if (exists(path.join(dir, '.git'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(cwd);
    dir = parent;
  }
}

export function migrationsDir(root: string): string {
  return path.join(root, MIGRATIONS_DIR);
}

export function manifestPath(root: string): string {
  return path.join(root, MIGRATIONS_DIR, MANIFEST_FILE);
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'EISDIR') throw new UsageError('not-a-file', `${file} is a directory, expected a file`);
    throw new EnvironmentError('read-failed', `cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Reads the manifest's text, or undefined when it does not exist. */
export function readManifestText(root: string): string | undefined {
  return readText(manifestPath(root));
}

/** Reused by readSmall (one thread reads one file at a time; workers have their own). */
let readBuffer = Buffer.allocUnsafe(64 * 1024);

/**
 * A file's text, or undefined when it does not exist. Three system calls (open, read, close)
 * where readFileSync makes five (it also asks for the size and reads once more to see the end):
 * system calls dominate reading thousands of small migration files. A read that fills less than
 * the buffer has reached the end (a regular file returns short reads only there); a larger file
 * grows the buffer and reads on.
 */
function readSmall(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new EnvironmentError('read-failed', `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    let len = 0;
    for (;;) {
      const n = fs.readSync(fd, readBuffer, len, readBuffer.length - len, null);
      len += n;
      if (n === 0 || len < readBuffer.length) break;
      const bigger = Buffer.allocUnsafe(readBuffer.length * 2);
      readBuffer.copy(bigger, 0, 0, len);
      readBuffer = bigger;
    }
    return readBuffer.toString('utf8', 0, len);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new UsageError('not-a-file', `${file} is a directory, expected a file`);
    }
    throw new EnvironmentError('read-failed', `cannot read ${file}: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The files of `.migrations/<id>/` (dir = the absolute `.migrations` directory). Throws
 * UsageError when the folder or its up.sql does not exist.
 */
export function readMigrationFolder(dir: string, id: string): MigrationFiles {
  const folder = path.join(dir, id);
  // No directory listing: up.sql and down.sql are (nearly) always there, and a missing
  // verify.sql costs one access() instead of a thrown error (thousands of folders per command).
  const up = readSmall(path.join(folder, 'up.sql'));
  if (up === undefined) {
    if (!isDir(folder)) {
      throw new UsageError(
        'missing-folder',
        `${MIGRATIONS_DIR}/${id}/ does not exist (it is listed in ${MANIFEST_REL})`,
        { data: { id } },
      );
    }
    throw new UsageError('missing-up', `${MIGRATIONS_DIR}/${id}/up.sql does not exist`, { data: { id } });
  }
  const files: MigrationFiles = { up };
  const down = readSmall(path.join(folder, 'down.sql'));
  if (down !== undefined) files.down = down;
  const verifyPath = path.join(folder, 'verify.sql');
  const verify = fs.existsSync(verifyPath) ? readSmall(verifyPath) : undefined;
  if (verify !== undefined) files.verify = verify;
  return files;
}

export interface Project {
  /** Absolute project root (the directory holding `.migrations/`). */
  root: string;
  /** Absolute path of `.migrations/`. */
  dir: string;
  manifestText: string;
  manifest: Manifest;
  /** Whether the manifest's header hash matches its body. */
  headerHashOk: boolean;
  /** 1-based manifest line of each id. */
  lines: Map<string, number>;
  /** Every listed migration, in manifest order (Map iteration order). */
  migrations: Map<string, Migration>;
}

/** Throws UsageError unless `root` has `.migrations/manifest`. Returns its text. */
export function requireManifestText(root: string): string {
  if (!isDir(migrationsDir(root))) {
    throw new UsageError('no-project', `no ${MIGRATIONS_DIR}/ in ${root} or above (run \`braid init\`)`);
  }
  const text = readManifestText(root);
  if (text === undefined) {
    throw new UsageError('manifest-missing', `${MANIFEST_REL} does not exist (run \`braid init\`)`);
  }
  return text;
}

/**
 * Loads the project at `root`: the manifest (malformed → UsageError FILE:LINE) and every listed
 * migration (missing folder or up.sql, bad directive → UsageError). A stale header hash is not
 * an error here (see `headerHashOk`); folders that are not listed are ignored (`braid check`
 * reports them).
 */
export function loadProject(root: string): Project {
  const manifestText = requireManifestText(root);
  const parsed = parseManifest(manifestText, MANIFEST_REL);
  const dir = migrationsDir(root);
  const migrations = new Map<string, Migration>();
  for (const e of parsed.manifest.entries) {
    migrations.set(e.id, makeMigration(e.id, readMigrationFolder(dir, e.id), MIGRATIONS_DIR));
  }
  return {
    root,
    dir,
    manifestText,
    manifest: parsed.manifest,
    headerHashOk: parsed.headerHashOk,
    lines: parsed.lines,
    migrations,
  };
}

/** A migration folder as scanned: its files, and (from a scan with a stat cache) their facts. */
export interface ScannedFolder {
  files: MigrationFiles;
  /** folderFacts(files), when the scan used a stat cache (then `files` may be read lazily). */
  facts?: FolderFacts;
  /** Git tree ids of the folder by object format, for checkProtected (persisted by the cache). */
  treeOids?: Record<string, string>;
}

export interface ScanResult extends CheckInput {
  folders: Map<string, ScannedFolder>;
  /** `.migrations/baseline` (docs/import.md), when present. */
  baselineText?: string;
}

function statOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Stat (of the open file, so that both describe the same file), then contents. */
function readWithStat(file: string): { text: string; stat: fs.Stats } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new EnvironmentError('read-failed', `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    const stat = fs.fstatSync(fd);
    return { stat, text: fs.readFileSync(fd, 'utf8') };
  } catch (e) {
    throw new EnvironmentError('read-failed', `cannot read ${file}: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** A cached folder whose stat data (folder and files) is unchanged; else undefined. */
function cachedFolder(cache: StatCache, id: string, full: string): ScannedFolder | undefined {
  const stored = cache.stored(id);
  if (!stored) return undefined;
  const d = statOf(full);
  if (!d || statStamp(d) !== stored.d) return undefined;
  const names = Object.keys(stored.f);
  for (const name of names) {
    const st = statOf(full + path.sep + name);
    if (!st || !st.isFile() || statStamp(st) !== stored.f[name]) return undefined;
  }
  cache.keep(id, stored);
  return new CachedFolder(full, names, stored.facts, stored.trees);
}

/**
 * A folder whose facts came from the stat cache: its files are read from disk only when
 * `files` is used (rarely: a finding's line, a protected folder that differs, lint).
 */
export class CachedFolder implements ScannedFolder {
  private loaded: MigrationFiles | undefined;

  constructor(
    private readonly dir: string,
    private readonly names: readonly string[],
    readonly facts: FolderFacts,
    readonly treeOids: Record<string, string>,
  ) {}

  /** Whether `files` has been read (one use is enough to read every file of the folder). */
  get isRead(): boolean {
    return this.loaded !== undefined;
  }

  get files(): MigrationFiles {
    if (!this.loaded) {
      const read = (name: string): string => {
        try {
          return fs.readFileSync(path.join(this.dir, name), 'utf8');
        } catch {
          return ''; // gone since the scan: the next scan reports it
        }
      };
      const files: MigrationFiles = { up: read('up.sql') };
      if (this.names.includes('down.sql')) files.down = read('down.sql');
      if (this.names.includes('verify.sql')) files.verify = read('verify.sql');
      this.loaded = files;
    }
    return this.loaded;
  }
}

/**
 * Everything `checkProject` needs, read without throwing on content problems. Returns undefined
 * when there is no `.migrations/` directory at all. Entries whose name starts with `.` are ignored.
 * With a stat cache, folders whose stat data is unchanged are not read (their `facts` come from
 * the cache and their `files` are read only if used), and the folders read are recorded in it
 * (the caller saves it).
 */
export function scanProject(root: string, opts: { cache?: StatCache } = {}): ScanResult | undefined {
  const dir = migrationsDir(root);
  if (!isDir(dir)) return undefined;
  const cache = opts.cache;
  const folders = new Map<string, ScannedFolder>();
  const strayEntries: string[] = [];
  const missingUp: string[] = [];
  let baselineText: string | undefined;
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    if (ent.name.startsWith('.')) continue;
    const full = dir + path.sep + ent.name; // dir is absolute and normalized: no path.join per folder
    const directory = ent.isDirectory() || (ent.isSymbolicLink() && isDir(full));
    if (!directory) {
      if (ent.name === BASELINE_FILE) baselineText = readWithStat(full)?.text ?? '';
      else if (ent.name !== MANIFEST_FILE) strayEntries.push(ent.name);
      continue;
    }
    // Only plain folders are cached (a symbolic link's target can change behind its stat data).
    const cacheable = cache !== undefined && ent.isDirectory();
    if (cacheable) {
      const hit = cachedFolder(cache, ent.name, full);
      if (hit) {
        folders.set(ent.name, hit);
        continue;
      }
    }
    // Stat data first, then the stamp, then the contents (see statcache.ts on racy files).
    const dirStat = cacheable ? statOf(full) : undefined;
    if (cacheable) cache.stamp();
    const files: Partial<MigrationFiles> = {};
    const fileStats: Record<string, fs.Stats> = {};
    let plain = dirStat !== undefined;
    for (const sub of fs.readdirSync(full, { withFileTypes: true })) {
      if (sub.name.startsWith('.')) continue;
      const subFull = path.join(full, sub.name);
      const known = (MIGRATION_FILES as readonly string[]).includes(sub.name);
      const subIsDir = sub.isDirectory() || (!sub.isFile() && isDir(subFull));
      if (!known || subIsDir) {
        strayEntries.push(`${ent.name}/${sub.name}${subIsDir ? '/' : ''}`);
        plain = false;
        continue;
      }
      if (!sub.isFile()) plain = false;
      const r = readWithStat(subFull);
      const text = r?.text ?? '';
      if (r) fileStats[sub.name] = r.stat;
      else plain = false;
      if (sub.name === 'up.sql') files.up = text;
      else if (sub.name === 'down.sql') files.down = text;
      else files.verify = text;
    }
    if (files.up === undefined) {
      missingUp.push(ent.name);
      continue;
    }
    const complete = files as MigrationFiles;
    if (cacheable && plain && dirStat) {
      const facts = folderFacts(complete, `${MIGRATIONS_DIR}/${ent.name}`);
      const entry = cache.put(ent.name, dirStat, fileStats, facts);
      folders.set(ent.name, { files: complete, facts, treeOids: entry.trees });
    } else {
      folders.set(ent.name, { files: complete });
    }
  }
  const out: ScanResult = { manifestText: readManifestText(root), folders, strayEntries, missingUp };
  if (baselineText !== undefined) out.baselineText = baselineText;
  return out;
}

/** Writes a file through a temporary file and a rename: readers never see a partial file. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    fs.writeFileSync(tmp, text, { encoding: 'utf8', flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw new EnvironmentError('write-failed', `cannot write ${file}: ${(e as Error).message}`);
  }
}

/** Serializes the manifest (fresh header hash) and writes it atomically. */
export function writeManifestAtomic(root: string, manifest: Manifest): void {
  writeFileAtomic(manifestPath(root), serializeManifest(manifest));
}

export const LOCK_FILE = '.lock';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding `.migrations/.lock` (created exclusively; holds the pid), so that two braid
 * processes that rewrite the manifest (`new`, `hash`) never lose each other's lines. A lock
 * whose process is gone, or older than `staleMs`, is taken over. Gives up after `waitMs` with
 * EnvironmentError (exit 3) naming the holder.
 */
export async function withProjectLock<T>(
  root: string,
  fn: () => Promise<T> | T,
  opts: { waitMs?: number; staleMs?: number } = {},
): Promise<T> {
  const file = path.join(migrationsDir(root), LOCK_FILE);
  const waitMs = opts.waitMs ?? 10_000;
  const staleMs = opts.staleMs ?? 60_000;
  const started = Date.now();
  for (;;) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new EnvironmentError('lock-failed', `cannot create ${file}: ${(e as Error).message}`);
      }
    }
    let holder = NaN;
    try {
      holder = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      const age = Date.now() - fs.statSync(file).mtimeMs;
      if ((Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) || age > staleMs) {
        fs.rmSync(file, { force: true });
        continue;
      }
    } catch {
      continue; // released between our attempts: try again at once
    }
    if (Date.now() - started > waitMs) {
      throw new EnvironmentError(
        'project-locked',
        `${MIGRATIONS_DIR}/${LOCK_FILE} is held by another braid process (pid ${Number.isNaN(holder) ? '?' : holder}); if none is running, delete the file`,
      );
    }
    await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** A path for humans: relative to cwd. */
export function displayPath(cwd: string, p: string): string {
  const rel = path.relative(cwd, p);
  return rel === '' ? '.' : rel;
}
