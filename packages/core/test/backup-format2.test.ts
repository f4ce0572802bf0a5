/**
 * Format 2 (streaming) archives, tampered with (docs/backups.md, "The archive format"): every
 * changed or missing part is refused with its documented error code, and no row comes out.
 * "Comes out" as braid uses it: `braid down` authenticates first (authenticateArchive), then
 * reads (readArchive) into a transaction that only commits once readArchive resolved; the rows a
 * reader hands out before it rejects are never confirmed. The cases found before any data (key,
 * footer, trailer, truncation) hand out nothing at all, which is checked too.
 */
import { randomBytes } from 'node:crypto';
import {
  authenticateArchive,
  BackupArchiveError,
  BackupKeyError,
  bufferSource,
  createArchiveWriter,
  readArchive,
  type ArchiveTableMeta,
} from '@braid/core';

const key = Buffer.alloc(32, 7);
const meta = {
  migration: '20240101000000_truncate_users',
  target: 'postgres://db.internal:5432/app',
  createdAt: '2026-12-07T13:00:00.123Z',
  commit: 'abc123',
};
const table = (name: string): ArchiveTableMeta => ({
  schema: 'public',
  name,
  scope: 'table',
  columns: ['id', 'email'],
  types: ['integer', 'text'],
  key: ['id'],
  reasons: ['truncate (line 1)'],
});
const ROWS = 2000;
const users = Buffer.from(
  Array.from({ length: ROWS }, (_, i) => `${i + 1}\tuser${i + 1}@example.com\n`).join(''),
);

/** A format-2 archive of two tables (users in two chunks, orders of 3 rows), as the CLI writes it. */
async function archive(): Promise<Buffer> {
  const parts: Buffer[] = [];
  const w = createArchiveWriter(meta, [table('users'), table('orders')], key, (c) => void parts.push(c), {
    iv: randomBytes(12),
  });
  const half = users.indexOf(0x0a, users.length >> 1) + 1;
  await w.write(users.subarray(0, half));
  await w.write(users.subarray(half));
  w.endTable(ROWS);
  await w.write(Buffer.from('1\ta\n2\tb\n3\tc\n'));
  w.endTable(3);
  await w.finish();
  return Buffer.concat(parts);
}

interface Layout {
  /** End of the header line (its "\n" included). */
  header: number;
  /** The 16-byte GCM tag starts here. */
  tag: number;
  trailer: number;
  footer: number;
}

function layout(bytes: Buffer): Layout {
  const header = bytes.indexOf(0x0a) + 1;
  const footer = bytes.length - 8;
  const trailer = footer - bytes.readUInt32BE(footer);
  return { header, tag: trailer - 16, trailer, footer };
}

/**
 * What braid does with an archive before rows count: authenticate, then read every table; the
 * rows are output only when both succeed. Returns the rows output and what `each` was handed.
 */
async function restore(bytes: Buffer, k: Buffer = key): Promise<{ output: number; handed: number }> {
  const src = bufferSource(bytes);
  let handed = 0;
  const pending: string[] = [];
  await authenticateArchive(src, k, 'a.braidbak');
  await readArchive(src, k, 'a.braidbak', async (_i, _t, chunks) => {
    for await (const c of chunks) {
      handed += c.length;
      pending.push(c.toString('utf8'));
    }
  });
  return { output: pending.join('').split('\n').filter(Boolean).length, handed };
}

/** The error of a rejected promise (fails the test when it resolves). */
async function rejected(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('was not refused');
}

/** Refused with `code` (class BackupArchiveError unless a key error) and no row output. */
async function refused(bytes: Buffer, code: string, k: Buffer = key): Promise<void> {
  const e = await rejected(restore(bytes, k));
  expect(e).toBeInstanceOf(code === 'backup-key-mismatch' ? BackupKeyError : BackupArchiveError);
  expect((e as BackupArchiveError).code).toBe(code);
  expect(e.message).toMatch(/^a\.braidbak: /);
  // readArchive alone (what `braid backup verify` runs) refuses it the same way
  const alone = await rejected(readArchive(bufferSource(bytes), k, 'a.braidbak'));
  expect((alone as BackupArchiveError).code).toBe(code);
}

const flip = (bytes: Buffer, at: number, mask = 0x01): Buffer => {
  const t = Buffer.from(bytes);
  t[at] ^= mask;
  return t;
};

describe('format 2: tampering', () => {
  let bytes: Buffer;
  let at: Layout;
  beforeAll(async () => {
    bytes = await archive();
    at = layout(bytes);
  });

  test('the untouched archive reads back every row (the baseline the cases below differ from)', async () => {
    expect(bytes.subarray(at.footer).toString('latin1', 4)).toBe('BBK2');
    expect(await restore(bytes)).toEqual({ output: ROWS + 3, handed: users.length + 12 });
  });

  test('a byte of the header line (still valid JSON): the header is the AAD, so backup-tampered', async () => {
    const i = bytes.indexOf('truncate_users');
    expect(i).toBeGreaterThan(0);
    expect(i).toBeLessThan(at.header);
    await refused(flip(bytes, i, 0x20), 'backup-tampered'); // "Truncate_users"
  });

  test('a byte of the header line that breaks its JSON: backup-format', async () => {
    await refused(flip(bytes, 0, 0xff), 'backup-format');
  });

  test('a byte of the ciphertext (start, middle, end): backup-tampered', async () => {
    for (const i of [at.header, (at.header + at.tag) >> 1, at.tag - 1])
      await refused(flip(bytes, i), 'backup-tampered');
  });

  test('a byte of the GCM tag (first, last): backup-tampered', async () => {
    for (const i of [at.tag, at.trailer - 1]) await refused(flip(bytes, i), 'backup-tampered');
  });

  test('the trailer JSON: a count changed (still valid) or its JSON broken: backup-tampered, nothing handed out', async () => {
    const trailer = bytes.subarray(at.trailer, at.footer).toString('utf8');
    expect(trailer).toContain(`"rows":${ROWS}`);
    // one digit: 2000 → 3000 (valid JSON, same length)
    const digit = at.trailer + trailer.indexOf(`"rows":${ROWS}`) + '"rows":'.length;
    const recount = flip(bytes, digit, '2'.charCodeAt(0) ^ '3'.charCodeAt(0));
    await refused(recount, 'backup-tampered');
    // the byte length of a table: its bytes no longer match when the table ends
    const len = at.trailer + trailer.indexOf(`"bytes":${users.length}`) + '"bytes":'.length;
    await refused(flip(bytes, len, 0x01), 'backup-checksum');
    // not JSON any more: refused when the archive is opened, before any data
    const broken = flip(bytes, at.trailer, 0xff);
    await refused(broken, 'backup-tampered');
    expect(await handedBeforeRefusal(broken)).toBe(0);
  });

  test('the trailer length (u32 before the magic): backup-tampered, nothing handed out', async () => {
    for (const i of [at.footer, at.footer + 3]) {
      const t = flip(bytes, i);
      await refused(t, 'backup-tampered');
      expect(await handedBeforeRefusal(t)).toBe(0);
    }
  });

  test('a wrong footer magic: backup-tampered, nothing handed out', async () => {
    const t = Buffer.from(bytes);
    t.write('BBK3', at.footer + 4, 'latin1');
    await refused(t, 'backup-tampered');
    expect(await handedBeforeRefusal(t)).toBe(0);
  });

  test('truncated: to the header, mid-ciphertext, the footer cut: refused, nothing handed out', async () => {
    await refused(bytes.subarray(0, at.header + 10), 'backup-truncated');
    for (const n of [(at.header + at.tag) >> 1, bytes.length - 1, bytes.length - 8]) {
      const t = bytes.subarray(0, n);
      await refused(t, 'backup-tampered');
      expect(await handedBeforeRefusal(t)).toBe(0);
    }
  });

  test('a wrong key: backup-key-mismatch (a key error, exit 2), nothing handed out', async () => {
    const wrong = Buffer.alloc(32, 9);
    await refused(bytes, 'backup-key-mismatch', wrong);
    expect(await handedBeforeRefusal(bytes, wrong)).toBe(0);
    const e = await rejected(authenticateArchive(bufferSource(bytes), wrong, 'a.braidbak'));
    expect(e.message).toMatch(/the archive was written with key sha256:[0-9a-f]+, the key given is sha256:/);
  });
});

/** Bytes readArchive hands to `each` before it refuses (no authenticateArchive first). */
async function handedBeforeRefusal(bytes: Buffer, k: Buffer = key): Promise<number> {
  let n = 0;
  await rejected(
    readArchive(bufferSource(bytes), k, 'a.braidbak', async (_i, _t, chunks) => {
      for await (const c of chunks) n += c.length;
    }),
  );
  return n;
}
