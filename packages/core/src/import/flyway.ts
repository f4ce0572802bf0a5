/**
 * Flyway: `V<version>__<description>.sql` (versioned), `U<version>__<description>.sql` (undo,
 * Flyway Teams), `R__<description>.sql` (repeatable), anywhere under the directory (Flyway scans
 * locations recursively). Versions are dot- or underscore-separated integers compared part by
 * part (`1.10` after `1.9`; `1.0` equals `1`). Each migration runs in a transaction unless
 * `-- flyway:executeInTransaction=false` heads the file, a `<file>.conf` says
 * `executeInTransaction=false`, or the file holds statements PostgreSQL refuses in a transaction
 * (Flyway detects those and runs the migration without one).
 */
import { basename, compareBytes, importError } from './common';
import { timestampFromVersion } from './assemble';
import { analyzeSql } from './sqlscan';
import type { SourceListing, SourceMigration } from './types';

const VERSIONED_RE = /^([VU])(\d+(?:[._]\d+)*)__(.+)\.sql$/s;
const REPEATABLE_RE = /^R__(.+)\.sql$/s;

function versionParts(v: string): bigint[] {
  const parts = v.split(/[._]/).map((x) => BigInt(x));
  while (parts.length > 1 && parts[parts.length - 1] === 0n) parts.pop();
  return parts;
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
    const vm = VERSIONED_RE.exec(file);
    if (vm) {
      const entry = { version: vm[2], description: vm[3].replace(/_/g, ' '), path };
      (vm[1] === 'V' ? versioned : undo).push(entry);
      continue;
    }
    const rm = REPEATABLE_RE.exec(file);
    if (rm) {
      repeatable.push({ description: rm[1].replace(/_/g, ' '), path });
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
      source: basename(v.path).replace(/\.sql$/, ''),
      name: v.description,
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
  repeatable.sort((a, b) => compareBytes(a.description, b.description));
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
      source: basename(r.path).replace(/\.sql$/, ''),
      name: `repeatable ${r.description}`,
      up: { path: r.path, text },
      mode: modeOf(r.path, text),
      requires: [],
    });
  }
  return out;
}
