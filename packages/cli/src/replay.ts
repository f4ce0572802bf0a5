/**
 * Replays (issue 13, speed under load) of `braid check` and `braid diff A B --static`: when
 * nothing a run read has changed since, the next run prints that run's output again without
 * loading the CLI bundle, spawning git or parsing a manifest. bin/early.js tries them first,
 * through the small bundle dist/braid-check.js.
 *
 * `braid check` (optionally `--no-lint`, `--lint`, `--json`): its last passing run, when:
 * What "nothing has changed" means, all of it checked from the disk by stat and small reads:
 * - every migration folder and file: the stat cache's lines (stat data of each folder and of its
 *   up/down/verify files) are compared one by one, as a warm scan does; the `.migrations`
 *   directory's stat data covers folders and files added, removed or renamed;
 * - the manifest, `.migrations/baseline` and `braid.json` (stat data);
 * - this build of braid (the bundles' stat data), the flags, the working directory (the project
 *   root only), and every BRAID_* and GIT_* environment variable but those git sets per commit
 *   (author date, index file, editor: see PER_COMMIT_GIT_ENV);
 * - git: the protected-refs setting's sources (every git config file, by content; a config with
 *   `[include]` is never replayed), the raw value of every ref the protected set was resolved
 *   from (loose file, else packed-refs; symbolic refs followed; a missing ref counts too: it may
 *   appear), and HEAD when the run read it (a baseline, or a protected migration missing here).
 *   Globs in the protected setting, a reftable repository and grafts are never replayed.
 *
 * Only passing runs are recorded (exit 0), in the stat cache's header, and only when every input
 * was already stable when the run began: stat times strictly before the stat cache's stamp, taken
 * at the start of the run (the racy-git rule of statcache.ts). A file changed during the run gets a
 * later time and the run is not recorded.
 *
 * `braid diff A B --static` (or `A...B`; `--format`, `--json`): a pure function of the two
 * commits, so its output and exit code are kept by the raw values of the refs it was given (a
 * full commit id stands for itself; anything but a plain ref name or commit id is never replayed),
 * the build, the arguments, the directory, the environment and the shallow boundary
 * (`.git/shallow`: deepening a clone can move a merge base), in `.git/braid/diff-replay.json`
 * (the last 16). Recorded only when the refs read the same before and after the run.
 *
 * BRAID_NO_REPLAY=1 turns both off (to measure the full commands, or to rule the replay out).
 */
import fs from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import {
  commonDirOf,
  findGit,
  isCheckReplay,
  JsonMemo,
  isClean,
  STAT_CACHE_DIR,
  STAT_CACHE_VERSION,
  statCacheName,
  statStamp,
} from './statcache';

/** Turns the replays off (for a benchmark of the full commands, or to rule them out). */
export const NO_REPLAY_ENV = 'BRAID_NO_REPLAY';
/** The diff replays' memo in .git/braid/ and how many it keeps. */
export const DIFF_REPLAY_MEMO = 'diff-replay';
export const DIFF_REPLAY_KEEP = 16;
/** The small bundle holding `replayCheck`, next to the CLI bundle (scripts/build.mjs). */
export const REPLAY_BUNDLE = 'braid-check.js';
const MAIN_BUNDLE = 'braid-main.js';

/** Environment variables git sets for a hook that differ from one commit to the next and that `braid check` never reads. */
const PER_COMMIT_GIT_ENV =
  /^GIT_(AUTHOR_|COMMITTER_|INDEX_FILE$|EDITOR$|SEQUENCE_EDITOR$|PREFIX$|REFLOG_ACTION$|PAGER$|TERMINAL_PROMPT$|ASKPASS$|SSH|TRACE|EXEC_PATH$|SSL_|MERGE_AUTOEDIT$)/;

export interface ReplayFlags {
  lint: boolean;
  json: boolean;
}

/** The flags of `braid check <args>` that the replay handles; undefined for anything else. */
export function replayFlags(args: readonly string[]): ReplayFlags | undefined {
  const flags: ReplayFlags = { lint: true, json: false };
  let lintSet = false;
  for (const a of args) {
    if (a === '--json') flags.json = true;
    else if (a === '--no-lint' || a === '--lint') {
      if (lintSet) return undefined; // both given: let the CLI decide
      lintSet = true;
      flags.lint = a === '--lint';
    } else return undefined;
  }
  return flags;
}

/** `<version> <stat data of the CLI bundle> <stat data of the replay bundle>`. */
export function replayBuild(version: string, distDir: string): string | undefined {
  try {
    const main = statStamp(fs.statSync(path.join(distDir, MAIN_BUNDLE)));
    const replay = statStamp(fs.statSync(path.join(distDir, REPLAY_BUNDLE)));
    return `${version} ${main} ${replay}`;
  } catch {
    return undefined;
  }
}

/** Which refs the protected set was resolved from (as protected.ts resolves them). */
export function protectedRefSources(
  values: readonly string[] | undefined,
  /** What protected.ts protects when nothing is configured (DEFAULT_PROTECTED_REFS). */
  defaults: readonly string[],
): string[] | undefined {
  if (values === undefined) return [...defaults];
  if (values.some((v) => v.toLowerCase() === 'none')) return [];
  const out: string[] = [];
  for (const v of values) {
    // a glob lists refs (new ones may match); anything but a plain ref name is a revision
    if (!plainRef(v)) return undefined;
    out.push(...refCandidates(v));
  }
  return out;
}

/** The refs git may resolve a plain name to (gitrevisions: $GIT_DIR/<v>, refs/<v>, tags, heads, remotes). */
function refCandidates(v: string): string[] {
  if (v.startsWith('refs/')) return [v];
  return [v, `refs/${v}`, `refs/tags/${v}`, `refs/heads/${v}`, `refs/remotes/${v}`, `refs/remotes/${v}/HEAD`];
}

/** A plain ref name (no revision syntax). */
function plainRef(v: string): boolean {
  return (
    /^[A-Za-z0-9._/-]+$/.test(v) &&
    !v.includes('..') &&
    !v.startsWith('/') &&
    !v.endsWith('/') &&
    !v.startsWith('-')
  );
}

export interface ReplayInputs extends GitDirs {
  root: string;
  flags: ReplayFlags;
  build: string;
  /** Refs whose raw values count (protectedRefSources, and HEAD when it was read). */
  refs: readonly string[];
  /** When recording: the stamp every input's stat times must be strictly before. */
  stampMs?: number;
}

/** Thrown inside replayKey when an input cannot be vouched for: not replayable. */
class NotReplayable extends Error {}

/**
 * The key of everything a `braid check` result depends on besides its folders; undefined when
 * the state cannot be replayed (see the module comment). Reads only small files.
 */
export function replayKey(o: ReplayInputs): string | undefined {
  try {
    return replayKeyOrThrow(o);
  } catch (e) {
    if (e instanceof NotReplayable) return undefined;
    throw e;
  }
}

function replayKeyOrThrow(o: ReplayInputs): string {
  const r = new StateReader(o.gitDir, o.commonDir, o.stampMs);
  const parts: unknown[] = ['braid-check-replay 1', o.build, o.flags.lint, o.flags.json, o.root, envParts()];
  const migrations = path.join(o.root, '.migrations');
  for (const f of [migrations, path.join(migrations, 'manifest'), path.join(migrations, 'baseline')]) {
    parts.push(r.stamp(f));
  }
  parts.push(r.stamp(path.join(o.root, 'braid.json')));
  r.refuseRewrittenHistory();
  // what `git config --get-all braid.protected` reads
  for (const file of gitConfigFiles(o.gitDir, o.commonDir)) {
    const text = r.read(file);
    if (text !== undefined && /^\s*\[\s*include/im.test(text)) throw new NotReplayable();
    parts.push([file, text ?? null]);
  }
  // A protected ref (and HEAD) matters only through its commit's .migrations tree: keyed by that
  // tree's id where the objects are loose (a local commit that left the migrations alone keeps
  // the key), else by the commit id.
  const dir = o.top === undefined ? undefined : path.relative(o.top, migrations).split(path.sep).join('/');
  parts.push(o.refs.map((ref) => [ref, dir === undefined ? r.ref(ref) : r.refAsTree(ref, dir)]));
  return JSON.stringify(parts);
}

/** Every BRAID_* and GIT_* variable (but git's per-commit ones), sorted: a result may depend on any. */
function envParts(): [string, string | undefined][] {
  return Object.keys(process.env)
    .filter((k) => k.startsWith('BRAID_') || (k.startsWith('GIT_') && !PER_COMMIT_GIT_ENV.test(k)))
    .sort()
    .map((k) => [k, process.env[k]]);
}

/**
 * Reads the small files a replay key holds, from the disk, without git. With `stampMs` (when
 * recording), a file whose stat times are not strictly before it is refused (NotReplayable).
 */
class StateReader {
  private packed: Map<string, string> | undefined;

  constructor(
    private readonly gitDir: string,
    private readonly commonDir: string,
    private readonly stampMs?: number,
  ) {}

  private stable(st: fs.Stats): void {
    if (this.stampMs !== undefined && !isClean(st, this.stampMs)) throw new NotReplayable();
  }

  /** Stat data of a file that may be missing (`-`). */
  stamp(file: string): string {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st) return '-';
    this.stable(st);
    return statStamp(st);
  }

  /** Contents of a small file that may be missing (undefined). */
  read(file: string): string | undefined {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
      throw new NotReplayable();
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) return undefined;
      this.stable(st);
      return fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  }

  /** History git may read through other objects than the refs say: reftable, grafts, replace refs. */
  refuseRewrittenHistory(): void {
    const c = this.commonDir;
    if (fs.existsSync(path.join(c, 'reftable')) || fs.existsSync(path.join(c, 'info', 'grafts')))
      throw new NotReplayable();
    if (fs.existsSync(path.join(c, 'refs', 'replace'))) throw new NotReplayable();
    for (const name of this.packedRefs().keys())
      if (name.startsWith('refs/replace/')) throw new NotReplayable();
  }

  private packedRefs(): Map<string, string> {
    if (!this.packed) {
      this.packed = new Map();
      for (const line of (this.read(path.join(this.commonDir, 'packed-refs')) ?? '').split('\n')) {
        const m = /^([0-9a-f]{40,64}) (\S+)$/.exec(line);
        if (m) this.packed.set(m[2], m[1]);
      }
    }
    return this.packed;
  }

  /** A ref's raw value: its loose file (a symbolic ref followed), else packed-refs, else `-`. */
  ref(name: string, depth = 0): string {
    if (depth > 5) throw new NotReplayable();
    // pseudo-refs and HEAD live in the worktree's git directory, the rest in the common one
    const files = name.includes('/')
      ? [path.join(this.commonDir, name)]
      : [path.join(this.gitDir, name), path.join(this.commonDir, name)];
    for (const file of files) {
      const text = this.read(file);
      if (text === undefined) continue;
      const v = text.trim();
      const sym = /^ref: (\S+)$/.exec(v);
      return sym ? `${v} -> ${this.ref(sym[1], depth + 1)}` : v;
    }
    const p = this.packedRefs().get(name);
    return p === undefined ? '-' : `packed ${p}`;
  }

  /** ref(name) with its final object id replaced by `tree:<id of <commit>:<dir>>` when readable. */
  refAsTree(name: string, dir: string): string {
    const v = this.ref(name);
    const m = /([0-9a-f]{40}|[0-9a-f]{64})$/.exec(v);
    if (!m) return v;
    const tree = this.treeAt(m[1], dir);
    return tree === undefined ? v : `${v.slice(0, m.index)}tree:${tree}`;
  }

  /**
   * The id of `<oid>:<dir>` (a commit or an annotated tag of one) from loose objects, `-` when
   * the path is not there; undefined when an object is packed or unreadable.
   */
  treeAt(oid: string, dir: string): string | undefined {
    const idBytes = oid.length / 2;
    let obj = this.loose(oid);
    for (let depth = 0; obj?.type === 'tag' && depth < 5; depth++) {
      const m = /^object ([0-9a-f]+)$/m.exec(obj.body.toString('latin1'));
      obj = m ? this.loose(m[1]) : undefined;
    }
    if (obj?.type !== 'commit') return undefined;
    const t = /^tree ([0-9a-f]+)$/m.exec(obj.body.toString('latin1'));
    if (!t) return undefined;
    let tree = t[1];
    for (const part of dir.split('/').filter(Boolean)) {
      const o = this.loose(tree);
      if (o?.type !== 'tree') return undefined;
      const next = treeEntry(o.body, part, idBytes);
      if (next === undefined) return '-';
      tree = next;
    }
    return tree;
  }

  private loose(oid: string): { type: string; body: Buffer } | undefined {
    let raw: Buffer;
    try {
      raw = inflateSync(fs.readFileSync(path.join(this.commonDir, 'objects', oid.slice(0, 2), oid.slice(2))));
    } catch {
      return undefined; // packed (or missing)
    }
    const sp = raw.indexOf(0x20);
    const nul = raw.indexOf(0);
    if (sp < 0 || nul < sp) return undefined;
    return { type: raw.toString('latin1', 0, sp), body: raw.subarray(nul + 1) };
  }
}

/** The object id (hex) of the entry `name` of a tree object's body; undefined when absent. */
function treeEntry(body: Buffer, name: string, idBytes: number): string | undefined {
  let pos = 0;
  while (pos < body.length) {
    const sp = body.indexOf(0x20, pos);
    const nul = body.indexOf(0, sp);
    if (sp < 0 || nul < 0) return undefined;
    const entry = body.toString('utf8', sp + 1, nul);
    const id = body.subarray(nul + 1, nul + 1 + idBytes);
    if (entry === name) return id.toString('hex');
    pos = nul + 1 + idBytes;
  }
  return undefined;
}

/** The config files `git config` reads (system unless GIT_CONFIG_NOSYSTEM, global, local, worktree). */
function gitConfigFiles(gitDir: string, commonDir: string): string[] {
  const env = process.env;
  const files: string[] = [];
  if (!env['GIT_CONFIG_NOSYSTEM']) files.push(env['GIT_CONFIG_SYSTEM'] || '/etc/gitconfig');
  if (env['GIT_CONFIG_GLOBAL']) files.push(env['GIT_CONFIG_GLOBAL']);
  else {
    const home = env['HOME'] ?? '';
    const xdg = env['XDG_CONFIG_HOME'] || path.join(home, '.config');
    files.push(path.join(xdg, 'git', 'config'), path.join(home, '.gitconfig'));
  }
  files.push(path.join(commonDir, 'config'), path.join(gitDir, 'config.worktree'));
  return files;
}

/** The git directory and the common one (a worktree's `commondir` file), found without git. */
export function gitDirs(root: string): GitDirs | undefined {
  const found = findGit(root);
  if (!found) return undefined;
  const { gitDir, top } = found;
  const commonDir = commonDirOf(gitDir);
  if (!commonDir) return undefined;
  return top === undefined ? { gitDir, commonDir } : { gitDir, commonDir, top };
}

export interface GitDirs {
  gitDir: string;
  commonDir: string;
  /** The work tree's top (where `.git` is); undefined when GIT_DIR or GIT_WORK_TREE decide it. */
  top?: string;
}

interface ReplayHeader {
  v?: unknown;
  dir?: unknown;
  check?: unknown;
}

/**
 * Replays the last passing `braid check` when nothing it read has changed: writes its output and
 * returns its exit code (0). Undefined when it cannot (then the CLI runs the check). Never throws.
 * `args`: the arguments after `check`; `distDir`: the bundles' directory.
 */
export function replayCheck(args: readonly string[], distDir: string, version: string): number | undefined {
  try {
    return replayOrUndefined(args, distDir, version);
  } catch {
    return undefined;
  }
}

function replayOrUndefined(args: readonly string[], distDir: string, version: string): number | undefined {
  if (replayOff()) return undefined;
  const flags = replayFlags(args);
  if (!flags) return undefined;
  const root = process.cwd();
  const migrations = path.join(root, '.migrations');
  if (!fs.statSync(migrations, { throwIfNoEntry: false })?.isDirectory()) return undefined;
  const dirs = gitDirs(root);
  if (!dirs) return undefined;
  const build = replayBuild(version, distDir);
  if (!build) return undefined;
  const text = fs.readFileSync(path.join(dirs.gitDir, STAT_CACHE_DIR, statCacheName(migrations)), 'utf8');
  const nl = text.indexOf('\n');
  if (nl < 0) return undefined;
  const head = JSON.parse(text.slice(0, nl)) as ReplayHeader;
  if (head.v !== STAT_CACHE_VERSION || head.dir !== migrations) return undefined;
  const rec = head.check;
  if (!isCheckReplay(rec) || rec.flags !== flagsName(flags)) return undefined;
  if (replayKey({ root, ...dirs, flags, build, refs: rec.refs }) !== rec.key) return undefined;
  if (!foldersUnchanged(text, nl + 1, migrations, rec.folders)) return undefined;
  if (rec.stdout) process.stdout.write(rec.stdout);
  if (rec.stderr) process.stderr.write(rec.stderr);
  return 0;
}

/** The flag combination's name in the record. */
export function flagsName(f: ReplayFlags): string {
  return `${f.lint ? 'lint' : 'no-lint'}${f.json ? ' json' : ''}`;
}

/** Every folder line's stat data (folder, up, down, verify) equals the disk's, and there are `expected` of them. */
function foldersUnchanged(text: string, start: number, migrations: string, expected: number): boolean {
  let n = 0;
  let pos = start;
  const same = (file: string, stored: string): boolean => {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    return st !== undefined && statStamp(st) === stored;
  };
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    if (end > pos) {
      const x = text.slice(pos, end).split('\t', 5);
      if (x.length < 5) return false;
      const [id, d, up, down, verify] = x;
      const dir = migrations + path.sep + id;
      if (!same(dir, d) || !same(dir + path.sep + 'up.sql', up)) return false;
      if (down !== '-' && !same(dir + path.sep + 'down.sql', down)) return false;
      if (verify !== '-' && !same(dir + path.sep + 'verify.sql', verify)) return false;
      n++;
    }
    pos = end + 1;
  }
  return n === expected;
}

/** A recorded `braid diff --static`: its output and exit code. */
export interface DiffReplay {
  stdout: string;
  code: number;
}

function isDiffReplay(x: unknown): x is DiffReplay {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as DiffReplay).stdout === 'string' &&
    typeof (x as DiffReplay).code === 'number'
  );
}

/** `A...B` or `A..B` -> [A, B] when refB is absent; undefined when that is no range. */
export function splitRange(refA: string, refB: string | undefined): [string, string] | undefined {
  if (refB !== undefined) return [refA, refB];
  const m = /^(.*?)\.\.\.?(.*)$/.exec(refA);
  if (!m || m[1] === '' || m[2] === '') return undefined;
  return [m[1], m[2]];
}

export interface DiffReplayArgs {
  a: string;
  b: string;
  format: string;
}

/**
 * The arguments of `braid diff <args>` the replay handles: two refs or a range, `--static`
 * (required), `--format F` / `--format=F`, `--json`. Undefined for anything else.
 */
export function diffReplayArgs(args: readonly string[]): DiffReplayArgs | undefined {
  const refs: string[] = [];
  let isStatic = false;
  let json = false;
  let format: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const x = args[i];
    if (x === '--static') isStatic = true;
    else if (x === '--json') json = true;
    else if (x === '--format' && i + 1 < args.length) format = args[++i];
    else if (x.startsWith('--format=')) format = x.slice('--format='.length);
    else if (x.startsWith('-')) return undefined;
    else refs.push(x);
  }
  if (!isStatic || refs.length < 1 || refs.length > 2) return undefined;
  const r = splitRange(refs[0], refs[1]);
  if (!r) return undefined;
  return { a: r[0], b: r[1], format: json ? 'json' : (format ?? 'text') };
}

export interface DiffReplayInputs extends DiffReplayArgs {
  root: string;
  gitDir: string;
  commonDir: string;
  build: string;
}

/** The key of a `braid diff --static` (module comment); undefined when it cannot be replayed. */
export function diffReplayKey(o: DiffReplayInputs): string | undefined {
  try {
    const r = new StateReader(o.gitDir, o.commonDir);
    r.refuseRewrittenHistory();
    const refs = [o.a, o.b].map((v) => {
      if (/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(v)) return v; // a commit id names itself
      if (!plainRef(v)) throw new NotReplayable();
      const raw = refCandidates(v).map((c) => [c, r.ref(c)]);
      // no such ref: an abbreviated commit id (it may become ambiguous) or an error
      if (raw.every(([, x]) => x === '-')) throw new NotReplayable();
      return raw;
    });
    const shallow = r.read(path.join(o.commonDir, 'shallow'));
    return JSON.stringify([
      'braid-diff-replay 1',
      o.build,
      o.root,
      o.format,
      refs,
      shallow ?? null,
      envParts(),
    ]);
  } catch (e) {
    if (e instanceof NotReplayable) return undefined;
    throw e;
  }
}

/**
 * Replays a recorded `braid diff --static` whose inputs are unchanged: writes its output and
 * returns its exit code; undefined when it cannot (then the CLI runs it). Never throws.
 */
export function replayDiff(args: readonly string[], distDir: string, version: string): number | undefined {
  try {
    if (replayOff()) return undefined;
    const parsed = diffReplayArgs(args);
    if (!parsed) return undefined;
    const root = process.cwd();
    if (!fs.statSync(path.join(root, '.migrations'), { throwIfNoEntry: false })?.isDirectory())
      return undefined;
    const dirs = gitDirs(root);
    const build = replayBuild(version, distDir);
    if (!dirs || !build) return undefined;
    const key = diffReplayKey({ ...parsed, root, ...dirs, build });
    if (!key) return undefined;
    const rec = JsonMemo.load<DiffReplay>(dirs.gitDir, DIFF_REPLAY_MEMO, DIFF_REPLAY_KEEP, build).get(key);
    if (!isDiffReplay(rec)) return undefined;
    if (rec.stdout) process.stdout.write(rec.stdout);
    return rec.code;
  } catch {
    return undefined;
  }
}

function replayOff(): boolean {
  const env = process.env[NO_REPLAY_ENV];
  return env !== undefined && env !== '' && env !== '0';
}
