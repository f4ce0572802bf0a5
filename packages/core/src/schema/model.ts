/**
 * The normalized schema model: a faithful, engine-independent picture of a PostgreSQL schema.
 *
 * Every collection is a record keyed by the object's identity: the schema-qualified name as
 * PostgreSQL would print it (quote_ident semantics, e.g. `public."My Table"`), triggers and
 * policies by `table.name`, functions by signature (`public.f(integer, text)`, so overloads
 * are distinct objects). Keys are sorted, so two models of the same schema serialise to the
 * same JSON. Column order is not part of the model (columns are a record, not a list).
 * The model is plain JSON: no classes, no Dates, no undefined values (absent is null).
 */

/** One privilege grant on an object, for a grantee other than the object's owner. */
export interface Grant {
  /** Role name, or PUBLIC. */
  grantee: string;
  /** Upper-case privilege name: SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, EXECUTE, USAGE, CREATE. */
  privilege: string;
  grantable: boolean;
}

export interface SchemaDef {
  name: string;
  comment: string | null;
  grants: Grant[];
}

export interface ExtensionDef {
  name: string;
  schema: string;
  version: string;
  comment: string | null;
}

export interface EnumDef {
  kind: 'enum';
  schema: string;
  name: string;
  labels: string[];
  comment: string | null;
  /** USAGE grants (PUBLIC has USAGE until revoked). */
  grants: Grant[];
}

export interface DomainDef {
  kind: 'domain';
  schema: string;
  name: string;
  /** Base type, format_type() with modifiers. */
  type: string;
  notNull: boolean;
  default: string | null;
  collation: string | null;
  /** Check constraints by name: pg_get_constraintdef(). */
  checks: Record<string, string>;
  comment: string | null;
  /** USAGE grants (PUBLIC has USAGE until revoked). */
  grants: Grant[];
}

export interface CompositeDef {
  kind: 'composite';
  schema: string;
  name: string;
  /** Attribute name -> type (and COLLATE when not the type's default); order matters for composites. */
  attributes: { name: string; type: string; collation: string | null }[];
  comment: string | null;
  /** USAGE grants (PUBLIC has USAGE until revoked). */
  grants: Grant[];
}

export type TypeDef = EnumDef | DomainDef | CompositeDef;

export interface SequenceDef {
  schema: string;
  name: string;
  type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  /** `schema.table.column` (quoted as needed) of the owning column, or null. */
  ownedBy: string | null;
  comment: string | null;
  grants: Grant[];
}

export interface ColumnDef {
  /** format_type(): the type with its modifiers, e.g. `character varying(20)`. */
  type: string;
  notNull: boolean;
  /** Default expression (pg_get_expr), null when none or when the column is generated. */
  default: string | null;
  /** 'always' | 'by default' for identity columns, else null. */
  identity: 'always' | 'by default' | null;
  /** Generation expression of a stored generated column, else null. */
  generated: string | null;
  /** Collation when it differs from the type's default, else null. */
  collation: string | null;
  comment: string | null;
}

export type ConstraintType = 'primary key' | 'unique' | 'foreign key' | 'check' | 'exclusion';

export interface ConstraintDef {
  type: ConstraintType;
  /** pg_get_constraintdef(): columns, references, actions, DEFERRABLE, NOT VALID. */
  definition: string;
  /** false for a NOT VALID constraint. */
  validated: boolean;
  deferrable: boolean;
  deferred: boolean;
  /** For foreign keys: the key of the referenced table (for ordering). */
  references: string | null;
  comment: string | null;
}

export interface TableDef {
  schema: string;
  name: string;
  /** 'table' or 'partitioned' (a partitioned parent). */
  kind: 'table' | 'partitioned';
  unlogged: boolean;
  /** pg_get_partkeydef() of a partitioned table, e.g. `RANGE (created_at)`. */
  partitionKey: string | null;
  /** Parent table key and bound (pg_get_expr of relpartbound) for a partition. */
  partitionOf: { parent: string; bound: string } | null;
  /** Parent table keys for (non-partition) inheritance, in inheritance order. */
  inherits: string[];
  /** Local columns only (inherited columns belong to the parent). */
  columns: Record<string, ColumnDef>;
  /** Local constraints only, NOT NULL excluded (it is ColumnDef.notNull). */
  constraints: Record<string, ConstraintDef>;
  rowSecurity: boolean;
  forceRowSecurity: boolean;
  comment: string | null;
  grants: Grant[];
}

export interface IndexDef {
  schema: string;
  /** Key of the table or materialized view. */
  table: string;
  name: string;
  /** pg_get_indexdef(): the whole CREATE [UNIQUE] INDEX statement. */
  definition: string;
  unique: boolean;
  /** false for an INVALID index (a failed CREATE INDEX CONCURRENTLY). */
  valid: boolean;
  comment: string | null;
}

export interface ViewDef {
  schema: string;
  name: string;
  materialized: boolean;
  /** pg_get_viewdef(oid, true). */
  definition: string;
  /** reloptions, e.g. `security_barrier=true`, `check_option=local`, sorted. */
  options: string[];
  /** Keys of the tables and views this view reads (for ordering). */
  dependsOn: string[];
  comment: string | null;
  grants: Grant[];
}

export interface FunctionDef {
  schema: string;
  name: string;
  kind: 'function' | 'procedure';
  /** pg_get_function_identity_arguments(). */
  identityArgs: string;
  /** pg_get_function_result(), null for procedures. */
  returns: string | null;
  /** pg_get_functiondef(): the whole CREATE OR REPLACE statement. */
  definition: string;
  comment: string | null;
  grants: Grant[];
}

export interface TriggerDef {
  schema: string;
  table: string;
  name: string;
  /** pg_get_triggerdef(). */
  definition: string;
  /** tgenabled: O (origin, default), D (disabled), R (replica), A (always). */
  enabled: 'O' | 'D' | 'R' | 'A';
  comment: string | null;
}

export interface PolicyDef {
  schema: string;
  table: string;
  name: string;
  permissive: boolean;
  /** ALL, SELECT, INSERT, UPDATE or DELETE. */
  command: string;
  /** Role names, sorted; ['PUBLIC'] when for everyone. */
  roles: string[];
  using: string | null;
  withCheck: string | null;
  comment: string | null;
}

export interface SchemaModel {
  schemas: Record<string, SchemaDef>;
  extensions: Record<string, ExtensionDef>;
  types: Record<string, TypeDef>;
  sequences: Record<string, SequenceDef>;
  tables: Record<string, TableDef>;
  views: Record<string, ViewDef>;
  functions: Record<string, FunctionDef>;
  indexes: Record<string, IndexDef>;
  triggers: Record<string, TriggerDef>;
  policies: Record<string, PolicyDef>;
}

export const MODEL_COLLECTIONS = [
  'schemas',
  'extensions',
  'types',
  'sequences',
  'tables',
  'views',
  'functions',
  'indexes',
  'triggers',
  'policies',
] as const satisfies readonly (keyof SchemaModel)[];

export type Collection = (typeof MODEL_COLLECTIONS)[number];

export function emptyModel(): SchemaModel {
  return {
    schemas: {},
    extensions: {},
    types: {},
    sequences: {},
    tables: {},
    views: {},
    functions: {},
    indexes: {},
    triggers: {},
    policies: {},
  };
}

/**
 * What `CREATE DATABASE` gives on PostgreSQL 15 and later (and PGlite): the `public` schema,
 * usable by everyone, and PL/pgSQL. The baseline of `braid schema inspect`: the SQL that makes a
 * schema in a new database starts from here, not from nothing.
 */
export function freshDatabaseModel(): SchemaModel {
  const m = emptyModel();
  m.schemas['public'] = {
    name: 'public',
    comment: 'standard public schema',
    grants: [{ grantee: 'PUBLIC', privilege: 'USAGE', grantable: false }],
  };
  m.extensions['plpgsql'] = {
    name: 'plpgsql',
    schema: 'pg_catalog',
    version: '1.0',
    comment: 'PL/pgSQL procedural language',
  };
  return m;
}

/** Returns a copy of a record with its keys in sorted (code point) order. */
export function sortRecord<T>(rec: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(rec).sort(compareStrings)) out[k] = rec[k];
  return out;
}

/** Deterministic, locale-independent string order. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts every collection (and nested record) of a model, for stable JSON. */
export function normalizeModel(m: SchemaModel): SchemaModel {
  const out = emptyModel();
  for (const c of MODEL_COLLECTIONS) {
    (out as unknown as Record<string, unknown>)[c] = sortRecord(m[c] as Record<string, unknown>);
  }
  for (const t of Object.values(out.tables)) {
    t.columns = sortRecord(t.columns);
    t.constraints = sortRecord(t.constraints);
  }
  return out;
}
