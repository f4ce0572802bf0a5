/**
 * What the embedded database (PGlite, `.git/braid/pglite`) has applied, readable without booting
 * it. Booting PGlite costs one to two seconds, too much for a post-checkout hook that runs on every
 * `git checkout`. So every braid command that opens the embedded database leaves
 * `<data dir>.state.json` behind when it closes it: the applied rows, and a fingerprint of the data
 * directory taken after the close (a hash of `global/pg_control` and of the names, sizes and
 * modification times of the WAL files; PostgreSQL rewrites both whenever the database is opened,
 * changed or shut down). A reader trusts the file only while the fingerprint still matches;
 * otherwise (a crash, an older braid) it must open the database.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { computeStatus, readApplied, type AppliedRow, type Executor, type SourceMigration } from '@braid/pg';

const VERSION = 1;

export function stateFileOf(dataDir: string): string {
  return `${dataDir.replace(/[\\/]+$/, '')}.state.json`;
}

/** The data directory's fingerprint; undefined when it is not a PostgreSQL data directory. */
export function dataDirFingerprint(dataDir: string): string | undefined {
  try {
    const h = createHash('sha256');
    h.update(fs.readFileSync(path.join(dataDir, 'global', 'pg_control')));
    const wal = path.join(dataDir, 'pg_wal');
    for (const f of fs.readdirSync(wal).sort()) {
      const st = fs.statSync(path.join(wal, f));
      if (st.isFile()) h.update(`\n${f} ${st.size} ${st.mtimeMs}`);
    }
    return h.digest('hex');
  } catch {
    return undefined;
  }
}

interface StateDoc {
  v: number;
  fingerprint: string;
  applied: AppliedRow[];
}

/** The applied rows recorded for this data directory, when the record is still current. */
export function readEmbeddedState(dataDir: string): AppliedRow[] | undefined {
  try {
    const doc = JSON.parse(fs.readFileSync(stateFileOf(dataDir), 'utf8')) as StateDoc;
    if (doc.v !== VERSION || !Array.isArray(doc.applied)) return undefined;
    const now = dataDirFingerprint(dataDir);
    return now !== undefined && now === doc.fingerprint ? doc.applied : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the record (after the database was closed). Never throws: a missing record costs speed only. */
export function writeEmbeddedState(dataDir: string, applied: AppliedRow[]): void {
  const file = stateFileOf(dataDir);
  try {
    const fingerprint = dataDirFingerprint(dataDir);
    if (fingerprint === undefined) return;
    const tmp = `${file}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ v: VERSION, fingerprint, applied } satisfies StateDoc) + '\n');
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(file, { force: true });
  }
}

/** The applied rows of an open database (none when braid's registry is not there yet). */
export async function appliedRows(ex: Executor): Promise<AppliedRow[]> {
  const r = await ex.query<{ ok: boolean }>(`select to_regclass('braid.applied') is not null as ok`);
  return r.rows[0]?.ok ? readApplied(ex) : [];
}

/**
 * Makes `ex.close()` leave the record behind: the applied rows are read just before the close,
 * the fingerprint just after it. If the rows cannot be read (an aborted transaction), the stale
 * record is removed so that no reader trusts it.
 */
export function recordOnClose(ex: Executor, dataDir: string): void {
  const close = ex.close.bind(ex);
  ex.close = async () => {
    let applied: AppliedRow[] | undefined;
    try {
      applied = await appliedRows(ex);
    } catch {
      applied = undefined;
    }
    await close();
    if (applied) writeEmbeddedState(dataDir, applied);
    else fs.rmSync(stateFileOf(dataDir), { force: true });
  };
}

export interface DriftNoteInput {
  migrations: readonly SourceMigration[];
  applied: readonly AppliedRow[];
  /** The branch (or commit) checked out before, for the fix command. */
  previous: string;
  /** The data directory as the user should type it (relative to the project root). */
  dataDirLabel: string;
}

/**
 * The one-line note after a checkout (pure): applied migrations this branch does not have (or has
 * with other contents) came from another branch and must be rolled back where their down.sql
 * exists; a branch with only unapplied migrations needs `braid up`. Undefined when in sync.
 */
export function driftNote(i: DriftNoteInput): string | undefined {
  const s = computeStatus(i.migrations, i.applied, []);
  const foreign = new Set([...s.unknown, ...s.edited.map((e) => e.id)]);
  const list = (ids: string[]) => ids.slice(0, 3).join(', ') + (ids.length > 3 ? `, … (${ids.length})` : '');
  if (foreign.size > 0) {
    const ordered = [...s.applied].sort((a, b) => a.historySeq - b.historySeq);
    const first = ordered.findIndex((a) => foreign.has(a.id));
    const undo =
      first > 0 ? `braid down --to ${ordered[first - 1].id}` : `braid down --steps ${ordered.length}`;
    const what = [
      s.unknown.length > 0
        ? `${s.unknown.length} migration(s) this branch does not have (${list(s.unknown)})`
        : '',
      s.edited.length > 0
        ? `${s.edited.length} migration(s) with other contents than this branch's files (${list(s.edited.map((e) => e.id))})`
        : '',
    ]
      .filter(Boolean)
      .join(' and ');
    return (
      `braid: history drift: the embedded database has ${what}, applied on another branch: ` +
      `roll back with \`git checkout ${i.previous} && ${undo}\`, then come back and \`braid up\`; ` +
      `or start afresh with \`rm -rf ${i.dataDirLabel} && braid up\``
    );
  }
  if (s.pending.length > 0) {
    return `braid: the embedded database lacks ${s.pending.length} migration(s) of this branch (${list(s.pending)}): run \`braid up\``;
  }
  return undefined;
}
