/**
 * Reading migration history from git at any ref, without touching the working tree (issue 5).
 * Trees and blobs go through one long-lived `git cat-file --batch` (pipelined); merge-base,
 * log and diff-tree through execFile with argv arrays.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { EnvironmentError, UsageError } from '@braid/core';
import { CatFile, type GitObject } from './catfile';
import { firstLine, gitText, runGit } from './exec';

export const DEFAULT_MIGRATIONS_DIR = '.migrations';

export type TreeEntryType = 'blob' | 'tree' | 'commit' | 'symlink';

export interface TreeEntry {
  /** Octal mode as git prints it: 100644, 100755, 120000, 040000, 160000. */
  mode: string;
  type: TreeEntryType;
  name: string;
  oid: string;
}

export interface MigrationFolderAt {
  up?: string;
  down?: string;
  verify?: string;
}

export interface MigrationsAt {
  /** The ref as given and the commit it resolved to. */
  ref: string;
  commit: string;
  /** False when the commit has no migrations directory at all. */
  exists: boolean;
  manifestText?: string;
  folders: Map<string, MigrationFolderAt>;
  /** Names under the migrations directory that are neither `manifest` nor a folder. */
  strayEntries: string[];
  /** Blob ids of every migration file read, by id (for cheap equality checks). */
  oids: Map<string, { up?: string; down?: string; verify?: string }>;
}

export type FileStatus = 'A' | 'M' | 'D' | 'T';

export interface ChangedPath {
  path: string;
  status: FileStatus;
  oldOid: string;
  newOid: string;
}

export interface MigrationChanges {
  /** Migration folders that appeared. */
  added: string[];
  /** Migration folders present before and after whose files changed. */
  changed: string[];
  /** Migration folders that disappeared. */
  removed: string[];
  manifestChanged: boolean;
  /** Every changed path under the migrations directory (blobs only). */
  files: ChangedPath[];
}

export interface CommitInfo extends MigrationChanges {
  oid: string;
  parents: string[];
  author: { name: string; email: string; date: string };
  subject: string;
}

export interface CommitsBetweenOptions {
  /** Follow only the first parent of merges (the commits made on the branch itself). */
  firstParent?: boolean;
  dir?: string;
}

type MigrationFileKey = 'up' | 'down' | 'verify';
function keyOf(file: string): MigrationFileKey | undefined {
  return file === 'up.sql'
    ? 'up'
    : file === 'down.sql'
      ? 'down'
      : file === 'verify.sql'
        ? 'verify'
        : undefined;
}

/** `./a//b/` -> `a/b`; rejects paths that leave the repository. */
export function normalizeRepoPath(path: string): string {
  const parts = path
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new UsageError('git-bad-path', `path ${path} must stay inside the repository`);
  return parts.join('/');
}

/** Parses a raw git tree object. */
export function parseTree(content: Buffer, oidBytes: number): TreeEntry[] {
  const out: TreeEntry[] = [];
  let pos = 0;
  while (pos < content.length) {
    const sp = content.indexOf(0x20, pos);
    const nul = content.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 1 + oidBytes > content.length) {
      throw new EnvironmentError('git-bad-tree', 'malformed tree object from git cat-file');
    }
    const rawMode = content.toString('ascii', pos, sp);
    const mode = rawMode.padStart(6, '0');
    const name = content.toString('utf8', sp + 1, nul);
    const oid = content.toString('hex', nul + 1, nul + 1 + oidBytes);
    const type: TreeEntryType =
      mode === '040000' ? 'tree' : mode === '160000' ? 'commit' : mode === '120000' ? 'symlink' : 'blob';
    out.push({ mode, type, name, oid });
    pos = nul + 1 + oidBytes;
  }
  return out;
}

export class GitRepo {
  private readonly cat: CatFile;
  private shallowCache: boolean;

  private constructor(
    /** Absolute top level of the working tree. */
    readonly root: string,
    /** Absolute git dir of this checkout (`.git`, or `.git/worktrees/<name>` in a worktree). */
    readonly gitDir: string,
    /** Absolute common git dir (shared by all worktrees). */
    readonly commonDir: string,
    /** `sha1` or `sha256`. */
    readonly objectFormat: string,
    shallow: boolean,
    batchCommand: boolean,
  ) {
    this.cat = new CatFile(root, batchCommand);
    this.shallowCache = shallow;
  }

  /** Length of a binary object id in tree objects. */
  get oidBytes(): number {
    return this.objectFormat === 'sha256' ? 32 : 20;
  }

  /**
   * Opens the repository containing cwd (any subdirectory, a `git worktree` checkout, a shallow
   * clone). Not a repository -> UsageError naming the directory; git missing -> EnvironmentError.
   */
  static async open(cwd: string): Promise<GitRepo> {
    const dir = resolvePath(cwd);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new UsageError('no-such-directory', `${dir}: no such directory`, { data: { path: dir } });
    }
    // No `git version` process: the cat-file reader tries --batch-command (git >= 2.36) and
    // falls back to --batch when git rejects it (catfile.ts).
    const batchCommand = true;
    const r = await runGit(dir, [
      'rev-parse',
      '--show-toplevel',
      '--absolute-git-dir',
      '--git-common-dir',
      '--is-shallow-repository',
      '--show-object-format',
    ]);
    if (r.code !== 0) {
      const msg = firstLine(r.stderr);
      if (/not a git repository/i.test(msg) || /must be run in a work tree/i.test(msg)) {
        throw new UsageError('not-a-git-repo', `${dir} is not inside a git working tree`, {
          data: { path: dir },
        });
      }
      throw new EnvironmentError('git-failed', `git rev-parse failed in ${dir}: ${msg}`);
    }
    const lines = r.stdout.toString('utf8').split('\n');
    const [top, gitDir, common, shallow, format] = lines;
    if (!top || !gitDir || !common) {
      throw new EnvironmentError('git-failed', `git rev-parse gave no top level for ${dir}`);
    }
    const commonDir = isAbsolute(common) ? common : resolvePath(dir, common);
    return new GitRepo(
      top,
      gitDir,
      commonDir,
      format?.trim() || 'sha1',
      shallow?.trim() === 'true',
      batchCommand && process.env['BRAID_GIT_PLAIN_BATCH'] !== '1',
    );
  }

  /** Whether this is a shallow clone (re-checked: a fetch may have deepened it). */
  async isShallow(): Promise<boolean> {
    const out = await gitText(this.root, ['rev-parse', '--is-shallow-repository']);
    this.shallowCache = out === 'true';
    return this.shallowCache;
  }

  /** Ends the cat-file process (also done automatically on process exit). */
  close(): void {
    this.cat.close();
  }

  /** Reads objects by name through the batch process (pipelined). */
  readObjects(names: readonly string[]): Promise<(GitObject | undefined)[]> {
    return this.cat.readMany(names);
  }

  /**
   * Resolves a ref (branch, tag, `HEAD~3`, `origin/main`, full or short sha, `@{u}`) to a
   * commit id. Unknown -> UsageError naming the ref (with a hint in a shallow clone).
   */
  async resolveRef(ref: string): Promise<string> {
    const oid = await this.tryResolveRef(ref);
    if (oid !== undefined) return oid;
    const hint = this.shallowCache
      ? ' (this clone is shallow: the commit may be beyond its depth; try `git fetch --deepen=N` or `git fetch --unshallow`)'
      : '';
    throw new UsageError(
      'unknown-ref',
      `unknown git ref ${JSON.stringify(ref)}: not a branch, tag or commit${hint}`,
      {
        data: { ref },
      },
    );
  }

  /** Like resolveRef, but undefined when the ref does not name a commit. */
  async tryResolveRef(ref: string): Promise<string | undefined> {
    if (ref.trim() === '' || /[\n\0]/.test(ref)) {
      throw new UsageError('unknown-ref', `invalid git ref ${JSON.stringify(ref)}`, { data: { ref } });
    }
    const obj = await this.cat.read(`${ref}^{commit}`);
    return obj?.oid;
  }

  private async commitOf(ref: string): Promise<string> {
    return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(ref) ? ref : this.resolveRef(ref);
  }

  /**
   * The entries of the tree at `path` in `ref` (`''` for the root); undefined when the path does
   * not exist there or is not a directory.
   */
  async readTree(ref: string, path = ''): Promise<TreeEntry[] | undefined> {
    const commit = await this.commitOf(ref);
    const p = normalizeRepoPath(path);
    const obj = await this.cat.read(p === '' ? `${commit}^{tree}` : `${commit}:${p}`);
    if (!obj || obj.type !== 'tree') return undefined;
    return parseTree(obj.content, this.oidBytes);
  }

  /** The content of the file at `path` in `ref`; undefined when it does not exist or is not a file. */
  async readFile(ref: string, path: string): Promise<Buffer | undefined> {
    const commit = await this.commitOf(ref);
    const p = normalizeRepoPath(path);
    if (p === '') return undefined;
    const obj = await this.cat.read(`${commit}:${p}`);
    if (!obj || obj.type !== 'blob') return undefined;
    return obj.content;
  }

  /**
   * The migrations directory at a ref: the manifest text and every folder's up/down/verify.
   * Three pipelined rounds through the one cat-file process (directory, folders, blobs).
   */
  async readMigrationsAt(ref: string, dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationsAt> {
    const index = await this.readMigrationIndexAt(ref, dir);
    const wanted = new Set<string>();
    if (index.manifestOid) wanted.add(index.manifestOid);
    for (const f of index.oids.values()) for (const oid of Object.values(f)) if (oid) wanted.add(oid);
    const list = [...wanted];
    const objs = await this.cat.readMany(list);
    const text = new Map<string, string>();
    list.forEach((oid, i) => {
      const o = objs[i];
      if (o) text.set(oid, o.content.toString('utf8'));
    });
    const folders = new Map<string, MigrationFolderAt>();
    for (const [id, f] of index.oids) {
      const folder: MigrationFolderAt = {};
      for (const k of ['up', 'down', 'verify'] as const) {
        const oid = f[k];
        if (oid !== undefined) folder[k] = text.get(oid) ?? '';
      }
      folders.set(id, folder);
    }
    const out: MigrationsAt = {
      ref,
      commit: index.commit,
      exists: index.exists,
      folders,
      strayEntries: index.strayEntries,
      oids: index.oids,
    };
    if (index.manifestOid) out.manifestText = text.get(index.manifestOid) ?? '';
    return out;
  }

  /**
   * Like readMigrationsAt, but only the blob ids (two rounds: directory and folders): enough to
   * tell whether files are identical to another version without reading any content.
   */
  async readMigrationIndexAt(
    ref: string,
    dir: string = DEFAULT_MIGRATIONS_DIR,
  ): Promise<{
    commit: string;
    exists: boolean;
    manifestOid?: string;
    oids: Map<string, { up?: string; down?: string; verify?: string }>;
    strayEntries: string[];
  }> {
    const commit = await this.commitOf(ref);
    const d = normalizeRepoPath(dir);
    const top = await this.cat.read(d === '' ? `${commit}^{tree}` : `${commit}:${d}`);
    const oids = new Map<string, { up?: string; down?: string; verify?: string }>();
    if (!top || top.type !== 'tree') return { commit, exists: false, oids, strayEntries: [] };
    const entries = parseTree(top.content, this.oidBytes);
    let manifestOid: string | undefined;
    const strayEntries: string[] = [];
    const folders: TreeEntry[] = [];
    for (const e of entries) {
      // Hidden names (`.gitkeep`, `.DS_Store`) are neither migrations nor worth a finding.
      if (e.name.startsWith('.')) continue;
      if (e.name === 'manifest' && e.type === 'blob') manifestOid = e.oid;
      else if (e.type === 'tree') folders.push(e);
      else if (!(e.name === 'baseline' && e.type === 'blob')) strayEntries.push(e.name); // docs/import.md
    }
    const trees = await this.cat.readMany(folders.map((f) => f.oid));
    folders.forEach((f, i) => {
      const t = trees[i];
      const files: { up?: string; down?: string; verify?: string } = {};
      if (t) {
        for (const e of parseTree(t.content, this.oidBytes)) {
          const k = keyOf(e.name);
          if (k && e.type === 'blob') files[k] = e.oid;
        }
      }
      oids.set(f.name, files);
    });
    const out: {
      commit: string;
      exists: boolean;
      manifestOid?: string;
      oids: Map<string, { up?: string; down?: string; verify?: string }>;
      strayEntries: string[];
    } = { commit, exists: true, oids, strayEntries };
    if (manifestOid) out.manifestOid = manifestOid;
    return out;
  }

  /**
   * The merge base of two refs. No common ancestor -> UsageError; in a shallow clone, where the
   * base is usually just beyond the fetched depth, an EnvironmentError that says how to deepen.
   */
  async mergeBase(a: string, b: string): Promise<string> {
    const [ca, cb] = await Promise.all([this.resolveRef(a), this.resolveRef(b)]);
    const r = await runGit(this.root, ['merge-base', ca, cb]);
    const out = r.stdout.toString('utf8').trim();
    if (r.code === 0 && out) return out.split('\n')[0];
    if (r.code > 1) {
      throw new EnvironmentError('git-failed', `git merge-base ${a} ${b} failed: ${firstLine(r.stderr)}`);
    }
    if (await this.isShallow()) {
      throw new EnvironmentError(
        'git-shallow-no-merge-base',
        `no merge base between ${a} and ${b} in this shallow clone: fetch more history with \`git fetch --deepen=N\` (or \`git fetch --unshallow\`) and retry`,
        { data: { refs: [a, b], shallow: true } },
      );
    }
    throw new UsageError('git-no-merge-base', `${a} and ${b} have no common ancestor (unrelated histories)`, {
      data: { refs: [a, b] },
    });
  }

  /**
   * The commits reachable from tip but not from base (`base..tip`), oldest first, each with the
   * migrations it added, changed and removed (merges are compared with their first parent).
   */
  async commitsBetween(base: string, tip: string, opts: CommitsBetweenOptions = {}): Promise<CommitInfo[]> {
    const dir = normalizeRepoPath(opts.dir ?? DEFAULT_MIGRATIONS_DIR);
    const [cb, ct] = await Promise.all([this.resolveRef(base), this.resolveRef(tip)]);
    const args = [
      '-c',
      'log.showSignature=false',
      'log',
      '--no-color',
      '--reverse',
      '--format=%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e',
    ];
    if (opts.firstParent) args.push('--first-parent');
    args.push(`${cb}..${ct}`, '--');
    const log = await gitText(this.root, args);
    const commits: CommitInfo[] = [];
    for (const rec of log.split('\x1e')) {
      const line = rec.replace(/^\n+/, '');
      if (!line) continue;
      const [oid, parents, name, email, date, subject] = line.split('\x1f');
      commits.push({
        oid: oid,
        parents: parents ? parents.split(' ').filter(Boolean) : [],
        author: { name: name ?? '', email: email ?? '', date: date ?? '' },
        subject: subject ?? '',
        ...emptyChanges(),
      });
    }
    if (commits.length === 0) return commits;
    const input = commits.map((c) => (c.parents[0] ? `${c.oid} ${c.parents[0]}` : c.oid)).join('\n') + '\n';
    const r = await runGit(
      this.root,
      [
        'diff-tree',
        '--stdin',
        '-r',
        '-t',
        '--root',
        '--raw',
        '-z',
        '--no-renames',
        '--',
        dir === '' ? '.' : `${dir}/`,
      ],
      input,
    );
    if (r.code !== 0)
      throw new EnvironmentError('git-failed', `git diff-tree failed: ${firstLine(r.stderr)}`);
    const byOid = new Map(commits.map((c) => [c.oid, c]));
    const tokens = r.stdout.toString('utf8').split('\0');
    let current: CommitInfo | undefined;
    const raw: { c: CommitInfo; meta: string; path: string }[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t === '') continue;
      if (t.startsWith(':')) {
        const path = tokens[++i] ?? '';
        if (current) raw.push({ c: current, meta: t, path });
      } else {
        current = byOid.get(t.trim());
      }
    }
    const grouped = new Map<CommitInfo, { meta: string; path: string }[]>();
    for (const x of raw) {
      const g = grouped.get(x.c) ?? [];
      g.push({ meta: x.meta, path: x.path });
      grouped.set(x.c, g);
    }
    for (const [c, recs] of grouped) Object.assign(c, classifyChanges(recs, dir));
    return commits;
  }

  /** What changed in the migrations directory between two refs (a tree diff, no per-commit walk). */
  async diffMigrations(
    from: string,
    to: string,
    dir: string = DEFAULT_MIGRATIONS_DIR,
  ): Promise<MigrationChanges> {
    const d = normalizeRepoPath(dir);
    const [a, b] = await Promise.all([this.resolveRef(from), this.resolveRef(to)]);
    const r = await runGit(this.root, [
      'diff-tree',
      '-r',
      '-t',
      '--raw',
      '-z',
      '--no-renames',
      a,
      b,
      '--',
      d === '' ? '.' : `${d}/`,
    ]);
    if (r.code !== 0)
      throw new EnvironmentError('git-failed', `git diff-tree failed: ${firstLine(r.stderr)}`);
    const tokens = r.stdout.toString('utf8').split('\0');
    const recs: { meta: string; path: string }[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.startsWith(':')) recs.push({ meta: t, path: tokens[++i] ?? '' });
    }
    return classifyChanges(recs, d);
  }
}

function emptyChanges(): MigrationChanges {
  return { added: [], changed: [], removed: [], manifestChanged: false, files: [] };
}

/** Turns raw diff-tree records (`:oldmode newmode oldoid newoid S`, path) into migration changes. */
export function classifyChanges(
  recs: readonly { meta: string; path: string }[],
  dir: string,
): MigrationChanges {
  const out = emptyChanges();
  const prefix = dir === '' ? '' : `${dir}/`;
  const added = new Set<string>();
  const removed = new Set<string>();
  const changed = new Set<string>();
  for (const { meta, path } of recs) {
    if (!path.startsWith(prefix)) continue;
    const rel = path.slice(prefix.length);
    const [oldMode, newMode, oldOid, newOid, status] = meta.slice(1).split(' ');
    const st = (status ?? 'M').charAt(0) as FileStatus;
    const parts = rel.split('/');
    const oldTree = oldMode === '040000';
    const newTree = newMode === '040000';
    if (parts.length === 1) {
      if (oldTree || newTree) {
        if (!oldTree) added.add(rel);
        else if (!newTree) removed.add(rel);
        else changed.add(rel);
        if (oldTree !== newTree && rel === 'manifest') out.manifestChanged = true;
      } else if (rel === 'manifest') {
        out.manifestChanged = true;
      }
    }
    if (!oldTree && !newTree)
      out.files.push({ path, status: st, oldOid: oldOid ?? '', newOid: newOid ?? '' });
  }
  for (const id of added) changed.delete(id);
  for (const id of removed) changed.delete(id);
  out.added = [...added].sort();
  out.removed = [...removed].sort();
  out.changed = [...changed].sort();
  return out;
}

export interface RefRange {
  from: string;
  to: string;
  /** `...`: compare each side with the merge base; `..`: commits reachable from `to` but not `from`. */
  kind: 'symmetric' | 'range';
}

/**
 * Parses `A...B` / `A..B` as git does (an empty side means HEAD); undefined when `spec` is a
 * single ref. Refs themselves cannot contain `..`, so the split is unambiguous.
 */
export function parseRefRange(spec: string): RefRange | undefined {
  const sym = spec.indexOf('...');
  if (sym >= 0) {
    return { from: spec.slice(0, sym) || 'HEAD', to: spec.slice(sym + 3) || 'HEAD', kind: 'symmetric' };
  }
  const dots = spec.indexOf('..');
  if (dots >= 0) {
    return { from: spec.slice(0, dots) || 'HEAD', to: spec.slice(dots + 2) || 'HEAD', kind: 'range' };
  }
  return undefined;
}
