import fs from 'node:fs';
import path from 'node:path';
import {
  EnvironmentError,
  type ExitCode,
  hashMigration,
  makeMigration,
  mergeManifests,
  MIGRATIONS_DIR,
  parseManifest,
  serializeManifest,
  virtualBase,
  type Manifest,
  type ManifestEntry,
  type Migration,
  type MigrationFiles,
} from '@braid/core';
import { GitRepo, runGit, type MigrationsAt } from '@braid/git';
import { defineCommand, type Context } from '../runtime';
import { shadowSpec, withShadow, type ShadowArgs } from '../shadow';
import { computeVerdict, renderVerdictMarkdown, renderVerdictText, type BranchVerdict } from '../verdict';
import { baseHistory, mergeBases, type BaseHistory } from '../mergebase';

interface DriverArgs extends ShadowArgs {
  base: string;
  ours: string;
  theirs: string;
  path: string | undefined;
}

function readManifestFile(file: string): { text: string; manifest?: Manifest; error?: string } {
  const text = fs.readFileSync(file, 'utf8');
  if (text.trim() === '') return { text, manifest: { entries: [] } };
  try {
    return { text, manifest: parseManifest(text, file).manifest };
  } catch (e) {
    return { text, error: (e as Error).message };
  }
}

async function blobOid(repo: GitRepo, text: string): Promise<string | undefined> {
  const r = await runGit(repo.root, ['hash-object', '--stdin'], text);
  return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
}

async function oidAt(repo: GitRepo, commit: string, p: string): Promise<string | undefined> {
  const [o] = await repo.readObjects([`${commit}:${p}`]);
  return o?.oid;
}

function firstLineOf(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[0]?.trim() || undefined;
  } catch {
    return undefined;
  }
}

interface OtherCommit {
  commit: string;
  name: string;
  /** Found as the commit `git merge` is merging (GITHEAD_<sha>, MERGE_HEAD), not a rebase/pick. */
  merge: boolean;
}

/**
 * The commit(s) a `git merge` (or `git pull`) is merging: git exports GITHEAD_<sha>=<name> while
 * merging (also while it merges the merge bases of a criss-cross); MERGE_HEAD once written.
 */
function mergeTips(repo: GitRepo): { ref: string; name: string; merge: true }[] {
  const out: { ref: string; name: string; merge: true }[] = [];
  for (const [k, v] of Object.entries(process.env)) {
    const m = /^GITHEAD_([0-9a-f]{40,64})$/.exec(k);
    if (m) out.push({ ref: m[1], name: v ?? m[1].slice(0, 12), merge: true });
  }
  const line = firstLineOf(path.join(repo.gitDir, 'MERGE_HEAD'));
  if (line) out.push({ ref: line, name: line.slice(0, 12), merge: true });
  return out;
}

/**
 * The commit whose manifest git passed as %B (theirs). Git does not tell a merge driver, so
 * look where it leaves traces: GITHEAD_<sha> variables (merge), MERGE_HEAD / REBASE_HEAD /
 * CHERRY_PICK_HEAD, the rebase todo's last done line; else search the history of the manifest
 * (all refs and reflogs) for a commit whose manifest blob is exactly %B.
 */
async function findOtherCommit(
  repo: GitRepo,
  theirsText: string,
  manifestPath: string,
): Promise<OtherCommit | undefined> {
  const want = await blobOid(repo, theirsText);
  const candidates: { ref: string; name: string; merge?: boolean }[] = [...mergeTips(repo)];
  for (const f of ['REBASE_HEAD', 'CHERRY_PICK_HEAD', 'REVERT_HEAD']) {
    const line = firstLineOf(path.join(repo.gitDir, f));
    if (line) candidates.push({ ref: line, name: line.slice(0, 12) });
  }
  for (const dir of ['rebase-merge', 'sequencer']) {
    const done = path.join(repo.gitDir, dir, 'done');
    try {
      const lines = fs.readFileSync(done, 'utf8').trim().split('\n');
      const last = lines[lines.length - 1] ?? '';
      const m = /^\S+\s+([0-9a-f]{7,64})\b/.exec(last);
      if (m) candidates.push({ ref: m[1], name: m[1].slice(0, 12) });
    } catch {
      // not rebasing
    }
  }
  for (const c of candidates) {
    const commit = await repo.tryResolveRef(c.ref);
    if (commit && want && (await oidAt(repo, commit, manifestPath)) === want)
      return { commit, name: c.name, merge: c.merge === true };
  }
  // Search by content: commits that touched the manifest, newest first.
  const r = await runGit(repo.root, [
    'rev-list',
    '--all',
    '--reflog',
    '--max-count=2000',
    '--',
    manifestPath,
  ]);
  if (r.code === 0 && want) {
    const commits = r.stdout.toString('utf8').split('\n').filter(Boolean);
    for (let i = 0; i < commits.length; i += 200) {
      const batch = commits.slice(i, i + 200);
      const objs = await repo.readObjects(batch.map((c) => `${c}:${manifestPath}`));
      const hit = objs.findIndex((o) => o?.oid === want);
      if (hit >= 0) return { commit: batch[hit], name: batch[hit].slice(0, 12), merge: false };
    }
  }
  return undefined;
}

async function branchName(repo: GitRepo): Promise<string> {
  const r = await runGit(repo.root, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  let name = r.code === 0 ? r.stdout.toString('utf8').trim() : '';
  if (!name) {
    for (const dir of ['rebase-merge', 'rebase-apply']) {
      const h = firstLineOf(path.join(repo.gitDir, dir, 'head-name'));
      if (h) {
        name = h.replace(/^refs\/heads\//, '');
        break;
      }
    }
  }
  return name || 'HEAD';
}

/** Migrations of a manifest, each read from the first candidate commit whose files match its hash. */
function resolveMigrations(
  manifest: Manifest,
  candidates: MigrationsAt[],
  dirLabel: string,
  side: string,
): Migration[] {
  return manifest.entries.map((e) => {
    let fallback: MigrationFiles | undefined;
    for (const at of candidates) {
      const f = at.folders.get(e.id);
      if (!f || f.up === undefined) continue;
      const files: MigrationFiles = { up: f.up };
      if (f.down !== undefined) files.down = f.down;
      if (f.verify !== undefined) files.verify = f.verify;
      if (hashMigration(files) === e.hash) return makeMigration(e.id, files, dirLabel);
      fallback ??= files;
    }
    if (fallback) return makeMigration(e.id, fallback, dirLabel);
    throw new EnvironmentError(
      'merge-driver-missing-files',
      `braid merge-driver: cannot find the files of ${e.id} (${side}) in HEAD, the other commit or the merge base`,
      { data: { id: e.id } },
    );
  });
}

function entryKey(e: ManifestEntry): string {
  return `${e.id} ${e.hash} ${e.parents.join(',')}`;
}

/** Whether two manifests list the same entries (ids, hashes, parents), in any order. */
function sameEntrySet(a: Manifest, b: Manifest): boolean {
  const ka = new Set(a.entries.map(entryKey));
  return a.entries.length === b.entries.length && b.entries.every((e) => ka.has(entryKey(e)));
}

async function manifestAtCommit(repo: GitRepo, commit: string, p: string): Promise<Manifest | undefined> {
  const [o] = await repo.readObjects([`${commit}:${p}`]);
  if (!o || o.type !== 'blob') return { entries: [] };
  try {
    return parseManifest(o.content.toString('utf8'), p).manifest;
  } catch {
    return undefined;
  }
}

/**
 * The driver called for a criss-cross merge's virtual base (%A is not HEAD's manifest, the commit
 * `git merge` merges has several merge bases with HEAD, and %B is not that commit's manifest):
 * the union of the two merge bases' manifests, without a verdict. That is harmless because it is
 * only accepted when every entry of the union is listed identically by both tips of the merge
 * (so it adds nothing either side lacks), and because the outer merge recomputes its base from
 * `git merge-base --all` and proves the two sides' new migrations as usual. Otherwise the call
 * ends in conflict markers (the outer merge then stops or recomputes), quietly. Undefined when
 * this is not such a call.
 */
async function mergeBasesCall(
  repo: GitRepo,
  head: string,
  manifestPath: string,
  baseF: ReturnType<typeof readManifestFile>,
  oursF: ReturnType<typeof readManifestFile>,
  theirsF: ReturnType<typeof readManifestFile>,
  oursFile: string,
  ctx: Context,
): Promise<ExitCode | undefined> {
  const theirsBlob = await blobOid(repo, theirsF.text);
  for (const tip of mergeTips(repo)) {
    const commit = await repo.tryResolveRef(tip.ref);
    if (!commit || (await oidAt(repo, commit, manifestPath)) === theirsBlob) continue;
    const bases = await mergeBases(repo, head, commit).catch(() => [] as string[]);
    if (bases.length < 2) continue;
    const stop = (why: string): ExitCode => {
      fs.writeFileSync(oursFile, conflictText(oursF.text, theirsF.text, 'merge base', 'merge base'));
      ctx.out.note(
        `braid: the merge bases of this criss-cross merge do not merge (${why}); the merge itself is judged next`,
      );
      return 1;
    };
    if (!baseF.manifest || !oursF.manifest || !theirsF.manifest) return stop('a manifest does not parse');
    const structural = mergeManifests(baseF.manifest, oursF.manifest, theirsF.manifest);
    if (!structural.manifest) return stop(structural.conflicts.map((c) => c.message).join('; '));
    const [headM, tipM] = await Promise.all([
      manifestAtCommit(repo, head, manifestPath),
      manifestAtCommit(repo, commit, manifestPath),
    ]);
    if (!headM || !tipM) return stop("a tip's manifest does not parse");
    const vb = virtualBase([oursF.manifest, theirsF.manifest], headM).manifest;
    const inHead = new Set(headM.entries.map(entryKey));
    const inTip = new Set(tipM.entries.map(entryKey));
    const missing = vb.entries.filter((e) => !inHead.has(entryKey(e)) || !inTip.has(entryKey(e)));
    if (missing.length > 0)
      return stop(`${missing.map((e) => e.id).join(', ')} not listed identically by both tips`);
    fs.writeFileSync(oursFile, serializeManifest(vb));
    ctx.out.note(
      `braid: merged the manifests of two merge bases (criss-cross merge; ${vb.entries.length} entries both sides already have)`,
    );
    return 0;
  }
  return undefined;
}

function conflictText(ours: string, theirs: string, oursName: string, theirsName: string): string {
  const nl = (s: string) => (s.endsWith('\n') || s === '' ? s : s + '\n');
  return `<<<<<<< ${oursName}\n${nl(ours)}=======\n${nl(theirs)}>>>>>>> ${theirsName}\n`;
}

function summary(v: BranchVerdict): string {
  const engine = v.shadow
    ? `${v.shadow.engine === 'pglite' ? 'PGlite' : 'PostgreSQL'} ${v.shadow.major}`
    : 'no replay';
  return (
    `braid: merged ${MIGRATIONS_DIR}/manifest: ${v.ours.added.length} migration(s) from ${v.labels.ours} and ` +
    `${v.theirs.added.length} from ${v.labels.theirs} commute (both orders replay to the same schema on ${engine}; ` +
    `no object changed on both sides); merged order after the base: ${v.mergedOrder?.join(', ') || '(nothing new)'}`
  );
}

/**
 * `braid merge-driver %O %A %B %P`: git's merge driver for `.migrations/manifest` (installed by
 * `braid install`). Exit 0 with the merged manifest in %A when the two sides commute; exit 1
 * with conflict markers in %A and a report in `.git/braid/conflict-<branch>.md` when not.
 */
export const mergeDriverCommand = defineCommand<DriverArgs>({
  command: 'merge-driver <base> <ours> <theirs> [path]',
  describe: 'git merge driver for .migrations/manifest (git passes %O %A %B %P; set up by `braid install`)',
  builder: (y) =>
    withShadow(
      y
        .positional('base', { type: 'string', demandOption: true, describe: '%O: the merge base version' })
        .positional('ours', {
          type: 'string',
          demandOption: true,
          describe: '%A: ours (the result is written here)',
        })
        .positional('theirs', { type: 'string', demandOption: true, describe: '%B: theirs' })
        .positional('path', { type: 'string', describe: '%P: the path of the manifest in the repository' }),
    ),
  handler: async (args, ctx) => {
    const baseF = readManifestFile(path.resolve(ctx.cwd, args.base));
    const oursFile = path.resolve(ctx.cwd, args.ours);
    const oursF = readManifestFile(oursFile);
    const theirsF = readManifestFile(path.resolve(ctx.cwd, args.theirs));
    const repo = await GitRepo.open(ctx.cwd);
    try {
      const manifestPath = (args.path ?? `${MIGRATIONS_DIR}/manifest`).replace(/\\/g, '/');
      const dir = path.posix.dirname(manifestPath);
      const projectRoot = path.resolve(repo.root, path.posix.dirname(dir));
      const branch = await branchName(repo);
      const head = await repo.resolveRef('HEAD');

      // A criss-cross merge: git first merges the merge bases into a virtual base, calling this
      // driver with two merge bases' manifests (not HEAD's) as %A and %B.
      if ((await blobOid(repo, oursF.text)) !== (await oidAt(repo, head, manifestPath))) {
        const code = await mergeBasesCall(repo, head, manifestPath, baseF, oursF, theirsF, oursFile, ctx);
        if (code !== undefined) return code;
      }

      const other = await findOtherCommit(repo, theirsF.text, manifestPath);
      const oursName = branch;
      const theirsName = other?.name ?? 'theirs';
      const fail = (markdown: string | undefined, lines: string[]): ExitCode => {
        fs.writeFileSync(oursFile, conflictText(oursF.text, theirsF.text, oursName, theirsName));
        const reportDir = path.join(repo.gitDir, 'braid');
        const report = path.join(reportDir, `conflict-${branch.replace(/[^A-Za-z0-9._-]+/g, '-')}.md`);
        fs.mkdirSync(reportDir, { recursive: true });
        fs.writeFileSync(
          report,
          markdown ? markdown + '\n' : `# braid: merge of ${manifestPath} stopped\n\n${lines.join('\n')}\n`,
        );
        for (const l of lines) ctx.out.note(l);
        ctx.out.note(
          `braid: merge of ${manifestPath} stopped (conflict); report: ${path.relative(ctx.cwd, report) || report}`,
        );
        ctx.out.note(
          'braid: resolve by making one side build on the other (rewrite the colliding migration on top of the other branch), then `braid hash` and `git add` the manifest; or `git merge --abort`',
        );
        return 1;
      };

      // The merge base. After a criss-cross there are several: the verdict is against their
      // union (what the virtual base must be), computed here from `git merge-base --all` rather
      // than trusted from %O (which holds conflict markers when git could not merge the bases).
      let baseManifest = baseF.manifest;
      let virtual: BaseHistory | undefined;
      if (other?.merge && oursF.manifest) {
        const bases = await mergeBases(repo, head, other.commit).catch(() => [] as string[]);
        if (bases.length > 1) {
          const vb = await baseHistory(repo, projectRoot, bases, oursF.manifest, true);
          if (!baseManifest || sameEntrySet(baseManifest, vb.manifest)) {
            baseManifest = vb.manifest;
            virtual = vb;
          }
        }
      }
      if (!baseManifest || !oursF.manifest || !theirsF.manifest) {
        const errs = [baseManifest ? undefined : baseF.error, oursF.error, theirsF.error].filter(
          Boolean,
        ) as string[];
        return fail(
          undefined,
          errs.map((e) => `braid: cannot merge the manifest: ${e}`),
        );
      }
      const merge = mergeManifests(baseManifest, oursF.manifest, theirsF.manifest);
      const oursChanged = merge.oursNew.length + merge.oursEdited.length + merge.oursRemoved.length > 0;
      const theirsChanged =
        merge.theirsNew.length + merge.theirsEdited.length + merge.theirsRemoved.length > 0;
      if (merge.manifest && (!oursChanged || !theirsChanged)) {
        // Only one side changed the lineage: nothing was written concurrently.
        fs.writeFileSync(oursFile, serializeManifest(merge.manifest));
        ctx.out.note(`braid: merged ${manifestPath}: only one side added migrations`);
        return 0;
      }
      if (!other) {
        return fail(undefined, [
          `braid: cannot find the commit being merged (its manifest is not in any ref or reflog): cannot read the other side's migration files`,
        ]);
      }
      let baseCommit: string | undefined;
      try {
        baseCommit = await repo.mergeBase(head, other.commit);
      } catch {
        baseCommit = undefined;
      }
      const repoDir = dir;
      const reads = new Map<string, Promise<MigrationsAt>>();
      const at = (c: string) => {
        if (!reads.has(c)) reads.set(c, repo.readMigrationsAt(c, repoDir));
        return reads.get(c)!;
      };
      const otherParent = await repo.tryResolveRef(`${other.commit}^`);
      const extra = [...(virtual?.commits ?? []), baseCommit, otherParent].filter((x): x is string =>
        Boolean(x),
      );
      const [hAt, oAt, ...xAt] = await Promise.all([at(head), at(other.commit), ...extra.map(at)]);
      const label = MIGRATIONS_DIR;
      const oursMigs = resolveMigrations(oursF.manifest, [hAt, oAt, ...xAt], label, 'ours');
      const theirsMigs = resolveMigrations(theirsF.manifest, [oAt, hAt, ...xAt], label, 'theirs');
      const baseMigs = resolveMigrations(baseManifest, [...xAt, oAt, hAt], label, 'base');
      const verdict = await computeVerdict({
        base: {
          label: virtual?.label ?? baseCommit?.slice(0, 12) ?? 'base',
          manifest: baseManifest,
          migrations: baseMigs,
        },
        ours: { label: oursName, manifest: oursF.manifest, migrations: oursMigs },
        theirs: { label: theirsName, manifest: theirsF.manifest, migrations: theirsMigs },
        shadow: shadowSpec(
          { ...args, 'shadow-db': args['shadow-db'] ?? (process.env['BRAID_SHADOW_DB'] || undefined) },
          ctx,
          projectRoot,
        ),
        onProgress: (l) => progress(ctx, l),
      });
      if (verdict.verdict === 'safe' && merge.manifest) {
        fs.writeFileSync(oursFile, serializeManifest(merge.manifest));
        ctx.out.note(summary(verdict));
        return 0;
      }
      return fail(
        renderVerdictMarkdown(verdict, {
          base: baseManifest,
          ours: oursF.manifest,
          theirs: theirsF.manifest,
        }),
        renderVerdictText(verdict).map((l) => `braid: ${l}`),
      );
    } finally {
      repo.close();
    }
  },
});

function progress(ctx: Context, line: string): void {
  if (ctx.out.stderrTTY) ctx.out.note(line);
}
