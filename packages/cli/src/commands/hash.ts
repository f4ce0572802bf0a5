import fs from 'node:fs';
import {
  FindingsError,
  hashMigration,
  MIGRATIONS_DIR,
  parseManifest,
  rehashManifest,
  serializeManifest,
  shortHash,
  type MigrationFiles,
} from '@braid/core';
import { checkProtected } from '@braid/git';
import { defineCommand } from '../runtime';
import {
  findProject,
  MANIFEST_REL,
  readMigrationFolder,
  migrationsDir,
  requireManifestText,
  withProjectLock,
  writeManifestAtomic,
} from '../project';

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
    requireManifestText(root);
    const { result, parsed, written } = await withProjectLock(root, () => rehash(root));
    const listed = new Set(result.manifest.entries.map((e) => e.id));
    const unlisted = fs
      .readdirSync(migrationsDir(root), { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && !listed.has(d.name))
      .map((d) => d.name)
      .sort();
    const headerRefreshed = !parsed.headerHashOk;
    if (args.json) {
      ctx.out.result({ changed: result.changed, headerRefreshed, written, unlisted });
      return 0;
    }
    for (const c of result.changed) {
      ctx.out.print(`rehashed ${MIGRATIONS_DIR}/${c.id}/ (${shortHash(c.from)} → ${shortHash(c.to)})`);
    }
    if (headerRefreshed) ctx.out.print(`refreshed the header hash of ${MANIFEST_REL}`);
    else if (written && result.changed.length === 0)
      ctx.out.print(`rewrote ${MANIFEST_REL} in canonical form`);
    if (!written) ctx.out.print('all hashes are current');
    for (const name of unlisted) {
      ctx.out.note(
        `braid: note: ${MIGRATIONS_DIR}/${name}/ is not listed in ${MANIFEST_REL}, so it was not hashed (see braid check)`,
      );
    }
    return 0;
  },
});

async function rehash(root: string) {
  const text = requireManifestText(root);
  const parsed = parseManifest(text, MANIFEST_REL);
  const dir = migrationsDir(root);
  const current = new Map<string, string>();
  const working = new Map<string, MigrationFiles>();
  for (const e of parsed.manifest.entries) {
    const files = readMigrationFolder(dir, e.id);
    working.set(e.id, files);
    current.set(e.id, hashMigration(files));
  }
  // Migrations reachable from a protected ref are immutable (DESIGN §1): never rehash them.
  const prot = await checkProtected(root, working);
  const result = rehashManifest(parsed.manifest, current, {
    isProtected: (id) => prot.protectedIds.has(id),
  });
  if (result.refused.length > 0) {
    throw new FindingsError(
      'protected-migration',
      `refusing to rehash ${result.refused.map((r) => `${r.id} (on ${prot.edited.get(r.id)?.ref ?? prot.refs[0]?.name ?? 'a protected ref'})`).join(', ')}: migrations on a protected branch are immutable (restore them and write a new migration instead); nothing was written`,
      { data: { refused: result.refused } },
    );
  }
  const newText = serializeManifest(result.manifest);
  const written = newText !== text;
  if (written) writeManifestAtomic(root, result.manifest);
  return { result, parsed, written };
}
