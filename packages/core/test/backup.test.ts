import { randomBytes } from 'node:crypto';
import {
  ARCHIVE_NAME_RE,
  archiveName,
  backupKeyId,
  BackupArchiveError,
  BackupKeyError,
  decodeArchive,
  encodeArchive,
  parseArchiveName,
  parseBackupKey,
  parseConfig,
  pruneArchives,
  readArchiveHeader,
  redactTarget,
  sha256Hex,
  targetTag,
} from '@braid/core';

const key = Buffer.alloc(32, 7);
const meta = {
  migration: '20240101000000_drop_email',
  target: 'postgres://db.internal:5432/app',
  createdAt: '2026-12-07T13:00:00.123Z',
  commit: 'abc123',
};
const table = (name: string) => ({
  schema: 'public',
  name,
  scope: 'columns' as const,
  columns: ['id', 'email'],
  types: ['integer', 'text'],
  key: ['id'],
  rows: 2,
  reasons: ['drop-column email (line 1)'],
});
const data = [Buffer.from('1\ta@x\n2\t\\N\n'), Buffer.from('')];
const archive = () => encodeArchive(meta, [table('users'), table('empty')], data, key).bytes;

const thrown = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
};

describe('backup key', () => {
  test('hex or base64 (standard, url-safe) of 32 bytes', () => {
    const k = randomBytes(32);
    expect(parseBackupKey(k.toString('hex'), 'X')).toEqual(k);
    expect(parseBackupKey(` ${k.toString('base64')}\n`, 'X')).toEqual(k);
    expect(parseBackupKey(k.toString('base64url'), 'X')).toEqual(k);
  });
  test('anything else is refused, naming the source and never the value', () => {
    for (const bad of ['', 'secret-password', 'ab'.repeat(31), Buffer.alloc(16).toString('base64')]) {
      const e = thrown(() => parseBackupKey(bad, 'BRAID_BACKUP_KEY'));
      expect(e).toBeInstanceOf(BackupKeyError);
      expect(e.message).toMatch(/^BRAID_BACKUP_KEY: expected a 256-bit key/);
      if (bad) expect(e.message).not.toContain(bad);
    }
  });
  test('the key id is stable, differs per key and does not contain the key', () => {
    expect(backupKeyId(key)).toBe(backupKeyId(Buffer.alloc(32, 7)));
    expect(backupKeyId(key)).not.toBe(backupKeyId(Buffer.alloc(32, 8)));
    expect(backupKeyId(key)).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(backupKeyId(key)).not.toContain(key.toString('hex'));
    expect(sha256Hex(key)).not.toBe(backupKeyId(key).padEnd(71, '0'));
  });
});

describe('archive', () => {
  test('round trip: header readable without the key, data back with it', () => {
    const bytes = archive();
    const { header } = readArchiveHeader(bytes, 'a');
    expect(header).toMatchObject({
      format: 'braid-backup 1',
      migration: meta.migration,
      target: meta.target,
      commit: 'abc123',
      keyId: backupKeyId(key),
      compression: 'gzip',
    });
    expect(header.tables[0]).toMatchObject({ bytes: data[0].length, sha256: sha256Hex(data[0]) });
    const out = decodeArchive(bytes, key, 'a');
    expect(out.data).toEqual(data);
    expect(out.header).toEqual(header);
  });

  test('the archive holds neither the key nor the plaintext', () => {
    const bytes = archive();
    for (const needle of [key.toString('hex'), key.toString('base64'), 'a@x'])
      expect(bytes.includes(Buffer.from(needle))).toBe(false);
    expect(bytes.includes(key)).toBe(false);
  });

  test('a random IV per archive', () => {
    const a = readArchiveHeader(archive(), 'a').header.iv;
    const b = readArchiveHeader(archive(), 'b').header.iv;
    expect(a).not.toBe(b);
  });

  test('a wrong key is a key error, before any data', () => {
    const e = thrown(() => decodeArchive(archive(), Buffer.alloc(32, 9), 'x.braidbak'));
    expect(e).toBeInstanceOf(BackupKeyError);
    expect(e.message).toMatch(
      /^x.braidbak: the archive was written with key sha256:[0-9a-f]+, the key given is/,
    );
  });

  test('any changed byte (header, payload, tag) or truncation is refused', () => {
    const bytes = archive();
    const nl = bytes.indexOf(0x0a);
    for (const at of [5, nl + 1, Math.floor((nl + bytes.length) / 2), bytes.length - 1]) {
      const t = Buffer.from(bytes);
      t[at] ^= 0x01;
      const e = thrown(() => decodeArchive(t, key, 't'));
      expect(e).toBeInstanceOf(Error);
      expect(e instanceof BackupArchiveError || e instanceof BackupKeyError).toBe(true);
    }
    const flip = Buffer.from(bytes);
    flip[nl + 3] ^= 0xff;
    expect(thrown(() => decodeArchive(flip, key, 't')).message).toMatch(/does not authenticate/);
    expect(
      (thrown(() => decodeArchive(bytes.subarray(0, bytes.length - 5), key, 't')) as BackupArchiveError).code,
    ).toBe('backup-tampered');
    expect(
      (thrown(() => decodeArchive(bytes.subarray(0, nl + 4), key, 't')) as BackupArchiveError).code,
    ).toBe('backup-truncated');
  });

  test('a header rewritten consistently (new checksum) still fails: the header is authenticated', () => {
    const bytes = archive();
    const { header, length } = readArchiveHeader(bytes, 'a');
    const forged = { ...header, tables: header.tables.map((t) => ({ ...t, rows: 99 })) };
    const t = Buffer.concat([Buffer.from(JSON.stringify(forged) + '\n'), bytes.subarray(length)]);
    expect((thrown(() => decodeArchive(t, key, 'a')) as BackupArchiveError).code).toBe('backup-tampered');
  });

  test('not an archive', () => {
    expect((thrown(() => readArchiveHeader(Buffer.from('hello'), 'f')) as BackupArchiveError).code).toBe(
      'backup-format',
    );
    expect(thrown(() => readArchiveHeader(Buffer.from('{"format":"x"}\nzz'), 'f')).message).toMatch(
      /expected "format": "braid-backup 1"/,
    );
    expect(thrown(() => readArchiveHeader(Buffer.from('{oops\n'), 'f')).message).toMatch(/not JSON/);
  });

  test('name: migration, time, target tag; no user, password or host', () => {
    const name = archiveName(meta);
    expect(name).toMatch(ARCHIVE_NAME_RE);
    expect(name.startsWith('20240101000000_drop_email.20261207T130000123Z.')).toBe(true);
    expect(name).not.toContain('internal');
    expect(archiveName({ ...meta, target: 'postgres://other:5432/app' })).not.toBe(name);
    // read back: what retention needs (migration, time, whose target)
    expect(parseArchiveName(name)).toEqual({
      migration: '20240101000000_drop_email',
      createdAt: new Date(Date.parse(meta.createdAt)).toISOString(),
      tag: targetTag(meta.target),
    });
    expect(parseArchiveName('notes.txt')).toBeUndefined();
  });

  test('redactTarget drops user, password and query', () => {
    expect(redactTarget('postgres://bob:s3cret@db:5432/app?sslmode=require')).toBe('postgres://db:5432/app');
    expect(redactTarget('postgresql://bob@db/app')).toBe('postgresql://db/app');
    expect(redactTarget('pglite:/tmp/x')).toBe('pglite:/tmp/x');
  });
});

describe('retention', () => {
  const now = Date.parse('2026-12-10T00:00:00Z');
  const e = (name: string, day: number, bytes = 100, prot = false, orphan = false) => ({
    name,
    createdAt: `2026-12-0${day}T00:00:00.000Z`,
    bytes,
    protected: prot,
    ...(orphan ? { orphan } : {}),
  });
  const names = (r: { name: string }[]) => r.map((x) => x.name).sort();

  test('keep N newest', () => {
    expect(names(pruneArchives([e('a', 1), e('b', 2), e('c', 3)], { keep: 2 }, now))).toEqual(['a']);
  });
  test('max age', () => {
    const r = pruneArchives([e('a', 1), e('b', 8)], { maxAgeDays: 5 }, now);
    expect(r).toEqual([{ name: 'a', reason: 'older than 5 days' }]);
  });
  test('max size removes the oldest first', () => {
    expect(
      names(pruneArchives([e('a', 1, 500), e('b', 2, 500), e('c', 3, 500)], { maxBytes: 1000 }, now)),
    ).toEqual(['a']);
  });
  test('orphans go; protected archives never do', () => {
    const r = pruneArchives(
      [e('a', 1, 100, true), e('b', 2, 100, false, true), e('c', 3), e('d', 4)],
      { keep: 1, maxAgeDays: 0, maxBytes: 1 },
      now,
    );
    expect(names(r)).toEqual(['b', 'c', 'd']);
    expect(r.find((x) => x.name === 'b')?.reason).toMatch(/orphan/);
  });
  test('no rules: only orphans', () => {
    expect(names(pruneArchives([e('a', 1), e('b', 2, 1, false, true)], {}, now))).toEqual(['b']);
  });
});

describe('braid.json backup', () => {
  const parse = (o: unknown) => parseConfig(JSON.stringify(o));
  test('defaults and values', () => {
    expect(parse({ backup: {} }).backup).toEqual({ policy: 'off', store: 'local', retention: {} });
    expect(
      parse({
        backup: {
          policy: 'all',
          store: 'server',
          dir: 'b',
          keyFile: '../k',
          retention: { keep: 3, maxAgeDays: 7, maxSizeMB: 2 },
        },
        environments: { prod: { urlEnv: 'P', branch: 'main', backup: { policy: 'destructive' } } },
      }),
    ).toMatchObject({
      backup: {
        policy: 'all',
        store: 'server',
        dir: 'b',
        keyFile: '../k',
        retention: { keep: 3, maxAgeDays: 7, maxBytes: 2097152 },
      },
    });
    expect(
      parse({
        environments: { prod: { urlEnv: 'P', branch: 'main', backup: { policy: 'destructive' } } },
      }).environments.get('prod')?.backupPolicy,
    ).toBe('destructive');
  });
  test('errors name the key path', () => {
    const err = (o: unknown) => thrown(() => parse(o)).message;
    expect(err({ backup: { policy: 'some' } })).toBe(
      'braid.json: backup.policy: expected "off", "destructive" or "all", got string "some"',
    );
    expect(err({ backup: { store: 's3' } })).toMatch(
      /^braid.json: backup.store: expected "local" or "server"/,
    );
    expect(err({ backup: { retention: { keep: 0 } } })).toMatch(
      /^braid.json: backup.retention.keep: expected a whole number ≥ 1/,
    );
    expect(err({ backup: { key: 'x' } })).toMatch(/^braid.json: backup.key: unknown key/);
    expect(err({ environments: { p: { urlEnv: 'P', branch: 'm', backup: { policy: 1 } } } })).toMatch(
      /^braid.json: environments.p.backup.policy: expected/,
    );
  });
});
