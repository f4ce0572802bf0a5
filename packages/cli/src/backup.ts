/**
 * Pre-change backups, the command-line edge (docs/backups.md): the settings (braid.json `backup`,
 * the environment's policy, `--backup`), the key (BRAID_BACKUP_KEY or `backup.keyFile`), the
 * archive stores (a local folder, written temp + fsync + rename; or the `braid_backup` schema of
 * the target, written in the migration's transaction) and the engine hooks of up and down.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  BACKUP_EXT,
  BACKUP_KEY_ENV,
  BackupArchiveError,
  BackupKeyError,
  EnvironmentError,
  UsageError,
  archiveName,
  authenticateArchive,
  bufferSource,
  createArchiveWriter,
  parseArchiveName,
  parseBackupKey,
  pruneArchives,
  readArchive,
  redactTarget,
  targetTag,
  type ArchiveHeader,
  type ArchiveSource,
  type ArchiveWriter,
  type BackupConfig,
  type BackupPolicyName,
  type BraidConfig,
} from '@braid/core';
import {
  backupOf,
  backupsTableExists,
  copyTargetsTo,
  ensureServerStore,
  markRestored,
  readBackups,
  recordBackup,
  resolveTargets,
  restoreTables,
  serverStoreExists,
  SERVER_STORE_SCHEMA,
  type BackupHooks,
  type BackupRow,
  type Executor,
  type SourceMigration,
} from '@braid/pg';
import {
  analyzeFile,
  backupTargets,
  dataAtRisk,
  loadParser,
  mayPutDataAtRisk,
  type BackupTarget,
} from '@braid/sql';
import { commonDirOf, findGitDir } from './statcache';

export interface BackupSettings {
  policy: BackupPolicyName;
  store: 'local' | 'server';
  /** The local folder (absolute). */
  dir: string;
  keyFile?: string;
  role?: string;
  retention: BackupConfig['retention'];
}

const POLICIES: readonly BackupPolicyName[] = ['off', 'destructive', 'all'];

/** `--backup` checked: off, destructive or all. */
export function parseBackupFlag(v: string | undefined): BackupPolicyName | undefined {
  if (v === undefined) return undefined;
  if (!(POLICIES as readonly string[]).includes(v))
    throw new UsageError('bad-backup', `--backup ${v}: expected off, destructive or all`, {
      data: { argument: '--backup' },
    });
  return v as BackupPolicyName;
}

/**
 * The git common directory of `root` (shared by all worktrees): found on disk as git finds it
 * (the nearest `.git`, a worktree's `gitdir:` file and its `commondir`), without spawning git
 * (≈15 ms, measured on `braid up --backup`); git itself answers when the disk does not
 * (`$GIT_COMMON_DIR`, no `.git` found).
 */
export function gitCommonDir(root: string): string | undefined {
  const env = process.env['GIT_COMMON_DIR'];
  const gd = env ? undefined : findGitDir(root);
  const common = gd && commonDirOf(gd);
  if (common) return common;
  try {
    const out = execFileSync('git', ['rev-parse', '--git-common-dir'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return path.resolve(root, out);
  } catch {
    return undefined;
  }
}

function inside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The settings from braid.json and the flags. The default folder is `<git-dir>/braid/backups`
 * (never committed, shared by worktrees), else `.braid/backups`. A folder inside the work tree
 * that git does not ignore is refused (archives must not be committed by accident).
 */
export function backupSettings(
  root: string,
  config: BraidConfig | undefined,
  opts: { flag?: BackupPolicyName; environment?: string; role?: string } = {},
): BackupSettings {
  const b = config?.backup;
  const envPolicy = opts.environment ? config?.environments.get(opts.environment)?.backupPolicy : undefined;
  const policy = opts.flag ?? envPolicy ?? b?.policy ?? 'off';
  // the git directory only when needed (`braid up` without backups runs no extra git process)
  let gdMemo: string | undefined | null = null;
  const gdOf = (): string | undefined => (gdMemo === null ? (gdMemo = gitCommonDir(root)) : gdMemo);
  const explicit = b?.dir ? path.resolve(root, b.dir) : undefined;
  if (explicit && inside(root, explicit) && !(gdOf() && inside(gdOf()!, explicit))) {
    const dir = explicit;
    let ignored = false;
    try {
      execFileSync('git', ['check-ignore', '-q', '--no-index', path.relative(root, dir) + '/'], {
        cwd: root,
        stdio: 'ignore',
      });
      ignored = true;
    } catch {
      ignored = false;
    }
    if (!ignored)
      throw new UsageError(
        'backup-dir-tracked',
        `braid.json: backup.dir: ${b?.dir} is inside the work tree and not ignored by git (archives would be committed); add it to .gitignore or choose a folder outside`,
        { data: { key: 'backup.dir' } },
      );
  }
  let dirMemo = explicit;
  const dirOf = (): string => {
    if (dirMemo === undefined) {
      const gd = gdOf();
      dirMemo = gd ? path.join(gd, 'braid', 'backups') : path.join(root, '.braid', 'backups');
    }
    return dirMemo;
  };
  const keyFile = b?.keyFile ? path.resolve(root, b.keyFile) : undefined;
  if (keyFile && inside(dirOf(), keyFile))
    throw new UsageError(
      'backup-key-beside-archives',
      `braid.json: backup.keyFile: ${b?.keyFile} is inside the archive folder; keep the key away from the archives`,
      { data: { key: 'backup.keyFile' } },
    );
  return {
    policy,
    store: b?.store ?? 'local',
    get dir() {
      return dirOf();
    },
    ...(keyFile ? { keyFile } : {}),
    ...(opts.role || b?.role ? { role: (opts.role ?? b?.role)! } : {}),
    retention: b?.retention ?? {},
  };
}

/** The key: BRAID_BACKUP_KEY, else backup.keyFile; `why` says what needs it. */
export function loadBackupKey(s: BackupSettings, why: string): Buffer {
  const env = process.env[BACKUP_KEY_ENV];
  if (env !== undefined && env !== '') return parseBackupKey(env, BACKUP_KEY_ENV);
  if (s.keyFile) {
    let text: string;
    try {
      text = fs.readFileSync(s.keyFile, 'utf8');
    } catch (e) {
      throw new BackupKeyError(
        'backup-key-missing',
        `backup.keyFile ${s.keyFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'}); ${why}`,
        { data: { file: s.keyFile } },
      );
    }
    return parseBackupKey(text, `backup.keyFile ${s.keyFile}`);
  }
  throw new BackupKeyError(
    'backup-key-missing',
    `no backup key: set ${BACKUP_KEY_ENV} (base64 or hex of 32 bytes, e.g. \`openssl rand -base64 32\`) or backup.keyFile in braid.json; ${why}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Stores

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // not supported on this platform: the rename is still atomic
  }
}

/** An archive being written: a temp file in the folder until commit (fsync, rename, fsync the folder). */
export interface LocalArchiveFile {
  write(chunk: Buffer): void;
  /** fsync, rename to the archive's name, fsync the folder; the final path. */
  commit(): string;
  /** Removes the temp file (the backup failed). */
  abort(): void;
}

/**
 * Opens `.<name>.<pid>.tmp` in the folder (mode 0600): the bytes are written as they come and
 * only a complete, fsync'ed file is renamed to the archive's name, so a kill at any point leaves
 * at most a temp file (removed by the rotation after 10 minutes), never a half archive.
 */
export function openLocalArchive(dir: string, name: string): LocalArchiveFile {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
  let fd: number | undefined = fs.openSync(tmp, 'wx', 0o600);
  const close = (): void => {
    if (fd !== undefined) fs.closeSync(fd);
    fd = undefined;
  };
  return {
    write(chunk) {
      if (fd === undefined) throw new Error(`${tmp}: already closed`);
      for (let at = 0; at < chunk.length;) at += fs.writeSync(fd, chunk, at, chunk.length - at);
    },
    commit() {
      if (fd === undefined) throw new Error(`${tmp}: already closed`);
      fs.fsyncSync(fd);
      close();
      fs.renameSync(tmp, file);
      fsyncDir(dir);
      return file;
    },
    abort() {
      try {
        close();
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    },
  };
}

/** Writes a whole archive atomically: a temp file in the folder, fsync, rename, fsync the folder. */
export function writeLocalArchive(dir: string, name: string, bytes: Buffer): string {
  const f = openLocalArchive(dir, name);
  try {
    f.write(bytes);
    return f.commit();
  } catch (e) {
    f.abort();
    throw e;
  }
}

/** A local archive file as an ArchiveSource (read by position; streamed in 1 MB reads). */
export function fileSource(file: string): ArchiveSource {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    throw new EnvironmentError(
      'backup-missing',
      `${file}: cannot read the archive (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      { data: { file } },
    );
  }
  return {
    size,
    read(position, length) {
      const fd = fs.openSync(file, 'r');
      try {
        const b = Buffer.alloc(Math.max(0, Math.min(length, size - position)));
        let got = 0;
        while (got < b.length) {
          const n = fs.readSync(fd, b, got, b.length - got, position + got);
          if (n === 0) break;
          got += n;
        }
        return b.subarray(0, got);
      } finally {
        fs.closeSync(fd);
      }
    },
    stream(start, end) {
      if (end <= start) return bufferSource(Buffer.alloc(0)).stream(0, 0);
      return fs.createReadStream(file, { start, end: end - 1, highWaterMark: 1 << 20 });
    },
  };
}

/** sha256:<hex> of a whole source, streamed (compared with braid.backups before a restore). */
export async function sourceSha256(src: ArchiveSource): Promise<string> {
  const h = createHash('sha256');
  for await (const c of src.stream(0, src.size)) h.update(c);
  return 'sha256:' + h.digest('hex');
}

export interface StoredArchive {
  name: string;
  store: 'local' | 'server';
  bytes: number;
  /** Where it is: the file, or braid_backup.archives. */
  location: string;
}

/** The archives of a store (local: the folder's *.braidbak; server: the braid_backup table). */
export async function listArchives(s: BackupSettings, ex?: Executor): Promise<StoredArchive[]> {
  if (s.store === 'server') {
    if (!ex || !(await serverStoreExists(ex))) return [];
    const r = await ex.query<{ name: string; n: string }>(
      `select name, octet_length(bytes)::text as n from ${SERVER_STORE_SCHEMA}.archives order by name`,
    );
    return r.rows.map((x) => ({
      name: x.name,
      store: 'server',
      bytes: Number(x.n),
      location: `${SERVER_STORE_SCHEMA}.archives`,
    }));
  }
  let names: string[];
  try {
    names = fs.readdirSync(s.dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(BACKUP_EXT) && !n.startsWith('.'))
    .sort()
    .map((n) => {
      const file = path.join(s.dir, n);
      return { name: n, store: 'local', bytes: fs.statSync(file).size, location: file };
    });
}

/** Leftover temp files of interrupted writes (kill -9 during a backup). */
export function tempLeftovers(s: BackupSettings): string[] {
  try {
    return fs
      .readdirSync(s.dir)
      .filter((n) => n.startsWith('.') && n.endsWith('.tmp'))
      .map((n) => path.join(s.dir, n));
  } catch {
    return [];
  }
}

export async function readArchiveBytes(
  s: BackupSettings,
  name: string,
  ex?: Executor,
  store: 'local' | 'server' = s.store,
): Promise<Buffer> {
  if (store === 'server') {
    if (!ex) throw new UsageError('backup-needs-db', `${name} is kept on the server: pass --db`);
    const r = await ex.query<{ bytes: Buffer }>(
      `select bytes from ${SERVER_STORE_SCHEMA}.archives where name = $1`,
      [name],
    );
    const b = r.rows[0]?.bytes;
    if (!b)
      throw new EnvironmentError('backup-missing', `${SERVER_STORE_SCHEMA}.archives: no archive ${name}`);
    return Buffer.from(b);
  }
  const file = path.isAbsolute(name) ? name : path.join(s.dir, name);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new EnvironmentError(
      'backup-missing',
      `${file}: cannot read the archive (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      { data: { file } },
    );
  }
}

/** An archive of a store as an ArchiveSource (local: the file, streamed; server: its bytes). */
export async function archiveSource(
  s: BackupSettings,
  name: string,
  ex?: Executor,
  store: 'local' | 'server' = s.store,
): Promise<ArchiveSource> {
  if (store === 'server') return bufferSource(await readArchiveBytes(s, name, ex, store));
  return fileSource(path.isAbsolute(name) ? name : path.join(s.dir, name));
}

export async function removeArchive(a: StoredArchive, ex?: Executor): Promise<void> {
  if (a.store === 'server') {
    await ex?.query(`delete from ${SERVER_STORE_SCHEMA}.archives where name = $1`, [a.name]);
    return;
  }
  fs.rmSync(a.location, { force: true });
}

// ---------------------------------------------------------------------------------------------
// Data at risk of a migration, as plan and up see it.

export async function targetsOf(
  m: Pick<SourceMigration, 'id' | 'files'>,
  policy: BackupPolicyName,
): Promise<{
  targets: BackupTarget[];
  risks: ReturnType<typeof dataAtRisk>;
}> {
  if (!mayPutDataAtRisk(m.files.up)) return { risks: [], targets: [] };
  await loadParser();
  const file = analyzeFile(`.migrations/${m.id}/up.sql`, m.files.up);
  const risks = dataAtRisk(file.statements);
  return { risks, targets: backupTargets(risks, policy) };
}

const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;

/** The engine hooks: back up before up.sql, restore after down.sql. */
export function backupHooks(
  s: BackupSettings,
  target: string,
  commit: string | undefined,
  opts: { restore: boolean; up?: boolean; onArchive?: (name: string) => void },
): BackupHooks {
  let rows: BackupRow[] | undefined;
  const hooks: BackupHooks = {};
  if (s.policy !== 'off' && opts.up !== false) {
    hooks.beforeUp = async (ex, m) => {
      const { targets } = await targetsOf(m, s.policy);
      if (targets.length === 0) return undefined;
      if (!(await backupsTableExists(ex)))
        throw new EnvironmentError(
          'backup-registry',
          `${ex.label}: braid.backups is missing (registry too old)`,
        );
      const { tables } = await resolveTargets(ex, targets);
      if (tables.length === 0) return undefined;
      const key = loadBackupKey(
        s,
        `${m.id} puts data at risk and braid.json asks for a backup (policy ${s.policy}); nothing was applied`,
      );
      const createdAt = new Date().toISOString();
      const meta = { migration: m.id, target: redactTarget(target), createdAt, commit: commit ?? null };
      const name = archiveName(meta);
      // streaming: COPY → gzip → AES-GCM → the temp file (local) or memory (server, one bytea)
      let file: LocalArchiveFile | undefined;
      const parts: Buffer[] = [];
      let writer: ArchiveWriter | undefined;
      let written: Awaited<ReturnType<ArchiveWriter['finish']>>;
      try {
        const copied = await copyTargetsTo(
          ex,
          tables,
          (metaTables) => {
            const f = s.store === 'local' ? openLocalArchive(s.dir, name) : undefined;
            file = f;
            const sink = f ? (c: Buffer): void => f.write(c) : (c: Buffer): void => void parts.push(c);
            writer = createArchiveWriter(meta, metaTables, key, sink);
            return writer;
          },
          s.role ? { role: s.role } : {},
        );
        written = await writer!.finish();
        if (written.header.tables.length !== copied.tables.length) throw new Error('archive: table count');
        if (file) file.commit();
        file = undefined;
      } catch (e) {
        writer?.abort();
        file?.abort();
        throw e;
      }
      if (s.store === 'server') {
        await ensureServerStore(ex);
        await ex.query(`insert into ${SERVER_STORE_SCHEMA}.archives (name, bytes) values ($1, $2)`, [
          name,
          Buffer.concat(parts),
        ]);
      }
      const total = written.header.tables.reduce((a, t) => a + t.rows, 0);
      await recordBackup(ex, {
        id: m.id,
        archive: name,
        store: s.store,
        createdAt,
        keyId: written.header.keyId,
        sha256: written.sha256,
        rows: total,
        bytes: written.bytes,
      });
      opts.onArchive?.(name);
      return `backed up ${plural(total, 'row')} of ${plural(written.header.tables.length, 'table')} to ${name}`;
    };
  }
  if (opts.restore) {
    hooks.prepareDown = async (ex, m) => {
      rows ??= await readBackups(ex);
      const row = backupOf(rows, m.id);
      if (!row) return undefined;
      const key = loadBackupKey(
        s,
        `${m.id} has a backup (${row.archive}) to restore after down.sql; or pass --no-restore to roll back without it; nothing was rolled back`,
      );
      const src = await archiveSource(s, row.archive, ex, row.store === 'server' ? 'server' : 'local');
      const label = row.store === 'server' ? `${SERVER_STORE_SCHEMA}.archives/${row.archive}` : row.archive;
      if ((await sourceSha256(src)) !== row.sha256)
        throw new BackupArchiveError(
          'backup-tampered',
          `${label}: the archive differs from the one braid.backups recorded (sha256); refused, nothing was rolled back`,
        );
      // key and GCM tag checked before anything rolls back; the restore reads it again, streaming,
      // and checks it again before the step commits
      const header = await authenticateArchive(src, key, label);
      return async (tx) => {
        const restored = await restoreTables(
          tx,
          header,
          (each) => readArchive(src, key, label, (i, _t, chunks) => each(i, chunks)).then(() => undefined),
          label,
        );
        await markRestored(tx, row.archive);
        const n = restored.reduce((a, r) => a + r.rows, 0);
        const unmatched = restored.reduce((a, r) => a + r.unmatched, 0);
        return `restored ${plural(n, 'row')} of ${plural(restored.length, 'table')} from ${row.archive}${unmatched ? ` (${unmatched} rows of the backup no longer exist)` : ''}`;
      };
    };
  }
  return hooks;
}

/**
 * Retention after a backup: orphans (archives of this target no braid.backups row knows: an `up`
 * that did not commit) and the rules of braid.json; archives `down` would restore from are kept.
 */
export async function applyRetention(
  s: BackupSettings,
  ex: Executor,
  target: string,
  opts: { dryRun?: boolean } = {},
): Promise<Array<{ name: string; reason: string }>> {
  const archives = await listArchives(s, ex);
  const rows = await readBackups(ex);
  const known = new Map(rows.map((r) => [r.archive, r]));
  const tag = targetTag(redactTarget(target));
  const ids = new Set(rows.filter((r) => r.restoredAt === null).map((r) => r.id));
  const latest = new Set([...ids].map((id) => backupOf(rows, id)?.archive).filter(Boolean));
  const entries = archives.map((a) => {
    const parsed = parseArchiveName(a.name);
    const mine = parsed?.tag === tag;
    const createdAt = parsed?.createdAt ?? new Date(0).toISOString();
    return {
      name: a.name,
      createdAt,
      bytes: a.bytes,
      protected: latest.has(a.name),
      ...(mine && !known.has(a.name) ? { orphan: true } : {}),
    };
  });
  const gone = pruneArchives(entries, s.retention, Date.now());
  if (!opts.dryRun) {
    const byName = new Map(archives.map((a) => [a.name, a]));
    for (const g of gone) await removeArchive(byName.get(g.name)!, ex);
    // temp files of interrupted writes (kill -9), once old enough not to be another run's
    if (s.store === 'local')
      for (const t of tempLeftovers(s))
        if (Date.now() - fs.statSync(t).mtimeMs > 10 * 60_000) fs.rmSync(t, { force: true });
  }
  return gone;
}

export type { ArchiveHeader };

/** The backups of one apply (up, promote, a rollout target): the hooks, then retention if it took any. */
export interface ApplyBackups {
  hooks: BackupHooks;
  /**
   * Retention and rotation once the apply is over, only when it wrote an archive; what it pruned,
   * or why it failed, as one-line messages (a failure is a warning: the migrations are applied).
   */
  prune(ex: Executor): Promise<string[]>;
}

export function applyBackups(s: BackupSettings, target: string, commit: string | undefined): ApplyBackups {
  let taken = 0;
  return {
    hooks: backupHooks(s, target, commit, { restore: false, onArchive: () => taken++ }),
    async prune(ex) {
      if (taken === 0) return [];
      try {
        return (await applyRetention(s, ex, target)).map((g) => `pruned ${g.name} (${g.reason})`);
      } catch (e) {
        return [`warning: backup retention failed: ${(e as Error).message}`];
      }
    },
  };
}
