/**
 * `braid check`, the pure part: integrity of the manifest and the migration folders. Runs in
 * the pre-commit hook, so it needs no database and no SQL parser.
 */
import { isBraidError } from './errors';
import { shortHash } from './hash';
import { isValidId } from './ids';
import { MANIFEST_PATH, parseManifest, type ParsedManifest } from './manifest';
import { hashMigration, MIGRATIONS_DIR, type MigrationFiles } from './migration';
import { misplacedDirectives, parseDirectives } from './directives';

export interface Finding {
  /** Stable kebab-case code (documented in docs/format.md). */
  code: string;
  /** Path relative to the project root. */
  file: string;
  line?: number;
  message: string;
  /** The migration the finding is about, when it is about one. */
  id?: string;
}

/**
 * What `checkProject` needs of one migration folder, computed from its files by `folderFacts`.
 * Small and JSON-safe, so that a caller may cache it (keyed by the files' stat data) and skip
 * reading unchanged folders: the CLI keeps it in `.git/braid/` (see packages/cli/src/statcache.ts).
 */
export interface FolderFacts {
  /** hashMigration(files). */
  hash: string;
  hasDown: boolean;
  /** The directives check cares about; absent when up.sql's directives do not parse. */
  directives?: { irreversible: boolean; requires: string[] };
  /** Why the directives do not parse (message without the `FILE:LINE: ` prefix). */
  directiveError?: { line?: number; message: string };
  /** Directive-looking comments after the first statement. */
  misplaced: { line: number; name: string }[];
}

/** The facts of a folder's files (pure; `dir` is the folder as shown in messages). */
export function folderFacts(files: MigrationFiles, dir = MIGRATIONS_DIR): FolderFacts {
  const facts: FolderFacts = {
    hash: hashMigration(files),
    hasDown: files.down !== undefined,
    misplaced: misplacedDirectives(files.up).map((m) => ({ line: m.line, name: m.name })),
  };
  try {
    const d = parseDirectives(files.up, `${dir}/up.sql`);
    facts.directives = { irreversible: d.irreversible, requires: d.requires };
  } catch (e) {
    if (!isBraidError(e)) throw e;
    const line = typeof e.data['line'] === 'number' ? e.data['line'] : undefined;
    facts.directiveError = { message: e.message.replace(/^[^:]*:\d+: /, '') };
    if (line !== undefined) facts.directiveError.line = line;
  }
  return facts;
}

export interface CheckInput {
  /** The manifest's text; undefined when the file does not exist. */
  manifestText: string | undefined;
  /**
   * Every directory under .migrations/, by name, with the files it holds. `facts`, when given,
   * must equal folderFacts(files): checkProject then reads `files` only to name the line of a
   * bad `braid:requires` (so a caller may load `files` lazily).
   */
  folders: ReadonlyMap<string, { files: MigrationFiles; facts?: FolderFacts }>;
  /**
   * Other entries, relative to .migrations/: files at the top level besides `manifest`
   * (`notes.txt`), files in a migration folder besides up/down/verify (`<id>/seed.csv`),
   * subdirectories inside a migration folder (`<id>/sub/`). Names starting with `.` are
   * expected to be left out by the caller.
   */
  strayEntries?: readonly string[];
  /** Directories under .migrations/ that have no up.sql (not in `folders`). */
  missingUp?: readonly string[];
  /**
   * Hook for protected history (added by the git layer): the hash each migration has on the
   * protected branch. A migration listed here whose files now hash differently is reported
   * (`protected-edited`).
   */
  protectedHashes?: ReadonlyMap<string, string>;
}

/** Findings, in a stable order: manifest first, then migrations in manifest/name order. */
export function checkProject(input: CheckInput): Finding[] {
  const findings: Finding[] = [];
  const add = (code: string, file: string, line: number | undefined, message: string, id?: string) => {
    const f: Finding = { code, file, message };
    if (line !== undefined) f.line = line;
    const about = id ?? /^\.migrations\/([^/]+)\//.exec(file)?.[1];
    if (about !== undefined) f.id = about;
    findings.push(f);
  };

  let parsed: ParsedManifest | undefined;
  if (input.manifestText === undefined) {
    add('manifest-missing', MANIFEST_PATH, undefined, 'the manifest does not exist (run `braid init`)');
  } else {
    try {
      parsed = parseManifest(input.manifestText, MANIFEST_PATH);
    } catch (e) {
      if (!isBraidError(e)) throw e;
      const line = typeof e.data['line'] === 'number' ? e.data['line'] : undefined;
      const msg = e.message.replace(/^[^:]*:\d+: /, '');
      add('manifest-syntax', MANIFEST_PATH, line, msg);
    }
    if (parsed && !parsed.headerHashOk) {
      add(
        'manifest-header-hash',
        MANIFEST_PATH,
        1,
        "the header hash does not match the lines below (edited by hand or merged without braid's merge driver): review, then run `braid hash`",
      );
    }
  }

  // Migration folders.
  const facts = new Map<string, FolderFacts>();
  const folderNames = [...input.folders.keys()].sort();
  const missingUp = new Set(input.missingUp ?? []);
  for (const name of [...missingUp].sort()) {
    add(
      'missing-up',
      `${MIGRATIONS_DIR}/${name}/up.sql`,
      undefined,
      'up.sql is missing: every migration folder needs one',
    );
  }
  for (const name of folderNames) {
    const dir = `${MIGRATIONS_DIR}/${name}`;
    if (!isValidId(name)) {
      add(
        'invalid-id',
        `${dir}/`,
        undefined,
        `folder name ${JSON.stringify(name)} is not a migration id (YYYYMMDDHHMMSS_slug, slug [a-z0-9_])`,
      );
    }
    const folder = input.folders.get(name)!;
    const f = folder.facts ?? folderFacts(folder.files, dir);
    facts.set(name, f);
    if (f.directiveError) {
      add('invalid-directive', `${dir}/up.sql`, f.directiveError.line, f.directiveError.message);
    }
    for (const m of f.misplaced) {
      add(
        'misplaced-directive',
        `${dir}/up.sql`,
        m.line,
        `braid:${m.name} after the first statement is ignored: directives belong in the comment block at the top`,
      );
    }
    const d = f.directives;
    if (d) {
      if (!f.hasDown && !d.irreversible) {
        add(
          'missing-down',
          `${dir}/down.sql`,
          undefined,
          'down.sql is missing (write the rollback, or mark up.sql `-- braid:irreversible`)',
        );
      }
      if (f.hasDown && d.irreversible) {
        add(
          'irreversible-with-down',
          `${dir}/down.sql`,
          undefined,
          'the migration is marked braid:irreversible but has a down.sql: remove one of them',
        );
      }
    }
  }

  if (parsed) {
    const { manifest, lines } = parsed;
    const order = new Map(manifest.entries.map((e, i) => [e.id, i] as const));
    for (const e of manifest.entries) {
      const line = lines.get(e.id);
      const folder = input.folders.get(e.id);
      if (missingUp.has(e.id)) continue;
      if (!folder) {
        add(
          'missing-folder',
          MANIFEST_PATH,
          line,
          `${e.id} is listed but ${MIGRATIONS_DIR}/${e.id}/ does not exist`,
          e.id,
        );
        continue;
      }
      const hash = facts.get(e.id)!.hash;
      const protectedHash = input.protectedHashes?.get(e.id);
      if (protectedHash !== undefined && protectedHash !== hash) {
        add(
          'protected-edited',
          `${MIGRATIONS_DIR}/${e.id}/`,
          undefined,
          `${e.id} is on the protected branch and its files changed since (${shortHash(protectedHash)} → ${shortHash(hash)}): write a new migration instead`,
        );
      } else if (hash !== e.hash) {
        add(
          'stale-hash',
          MANIFEST_PATH,
          line,
          `the files of ${e.id} changed since it was hashed (${shortHash(e.hash)} → ${shortHash(hash)}): run \`braid hash\``,
          e.id,
        );
      }
      for (const r of facts.get(e.id)!.directives?.requires ?? []) {
        const at = order.get(r);
        if (at === undefined) {
          add(
            'unknown-requires',
            `${MIGRATIONS_DIR}/${e.id}/up.sql`,
            requiresLine(folder.files.up, r),
            `braid:requires ${r}: no such migration in the manifest`,
          );
        } else if (at >= order.get(e.id)!) {
          add(
            'requires-order',
            `${MIGRATIONS_DIR}/${e.id}/up.sql`,
            requiresLine(folder.files.up, r),
            `braid:requires ${r}: it is not listed before ${e.id} in the manifest`,
          );
        }
      }
    }
    for (const name of [...folderNames, ...missingUp].sort()) {
      if (!order.has(name)) {
        add(
          'unlisted-folder',
          `${MIGRATIONS_DIR}/${name}/`,
          undefined,
          `${name} is not listed in ${MANIFEST_PATH} (a migration folder made by hand? \`braid new\` lists it)`,
        );
      }
    }
  }

  for (const s of [...(input.strayEntries ?? [])].sort()) {
    add(
      'stray-entry',
      `${MIGRATIONS_DIR}/${s}`,
      undefined,
      `unexpected entry: ${MIGRATIONS_DIR}/ holds only the manifest and migration folders (up.sql, down.sql, verify.sql)`,
    );
  }
  return findings;
}

function requiresLine(up: string, id: string): number | undefined {
  const lines = up.replace(/\r\n?/g, '\n').split('\n');
  const i = lines.findIndex((l) => /^\s*--\s*braid:requires\b/i.test(l) && l.includes(id));
  return i < 0 ? undefined : i + 1;
}

/** `file:line: message` (or `file: message`), the text form of a finding. */
export function formatFinding(f: Finding): string {
  return `${f.file}${f.line === undefined ? '' : `:${f.line}`}: ${f.message}`;
}
