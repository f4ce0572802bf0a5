// The apply order of a source tool's migration folder, computed here independently of braid's
// importers (this is the oracle braid's import is compared with). Each entry: { name, version,
// up, down, transactional }. Only what the fidelity loop needs: diesel and golang-migrate.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

function read(p) {
  return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
}

/**
 * Diesel (diesel_migrations): every sub-folder not starting with "." that holds an up.sql; its
 * version is the folder name up to the first "_" with every "-" removed; pending migrations are
 * sorted by that version as a string. run_in_transaction = false in metadata.toml runs the file
 * outside a transaction (one batch_execute: one simple-query message).
 */
function diesel(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (name.startsWith('.') || !statSync(p).isDirectory() || !existsSync(path.join(p, 'up.sql'))) continue;
    const meta = read(path.join(p, 'metadata.toml')) ?? '';
    out.push({
      name,
      version: name.split('_')[0].replace(/-/g, ''),
      up: read(path.join(p, 'up.sql')),
      down: read(path.join(p, 'down.sql')),
      transactional: !/^\s*run_in_transaction\s*=\s*false\s*$/m.test(meta),
    });
  }
  return out.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
}

/** golang-migrate: <uint>_<name>.up.sql / .down.sql at the top level, numeric order, sent as is. */
function golangMigrate(dir) {
  const byVersion = new Map();
  for (const f of readdirSync(dir)) {
    const m = /^(\d+)_(.*)\.(up|down)\.sql$/.exec(f);
    if (!m) continue;
    const v = BigInt(m[1]);
    const e = byVersion.get(v) ?? { name: `${m[1]}_${m[2]}`, version: v.toString(), transactional: false };
    e[m[3]] = readFileSync(path.join(dir, f), 'utf8');
    byVersion.set(v, e);
  }
  return [...byVersion.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map((x) => x[1])
    .filter((e) => e.up !== undefined);
}

export function sourceOrder(tool, dir) {
  if (tool === 'diesel') return diesel(dir);
  if (tool === 'golang-migrate') return golangMigrate(dir);
  throw new Error(`source-order: unknown tool ${tool} (diesel, golang-migrate)`);
}
