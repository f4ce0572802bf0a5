/**
 * Shadow replay: the schema a list of migrations describes, obtained by applying them to a fresh
 * shadow database and introspecting it (DESIGN §1, Schema). Two engines:
 *
 * - PGlite (default, in-process): the data directory after each replay is dumped into the cache
 *   folder, keyed by the manifest-prefix hash; a later replay starts from the longest cached
 *   prefix and applies only what is new.
 * - A server (`--shadow-db URL`): the same idea with template databases
 *   (`braid_shadow_<key>`), cloned with CREATE DATABASE … TEMPLATE in about 0.1 s.
 *
 * On top of both, the introspected model is cached as JSON by the full prefix key, so the second
 * question about the same ref costs no replay and no database at all. Every result carries
 * statistics (what came from where), which commands print with --json.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { redact, type SchemaModel } from '@braid/core';
import { splitStatements } from '@braid/sql';
import { applyUp, MigrationFailedError, type SourceMigration } from './apply';
import type { Executor } from './executor';
import { connectPg, openPGlite, PGliteExecutor } from './executors';
import { introspect } from './introspect';
import { codePointPositionToIndex, errorSnippet, locate, pgErrorInfo } from './pgerror';
import { pgliteExtensions, pgliteVersion } from './pglite';
import { quoteIdent } from './quote';
import { REGISTRY_MIGRATIONS } from './registry-migrations';
import { mentionsRegistrySchema } from './registry-schema';

export interface ShadowSpec {
  /** A server URL on which braid may create and drop databases; undefined → PGlite. */
  serverUrl?: string;
  /** Folder for snapshots and model caches (e.g. <git dir>/braid/shadow). */
  cacheDir: string;
  /** Label used in error locations, e.g. "main:.migrations" (default ".migrations"). */
  dirLabel?: string;
  /** Do not read or write any cache (always replay from scratch). */
  noCache?: boolean;
  braidVersion: string;
}

export interface ReplayStats {
  engine: 'pglite' | 'postgres';
  serverVersionNum: number;
  migrations: number;
  /** Migrations actually applied by this replay (0 when everything came from a cache). */
  replayed: number;
  /** Length of the cached prefix the replay started from. */
  cachedPrefix: number;
  /** Where the answer came from. */
  source: 'model-cache' | 'snapshot' | 'fresh';
  ms: number;
}

export interface ReplayResult {
  model: SchemaModel;
  stats: ReplayStats;
  /** The cache key of the full list (engine + migrations). */
  key: string;
}

const MAX_SNAPSHOTS = 8;
const MAX_TEMPLATES = 8;
const MODEL_CACHE_VERSION = 2;

/** Cache keys for every prefix length 0..n (key[k] covers the first k migrations). */
export function prefixKeys(migrations: readonly SourceMigration[], engineTag: string): string[] {
  const h = createHash('sha256');
  // The registry schema is part of every snapshot; a new registry version invalidates them.
  h.update(
    `braid-shadow ${MODEL_CACHE_VERSION} ${engineTag} ${REGISTRY_MIGRATIONS.map((m) => m.id).join(',')}\n`,
  );
  const keys = [h.copy().digest('hex').slice(0, 32)];
  for (const m of migrations) {
    h.update(`${m.id} ${m.hash}\n`);
    keys.push(h.copy().digest('hex').slice(0, 32));
  }
  return keys;
}

function engineTag(spec: ShadowSpec, serverVersionNum?: number, bare = false): string {
  return (
    (spec.serverUrl
      ? `postgres-${Math.floor((serverVersionNum ?? 0) / 10000)}`
      : `pglite-${pgliteVersion()}`) + (bare ? '-bare' : '')
  );
}

/**
 * Whether migrations use the schema `braid` themselves (braid's own repository, whose migrations
 * are braid's registry; any project that names a schema braid): qualified names `braid.x`,
 * CREATE/ALTER/DROP SCHEMA braid, a search_path naming it. Such a history cannot be replayed on a
 * shadow that holds braid's registry in that schema, nor introspected with the registry's schema
 * left out, so it is replayed bare (below). A false positive (a comment naming braid.x) only
 * costs the bare replay.
 */
export function usesRegistrySchema(migrations: readonly SourceMigration[]): boolean {
  return migrations.some(
    (m) =>
      mentionsRegistrySchema(m.files.up) ||
      (m.files.verify !== undefined && mentionsRegistrySchema(m.files.verify)),
  );
}

/**
 * Applies migrations without braid's registry (the shadow needs none): each migration in its own
 * transaction (statement by statement, `-- braid:no-transaction` ones without one), verify.sql
 * inside it, a failure reported like the apply engine does (`<dir>/<id>/up.sql:LINE:COL: message
 * (SQLSTATE code)`).
 */
async function applyBare(ex: Executor, migrations: readonly SourceMigration[], dir: string): Promise<void> {
  for (const m of migrations) {
    const tx = !m.directives.noTransaction;
    if (tx) await ex.exec('begin');
    try {
      await runFileBare(ex, dir, m.id, 'up.sql', m.files.up);
      if (m.files.verify !== undefined) await runFileBare(ex, dir, m.id, 'verify.sql', m.files.verify);
      if (tx) await ex.exec('commit');
    } catch (e) {
      if (tx) await ex.exec('rollback').catch(() => undefined);
      throw e;
    }
  }
}

async function runFileBare(
  ex: Executor,
  dir: string,
  id: string,
  fileName: string,
  text: string,
): Promise<void> {
  for (const st of splitStatements(text)) {
    if (!st.text.trim()) continue;
    try {
      await ex.exec(st.text);
    } catch (e) {
      const info = pgErrorInfo(e);
      if (!info) throw e;
      const file = `${dir}/${id}/${fileName}`;
      const idx =
        info.position !== undefined
          ? st.charStart + codePointPositionToIndex(st.text, info.position)
          : st.charStart;
      const loc = locate(file, text, idx);
      throw new MigrationFailedError(
        `${loc.file}:${loc.line}:${loc.col}: ${info.message} (SQLSTATE ${info.code})`,
        errorSnippet(loc, info),
        { id, file, sqlstate: info.code, line: loc.line, column: loc.col, statement: redact(st.text) },
      );
    }
  }
}

/**
 * The schema model of a database where a schema named `braid` is the user's (no registry there):
 * introspection leaves `braid` out (on a target it is the registry), so it is read under a
 * temporary name inside a transaction that is rolled back, and the name put back in the model.
 */
export async function introspectWithBraidSchema(ex: Executor): Promise<SchemaModel> {
  const has = await ex.query<{ ok: boolean }>(
    `select exists (select 1 from pg_namespace where nspname = 'braid') as ok`,
  );
  if (!has.rows[0]?.ok) return introspect(ex);
  const tmp = `braid_user_schema_${randomBytes(8).toString('hex')}`;
  await ex.exec('begin');
  try {
    await ex.exec(`alter schema braid rename to ${quoteIdent(tmp)}`);
    const model = await introspect(ex);
    return JSON.parse(JSON.stringify(model).split(tmp).join('braid')) as SchemaModel;
  } finally {
    await ex.exec('rollback').catch(() => undefined);
  }
}

function readModelCache(file: string): { model: SchemaModel; serverVersionNum: number } | undefined {
  try {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      v: number;
      model: SchemaModel;
      serverVersionNum: number;
    };
    return doc.v === MODEL_CACHE_VERSION
      ? { model: doc.model, serverVersionNum: doc.serverVersionNum }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The answer from the model cache, when there is one for this key. */
function fromModelCache(
  file: string,
  key: string,
  engine: ReplayStats['engine'],
  n: number,
  t0: number,
): ReplayResult | undefined {
  const cached = readModelCache(file);
  if (!cached) return undefined;
  touch(file);
  return {
    model: cached.model,
    key,
    stats: {
      engine,
      serverVersionNum: cached.serverVersionNum,
      migrations: n,
      replayed: 0,
      cachedPrefix: n,
      source: 'model-cache',
      ms: Math.round(performance.now() - t0),
    },
  };
}

function writeAtomic(file: string, data: string | Buffer): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch {
    // A cache that cannot be written costs speed, never correctness.
  }
}

/** Replays `migrations` (in order) on a shadow database and returns the schema they describe. */
export async function replaySchema(
  migrations: readonly SourceMigration[],
  spec: ShadowSpec,
): Promise<ReplayResult> {
  const bare = usesRegistrySchema(migrations);
  return spec.serverUrl
    ? replayOnServer(migrations, spec, spec.serverUrl, bare)
    : replayOnPGlite(migrations, spec, bare);
}

async function applyAll(
  ex: Executor,
  migrations: readonly SourceMigration[],
  spec: ShadowSpec,
  bare: boolean,
): Promise<void> {
  if (migrations.length === 0) return;
  if (bare) return applyBare(ex, migrations, spec.dirLabel ?? '.migrations');
  await applyUp(ex, migrations, {
    provenance: { braidVersion: spec.braidVersion },
    lockWaitMs: 60_000,
    lockTimeoutMs: 60_000,
    dirLabel: spec.dirLabel ?? '.migrations',
  });
}

async function replayOnPGlite(
  migrations: readonly SourceMigration[],
  spec: ShadowSpec,
  bare: boolean,
): Promise<ReplayResult> {
  const t0 = performance.now();
  const keys = prefixKeys(migrations, engineTag(spec, undefined, bare));
  const n = migrations.length;
  const fullKey = keys[n];
  const modelFile = path.join(spec.cacheDir, `model-${fullKey}.json`);
  if (!spec.noCache) {
    const cached = fromModelCache(modelFile, fullKey, 'pglite', n, t0);
    if (cached) return cached;
  }
  // The longest cached prefix with a data-directory snapshot.
  let start = 0;
  let snapshot: Buffer | undefined;
  if (!spec.noCache) {
    for (let k = n; k >= 1; k--) {
      const f = path.join(spec.cacheDir, `pglite-${keys[k]}.tar`);
      if (fs.existsSync(f)) {
        try {
          snapshot = fs.readFileSync(f);
          touch(f);
          start = k;
          break;
        } catch {
          // unreadable: keep looking
        }
      }
    }
  }
  const ex = snapshot ? await openPGliteFrom(snapshot) : await openPGlite();
  try {
    await applyAll(ex, migrations.slice(start), spec, bare);
    const model = bare ? await introspectWithBraidSchema(ex) : await introspect(ex);
    if (!spec.noCache) {
      if (n > start) {
        const blob = await ex.db.dumpDataDir('none');
        writeAtomic(path.join(spec.cacheDir, `pglite-${fullKey}.tar`), Buffer.from(await blob.arrayBuffer()));
        evict(spec.cacheDir, /^pglite-[0-9a-f]{32}\.tar$/, MAX_SNAPSHOTS);
      }
      writeAtomic(
        modelFile,
        JSON.stringify({ v: MODEL_CACHE_VERSION, serverVersionNum: ex.serverVersionNum, model }),
      );
      evict(spec.cacheDir, /^model-[0-9a-f]{32}\.json$/, 64);
    }
    return {
      model,
      key: fullKey,
      stats: {
        engine: 'pglite',
        serverVersionNum: ex.serverVersionNum,
        migrations: n,
        replayed: n - start,
        cachedPrefix: start,
        source: start > 0 ? 'snapshot' : 'fresh',
        ms: Math.round(performance.now() - t0),
      },
    };
  } finally {
    await ex.close();
  }
}

/** A PGlite instance started from a dumped data directory (a replay snapshot). */
export async function openPGliteFrom(snapshot: Buffer, label = 'pglite:shadow'): Promise<PGliteExecutor> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = (await PGlite.create({
    extensions: pgliteExtensions(),
    loadDataDir: new Blob([snapshot]),
  })) as unknown as PGliteExecutor['db'];
  const v = await db.query<{ v: string }>('select current_setting($1) as v', ['server_version_num']);
  return new PGliteExecutor(db, Number(v.rows[0]?.v ?? 0), label);
}

async function replayOnServer(
  migrations: readonly SourceMigration[],
  spec: ShadowSpec,
  serverUrl: string,
  bare: boolean,
): Promise<ReplayResult> {
  const t0 = performance.now();
  const admin = await connectPg(serverUrl, 'braid shadow');
  try {
    const version = admin.serverVersionNum;
    const keys = prefixKeys(migrations, engineTag(spec, version, bare));
    const n = migrations.length;
    const fullKey = keys[n];
    const modelFile = path.join(spec.cacheDir, `model-${fullKey}.json`);
    if (!spec.noCache) {
      const cached = fromModelCache(modelFile, fullKey, 'postgres', n, t0);
      if (cached) return cached;
    }
    const templates = new Set(
      (
        await admin.query<{ datname: string }>(
          `select datname from pg_database where datistemplate and datname like 'braid\\_shadow\\_%'`,
        )
      ).rows.map((r) => r.datname),
    );
    let start = 0;
    if (!spec.noCache) {
      for (let k = n; k >= 1; k--) {
        if (templates.has(templateName(keys[k]))) {
          start = k;
          break;
        }
      }
    }
    const work = `braid_shadow_tmp_${randomBytes(6).toString('hex')}`;
    const from = start > 0 ? templateName(keys[start]) : 'template0';
    await admin.exec(`create database ${quoteIdent(work)} template ${quoteIdent(from)}`);
    let model: SchemaModel;
    try {
      const u = new URL(serverUrl);
      u.pathname = `/${work}`;
      const ex = await connectPg(u.toString(), 'braid shadow');
      try {
        await applyAll(ex, migrations.slice(start), spec, bare);
        model = bare ? await introspectWithBraidSchema(ex) : await introspect(ex);
      } finally {
        await ex.close();
      }
      if (!spec.noCache && n > start) {
        const tpl = templateName(fullKey);
        try {
          await admin.exec(`create database ${quoteIdent(tpl)} template ${quoteIdent(work)}`);
          await admin.exec(`alter database ${quoteIdent(tpl)} with is_template true allow_connections false`);
        } catch {
          // Another process made the same template at the same time: theirs is as good.
        }
        await evictTemplates(admin);
      }
    } finally {
      await admin.exec(`drop database if exists ${quoteIdent(work)}`).catch(() => undefined);
    }
    if (!spec.noCache) {
      writeAtomic(modelFile, JSON.stringify({ v: MODEL_CACHE_VERSION, serverVersionNum: version, model }));
    }
    return {
      model,
      key: fullKey,
      stats: {
        engine: 'postgres',
        serverVersionNum: version,
        migrations: n,
        replayed: n - start,
        cachedPrefix: start,
        source: start > 0 ? 'snapshot' : 'fresh',
        ms: Math.round(performance.now() - t0),
      },
    };
  } finally {
    await admin.close();
  }
}

function templateName(key: string): string {
  return `braid_shadow_${key.slice(0, 24)}`;
}

/** Keeps the newest MAX_TEMPLATES shadow templates on the server (by creation order of their oid). */
async function evictTemplates(admin: Executor): Promise<void> {
  const r = await admin.query<{ datname: string }>(
    `select datname from pg_database where datistemplate and datname like 'braid\\_shadow\\_%'
       and datname not like 'braid\\_shadow\\_tmp\\_%' order by oid desc offset $1`,
    [MAX_TEMPLATES],
  );
  for (const { datname } of r.rows) {
    try {
      await admin.exec(`alter database ${quoteIdent(datname)} with is_template false`);
      await admin.exec(`drop database if exists ${quoteIdent(datname)}`);
    } catch {
      // in use by a concurrent clone: leave it for next time
    }
  }
}

function touch(file: string): void {
  try {
    const now = new Date();
    fs.utimesSync(file, now, now);
  } catch {
    // ignore
  }
}

/** Keeps the `keep` most recently used files matching `re` in `dir`. */
function evict(dir: string, re: RegExp, keep: number): void {
  let entries: { f: string; t: number }[];
  try {
    entries = fs
      .readdirSync(dir)
      .filter((f) => re.test(f))
      .map((f) => ({ f, t: fs.statSync(path.join(dir, f)).mtimeMs }));
  } catch {
    return;
  }
  entries.sort((a, b) => b.t - a.t);
  for (const e of entries.slice(keep)) fs.rmSync(path.join(dir, e.f), { force: true });
}
