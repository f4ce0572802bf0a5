import {
  FindingsError,
  hashMigration,
  MIGRATIONS_DIR,
  parseManifest,
  rehashManifest,
  serializeManifest,
  shortHash,
} from '@braid/core';
import { defineCommand } from '../runtime';
import {
  findProject,
  MANIFEST_REL,
  readMigrationFolder,
  migrationsDir,
  requireManifestText,
  writeManifestAtomic,
} from '../project';

/**
 * Hook for protected history (DESIGN §1): the git layer sets this to say which migrations are
 * reachable from the protected branch (and so may not be rehashed). Until then nothing is.
 */
export const protection: { isProtected?: (root: string) => Promise<(id: string) => boolean> } = {};

/**
 * `braid hash`: after editing a migration's files, rewrite the manifest's hashes (and its header
 * hash). Prints which migrations changed. Refuses (exit 1, nothing written) when a changed
 * migration is protected.
 */
export const hashCommand = defineCommand({
  command: 'hash',
  describe: "rewrite the manifest's hashes after editing migration files",
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const text = requireManifestText(root);
    const parsed = parseManifest(text, MANIFEST_REL);
    const dir = migrationsDir(root);
    const current = new Map<string, string>();
    for (const e of parsed.manifest.entries) current.set(e.id, hashMigration(readMigrationFolder(dir, e.id)));
    const isProtected = protection.isProtected ? await protection.isProtected(root) : undefined;
    const result = rehashManifest(parsed.manifest, current, isProtected ? { isProtected } : {});
    if (result.refused.length > 0) {
      throw new FindingsError(
        'protected-migration',
        `refusing to rehash ${result.refused.map((r) => r.id).join(', ')}: already on the protected branch (write a new migration instead); nothing was written`,
        { data: { refused: result.refused } },
      );
    }
    const newText = serializeManifest(result.manifest);
    const written = newText !== text;
    if (written) writeManifestAtomic(root, result.manifest);
    const headerRefreshed = !parsed.headerHashOk;
    if (args.json) {
      ctx.out.result({ changed: result.changed, headerRefreshed, written });
      return 0;
    }
    for (const c of result.changed) {
      ctx.out.print(`rehashed ${MIGRATIONS_DIR}/${c.id}/ (${shortHash(c.from)} → ${shortHash(c.to)})`);
    }
    if (headerRefreshed) ctx.out.print(`refreshed the header hash of ${MANIFEST_REL}`);
    else if (written && result.changed.length === 0)
      ctx.out.print(`rewrote ${MANIFEST_REL} in canonical form`);
    if (!written) ctx.out.print('all hashes are current');
    return 0;
  },
});
