/**
 * `braid test --stats-from URL`: the planner statistics of a real database, read as numbers
 * only — row counts (`pg_class.reltuples`), and per column `pg_stats.null_frac`, `n_distinct`
 * and `avg_width`. Never `most_common_vals`, `histogram_bounds` or any table: those are values.
 * The seed generator (roundtrip.ts) shapes its generated rows with them.
 */
import type { Executor } from './executor';

export interface ColumnStats {
  /** Fraction of NULLs, 0..1. */
  nullFrac: number;
  /** pg_stats.n_distinct: > 0 a count, < 0 minus a fraction of the rows (-1: all distinct). */
  nDistinct: number;
  /** Average width in bytes (pg_stats.avg_width). */
  avgWidth: number;
}

export interface TableStats {
  /** pg_class.reltuples; -1 when the table was never vacuumed or analyzed (PostgreSQL 14+). */
  rows: number;
  columns: Map<string, ColumnStats>;
}

/** Keyed by the schema-qualified quoted name (`public.users`, `"Sales".orders`), as the seeder names tables. */
export type StatsSource = Map<string, TableStats>;

const Q_TABLES = `
select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name, c.reltuples::float8 as rows
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p')
   and n.nspname not in ('pg_catalog', 'information_schema', 'braid')
   and n.nspname not like 'pg\\_%'`;

// Numeric columns only (the point of --stats-from: shapes, never values).
const Q_COLUMNS = `
select quote_ident(s.schemaname) || '.' || quote_ident(s.tablename) as name, s.attname::text as col,
       s.null_frac::float8 as null_frac, s.n_distinct::float8 as n_distinct, s.avg_width::int as avg_width
  from pg_stats s
 where s.schemaname not in ('pg_catalog', 'information_schema', 'braid')
   and s.schemaname not like 'pg\\_%'
 order by s.inherited`;

/** Reads the statistics of every user table visible to the connection's role. */
export async function readStats(ex: Executor): Promise<StatsSource> {
  const out: StatsSource = new Map();
  const t = await ex.query<{ name: string; rows: number | string }>(Q_TABLES);
  for (const r of t.rows) out.set(r.name, { rows: Number(r.rows), columns: new Map() });
  const c = await ex.query<{
    name: string;
    col: string;
    null_frac: number | string;
    n_distinct: number | string;
    avg_width: number | string;
  }>(Q_COLUMNS);
  for (const r of c.rows) {
    const table = out.get(r.name);
    // inherited = false first: the table's own rows win over a partition tree's.
    if (!table || table.columns.has(r.col)) continue;
    table.columns.set(r.col, {
      nullFrac: Number(r.null_frac),
      nDistinct: Number(r.n_distinct),
      avgWidth: Number(r.avg_width),
    });
  }
  return out;
}

/** Row estimate and one-column primary key of a table (`braid lint --stats-from`). */
export interface TableRowEstimate {
  rows: number;
  primaryKey?: string;
}

// Numbers and catalog names only. The estimate is the larger of reltuples (last ANALYZE/VACUUM;
// -1 when never, PostgreSQL 14+) and n_live_tup (the statistics collector's running count).
const Q_ROWS = `
select n.nspname::text as schema, c.relname::text as name,
       greatest(c.reltuples::float8, coalesce(s.n_live_tup, 0)::float8, 0) as rows,
       (select a.attname::text
          from pg_index i
          join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
         where i.indrelid = c.oid and i.indisprimary and i.indnatts = 1) as pk
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  left join pg_stat_user_tables s on s.relid = c.oid
 where c.relkind in ('r', 'p')
   and n.nspname not in ('pg_catalog', 'information_schema', 'braid')
   and n.nspname not like 'pg\\_%'`;

/**
 * Row estimates of every user table visible to the connection's role, keyed by the
 * schema-qualified unquoted name the lint uses (`public.accounts`, `Sales.Orders`).
 */
export async function readTableRows(ex: Executor): Promise<Record<string, TableRowEstimate>> {
  const out: Record<string, TableRowEstimate> = {};
  const r = await ex.query<{ schema: string; name: string; rows: number | string; pk: string | null }>(
    Q_ROWS,
  );
  for (const row of r.rows) {
    out[`${row.schema}.${row.name}`] = {
      rows: Math.round(Number(row.rows)),
      ...(row.pk !== null ? { primaryKey: row.pk } : {}),
    };
  }
  return out;
}
