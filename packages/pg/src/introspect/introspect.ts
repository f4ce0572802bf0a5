import {
  type ColumnDef,
  type ConstraintType,
  type Grant,
  type SchemaModel,
  type TableDef,
  compareStrings,
  displayIdent,
  emptyModel,
  normalizeModel,
  qualifiedKey,
} from '@braid/core';
import type { Executor } from '../executor';
import { connectPg, PgExecutor, openExecutor } from '../executors';
import * as Q from './queries';

/** Statistics of one introspection (for --json output and benchmarks). */
export interface IntrospectStats {
  queries: number;
  objects: number;
}

type Row = Record<string, unknown>;

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : str(v));
const bool = (v: unknown): boolean => v === true || v === 't' || v === 'true';
/** json columns arrive parsed from pg and PGlite; accept text too. */
function json<T>(v: unknown, fallback: T): T {
  if (v === null || v === undefined) return fallback;
  if (typeof v === 'string') return JSON.parse(v) as T;
  return v as T;
}

const CONTYPES: Record<string, ConstraintType> = {
  p: 'primary key',
  u: 'unique',
  f: 'foreign key',
  c: 'check',
  x: 'exclusion',
};

function grantsOf(v: unknown): Grant[] {
  const g = json<Grant[]>(v, []);
  return g
    .map((x) => ({ grantee: x.grantee, privilege: x.privilege, grantable: bool(x.grantable) }))
    .sort((a, b) => compareStrings(a.grantee, b.grantee) || compareStrings(a.privilege, b.privilege));
}

/**
 * Opens a database URL, introspects it in one session and closes it. (Spreading the queries over
 * several sessions was measured slower: each backend warms its own catalog caches, and that
 * warm-up, not the queries, is most of the cost.)
 */
export async function introspectUrl(url: string, applicationName = 'braid introspect'): Promise<SchemaModel> {
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    const ex = await openExecutor(url, applicationName);
    try {
      return (await introspectWithStats(ex, { sessionClosesAfter: true })).model;
    } finally {
      // Not awaited: the caller works on the model while the session says goodbye (close never
      // rejects, and the process does not exit before it has closed).
      void ex.close();
    }
  }
  // Two server sessions for reading only (no setup round trip, no waiting for the backends to
  // exit at the end: they hold no lock), opened at once, each with half the catalog queries:
  // two backends warm their catalog caches and run the queries on two cores (100 tables: the
  // queries 29 -> 24 ms, 1,000 tables 114 -> 82 ms, median of 12; a third session is slower on
  // two cores). When the server refuses the second session (max_connections), one does it all.
  // They race: either can be the one refused, or, starting together against a limit of one
  // (a role's CONNECTION LIMIT counts backends still starting), both; then one on its own.
  const opened = await Promise.allSettled([
    connectPg(url, applicationName, { lean: true }),
    connectPg(url, applicationName, { lean: true }),
  ]);
  const sessions = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  if (sessions.length === 0) sessions.push(await connectPg(url, applicationName, { lean: true }));
  const [main, ...helpers] = sessions as [PgExecutor, ...PgExecutor[]];
  try {
    return (await introspectWithStats(main, { helpers, sessionClosesAfter: true })).model;
  } finally {
    for (const ex of sessions) ex.closeNoWait();
  }
}

/**
 * Reads the schema of the database behind `ex` into the normalized model: one set-based query
 * per object kind. Works on a server and on PGlite (engine differences are normalised here;
 * see docs/schema.md).
 */
export async function introspect(ex: Executor): Promise<SchemaModel> {
  return (await introspectWithStats(ex)).model;
}

export interface IntrospectOptions {
  /**
   * Extra sessions on the same database (a server only): the catalog queries are spread over
   * them, so that a large schema is read by several backends at once. Owned by the caller.
   */
  helpers?: readonly Executor[];
  /** The caller closes the session right after: a setting changed for the queries (JIT) stays. */
  sessionClosesAfter?: boolean;
}

// Most expensive first, so that a pool of sessions finishes together.
const ALL_QUERIES = [
  Q.Q_COLUMNS,
  Q.Q_INDEXES,
  Q.Q_CONSTRAINTS,
  Q.Q_TABLES,
  Q.Q_VIEWS,
  Q.Q_FUNCTIONS,
  Q.Q_SEQUENCES,
  Q.Q_TYPES,
  Q.Q_TRIGGERS,
  Q.Q_POLICIES,
  Q.Q_SCHEMAS,
  Q.Q_EXTENSIONS,
];

/**
 * The catalog queries behind JIT: they are cheap but look expensive to the planner, and JIT
 * compilation would cost more than the queries themselves (≈20 ms each on a 1,000-table schema).
 * Off for the session while fn runs, restored after.
 */
async function withoutJit<T>(ex: Executor, fn: () => Promise<T>): Promise<T> {
  const jit = (await ex.query<{ v: string }>(`select current_setting('jit', true) as v`)).rows[0]?.v;
  if (jit === 'on') await ex.query(`select set_config('jit', 'off', false)`);
  try {
    return await fn();
  } finally {
    if (jit === 'on') await ex.query(`select set_config('jit', 'on', false)`);
  }
}

/**
 * A catalog query's rows as one JSON document (one row, one value): the driver then parses one
 * string natively instead of every row and field in JavaScript, which in a short-lived process
 * runs cold (about 8 ms of a 100-table introspection). The values keep their types: JSON strings,
 * numbers, booleans and nulls are what the driver gives for the same columns.
 */
const asJson = (sql: string): string => `select coalesce(json_agg(q), '[]')::text as j from (${sql}) q`;

function rowsOf(result: readonly Row[] | undefined): Row[] {
  const j = result?.[0]?.['j'];
  return typeof j === 'string' ? (JSON.parse(j) as Row[]) : [];
}

/**
 * Sessions on a server: each gets its share of the catalog queries (round robin over the list,
 * most expensive first) in one round trip, JIT off first (where the setting exists) and restored
 * after only when it was on and the session stays open (`restore`).
 */
async function fetchBatches(sessions: readonly PgExecutor[], restore: boolean): Promise<Map<string, Row[]>> {
  const out = new Map<string, Row[]>();
  await Promise.all(
    sessions.map(async (ex, i) => {
      const mine = ALL_QUERIES.filter((_, j) => j % sessions.length === i);
      const results = await ex.queryBatch([
        `select current_setting('jit', true) as v, (select set_config(name, 'off', false) from pg_settings where name = 'jit') as s`,
        ...mine.map(asJson),
      ]);
      mine.forEach((sql, k) => out.set(sql, rowsOf(results[k + 1])));
      if (restore && results[0]?.[0]?.['v'] === 'on') await ex.query(`select set_config('jit', 'on', false)`);
    }),
  );
  return out;
}

async function fetchAll(sessions: readonly Executor[], restore = true): Promise<Map<string, Row[]>> {
  if (sessions.every((ex) => ex instanceof PgExecutor)) return fetchBatches(sessions, restore);
  const out = new Map<string, Row[]>();
  let next = 0;
  await Promise.all(
    sessions.map((ex) =>
      withoutJit(ex, async () => {
        while (next < ALL_QUERIES.length) {
          const sql = ALL_QUERIES[next++];
          out.set(sql, rowsOf((await ex.query<Row>(asJson(sql))).rows));
        }
      }),
    ),
  );
  return out;
}

export async function introspectWithStats(
  ex: Executor,
  opts: IntrospectOptions = {},
): Promise<{ model: SchemaModel; stats: IntrospectStats }> {
  const fetched = await fetchAll([ex, ...(opts.helpers ?? [])], !opts.sessionClosesAfter);
  const q = async (sql: string): Promise<Row[]> => fetched.get(sql) ?? [];
  const queries = fetched.size;
  return read(emptyModel());

  async function read(m: SchemaModel): Promise<{ model: SchemaModel; stats: IntrospectStats }> {
    for (const r of await q(Q.Q_SCHEMAS)) {
      const name = str(r['name']);
      m.schemas[displayIdent(name)] = {
        name,
        comment: strOrNull(r['comment']),
        grants: grantsOf(r['grants']),
      };
    }
    for (const r of await q(Q.Q_EXTENSIONS)) {
      const name = str(r['name']);
      m.extensions[displayIdent(name)] = {
        name,
        schema: str(r['schema']),
        version: str(r['version']),
        comment: strOrNull(r['comment']),
      };
    }
    for (const r of await q(Q.Q_TYPES)) {
      const schema = str(r['schema']);
      const name = str(r['name']);
      const key = qualifiedKey(schema, name);
      const comment = strOrNull(r['comment']);
      const grants = grantsOf(r['grants']);
      const tt = str(r['typtype']);
      if (tt === 'e') {
        m.types[key] = {
          kind: 'enum',
          schema,
          name,
          labels: json<string[]>(r['labels'], []),
          comment,
          grants,
        };
      } else if (tt === 'd') {
        const checks = json<Record<string, string>>(r['checks'], {});
        const sorted: Record<string, string> = {};
        for (const k of Object.keys(checks).sort(compareStrings)) sorted[k] = checks[k];
        m.types[key] = {
          kind: 'domain',
          schema,
          name,
          type: str(r['base_type']),
          notNull: bool(r['not_null']),
          default: strOrNull(r['default']),
          collation: strOrNull(r['collation']),
          checks: sorted,
          comment,
          grants,
        };
      } else {
        const attrs = json<{ name: string; type: string; collation: string | null }[]>(r['attributes'], []);
        m.types[key] = {
          kind: 'composite',
          schema,
          name,
          attributes: attrs.map((a) => ({ name: a.name, type: a.type, collation: a.collation ?? null })),
          comment,
          grants,
        };
      }
    }
    for (const r of await q(Q.Q_SEQUENCES)) {
      const schema = str(r['schema']);
      const name = str(r['name']);
      const owned = json<[string, string, string] | null>(r['owned_by'], null);
      m.sequences[qualifiedKey(schema, name)] = {
        schema,
        name,
        type: str(r['type']),
        start: str(r['start']),
        increment: str(r['increment']),
        min: str(r['min']),
        max: str(r['max']),
        cache: str(r['cache']),
        cycle: bool(r['cycle']),
        ownedBy: owned ? `${qualifiedKey(owned[0], owned[1])}.${displayIdent(owned[2])}` : null,
        comment: strOrNull(r['comment']),
        grants: grantsOf(r['grants']),
      };
    }

    const byOid = new Map<string, TableDef>();
    for (const r of await q(Q.Q_TABLES)) {
      const schema = str(r['schema']);
      const name = str(r['name']);
      const parents = json<[string, string][]>(r['parents'], []).map(([s, n]) => qualifiedKey(s, n));
      const isPartition = bool(r['is_partition']);
      const t: TableDef = {
        schema,
        name,
        kind: r['relkind'] === 'p' ? 'partitioned' : 'table',
        unlogged: bool(r['unlogged']),
        partitionKey: strOrNull(r['partition_key']),
        partitionOf:
          isPartition && parents[0] ? { parent: parents[0], bound: str(r['partition_bound']) } : null,
        inherits: isPartition ? [] : parents,
        columns: {},
        constraints: {},
        rowSecurity: bool(r['row_security']),
        forceRowSecurity: bool(r['force_row_security']),
        comment: strOrNull(r['comment']),
        grants: grantsOf(r['grants']),
      };
      m.tables[qualifiedKey(schema, name)] = t;
      byOid.set(str(r['oid']), t);
    }
    for (const r of await q(Q.Q_COLUMNS)) {
      const t = byOid.get(str(r['oid']));
      if (!t) continue;
      const gen = str(r['generated']);
      const ident = str(r['identity']);
      const expr = strOrNull(r['expr']);
      const col: ColumnDef = {
        type: str(r['type']),
        notNull: bool(r['not_null']),
        default: gen ? null : expr,
        identity: ident === 'a' ? 'always' : ident === 'd' ? 'by default' : null,
        generated: gen ? expr : null,
        collation: strOrNull(r['collation']),
        comment: strOrNull(r['comment']),
      };
      t.columns[str(r['name'])] = col;
    }
    for (const r of await q(Q.Q_CONSTRAINTS)) {
      const t = byOid.get(str(r['oid']));
      const type = CONTYPES[str(r['contype'])];
      if (!t || !type) continue;
      const refs = json<[string, string] | null>(r['refs'], null);
      t.constraints[str(r['name'])] = {
        type,
        definition: str(r['definition']),
        validated: bool(r['validated']),
        deferrable: bool(r['deferrable']),
        deferred: bool(r['deferred']),
        references: refs ? qualifiedKey(refs[0], refs[1]) : null,
        comment: strOrNull(r['comment']),
      };
    }
    for (const r of await q(Q.Q_INDEXES)) {
      const schema = str(r['schema']);
      const name = str(r['name']);
      m.indexes[qualifiedKey(schema, name)] = {
        schema,
        table: qualifiedKey(str(r['table_schema']), str(r['table_name'])),
        name,
        definition: str(r['definition']),
        unique: bool(r['unique']),
        valid: bool(r['valid']),
        comment: strOrNull(r['comment']),
      };
    }
    for (const r of await q(Q.Q_VIEWS)) {
      const schema = str(r['schema']);
      const name = str(r['name']);
      m.views[qualifiedKey(schema, name)] = {
        schema,
        name,
        materialized: bool(r['materialized']),
        definition: str(r['definition']),
        options: json<string[]>(r['options'], []).slice().sort(compareStrings),
        dependsOn: json<[string, string][]>(r['depends_on'], [])
          .map(([s, n]) => qualifiedKey(s, n))
          .sort(compareStrings),
        comment: strOrNull(r['comment']),
        grants: grantsOf(r['grants']),
      };
    }
    for (const r of await q(Q.Q_FUNCTIONS)) {
      const schema = str(r['schema']);
      const name = str(r['name']);
      const args = str(r['identity_args']);
      m.functions[`${qualifiedKey(schema, name)}(${args})`] = {
        schema,
        name,
        kind: r['prokind'] === 'p' ? 'procedure' : 'function',
        identityArgs: args,
        returns: strOrNull(r['returns']),
        definition: str(r['definition']),
        comment: strOrNull(r['comment']),
        grants: grantsOf(r['grants']),
      };
    }
    for (const r of await q(Q.Q_TRIGGERS)) {
      const schema = str(r['schema']);
      const table = qualifiedKey(schema, str(r['table_name']));
      const name = str(r['name']);
      const en = str(r['enabled']);
      m.triggers[`${table}.${displayIdent(name)}`] = {
        schema,
        table,
        name,
        definition: str(r['definition']),
        enabled: en === 'D' || en === 'R' || en === 'A' ? en : 'O',
        comment: strOrNull(r['comment']),
      };
    }
    for (const r of await q(Q.Q_POLICIES)) {
      const schema = str(r['schema']);
      const table = qualifiedKey(schema, str(r['table_name']));
      const name = str(r['name']);
      m.policies[`${table}.${displayIdent(name)}`] = {
        schema,
        table,
        name,
        permissive: bool(r['permissive']),
        command: str(r['command']),
        roles: json<string[]>(r['roles'], ['PUBLIC']).slice().sort(compareStrings),
        using: strOrNull(r['using_expr']),
        withCheck: strOrNull(r['check_expr']),
        comment: strOrNull(r['comment']),
      };
    }
    const model = normalizeModel(m);
    let objects = 0;
    for (const c of Object.values(model)) objects += Object.keys(c as object).length;
    return { model, stats: { queries, objects } };
  }
}
