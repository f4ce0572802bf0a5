/**
 * golang-migrate: `<dir>/<N>_<name>.up.<ext>` and `<N>_<name>.down.<ext>` at the top level (its
 * file source reads one directory, `source.Regex` = `^([0-9]+)_(.*)\.(down|up)\.(.*)$`). N is
 * parsed with `strconv.ParseUint(N, 10, 64)`: a name whose N does not fit is skipped by
 * golang-migrate (and here, with a warning); `1` and `01` are the same version (a duplicate,
 * refused by both). Migrations run in numeric order of N. Any extension counts (`.sql` is the
 * norm; another one is imported with a warning). golang-migrate sends each file as it is: the
 * file decides its transactions ('as-is' mode).
 */
import { importError, topLevelFiles } from './common';
import { timestampFromUnix, timestampFromVersion } from './assemble';
import type { SourceListing, SourceMigration } from './types';

const FILE_RE = /^([0-9]+)_(.*)\.(up|down)\.(.*)$/s;
const UINT64_MAX = 2n ** 64n - 1n;

export function parseGolangMigrate(listing: SourceListing, warnings: string[]): SourceMigration[] {
  for (const p of Object.keys(listing))
    if (p.includes('/'))
      warnings.push(`${p}: ignored (golang-migrate reads the top level of the directory only)`);
  const byVersion = new Map<
    string,
    { version: string; up?: [string, string, string]; down?: [string, string, string] }
  >();
  for (const file of topLevelFiles(listing).sort()) {
    const m = FILE_RE.exec(file);
    if (!m) {
      warnings.push(`${file}: ignored (not <N>_<name>.up.sql or .down.sql)`);
      continue;
    }
    const [, digits, name, dir, ext] = m as unknown as [string, string, string, 'up' | 'down', string];
    if (BigInt(digits) > UINT64_MAX) {
      warnings.push(`${file}: ignored (its version does not fit in 64 bits; golang-migrate skips it too)`);
      continue;
    }
    if (ext !== 'sql')
      warnings.push(
        `${file}: imported although its extension is .${ext}, not .sql (golang-migrate runs any ${dir} file whose name matches)`,
      );
    const key = BigInt(digits).toString();
    let entry = byVersion.get(key);
    if (!entry) byVersion.set(key, (entry = { version: digits }));
    const other = entry[dir];
    if (other) throw importError(file, `duplicate ${dir} migration for version ${key} (also ${other[0]})`);
    entry[dir] = [file, name, digits];
  }
  const out: { number: bigint; m: SourceMigration }[] = [];
  for (const [key, e] of byVersion) {
    if (!e.up) throw importError(e.down![0], `a down migration without an up migration for version ${key}`);
    const [upFile, name, upDigits] = e.up;
    if (e.down && e.down[1] !== name)
      warnings.push(`${e.down[0]}: name differs from ${upFile}; paired by version ${key}`);
    const m: SourceMigration = {
      version: key,
      source: `${upDigits}_${name}`,
      name: name === '' ? upDigits : name,
      up: { path: upFile, text: listing[upFile] },
      mode: 'as-is',
      requires: [],
    };
    const ts = timestampFromVersion(upDigits) ?? timestampFromUnix(upDigits);
    if (ts !== undefined) m.timestamp = ts;
    if (e.down) m.down = { path: e.down[0], text: listing[e.down[0]] };
    out.push({ number: BigInt(key), m });
  }
  out.sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
  return out.map((x) => x.m);
}
