/**
 * `.migrations/manifest`: the lineage. A versioned, line-oriented, diff-friendly text file:
 *
 *   braid-manifest 1 sha256:<hex of the body>
 *   20261125101500_create_users sha256:<hex> -
 *   20261125101600_add_phone sha256:<hex> 20261125101500_create_users
 *
 * Line 1 is the header: the format version and the hash of the canonical body (every following
 * entry line, each ending in `\n`). Each following line is one migration in canonical apply
 * order: its id, its content hash (hashMigration) and its parents, space-separated (the DAG heads
 * when it was created; `-` for none). Parents must be listed on earlier lines, so the order is
 * always a topological order of the DAG. Because every change of the body changes line 1, two
 * branches that each add a migration always conflict in git unless braid's merge driver
 * resolves the merge. Blank lines are ignored; there are no comments (braid rewrites the file).
 */
import { UsageError } from './errors';
import { canonicalText, HASH_RE, sha256 } from './hash';
import { isValidId } from './ids';
import { MANIFEST_FILE, MIGRATIONS_DIR } from './migration';

export const MANIFEST_VERSION = 1;
export const MANIFEST_PATH = `${MIGRATIONS_DIR}/${MANIFEST_FILE}`;

export interface ManifestEntry {
  id: string;
  hash: string;
  /** The heads of the DAG when this migration was created (empty for a root). */
  parents: string[];
}

export interface Manifest {
  entries: ManifestEntry[];
}

export interface ParsedManifest {
  manifest: Manifest;
  /** Whether line 1's hash matches the body (false after a hand edit or a naive merge). */
  headerHashOk: boolean;
  /** The hash written on line 1. */
  headerHash: string;
  /** The 1-based line of each entry's id in the parsed text. */
  lines: Map<string, number>;
}

export function emptyManifest(): Manifest {
  return { entries: [] };
}

function entryLine(e: ManifestEntry): string {
  return `${e.id} ${e.hash} ${e.parents.length === 0 ? '-' : e.parents.join(' ')}`;
}

/** The canonical body: one line per entry, each ending in a newline. */
export function serializeManifestBody(manifest: Manifest): string {
  return manifest.entries.map((e) => entryLine(e) + '\n').join('');
}

/** The hash line 1 carries for this manifest. */
export function manifestBodyHash(manifest: Manifest): string {
  return sha256(serializeManifestBody(manifest));
}

/** The whole file, with a fresh header hash. */
export function serializeManifest(manifest: Manifest): string {
  return (
    `braid-manifest ${MANIFEST_VERSION} ${manifestBodyHash(manifest)}\n` + serializeManifestBody(manifest)
  );
}

/**
 * Parses a manifest. Malformed input throws UsageError `FILE:LINE: reason` (code
 * `invalid-manifest`, data {file, line}). A stale header hash is not an error here: it is
 * reported as `headerHashOk: false` (braid check turns it into a finding, braid hash fixes it).
 */
export function parseManifest(text: string, file: string = MANIFEST_PATH): ParsedManifest {
  const fail = (line: number, reason: string): never => {
    throw new UsageError('invalid-manifest', `${file}:${line}: ${reason}`, { data: { file, line } });
  };
  const lines = canonicalText(text).split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    if (/^(<{7}|={7}|>{7}|\|{7})( |$)/.test(lines[i])) {
      fail(
        i + 1,
        "unresolved git merge conflict marker (resolve it, or let braid's merge driver merge the manifest)",
      );
    }
  }
  const header = lines[0];
  if (header === undefined || header.trim() === '')
    fail(1, 'empty manifest: expected "braid-manifest 1 sha256:<hex>"');
  const hm = /^braid-manifest (\S+) (\S+)$/.exec(header.trim());
  if (!hm)
    fail(
      1,
      `expected the header "braid-manifest ${MANIFEST_VERSION} sha256:<hex>", found ${JSON.stringify(header)}`,
    );
  const [, version, headerHash] = hm!;
  if (!/^\d+$/.test(version)) fail(1, `format version ${JSON.stringify(version)} is not a number`);
  if (Number(version) > MANIFEST_VERSION) {
    fail(
      1,
      `format version ${version} is newer than this braid understands (${MANIFEST_VERSION}): upgrade braid`,
    );
  }
  if (Number(version) !== MANIFEST_VERSION) fail(1, `unsupported format version ${version}`);
  if (!HASH_RE.test(headerHash))
    fail(1, `header hash ${JSON.stringify(headerHash)} is not sha256:<64 hex digits>`);

  const entries: ManifestEntry[] = [];
  const lineOf = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i];
    if (raw.trim() === '') continue;
    const fields = raw.trim().split(/\s+/);
    if (fields.length < 3) {
      fail(n, `expected "<id> sha256:<hex> <parents or ->", found ${JSON.stringify(raw)}`);
    }
    const [id, hash, ...parentFields] = fields as [string, string, ...string[]];
    if (!isValidId(id))
      fail(n, `${JSON.stringify(id)} is not a migration id (YYYYMMDDHHMMSS_slug, slug [a-z0-9_])`);
    if (lineOf.has(id)) fail(n, `duplicate id ${id} (first listed on line ${lineOf.get(id)})`);
    if (!HASH_RE.test(hash)) fail(n, `hash ${JSON.stringify(hash)} of ${id} is not sha256:<64 hex digits>`);
    let parents: string[] = [];
    if (!(parentFields.length === 1 && parentFields[0] === '-')) {
      for (const p of parentFields) {
        if (p === '-') fail(n, `"-" (no parents) cannot be combined with parent ids`);
        if (!isValidId(p)) fail(n, `parent ${JSON.stringify(p)} of ${id} is not a migration id`);
        if (p === id) fail(n, `${id} lists itself as a parent`);
        if (parentFields.indexOf(p) !== parentFields.lastIndexOf(p))
          fail(n, `parent ${p} of ${id} is listed twice`);
        if (!lineOf.has(p)) fail(n, `parent ${p} of ${id} is not listed on an earlier line`);
      }
      parents = parentFields;
    }
    lineOf.set(id, n);
    entries.push({ id, hash, parents });
  }
  const manifest = { entries };
  return {
    manifest,
    headerHashOk: manifestBodyHash(manifest) === headerHash,
    headerHash: headerHash,
    lines: lineOf,
  };
}

/** Ids that are nobody's parent, in manifest order (the DAG's heads; `braid new` uses them as parents). */
export function heads(manifest: Manifest): string[] {
  const isParent = new Set<string>();
  for (const e of manifest.entries) for (const p of e.parents) isParent.add(p);
  return manifest.entries.filter((e) => !isParent.has(e.id)).map((e) => e.id);
}

/**
 * Every migration `id` transitively depends on, without `id` itself: through parents and, when
 * given, `requires` (the `-- braid:requires` directives, which live in up.sql, not the manifest).
 */
export function ancestors(
  manifest: Manifest,
  id: string,
  requires?: ReadonlyMap<string, readonly string[]>,
): Set<string> {
  const parentsOf = new Map(manifest.entries.map((e) => [e.id, e.parents] as const));
  const out = new Set<string>();
  const stack = [id];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    const next = [...(parentsOf.get(cur) ?? []), ...(requires?.get(cur) ?? [])];
    for (const p of next) {
      if (p !== id && !out.has(p)) {
        out.add(p);
        stack.push(p);
      }
    }
  }
  return out;
}

/** Appends a migration whose parents are the current heads; returns a new manifest. */
export function appendMigration(manifest: Manifest, id: string, hash: string): Manifest {
  if (manifest.entries.some((e) => e.id === id)) {
    throw new UsageError('duplicate-id', `${id} is already listed in ${MANIFEST_PATH}`);
  }
  return { entries: [...manifest.entries, { id, hash, parents: heads(manifest) }] };
}

export interface RehashResult {
  manifest: Manifest;
  changed: { id: string; from: string; to: string }[];
  /** Changed migrations that `isProtected` says are immutable; their hashes were kept. */
  refused: { id: string; from: string; to: string }[];
  /** Listed migrations for which no current hash was given (folder missing). */
  missing: string[];
}

/**
 * The manifest with each entry's hash replaced by `current.get(id)` (the pure core of `braid
 * hash`). `isProtected(id)` is the hook for protected history (DESIGN §1: migrations reachable
 * from the protected branch are immutable): a protected migration whose hash changed is listed
 * in `refused` and keeps its old hash.
 */
export function rehashManifest(
  manifest: Manifest,
  current: ReadonlyMap<string, string>,
  opts: { isProtected?: (id: string) => boolean } = {},
): RehashResult {
  const changed: RehashResult['changed'] = [];
  const refused: RehashResult['refused'] = [];
  const missing: string[] = [];
  const entries = manifest.entries.map((e) => {
    const now = current.get(e.id);
    if (now === undefined) {
      missing.push(e.id);
      return e;
    }
    if (now === e.hash) return e;
    if (opts.isProtected?.(e.id)) {
      refused.push({ id: e.id, from: e.hash, to: now });
      return e;
    }
    changed.push({ id: e.id, from: e.hash, to: now });
    return { ...e, hash: now };
  });
  return { manifest: { entries }, changed, refused, missing };
}
