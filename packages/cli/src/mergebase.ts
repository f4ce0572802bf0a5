/**
 * The merge base of two refs as the verdict needs it. Usually one commit (`git merge-base`). After
 * a criss-cross (two branches that merged each other) there are several (`git merge-base --all`)
 * and git merges against a virtual base built from them; for manifests that is the union of the
 * merge bases' entries (core's virtualBase), and the migration files come from whichever merge
 * base holds each one.
 */
import { virtualBase, type Manifest, type Migration } from '@braid/core';
import { runGit, type GitRepo } from '@braid/git';
import { migrationsAt } from './history';

/** Every merge base of a and b (resolved commits; at least one: errors as GitRepo.mergeBase). */
export async function mergeBases(repo: GitRepo, a: string, b: string): Promise<string[]> {
  const first = await repo.mergeBase(a, b);
  const [ca, cb] = await Promise.all([repo.resolveRef(a), repo.resolveRef(b)]);
  const r = await runGit(repo.root, ['merge-base', '--all', ca, cb]);
  const all = r.code === 0 ? r.stdout.toString('utf8').split('\n').filter(Boolean) : [];
  return all.length > 1 ? [...new Set(all)].sort() : [first];
}

export interface BaseHistory {
  /** `1a2b3c4d5e6f` or `virtual base of 1a2b3c4d5e6f + 7a8b9c0d1e2f`. */
  label: string;
  commits: string[];
  manifest: Manifest;
  /** The listed migrations (empty when `withFiles` is false). */
  migrations: Migration[];
  /** Entries the merge bases list differently (criss-cross only). */
  disagreements: string[];
}

export function baseLabel(commits: readonly string[]): string {
  return commits.length === 1
    ? commits[0].slice(0, 12)
    : `virtual base of ${commits.map((c) => c.slice(0, 12)).join(' + ')}`;
}

/**
 * The (possibly virtual) merge base's history for a merge into `ours`: one merge base as is;
 * several merged by union in ours' order. `withFiles: false` reads only the manifests.
 */
export async function baseHistory(
  repo: GitRepo,
  projectRoot: string,
  commits: readonly string[],
  ours: Manifest,
  withFiles: boolean,
): Promise<BaseHistory> {
  const histories = await Promise.all(commits.map((c) => migrationsAt(repo, projectRoot, c)));
  const { manifest, disagreements } = virtualBase(
    histories.map((h) => h.manifest),
    ours,
  );
  let migrations: Migration[] = [];
  if (withFiles) {
    migrations = manifest.entries.map((e) => {
      for (const h of histories) {
        const m = h.migrations.find((x) => x.id === e.id && x.hash === e.hash);
        if (m) return m;
      }
      // The entry's version (ours') is not in any merge base with that hash: the first one found.
      return histories.flatMap((h) => h.migrations).find((x) => x.id === e.id)!;
    });
  }
  return { label: baseLabel(commits), commits: [...commits], manifest, migrations, disagreements };
}
