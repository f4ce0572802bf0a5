/**
 * One-shot helpers for commands: a project's migrations at a ref, with the project possibly in a
 * subdirectory of the repository (`braid --cwd services/db diff main feature`).
 */
import { realpathSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { UsageError } from '@braid/core';
import { DEFAULT_MIGRATIONS_DIR, GitRepo, type MigrationsAt } from './repo';

/** The migrations directory of a project, relative to the repository's top level (`/`-separated). */
export function repoRelativeDir(
  repo: GitRepo,
  projectRoot: string,
  dir: string = DEFAULT_MIGRATIONS_DIR,
): string {
  const rel = relative(realpathSync(repo.root), resolve(realpathSync(projectRoot), dir))
    .split(sep)
    .join('/');
  if (rel.startsWith('..')) {
    throw new UsageError(
      'outside-repo',
      `${resolve(projectRoot, dir)} is outside the git repository ${repo.root}`,
    );
  }
  return rel;
}

/**
 * The project's migrations at `ref` (manifest text, folders with up/down/verify) — opens the
 * repository, reads through one cat-file process and closes it. Folders without an up.sql are
 * listed in `missingUp` and left out of `folders`, as `braid check` expects of a working tree.
 */
export async function readProjectAt(
  projectRoot: string,
  ref: string,
  opts: { dir?: string; repo?: GitRepo } = {},
): Promise<
  Omit<MigrationsAt, 'folders'> & {
    repoDir: string;
    folders: Map<string, { files: { up: string; down?: string; verify?: string } }>;
    missingUp: string[];
  }
> {
  const repo = opts.repo ?? (await GitRepo.open(projectRoot));
  try {
    const repoDir = repoRelativeDir(repo, projectRoot, opts.dir);
    const at = await repo.readMigrationsAt(ref, repoDir);
    const folders = new Map<string, { files: { up: string; down?: string; verify?: string } }>();
    const missingUp: string[] = [];
    for (const [id, f] of at.folders) {
      if (f.up === undefined) {
        missingUp.push(id);
        continue;
      }
      const files: { up: string; down?: string; verify?: string } = { up: f.up };
      if (f.down !== undefined) files.down = f.down;
      if (f.verify !== undefined) files.verify = f.verify;
      folders.set(id, { files });
    }
    return { ...at, repoDir, folders, missingUp };
  } finally {
    if (!opts.repo) repo.close();
  }
}
