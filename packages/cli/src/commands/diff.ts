import fs from 'node:fs';
import path from 'node:path';
import {
  makeMigration,
  MIGRATIONS_DIR,
  parseManifest,
  UsageError,
  type Manifest,
  type Migration,
  type MigrationFiles,
} from '@braid/core';
import { GitRepo, parseTree, repoRelativeDir } from '@braid/git';
import { migrationsAt, type History } from '../history';
import { baseHistory, mergeBases } from '../mergebase';
import { findProject } from '../project';
import { defineCommand } from '../runtime';
import { shadowSpec, withShadow, type ShadowArgs } from '../shadow';
import {
  DIFF_REPLAY_KEEP,
  DIFF_REPLAY_MEMO,
  diffReplayKey,
  gitDirs,
  replayBuild,
  splitRange,
  type DiffReplay,
  type DiffReplayInputs,
} from '../replay';
import { braidVersion, bundleDir, JsonMemo } from '../statcache';
import {
  computeVerdict,
  renderVerdictMarkdown,
  renderVerdictText,
  type MigrationFootprint,
} from '../verdict';

/** The footprint memo's name in .git/braid/. */
export const FOOTPRINTS_MEMO = 'footprints';

interface DiffArgs extends ShadowArgs {
  refA: string;
  refB: string | undefined;
  static: boolean | undefined;
  format: string | undefined;
}

/** The replay's inputs (replay.ts) for a diff run from the project root by the built CLI; else undefined. */
function diffReplayInputs(
  root: string,
  cwd: string,
  a: string,
  b: string,
  format: string,
): DiffReplayInputs | undefined {
  if (path.resolve(cwd) !== root) return undefined;
  const dirs = gitDirs(root);
  const dist = bundleDir();
  const build = dist && replayBuild(braidVersion(), dist);
  return dirs && build ? { root, ...dirs, build, a, b, format } : undefined;
}

/** The git directories the replay finds without git are the ones git used. */
function sameDirs(r: DiffReplayInputs, repo: GitRepo): boolean {
  const real = (p: string): string => fs.realpathSync(p);
  return real(r.gitDir) === real(repo.gitDir) && real(r.commonDir) === real(repo.commonDir);
}

/** `A...B` or `A..B` -> [A, B]; else [refA, refB]. */
export function parseRange(refA: string, refB: string | undefined): [string, string] {
  const r = splitRange(refA, refB);
  if (!r) {
    throw new UsageError(
      'bad-range',
      `braid diff: give two refs (\`braid diff main feature\`) or a range (\`braid diff main...feature\`), got ${JSON.stringify(refA)}`,
      { data: { argument: 'refA' } },
    );
  }
  return r;
}

/**
 * The histories at base, ours and theirs. Static: the manifests first, then the files of only
 * the migrations the manifests' merge names as new or edited on a side (the base's none).
 */
async function readSides(
  repo: GitRepo,
  root: string,
  refs: [Promise<string>, string, string],
  staticOnly: boolean,
): Promise<[History, History, History]> {
  if (!staticOnly) {
    const base = await refs[0];
    const [x, y, z] = await Promise.all([base, refs[1], refs[2]].map((r) => migrationsAt(repo, root, r)));
    return [x, y, z];
  }
  const dir = repoRelativeDir(repo, root);
  // The sides' manifests do not wait for the merge base.
  const sides = Promise.all([manifestAt(repo, dir, refs[1]), manifestAt(repo, dir, refs[2])]);
  sides.catch(() => {});
  const mb = await manifestAt(repo, dir, await refs[0]);
  const [mo, mt] = await sides;
  // What a side added or edited since the base (a superset of what the manifests' merge names,
  // also after a criss-cross, whose virtual base unites several merge bases).
  const baseHash = new Map(mb.manifest.entries.map((e) => [e.id, e.hash] as const));
  const changed = (m: Manifest): Set<string> =>
    new Set(m.entries.filter((e) => baseHash.get(e.id) !== e.hash).map((e) => e.id));
  const [o, t] = await Promise.all([
    staticHistoryAt(repo, dir, mo, changed(mo.manifest)),
    staticHistoryAt(repo, dir, mt, changed(mt.manifest)),
  ]);
  const base: History = { ...mb, migrations: [] };
  return [base, o, t];
}

/** The manifest at a ref (one round: the manifest blob by path). */
async function manifestAt(
  repo: GitRepo,
  dir: string,
  ref: string,
): Promise<Omit<History, 'migrations'> & { commit: string }> {
  const commit = await repo.resolveRef(ref);
  const text = (await repo.readFile(commit, dir === '' ? 'manifest' : `${dir}/manifest`))?.toString('utf8');
  if (text === undefined) return { ref, commit, manifest: { entries: [] }, manifestText: '' };
  const parsed = parseManifest(text, `${ref}:${MIGRATIONS_DIR}/manifest`);
  return { ref, commit, manifest: parsed.manifest, manifestText: text };
}

/**
 * Like migrationsAt, but reads the files of the migrations in `only` (the listed ones among
 * them, in manifest order): two cat-file rounds for their folder trees and blobs.
 */
async function staticHistoryAt(
  repo: GitRepo,
  dir: string,
  m: Omit<History, 'migrations'> & { commit: string },
  only: ReadonlySet<string>,
): Promise<History> {
  const ref = m.ref;
  const label = `${ref}:${MIGRATIONS_DIR}`;
  const ids = m.manifest.entries.map((e) => e.id).filter((id) => only.has(id));
  const prefix = dir === '' ? '' : `${dir}/`;
  const trees = await repo.readObjects(ids.map((id) => `${m.commit}:${prefix}${id}`));
  const wanted: string[] = [];
  const oids = ids.map((id, i) => {
    const t = trees[i];
    const f: Partial<Record<'up' | 'down' | 'verify', string>> = {};
    if (t && t.type === 'tree') {
      for (const e of parseTree(t.content, repo.oidBytes)) {
        if (e.type !== 'blob') continue;
        const k =
          e.name === 'up.sql'
            ? 'up'
            : e.name === 'down.sql'
              ? 'down'
              : e.name === 'verify.sql'
                ? 'verify'
                : undefined;
        if (k) {
          f[k] = e.oid;
          wanted.push(e.oid);
        }
      }
    }
    if (f.up === undefined) {
      throw new UsageError(
        'missing-folder',
        `${label}/${id}/up.sql does not exist at ${ref} (it is listed in the manifest there)`,
        { data: { ref, id } },
      );
    }
    return f;
  });
  const blobs = await repo.readObjects(wanted);
  const text = new Map<string, string>();
  wanted.forEach((oid, i) => text.set(oid, blobs[i]?.content.toString('utf8') ?? ''));
  const migrations: Migration[] = ids.map((id, i) => {
    const f = oids[i];
    const files: MigrationFiles = { up: text.get(f.up!) ?? '' };
    if (f.down !== undefined) files.down = text.get(f.down) ?? '';
    if (f.verify !== undefined) files.verify = text.get(f.verify) ?? '';
    return makeMigration(id, files, label);
  });
  return { ...m, migrations };
}

function shortLabel(ref: string, commit: string | undefined): string {
  return /^[0-9a-f]{40,64}$/.test(ref) && commit ? commit.slice(0, 12) : ref;
}

/**
 * `braid diff <refA> <refB>` / `braid diff A...B`: branch drift. The merge base, the migrations
 * each side added (or edited/removed) since it, their footprints and collisions, the object diff
 * of each side and the verdict (two shadow replays; `--static` skips them). Exit 1 on conflict.
 */
export const diffCommand = defineCommand<DiffArgs>({
  command: 'diff <refA> [refB]',
  describe: 'branch drift between two refs: new migrations per side, schema diffs, collisions, merge verdict',
  builder: (y) =>
    withShadow(
      y
        .positional('refA', { type: 'string', demandOption: true, describe: 'ours (or a range A...B)' })
        .positional('refB', { type: 'string', describe: 'theirs' })
        .option('static', {
          type: 'boolean',
          describe: 'skip the replays: migrations, footprints and collisions only (no database)',
        })
        .option('format', { type: 'string', describe: 'text (default), json or md' }),
    ),
  handler: async (args, ctx) => {
    const format = args.json ? 'json' : (args.format ?? 'text');
    if (!['text', 'json', 'md'].includes(format)) {
      throw new UsageError('bad-format', `--format ${format}: expected text, json or md`, {
        data: { argument: '--format' },
      });
    }
    const [a, b] = parseRange(args.refA, args.refB);
    const root = findProject(ctx.cwd);
    // --static is a pure function of the two commits: recorded for replay (replay.ts) when the
    // refs read the same before and after the run
    const replay = args.static === true ? diffReplayInputs(root, ctx.cwd, a, b, format) : undefined;
    const keyBefore = replay && diffReplayKey(replay);
    const repo = await GitRepo.open(root);
    let verdict;
    let manifests;
    try {
      // Several merge bases after a criss-cross: the verdict is against their union (mergebase.ts).
      const basesP = mergeBases(repo, a, b);
      // --static needs the three manifests and the files of the migrations each side added or
      // edited, not every migration at every ref (thousands of blobs): read just those, the
      // sides' manifests while git computes the merge base.
      const sidesP = readSides(repo, root, [basesP.then((x) => x[0]), a, b], args.static === true);
      sidesP.catch(() => {}); // reported through basesP when the merge base fails
      const bases = await basesP;
      const baseCommit = bases[0];
      // Footprints by migration id and content, kept in .git/braid: a warm memo spares the parser.
      const footprints = JsonMemo.load<MigrationFootprint>(repo.gitDir, FOOTPRINTS_MEMO);
      const [single, ours, theirs] = await sidesP;
      const base =
        bases.length > 1
          ? await baseHistory(repo, root, bases, ours.manifest, args.static !== true)
          : { label: baseCommit.slice(0, 12), manifest: single.manifest, migrations: single.migrations };
      repo.close();
      manifests = { base: base.manifest, ours: ours.manifest, theirs: theirs.manifest };
      verdict = await computeVerdict({
        base: { label: base.label, manifest: base.manifest, migrations: base.migrations },
        ours: { label: shortLabel(a, ours.commit), manifest: ours.manifest, migrations: ours.migrations },
        theirs: {
          label: shortLabel(b, theirs.commit),
          manifest: theirs.manifest,
          migrations: theirs.migrations,
        },
        ...(args.static ? {} : { shadow: shadowSpec(args, ctx, root) }),
        footprints,
        onProgress: (l) => {
          if (ctx.out.stderrTTY) ctx.out.note(l);
        },
      });
      footprints.save();
    } finally {
      repo.close();
    }
    const stdout =
      format === 'json'
        ? ctx.out.clean(JSON.stringify(verdict, null, 2)) + '\n'
        : format === 'md'
          ? ctx.out.clean(renderVerdictMarkdown(verdict, manifests)) + '\n'
          : renderVerdictText(verdict)
              .map((l) => ctx.out.clean(l) + '\n')
              .join('');
    process.stdout.write(stdout);
    const code = verdict.verdict === 'conflict' ? 1 : 0;
    if (replay && keyBefore && diffReplayKey(replay) === keyBefore && sameDirs(replay, repo)) {
      const memo = JsonMemo.load<DiffReplay>(replay.gitDir, DIFF_REPLAY_MEMO, DIFF_REPLAY_KEEP, replay.build);
      memo.set(keyBefore, { stdout, code });
      memo.save();
    }
    return code;
  },
});
