/**
 * For the merge driver (issue 5): git hands a merge driver only the three versions of the
 * manifest (%O %A %B) and its path (%P). To replay the two sides, the driver needs their
 * commits, so that it can read the migration files at each. This finds them, in this order:
 *
 * 1. `GITHEAD_<oid>` environment variables, set by `git merge` and `git pull`;
 * 2. `MERGE_HEAD`, `CHERRY_PICK_HEAD`, `REBASE_HEAD` in the git dir (present in some flows);
 * 3. the sequencer: the last line of `rebase-merge/done` during `git rebase`, the first line of
 *    `sequencer/todo` during `git cherry-pick A B…` / `git revert`;
 * 4. the object database: the commits whose manifest blob is the one in %B (`git log --all
 *    --reflog --raw` on the manifest path) — a single `git cherry-pick` leaves no other trace.
 *
 * Every candidate is verified: its manifest must be byte-for-byte the %B the driver received.
 * Ours is HEAD (verified against %A); the base is the picked commit's parent or the merge base,
 * whichever holds %O.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runGit } from './exec';
import { gitBlobOid } from './protected';
import type { GitRepo } from './repo';

export type SideSource =
  'GITHEAD' | 'MERGE_HEAD' | 'CHERRY_PICK_HEAD' | 'REBASE_HEAD' | 'rebase' | 'sequencer' | 'object-db';

export interface MergeSides {
  /** HEAD: the side being merged into (during a rebase, the commit being rebuilt). */
  ours: string;
  /** The commit whose changes are being merged or picked. */
  theirs: string;
  /** The commit holding %O: the picked commit's parent, or the merge base. */
  base?: string;
  /** How theirs was found. */
  source: SideSource;
  /** A name for theirs when git gave one (`feature` from GITHEAD_<oid>=feature). */
  label?: string;
  /** Whether HEAD's version of the file is %A (false in unusual flows; then ours is a guess). */
  oursVerified: boolean;
}

export interface LocateOptions {
  /** The merged file's path relative to the top level (%P), e.g. `.migrations/manifest`. */
  path: string;
  /** The contents git passed as %O, %A, %B. */
  base?: Buffer | string;
  ours?: Buffer | string;
  theirs: Buffer | string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

const OID_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

function readGitFile(dir: string, name: string): string | undefined {
  const p = join(dir, name);
  if (!existsSync(p)) return undefined;
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** The commit named on a sequencer line (`pick <oid> subject`, `fixup -C <oid> …`). */
function commitOnLine(line: string | undefined): string | undefined {
  if (!line) return undefined;
  const words = line.trim().split(/\s+/);
  if (words.length < 2 || words[0].startsWith('#')) return undefined;
  return words.slice(1).find((w) => /^[0-9a-f]{7,64}$/.test(w));
}

/** Locates the commits of a merge driver's three versions; undefined when theirs cannot be found. */
export async function locateMergeSides(repo: GitRepo, opts: LocateOptions): Promise<MergeSides | undefined> {
  const env = opts.env ?? process.env;
  const fmt = repo.objectFormat;
  const want = gitBlobOid(opts.theirs, fmt);
  const path = opts.path.replace(/\\/g, '/').replace(/^\.\//, '');

  /** The blob id of path at each commit-ish (undefined when absent), in one cat-file round. */
  const blobAt = async (commits: string[]): Promise<(string | undefined)[]> => {
    const objs = await repo.readObjects(commits.map((c) => `${c}:${path}`));
    return objs.map((o) => (o && o.type === 'blob' ? o.oid : undefined));
  };
  const resolveAll = async (names: string[]): Promise<(string | undefined)[]> => {
    const objs = await repo.readObjects(names.map((n) => `${n}^{commit}`));
    return objs.map((o) => o?.oid);
  };

  // Candidates in order of trust, each with its source.
  const candidates: { name: string; source: SideSource; label?: string }[] = [];
  for (const [k, v] of Object.entries(env)) {
    const m = /^GITHEAD_([0-9a-f]{40}(?:[0-9a-f]{24})?)$/.exec(k);
    if (m) candidates.push({ name: m[1], source: 'GITHEAD', ...(v ? { label: v } : {}) });
  }
  for (const f of ['MERGE_HEAD', 'CHERRY_PICK_HEAD', 'REBASE_HEAD'] as const) {
    const text = readGitFile(repo.gitDir, f);
    for (const line of (text ?? '').split('\n')) {
      const oid = line.trim();
      if (OID_RE.test(oid)) candidates.push({ name: oid, source: f });
    }
  }
  const done = readGitFile(join(repo.gitDir, 'rebase-merge'), 'done');
  const lastDone = commitOnLine(done?.trimEnd().split('\n').pop());
  if (lastDone) candidates.push({ name: lastDone, source: 'rebase' });
  const todo = readGitFile(join(repo.gitDir, 'sequencer'), 'todo');
  const firstTodo = commitOnLine(todo?.split('\n').find((l) => l.trim() && !l.startsWith('#')));
  if (firstTodo) candidates.push({ name: firstTodo, source: 'sequencer' });

  const [head] = await resolveAll(['HEAD']);
  if (!head) return undefined;

  let found: { commit: string; source: SideSource; label?: string } | undefined;
  if (candidates.length > 0) {
    const commits = await resolveAll(candidates.map((c) => c.name));
    const blobs = await blobAt(commits.map((c) => c ?? '0'.repeat(40)));
    for (let i = 0; i < candidates.length; i++) {
      const c = commits[i];
      if (c && blobs[i] === want) {
        const cand = candidates[i];
        found = { commit: c, source: cand.source, ...(cand.label ? { label: cand.label } : {}) };
        break;
      }
    }
  }
  if (!found) {
    // The object database: newest commits first whose change to path produced the blob %B.
    const r = await runGit(repo.root, [
      'log',
      '--all',
      '--reflog',
      '--no-renames',
      '--raw',
      '--no-abbrev',
      '--format=%x00%H',
      '--',
      path,
    ]);
    if (r.code === 0) {
      let current: string | undefined;
      for (const line of r.stdout.toString('utf8').split('\n')) {
        if (line.startsWith('\0')) current = line.slice(1).trim();
        else if (current && line.startsWith(':')) {
          const newOid = line.slice(1).split(/\s+/)[3];
          if (newOid === want) {
            found = { commit: current, source: 'object-db' };
            break;
          }
        }
      }
    }
  }
  if (!found) return undefined;

  const out: MergeSides = {
    ours: head,
    theirs: found.commit,
    source: found.source,
    oursVerified: false,
    ...(found.label ? { label: found.label } : {}),
  };
  const [headBlob] = await blobAt([head]);
  out.oursVerified = opts.ours === undefined ? true : headBlob === gitBlobOid(opts.ours, fmt);

  // The base: the picked commit's parent (rebase, cherry-pick) or the merge base, whichever
  // holds %O; without %O, the parent for picks and the merge base for merges.
  const picked = found.source !== 'GITHEAD' && found.source !== 'MERGE_HEAD';
  const [parent] = await resolveAll([`${found.commit}^1`]);
  const mb = await runGit(repo.root, ['merge-base', head, found.commit]);
  const mergeBase = mb.code === 0 ? mb.stdout.toString('utf8').trim().split('\n')[0] : undefined;
  const options = (picked ? [parent, mergeBase] : [mergeBase, parent]).filter((x): x is string => !!x);
  if (opts.base !== undefined && options.length > 0) {
    const baseOid = gitBlobOid(opts.base, fmt);
    const blobs = await blobAt(options);
    const i = blobs.findIndex((b) => b === baseOid);
    if (i >= 0) out.base = options[i];
    // %O may be empty when no common version exists (the file was added on both sides).
    else if (Buffer.byteLength(opts.base) === 0) out.base = options[0];
  } else if (options.length > 0) {
    out.base = options[0];
  }
  return out;
}
