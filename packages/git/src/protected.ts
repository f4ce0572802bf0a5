/**
 * Protected history (DESIGN §1, issue 5): the refs whose migrations are immutable, the
 * migrations reachable from them, and the cheap check that `braid check` and `braid hash` call.
 *
 * Which refs: `BRAID_PROTECTED` (comma- or space-separated) if set, else the multi-valued git
 * config `braid.protected`, else the defaults `main`, `master` and the target of
 * `origin/HEAD` — only those that exist. A value may be a ref (`main`, `origin/release`,
 * `refs/heads/prod`) or a glob (`release/*`, `refs/remotes/origin/release-*`); `none`
 * disables protection.
 */
import * as crypto from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BASELINE_FILE,
  compareWithProtected,
  type ProtectFiles,
  type ProtectFinding,
  type ProtectedVersion,
  UsageError,
} from '@braid/core';
import { runGit } from './exec';
import { repoRelativeDir } from './project';
import { DEFAULT_MIGRATIONS_DIR, GitRepo, normalizeRepoPath, parseTree } from './repo';

export interface ProtectedRef {
  /** As the user knows it: `main`, `origin/main`, or the configured value. */
  name: string;
  /** Full ref name when known (`refs/heads/main`). */
  fullName?: string;
  commit: string;
  source: 'default' | 'config' | 'env';
}

export interface ProtectedRefsResult {
  refs: ProtectedRef[];
  /** Configured values that named nothing (worth a warning). */
  missing: string[];
  source: 'default' | 'config' | 'env';
}

export const PROTECTED_CONFIG_KEY = 'braid.protected';
/** The refs protected when nothing is configured (those that exist; origin/HEAD by its target). */
export const DEFAULT_PROTECTED_REFS: readonly string[] = [
  'refs/heads/main',
  'refs/heads/master',
  'refs/remotes/origin/HEAD',
];
export const PROTECTED_ENV = 'BRAID_PROTECTED';

function shortName(full: string): string {
  return full.replace(/^refs\/(heads|remotes|tags)\//, '');
}

/** The configured protected ref values: `BRAID_PROTECTED`, else git config, else undefined (defaults). */
export interface ProtectedConfig {
  values: string[] | undefined;
  source: ProtectedRefsResult['source'];
}

/**
 * Reads the protected-refs setting (a `git config` process unless BRAID_PROTECTED is set). Needs
 * only a directory inside the repository, so callers may start it before GitRepo.open finishes.
 */
export async function readProtectedConfig(cwd: string): Promise<ProtectedConfig> {
  const env = process.env[PROTECTED_ENV];
  if (env !== undefined && env.trim() !== '') {
    return { values: env.split(/[\s,]+/).filter(Boolean), source: 'env' };
  }
  const r = await runGit(cwd, ['config', '--get-all', PROTECTED_CONFIG_KEY]);
  if (r.code === 0) {
    const values = r.stdout
      .toString('utf8')
      .split('\n')
      .flatMap((l) => l.split(/[\s,]+/))
      .filter(Boolean);
    return { values, source: 'config' };
  }
  // 1: key not set; 128: not a repository (the caller's GitRepo.open reports that better)
  if (r.code === 1 || r.code === 128) return { values: undefined, source: 'default' };
  throw new UsageError('git-config', `git config ${PROTECTED_CONFIG_KEY} failed: ${r.stderr.trim()}`);
}

/** The protected refs of a repository, in precedence order (first listed wins for an id). */
export async function protectedRefs(
  repo: GitRepo,
  config?: ProtectedConfig | Promise<ProtectedConfig>,
): Promise<ProtectedRefsResult> {
  const { values, source } = await (config ?? readProtectedConfig(repo.root));
  if (values === undefined) return { refs: await defaultProtectedRefs(repo), missing: [], source };
  if (values.some((v) => v.toLowerCase() === 'none')) return { refs: [], missing: [], source };

  const refs: ProtectedRef[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  const add = (r: ProtectedRef) => {
    const key = r.fullName ?? r.name;
    if (seen.has(key)) return;
    seen.add(key);
    refs.push(r);
  };
  for (const v of values) {
    if (/[*?[]/.test(v)) {
      const patterns = v.startsWith('refs/')
        ? [v]
        : [`refs/heads/${v}`, `refs/remotes/${v}`, `refs/tags/${v}`];
      const r = await runGit(repo.root, ['for-each-ref', '--format=%(refname)', ...patterns]);
      const names = r.stdout.toString('utf8').split('\n').filter(Boolean);
      const oids = await repo.readObjects(names.map((n) => `${n}^{commit}`));
      let any = false;
      names.forEach((n, i) => {
        const o = oids[i];
        if (o) {
          any = true;
          add({ name: shortName(n), fullName: n, commit: o.oid, source });
        }
      });
      if (!any) missing.push(v);
    } else {
      const oid = await repo.tryResolveRef(v);
      if (oid) add({ name: v, commit: oid, source });
      else missing.push(v);
    }
  }
  return { refs, missing, source };
}

/**
 * `main`, `master` and `origin/HEAD`'s target, those that exist: resolved through the cat-file
 * process (no extra git process); origin/HEAD's name from its symbolic-ref file in the common
 * git dir (symbolic refs are never packed), else `git symbolic-ref`.
 */
async function defaultProtectedRefs(repo: GitRepo): Promise<ProtectedRef[]> {
  const wanted = DEFAULT_PROTECTED_REFS;
  const objs = await repo.readObjects(wanted.map((w) => `${w}^{commit}`));
  const out: ProtectedRef[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < wanted.length; i++) {
    const o = objs[i];
    if (!o) continue;
    let full = wanted[i];
    if (full === 'refs/remotes/origin/HEAD') full = (await symbolicTarget(repo, full)) ?? full;
    if (seen.has(full)) continue;
    seen.add(full);
    out.push({ name: shortName(full), fullName: full, commit: o.oid, source: 'default' });
  }
  return out;
}

async function symbolicTarget(repo: GitRepo, ref: string): Promise<string | undefined> {
  try {
    const text = readFileSync(join(repo.commonDir, ...ref.split('/')), 'utf8');
    const m = /^ref: (\S+)/.exec(text);
    if (m) return m[1];
  } catch {
    // not a loose file (another ref backend): ask git
  }
  const r = await runGit(repo.root, ['symbolic-ref', '-q', ref]);
  const out = r.stdout.toString('utf8').trim();
  return r.code === 0 && out ? out : undefined;
}

export interface ProtectedIndexEntry {
  ref: string;
  commit: string;
  oids: { up?: string; down?: string; verify?: string };
}

export interface ProtectedFolder {
  ref: string;
  commit: string;
  /** The folder's tree id on that ref. */
  tree: string;
}

/**
 * The protected migration folders by id (one cat-file round: the migrations directory of every
 * protected ref): for each id, the first protected ref (in precedence order) that holds it.
 */
export async function readProtectedFolders(
  repo: GitRepo,
  dir: string = DEFAULT_MIGRATIONS_DIR,
  refs?: ProtectedRef[],
): Promise<{ refs: ProtectedRef[]; missing: string[]; folders: Map<string, ProtectedFolder> }> {
  let missing: string[] = [];
  if (!refs) {
    const r = await protectedRefs(repo);
    refs = r.refs;
    missing = r.missing;
  }
  const folders = new Map<string, ProtectedFolder>();
  if (refs.length === 0) return { refs, missing, folders };
  const d = normalizeRepoPath(dir);
  const tops = await repo.readObjects(
    refs.map((r) => (d === '' ? `${r.commit}^{tree}` : `${r.commit}:${d}`)),
  );
  const seenTop = new Set<string>();
  refs.forEach((ref, i) => {
    const top = tops[i];
    if (!top || top.type !== 'tree') return;
    if (seenTop.has(top.oid)) return; // identical directory on an earlier ref: nothing new
    seenTop.add(top.oid);
    for (const e of parseTree(top.content, repo.oidBytes)) {
      if (e.type !== 'tree' || e.name.startsWith('.') || folders.has(e.name)) continue;
      folders.set(e.name, { ref: ref.name, commit: ref.commit, tree: e.oid });
    }
  });
  return { refs, missing, folders };
}

/** The up/down/verify blob ids of some folder trees (one cat-file round), by tree id. */
export async function readFolderFileOids(
  repo: GitRepo,
  trees: Iterable<string>,
): Promise<Map<string, ProtectedIndexEntry['oids']>> {
  const list = [...new Set(trees)];
  const objs = await repo.readObjects(list);
  const out = new Map<string, ProtectedIndexEntry['oids']>();
  list.forEach((oid, i) => {
    const t = objs[i];
    const files: ProtectedIndexEntry['oids'] = {};
    if (t) {
      for (const e of parseTree(t.content, repo.oidBytes)) {
        if (e.type !== 'blob') continue;
        if (e.name === 'up.sql') files.up = e.oid;
        else if (e.name === 'down.sql') files.down = e.oid;
        else if (e.name === 'verify.sql') files.verify = e.oid;
      }
    }
    out.set(oid, files);
  });
  return out;
}

/**
 * The protected migrations by id, with the blob ids of their files (trees only, no content):
 * for each id, the first protected ref (in precedence order) that holds it.
 */
export async function readProtectedIndex(
  repo: GitRepo,
  dir: string = DEFAULT_MIGRATIONS_DIR,
  refs?: ProtectedRef[],
): Promise<{ refs: ProtectedRef[]; missing: string[]; migrations: Map<string, ProtectedIndexEntry> }> {
  const f = await readProtectedFolders(repo, dir, refs);
  const oids = await readFolderFileOids(
    repo,
    [...f.folders.values()].map((x) => x.tree),
  );
  const migrations = new Map<string, ProtectedIndexEntry>();
  for (const [id, x] of f.folders)
    migrations.set(id, { ref: x.ref, commit: x.commit, oids: oids.get(x.tree) ?? {} });
  return { refs: f.refs, missing: f.missing, migrations };
}

/**
 * protectedMigrations(repo): every migration reachable from a protected ref, with its files'
 * contents (one cat-file round for the blobs). `only` limits the contents read to some ids.
 */
export async function protectedMigrations(
  repo: GitRepo,
  opts: { dir?: string; only?: Iterable<string> } = {},
): Promise<{ refs: ProtectedRef[]; missing: string[]; migrations: Map<string, ProtectedVersion> }> {
  const index = await readProtectedIndex(repo, opts.dir ?? DEFAULT_MIGRATIONS_DIR);
  const only = opts.only ? new Set(opts.only) : undefined;
  const ids = [...index.migrations.keys()].filter((id) => !only || only.has(id));
  const blobOids = new Set<string>();
  for (const id of ids)
    for (const oid of Object.values(index.migrations.get(id)!.oids)) if (oid) blobOids.add(oid);
  const list = [...blobOids];
  const blobs = await repo.readObjects(list);
  const text = new Map<string, string>();
  list.forEach((oid, i) => text.set(oid, blobs[i]?.content.toString('utf8') ?? ''));
  const migrations = new Map<string, ProtectedVersion>();
  for (const id of ids) {
    const e = index.migrations.get(id)!;
    const files: ProtectFiles = {};
    for (const k of ['up', 'down', 'verify'] as const) {
      const oid = e.oids[k];
      if (oid !== undefined) files[k] = text.get(oid) ?? '';
    }
    migrations.set(id, { id, ref: e.ref, files });
  }
  return { refs: index.refs, missing: index.missing, migrations };
}

type OneShotHash = (algorithm: string, data: Buffer, encoding: 'hex' | 'buffer') => string | Buffer;
/**
 * `crypto.hash` (Node >= 20.12): several times cheaper than createHash for thousands of small
 * inputs. Looked up on first use: the bundle loads node:crypto only when a command hashes.
 */
let oneShot: OneShotHash | null | undefined;
const oneShotHash = (): OneShotHash | null =>
  (oneShot ??= (crypto as unknown as { hash?: OneShotHash }).hash ?? null);

/** `<type> <size>\0<content>`, the bytes git hashes for an object, in one allocation. */
function objectBytes(type: string, content: string | Buffer): Buffer {
  const len = typeof content === 'string' ? Buffer.byteLength(content, 'utf8') : content.length;
  const header = `${type} ${len}\0`;
  const out = Buffer.allocUnsafe(header.length + len);
  out.write(header, 0, 'latin1');
  if (typeof content === 'string') out.write(content, header.length, 'utf8');
  else content.copy(out, header.length);
  return out;
}

function objectId(type: string, content: string | Buffer, objectFormat: string): Buffer {
  const alg = objectFormat === 'sha256' ? 'sha256' : 'sha1';
  const data = objectBytes(type, content);
  const hash = oneShotHash();
  return hash ? (hash(alg, data, 'buffer') as Buffer) : crypto.createHash(alg).update(data).digest();
}

/** The git blob id of some content (what `git hash-object` prints). */
export function gitBlobOid(content: string | Buffer, objectFormat = 'sha1'): string {
  return objectId('blob', content, objectFormat).toString('hex');
}

const TREE_ENTRY = {
  down: Buffer.from('100644 down.sql\0', 'latin1'),
  up: Buffer.from('100644 up.sql\0', 'latin1'),
  verify: Buffer.from('100644 verify.sql\0', 'latin1'),
};

/**
 * The git tree id of a migration folder holding exactly these files (mode 100644), as `git
 * write-tree` would compute it: equal to the committed folder's tree id iff the folder is
 * identical (same files, same bytes, no extra files, no executable bit).
 */
export function gitFolderTreeOid(files: ProtectFiles, objectFormat = 'sha1'): string {
  const parts: Buffer[] = [];
  // git sorts tree entries by name: down.sql < up.sql < verify.sql
  for (const k of ['down', 'up', 'verify'] as const) {
    const text = files[k];
    if (text === undefined) continue;
    parts.push(TREE_ENTRY[k], objectId('blob', text, objectFormat));
  }
  return objectId('tree', Buffer.concat(parts), objectFormat).toString('hex');
}

/**
 * A working-tree folder for checkProtected. `treeOids`, when given, memoizes the folder's git
 * tree id by object format (`sha1` -> oid): a stored id is trusted (it must have been computed
 * from these files) and a computed one is written into it, so that a caller's cache can keep it
 * and `files` need not be read next time.
 */
export interface WorkingFolder {
  files: ProtectFiles;
  treeOids?: Record<string, string>;
}

export interface ProtectedCheck {
  /** False when the project is not in a git repository (nothing is protected then). */
  inGit: boolean;
  refs: ProtectedRef[];
  /** Configured protected refs that do not exist. */
  missing: string[];
  /** Every migration id reachable from a protected ref. */
  protectedIds: Set<string>;
  /** Protected migrations whose working files differ, with the protected version. */
  edited: Map<string, ProtectedVersion>;
  /** One finding per differing file (file:line of the first differing line). */
  findings: ProtectFinding[];
  /** With `opts.baseline`: what `checkBaseline` needs from git (core/baseline.ts). */
  baseline?: BaselineGitContext;
  /**
   * What the result was read from besides the protected refs' commits (for `braid check`'s
   * replay, packages/cli/src/replay.ts): the git directories, the protected-refs setting,
   * and whether HEAD was read (the baseline's rules, or a protected migration missing here).
   */
  sources?: { top: string; gitDir: string; commonDir: string; config: ProtectedConfig; usedHead: boolean };
}

/** The git side of `.migrations/baseline`'s rules. */
export interface BaselineGitContext {
  /** The baseline at HEAD (undefined: none, or no commit yet). */
  headText?: string;
  /** Migration folders at HEAD. */
  headIds: Set<string>;
  /** The baseline on each protected ref that has one. */
  protectedTexts: { ref: string; text: string }[];
}

/**
 * The hook for `braid check` and `braid hash`: compares the working tree's migrations (as the
 * caller read them from disk) with their protected versions. Cheap: the protected trees are read
 * through one cat-file process, working files are compared by git blob id, and only the files
 * that differ are read from git (to name the first differing line). `working` may be a promise:
 * the git processes start at once, while the caller reads the working tree.
 */
export async function checkProtected(
  root: string,
  working:
    | ReadonlyMap<string, ProtectFiles | WorkingFolder>
    | Promise<ReadonlyMap<string, ProtectFiles | WorkingFolder>>,
  opts: { dir?: string; baseline?: boolean } = {},
): Promise<ProtectedCheck> {
  const empty: ProtectedCheck = {
    inGit: false,
    refs: [],
    missing: [],
    protectedIds: new Set(),
    edited: new Map(),
    findings: [],
  };
  let repo: GitRepo;
  // The config read needs no repository object: start it alongside the open.
  const config = existsSync(root) ? readProtectedConfig(root) : undefined;
  config?.catch(() => {});
  try {
    repo = await GitRepo.open(root);
  } catch (e) {
    if (e instanceof UsageError && e.code === 'not-a-git-repo') return empty;
    throw e;
  }
  try {
    const dir = opts.dir ?? DEFAULT_MIGRATIONS_DIR;
    // The project may live in a subdirectory of the repository: git paths are relative to the top.
    let repoDir: string;
    try {
      repoDir = repoRelativeDir(repo, root, dir);
    } catch {
      return { ...empty, inGit: true };
    }
    const pr = await protectedRefs(repo, config);
    const prot = { ...(await readProtectedFolders(repo, repoDir, pr.refs)), missing: pr.missing };
    // The caller may still be reading the working tree (a promise): git has started meanwhile.
    // A folder's files are touched only when its tree id is not memoized or it differs from the
    // protected one (a caller's cached folder reads them from disk on first use).
    const entries = await working;
    const filesOf = (id: string): ProtectFiles | undefined => {
      const w = entries.get(id);
      return w === undefined ? undefined : 'files' in w ? w.files : w;
    };
    const fmt = repo.objectFormat;
    const treeOf = (id: string): string => {
      const w = entries.get(id)!;
      const m = 'files' in w ? w.treeOids : undefined;
      const known = m?.[fmt];
      if (known !== undefined) return known;
      const oid = gitFolderTreeOid(filesOf(id)!, fmt);
      if (m) m[fmt] = oid;
      return oid;
    };
    // Fast path: a working folder whose git tree id (computed here from its up/down/verify)
    // equals the protected folder's tree id is identical; only the others are read from git.
    // A protected migration missing from the working tree was removed only if this branch had
    // it (HEAD's tree lists it); otherwise the branch simply has not merged it yet.
    let headIds: Set<string> | undefined;
    let usedHead = Boolean(opts.baseline);
    const headHas = async (id: string): Promise<boolean> => {
      usedHead = true;
      if (!headIds) {
        const tree = (await repo.tryResolveRef('HEAD')) ? await repo.readTree('HEAD', repoDir) : undefined;
        headIds = new Set((tree ?? []).map((e) => e.name));
      }
      return headIds.has(id);
    };
    const suspects: string[] = [];
    for (const [id, p] of prot.folders) {
      if (!entries.has(id)) {
        if (await headHas(id)) suspects.push(id);
      } else if (treeOf(id) !== p.tree) suspects.push(id);
    }
    const versions = new Map<string, ProtectedVersion>();
    if (suspects.length > 0) {
      const oids = await readFolderFileOids(
        repo,
        suspects.map((id) => prot.folders.get(id)!.tree),
      );
      const blobOids = new Set<string>();
      for (const id of suspects) {
        for (const o of Object.values(oids.get(prot.folders.get(id)!.tree) ?? {})) if (o) blobOids.add(o);
      }
      const list = [...blobOids];
      const blobs = await repo.readObjects(list);
      const text = new Map<string, string>();
      list.forEach((oid, i) => text.set(oid, blobs[i]?.content.toString('utf8') ?? ''));
      for (const id of suspects) {
        const p = prot.folders.get(id)!;
        const e = oids.get(p.tree) ?? {};
        const f: ProtectFiles = {};
        for (const k of ['up', 'down', 'verify'] as const) {
          const oid = e[k];
          if (oid !== undefined) f[k] = text.get(oid) ?? '';
        }
        versions.set(id, { id, ref: p.ref, files: f });
      }
    }
    const files = new Map<string, ProtectFiles>();
    for (const id of suspects) {
      const f = filesOf(id);
      if (f) files.set(id, f);
    }
    const findings = compareWithProtected(files, versions, dir);
    const edited = new Map<string, ProtectedVersion>();
    for (const f of findings) edited.set(f.id, versions.get(f.id)!);
    const out: ProtectedCheck = {
      inGit: true,
      refs: prot.refs,
      missing: prot.missing,
      protectedIds: new Set(prot.folders.keys()),
      edited,
      findings,
    };
    if (config) {
      out.sources = {
        top: repo.root,
        gitDir: repo.gitDir,
        commonDir: repo.commonDir,
        config: await config,
        usedHead,
      };
    }
    if (opts.baseline) {
      // HEAD's and every protected ref's baseline in one cat-file round, HEAD's folders from its tree
      const head = await repo.tryResolveRef('HEAD');
      const file = `${normalizeRepoPath(repoDir)}/${BASELINE_FILE}`;
      const commits = [...(head ? [head] : []), ...prot.refs.map((r) => r.commit)];
      const blobs = await repo.readObjects(commits.map((c) => `${c}:${file}`));
      const text = (i: number): string | undefined => {
        const o = blobs[i];
        return o && o.type === 'blob' ? o.content.toString('utf8') : undefined;
      };
      const ctx: BaselineGitContext = { headIds: new Set(), protectedTexts: [] };
      if (head) {
        const t = text(0);
        if (t !== undefined) ctx.headText = t;
        await headHas('');
        ctx.headIds = headIds ?? new Set();
      }
      prot.refs.forEach((r, i) => {
        const t = text(i + (head ? 1 : 0));
        if (t !== undefined) ctx.protectedTexts.push({ ref: r.name, text: t });
      });
      out.baseline = ctx;
    }
    return out;
  } finally {
    repo.close();
  }
}
