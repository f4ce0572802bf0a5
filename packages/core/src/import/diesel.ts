/**
 * Diesel: `<dir>/<version>_<name>/up.sql`, `down.sql` (optional), `metadata.toml`
 * (`run_in_transaction = false`). Diesel applies migrations ordered by the version string (the
 * folder name up to its first `_`), each in a transaction unless metadata.toml says otherwise.
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

export function parseDiesel(listing: SourceListing, warnings: string[]): SourceMigration[] {
  const folders = new Map<string, Set<string>>();
  for (const p of Object.keys(listing)) {
    const parts = p.split('/');
    if (parts.length === 1) continue; // diesel.toml, .keep, README at the top: not migrations
    if (parts.length !== 2) {
      warnings.push(`${p}: ignored (diesel migrations are <version>_<name>/up.sql, down.sql, metadata.toml)`);
      continue;
    }
    const [folder, file] = parts as [string, string];
    if (!folders.has(folder)) folders.set(folder, new Set());
    folders.get(folder)!.add(file);
  }
  const out: (SourceMigration & { version: string })[] = [];
  const seen = new Map<string, string>();
  for (const [folder, files] of folders) {
    if (!files.has('up.sql')) {
      if (files.has('down.sql')) throw importError(`${folder}/down.sql`, 'a down.sql without an up.sql');
      warnings.push(`${folder}/: ignored (no up.sql)`);
      continue;
    }
    const us = folder.indexOf('_');
    const version = us < 0 ? folder : folder.slice(0, us);
    const name = us < 0 ? '' : folder.slice(us + 1);
    if (version === '')
      throw importError(`${folder}/`, 'not a diesel migration folder name (<version>_<name>)');
    const dup = seen.get(version);
    if (dup !== undefined) throw importError(`${folder}/`, `duplicate version ${version} (also ${dup}/)`);
    seen.set(version, folder);
    for (const f of files)
      if (!['up.sql', 'down.sql', 'metadata.toml'].includes(f)) warnings.push(`${folder}/${f}: ignored`);
    let mode: SourceMigration['mode'] = 'tx';
    const metaPath = `${folder}/metadata.toml`;
    if (files.has('metadata.toml')) {
      let meta: Record<string, unknown>;
      try {
        meta = loadToml().parse(listing[metaPath]);
      } catch (e) {
        throw importError(
          metaPath,
          `invalid TOML: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`,
        );
      }
      const rit = meta['run_in_transaction'];
      if (rit !== undefined && typeof rit !== 'boolean')
        throw importError(metaPath, 'run_in_transaction must be true or false');
      if (rit === false) mode = 'no-tx';
    }
    const m: SourceMigration & { version: string } = {
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
