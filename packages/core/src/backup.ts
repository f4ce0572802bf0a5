/**
 * Pre-change backups (docs/backups.md), the pure part: the archive format, the backup key, the
 * archive's name and the retention rules. No file or database I/O here (node:crypto and node:zlib
 * work on buffers).
 *
 * An archive (format 2, written streaming: createArchiveWriter / readArchive) is
 *
 *   <header: one line of JSON> "\n" <AES-256-GCM ciphertext of gzip(frames)> <16-byte tag>
 *   <trailer: JSON of the per-table rows, bytes, sha256> <u32 BE trailer length> "BBK2"
 *
 * The frames are `<u32 BE length><bytes>`: each table's COPY text in chunks, ended by an empty
 * frame, then the trailer's JSON once more as a last segment (so the trailer, written after the
 * payload because the counts are only known then, is authenticated: it must equal the decrypted
 * copy). Format 1 (encodeArchive / decodeArchive, still read) held the counts in the header and
 * the tables' data back to back:
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
import { Readable, type TransformOptions } from 'node:stream';
import { createGunzip, createGzip, gunzipSync, gzipSync, type ZlibOptions } from 'node:zlib';
import { FindingsError, UsageError } from './errors';

/** The format written (streaming, counts in an authenticated trailer). */
export const BACKUP_FORMAT = 'braid-backup 2';
/** The first format (whole archive in memory, counts in the header): still read. */
export const BACKUP_FORMAT_V1 = 'braid-backup 1';
export type BackupFormat = typeof BACKUP_FORMAT | typeof BACKUP_FORMAT_V1;
/**
 * gzip level of the payload. 1: on 200k rows of the benchmark table (14.4 MB of COPY text) level
 * 1 takes 43 ms for 2.70 MB, level 3 74 ms for 2.65 MB, level 6 134 ms for 2.55 MB: speed over
 * ratio (docs/backups.md).
 */
export const BACKUP_GZIP_LEVEL = 1;
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

/** A table as the header of a format-2 archive names it: the counts come in the trailer. */
export type ArchiveTableMeta = Omit<ArchiveTable, 'rows' | 'bytes' | 'sha256'>;

export interface ArchiveHeader {
  format: BackupFormat;
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

/** An archive's header line: what it holds, which key (by id, never the key) and the IV. */
function archiveHead(
  format: BackupFormat,
  meta: Pick<ArchiveHeader, 'migration' | 'target' | 'createdAt' | 'commit'>,
  key: Buffer,
  iv: Buffer,
  tables: ArchiveTable[],
): ArchiveHeader {
  return {
    format,
    migration: meta.migration,
    target: meta.target,
    createdAt: meta.createdAt,
    commit: meta.commit,
    keyId: backupKeyId(key),
    iv: iv.toString('base64'),
    compression: 'gzip',
    tables,
  };
}

/**
 * Encrypts one archive in format 1 (whole, in memory; kept to test that old archives still
 * read): `tables[i]` describes `data[i]` (plaintext COPY text); rows/bytes/sha256
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
  const header = archiveHead(
    BACKUP_FORMAT_V1,
    meta,
    key,
    iv,
    tables.map((t, i) => ({ ...t, bytes: data[i].length, sha256: sha256Hex(data[i]) })),
  );
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

const TAMPERED = 'the archive does not authenticate (changed, damaged or truncated); refused';
const FOOTER_MAGIC = 'BBK2';
/** u32 BE trailer length + magic. */
const FOOTER_BYTES = 8;
const HEADER_MAX = 16 * 1024 * 1024;

/**
 * Where an archive's bytes come from: a file read by position, or a buffer (bufferSource). The
 * caller's source does the I/O; nothing here opens a file.
 */
export interface ArchiveSource {
  readonly size: number;
  /** `length` bytes at `position` (fewer only at the end). */
  read(position: number, length: number): Buffer;
  /** The bytes [start, end) in chunks. */
  stream(start: number, end: number): AsyncIterable<Buffer>;
}

export function bufferSource(bytes: Buffer): ArchiveSource {
  const step = 1 << 20;
  return {
    size: bytes.length,
    read: (p, n) => bytes.subarray(p, p + n),
    async *stream(start, end) {
      for (let at = start; at < end; at += step) yield bytes.subarray(at, Math.min(end, at + step));
    },
  };
}

interface TableStats {
  rows: number;
  bytes: number;
  sha256: string;
}

function parseStats(b: Buffer, n: number): TableStats[] | undefined {
  try {
    const j = JSON.parse(b.toString('utf8')) as { tables?: unknown };
    if (!Array.isArray(j.tables) || j.tables.length !== n) return undefined;
    const ok = (j.tables as TableStats[]).every(
      (t) =>
        t !== null &&
        typeof t === 'object' &&
        Number.isInteger(t.rows) &&
        Number.isInteger(t.bytes) &&
        typeof t.sha256 === 'string',
    );
    return ok
      ? (j.tables as TableStats[]).map((t) => ({ rows: t.rows, bytes: t.bytes, sha256: t.sha256 }))
      : undefined;
  } catch {
    return undefined;
  }
}

/** An archive's layout, read without the key (`braid backup list`). */
export interface OpenedArchive {
  /** Complete: format 2's counts come from the trailer (authenticated once the payload is read through). */
  header: ArchiveHeader;
  /** The header line's bytes (the cipher's additional authenticated data). */
  headerLength: number;
  /** The ciphertext is [headerLength, payloadEnd). */
  payloadEnd: number;
  tag: Buffer;
  /** Format 2: the trailer as written. */
  trailer?: Buffer;
}

function headerOf(src: ArchiveSource, file: string): { h: ArchiveHeader; length: number } {
  let n = Math.min(src.size, 64 * 1024);
  let nl: number;
  let head: Buffer;
  for (;;) {
    head = src.read(0, n);
    nl = head.indexOf(0x0a);
    if (nl >= 0) break;
    if (n >= src.size || n > HEADER_MAX)
      bad('backup-format', 'not a braid backup archive (no header line)', file);
    n = Math.min(src.size, n * 4, HEADER_MAX + 1);
  }
  if (nl > HEADER_MAX) bad('backup-format', 'not a braid backup archive (no header line)', file);
  let h: ArchiveHeader;
  try {
    h = JSON.parse(head.subarray(0, nl).toString('utf8')) as ArchiveHeader;
  } catch {
    bad('backup-format', 'not a braid backup archive (header is not JSON)', file);
  }
  if (
    !h ||
    (h.format !== BACKUP_FORMAT && h.format !== BACKUP_FORMAT_V1) ||
    !Array.isArray(h.tables) ||
    typeof h.iv !== 'string'
  )
    bad(
      'backup-format',
      `not a braid backup archive (expected "format": "${BACKUP_FORMAT_V1}" or "${BACKUP_FORMAT}")`,
      file,
    );
  return { h, length: nl + 1 };
}

/** The layout of an archive of either format (no key needed). */
export function openArchive(src: ArchiveSource, file: string): OpenedArchive {
  const { h, length } = headerOf(src, file);
  if (h.format === BACKUP_FORMAT_V1) {
    const end = Math.max(length, src.size - TAG_BYTES);
    return { header: h, headerLength: length, payloadEnd: end, tag: src.read(end, TAG_BYTES) };
  }
  if (src.size < length + TAG_BYTES + FOOTER_BYTES) bad('backup-truncated', 'the archive is truncated', file);
  const foot = src.read(src.size - FOOTER_BYTES, FOOTER_BYTES);
  const n = foot.readUInt32BE(0);
  if (foot.toString('latin1', 4) !== FOOTER_MAGIC || src.size < length + TAG_BYTES + FOOTER_BYTES + n)
    bad('backup-tampered', TAMPERED, file);
  const trailer = Buffer.from(src.read(src.size - FOOTER_BYTES - n, n));
  const stats = parseStats(trailer, h.tables.length) ?? bad('backup-tampered', TAMPERED, file);
  const payloadEnd = src.size - FOOTER_BYTES - n - TAG_BYTES;
  return {
    header: { ...h, tables: h.tables.map((t, i) => ({ ...t, ...stats[i] })) },
    headerLength: length,
    payloadEnd,
    tag: Buffer.from(src.read(payloadEnd, TAG_BYTES)),
    trailer,
  };
}

/** The header of an archive (no key needed: `braid backup list`). */
export function readArchiveHeader(bytes: Buffer, file: string): { header: ArchiveHeader; length: number } {
  const a = openArchive(bufferSource(bytes), file);
  return { header: a.header, length: a.headerLength };
}

/** The key must be the one the archive was written with (its key id): else BackupKeyError (exit 2). */
export function checkArchiveKey(header: ArchiveHeader, key: Buffer, file: string): void {
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
}

/**
 * Decrypts and checks a format-1 archive, in memory: the key must be the one it was written with
 * (key id), the GCM tag must authenticate header and payload, every table's SHA-256 must match.
 * Throws BackupKeyError (wrong key, exit 2) or BackupArchiveError (tampered or damaged, exit 1)
 * before returning anything: a caller never sees part of an archive. Format 2: readArchive.
 */
export function decodeArchive(
  bytes: Buffer,
  key: Buffer,
  file: string,
): { header: ArchiveHeader; data: Buffer[] } {
  const { header, length } = readArchiveHeader(bytes, file);
  checkArchiveKey(header, key, file);
  if (header.format !== BACKUP_FORMAT_V1)
    throw new Error(`${file}: format 2 archives are read by readArchive`);
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
    bad('backup-tampered', TAMPERED, file);
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

/** Writes a format-2 archive as the data comes (createArchiveWriter). */
export interface ArchiveWriter {
  /** COPY text of the current table; a promise: wait for it before writing more (the compressor is busy). */
  write(chunk: Buffer): Promise<void> | undefined;
  /** The current table is complete; the next write is the next table's. */
  endTable(rows: number): void;
  /** Flushes, then the tag, the trailer and the footer; the header with the counts, size and sha256 of all bytes. */
  finish(): Promise<{ header: ArchiveHeader; bytes: number; sha256: string }>;
  /** Stops (the copy failed): nothing more reaches the sink. */
  abort(): void;
}

const frameHead = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
};

/**
 * A format-2 archive, streaming: `sink` gets the header line at once, then the ciphertext as the
 * compressor (zlib, off the main thread) produces it, and at `finish` the tag, trailer and
 * footer. Memory stays at the compressor's buffers whatever the data size.
 */
export function createArchiveWriter(
  meta: Omit<ArchiveHeader, 'format' | 'keyId' | 'iv' | 'compression' | 'tables'>,
  tables: readonly ArchiveTableMeta[],
  key: Buffer,
  sink: (chunk: Buffer) => void,
  opts: { iv?: Buffer; level?: number } = {},
): ArchiveWriter {
  if (key.length !== 32) throw new Error('backup key must be 32 bytes');
  const iv = opts.iv ?? randomBytes(12);
  const head = archiveHead(BACKUP_FORMAT, meta, key, iv, tables.map((t) => ({ ...t })) as ArchiveTable[]);
  const line = Buffer.from(JSON.stringify(head) + '\n', 'utf8');
  const whole = createHash('sha256');
  let total = 0;
  let failed: Error | undefined;
  const emit = (b: Buffer): void => {
    if (b.length === 0) return;
    whole.update(b);
    total += b.length;
    sink(b);
  };
  emit(line);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(line);
  // A 2 MB write buffer (the stream default is 16 kB): the copy hands 256 kB chunks, so with the
  // default every chunk waited for the compressor before the socket was read on; now the next
  // chunks arrive while the compressor works on one (in zlib's thread).
  const gzipOpts: ZlibOptions & TransformOptions = {
    level: opts.level ?? BACKUP_GZIP_LEVEL,
    chunkSize: 256 * 1024,
    writableHighWaterMark: 2 << 20,
  };
  const gzip = createGzip(gzipOpts);
  gzip.on('data', (d: Buffer) => {
    if (failed) return;
    try {
      emit(cipher.update(d));
    } catch (e) {
      failed = e as Error;
      gzip.destroy(failed);
    }
  });
  const ended = new Promise<void>((res, rej) => {
    gzip.once('end', res);
    gzip.once('error', rej);
    gzip.once('close', () => (failed ? rej(failed) : undefined));
  });
  ended.catch(() => undefined); // observed by finish()
  const drained = (): Promise<void> =>
    new Promise<void>((res, rej) => {
      const ok = (): void => {
        gzip.off('error', no);
        res();
      };
      const no = (e: Error): void => {
        gzip.off('drain', ok);
        rej(e);
      };
      gzip.once('drain', ok);
      gzip.once('error', no);
    });
  const stats: TableStats[] = [];
  let hash = createHash('sha256');
  let bytes = 0;
  return {
    write(chunk) {
      if (failed) throw failed;
      if (stats.length >= tables.length) throw new Error('archive: data after the last table');
      if (chunk.length === 0) return undefined;
      hash.update(chunk);
      bytes += chunk.length;
      gzip.write(frameHead(chunk.length));
      return gzip.write(chunk) ? undefined : drained();
    },
    endTable(rows) {
      if (stats.length >= tables.length) throw new Error('archive: more tables than the header names');
      stats.push({ rows, bytes, sha256: 'sha256:' + hash.digest('hex') });
      hash = createHash('sha256');
      bytes = 0;
      gzip.write(frameHead(0));
    },
    async finish() {
      if (stats.length !== tables.length) throw new Error('archive: a table was not ended');
      const trailer = Buffer.from(JSON.stringify({ tables: stats }), 'utf8');
      gzip.write(frameHead(trailer.length));
      gzip.write(trailer);
      gzip.end(frameHead(0));
      await ended;
      if (failed) throw failed;
      emit(cipher.final());
      emit(cipher.getAuthTag());
      emit(trailer);
      const foot = Buffer.alloc(FOOTER_BYTES);
      foot.writeUInt32BE(trailer.length, 0);
      foot.write(FOOTER_MAGIC, 4, 'latin1');
      emit(foot);
      return {
        header: { ...head, tables: tables.map((t, i) => ({ ...t, ...stats[i] })) },
        bytes: total,
        sha256: 'sha256:' + whole.digest('hex'),
      };
    },
    abort() {
      failed ??= new Error('archive aborted');
      gzip.destroy();
    },
  };
}

/** Splits a format-2 payload, in any chunking, into the segments' bytes (views) and ends (null). */
class FrameSplitter {
  private readonly len = Buffer.alloc(4);
  private have = 0;
  /** Bytes left of the current frame; -1 while reading a length. */
  private left = -1;
  push(chunk: Buffer, out: Array<Buffer | null>): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.left < 0) {
        const n = Math.min(4 - this.have, chunk.length - at);
        chunk.copy(this.len, this.have, at, at + n);
        this.have += n;
        at += n;
        if (this.have === 4) {
          this.have = 0;
          const v = this.len.readUInt32BE(0);
          if (v === 0) out.push(null);
          else this.left = v;
        }
      } else {
        const n = Math.min(this.left, chunk.length - at);
        out.push(chunk.subarray(at, at + n));
        at += n;
        this.left -= n;
        if (this.left === 0) this.left = -1;
      }
    }
  }
}

async function authenticates(src: ArchiveSource, key: Buffer, a: OpenedArchive): Promise<boolean> {
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(a.header.iv, 'base64'));
  d.setAAD(src.read(0, a.headerLength));
  d.setAuthTag(a.tag);
  for await (const c of src.stream(a.headerLength, a.payloadEnd)) d.update(c);
  try {
    d.final();
    return true;
  } catch {
    return false;
  }
}

/**
 * The GCM tag only (no decompression): one pass over the archive, before anything rolls back.
 * Throws BackupKeyError / BackupArchiveError; returns the header.
 */
export async function authenticateArchive(
  src: ArchiveSource,
  key: Buffer,
  file: string,
): Promise<ArchiveHeader> {
  const a = openArchive(src, file);
  checkArchiveKey(a.header, key, file);
  if (a.header.format === BACKUP_FORMAT_V1) return decodeArchive(src.read(0, src.size), key, file).header;
  if (!(await authenticates(src, key, a))) bad('backup-tampered', TAMPERED, file);
  return a.header;
}

const once = (b: Buffer): AsyncIterable<Buffer> => ({
  async *[Symbol.asyncIterator]() {
    if (b.length) yield b;
  },
});

/**
 * Reads an archive of either format, streaming (format 2): decrypt → gunzip → frames; `each`
 * gets every table in order with its COPY text as chunks (what it leaves unread is skipped).
 * A table's bytes and SHA-256 are checked when its last chunk is pulled (so a COPY fed from it
 * fails before it ends); the GCM tag and the trailer only once the whole payload is through:
 * the caller must treat everything `each` did as unconfirmed until this resolves (the restore
 * runs in a transaction that rolls back when it throws). Without `each`: verify only.
 */
export async function readArchive(
  src: ArchiveSource,
  key: Buffer,
  file: string,
  each?: (i: number, table: ArchiveTable, chunks: AsyncIterable<Buffer>) => Promise<void>,
): Promise<ArchiveHeader> {
  const a = openArchive(src, file);
  checkArchiveKey(a.header, key, file);
  if (a.header.format === BACKUP_FORMAT_V1) {
    const { header, data } = decodeArchive(src.read(0, src.size), key, file);
    if (each) for (const [i, t] of header.tables.entries()) await each(i, t, once(data[i]));
    return header;
  }
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(a.header.iv, 'base64'));
  decipher.setAAD(src.read(0, a.headerLength));
  decipher.setAuthTag(a.tag);
  async function* plain(): AsyncGenerator<Buffer> {
    for await (const c of src.stream(a.headerLength, a.payloadEnd)) yield decipher.update(c);
    let last: Buffer;
    try {
      last = decipher.final();
    } catch {
      bad('backup-tampered', TAMPERED, file);
    }
    if (last.length) yield last;
  }
  const input = Readable.from(plain());
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  const it = gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const splitter = new FrameSplitter();
  const queue: Array<Buffer | null> = [];
  let qi = 0;
  const failure = async (e: unknown): Promise<never> => {
    if (e instanceof BackupArchiveError) throw e;
    // gunzip or framing failed before the tag was reached: changed bytes, or damaged ones
    if (!(await authenticates(src, key, a))) bad('backup-tampered', TAMPERED, file);
    bad('backup-damaged', 'the archive payload does not decompress; refused', file);
  };
  /** The next data view, null at a segment's end, undefined at the payload's end. */
  const next = async (): Promise<Buffer | null | undefined> => {
    while (qi >= queue.length) {
      queue.length = 0;
      qi = 0;
      let r: IteratorResult<Buffer>;
      try {
        r = await it.next();
      } catch (e) {
        return failure(e);
      }
      if (r.done) return undefined;
      splitter.push(r.value, queue);
    }
    return queue[qi++];
  };
  function early(): never {
    bad('backup-damaged', 'the archive payload ends early; refused', file);
  }
  const segment = (t: ArchiveTable) => {
    const h = createHash('sha256');
    let n = 0;
    let done = false;
    const pull = async (): Promise<IteratorResult<Buffer, undefined>> => {
      if (done) return { done: true, value: undefined };
      const c = await next();
      if (c === undefined) return early();
      if (c === null) {
        done = true;
        // the counts come from the trailer: a mismatch is a changed trailer or payload
        if (n !== t.bytes || 'sha256:' + h.digest('hex') !== t.sha256)
          bad('backup-checksum', `table ${t.schema}.${t.name}: checksum mismatch: ${TAMPERED}`, file);
        return { done: true, value: undefined };
      }
      h.update(c);
      n += c.length;
      return { done: false, value: c };
    };
    // no return(): a consumer that stops early leaves the rest to drain()
    const iterable: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: pull }) };
    return {
      iterable,
      drain: async () =>
        void (await (async () => {
          while (!(await pull()).done);
        })()),
    };
  };
  try {
    for (const [i, t] of a.header.tables.entries()) {
      const s = segment(t);
      if (each) await each(i, t, s.iterable);
      await s.drain();
    }
    const parts: Buffer[] = [];
    for (;;) {
      const c = await next();
      if (c === undefined) early();
      if (c === null) break;
      parts.push(c);
    }
    // reading to the end runs the tag check (decipher.final)
    if ((await next()) !== undefined)
      bad('backup-damaged', 'payload longer than its tables say; refused', file);
    if (!a.trailer || !Buffer.concat(parts).equals(a.trailer)) bad('backup-tampered', TAMPERED, file);
    return a.header;
  } finally {
    input.destroy();
    gunzip.destroy();
  }
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
