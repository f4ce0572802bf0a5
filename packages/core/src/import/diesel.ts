/**
 * Diesel: `<dir>/<version>_<name>/up.sql`, `down.sql` (optional), `metadata.toml`
 * (`run_in_transaction = false`). Diesel's own rule (diesel_migrations: `version_from_string`,
 * `migrations_directories`, `MigrationHarness::pending_migrations`): the version is the folder
 * name up to its first `_` with every `-` removed (`2017-08-31-230457_x` -> `20170831230457`),
 * and pending migrations run sorted by that version as a string (byte order). Plain files and
 * folders whose name starts with `.` are skipped; any other non-empty folder must hold an
 * `up.sql` (Diesel refuses the directory otherwise). Each migration runs in a transaction unless
 * metadata.toml says `run_in_transaction = false`; a metadata.toml Diesel cannot read is ignored
 * by Diesel (the migration runs in a transaction), and by braid, with a warning.
 */
import type * as SmolToml from 'smol-toml' with { 'resolution-mode': 'import' };
import { compareBytes, importError } from './common';
import { timestampFromVersion } from './assemble';
import type { SourceListing, SourceMigration } from './types';

/** smol-toml ships CommonJS too; loaded only when a metadata.toml is met. */
function loadToml(): typeof SmolToml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('smol-toml') as typeof SmolToml;
}

/** Diesel's version of a migration folder name: up to the first `_`, every `-` removed. */
export function dieselVersion(folder: string): string {
  const us = folder.indexOf('_');
  return (us < 0 ? folder : folder.slice(0, us)).replace(/-/g, '');
}

export function parseDiesel(listing: SourceListing, warnings: string[]): SourceMigration[] {
  const folders = new Map<string, Set<string>>();
  for (const p of Object.keys(listing)) {
    const parts = p.split('/');
    if (parts.length === 1) continue; // diesel.toml, .keep, README at the top: not migrations
    if (parts[0].startsWith('.')) continue; // Diesel skips hidden folders
    if (parts.length !== 2) {
      warnings.push(`${p}: ignored (diesel migrations are <version>_<name>/up.sql, down.sql, metadata.toml)`);
      continue;
    }
    const [folder, file] = parts as [string, string];
    if (!folders.has(folder)) folders.set(folder, new Set());
    folders.get(folder)!.add(file);
  }
  const out: SourceMigration[] = [];
  const seen = new Map<string, string>();
  for (const [folder, files] of folders) {
    if (!files.has('up.sql'))
      throw importError(
        `${folder}/`,
        `no up.sql: not a diesel migration (diesel refuses a migrations directory holding it too); remove the folder or add its up.sql`,
      );
    const us = folder.indexOf('_');
    const version = dieselVersion(folder);
    const name = us < 0 ? '' : folder.slice(us + 1);
    if (version === '')
      throw importError(`${folder}/`, 'not a diesel migration folder name (<version>_<name>)');
    const dup = seen.get(version);
    if (dup !== undefined)
      throw importError(
        `${folder}/`,
        `duplicate version ${version}: ${dup}/ has the same one once "-" are removed (diesel would run only one of them); rename one`,
      );
    seen.set(version, folder);
    for (const f of files)
      if (!['up.sql', 'down.sql', 'metadata.toml'].includes(f) && !f.startsWith('.'))
        warnings.push(`${folder}/${f}: ignored`);
    let mode: SourceMigration['mode'] = 'tx';
    const metaPath = `${folder}/metadata.toml`;
    if (files.has('metadata.toml')) {
      let meta: Record<string, unknown> | undefined;
      try {
        meta = loadToml().parse(listing[metaPath]);
      } catch (e) {
        warnings.push(
          `${metaPath}: invalid TOML (${(e instanceof Error ? e.message : String(e)).split('\n')[0]}); diesel ignores it and runs the migration in a transaction, and so does braid`,
        );
      }
      const rit = meta?.['run_in_transaction'];
      if (rit !== undefined && typeof rit !== 'boolean')
        warnings.push(
          `${metaPath}: run_in_transaction is not true or false; diesel ignores the file and runs the migration in a transaction, and so does braid`,
        );
      if (rit === false) mode = 'no-tx';
    }
    const m: SourceMigration = {
      version,
      source: folder,
      name: name === '' ? version : name,
      up: { path: `${folder}/up.sql`, text: listing[`${folder}/up.sql`] },
      mode,
      requires: [],
    };
    const ts = timestampFromVersion(version);
    if (ts !== undefined) m.timestamp = ts;
    if (files.has('down.sql')) m.down = { path: `${folder}/down.sql`, text: listing[`${folder}/down.sql`] };
    out.push(m);
  }
  out.sort((a, b) => compareBytes(a.version, b.version));
  return out;
}
