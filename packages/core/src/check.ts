/**
 * `braid check`, the pure part: integrity of the manifest and the migration folders. Runs in
 * the pre-commit hook, so it needs no database and no SQL parser.
 */
import { isBraidError } from './errors';
import { shortHash } from './hash';
import { isValidId } from './ids';
import { MANIFEST_PATH, parseManifest, type ParsedManifest } from './manifest';
import { hashMigration, MIGRATIONS_DIR, type MigrationFiles } from './migration';
import { misplacedDirectives, parseDirectives, type Directives } from './directives';

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

export interface CheckInput {
  /** The manifest's text; undefined when the file does not exist. */
  manifestText: string | undefined;
  /** Every directory under .migrations/, by name, with the files it holds. */
  folders: ReadonlyMap<string, { files: MigrationFiles }>;
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
  const directives = new Map<string, Directives>();
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
    const { files } = input.folders.get(name)!;
    let d: Directives | undefined;
    try {
      d = parseDirectives(files.up, `${dir}/up.sql`);
      directives.set(name, d);
    } catch (e) {
      if (!isBraidError(e)) throw e;
      const line = typeof e.data['line'] === 'number' ? e.data['line'] : undefined;
      add('invalid-directive', `${dir}/up.sql`, line, e.message.replace(/^[^:]*:\d+: /, ''));
    }
    for (const m of misplacedDirectives(files.up)) {
      add(
        'misplaced-directive',
        `${dir}/up.sql`,
        m.line,
        `braid:${m.name} after the first statement is ignored: directives belong in the comment block at the top`,
      );
    }
    if (d) {
      if (files.down === undefined && !d.irreversible) {
        add(
          'missing-down',
          `${dir}/down.sql`,
          undefined,
          'down.sql is missing (write the rollback, or mark up.sql `-- braid:irreversible`)',
        );
      }
      if (files.down !== undefined && d.irreversible) {
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
      const hash = hashMigration(folder.files);
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
      for (const r of directives.get(e.id)?.requires ?? []) {
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
