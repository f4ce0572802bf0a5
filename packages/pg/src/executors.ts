import { EnvironmentError, UsageError, redact, splitTenant, tenantRegistrySchema } from '@braid/core';
import type { Executor, QueryResult } from './executor';
import { acquireFileLock, pgliteOptions } from './pglite';
import { deferredExtraCaFile, sslFromEnvironment, withExtraCa } from './tls';
import type { ClientConfig } from 'pg';

// The pg and PGlite modules are loaded lazily: a command that never touches a database
// (check, lint, the merge driver's static part) never pays for them.

/** A server connection through node-postgres. */
export class PgExecutor implements Executor {
  readonly engine = 'postgres' as const;
  /** `URL#schema`: the tenant schema (search_path) and the schema of its own registry. */
  readonly tenant?: string;
  private readonly registry?: string;
  constructor(
    private readonly client: import('pg').Client,
    readonly serverVersionNum: number,
    readonly label: string,
    private readonly url?: string,
    tenant?: string,
  ) {
    if (tenant !== undefined) {
      this.tenant = tenant;
      this.registry = tenantRegistrySchema(tenant);
    }
  }

  /** braid's own SQL, pointed at the tenant's registry schema (identity without a tenant). */
  private map(sql: string): string {
    return this.registry === undefined ? sql : mapRegistrySchema(sql, this.registry);
  }

  /** A second session on the same database (lock observation, diagnostics). */
  async sibling(applicationName: string): Promise<PgExecutor> {
    if (!this.url) throw new EnvironmentError('no-sibling', `cannot open a second session on ${this.label}`);
    return connectPg(this.url, applicationName);
  }

  async query<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>> {
    const r = await this.client.query(this.map(sql), params as unknown[] | undefined);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.client.query(this.map(sql));
  }

  /**
   * A statement prepared once per session under `name` (the server parses and plans it once,
   * not on every call). Not through a transaction pooler: a named statement lives in one
   * backend. The name must stand for this exact text.
   */
  async queryNamed<R = Record<string, unknown>>(
    name: string,
    sql: string,
    params: readonly unknown[],
  ): Promise<QueryResult<R>> {
    const r = await this.client.query({ name, text: this.map(sql), values: params as unknown[] });
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }

  /**
   * Several parameterless statements in one round trip (one simple-protocol message; the
   * server runs them in one implicit transaction unless they open their own): the rows of each.
   * The client parses each result while the server computes the next.
   */
  async queryBatch(sqls: readonly string[]): Promise<Record<string, unknown>[][]> {
    const r = (await this.client.query(this.map(sqls.join(';\n')))) as unknown as
      { rows: Record<string, unknown>[] } | { rows: Record<string, unknown>[] }[];
    return Array.isArray(r) ? r.map((x) => x.rows) : [r.rows];
  }

  /** The underlying client's backend pid (for lock diagnostics). */
  get processId(): number | undefined {
    return (this.client as unknown as { processID?: number }).processID;
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }

  /**
   * Ends the session without waiting for the server to close its side (close() waits ~10 ms
   * for the backend to exit). Only for a session that holds no lock, since a session's locks
   * are released when its backend exits, after this returns: introspection.
   */
  closeNoWait(): void {
    void this.client.end().catch(() => undefined);
    // the Terminate message is written at once (a local socket takes it synchronously); the
    // process need not stay for the server's goodbye
    (
      this.client as unknown as { connection?: { stream?: { unref?: () => void } } }
    ).connection?.stream?.unref?.();
  }
}

/** The part of PGlite's API braid uses (structural: PGlite ships separate ESM/CJS typings). */
export interface PGliteHandle {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  exec(sql: string): Promise<unknown>;
  close(): Promise<void>;
  dumpDataDir(compression?: 'auto' | 'gzip' | 'none'): Promise<File | Blob>;
}

/** PostgreSQL in-process (WebAssembly). Single connection. */
export class PGliteExecutor implements Executor {
  readonly engine = 'pglite' as const;
  constructor(
    readonly db: PGliteHandle,
    readonly serverVersionNum: number,
    readonly label: string,
  ) {}

  async query<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>> {
    const r = await this.db.query<R>(sql, params as unknown[] | undefined);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  async close(): Promise<void> {
    await this.db.close().catch(() => undefined);
    this.onClose?.();
  }

  /** Called after close (releases the data directory's lock file). */
  onClose?: () => void;
}

/** Connects to a server URL (postgres://…). Exit 3 with a password-free message when unreachable. */
export interface ConnectOptions {
  /**
   * A read-only session that takes no lock (introspection): no session setup round trip. The
   * server version comes from the startup message, and client_connection_check_interval (which
   * only matters to a backend holding braid's locks) is not set.
   */
  lean?: boolean;
}

export async function connectPg(
  urlWithTenant: string,
  applicationName = 'braid',
  opts: ConnectOptions = {},
): Promise<PgExecutor> {
  const { Client } = await import('pg');
  const { url, schema: tenant } = splitTenant(urlWithTenant);
  const label = redact(urlWithTenant);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('bad-db-url', `--db: not a valid connection URL: ${label}`);
  }
  // node-postgres falls back to $USER, which CI does not set; a user parsed from the URL (even
  // an empty one) overrides the `user` option, so an absent user is put into the URL itself.
  let connectionString = url;
  if (!parsed.username) {
    const withUser = new URL(url);
    withUser.username = encodeURIComponent(process.env['PGUSER'] || process.env['USER'] || 'postgres');
    connectionString = withUser.toString();
  }
  const client = new Client(await clientConfig(connectionString, applicationName));
  client.on('error', () => undefined);
  let startupVersion: string | undefined;
  // pg-protocol's ParameterStatus messages, emitted by the connection under their name
  (client as unknown as { connection: import('node:events').EventEmitter }).connection.on(
    'parameterStatus',
    (m: { parameterName?: string; parameterValue?: string }) => {
      if (m.parameterName === 'server_version') startupVersion = m.parameterValue;
    },
  );
  try {
    await client.connect();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new EnvironmentError('db-unreachable', `cannot connect to ${label}: ${redact(msg)}`);
  }
  const fromStartup = versionNum(startupVersion);
  if (tenant !== undefined) await enterTenant(client, tenant, label);
  if (opts.lean && fromStartup !== undefined)
    return new PgExecutor(client, fromStartup, label, urlWithTenant, tenant);
  // One round trip: the server version and, where the setting exists (PostgreSQL 14+),
  // client_connection_check_interval: a backend whose client died (kill -9) notices within a
  // second even inside pg_sleep or a long statement, so it rolls back and releases braid's
  // advisory lock promptly.
  const v = await client.query<{ v: string }>(
    `select current_setting('server_version_num') as v,
            (select set_config(name, '1s', false) from pg_settings where name = 'client_connection_check_interval') as c`,
  );
  const num = Number(v.rows[0]?.v ?? 0);
  return new PgExecutor(client, num, label, urlWithTenant, tenant);
}

/**
 * A tenant target (`URL#schema`): the schema must exist; the session's search_path is the tenant
 * schema (then public, for extensions), so that the migrations' unqualified names land in it.
 */
async function enterTenant(client: import('pg').Client, tenant: string, label: string): Promise<void> {
  const r = await client.query<{ ok: boolean }>(
    `select exists (select 1 from pg_namespace where nspname = $1) as ok,
            set_config('search_path', quote_ident($1) || ', public', false) as p`,
    [tenant],
  );
  if (!r.rows[0]?.ok) {
    await client.end().catch(() => undefined);
    throw new UsageError(
      'tenant-schema-missing',
      `${label}: the tenant schema ${tenant} does not exist in that database (create it first: create schema ${tenant})`,
    );
  }
}

/**
 * Points braid's own SQL at a tenant's registry schema: the qualified names `braid.x`, `schema
 * braid` (create/drop/alter) and the catalog filters naming the schema. The migrations of a
 * project cannot use the name braid (registry-schema.ts refuses them before anything runs), so
 * only braid's statements are changed.
 */
export function mapRegistrySchema(sql: string, registry: string): string {
  if (!sql.includes('braid')) return sql;
  return sql
    .replace(/(^|[^\w$".])braid\.(?=["a-z_%])/g, `$1${registry}.`)
    .replace(/\bschema(\s+if\s+(?:not\s+)?exists)?\s+braid(?![\w$])/gi, `schema$1 ${registry}`)
    .replace(/(nspname|table_schema|schemaname)(\s*(?:=|<>|!=)\s*)'braid'/g, `$1$2'${registry}'`)
    .replace(/'information_schema', 'braid'\)/g, `'information_schema', '${registry}')`);
}

/**
 * node-postgres settings for a URL: the URL itself, or, when braid was started without Node's
 * NODE_EXTRA_CA_CERTS (tls.ts says why) and the connection uses TLS, the URL's settings with
 * that CA file trusted too.
 */
async function clientConfig(connectionString: string, applicationName: string): Promise<ClientConfig> {
  const caFile = deferredExtraCaFile();
  const plain = { connectionString, application_name: applicationName };
  if (caFile === undefined) return plain;
  const { parse } = await import('pg-connection-string');
  const fromUrl = parse(connectionString);
  const ssl = fromUrl.ssl ?? sslFromEnvironment(process.env['PGSSLMODE']);
  const trusted = withExtraCa(ssl, caFile);
  if (trusted === ssl) return plain;
  // what node-postgres does with a connection string: its settings over the options given
  const settings: Record<string, unknown> = { application_name: applicationName };
  for (const [k, v] of Object.entries(fromUrl)) if (v !== undefined) settings[k] = v;
  settings['ssl'] = trusted;
  return settings;
}

/**
 * server_version_num from the server_version a server reports at startup ("15.19 (Debian …)",
 * "16beta1", "9.6.24"): major * 10000 + minor from 10 on, major * 10000 + minor * 100 + patch
 * before. Undefined when it does not look like a version.
 */
export function versionNum(v: string | undefined): number | undefined {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v ?? '');
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  return major >= 10 ? major * 10000 + minor : major * 10000 + minor * 100 + patch;
}

export interface OpenOptions {
  applicationName?: string;
  /** How long to wait for a persisted PGlite directory's lock file (ms); default 60 s. */
  lockWaitMs?: number;
}

/**
 * Opens PGlite in memory (`dataDir` undefined) or persisted in a directory, starting a new
 * cluster from the cached initdb snapshot and registering every shipped contrib extension.
 * A persisted directory is locked (one process at a time) until close().
 */
export async function openPGlite(dataDir?: string, opts: OpenOptions = {}): Promise<PGliteExecutor> {
  const { PGlite } = await import('@electric-sql/pglite');
  const lock =
    dataDir === undefined
      ? undefined
      : await acquireFileLock(dataDir, opts.lockWaitMs ?? 60_000, opts.applicationName ?? 'braid');
  try {
    const options = await pgliteOptions(dataDir);
    const db = (dataDir === undefined
      ? await PGlite.create(options)
      : await PGlite.create(dataDir, options)) as unknown as PGliteHandle;
    const v = await db.query<{ v: string }>('select current_setting($1) as v', ['server_version_num']);
    const ex = new PGliteExecutor(
      db,
      Number(v.rows[0]?.v ?? 0),
      dataDir === undefined ? 'pglite:memory' : `pglite:${dataDir}`,
    );
    if (lock) ex.onClose = () => lock.release();
    return ex;
  } catch (e) {
    lock?.release();
    if (e instanceof EnvironmentError) throw e;
    throw new EnvironmentError(
      'pglite-open',
      `cannot open the embedded database ${dataDir ?? 'in memory'}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** Opens an executor for a URL: postgres://, postgresql://, pglite:memory or pglite:PATH. */
export async function openExecutor(
  url: string,
  applicationName?: string,
  opts: OpenOptions = {},
): Promise<Executor> {
  const o = { ...opts, ...(applicationName === undefined ? {} : { applicationName }) };
  if (url === 'pglite:memory') return openPGlite(undefined, o);
  if (url.startsWith('pglite:')) return openPGlite(url.slice('pglite:'.length), o);
  if (/^postgres(ql)?:\/\//i.test(url)) return connectPg(url, applicationName);
  throw new UsageError(
    'bad-db-url',
    `--db: expected postgres://…, pglite:PATH or pglite:memory, got ${redact(url)}`,
  );
}
