/**
 * A project's migration history at a git ref (or in the working tree), as the apply engine and
 * the verdict need it: the parsed manifest and the listed migrations in manifest order.
 * Reads through one `git cat-file --batch` process (GitRepo.readMigrationsAt).
 */
import {
  makeMigration,
  MIGRATIONS_DIR,
  parseManifest,
  UsageError,
  type Manifest,
  type Migration,
} from '@braid/core';
import { repoRelativeDir, type GitRepo } from '@braid/git';
import { loadProject } from './project';

export interface History {
  /** The ref as given ('' for the working tree). */
  ref: string;
  /** The commit it resolved to (undefined for the working tree). */
  commit?: string;
  manifest: Manifest;
  /** Every listed migration, in manifest order. */
  migrations: Migration[];
  /** The manifest text as read. */
  manifestText: string;
}

/** The project's migrations at `ref`. A ref without a manifest is an empty history. */
export async function migrationsAt(repo: GitRepo, projectRoot: string, ref: string): Promise<History> {
  const dir = repoRelativeDir(repo, projectRoot);
  const at = await repo.readMigrationsAt(ref, dir);
  const label = `${ref}:${MIGRATIONS_DIR}`;
  if (at.manifestText === undefined) {
    return { ref, commit: at.commit, manifest: { entries: [] }, migrations: [], manifestText: '' };
  }
  const parsed = parseManifest(at.manifestText, `${label}/manifest`);
  const migrations: Migration[] = [];
  for (const e of parsed.manifest.entries) {
    const f = at.folders.get(e.id);
    if (!f || f.up === undefined) {
      throw new UsageError(
        'missing-folder',
        `${label}/${e.id}/up.sql does not exist at ${ref} (it is listed in the manifest there)`,
        { data: { ref, id: e.id } },
      );
    }
    const files: { up: string; down?: string; verify?: string } = { up: f.up };
    if (f.down !== undefined) files.down = f.down;
    if (f.verify !== undefined) files.verify = f.verify;
    migrations.push(makeMigration(e.id, files, label));
  }
  return { ref, commit: at.commit, manifest: parsed.manifest, migrations, manifestText: at.manifestText };
}

/** The project's migrations in the working tree (files on disk). */
export function migrationsInWorkingTree(projectRoot: string): History {
  const p = loadProject(projectRoot);
  return {
    ref: '',
    manifest: p.manifest,
    migrations: [...p.migrations.values()],
    manifestText: p.manifestText,
  };
}
