/**
 * Pre-change backups, the database part (docs/backups.md): which tables and columns a backup
 * target names in this database (key, copied columns and their types), estimates for `braid
 * plan`, the copy itself (COPY … TO STDOUT inside the migration's transaction, before up.sql),
 * the restore after down.sql (matching rows by key, in that same transaction) and the registry
 * rows (braid.backups) through which `braid down` finds the archive of an applied migration.
 *
 * What the backup role needs: SELECT on the affected tables, nothing else: the copy only reads.
 * With `backup.role`, the copy runs under `SET LOCAL ROLE` (same transaction and snapshot as the
 * migration). LOCK … IN SHARE MODE (no write between the copy and up.sql) needs UPDATE, DELETE or
 * TRUNCATE: a role that may only SELECT gets COPY's own ACCESS SHARE lock instead.
 */
import {
  BackupArchiveError,
  BackupKeyError,
  EnvironmentError,
  FindingsError,
  type ArchiveHeader,
  type ArchiveTable,
  type ArchiveTableMeta,
  type BackupScope,
} from '@braid/core';
import type { BackupTarget } from '@braid/sql';
import type { Executor } from './executor';
import { copyIn, copyOutTo } from './copy';
import { pgErrorInfo } from './pgerror';
import { quoteIdent } from './quote';

const qt = (schema: string, name: string): string => `${quoteIdent(schema)}.${quoteIdent(name)}`;

interface CatalogTable {
  oid: string;
  schema: string;
  name: string;
  columns: { name: string; type: string; generated: boolean }[];
  key: string[];
  /** null: never analyzed (PostgreSQL 14+ says -1). */
  reltuples: number | null;
  totalBytes: number;
}

const Q_TABLES = `
select c.oid::text as oid, n.nspname as schema, c.relname as name,
       case when c.reltuples < 0 then null else c.reltuples end::float8 as reltuples,
       pg_total_relation_size(c.oid)::float8 as total_bytes,
       coalesce((select json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                                  'generated', a.attgenerated <> '') order by a.attnum)
                   from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns,
       coalesce((select json_agg(a.attname order by k.ord)
                   from (select i.indkey, i.indisprimary from pg_index i
                          where i.indrelid = c.oid and i.indisunique and i.indpred is null and i.indexprs is null
                            and not exists (select from unnest(i.indkey) x(att)
                                             join pg_attribute xa on xa.attrelid = c.oid and xa.attnum = x.att
                                            where not xa.attnotnull)
                          order by i.indisprimary desc, array_length(i.indkey, 1), i.indexrelid limit 1) ix
                   cross join unnest(ix.indkey) with ordinality k(att, ord)
                   join pg_attribute a on a.attrelid = c.oid and a.attnum = k.att), '[]') as key
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p') and not c.relispartition
   and ((n.nspname = $1 and c.relname = $2) or ($2 = '*' and n.nspname = $1))
 order by c.relname`;

function parseJson<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

async function catalogTables(ex: Executor, schema: string, name: string): Promise<CatalogTable[]> {
  const r = await ex.query<{
    oid: string;
    schema: string;
    name: string;
    reltuples: number | null;
    total_bytes: number;
    columns: unknown;
    key: unknown;
  }>(Q_TABLES, [schema, name]);
  return r.rows.map((x) => ({
    oid: x.oid,
    schema: x.schema,
    name: x.name,
    reltuples: x.reltuples === null ? null : Number(x.reltuples),
    totalBytes: Number(x.total_bytes),
    columns: parseJson(x.columns),
    key: parseJson(x.key),
  }));
}

/**
 * The tables a `TRUNCATE schema.name CASCADE` also empties: every table with a foreign key to
 * it, and to those, recursively (pg_constraint, contype 'f'; cycles end by `union`). Partitions
 * are reached through their partitioned table (copied with it). In a stable order.
 */
const Q_CASCADE = `
with recursive r(oid) as (
  select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = $1 and c.relname = $2
  union
  select con.conrelid from pg_constraint con join r on con.confrelid = r.oid where con.contype = 'f'
)
select n.nspname as schema, c.relname as name
  from r join pg_class c on c.oid = r.oid join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p') and not c.relispartition and not (n.nspname = $1 and c.relname = $2)
 order by 1, 2`;

/**
 * The targets with what their `TRUNCATE … CASCADE`s also empty (BackupTarget.cascade): each
 * referencing table, found in the catalog now, becomes a whole-table target of its own (or
 * widens the table's target to the whole table), its reason naming the truncated table. `via`:
 * the truncated table of each table added this way.
 */
export async function withCascades(
  ex: Executor,
  targets: readonly BackupTarget[],
): Promise<{ targets: BackupTarget[]; via: Map<string, string> }> {
  const out = targets.map((t) => ({ ...t, reasons: [...t.reasons] }));
  const via = new Map<string, string>();
  const byKey = new Map(out.map((t) => [`${t.table.schema}.${t.table.name}`, t]));
  for (const t of targets) {
    if (!t.cascade || t.table.name === '*') continue;
    const from = `${t.table.schema}.${t.table.name}`;
    const lines = t.reasons
      .map((r) => /\(line (\d+)\)$/.exec(r)?.[1])
      .filter((x): x is string => x !== undefined);
    const reason = `truncate cascade of ${from}${lines.length ? ` (line ${lines[0]})` : ''}`;
    const r = await ex.query<{ schema: string; name: string }>(Q_CASCADE, [t.table.schema, t.table.name]);
    for (const d of r.rows) {
      const k = `${d.schema}.${d.name}`;
      const had = byKey.get(k);
      if (had) {
        if (!had.reasons.includes(reason)) had.reasons.push(reason);
        if (had.scope !== 'table') {
          had.scope = 'table';
          delete had.columns;
          delete had.where;
          delete had.qualifier;
        }
        continue;
      }
      const added: BackupTarget = {
        table: { schema: d.schema, name: d.name },
        scope: 'table',
        reasons: [reason],
      };
      out.push(added);
      byKey.set(k, added);
      via.set(k, from);
    }
  }
  return { targets: out, via };
}

/** A target as this database has it: what one archive table will hold. */
export interface ResolvedTarget extends Omit<ArchiveTable, 'rows' | 'bytes' | 'sha256'> {
  /** The SELECT that COPY runs. */
  select: string;
  estimate: { rows: number | null; bytes: number | null; tableBytes: number };
  notes: string[];
  /** A table only a `TRUNCATE … CASCADE` of another empties: that table ("public.parent"). */
  via?: string;
}

/**
 * The targets resolved against the catalog. A target whose table does not exist is left out
 * (with a note: up.sql will fail on it, or it is created earlier in the same migration); a table
 * without a key (primary key or unique index on NOT NULL columns) is copied whole, since rows
 * cannot be matched back one by one.
 */
export async function resolveTargets(
  ex: Executor,
  targets: readonly BackupTarget[],
): Promise<{ tables: ResolvedTarget[]; skipped: string[] }> {
  const tables: ResolvedTarget[] = [];
  const skipped: string[] = [];
  const expanded = await withCascades(ex, targets);
  for (const t of expanded.targets) {
    const via = expanded.via.get(`${t.table.schema}.${t.table.name}`);
    const found = await catalogTables(ex, t.table.schema, t.table.name);
    if (found.length === 0) {
      if (t.table.name !== '*') skipped.push(`${t.table.schema}.${t.table.name}: no such table here`);
      continue;
    }
    for (const c of found) {
      const notes: string[] = [];
      let scope: BackupScope = t.scope;
      if (scope !== 'table' && c.key.length === 0) {
        notes.push('no primary key or unique NOT NULL key: copied whole, restored by replacing its rows');
        scope = 'table';
      }
      const plain = c.columns.filter((x) => !x.generated);
      let cols = plain;
      if (scope === 'columns') {
        const wanted = new Set([...c.key, ...(t.columns ?? [])]);
        cols = plain.filter((x) => wanted.has(x.name));
        const missing = (t.columns ?? []).filter((x) => !plain.some((p) => p.name === x));
        if (missing.length) notes.push(`column ${missing.join(', ')} not found: not copied`);
        if (cols.length === c.key.length) {
          skipped.push(`${c.schema}.${c.name}: none of its columns at risk exist here`);
          continue;
        }
      }
      const from = qt(c.schema, c.name);
      const q = scope === 'rows' ? quoteIdent(t.qualifier ?? c.name) : undefined;
      const list = cols.map((x) => (q ? `${q}.${quoteIdent(x.name)}` : quoteIdent(x.name))).join(', ');
      const select =
        scope === 'rows'
          ? `select ${list} from ${from} as ${q} where ${(t.where ?? []).map((w) => `(${w})`).join(' or ')}`
          : `select ${list} from ${from}`;
      let rows: number | null = c.reltuples;
      let bytes: number | null = scope === 'table' ? c.totalBytes : null;
      if (scope === 'rows') {
        try {
          await ex.exec('savepoint braid_estimate');
          const r = await ex.query<Record<string, unknown>>(`explain (format json) ${select}`);
          const raw = Object.values(r.rows[0] ?? {})[0];
          const doc = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
            Plan: { 'Plan Rows': number; 'Plan Width': number };
          }[];
          rows = doc[0].Plan['Plan Rows'];
          bytes = rows * doc[0].Plan['Plan Width'];
          await ex.exec('release savepoint braid_estimate');
        } catch {
          await ex.exec('rollback to savepoint braid_estimate').catch(() => undefined);
          notes.push('the WHERE does not plan here: estimate unknown');
        }
      } else if (scope === 'columns') {
        const r = await ex.query<{ w: number | null }>(
          'select sum(avg_width)::float8 as w from pg_stats where schemaname = $1 and tablename = $2 and attname = any($3::text[])',
          [c.schema, c.name, cols.map((x) => x.name)],
        );
        const w = r.rows[0]?.w;
        bytes =
          w === null || w === undefined || c.reltuples === null ? null : Math.round(Number(w) * c.reltuples);
      }
      tables.push({
        schema: c.schema,
        name: c.name,
        scope,
        columns: cols.map((x) => x.name),
        types: cols.map((x) => x.type),
        key: c.key,
        ...(scope === 'rows' ? { where: [...(t.where ?? [])], qualifier: t.qualifier ?? c.name } : {}),
        reasons: [...t.reasons],
        select,
        estimate: { rows: rows === null ? null : Math.round(rows), bytes, tableBytes: c.totalBytes },
        notes,
        ...(via ? { via } : {}),
      });
    }
  }
  return { tables, skipped };
}

function backupFailed(what: string, e: unknown): EnvironmentError {
  const info = pgErrorInfo(e);
  return new EnvironmentError(
    'backup-failed',
    `backup of ${what}: ${info ? `${info.message} (SQLSTATE ${info.code})` : (e as Error).message}; nothing was applied`,
    { data: { table: what, ...(info ? { sqlstate: info.code } : {}) }, cause: e },
  );
}

/** Where a streaming backup's data goes (an archive writer): opened once every table is locked. */
export interface BackupSink {
  write(chunk: Buffer): Promise<void> | undefined;
  endTable(rows: number): void;
}

export type CopiedTable = Omit<ArchiveTable, 'bytes' | 'sha256'>;

const metaOf = (t: ResolvedTarget): ArchiveTableMeta => ({
  schema: t.schema,
  name: t.name,
  scope: t.scope,
  columns: t.columns,
  types: t.types,
  key: t.key,
  ...(t.where ? { where: t.where, qualifier: t.qualifier ?? t.name } : {}),
  reasons: t.reasons,
});

/**
 * Copies the resolved targets (inside the caller's transaction, before up.sql), streaming: every
 * table is locked first (SHARE: no write between the copy and the migration; ACCESS SHARE when
 * the role may only read), then `open` is called (so no archive file exists while a lock is
 * awaited) and each table's COPY … TO STDOUT text goes to its sink as it arrives.
 */
export async function copyTargetsTo(
  ex: Executor,
  tables: readonly ResolvedTarget[],
  open: (tables: ArchiveTableMeta[]) => BackupSink,
  opts: { role?: string } = {},
): Promise<{ tables: CopiedTable[] }> {
  const meta = tables.map(metaOf);
  const out: CopiedTable[] = [];
  if (opts.role && tables.length > 0) {
    try {
      await ex.exec(`set local role ${quoteIdent(opts.role)}`);
    } catch (e) {
      throw backupFailed(`role ${opts.role}`, e);
    }
  }
  try {
    for (const t of tables) {
      try {
        await ex.exec('savepoint braid_backup_lock');
        try {
          await ex.exec(`lock table ${qt(t.schema, t.name)} in share mode`);
          await ex.exec('release savepoint braid_backup_lock');
        } catch (e) {
          // 42501: the backup role may only SELECT; COPY's own ACCESS SHARE lock must do.
          if (pgErrorInfo(e)?.code !== '42501') throw e;
          await ex.exec('rollback to savepoint braid_backup_lock');
        }
      } catch (e) {
        throw backupFailed(`${t.schema}.${t.name}`, e);
      }
    }
    const sink = open(meta);
    for (const [i, t] of tables.entries()) {
      try {
        const r = await copyOutTo(ex, t.select, (c) => sink.write(c));
        sink.endTable(r.rows);
        out.push({ ...meta[i], rows: r.rows });
      } catch (e) {
        throw backupFailed(`${t.schema}.${t.name}`, e);
      }
    }
  } finally {
    if (opts.role && tables.length > 0) await ex.exec('reset role').catch(() => undefined);
  }
  return { tables: out };
}

/** copyTargetsTo into memory (`braid test --data`: no archive): the tables and their COPY text. */
export async function copyTargets(
  ex: Executor,
  tables: readonly ResolvedTarget[],
  opts: { role?: string } = {},
): Promise<{ tables: CopiedTable[]; data: Buffer[] }> {
  const data: Buffer[] = [];
  let parts: Buffer[] = [];
  const r = await copyTargetsTo(
    ex,
    tables,
    () => ({
      write: (c) => void parts.push(c),
      endTable: () => {
        data.push(Buffer.concat(parts));
        parts = [];
      },
    }),
    opts,
  );
  return { tables: r.tables, data };
}

export interface RestoredTable {
  table: string;
  scope: BackupScope;
  rows: number;
  /** Rows of the archive that matched no row any more (deleted since the backup). */
  unmatched: number;
}

class RestoreRefused extends FindingsError {}

/**
 * The archive's tables in order, each as chunks of COPY text (readArchive of @braid/core): it
 * resolves only once the whole archive authenticated.
 */
export type TableReader = (
  each: (i: number, chunks: AsyncIterable<Buffer>) => Promise<void>,
) => Promise<void>;

const oneChunk = (b: Buffer): AsyncIterable<Buffer> => ({
  async *[Symbol.asyncIterator]() {
    if (b.length) yield b;
  },
});

interface Pending {
  t: ArchiveTable;
  tmp: string;
}

/**
 * Puts an archive's data back, after down.sql, in the caller's transaction, streaming:
 *   1. as the archive is read, each table is COPY'd FROM STDIN: straight into a whole table
 *      that down.sql recreated empty (no identity ALWAYS column copied, no foreign key to
 *      another table), else into a temporary table;
 *   2. once the whole archive authenticated (`data` resolved), the temporary tables are merged:
 *      table / rows scope: INSERT … ON CONFLICT (key) DO UPDATE (a table without key: its rows
 *      replaced by the archive's); columns scope: UPDATE … FROM the temporary table by key.
 * Identity/serial sequences are moved past the restored values. Throws (and the caller rolls
 * back) when down.sql did not bring back a table or column the archive holds, or the archive
 * fails to authenticate at its end: never a partial restore. Merges are retried in later passes
 * when a foreign key needs another table first.
 */
export async function restoreTables(
  ex: Executor,
  header: ArchiveHeader,
  data: readonly Buffer[] | TableReader,
  file: string,
): Promise<RestoredTable[]> {
  const read: TableReader =
    typeof data === 'function'
      ? data
      : async (each) => {
          for (const [i, d] of data.entries()) await each(i, oneChunk(d));
        };
  const done: RestoredTable[] = [];
  let todo: Pending[] = [];
  await read(async (i, chunks) => {
    const t = header.tables[i];
    try {
      const r = await loadOne(ex, t, i, chunks, file);
      if ('tmp' in r) todo.push(r);
      else done.push(r);
    } catch (e) {
      throw restoreError(e, t, file);
    }
  });
  for (let pass = 0; todo.length > 0; pass++) {
    const failed: Pending[] = [];
    let lastError: unknown;
    for (const item of todo) {
      await ex.exec('savepoint braid_restore');
      try {
        done.push(await mergeOne(ex, item.t, item.tmp));
        await ex.exec('release savepoint braid_restore');
      } catch (e) {
        await ex.exec('rollback to savepoint braid_restore');
        if (pgErrorInfo(e)?.code !== '23503') throw restoreError(e, item.t, file);
        failed.push(item);
        lastError = e;
      }
    }
    if (failed.length === todo.length) throw restoreError(lastError, failed[0].t, file);
    todo = failed;
  }
  return done;
}

function restoreError(e: unknown, t: ArchiveTable, file: string): Error {
  if (e instanceof RestoreRefused || e instanceof BackupArchiveError || e instanceof BackupKeyError) return e;
  const info = pgErrorInfo(e);
  return new FindingsError(
    'restore-failed',
    `${file}: restoring ${t.schema}.${t.name} after down.sql failed: ${info ? `${info.message} (SQLSTATE ${info.code})` : String(e)}; the rollback was undone, nothing was restored`,
    { data: { file, table: `${t.schema}.${t.name}`, ...(info ? { sqlstate: info.code } : {}) }, cause: e },
  );
}

/** Phase 1 of one table: the checks, then its COPY (into the table itself or a temporary one). */
async function loadOne(
  ex: Executor,
  t: ArchiveTable,
  i: number,
  chunks: AsyncIterable<Buffer>,
  file: string,
): Promise<RestoredTable | Pending> {
  const target = qt(t.schema, t.name);
  const [now] = await catalogTables(ex, t.schema, t.name);
  const label = `${t.schema}.${t.name}`;
  if (!now)
    throw new RestoreRefused(
      'restore-refused',
      `${file}: down.sql does not bring back table ${label}, which the backup holds ${t.rows} rows of; nothing was rolled back`,
      { data: { file, table: label } },
    );
  const missing = t.columns.filter((c) => !now.columns.some((x) => x.name === c && !x.generated));
  if (missing.length)
    throw new RestoreRefused(
      'restore-refused',
      `${file}: down.sql does not bring back column ${missing.map((c) => `${label}.${c}`).join(', ')}, which the backup holds ${t.rows} rows of; nothing was rolled back`,
      { data: { file, table: label, columns: missing } },
    );
  const cols = t.columns.map(quoteIdent);
  // A whole table that down.sql recreated empty, with no identity column ALWAYS in the copy and
  // no foreign key to another table (which may come later in the archive): straight COPY into it
  // (no temporary table, no upsert).
  if (t.scope === 'table') {
    const r = await ex.query<{ empty: boolean; always: boolean; fk: boolean }>(
      `select not exists (select from ${target}) as empty,
              exists (select from pg_attribute where attrelid = $1::regclass and attidentity = 'a'
                         and attname = any($2::text[])) as always,
              exists (select from pg_constraint where conrelid = $1::regclass and contype = 'f'
                         and confrelid <> conrelid) as fk`,
      [target, t.columns],
    );
    if (r.rows[0]?.empty && !r.rows[0]?.always && !r.rows[0]?.fk) {
      const rows = await copyIn(ex, `${target} (${cols.join(', ')})`, chunks);
      await moveSequences(ex, target, t.columns);
      return { table: label, scope: t.scope, rows, unmatched: 0 };
    }
  }
  const tmp = `braid_restore_${i}`;
  await ex.exec(
    `create temp table ${tmp} (${t.columns.map((c, k) => `${quoteIdent(c)} ${t.types[k]}`).join(', ')}) on commit drop`,
  );
  await copyIn(ex, `${tmp} (${cols.join(', ')})`, chunks);
  return { t, tmp };
}

/** Phase 2 of one table: from its temporary table into the table, matching by key. */
async function mergeOne(ex: Executor, t: ArchiveTable, tmp: string): Promise<RestoredTable> {
  const target = qt(t.schema, t.name);
  const label = `${t.schema}.${t.name}`;
  const cols = t.columns.map(quoteIdent);
  const key = t.key.map(quoteIdent);
  const rest = t.columns.filter((c) => !t.key.includes(c)).map(quoteIdent);
  let rows: number;
  let unmatched = 0;
  if (t.scope === 'columns') {
    const r = await ex.query(
      `update ${target} as t set ${rest.map((c) => `${c} = s.${c}`).join(', ')} from ${tmp} as s where ${key.map((k) => `t.${k} = s.${k}`).join(' and ')}`,
    );
    rows = r.rowCount;
    unmatched = t.rows - rows;
  } else if (key.length === 0) {
    await ex.exec(`delete from ${target}`);
    rows = (
      await ex.query(
        `insert into ${target} (${cols.join(', ')}) overriding system value select ${cols.join(', ')} from ${tmp}`,
      )
    ).rowCount;
  } else {
    rows = (
      await ex.query(
        `insert into ${target} (${cols.join(', ')}) overriding system value select ${cols.join(', ')} from ${tmp} on conflict (${key.join(', ')}) do ${rest.length ? `update set ${rest.map((c) => `${c} = excluded.${c}`).join(', ')}` : 'nothing'}`,
      )
    ).rowCount;
  }
  if (t.scope !== 'columns') await moveSequences(ex, target, t.columns);
  await ex.exec(`drop table ${tmp}`);
  return { table: label, scope: t.scope, rows, unmatched };
}

/** Identity and serial columns: the sequence moves past the restored values. */
async function moveSequences(ex: Executor, target: string, columns: readonly string[]): Promise<void> {
  {
    for (const c of columns) {
      const s = await ex.query<{ seq: string | null }>('select pg_get_serial_sequence($1, $2) as seq', [
        target,
        c,
      ]);
      const seq = s.rows[0]?.seq;
      if (!seq) continue;
      await ex.query(
        `select setval($1::regclass, greatest((select max(${quoteIdent(c)}) from ${target})::bigint, (select last_value from ${seq})), true) where exists (select from ${target})`,
        [seq],
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// braid.backups: which archive holds the data of an applied migration.

export interface BackupRow {
  id: string;
  archive: string;
  store: string;
  createdAt: string;
  keyId: string;
  sha256: string;
  rows: number;
  bytes: number;
  restoredAt: string | null;
}

export async function backupsTableExists(ex: Executor): Promise<boolean> {
  const r = await ex.query<{ ok: boolean }>(`select to_regclass('braid.backups') is not null as ok`);
  return Boolean(r.rows[0]?.ok);
}

/** Records an archive (in the migration's transaction: it commits with the migration or not at all). */
export async function recordBackup(
  ex: Executor,
  row: Omit<BackupRow, 'restoredAt' | 'createdAt'> & { createdAt: string },
): Promise<void> {
  await ex.query(
    `insert into braid.backups (id, archive, store, created_at, key_id, sha256, rows, bytes)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [row.id, row.archive, row.store, row.createdAt, row.keyId, row.sha256, row.rows, row.bytes],
  );
}

export async function readBackups(ex: Executor): Promise<BackupRow[]> {
  if (!(await backupsTableExists(ex))) return [];
  const r = await ex.query<{
    id: string;
    archive: string;
    store: string;
    created_at: Date | string;
    key_id: string;
    sha256: string;
    rows: string | number;
    bytes: string | number;
    restored_at: Date | string | null;
  }>(
    'select id, archive, store, created_at, key_id, sha256, rows, bytes, restored_at from braid.backups order by created_at, archive',
  );
  const iso = (d: Date | string): string => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());
  return r.rows.map((x) => ({
    id: x.id,
    archive: x.archive,
    store: x.store,
    createdAt: iso(x.created_at),
    keyId: x.key_id,
    sha256: x.sha256,
    rows: Number(x.rows),
    bytes: Number(x.bytes),
    restoredAt: x.restored_at === null ? null : iso(x.restored_at),
  }));
}

/** The archive `braid down` of `id` restores from: the newest not yet restored. */
export function backupOf(rows: readonly BackupRow[], id: string): BackupRow | undefined {
  return [...rows].reverse().find((r) => r.id === id && r.restoredAt === null);
}

export async function markRestored(ex: Executor, archive: string): Promise<void> {
  await ex.query('update braid.backups set restored_at = clock_timestamp() where archive = $1', [archive]);
}

// ---------------------------------------------------------------------------------------------
// The `server` store: archives in the braid_backup schema of the target itself.

export const SERVER_STORE_SCHEMA = 'braid_backup';

export async function ensureServerStore(ex: Executor): Promise<void> {
  await ex.exec(
    `create schema if not exists ${SERVER_STORE_SCHEMA};
     create table if not exists ${SERVER_STORE_SCHEMA}.archives (
       name text primary key, created_at timestamptz not null default clock_timestamp(), bytes bytea not null)`,
  );
}

export async function serverStoreExists(ex: Executor): Promise<boolean> {
  const r = await ex.query<{ ok: boolean }>(
    `select to_regclass('${SERVER_STORE_SCHEMA}.archives') is not null as ok`,
  );
  return Boolean(r.rows[0]?.ok);
}
