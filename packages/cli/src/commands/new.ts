import fs from 'node:fs';
import path from 'node:path';
import {
  appendMigration,
  hashMigration,
  isEmptyDiff,
  MIGRATIONS_DIR,
  mintId,
  normalizeSlug,
  UsageError,
  type MigrationFiles,
} from '@braid/core';
import { compareDeclared, DECLARED_DIR, migrationFilesFromSchemas } from '../declared';
import { defineCommand } from '../runtime';
import { withShadow, type ShadowArgs } from '../shadow';
import {
  displayPath,
  findProject,
  loadProject,
  MANIFEST_REL,
  requireManifestText,
  withProjectLock,
  writeManifestAtomic,
} from '../project';

interface NewArgs extends ShadowArgs {
  slug: string[];
  'from-schema': boolean;
}

export function upTemplate(id: string): string {
  return `-- ${id}: the forward change.
--
-- Directives go in this comment block at the top, one per line, for example:
--   -- braid:no-transaction       run outside a transaction (CREATE INDEX CONCURRENTLY, ...)
--   -- braid:requires <id> ...    depend on other, earlier migrations
--   -- braid:irreversible         there is no down.sql (then delete it); braid down refuses
--   -- braid:ticket OPS-12         tracker reference(s), shown by braid history and changelog
--   -- braid:reason <why>          why this change is made (several lines join)
-- After editing, run \`braid hash\` (and \`braid check\`).

`;
}

export function downTemplate(id: string): string {
  return `-- ${id}: the rollback. Undo everything up.sql does, newest change first,
-- so that up, down, up again leaves the same schema (\`braid test\` proves it).

`;
}

/**
 * `braid new <slug>`: a migration folder with up/down templates, appended to the manifest with
 * the current heads as parents. Prints the folder's path (relative to the working directory).
 */
export const newCommand = defineCommand<NewArgs>({
  command: 'new <slug..>',
  describe: 'create a migration folder (up.sql, down.sql) and list it in the manifest',
  builder: (y) =>
    withShadow(
      y
        .positional('slug', {
          type: 'string',
          array: true,
          demandOption: true,
          describe: 'what the migration does, e.g. add_phone or "add phone"',
        })
        .option('from-schema', {
          type: 'boolean',
          default: false,
          describe:
            'write up.sql/down.sql from the difference between the replayed migrations and schema/*.sql',
        }),
    ),
  handler: async (args, ctx) => {
    const slug = normalizeSlug(args.slug.join(' '), { argName: 'slug' });
    const root = findProject(ctx.cwd);
    requireManifestText(root);
    let content: ((id: string) => MigrationFiles) | undefined;
    if (args['from-schema']) {
      const cmp = await compareDeclared(ctx, args);
      if (isEmptyDiff(cmp.diff)) {
        if (args.json) ctx.out.result({ id: null, path: null, reason: 'no declared drift' });
        else ctx.out.note(`braid new: nothing to write: the migrations already produce ${DECLARED_DIR}/`);
        return 0;
      }
      const files = migrationFilesFromSchemas(cmp.migrations, cmp.declared, '`braid new --from-schema`');
      content = () => files;
    }
    const made = await withProjectLock(root, () => createMigration(root, slug, content));
    const { id, folder, parents } = made;
    const shown = displayPath(ctx.cwd, folder);
    if (args.json) {
      ctx.out.result({
        id,
        path: shown,
        up: path.join(shown, 'up.sql'),
        down: path.join(shown, 'down.sql'),
        parents,
      });
    } else {
      ctx.out.print(shown);
      ctx.out.note(`created ${MIGRATIONS_DIR}/${id}/ (up.sql, down.sql) and listed it in ${MANIFEST_REL}`);
    }
    return 0;
  },
});

/**
 * Mints the id, writes the folder and the manifest (call under the project lock). `files`
 * defaults to the up/down templates (`braid drift --capture` and `--from-schema` pass SQL).
 */
export function createMigration(
  root: string,
  slug: string,
  content?: (id: string) => MigrationFiles,
): { id: string; folder: string; parents: string[]; hash: string } {
  const project = loadProject(root);
  if (!project.headerHashOk) {
    throw new UsageError(
      'manifest-header-hash',
      `${MANIFEST_REL}:1: the header hash does not match the lines below; review the manifest, then run \`braid hash\` before \`braid new\``,
    );
  }
  const existing = new Set<string>(project.migrations.keys());
  for (const ent of fs.readdirSync(project.dir)) existing.add(ent);
  let id = '';
  let folder = '';
  // mkdir without `recursive` fails when the folder exists: a concurrent `braid new` that
  // minted the same id loses the race and mints the next one.
  for (let attempt = 0; ; attempt++) {
    id = mintId(slug, new Date(), existing);
    folder = path.join(project.dir, id);
    try {
      fs.mkdirSync(folder);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 20) throw e;
      existing.add(id);
    }
  }
  const files: MigrationFiles = content ? content(id) : { up: upTemplate(id), down: downTemplate(id) };
  const hash = hashMigration(files);
  try {
    fs.writeFileSync(path.join(folder, 'up.sql'), files.up);
    if (files.down !== undefined) fs.writeFileSync(path.join(folder, 'down.sql'), files.down);
    if (files.verify !== undefined) fs.writeFileSync(path.join(folder, 'verify.sql'), files.verify);
    const manifest = appendMigration(project.manifest, id, hash);
    writeManifestAtomic(root, manifest);
    return { id, folder, parents: manifest.entries[manifest.entries.length - 1].parents, hash };
  } catch (e) {
    fs.rmSync(folder, { recursive: true, force: true });
    throw e;
  }
}
