/**
 * Flyway: `V<version>__<description>.sql` (versioned), `U<version>__<description>.sql` (undo,
 * Flyway Teams), `R__<description>.sql` (repeatable), anywhere under the directory (Flyway scans
 * locations recursively; the `.sql` suffix in any case). As Flyway's ResourceNameParser and
 * MigrationVersion read a name: the version is what precedes the first `__` (all of the name
 * when there is none: `V1.sql` is version 1 with an empty description), `_` in it stands for `.`,
 * its parts are the pieces between dots that precede a digit, each an integer; versions compare
 * part by part as numbers (`1.10` after `1.9`; trailing zero parts do not count: `1.0` equals
 * `1`). Flyway's ResolvedMigrationComparator puts versioned migrations first, by version, then
 * repeatable ones by description (Java string order: UTF-16 code units, as JavaScript compares
 * strings). Each migration runs in a transaction unless
 * `-- flyway:executeInTransaction=false` heads the file, a `<file>.conf` says
 * `executeInTransaction=false`, or the file holds statements PostgreSQL refuses in a transaction
 * (Flyway detects those and runs the migration without one).
 */
import { basename, compareBytes, importError } from './common';
import { timestampFromVersion } from './assemble';
import { analyzeSql } from './sqlscan';
import type { SourceListing, SourceMigration } from './types';

/** A file name as Flyway reads it, or undefined when it is not a V/U/R migration. */
export function parseFlywayName(
  file: string,
): { kind: 'V' | 'U' | 'R'; version: string; description: string } | undefined {
  if (!/\.sql$/i.test(file)) return undefined;
  const base = file.slice(0, -4);
  const kind = base[0];
  if (kind !== 'V' && kind !== 'U' && kind !== 'R') return undefined;
  const rest = base.slice(1);
  const sep = rest.indexOf('__');
  const version = sep < 0 ? rest : rest.slice(0, sep);
  const description = (sep < 0 ? '' : rest.slice(sep + 2)).replace(/_/g, ' ');
  if (kind === 'R') return version === '' ? { kind, version, description } : undefined;
  if (version === '' || !normalizedVersion(version)) return undefined;
  return { kind, version: normalizedVersion(version)!, description };
}

/** Flyway's display form of a version (`_` -> `.`), when every part is a number; else undefined. */
function normalizedVersion(v: string): string | undefined {
  const n = v.replace(/_/g, '.');
  return n.split(/\.(?=\d)/).every((p) => /^\d+$/.test(p)) ? n : undefined;
}

function versionParts(v: string): bigint[] {
  const parts = v
    .replace(/_/g, '.')
    .split(/\.(?=\d)/)
    .map((x) => BigInt(x));
  while (parts.length > 1 && parts[parts.length - 1] === 0n) parts.pop();
  return parts;
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/**
 * Flyway's checksum of a script (ChecksumCalculator): CRC-32 over the UTF-8 bytes of its lines
 * without their line breaks (`\n`, `\r\n` or `\r`, as Java's readLine splits them), a leading
 * byte-order mark dropped, as a signed 32-bit integer (the `checksum` column of
 * flyway_schema_history).
 */
export function flywayChecksum(text: string): number {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop(); // a final line break ends the last line
  let crc = -1;
  const bytes = new TextEncoder().encode(text === '' ? '' : lines.join(''));
  for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) | 0;
}

export function compareFlywayVersions(a: string, b: string): number {
  const x = versionParts(a);
  const y = versionParts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i] ?? 0n;
    const q = y[i] ?? 0n;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/** executeInTransaction from the script's header comments or its .conf file. */
function executeInTransaction(path: string, text: string, listing: SourceListing): boolean | undefined {
  let value: string | undefined;
  for (const line of text.replace(/^\uFEFF/, '').split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (!t.startsWith('--')) break;
    const m = /^--\s*flyway:executeInTransaction\s*=\s*(\S+)\s*$/i.exec(t);
    if (m) value = m[1].toLowerCase();
  }
  const conf = listing[`${path}.conf`];
  if (conf !== undefined) {
    for (const line of conf.split('\n')) {
      const m = /^\s*executeInTransaction\s*=\s*(\S+)\s*$/i.exec(line);
      if (m) value = m[1].toLowerCase();
    }
  }
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false')
    throw importError(path, `executeInTransaction=${value} must be true or false`);
  return value === 'true';
}

export function parseFlyway(listing: SourceListing, warnings: string[]): SourceMigration[] {
  interface V {
    version: string;
    description: string;
    path: string;
  }
  const versioned: V[] = [];
  const undo: V[] = [];
  const repeatable: { description: string; path: string }[] = [];
  for (const path of Object.keys(listing).sort(compareBytes)) {
    const file = basename(path);
    if (file.endsWith('.sql.conf') || file.startsWith('.')) continue;
    const parsed = parseFlywayName(file);
    if (parsed?.kind === 'R') {
      repeatable.push({ description: parsed.description, path });
      continue;
    }
    if (parsed) {
      const entry = { version: parsed.version, description: parsed.description, path };
      (parsed.kind === 'V' ? versioned : undo).push(entry);
      continue;
    }
    const baseline = /^B([0-9._]+?)(?:__.*)?\.sql$/i.exec(file);
    if (baseline) {
      warnings.push(
        `${path}: a Flyway baseline migration, ignored: on a new database Flyway runs it instead of the versioned migrations up to ${baseline[1].replace(/_/g, '.')}; braid has no baseline migrations and imports the versioned ones (check they build the same schema)`,
      );
      continue;
    }
    warnings.push(`${path}: ignored (not V<version>__<description>.sql, U...__ or R__...)`);
  }
  versioned.sort((a, b) => compareFlywayVersions(a.version, b.version));
  for (let i = 1; i < versioned.length; i++) {
    if (compareFlywayVersions(versioned[i - 1].version, versioned[i].version) === 0)
      throw importError(
        versioned[i].path,
        `duplicate version ${versioned[i].version} (also ${versioned[i - 1].path})`,
      );
  }
  const undoByVersion = new Map<V, V>();
  for (const u of undo) {
    const v = versioned.find((x) => compareFlywayVersions(x.version, u.version) === 0);
    if (!v) throw importError(u.path, `an undo migration without a versioned migration V${u.version}__*.sql`);
    if (undoByVersion.has(v))
      throw importError(
        u.path,
        `duplicate undo for version ${u.version} (also ${undoByVersion.get(v)!.path})`,
      );
    undoByVersion.set(v, u);
  }
  const modeOf = (path: string, text: string): SourceMigration['mode'] => {
    const eit = executeInTransaction(path, text, listing);
    if (eit === false) return 'no-tx';
    if (eit === undefined && analyzeSql(text).nonTransactional.length > 0) return 'no-tx';
    return 'tx';
  };
  const placeholders = (path: string, text: string): void => {
    if (/\$\{[^}]+\}/.test(text))
      warnings.push(`${path}: contains Flyway placeholders (\${...}); braid does not substitute them`);
  };
  const out: SourceMigration[] = versioned.map((v) => {
    const text = listing[v.path];
    placeholders(v.path, text);
    const m: SourceMigration = {
      source: basename(v.path).replace(/\.sql$/i, ''),
      name: v.description === '' ? v.version : v.description,
      version: v.version,
      checksum: String(flywayChecksum(text)),
      up: { path: v.path, text },
      mode: modeOf(v.path, text),
      requires: [],
    };
    const ts = timestampFromVersion(v.version);
    if (ts !== undefined) m.timestamp = ts;
    const u = undoByVersion.get(v);
    if (u) {
      placeholders(u.path, listing[u.path]);
      m.down = { path: u.path, text: listing[u.path] };
    }
    return m;
  });
  // Repeatables: Flyway applies them after the versioned migrations, ordered by description, and
  // re-applies one whenever its checksum changes. braid imports each once, at the end.
  repeatable.sort((a, b) => (a.description < b.description ? -1 : a.description > b.description ? 1 : 0));
  for (let i = 1; i < repeatable.length; i++)
    if (repeatable[i - 1].description === repeatable[i].description)
      throw importError(
        repeatable[i].path,
        `duplicate repeatable description (also ${repeatable[i - 1].path})`,
      );
  for (const r of repeatable) {
    const text = listing[r.path];
    placeholders(r.path, text);
    warnings.push(
      `${r.path}: repeatable migration imported once, after the versioned ones; braid will not re-run it when it changes (write a new migration instead)`,
    );
    out.push({
      source: basename(r.path).replace(/\.sql$/i, ''),
      name: `repeatable ${r.description}`,
      version: 'R',
      checksum: String(flywayChecksum(text)),
      up: { path: r.path, text },
      mode: modeOf(r.path, text),
      requires: [],
    });
  }
  return out;
}
