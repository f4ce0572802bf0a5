import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  appendMigration,
  BASELINE_FILE,
  BASELINE_PATH,
  BASELINE_PREAMBLE,
  EnvironmentError,
  emptyManifest,
  hashMigration,
  IMPORT_TOOLS,
  importMigrations,
  isBraidError,
  isTimestamp,
  makeMigration,
  MANIFEST_FILE,
  MIGRATIONS_DIR,
  parseBaseline,
  serializeBaselineBlock,
  UsageError,
  type ImportResult,
  type ImportTool,
  type Manifest,
} from '@braid/core';
import { defineCommand } from '../runtime';
import {
  displayPath,
  findProject,
  loadProject,
  MANIFEST_REL,
  migrationsDir,
  readManifestText,
  writeFileAtomic,
  writeManifestAtomic,
} from '../project';

interface ImportArgs {
  from: ImportTool;
  dir: string;
  append: boolean;
  'dry-run': boolean;
}

/** Directories never read as part of a source history. */
const SKIP_DIRS = new Set(['.git', 'node_modules', MIGRATIONS_DIR]);

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads `dir` recursively into a listing (relative POSIX path -> text). Dot-directories,
 * `.git` and `node_modules` are skipped; symbolic links to files are followed. Files that are not
 * valid UTF-8 are decoded leniently and named in `notUtf8` (an error if the import uses them).
 */
export function readListing(dir: string): { listing: Record<string, string>; notUtf8: Set<string> } {
  const out: Record<string, string> = {};
  const notUtf8 = new Set<string>();
  const walk = (abs: string, rel: string): void => {
    for (const ent of fs.readdirSync(abs, { withFileTypes: true })) {
      const full = path.join(abs, ent.name);
      const r = rel === '' ? ent.name : `${rel}/${ent.name}`;
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      if (ent.isSymbolicLink()) {
        try {
          const st = fs.statSync(full);
          isFile = st.isFile();
          isDir = false; // never follow directory links (cycles)
        } catch {
          continue;
        }
      }
      if (isDir) {
        if (SKIP_DIRS.has(ent.name) || ent.name.startsWith('.')) continue;
        walk(full, r);
      } else if (isFile) {
        const bytes = fs.readFileSync(full);
        try {
          out[r] = UTF8.decode(bytes);
        } catch {
          out[r] = bytes.toString('utf8');
          notUtf8.add(r);
        }
      }
    }
  };
  walk(dir, '');
  return { listing: out, notUtf8 };
}

function removeQuietly(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // best effort: we are already failing
  }
}

/**
 * `braid import --from <tool> <dir>`: converts another tool's migration history into
 * `.migrations/<id>/` folders and manifest entries (a linear history, in the tool's apply order).
 * Everything is converted and validated in memory first; the folders are written into a hidden
 * staging folder, moved into place, and the manifest written last (atomically). On any failure
 * whatever was moved is removed again: nothing is left behind.
 */
export const importCommand = defineCommand<ImportArgs>({
  command: 'import <dir>',
  describe: 'bring in an existing migration history (diesel, golang-migrate, dbmate, flyway, sqitch)',
  builder: (y) =>
    y
      .positional('dir', {
        type: 'string',
        demandOption: true,
        describe: "the other tool's migrations directory (sqitch: the project directory with sqitch.plan)",
      })
      .option('from', {
        type: 'string',
        choices: IMPORT_TOOLS,
        demandOption: true,
        describe: 'the tool the history comes from',
      })
      .option('append', {
        type: 'boolean',
        default: false,
        describe: 'add the imported migrations after the ones already in .migrations/',
      })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'show what would be imported; write nothing',
      }),
  handler: async (args, ctx) => {
    const source = path.resolve(ctx.cwd, args.dir);
    let st: fs.Stats;
    try {
      st = fs.statSync(source);
    } catch {
      throw new UsageError('import-no-dir', `${args.dir}: no such directory`, { data: { argument: 'dir' } });
    }
    if (!st.isDirectory())
      throw new UsageError('import-no-dir', `${args.dir}: not a directory`, { data: { argument: 'dir' } });

    const root = findProject(ctx.cwd);
    const dir = migrationsDir(root);
    if (path.relative(dir, source) === '' || !path.relative(dir, source).startsWith('..'))
      throw new UsageError(
        'import-from-self',
        `${args.dir}: is inside ${MIGRATIONS_DIR}/; give the other tool's directory`,
      );

    // The current state: no project, an empty one, or (with --append) a non-empty one.
    const dirExisted = fs.existsSync(dir);
    let manifest: Manifest = emptyManifest();
    const manifestText = dirExisted ? readManifestText(root) : undefined;
    if (manifestText !== undefined) {
      const project = loadProject(root);
      if (!project.headerHashOk)
        throw new UsageError(
          'manifest-header-hash',
          `${MANIFEST_REL}:1: the header hash does not match the lines below; review the manifest and run \`braid hash\` first`,
        );
      manifest = project.manifest;
    }
    const others = dirExisted
      ? fs.readdirSync(dir).filter((n) => !n.startsWith('.') && n !== MANIFEST_FILE && n !== BASELINE_FILE)
      : [];
    if (manifestText === undefined && others.length > 0)
      throw new UsageError(
        'manifest-missing',
        `${MIGRATIONS_DIR}/ holds ${others.length} entr${others.length === 1 ? 'y' : 'ies'} but no manifest; fix the project (braid init, braid check) before importing`,
      );
    if ((manifest.entries.length > 0 || others.length > 0) && !args.append)
      throw new UsageError(
        'import-not-empty',
        `${MIGRATIONS_DIR}/ is not empty (${manifest.entries.length} migration(s) in ${MANIFEST_REL}` +
          `${others.length > 0 ? `, ${others.length} folder(s)` : ''}); use --append to add the imported history after it`,
      );
    let after: string | undefined;
    for (const e of manifest.entries) {
      const ts = e.id.slice(0, 14);
      if (isTimestamp(ts) && (after === undefined || ts > after)) after = ts;
    }

    const { listing, notUtf8 } = readListing(source);
    const rel = path.relative(root, source).split(path.sep).join('/');
    const sourceDir =
      rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? path.basename(source) : rel;
    let result: ImportResult;
    try {
      result = importMigrations(args.from, listing, { sourceDir, ...(after === undefined ? {} : { after }) });
    } catch (e) {
      // The converters name files relative to the imported directory; name them as the user typed it.
      if (isBraidError(e) && typeof e.data['file'] === 'string' && e.message.startsWith(e.data['file'])) {
        const prefix = args.dir.replace(/[\\/]+$/, '');
        throw new UsageError(e.code, `${prefix}/${e.message}`, { data: { ...e.data, dir: args.dir } });
      }
      throw e;
    }

    // A source file that is not UTF-8 would be silently mangled: refuse it, naming it.
    for (const m of result.migrations) {
      for (const used of Object.values(m.sourceFiles)) {
        for (const bad of notUtf8) {
          if (used === bad || used.startsWith(`${bad} (`))
            throw new UsageError(
              'import-not-utf8',
              `${path.join(args.dir, bad)}: not valid UTF-8; convert it to UTF-8 first (braid migrations are UTF-8 text)`,
              { data: { file: bad } },
            );
        }
      }
    }

    // Validate what will be written exactly as braid will read it back.
    const taken = new Set([...manifest.entries.map((e) => e.id), ...others]);
    for (const m of result.migrations) {
      if (taken.has(m.id))
        throw new UsageError('import-id-exists', `${MIGRATIONS_DIR}/${m.id} already exists`, {
          data: { id: m.id },
        });
      makeMigration(m.id, m.files);
      manifest = appendMigration(manifest, m.id, hashMigration(m.files));
    }

    // The baseline (docs/import.md): the imported migrations are history that already ran; their
    // source versions are what `braid adopt` matches. A new block at the end of the file.
    const baselinePath = path.join(dir, BASELINE_FILE);
    let baselineBefore: string | undefined;
    try {
      baselineBefore = fs.readFileSync(baselinePath, 'utf8');
    } catch {
      baselineBefore = undefined;
    }
    if (baselineBefore !== undefined) parseBaseline(baselineBefore); // refuse to append to a broken one
    const block = serializeBaselineBlock({
      tool: result.tool,
      ...(result.project !== undefined ? { project: result.project } : {}),
      entries: result.migrations.map((m) => ({
        id: m.id,
        version: m.version,
        ...(m.checksum !== undefined ? { checksum: m.checksum } : {}),
        source: m.source,
      })),
    });
    const baselineAfter =
      baselineBefore === undefined
        ? BASELINE_PREAMBLE + block
        : `${baselineBefore}${baselineBefore.endsWith('\n') || baselineBefore === '' ? '' : '\n'}${block}`;

    if (!args['dry-run']) {
      const staging = path.join(dir, `.import-${process.pid}-${randomBytes(4).toString('hex')}`);
      const moved: string[] = [];
      try {
        fs.mkdirSync(staging, { recursive: true });
        for (const m of result.migrations) {
          const folder = path.join(staging, m.id);
          fs.mkdirSync(folder);
          fs.writeFileSync(path.join(folder, 'up.sql'), m.files.up);
          if (m.files.down !== undefined) fs.writeFileSync(path.join(folder, 'down.sql'), m.files.down);
          if (m.files.verify !== undefined) fs.writeFileSync(path.join(folder, 'verify.sql'), m.files.verify);
        }
        for (const m of result.migrations) {
          const target = path.join(dir, m.id);
          fs.renameSync(path.join(staging, m.id), target);
          moved.push(target);
        }
        writeFileAtomic(baselinePath, baselineAfter);
        try {
          writeManifestAtomic(root, manifest);
        } catch (e) {
          if (baselineBefore === undefined) removeQuietly(baselinePath);
          else writeFileAtomic(baselinePath, baselineBefore);
          throw e;
        }
        fs.rmdirSync(staging);
      } catch (e) {
        for (const p of moved) removeQuietly(p);
        removeQuietly(staging);
        if (!dirExisted) removeQuietly(dir);
        if (e instanceof Error && !(e instanceof EnvironmentError) && 'code' in e)
          throw new EnvironmentError('import-write-failed', `cannot write ${MIGRATIONS_DIR}/: ${e.message}`);
        throw e;
      }
    }

    const shownDir = displayPath(ctx.cwd, dir);
    const order = result.order;
    if (ctx.out.json) {
      ctx.out.result({
        tool: result.tool,
        from: displayPath(ctx.cwd, source),
        dryRun: args['dry-run'],
        appended: args.append && manifest.entries.length > result.migrations.length,
        order,
        baseline: BASELINE_PATH,
        ...(result.project !== undefined ? { project: result.project } : {}),
        migrations: result.migrations.map((m) => ({
          source: m.source,
          id: m.id,
          version: m.version,
          ...(m.checksum !== undefined ? { checksum: m.checksum } : {}),
          sourceFiles: m.sourceFiles,
          path: path.join(shownDir, m.id),
          noTransaction: m.noTransaction,
          irreversible: m.irreversible,
          requires: m.requires,
        })),
        warnings: result.warnings,
      });
    } else {
      for (const w of result.warnings) ctx.out.note(`braid: warning: ${w}`);
      for (const m of result.migrations) {
        const flags = [
          m.noTransaction ? 'no-transaction' : '',
          m.irreversible ? 'irreversible' : '',
          m.requires.length > 0 ? `requires ${m.requires.join(' ')}` : '',
        ].filter((f) => f !== '');
        ctx.out.print(`${m.source} -> ${m.id}${flags.length > 0 ? `  [${flags.join(', ')}]` : ''}`);
      }
      if (order.differsFromNames && order.first)
        ctx.out.note(
          `braid: note: ${result.tool} runs these ${order.rule}, which is not the order their names sort in: ` +
            `${order.moved} of ${result.migrations.length} migration(s) are not where their name sorts ` +
            `(first: ${order.first.source} runs ${ordinal(order.first.position)}, by name it would be ${ordinal(order.first.namePosition)}); ` +
            `the ids above follow ${result.tool}'s order`,
        );
      ctx.out.note(
        args['dry-run']
          ? `dry run: would import ${result.migrations.length} ${result.tool} migration(s) into ${shownDir}/ (nothing written)`
          : `imported ${result.migrations.length} ${result.tool} migration(s) into ${shownDir}/ and ${MANIFEST_REL}; ` +
              `${BASELINE_PATH} marks them as history that already ran (braid lint reports their findings, braid check does not block on them); ` +
              `next: braid check, then braid up on a new database or braid adopt on one where ${result.tool} already ran them`,
      );
    }
    return 0;
  },
});

function ordinal(n: number): string {
  const t = n % 100;
  const suffix = t >= 11 && t <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}
