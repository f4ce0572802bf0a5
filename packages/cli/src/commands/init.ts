import fs from 'node:fs';
import { emptyManifest, MIGRATIONS_DIR, parseManifest } from '@braid/core';
import { defineCommand } from '../runtime';
import { findProject, MANIFEST_REL, migrationsDir, readManifestText, writeManifestAtomic } from '../project';

/**
 * `braid init`: create `.migrations/` with an empty manifest. Idempotent: an existing project is
 * left untouched (and its manifest must parse, so a broken one is reported rather than hidden).
 */
export const initCommand = defineCommand({
  command: 'init',
  describe: 'create .migrations/ with an empty manifest (idempotent)',
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const created: string[] = [];
    const dir = migrationsDir(root);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      created.push(`${MIGRATIONS_DIR}/`);
    }
    const existing = readManifestText(root);
    let migrations = 0;
    if (existing === undefined) {
      writeManifestAtomic(root, emptyManifest());
      created.push(MANIFEST_REL);
    } else {
      migrations = parseManifest(existing, MANIFEST_REL).manifest.entries.length;
    }
    if (args.json) {
      ctx.out.result({ root, created, migrations, alreadyInitialized: created.length === 0 });
    } else if (created.length === 0) {
      ctx.out.print(`already initialised: ${MANIFEST_REL} lists ${migrations} migration(s) in ${root}`);
    } else {
      for (const c of created) ctx.out.print(`created ${c}`);
      ctx.out.print(`initialised braid in ${root}; next: braid new <slug>`);
    }
    return 0;
  },
});
