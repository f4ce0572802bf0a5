/**
 * golang-migrate: `<dir>/<N>_<name>.up.sql` and `<N>_<name>.down.sql` (N digits of any width,
 * sequence numbers or timestamps), top level only, applied in numeric order of N. golang-migrate
 * sends each file as it is: the file decides its transactions ('as-is' mode).
 */
import { compareNumeric, importError, topLevelFiles } from './common';
import { timestampFromVersion } from './assemble';
import type { SourceListing, SourceMigration } from './types';

const FILE_RE = /^(\d+)_(.*)\.(up|down)\.([^.]+)$/s;

export function parseGolangMigrate(listing: SourceListing, warnings: string[]): SourceMigration[] {
  for (const p of Object.keys(listing))
    if (p.includes('/'))
      warnings.push(`${p}: ignored (golang-migrate reads the top level of the directory only)`);
  const byVersion = new Map<string, { version: string; up?: [string, string]; down?: [string, string] }>();
  for (const file of topLevelFiles(listing).sort()) {
    const m = FILE_RE.exec(file);
    if (!m) {
      warnings.push(`${file}: ignored (not <N>_<name>.up.sql or .down.sql)`);
      continue;
    }
    const [, digits, name, dir, ext] = m as unknown as [string, string, string, 'up' | 'down', string];
    if (ext !== 'sql') {
      warnings.push(`${file}: ignored (not a .sql file)`);
      continue;
    }
    const key = BigInt(digits).toString();
    let entry = byVersion.get(key);
    if (!entry) byVersion.set(key, (entry = { version: digits }));
    const other = entry[dir];
    if (other) throw importError(file, `duplicate ${dir} migration for version ${key} (also ${other[0]})`);
    entry[dir] = [file, name];
  }
  const out: (SourceMigration & { version: string })[] = [];
  for (const [key, e] of byVersion) {
    if (!e.up) throw importError(e.down![0], `a down migration without an up migration for version ${key}`);
    const [upFile, name] = e.up;
    if (e.down && e.down[1] !== name)
      warnings.push(`${e.down[0]}: name differs from ${upFile}; paired by version ${key}`);
    const m: SourceMigration & { version: string } = {
      version: e.version,
      source: upFile.replace(/\.up\.sql$/, ''),
      name: name === '' ? e.version : name,
      up: { path: upFile, text: listing[upFile] },
      mode: 'as-is',
      requires: [],
    };
    const ts = timestampFromVersion(e.version);
    if (ts !== undefined) m.timestamp = ts;
    if (e.down) m.down = { path: e.down[0], text: listing[e.down[0]] };
    out.push(m);
  }
  out.sort((a, b) => compareNumeric(a.version, b.version));
  return out;
}
