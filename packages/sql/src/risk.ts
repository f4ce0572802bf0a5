/**
 * Data at risk (docs/backups.md): which data of the database a migration file can destroy, found
 * statically from its statements: tables dropped or truncated, columns dropped or retyped, rows
 * an UPDATE, DELETE or MERGE changes (with the UPDATE/DELETE's WHERE when it can be evaluated
 * before the migration runs). Pure: works on analyzed statements (the parser must be loaded).
 *
 * `backupTargets` turns the risks into what a backup copies, one target per table: the whole
 * table, some columns of every row (with the key), or the rows a condition selects. When in doubt
 * it copies more (the whole table): a backup that misses rows the migration changed is the bug.
 */
import { a, inner, kindOf, o, s, strings } from './ast';
import type { AnalyzedStatement } from './analyze';
import { topLevelWords } from './batch';
import { qname, type ObjectRef } from './footprint';

export type RiskKind =
  'drop-table' | 'drop-column' | 'retype-column' | 'truncate' | 'update' | 'delete' | 'merge' | 'drop-schema';

export interface RiskTable {
  schema: string;
  name: string;
}

export interface DataRisk {
  kind: RiskKind;
  /** The table (drop-schema: name is '*', every table of the schema). */
  table: RiskTable;
  /** drop-column / retype-column: the columns; update: the columns it sets. */
  columns?: string[];
  /**
   * update / delete: the statement's own WHERE condition (SQL text), when the rows it changes can
   * be selected before the migration runs; absent: every row of the table is at risk.
   */
  where?: string;
  /** How the statement names the table in `where` (its alias, else its name). */
  qualifier?: string;
  /** A data statement (UPDATE, DELETE, MERGE): backed up under the `all` policy only. */
  dml: boolean;
  /** 1-based line and 0-based index of the statement in its file. */
  line: number;
  statement: number;
  /** Why the scope is wider than the statement says (e.g. "DELETE … USING: every row"). */
  note?: string;
  /**
   * truncate: `TRUNCATE … CASCADE`, which also empties every table with a foreign key to this
   * one (recursively). Which tables those are is not in the file: the database layer finds them
   * in the catalog (pg_constraint) and backs them up too.
   */
  cascade?: boolean;
}

const key = (t: RiskTable): string => `${t.schema}.${t.name}`;

function relOf(rv: ReturnType<typeof o>, searchPath: string[]): RiskTable | undefined {
  const name = s(rv, 'relname');
  if (!name) return undefined;
  let schema = s(rv, 'schemaname');
  if (!schema) schema = searchPath.find((p) => p !== '$user' && p !== 'pg_catalog' && p !== '') ?? 'public';
  return { schema, name };
}

/** The statement's own WHERE condition text and the table's qualifier, or why there is none. */
function whereOf(text: string, verb: 'update' | 'delete'): { where?: string } {
  const words = topLevelWords(text);
  const v = words.find((w) => w.word === verb);
  const from = v ? v.at : 0;
  const where = [...words].reverse().find((w) => w.word === 'where' && w.at > from);
  if (!where) return {};
  const ret = words.find((w) => w.word === 'returning' && w.at > where.at);
  const cond = text.slice(where.at + 'where'.length, ret ? ret.at : text.length).trim();
  return { where: cond };
}

/**
 * Whether `text` can hold a statement dataAtRisk reports: every such statement starts with, or
 * contains, one of these keywords (DROP, ALTER, TRUNCATE, UPDATE, DELETE, MERGE), and a keyword
 * cannot be quoted or escaped. Deliberately loose (any occurrence, in a name or a comment too):
 * false means no risk for certain, so a backup can skip loading the SQL parser (≈ 0.1 s of a
 * `braid up`) for the many migrations that only create or add.
 */
export function mayPutDataAtRisk(text: string): boolean {
  return /drop|alter|truncate|update|delete|merge/i.test(text);
}

/** The data at risk in one migration file, statement by statement (file order). */
export function dataAtRisk(statements: readonly AnalyzedStatement[]): DataRisk[] {
  const out: DataRisk[] = [];
  // Tables the file itself creates hold no data from before it (their drops and changes are safe).
  const created = new Set<string>();
  // Tables an earlier statement of the file changed: a later WHERE is not evaluable beforehand.
  const touched = new Set<string>();
  for (const st of statements) {
    const n = inner(st.ast);
    const kind = kindOf(st.ast);
    const at = { line: st.line, statement: st.index };
    const push = (r: Omit<DataRisk, 'line' | 'statement'>): void => {
      if (r.table.name !== '*' && created.has(key(r.table))) return;
      out.push({ ...r, ...at });
    };
    const sp = st.searchPath;
    switch (kind) {
      case 'DropStmt': {
        const rt = s(n, 'removeType');
        if (rt === 'OBJECT_TABLE' || rt === 'OBJECT_FOREIGN_TABLE') {
          for (const obj of a(n, 'objects')) {
            const names = strings(a(o(obj, 'List'), 'items'));
            if (names.length === 0) continue;
            const t =
              names.length >= 2
                ? { schema: names[names.length - 2], name: names[names.length - 1] }
                : (relOf({ relname: names[0] }, sp) as RiskTable);
            if (rt === 'OBJECT_TABLE') push({ kind: 'drop-table', table: t, dml: false });
          }
        } else if (rt === 'OBJECT_SCHEMA' && s(n, 'behavior') === 'DROP_CASCADE') {
          for (const obj of a(n, 'objects')) {
            const name = s(o(obj, 'String'), 'sval');
            if (name)
              push({
                kind: 'drop-schema',
                table: { schema: name, name: '*' },
                dml: false,
                note: `DROP SCHEMA ${name} CASCADE: every table of the schema`,
              });
          }
        }
        break;
      }
      case 'AlterTableStmt': {
        if ((s(n, 'objtype') ?? 'OBJECT_TABLE') !== 'OBJECT_TABLE') break;
        const t = relOf(o(n, 'relation'), sp);
        if (!t) break;
        const dropped: string[] = [];
        const retyped: string[] = [];
        for (const c of a(n, 'cmds')) {
          const cmd = o(c, 'AlterTableCmd');
          const sub = s(cmd, 'subtype');
          const col = s(cmd, 'name');
          if (!col) continue;
          if (sub === 'AT_DropColumn') dropped.push(col);
          if (sub === 'AT_AlterColumnType') retyped.push(col);
        }
        if (dropped.length) push({ kind: 'drop-column', table: t, columns: dropped, dml: false });
        const still = retyped.filter((c) => !dropped.includes(c));
        if (still.length) push({ kind: 'retype-column', table: t, columns: still, dml: false });
        break;
      }
      case 'TruncateStmt': {
        for (const r of a(n, 'relations')) {
          const t = relOf(o(r, 'RangeVar'), sp);
          if (!t) continue;
          push({
            kind: 'truncate',
            table: t,
            dml: false,
            ...(s(n, 'behavior') === 'DROP_CASCADE'
              ? {
                  cascade: true,
                  note: 'TRUNCATE … CASCADE also empties the tables that reference it (found in the catalog, backed up too)',
                }
              : {}),
          });
        }
        break;
      }
      case 'UpdateStmt':
      case 'DeleteStmt': {
        const rv = o(n, 'relation');
        const t = relOf(rv, sp);
        if (!t) break;
        const verb = kind === 'UpdateStmt' ? 'update' : 'delete';
        const label = verb.toUpperCase();
        const columns =
          kind === 'UpdateStmt'
            ? a(n, 'targetList')
                .map((x) => s(o(x, 'ResTarget'), 'name'))
                .filter((x): x is string => !!x)
            : undefined;
        const base = {
          kind: verb,
          table: t,
          dml: true,
          ...(columns && columns.length ? { columns: [...new Set(columns)] } : {}),
        } as const;
        const whereNode = o(n, 'whereClause');
        const other = kind === 'UpdateStmt' ? a(n, 'fromClause') : a(n, 'usingClause');
        let all: string | undefined;
        if (!whereNode) all = undefined;
        else if (kindOf(whereNode) === 'CurrentOfExpr') all = `${label} … WHERE CURRENT OF`;
        else if (other.length > 0) all = `${label} … ${verb === 'update' ? 'FROM' : 'USING'}`;
        else if (o(n, 'withClause')) all = `WITH … ${label}`;
        else if (touched.has(key(t))) all = `an earlier statement of the file changes ${key(t)}`;
        else {
          const reads = st.footprint.reads.filter((r: ObjectRef) => `${r.schema}.${r.name}` !== key(t));
          const stale = reads.find((r) => touched.has(`${r.schema}.${r.name}`));
          if (stale) all = `its WHERE reads ${qname(stale)}, which an earlier statement changes`;
        }
        if (!whereNode) push(base);
        else if (all) push({ ...base, note: `${all}: every row of the table` });
        else {
          const w = whereOf(st.text, verb);
          const alias = s(o(rv, 'alias'), 'aliasname');
          if (w.where) push({ ...base, where: w.where, qualifier: alias ?? t.name });
          else push({ ...base, note: 'WHERE not found in the text: every row of the table' });
        }
        break;
      }
      case 'MergeStmt': {
        const t = relOf(o(n, 'relation'), sp);
        if (t) push({ kind: 'merge', table: t, dml: true, note: 'MERGE: every row of the table' });
        break;
      }
    }
    // After the statement: what it created and changed.
    for (const c of st.footprint.creates)
      if (c.kind === 'table' && c.schema) created.add(`${c.schema}.${c.name}`);
    for (const w of st.footprint.writes) if (w.schema) touched.add(`${w.schema}.${w.name}`);
    for (const al of st.footprint.alters)
      if (al.object.kind === 'table' && al.object.schema)
        touched.add(`${al.object.schema}.${al.object.name}`);
    for (const r of st.footprint.renames)
      if (r.from.kind === 'table' && r.from.schema) touched.add(`${r.from.schema}.${r.to.name}`);
  }
  return out;
}

export type BackupPolicy = 'off' | 'destructive' | 'all';
export const BACKUP_POLICIES: readonly BackupPolicy[] = ['off', 'destructive', 'all'];

/** What a backup copies of one table. */
export interface BackupTarget {
  table: RiskTable;
  /**
   * `table`: every row, every column. `columns`: every row, the key and `columns`. `rows`: every
   * column of the rows `where` selects (conditions ORed).
   */
  scope: 'table' | 'columns' | 'rows';
  columns?: string[];
  where?: string[];
  qualifier?: string;
  /** The risks that made it ("drop-column email (line 3)"). */
  reasons: string[];
  /**
   * A `TRUNCATE … CASCADE` of the table: the tables referencing it by foreign key, recursively,
   * are emptied too and must be copied whole as well (resolved against the catalog).
   */
  cascade?: boolean;
}

function reasonOf(r: DataRisk): string {
  const what =
    r.kind === 'drop-schema'
      ? `drop-schema ${r.table.schema}`
      : r.columns && (r.kind === 'drop-column' || r.kind === 'retype-column')
        ? `${r.kind} ${r.columns.join(', ')}`
        : r.where !== undefined
          ? `${r.kind} where ${r.where}`
          : r.cascade
            ? `${r.kind} cascade`
            : r.kind;
  return `${what} (line ${r.line})`;
}

/**
 * The backup targets of a file's risks under a policy (`destructive`: schema changes and
 * TRUNCATE; `all`: UPDATE, DELETE and MERGE too; `off`: none). One target per table; a table
 * with risks of different scopes (or row conditions written with different aliases) is copied
 * whole. drop-schema targets keep the name '*' (the database layer lists the schema's tables).
 */
export function backupTargets(risks: readonly DataRisk[], policy: BackupPolicy): BackupTarget[] {
  if (policy === 'off') return [];
  const byTable = new Map<string, BackupTarget>();
  for (const r of risks) {
    if (r.dml && policy !== 'all') continue;
    const k = key(r.table);
    const scope: BackupTarget['scope'] =
      r.kind === 'drop-column' || r.kind === 'retype-column'
        ? 'columns'
        : (r.kind === 'update' || r.kind === 'delete') && r.where !== undefined
          ? 'rows'
          : 'table';
    const t: BackupTarget = {
      table: r.table,
      scope,
      reasons: [reasonOf(r)],
      ...(scope === 'columns' ? { columns: [...(r.columns ?? [])] } : {}),
      ...(scope === 'rows' ? { where: [r.where!], qualifier: r.qualifier ?? r.table.name } : {}),
      ...(r.cascade ? { cascade: true } : {}),
    };
    const had = byTable.get(k);
    if (!had) {
      byTable.set(k, t);
      continue;
    }
    had.reasons.push(...t.reasons);
    if (t.cascade) had.cascade = true;
    if (had.scope === 'table') continue;
    if (had.scope === 'columns' && t.scope === 'columns') {
      for (const c of t.columns ?? []) if (!had.columns!.includes(c)) had.columns!.push(c);
    } else if (had.scope === 'rows' && t.scope === 'rows' && had.qualifier === t.qualifier) {
      for (const w of t.where ?? []) if (!had.where!.includes(w)) had.where!.push(w);
    } else {
      had.scope = 'table';
      delete had.columns;
      delete had.where;
      delete had.qualifier;
    }
  }
  return [...byTable.values()];
}
