/**
 * The stat cache (issue 5, speed of `braid check`): like git's index, it remembers for every
 * migration folder the stat data of the folder and of its files, together with what braid
 * computed from their contents (FolderFacts: content hash, directives; the git tree id; lint
 * results by content). A folder whose stat data is unchanged is not read again.
 *
 * Where: `<git dir>/braid/stat-cache.json` (the per-worktree git dir: `.git/braid/`, or
 * `.git/worktrees/<name>/braid/` in a `git worktree` checkout). Never committed. Found without
 * spawning git (the point is speed); when there is no git directory, there is no cache.
 *
 * Correctness (the racy-git problem): a file modified twice within one timestamp tick keeps its
 * stat data. So an entry is stored only when every stat time of the folder and its files is
 * strictly before a stamp taken *before* the folder was read: the modification time of a file
 * created in the cache directory for that purpose (the new cache's temporary file), so that it
 * comes from the same clock and has the same granularity. Any later edit then gets a time at or
 * after the stamp, which differs from the stored one. Entries that are too new (racy) are simply
 * not stored: they are read again next time. Stat data compared: mtime and ctime, inode and size.
 *
 * Format: line 1 is a JSON header (version, directory, lint results); then one line per folder,
 * tab-separated (id, folder stamp, up/down/verify stamps, content hash, tree ids, other facts as
 * JSON or `-` when they are the usual ones) and decoded only when looked up — a JSON document
 * of 2,000 objects took longer to parse than the scan it saves.
 *
 * Failure modes: an unreadable, corrupt or foreign cache (other directory, format version or
 * braid build: the facts depend on braid's directive rules) is ignored and rewritten; a read-only git directory means no cache (slower, same results). The
 * file is written through a temporary file and a rename, so readers never see half of it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { FolderFacts } from '@braid/core';

export const STAT_CACHE_DIR = 'braid';
export const STAT_CACHE_FILE = 'stat-cache.json';
/** 4: the header may hold `check`, the last passing `braid check` (replay.ts). */
const VERSION = 4;
export const STAT_CACHE_VERSION = VERSION;

/** What a passing run printed, stored in the stat cache's header. */
export interface CheckReplay {
  /** The flags it ran with (flagsName). */
  flags: string;
  /** The refs whose raw values the key holds (ReplayInputs.refs). */
  refs: string[];
  /** Everything the run's result depends on besides the folders, as JSON (see replayKey; not hashed: node:crypto would cost a replay ≈ 15 ms to load). */
  key: string;
  /** Number of folder lines in the stat cache (all folders; none left out as racy). */
  folders: number;
  stdout: string;
  stderr: string;
}

export function isCheckReplay(x: unknown): x is CheckReplay {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as CheckReplay;
  return (
    typeof r.flags === 'string' &&
    Array.isArray(r.refs) &&
    r.refs.every((x) => typeof x === 'string') &&
    typeof r.key === 'string' &&
    typeof r.folders === 'number' &&
    typeof r.stdout === 'string' &&
    typeof r.stderr === 'string'
  );
}

/** How many lint results (by input) are kept. */
const LINT_KEEP = 8;

/**
 * A file's stat data as stored: `mtimeMs:ctimeMs:ino:size`, the times as Node gives them
 * (milliseconds, a double: resolution about 0.25 µs today; BigInt stats would be exact but
 * allocate some twenty BigInts per file, measurably slower for 6,000 files). The racy rule keeps a
 * margin of RACY_SLACK_MS far above that resolution, so a later edit never rounds to stored data.
 */
export type StatStamp = string;

export function statStamp(st: fs.Stats): StatStamp {
  return `${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.size}`;
}

/** 1 µs: stat times closer than this to the stamp count as racy. */
export const RACY_SLACK_MS = 0.001;

/**
 * The racy rule (pure): stat data may be stored only when the file's modification and change
 * times are both strictly before the stamp (a file time taken before the contents were read).
 */
export function isClean(st: { mtimeMs: number; ctimeMs: number }, stampMs: number): boolean {
  return st.mtimeMs < stampMs - RACY_SLACK_MS && st.ctimeMs < stampMs - RACY_SLACK_MS;
}

/** A stored folder: its own stat data (for the list of files), its files' and the facts. */
export interface FolderEntry {
  /** Stat stamp of the folder itself (entries added, removed or renamed change it). */
  d: StatStamp;
  /** File name (up.sql, down.sql, verify.sql) -> stat stamp. */
  f: Record<string, StatStamp>;
  facts: FolderFacts;
  /** Git tree id of the folder's files by object format (`sha1`), filled in by checkProtected. */
  trees: Record<string, string>;
}

/** A lint result remembered by the identity of its input (see `lintKey`). */
export interface LintEntry {
  key: string;
  value: unknown;
}

interface CacheDoc {
  v: number;
  /** The absolute `.migrations` directory the entries describe. */
  dir: string;
  /** Encoded entries by id (see encodeEntry). */
  lines: Map<string, string>;
  lint: LintEntry[];
  /** Stat stamp of the manifest at the last write (a changed one predicts lint work). */
  manifest?: string;
  /** buildIdentity() of the braid that wrote it. */
  build?: string;
  /** The last passing `braid check`, replayable while nothing it read changed (replay.ts). */
  check?: CheckReplay;
}

const FILE_NAMES = ['up.sql', 'down.sql', 'verify.sql'] as const;
/** Shared (frozen) by every decoded entry with the usual facts: fewer objects per warm scan. */
const NO_MISPLACED: FolderFacts['misplaced'] = Object.freeze([]) as unknown as FolderFacts['misplaced'];
const USUAL_DIRECTIVES: NonNullable<FolderFacts['directives']> = Object.freeze({
  irreversible: false,
  requires: Object.freeze([]) as unknown as string[],
});
const HEX64 = /^[0-9a-f]{64}$/;

function usualFacts(f: FolderFacts): boolean {
  return (
    f.directives !== undefined &&
    !f.directives.irreversible &&
    f.directives.requires.length === 0 &&
    f.misplaced.length === 0 &&
    f.directiveError === undefined
  );
}

/** One line: id, stamps, hash, trees, other facts. Undefined when the id cannot be stored. */
export function encodeEntry(id: string, e: FolderEntry): string | undefined {
  if (/[\t\n\r]/.test(id) || !e.facts.hash.startsWith('sha256:')) return undefined;
  const trees = Object.entries(e.trees)
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
  const f = e.facts;
  const other = usualFacts(f)
    ? '-'
    : JSON.stringify({ directives: f.directives, directiveError: f.directiveError, misplaced: f.misplaced });
  return [
    id,
    e.d,
    ...FILE_NAMES.map((n) => e.f[n] ?? '-'),
    f.hash.slice('sha256:'.length),
    trees || '-',
    other,
  ].join('\t');
}

/** The entry of a line; undefined when it is malformed (then the folder is simply read). */
export function decodeEntry(line: string): FolderEntry | undefined {
  const x = line.split('\t');
  if (x.length !== 8) return undefined;
  const [, d, up, down, verify, hash, trees, other] = x;
  if (!d || !up || up === '-' || !down || !verify || !HEX64.test(hash)) return undefined;
  const e: FolderEntry = {
    d,
    f: { 'up.sql': up },
    facts: {
      hash: `sha256:${hash}`,
      hasDown: down !== '-',
      misplaced: NO_MISPLACED,
      directives: USUAL_DIRECTIVES,
    },
    trees: {},
  };
  if (down !== '-') e.f['down.sql'] = down;
  if (verify !== '-') e.f['verify.sql'] = verify;
  if (trees !== '-') {
    for (const t of trees.split(',')) {
      const i = t.indexOf(':');
      if (i <= 0) return undefined;
      e.trees[t.slice(0, i)] = t.slice(i + 1);
    }
  }
  if (other !== '-') {
    let o: unknown;
    try {
      o = JSON.parse(other);
    } catch {
      return undefined;
    }
    if (typeof o !== 'object' || o === null) return undefined;
    const f = o as Partial<FolderFacts>;
    if (!Array.isArray(f.misplaced)) return undefined;
    e.facts.misplaced = f.misplaced;
    if (f.directives !== undefined) {
      if (typeof f.directives !== 'object' || f.directives === null) return undefined;
      if (!Array.isArray(f.directives.requires) || typeof f.directives.irreversible !== 'boolean')
        return undefined;
      e.facts.directives = f.directives;
    } else {
      delete e.facts.directives;
      if (typeof f.directiveError !== 'object' || f.directiveError === null) return undefined;
      e.facts.directiveError = f.directiveError;
    }
  }
  return e;
}

/**
 * The cache file's name: `stat-cache.json` for a project at the top of its work tree (the usual
 * layout), else `stat-cache.<12 hex of the directory's path>.json`, so that several projects in
 * one repository (`braid --cwd services/db`) keep one cache each instead of evicting each other.
 */
export function statCacheName(migrationsDir: string): string {
  const dir = path.resolve(migrationsDir);
  if (fs.existsSync(path.join(path.dirname(dir), '.git'))) return STAT_CACHE_FILE;
  const h = createHash('sha256').update(dir).digest('hex').slice(0, 12);
  return STAT_CACHE_FILE.replace(/\.json$/, `.${h}.json`);
}

/**
 * The git directory for a project root, found on disk without spawning git: `$GIT_DIR` when
 * set, else the nearest `.git` at or above root (a directory, or a file `gitdir: <path>` as in
 * worktrees and submodules). Undefined when there is none.
 */
export function findGitDir(root: string): string | undefined {
  return findGit(root)?.gitDir;
}

/**
 * findGitDir with the work tree's top: the directory holding that `.git` (undefined when
 * `$GIT_DIR` or `$GIT_WORK_TREE` decide it instead).
 */
export function findGit(root: string): { gitDir: string; top?: string } | undefined {
  const env = process.env['GIT_DIR'];
  if (env) return { gitDir: path.resolve(env) };
  const top = (dir: string): { top?: string } => (process.env['GIT_WORK_TREE'] ? {} : { top: dir });
  let dir = path.resolve(root);
  for (;;) {
    const dotgit = path.join(dir, '.git');
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(dotgit);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) return { gitDir: dotgit, ...top(dir) };
    if (st?.isFile()) {
      try {
        const m = /^gitdir: (.+)$/m.exec(fs.readFileSync(dotgit, 'utf8'));
        return m ? { gitDir: path.resolve(dir, m[1].trim()), ...top(dir) } : undefined;
      } catch {
        return undefined;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The common git directory of a git directory (a worktree's names it in its `commondir` file;
 * otherwise it is itself); undefined when that file exists but cannot be read.
 */
export function commonDirOf(gitDir: string): string | undefined {
  try {
    return path.resolve(gitDir, fs.readFileSync(path.join(gitDir, 'commondir'), 'utf8').trim());
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? gitDir : undefined;
  }
}

export class StatCache {
  private readonly old: CacheDoc;
  private readonly next: { dir: string; folders: Map<string, FolderEntry>; lint: LintEntry[] };
  private dirty = false;
  /** The temporary file whose mtime is the stamp (created at the first miss). */
  private tmp: string | undefined;
  private stampMs: number | undefined;
  private stampFailed = false;
  /** Number of tree ids each kept entry had (checkProtected may add some: then rewrite). */
  private readonly keptTrees = new Map<string, number>();
  private manifestNow: string | undefined;
  private readonly build: string;
  /** The replay record of this run (never an older one: it must match the lines written with it). */
  private nextCheck: CheckReplay | undefined;

  private constructor(
    /** `<git dir>/braid`, or undefined when there is no git directory (nothing is stored). */
    private readonly cacheDir: string | undefined,
    migrationsDir: string,
    old: CacheDoc | undefined,
    /** The cache's file name in cacheDir (statCacheName). */
    private readonly name: string,
  ) {
    const dir = path.resolve(migrationsDir);
    // Facts are computed by this build (directive rules may change between versions): a cache
    // written by another build, or for another directory, is not used.
    const build = buildIdentity();
    const usable = old !== undefined && old.dir === dir && old.build === build;
    this.build = build;
    this.old = usable ? old : { v: VERSION, dir, build, lines: new Map(), lint: [] };
    this.next = { dir, folders: new Map(), lint: this.old.lint.slice() };
    // A foreign or missing cache is worth replacing even if every folder turns out racy.
    if (!usable) this.dirty = true;
  }

  /** Loads the cache of the project whose `.migrations` directory is `migrationsDir`. */
  static load(gitDir: string | undefined, migrationsDir: string): StatCache {
    const name = statCacheName(migrationsDir);
    if (!gitDir) return new StatCache(undefined, migrationsDir, undefined, name);
    const cacheDir = path.join(gitDir, STAT_CACHE_DIR);
    let doc: CacheDoc | undefined;
    try {
      doc = parseDoc(fs.readFileSync(path.join(cacheDir, name), 'utf8'));
    } catch {
      doc = undefined; // missing or unreadable: start empty
    }
    return new StatCache(cacheDir, migrationsDir, doc, name);
  }

  /** The file the cache lives in (undefined without a git directory). */
  get file(): string | undefined {
    return this.cacheDir && path.join(this.cacheDir, this.name);
  }

  /** The stored entry for a folder, if any (not yet validated against the disk). */
  stored(id: string): FolderEntry | undefined {
    const line = this.old.lines.get(id);
    return line === undefined ? undefined : decodeEntry(line);
  }

  /** Keeps a validated entry for the next write. */
  keep(id: string, e: FolderEntry): void {
    this.next.folders.set(id, e);
    this.keptTrees.set(id, Object.keys(e.trees).length);
  }

  /**
   * The stamp (ns) to compare new stat data with, creating the stamp file on first use. Call it
   * BEFORE reading the contents the stat data will vouch for. Undefined when it cannot be made
   * (no or read-only git directory): then nothing is stored.
   */
  stamp(): number | undefined {
    if (this.stampMs !== undefined || this.stampFailed || !this.cacheDir) return this.stampMs;
    try {
      makeCacheDir(this.cacheDir);
      const tmp = path.join(
        this.cacheDir,
        `.${this.name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
      );
      fs.writeFileSync(tmp, '', { flag: 'wx' });
      this.tmp = tmp;
      // A command that fails before save() must not leave its stamp file behind.
      process.once('exit', () => this.discardTmp());
      this.stampMs = fs.statSync(tmp).mtimeMs;
    } catch {
      this.stampFailed = true;
      this.discardTmp();
    }
    return this.stampMs;
  }

  /** Records a folder that was just read (stat data taken before the stamp and the reads). */
  put(id: string, dirStat: fs.Stats, fileStats: Record<string, fs.Stats>, facts: FolderFacts): FolderEntry {
    const e: FolderEntry = { d: statStamp(dirStat), f: {}, facts, trees: {} };
    for (const [name, st] of Object.entries(fileStats)) e.f[name] = statStamp(st);
    const stamp = this.stampMs;
    const clean =
      stamp !== undefined &&
      isClean(dirStat, stamp) &&
      Object.values(fileStats).every((s) => isClean(s, stamp));
    if (clean) this.next.folders.set(id, e);
    this.dirty = true;
    return e;
  }

  /** Marks the cache as needing a write (e.g. a tree id was added to a kept entry). */
  touch(): void {
    this.dirty = true;
  }

  /**
   * Whether the manifest's stat data differs from the last run's (`braid new`/`hash` rewrote
   * it): then migrations changed and lint will likely run. Records it for the next write.
   */
  manifestChanged(manifestFile: string): boolean {
    const st = fs.statSync(manifestFile, { throwIfNoEntry: false });
    this.manifestNow = st ? statStamp(st) : undefined;
    if (this.manifestNow !== this.old.manifest) this.dirty = true;
    return this.manifestNow !== this.old.manifest;
  }

  /** The most recently stored lint result. */
  lastLint(): LintEntry | undefined {
    return this.old.lint[0];
  }

  /** A remembered lint result for this key. */
  lint(key: string): unknown {
    return this.old.lint.find((l) => l.key === key)?.value;
  }

  /**
   * Records this run's passing `braid check` for replay. Written with the folder lines only if
   * they are all there (`check.folders` of them: none left out as racy).
   */
  putCheck(check: CheckReplay): void {
    this.nextCheck = check;
    if (JSON.stringify(check) !== JSON.stringify(this.old.check)) this.dirty = true;
  }

  putLint(key: string, value: unknown): void {
    this.next.lint = [{ key, value }, ...this.next.lint.filter((l) => l.key !== key)].slice(0, LINT_KEEP);
    this.dirty = true;
  }

  /**
   * Writes the cache when something changed (atomically: the stamp file is filled, then renamed
   * over the cache). Never throws: a cache that cannot be written only costs speed.
   */
  save(): void {
    try {
      if (!this.cacheDir) return;
      let removed = false;
      for (const id of this.old.lines.keys()) if (!this.next.folders.has(id)) removed = true;
      let grown = false;
      for (const [id, n] of this.keptTrees)
        if (Object.keys(this.next.folders.get(id)?.trees ?? {}).length !== n) grown = true;
      if (!this.dirty && !removed && !grown) return;
      if (this.stamp() === undefined || !this.tmp) return;
      const folderLines: string[] = [];
      for (const [id, e] of this.next.folders) {
        const line = encodeEntry(id, e);
        if (line !== undefined) folderLines.push(line);
      }
      const check = this.nextCheck?.folders === folderLines.length ? this.nextCheck : undefined;
      const lines = [
        JSON.stringify({
          v: VERSION,
          dir: this.next.dir,
          build: this.build,
          lint: this.next.lint,
          manifest: this.manifestNow,
          ...(check ? { check } : {}),
        }),
        ...folderLines,
      ];
      fs.writeFileSync(this.tmp, lines.join('\n') + '\n');
      fs.renameSync(this.tmp, path.join(this.cacheDir, this.name));
      this.tmp = undefined;
      removeStaleTemps(this.cacheDir);
    } catch {
      // read-only or full disk: run without a cache
    } finally {
      this.discardTmp();
    }
  }

  private discardTmp(): void {
    if (!this.tmp) return;
    try {
      fs.unlinkSync(this.tmp);
    } catch {
      // already gone
    }
    this.tmp = undefined;
  }
}

/** Creates `<git dir>/braid` (never the git dir itself: a wrong $GIT_DIR must not create one). */
function makeCacheDir(dir: string): void {
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

/** Temporary files of killed processes (older than ten minutes) are removed when braid writes. */
function removeStaleTemps(dir: string): void {
  const re = /^\.stat-cache(\.[0-9a-f]{12})?\.json\.\d+\.[0-9a-f]+\.tmp$/;
  for (const name of fs.readdirSync(dir)) {
    if (!re.test(name)) continue;
    const p = path.join(dir, name);
    try {
      if (Date.now() - fs.statSync(p).mtimeMs > 600_000) fs.unlinkSync(p);
    } catch {
      // another process removed it
    }
  }
}

/** Parses the header and splits the entry lines (decoded on lookup); undefined when not ours. */
function parseDoc(text: string): CacheDoc | undefined {
  const nl = text.indexOf('\n');
  if (nl < 0) return undefined;
  let head: unknown;
  try {
    head = JSON.parse(text.slice(0, nl));
  } catch {
    return undefined;
  }
  if (typeof head !== 'object' || head === null) return undefined;
  const h = head as {
    v?: unknown;
    dir?: unknown;
    lint?: unknown;
    manifest?: unknown;
    build?: unknown;
    check?: unknown;
  };
  if (h.v !== VERSION || typeof h.dir !== 'string' || !Array.isArray(h.lint)) return undefined;
  const lint = (h.lint as unknown[]).filter(
    (l): l is LintEntry => typeof l === 'object' && l !== null && typeof (l as LintEntry).key === 'string',
  );
  const lines = new Map<string, string>();
  let pos = nl + 1;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const tab = text.indexOf('\t', pos);
    if (tab > pos && tab < end) lines.set(text.slice(pos, tab), text.slice(pos, end));
    pos = end + 1;
  }
  const doc: CacheDoc = { v: VERSION, dir: h.dir, lines, lint };
  if (typeof h.manifest === 'string') doc.manifest = h.manifest;
  if (typeof h.build === 'string') doc.build = h.build;
  if (isCheckReplay(h.check)) doc.check = h.check;
  return doc;
}

declare const BRAID_VERSION: string;

/** braid's version (defined by the bundler; `0.0.0-dev` when run from the sources). */
export function braidVersion(): string {
  return typeof BRAID_VERSION === 'string' ? BRAID_VERSION : '0.0.0-dev';
}

/** The directory of the running bundle (packages/cli/dist) when built; undefined from the sources. */
export function bundleDir(): string | undefined {
  return typeof __filename === 'string' && __filename.endsWith('.js') ? path.dirname(__filename) : undefined;
}

/**
 * What lint results depend on besides their input: this build of braid (its version and the
 * stat data of the running bundle, so that a rebuilt development bundle does not reuse results).
 */
export function buildIdentity(): string {
  const version = braidVersion();
  let self = '';
  try {
    // __filename is the bundle (packages/cli/dist/braid.js) when built; absent under ESM.
    if (typeof __filename === 'string') self = statStamp(fs.statSync(__filename));
  } catch {
    self = '';
  }
  return `${version} ${self}`;
}

/**
 * A content-addressed memo in `<git dir>/braid/<name>.json` (e.g. footprints by migration id and
 * content hash): values are pure functions of their key and of this build, so there is no racy
 * case; a memo written by another build is dropped. At most `limit` entries are kept (the most
 * recently used). Unreadable or corrupt -> empty; unwritable -> not kept. Written atomically.
 */
export class JsonMemo<T> {
  private readonly entries: Map<string, T>;
  private changed = false;

  private constructor(
    private readonly file: string | undefined,
    private readonly build: string,
    entries: Map<string, T>,
    private readonly limit: number,
  ) {
    this.entries = entries;
  }

  /** `build`: what its values depend on besides their keys (default: this build, buildIdentity). */
  static load<T>(
    gitDir: string | undefined,
    name: string,
    limit = 5000,
    build = buildIdentity(),
  ): JsonMemo<T> {
    const file = gitDir ? path.join(gitDir, STAT_CACHE_DIR, `${name}.json`) : undefined;
    const entries = new Map<string, T>();
    if (file) {
      try {
        const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as {
          v?: unknown;
          build?: unknown;
          entries?: unknown;
        };
        if (
          doc.v === VERSION &&
          doc.build === build &&
          typeof doc.entries === 'object' &&
          doc.entries !== null
        ) {
          for (const [k, v] of Object.entries(doc.entries)) entries.set(k, v as T);
        }
      } catch {
        // missing or corrupt: start empty
      }
    }
    return new JsonMemo<T>(file, build, entries, limit);
  }

  get(key: string): T | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) {
      // most recently used last (kept when trimming)
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  set(key: string, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    this.changed = true;
  }

  /** Writes the memo when it gained entries; never throws. */
  save(): void {
    if (!this.changed || !this.file) return;
    const keep = [...this.entries].slice(-this.limit);
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      makeCacheDir(path.dirname(this.file));
      fs.writeFileSync(
        tmp,
        JSON.stringify({ v: VERSION, build: this.build, entries: Object.fromEntries(keep) }),
        {
          flag: 'wx',
        },
      );
      fs.renameSync(tmp, this.file);
    } catch {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // never created
      }
    }
  }
}
