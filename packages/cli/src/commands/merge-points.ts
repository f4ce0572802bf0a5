import { GitRepo, repoRelativeDir } from '@braid/git';
import { UsageError } from '@braid/core';
import { migrationsAt, type History } from '../history';
import { baseHistory, mergeBases } from '../mergebase';
import { findProject } from '../project';
import { defineCommand } from '../runtime';
import { shadowSpec, withShadow, type ShadowArgs } from '../shadow';
import { computeVerdict, type BranchVerdict } from '../verdict';
import { refLabel } from './report';

interface MergePointsArgs extends ShadowArgs {
  branch: string;
  into: string | undefined;
  static: boolean | undefined;
}

export interface MergePoint {
  /** 1-based position on the branch (oldest first). */
  n: number;
  commit: string;
  subject: string;
  verdict: BranchVerdict['verdict'];
  /** Branch migrations this commit introduced (relative to the previous point). */
  introduced: string[];
  /** The verdict is the previous commit's: this commit changed no migration. */
  unchanged: boolean;
  reasons: string[];
}

export type Commutation = 'commutes' | 'conflicts' | 'disjoint';

export interface MergePointsResult {
  branch: string;
  into: string;
  /** The merge base; after a criss-cross the first of several (mergeBases lists them all). */
  mergeBase: string;
  /** Every merge base: two or more after a criss-cross, judged as their virtual base (union). */
  mergeBases: string[];
  /** `1a2b3c4d5e6f`, or `virtual base of 1a2b3c4d5e6f + 7a8b9c0d1e2f`. */
  baseLabel: string;
  static: boolean;
  points: MergePoint[];
  /** The last commit whose merge is safe (static: the last without a conflict), if any. */
  lastSafe?: { n: number; commit: string; subject: string };
  /** The target's migrations since the merge base. */
  intoNew: string[];
  /**
   * Each branch migration (at its tip): `commutes` (added at a point whose merge was proven safe),
   * `conflicts` (named by a blocking collision, or it turned a safe point into a conflict),
   * `disjoint` (added while the branch already conflicted; its footprint collides with nothing).
   */
  migrations: Array<{ id: string; status: Commutation; reason: string }>;
}

function okVerdict(v: BranchVerdict['verdict'], isStatic: boolean): boolean {
  return isStatic ? v !== 'conflict' : v === 'safe';
}

async function defaultInto(repo: GitRepo): Promise<string> {
  for (const r of ['main', 'master']) if (await repo.tryResolveRef(r)) return r;
  throw new UsageError('no-target', 'braid merge-points: no main or master branch here: give --into REF', {
    data: { argument: '--into' },
  });
}

/**
 * `braid merge-points <branch> [--into REF]`: commit by commit (oldest first, first parent), the
 * verdict of merging the branch up to that commit into REF, the last safe one, and which of the
 * branch's migrations commute with REF's new ones. Replays share the shadow caches.
 */
export const mergePointsCommand = defineCommand<MergePointsArgs>({
  command: 'merge-points <branch>',
  describe: "safe merge points: the merge verdict at each of a branch's commits, and the last safe one",
  builder: (y) =>
    withShadow(
      y
        .positional('branch', { type: 'string', demandOption: true, describe: 'the branch to examine' })
        .option('into', { type: 'string', describe: 'the target (default: main, else master)' })
        .option('static', { type: 'boolean', describe: 'skip the replays (no database)' }),
    ),
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const repo = await GitRepo.open(root);
    const isStatic = Boolean(args.static);
    const shadow = isStatic ? undefined : shadowSpec(args, ctx, root);
    let result: MergePointsResult;
    try {
      const into = args.into ?? (await defaultInto(repo));
      // After a criss-cross there are several merge bases, and git merges against their virtual
      // base: so does the verdict (mergebase.ts), as braid diff and the merge driver do.
      const bases = await mergeBases(repo, into, args.branch);
      const baseCommit = bases[0];
      const dir = repoRelativeDir(repo, root);
      // the branch's commits that `into` lacks (with one merge base, the same as base..branch)
      const commits = await repo.commitsBetween(into, args.branch, { firstParent: true, dir });
      const target = await migrationsAt(repo, root, into);
      const base: { label: string; manifest: History['manifest']; migrations: History['migrations'] } =
        bases.length > 1
          ? await baseHistory(repo, root, bases, target.manifest, !isStatic)
          : { label: baseCommit.slice(0, 12), ...(await migrationsAt(repo, root, baseCommit)) };
      const side = (h: Pick<History, 'manifest' | 'migrations'>, label: string) => ({
        label,
        manifest: h.manifest,
        migrations: h.migrations,
      });
      const points: MergePoint[] = [];
      const verdicts: BranchVerdict[] = [];
      let prev: BranchVerdict | undefined;
      for (const [i, c] of commits.entries()) {
        const touched = c.added.length + c.changed.length + c.removed.length > 0 || c.manifestChanged;
        let v: BranchVerdict;
        if (prev && !touched) v = prev;
        else {
          if (ctx.out.stderrTTY) ctx.out.note(`braid: ${i + 1}/${commits.length} ${c.oid.slice(0, 12)}`);
          const at = await migrationsAt(repo, root, c.oid);
          v = await computeVerdict({
            base: side(base, base.label),
            ours: side(target, refLabel(into, target.commit)),
            theirs: side(at, c.oid.slice(0, 12)),
            ...(shadow ? { shadow } : {}),
          });
        }
        const before = new Set(prev?.theirs.added ?? []);
        points.push({
          n: i + 1,
          commit: c.oid,
          subject: c.subject,
          verdict: v.verdict,
          introduced: v.theirs.added.filter((id) => !before.has(id)),
          unchanged: v === prev,
          reasons: v.verdict === 'safe' ? [] : v.reasons,
        });
        verdicts.push(v);
        prev = v;
      }
      const safePoints = points.filter((p) => okVerdict(p.verdict, isStatic));
      const last = safePoints[safePoints.length - 1];
      const tip = verdicts[verdicts.length - 1];
      const migrations: MergePointsResult['migrations'] = [];
      if (tip) {
        const named = new Map<string, string>();
        for (const col of tip.collisions.filter((x) => x.severity === 'conflict')) {
          for (const t of col.theirs) {
            const id = t.at.split('/')[0];
            if (!named.has(id)) named.set(id, col.reason);
          }
        }
        for (const id of tip.theirs.added) {
          const k = points.findIndex((p) => p.introduced.includes(id));
          const p = points[k];
          const prevOk = k <= 0 || okVerdict(points[k - 1].verdict, isStatic);
          if (named.has(id)) migrations.push({ id, status: 'conflicts', reason: named.get(id)! });
          else if (p && p.verdict === 'conflict' && prevOk)
            migrations.push({
              id,
              status: 'conflicts',
              reason: `merging up to ${p.commit.slice(0, 12)} conflicts: ${p.reasons[0] ?? ''}`,
            });
          else if (p && okVerdict(p.verdict, isStatic))
            migrations.push({
              id,
              status: isStatic ? 'disjoint' : 'commutes',
              reason: isStatic
                ? 'no static collision (replay to prove it)'
                : `merging up to ${p.commit.slice(0, 12)} replays to equal schemas in both orders`,
            });
          else
            migrations.push({
              id,
              status: 'disjoint',
              reason: 'added after the branch already conflicted; its footprint collides with nothing',
            });
        }
      }
      result = {
        branch: args.branch,
        into,
        mergeBase: baseCommit,
        mergeBases: bases,
        baseLabel: base.label,
        static: isStatic,
        points,
        ...(last ? { lastSafe: { n: last.n, commit: last.commit, subject: last.subject } } : {}),
        intoNew: tip ? tip.ours.added : [],
        migrations,
      };
    } finally {
      repo.close();
    }
    if (args.json) {
      ctx.out.result(result);
      return 0;
    }
    const r = result;
    ctx.out.print(
      `merge points of ${r.branch} into ${r.into} (${r.mergeBases.length > 1 ? r.baseLabel : `merge base ${r.baseLabel}`}, ${r.points.length} commit(s)${r.static ? ', static analysis only' : ''}):`,
    );
    for (const p of r.points) {
      const word = p.verdict === 'safe' ? 'safe' : p.verdict === 'conflict' ? 'CONFLICT' : 'unproven';
      const adds = p.introduced.length ? `  +${p.introduced.join(' +')}` : '';
      ctx.out.print(`  ${p.n}. ${p.commit.slice(0, 12)} ${word.padEnd(8)} ${p.subject}${adds}`);
      if (p.verdict === 'conflict' && !p.unchanged) for (const x of p.reasons) ctx.out.print(`       - ${x}`);
    }
    ctx.out.print(
      r.lastSafe
        ? `last safe merge point: ${r.lastSafe.n}. ${r.lastSafe.commit.slice(0, 12)} ${r.lastSafe.subject}`
        : 'no safe merge point: merging any of these commits conflicts',
    );
    for (const s of ['commutes', 'conflicts', 'disjoint'] as const) {
      const ms = r.migrations.filter((m) => m.status === s);
      if (ms.length === 0) continue;
      const title =
        s === 'commutes'
          ? `commute with ${r.into}'s new migrations`
          : s === 'conflicts'
            ? `do not commute with ${r.into}'s new migrations`
            : 'collide with nothing statically (not proven by replay)';
      ctx.out.print(`${title}:`);
      for (const m of ms) ctx.out.print(`  ${m.id}: ${m.reason}`);
    }
    return 0;
  },
});
