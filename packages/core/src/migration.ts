/**
 * The migration model: a folder `.migrations/<id>/` with `up.sql`, `down.sql` (absent only when
 * irreversible) and optional `verify.sql` (DESIGN §1).
 */
import { canonicalText, sha256 } from './hash';
import { parseDirectives, type Directives } from './directives';

/** The folder that holds the migrations, relative to the project root. */
export const MIGRATIONS_DIR = '.migrations';
export const MANIFEST_FILE = 'manifest';
/** The files a migration folder may hold, in hashing order. */
export const MIGRATION_FILES = ['up.sql', 'down.sql', 'verify.sql'] as const;

export interface MigrationFiles {
  up: string;
  down?: string;
  verify?: string;
}

export interface Migration {
  id: string;
  files: MigrationFiles;
  directives: Directives;
  /** hashMigration(files). */
  hash: string;
}

/**
 * The content hash of a migration: `sha256:` + hex over a canonical encoding of up, down and
 * verify. Each file contributes `<name>\0-\0` when absent, or `<name>\0+<length>\0<text>` with
 * its canonical text (BOM removed, CRLF → LF) — so an absent file hashes differently from an
 * empty one, and no content can imitate a file boundary.
 */
export function hashMigration(files: MigrationFiles): string {
  const parts: string[] = [];
  const add = (name: string, text: string | undefined) => {
    if (text === undefined) {
      parts.push(`${name}\0-\0`);
    } else {
      const t = canonicalText(text);
      parts.push(`${name}\0+${Buffer.byteLength(t, 'utf8')}\0${t}`);
    }
  };
  add('up.sql', files.up);
  add('down.sql', files.down);
  add('verify.sql', files.verify);
  return sha256('braid-migration 1\0' + parts.join(''));
}

/** Builds a Migration (parsing directives; errors name `<dir>/<id>/up.sql:LINE`). */
export function makeMigration(id: string, files: MigrationFiles, dir = MIGRATIONS_DIR): Migration {
  return {
    id,
    files,
    directives: parseDirectives(files.up, `${dir}/${id}/up.sql`),
    hash: hashMigration(files),
  };
}
