/**
 * One interface over the two ways braid talks to PostgreSQL: the `pg` client against a server,
 * and PGlite (PostgreSQL compiled to WebAssembly) in-process. Everything above this line
 * (registry, apply engine, introspection, shadow replays) is written against Executor only.
 */
export type Engine = 'postgres' | 'pglite';

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Executor {
  readonly engine: Engine;
  /** server_version_num, e.g. 150020 or 180006. */
  readonly serverVersionNum: number;
  /** A printable, password-free description ("postgres://u@host:5432/db", "pglite:/path"). */
  readonly label: string;
  /** A tenant target (`URL#schema`): its schema; braid's registry and lock are the tenant's own. */
  readonly tenant?: string;
  /** One statement with bind parameters ($1, $2, …). */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** A script of any number of statements, simple-query protocol, no parameters. */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}
