/**
 * quote_ident semantics, without a database: an identifier is left bare only when it is a
 * lower-case simple name that is not a keyword PostgreSQL reserves; otherwise it is wrapped in
 * double quotes with embedded quotes doubled. Used for model keys and for every name in
 * generated SQL (where `quoteIdent` always quotes, which is always correct).
 */

// Keywords that quote_ident() quotes (reserved, type/function-name and column-name keywords).
const KEYWORDS = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast char ' +
    'character check coalesce collate collation column concurrently constraint create cross current_catalog current_date ' +
    'current_role current_schema current_time current_timestamp current_user dec decimal default deferrable desc distinct do ' +
    'else end except exists extract false fetch float for foreign freeze from full grant greatest group grouping having ilike ' +
    'in initially inner inout int integer intersect interval into is isnull join json json_array json_arrayagg json_exists ' +
    'json_object json_objectagg json_query json_scalar json_serialize json_table json_value lateral leading least left like ' +
    'limit localtime localtimestamp merge_action national natural nchar none normalize not notnull null nullif numeric offset ' +
    'on only or order out outer overlaps overlay placing position precision primary real references returning right row ' +
    'select session_user setof similar smallint some substring symmetric system_user table tablesample then time timestamp ' +
    'to trailing treat trim true union unique user using values varchar variadic verbose when where window with xmlattributes ' +
    'xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable'
  ).split(' '),
);

/** Always quotes: safe for any identifier in generated SQL. */
export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

/** Quotes only when needed (quote_ident semantics): for keys and readable output. */
export function displayIdent(name: string): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(name) && !KEYWORDS.has(name)) return name;
  return quoteIdent(name);
}

/** `schema.name` with display quoting: the key of a schema-qualified object. */
export function qualifiedKey(schema: string, name: string): string {
  return `${displayIdent(schema)}.${displayIdent(name)}`;
}

/** `"schema"."name"`, always quoted: for generated SQL. */
export function qualifiedName(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** A SQL string literal, with quotes doubled; E'' form when it holds a backslash. */
export function quoteLiteral(value: string): string {
  const body = value.replace(/'/g, "''");
  if (value.includes('\\')) return `E'${body.replace(/\\/g, '\\\\')}'`;
  return `'${body}'`;
}
