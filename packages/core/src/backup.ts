/**
 * Pre-change backups (docs/backups.md), the pure part: the archive format, the backup key, the
 * archive's name and the retention rules. No file or database I/O here (node:crypto and node:zlib
 * work on buffers).
 *
 * An archive is
 *
 *   <header: one line of JSON> "\n" <AES-256-GCM ciphertext of gzip(table data…)> <16-byte tag>
 *
 * The header names the migration, the target (without password or user), the time, the git
 * commit, the key id (a fingerprint of the key, never the key), the random IV and, per table,
 * the copied columns, their types, the key columns, the row count, the byte length and the
 * SHA-256 of its plaintext COPY data. The header line is the cipher's additional authenticated
 * data: changing one byte of it, of the ciphertext or of the tag makes decryption fail. The
 * per-table checksums are checked again after decryption (and by `braid backup verify`).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { FindingsError, UsageError } from './errors';

export const BACKUP_FORMAT = 'braid-backup 1';
/** Archive files end with this. */
export const BACKUP_EXT = '.braidbak';
/** The environment variable holding the key (base64 or hex of 32 bytes). */
export const BACKUP_KEY_ENV = 'BRAID_BACKUP_KEY';

export type BackupScope = 'table' | 'columns' | 'rows';

export interface ArchiveTable {
  schema: string;
  name: string;
  scope: BackupScope;
  /** The copied columns, in COPY order, and their types (format_type at backup time). */
  columns: string[];
  types: string[];
  /** The primary key (or a unique not-null index) columns; [] when the table has none. */
  key: string[];
  /** `rows` scope: the conditions (ORed) and the qualifier they name the table by. */
  where?: string[];
  qualifier?: string;
  rows: number;
  /** Bytes of plaintext COPY text data. */
  bytes: number;
  /** sha256:<hex> of the plaintext COPY data. */
  sha256: string;
  /** Why it was copied ("drop-column email (line 3)"). */
  reasons: string[];
}

export interface ArchiveHeader {
  format: typeof BACKUP_FORMAT;
  migration: string;
  /** The target database, password and user removed ("postgres://host:5432/app"). */
  target: string;
  /** ISO time the backup was taken. */
  createdAt: string;
  commit: string | null;
  /** sha256 fingerprint of the key (domain-separated), never the key. */
  keyId: string;
  /** base64 of the 12-byte GCM IV. */
  iv: string;
  compression: 'gzip';
  tables: ArchiveTable[];
}

export class BackupKeyError extends UsageError {}
export class BackupArchiveError extends FindingsError {}

/**
 * The 32-byte key from its text: 64 hex digits or base64 (standard or url-safe) of 32 bytes.
 * `source` names where it came from (BRAID_BACKUP_KEY, a key file) in the error, never the value.
 */
export function parseBackupKey(text: string, source: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const k = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (k.length === 32) return k;
  }
  throw new BackupKeyError(
    'backup-key-invalid',
    `${source}: expected a 256-bit key as 64 hex digits or base64 of 32 bytes (e.g. \`openssl rand -base64 32\`), got ${t.length} characters`,
    { data: { source } },
  );
}

/** The key's id: sha256 over a fixed label and the key (the key cannot be recovered from it). */
export function backupKeyId(key: Buffer): string {
  return (
    'sha256:' + createHash('sha256').update('braid-backup-key-id\0').update(key).digest('hex').slice(0, 32)
  );
}

export function sha256Hex(data: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** The target as an archive header and name may show it: no user, no password, no query. */
export function redactTarget(label: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/?#]*@)?([^?#]*)/i.exec(label);
  if (m) return `${m[1]}${m[2]}`;
  return label.replace(/[?#].*$/, '');
}

/**
 * The archive's file name: `<migration>.<UTC time>.<target tag>.braidbak`; the tag is a short
 * hash of the redacted target (two databases' backups of one migration do not collide, and the
 * name says nothing about where the database is).
 */
export function archiveName(h: Pick<ArchiveHeader, 'migration' | 'createdAt' | 'target'>): string {
  const time = h.createdAt.replace(/[-:]/g, '').replace(/\.(\d{3})\d*Z$/, '$1Z');
  return `${h.migration}.${time}.${targetTag(h.target)}${BACKUP_EXT}`;
}

export const ARCHIVE_NAME_RE = /^(\d{14}_[a-z0-9_]+)\.(\d{8}T\d{9}Z)\.([0-9a-f]{8})\.braidbak$/;

/** archiveName read back: the migration, the time (ISO, milliseconds) and the target tag. */
export function parseArchiveName(
  name: string,
): { migration: string; createdAt: string; tag: string } | undefined {
  const m = ARCHIVE_NAME_RE.exec(name);
  if (!m) return undefined;
  const t = m[2];
  const createdAt = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}.${t.slice(15, 18)}Z`;
  return { migration: m[1], createdAt, tag: m[3] };
}

/** The short hash of a redacted target, as archive names carry it. */
export function targetTag(target: string): string {
  return createHash('sha256').update(target).digest('hex').slice(0, 8);
}

const TAG_BYTES = 16;

/**
 * Encrypts one archive: `tables[i]` describes `data[i]` (plaintext COPY text); rows/bytes/sha256
 * are filled in here. `iv` is random unless given (tests).
 */
export function encodeArchive(
  meta: Omit<ArchiveHeader, 'format' | 'keyId' | 'iv' | 'compression' | 'tables'>,
  tables: Array<Omit<ArchiveTable, 'bytes' | 'sha256'>>,
  data: readonly Buffer[],
  key: Buffer,
  iv: Buffer = randomBytes(12),
): { bytes: Buffer; header: ArchiveHeader } {
  if (key.length !== 32) throw new Error('backup key must be 32 bytes');
  if (tables.length !== data.length) throw new Error('one data buffer per table');
  const header: ArchiveHeader = {
    format: BACKUP_FORMAT,
    migration: meta.migration,
    target: meta.target,
    createdAt: meta.createdAt,
    commit: meta.commit,
    keyId: backupKeyId(key),
    iv: iv.toString('base64'),
    compression: 'gzip',
    tables: tables.map((t, i) => ({ ...t, bytes: data[i].length, sha256: sha256Hex(data[i]) })),
  };
  const line = Buffer.from(JSON.stringify(header) + '\n', 'utf8');
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(line);
  const plain = gzipSync(Buffer.concat(data), { level: 1 });
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { bytes: Buffer.concat([line, ct, cipher.getAuthTag()]), header };
}

function bad(code: string, message: string, file: string): never {
  throw new BackupArchiveError(code, `${file}: ${message}`, { data: { file } });
}

/** The header of an archive (no key needed: `braid backup list`). */
export function readArchiveHeader(bytes: Buffer, file: string): { header: ArchiveHeader; length: number } {
  const nl = bytes.indexOf(0x0a);
  if (nl < 0 || nl > 16 * 1024 * 1024)
    bad('backup-format', 'not a braid backup archive (no header line)', file);
  let h: ArchiveHeader;
  try {
    h = JSON.parse(bytes.subarray(0, nl).toString('utf8')) as ArchiveHeader;
  } catch {
    bad('backup-format', 'not a braid backup archive (header is not JSON)', file);
  }
  if (!h || h.format !== BACKUP_FORMAT || !Array.isArray(h.tables) || typeof h.iv !== 'string')
    bad('backup-format', `not a braid backup archive (expected "format": "${BACKUP_FORMAT}")`, file);
  return { header: h, length: nl + 1 };
}

/**
 * Decrypts and checks an archive: the key must be the one it was written with (key id), the
 * GCM tag must authenticate header and payload, every table's SHA-256 must match. Throws
 * BackupKeyError (wrong key, exit 2) or BackupArchiveError (tampered or damaged, exit 1) before
 * returning anything: a caller never sees part of an archive.
 */
export function decodeArchive(
  bytes: Buffer,
  key: Buffer,
  file: string,
): { header: ArchiveHeader; data: Buffer[] } {
  const { header, length } = readArchiveHeader(bytes, file);
  const id = backupKeyId(key);
  if (
    id.length !== header.keyId?.length ||
    !timingSafeEqual(Buffer.from(id), Buffer.from(String(header.keyId)))
  ) {
    throw new BackupKeyError(
      'backup-key-mismatch',
      `${file}: the archive was written with key ${header.keyId}, the key given is ${id}; nothing was restored`,
      { data: { file, archiveKeyId: header.keyId, keyId: id } },
    );
  }
  if (bytes.length < length + TAG_BYTES) bad('backup-truncated', 'the archive is truncated', file);
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.iv, 'base64'));
  decipher.setAAD(bytes.subarray(0, length));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([
      decipher.update(bytes.subarray(length, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    bad(
      'backup-tampered',
      'the archive does not authenticate (changed, damaged or truncated); refused',
      file,
    );
  }
  let raw: Buffer;
  try {
    raw = gunzipSync(plain);
  } catch {
    bad('backup-damaged', 'the archive payload does not decompress; refused', file);
  }
  const data: Buffer[] = [];
  let at = 0;
  for (const t of header.tables) {
    const part = raw.subarray(at, at + t.bytes);
    at += t.bytes;
    if (part.length !== t.bytes || sha256Hex(part) !== t.sha256)
      bad('backup-checksum', `table ${t.schema}.${t.name}: checksum mismatch; refused`, file);
    data.push(part);
  }
  if (at !== raw.length) bad('backup-checksum', 'payload longer than its tables say; refused', file);
  return { header, data };
}

/** braid.json `backup.retention`. */
export interface Retention {
  /** Keep at most this many archives (newest first). */
  keep?: number;
  /** Remove archives older than this many days. */
  maxAgeDays?: number;
  /** Remove the oldest archives while the total exceeds this many bytes. */
  maxBytes?: number;
}

export interface ArchiveEntry {
  name: string;
  createdAt: string;
  bytes: number;
  /**
   * The archive `braid down` of a still-applied migration would restore from: never removed by
   * retention. false: an orphan (its migration is not applied, or a newer backup replaced it).
   */
  protected: boolean;
  /** Known not to belong to any applied migration of its target (an interrupted `up`). */
  orphan?: boolean;
}

/** Which archives retention removes, with the reason per archive. Pure; `now` in ms. */
export function pruneArchives(
  entries: readonly ArchiveEntry[],
  r: Retention,
  now: number,
): Array<{ name: string; reason: string }> {
  const out: Array<{ name: string; reason: string }> = [];
  const sorted = [...entries].sort(
    (a, b) => b.createdAt.localeCompare(a.createdAt) || b.name.localeCompare(a.name),
  );
  const gone = new Set<string>();
  const drop = (e: ArchiveEntry, reason: string): void => {
    if (e.protected || gone.has(e.name)) return;
    gone.add(e.name);
    out.push({ name: e.name, reason });
  };
  for (const e of sorted) if (e.orphan) drop(e, 'orphan: its migration was not applied');
  if (r.maxAgeDays !== undefined) {
    for (const e of sorted) {
      const age = (now - Date.parse(e.createdAt)) / 86_400_000;
      if (age > r.maxAgeDays) drop(e, `older than ${r.maxAgeDays} days`);
    }
  }
  if (r.keep !== undefined) {
    let kept = 0;
    for (const e of sorted) {
      if (gone.has(e.name)) continue;
      kept++;
      if (kept > r.keep) drop(e, `more than ${r.keep} archives`);
    }
  }
  if (r.maxBytes !== undefined) {
    let total = sorted.filter((e) => !gone.has(e.name)).reduce((s, e) => s + e.bytes, 0);
    for (const e of [...sorted].reverse()) {
      if (total <= r.maxBytes) break;
      if (gone.has(e.name) || e.protected) continue;
      drop(e, `total above ${r.maxBytes} bytes`);
      total -= e.bytes;
    }
  }
  return out;
}
