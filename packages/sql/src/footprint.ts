/**
 * Statement footprints: the objects a statement creates, alters (with the sub-object), drops,
 * renames and reads, schema-qualified with the search_path in effect. Pure: works on the AST.
 *
 * Unqualified names resolve to the first schema of the search_path (other than "$user" and
 * pg_catalog); the default search_path is ["public"]. Function bodies are parsed (SQL and
 * PL/pgSQL); when a body cannot be analysed (another language, dynamic EXECUTE, a parse error),
 * the footprint is marked `incomplete` and a note says why.
 */
import { a, b, inner, isNode, kindOf, o, s, strings, walk } from './ast';
import { parsePlpgsql, parseSql, type AstNode } from './parser';

export type ObjectKind =
  | 'table'
  | 'view'
  | 'materialized view'
  | 'index'
  | 'sequence'
  | 'function'
  | 'procedure'
  | 'type'
  | 'domain'
  | 'schema'
  | 'extension'
  | 'trigger'
  | 'policy'
  | 'database'
  | 'role'
  | 'rule'
  | 'column'
  | 'constraint'
  | 'other';

export interface ObjectRef {
  kind: ObjectKind;
  /** Schema, for schema-scoped objects. */
  schema?: string;
  name: string;
  /** The table a column, constraint, trigger or policy belongs to (schema-qualified). */
  table?: string;
  /**
   * Functions, procedures and aggregates: the argument types of the signature, normalised
   * (`integer`, `text`, `character varying`, `mood[]`: no schema, no typmod; OUT arguments
   * excluded for functions, as PostgreSQL's identity rules say). Undefined when the signature is
   * unknown: a call in a body or view, `DROP FUNCTION f` without arguments, a trigger's function,
   * a `%TYPE` argument. An unknown signature matches every overload of the name.
   */
  args?: string[];
}

export type SubKind =
  | 'column'
  | 'constraint'
  | 'default'
  | 'enum value'
  | 'index'
  | 'trigger'
  | 'policy'
  | 'partition'
  | 'owner'
  | 'privileges'
  | 'comment'
  | 'option';

export interface Alteration {
  object: ObjectRef;
  sub?: { kind: SubKind; name?: string };
  /** What happens: add, drop, type, set not null, default, validate, rename value, ... */
  action: string;
}

export interface Footprint {
  creates: ObjectRef[];
  alters: Alteration[];
  drops: ObjectRef[];
  renames: Array<{ from: ObjectRef; to: ObjectRef }>;
  /** Everything the statement reads or references (FK targets, view sources, DML tables, bodies). */
  reads: ObjectRef[];
  /** Tables whose rows the statement changes (INSERT/UPDATE/DELETE/MERGE/TRUNCATE/COPY targets). */
  writes: ObjectRef[];
  incomplete: boolean;
  notes: string[];
}

export interface FootprintOptions {
  /** The search_path in effect (default ["public"]). */
  searchPath?: string[];
  /**
   * Analyse CREATE FUNCTION bodies (default true). Lint passes false: no rule needs what a
   * function body reads, and parsing PL/pgSQL bodies is the costliest part of a footprint.
   * DO blocks are always analysed (they run now).
   */
  functionBodies?: boolean;
  /**
   * Collect what statements read (default true): every relation and function a query, a view
   * or a DML statement references, found by walking its whole tree. Lint passes false for up.sql
   * and down.sql: its rules look at what their statements create, drop, alter, rename and write;
   * only verify-asserts-nothing looks at reads, of verify.sql.
   */
  reads?: boolean;
}

export function emptyFootprint(): Footprint {
  return {
    creates: [],
    alters: [],
    drops: [],
    renames: [],
    reads: [],
    writes: [],
    incomplete: false,
    notes: [],
  };
}

/** "schema.name" (or just the name for unscoped objects); functions with a known signature: "schema.f(integer, text)". */
export function qname(ref: ObjectRef): string {
  const base =
    (ref.schema ? `${ref.schema}.${ref.name}` : ref.name) + (ref.args ? `(${ref.args.join(', ')})` : '');
  return ref.table &&
    (ref.kind === 'column' || ref.kind === 'constraint' || ref.kind === 'trigger' || ref.kind === 'policy')
    ? `${ref.table}.${ref.name}`
    : base;
}

export function defaultSchema(searchPath: string[] | undefined): string {
  for (const p of searchPath ?? ['public']) {
    if (p !== '$user' && p !== 'pg_catalog' && p !== '') return p;
  }
  return 'public';
}

const RELKIND: Record<string, ObjectKind> = {
  OBJECT_TABLE: 'table',
  OBJECT_FOREIGN_TABLE: 'table',
  OBJECT_VIEW: 'view',
  OBJECT_MATVIEW: 'materialized view',
  OBJECT_INDEX: 'index',
  OBJECT_SEQUENCE: 'sequence',
  OBJECT_FUNCTION: 'function',
  OBJECT_PROCEDURE: 'procedure',
  OBJECT_ROUTINE: 'function',
  OBJECT_AGGREGATE: 'function',
  OBJECT_TYPE: 'type',
  OBJECT_DOMAIN: 'domain',
  OBJECT_SCHEMA: 'schema',
  OBJECT_EXTENSION: 'extension',
  OBJECT_TRIGGER: 'trigger',
  OBJECT_POLICY: 'policy',
  OBJECT_DATABASE: 'database',
  OBJECT_ROLE: 'role',
  OBJECT_RULE: 'rule',
  OBJECT_COLUMN: 'column',
  OBJECT_TABCONSTRAINT: 'constraint',
  OBJECT_DOMCONSTRAINT: 'constraint',
  OBJECT_ATTRIBUTE: 'column',
};
export function objectKind(objtype: string | undefined): ObjectKind {
  return RELKIND[objtype ?? ''] ?? 'other';
}

/** format_type's names for the internal names the parser produces (`int` -> int4 -> integer). */
const TYPE_NAMES: Record<string, string> = {
  int2: 'smallint',
  int4: 'integer',
  int: 'integer',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  float: 'double precision',
  bool: 'boolean',
  varchar: 'character varying',
  bpchar: 'character',
  decimal: 'numeric',
  timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone',
  time: 'time without time zone',
  timetz: 'time with time zone',
  varbit: 'bit varying',
};

/**
 * One argument type, normalised for signature matching: the schema is dropped (so `mood` and
 * `public.mood` match; two types of one name in different schemas match too, which errs towards
 * a collision), typmods are ignored (PostgreSQL ignores them in signatures), arrays are `[]`.
 * Undefined for `%TYPE` (unknown without the catalog).
 */
export function normalizeArgType(tn: AstNode | undefined): string | undefined {
  if (!tn || b(tn, 'pct_type')) return undefined;
  const names = strings(a(tn, 'names'));
  const last = names[names.length - 1];
  if (!last) return undefined;
  // The parser turns char(n) into pg_catalog.bpchar; a type named char is the one-byte "char".
  const base = last === 'char' ? '"char"' : (TYPE_NAMES[last] ?? last);
  return a(tn, 'arrayBounds').length > 0 ? `${base}[]` : base;
}

/**
 * The signature of a function parameter list (CREATE FUNCTION's parameters, ObjectWithArgs'
 * objfuncargs): types of the arguments that identify the routine. OUT and TABLE arguments are
 * not part of a function's identity. A procedure's OUT arguments are (PostgreSQL 14+), but
 * `DROP PROCEDURE p(int)` may omit them: procedures are keyed by their input arguments too,
 * which can only make two procedures collide, never hide a collision.
 * Undefined when a type cannot be known statically.
 */
function signatureOf(params: AstNode[]): string[] | undefined {
  const out: string[] = [];
  for (const p of params) {
    const fp = o(p, 'FunctionParameter');
    if (!fp) continue;
    const mode = s(fp, 'mode') ?? 'FUNC_PARAM_DEFAULT';
    if (mode === 'FUNC_PARAM_TABLE') continue;
    if (mode === 'FUNC_PARAM_OUT') continue;
    const t = normalizeArgType(o(fp, 'argType'));
    if (t === undefined) return undefined;
    out.push(t);
  }
  return out;
}

/** The signature an ObjectWithArgs names (DROP/ALTER/COMMENT/GRANT ... FUNCTION f(...)); undefined for `f` without parentheses. */
function objectArgs(owa: AstNode | undefined): string[] | undefined {
  if (!owa || b(owa, 'args_unspecified')) return undefined;
  const funcargs = a(owa, 'objfuncargs');
  if (funcargs.length > 0) return signatureOf(funcargs);
  const out: string[] = [];
  for (const tn of a(owa, 'objargs')) {
    const t = normalizeArgType(o(tn, 'TypeName') ?? tn);
    if (t === undefined) return undefined;
    out.push(t);
  }
  return out;
}

const ROUTINE_KINDS: ReadonlySet<ObjectKind> = new Set(['function', 'procedure']);

class Builder {
  readonly fp = emptyFootprint();
  readonly schema: string;
  constructor(readonly opts: FootprintOptions) {
    this.schema = defaultSchema(opts.searchPath);
  }
  rel(rv: AstNode | undefined, kind: ObjectKind = 'table'): ObjectRef | undefined {
    if (!rv) return undefined;
    const name = s(rv, 'relname');
    if (!name) return undefined;
    return { kind, schema: s(rv, 'schemaname') ?? this.schema, name };
  }
  /** A qualified name from a list of strings: [schema, name] or [name]. */
  named(list: string[], kind: ObjectKind): ObjectRef {
    if (list.length >= 2) return { kind, schema: list[list.length - 2], name: list[list.length - 1] };
    return { kind, schema: this.schema, name: list[0] ?? '' };
  }
  /** A function/procedure/aggregate named by an ObjectWithArgs (or a plain name list), with its signature when written. */
  routine(obj: AstNode | undefined, kind: ObjectKind): ObjectRef {
    const ref = this.named(refNames(obj), kind);
    const owa = o(obj, 'ObjectWithArgs');
    if (owa && ROUTINE_KINDS.has(kind)) {
      const args = objectArgs(owa);
      if (args) ref.args = args;
    }
    return ref;
  }
  add(list: ObjectRef[], ref: ObjectRef | undefined): void {
    if (!ref) return;
    const q = `${ref.kind}:${qname(ref)}`;
    if (!list.some((r) => `${r.kind}:${qname(r)}` === q)) list.push(ref);
  }
  alter(object: ObjectRef | undefined, action: string, sub?: Alteration['sub']): void {
    if (!object) return;
    this.fp.alters.push(sub ? { object, sub, action } : { object, action });
  }
  incomplete(note: string): void {
    this.fp.incomplete = true;
    this.fp.notes.push(note);
  }
  merge(other: Footprint): void {
    for (const r of other.creates) this.add(this.fp.creates, r);
    for (const r of other.drops) this.add(this.fp.drops, r);
    for (const r of other.reads) this.add(this.fp.reads, r);
    for (const r of other.writes) this.add(this.fp.writes, r);
    this.fp.alters.push(...other.alters);
    this.fp.renames.push(...other.renames);
    if (other.incomplete) this.fp.incomplete = true;
    this.fp.notes.push(...other.notes);
  }
  /** Every relation referenced anywhere in the subtree is read (CTE names excluded). */
  readsIn(tree: unknown): void {
    if (this.opts.reads === false) return;
    // One walk (the trees of long function bodies are large): the CTE names are known only at
    // the end, so the references are collected in order and filtered afterwards.
    const ctes = new Set<string>();
    const refs: { rv?: AstNode; fn?: string[] }[] = [];
    walk(tree, (n) => {
      const cte = o(n, 'CommonTableExpr');
      if (cte) ctes.add(s(cte, 'ctename') ?? '');
      const rv = o(n, 'RangeVar');
      if (rv) refs.push({ rv });
      const fc = o(n, 'FuncCall');
      if (fc) refs.push({ fn: strings(a(fc, 'funcname')) });
    });
    for (const { rv, fn } of refs) {
      if (rv) {
        if (!s(rv, 'schemaname') && ctes.has(s(rv, 'relname') ?? '')) continue;
        this.add(this.fp.reads, this.rel(rv));
      } else if (fn && fn.length >= 2 && fn[0] !== 'pg_catalog') {
        this.add(this.fp.reads, this.named(fn, 'function'));
      }
    }
  }
  /** A relation (with a column constraint list) references: FK targets. */
  constraintReads(constraints: AstNode[]): void {
    for (const c of constraints) {
      const con = o(c, 'Constraint');
      if (s(con, 'contype') === 'CONSTR_FOREIGN') this.add(this.fp.reads, this.rel(o(con, 'pktable')));
    }
  }
}

/** The search_path after a statement (SET [LOCAL|SESSION] search_path / RESET / set_config). */
export function searchPathAfter(stmt: AstNode | undefined, current: string[]): string[] {
  const v = o(stmt, 'VariableSetStmt');
  if (!v || (s(v, 'name') ?? '').toLowerCase() !== 'search_path') return current;
  const kind = s(v, 'kind');
  if (kind === 'VAR_RESET' || kind === 'VAR_SET_DEFAULT') return ['$user', 'public'];
  if (kind !== 'VAR_SET_VALUE') return current;
  const out: string[] = [];
  for (const arg of a(v, 'args')) {
    const c = o(arg, 'A_Const');
    const sv = o(c, 'sval');
    if (sv)
      out.push(
        ...(s(sv, 'sval') ?? '')
          .split(',')
          .map((x) => x.trim().replace(/^"(.*)"$/, '$1'))
          .filter(Boolean),
      );
  }
  return out.length ? out : current;
}

function functionBody(fn: AstNode): {
  language: string;
  body: string | undefined;
  atomic: AstNode | undefined;
} {
  let language = 'sql';
  let body: string | undefined;
  for (const opt of a(fn, 'options')) {
    const d = o(opt, 'DefElem');
    const name = s(d, 'defname');
    if (name === 'language') language = (s(o(o(d, 'arg'), 'String'), 'sval') ?? 'sql').toLowerCase();
    if (name === 'as') {
      const list = o(o(d, 'arg'), 'List');
      const items = strings(a(list, 'items'));
      const direct = s(o(o(d, 'arg'), 'String'), 'sval');
      body = items.length ? items[0] : direct;
    }
  }
  return { language, body, atomic: o(fn, 'sql_body') };
}

function dollarQuote(body: string): string {
  let tag = 'braid';
  while (body.includes(`$${tag}$`)) tag += '_';
  return `$${tag}$${body}$${tag}$`;
}

const VOID_HEADER = 'CREATE FUNCTION braid_body() RETURNS void';

function quoteName(n: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(n) ? n : `"${n.replace(/"/g, '""')}"`;
}

/** A TypeName as SQL (typmods dropped: the PL/pgSQL parser does not need them). */
function typeSql(tn: AstNode | undefined): string {
  if (!tn || b(tn, 'pct_type')) return 'text';
  const names = strings(a(tn, 'names'));
  if (names.length === 0) return 'text';
  return names.map(quoteName).join('.') + (a(tn, 'arrayBounds').length > 0 ? '[]' : '');
}

/**
 * The header the PL/pgSQL parser needs to accept a function's body: what it returns decides
 * whether `RETURN expr`, `RETURN NEXT`, `RETURN QUERY` or `RETURN new` (triggers) are legal, and
 * the parameters are variables the body assigns (OUT arguments make `RETURN` take no value).
 * Types only need to be plausible: a non-trigger result is written `int` (or `SETOF int`).
 */
function plpgsqlHeader(fn: AstNode): string {
  const params: string[] = [];
  const table: string[] = [];
  let outs = 0;
  for (const p of a(fn, 'parameters')) {
    const fp = o(p, 'FunctionParameter');
    if (!fp) continue;
    const mode = s(fp, 'mode') ?? 'FUNC_PARAM_DEFAULT';
    const name = s(fp, 'name');
    const decl = `${name ? `${quoteName(name)} ` : ''}${typeSql(o(fp, 'argType'))}`;
    if (mode === 'FUNC_PARAM_TABLE') table.push(decl);
    else {
      if (mode === 'FUNC_PARAM_OUT' || mode === 'FUNC_PARAM_INOUT') outs++;
      const kw =
        mode === 'FUNC_PARAM_OUT'
          ? 'OUT '
          : mode === 'FUNC_PARAM_INOUT'
            ? 'INOUT '
            : mode === 'FUNC_PARAM_VARIADIC'
              ? 'VARIADIC '
              : '';
      params.push(kw + decl);
    }
  }
  const rt = o(fn, 'returnType');
  let returns: string;
  if (table.length > 0) returns = ` RETURNS TABLE(${table.join(', ')})`;
  else if (!rt) returns = outs > 0 ? '' : ' RETURNS void';
  else {
    const names = strings(a(rt, 'names'));
    const last = names[names.length - 1] ?? '';
    const setof = b(rt, 'setof');
    if (
      !setof &&
      (last === 'void' || last === 'trigger' || last === 'event_trigger') &&
      a(rt, 'arrayBounds').length === 0
    )
      returns = ` RETURNS ${last}`;
    else if (outs > 0) returns = setof ? ' RETURNS SETOF record' : '';
    else returns = setof ? ' RETURNS SETOF int' : ' RETURNS int';
  }
  return `CREATE FUNCTION braid_body(${params.join(', ')})${returns}`;
}

/** Footprint of the SQL statements inside a PL/pgSQL body (`header`: see plpgsqlHeader; DO blocks: void). */
function plpgsqlFootprint(
  b: Builder,
  body: string,
  opts: FootprintOptions,
  what: string,
  header = VOID_HEADER,
): void {
  const src = (h: string) => `${h} LANGUAGE plpgsql AS ${dollarQuote(body)}`;
  let r = parsePlpgsql(src(header));
  // A header the parser rejects (an exotic type) must not hide the body: retry the plain one.
  if (!r.ok && header !== VOID_HEADER) {
    const plain = parsePlpgsql(src(VOID_HEADER));
    if (plain.ok) r = plain;
  }
  if (!r.ok) {
    b.incomplete(`${what}: PL/pgSQL body does not parse (${r.message})`);
    return;
  }
  walk(r.functions, (n) => {
    if (o(n, 'PLpgSQL_stmt_dynexecute') || o(n, 'PLpgSQL_stmt_dynfors') || o(n, 'PLpgSQL_stmt_open')) {
      if (o(n, 'PLpgSQL_stmt_dynexecute') || o(n, 'PLpgSQL_stmt_dynfors'))
        b.incomplete(`${what}: dynamic SQL (EXECUTE) is not analysed`);
    }
    const expr = o(n, 'PLpgSQL_expr');
    const q = s(expr, 'query');
    if (q === undefined) return;
    // parseMode 0 = a whole statement; others are expressions: wrap them in SELECT.
    const mode = expr?.['parseMode'];
    // Assignments (modes 3-5: `target := expr` or `target = expr`): the value is the expression.
    let text = q;
    if (mode === 3 || mode === 4 || mode === 5) {
      const i = q.indexOf(':=');
      const j = i >= 0 ? i + 2 : q.indexOf('=') + 1;
      text = q.slice(j);
    }
    const sql = mode === 0 || mode === undefined ? text : `SELECT ${text}`;
    const parsed = parseSql(sql);
    if (!parsed.ok) return; // expressions such as assignments targets; not a relation reference
    for (const st of parsed.stmts) b.merge(footprint(st.stmt, opts));
  });
}

/** The footprint of one parsed statement. */
export function footprint(stmt: AstNode | undefined, opts: FootprintOptions = {}): Footprint {
  const bld = new Builder(opts);
  const fp = bld.fp;
  const kind = kindOf(stmt);
  const n = inner(stmt);
  switch (kind) {
    case 'CreateStmt': {
      const t = bld.rel(o(n, 'relation'));
      bld.add(fp.creates, t);
      for (const el of a(n, 'tableElts')) {
        const col = o(el, 'ColumnDef');
        if (col) bld.constraintReads(a(col, 'constraints'));
        if (o(el, 'Constraint')) bld.constraintReads([el]);
        const like = o(el, 'TableLikeClause');
        if (like) bld.add(fp.reads, bld.rel(o(like, 'relation')));
      }
      for (const p of a(n, 'inhRelations')) bld.add(fp.reads, bld.rel(o(p, 'RangeVar')));
      if (o(n, 'partbound')) {
        for (const p of a(n, 'inhRelations'))
          bld.alter(bld.rel(o(p, 'RangeVar')), 'attach', { kind: 'partition', name: t?.name ?? '' });
      }
      break;
    }
    case 'CreateTableAsStmt': {
      const into = o(n, 'into');
      const objtype = s(n, 'objtype');
      bld.add(
        fp.creates,
        bld.rel(o(into, 'rel'), objtype === 'OBJECT_MATVIEW' ? 'materialized view' : 'table'),
      );
      bld.readsIn(o(n, 'query'));
      break;
    }
    case 'ViewStmt': {
      const v = bld.rel(o(n, 'view'), 'view');
      bld.add(fp.creates, v);
      if (b(n, 'replace')) fp.notes.push('CREATE OR REPLACE: replaces the view if it exists');
      bld.readsIn(o(n, 'query'));
      break;
    }
    case 'IndexStmt': {
      const t = bld.rel(o(n, 'relation'));
      const idx = s(n, 'idxname');
      if (idx && t) bld.add(fp.creates, { kind: 'index', schema: t.schema!, name: idx, table: qname(t) });
      bld.alter(t, 'add', { kind: 'index', name: idx ?? '' });
      break;
    }
    case 'AlterTableStmt': {
      const objKind = objectKind(s(n, 'objtype'));
      const t = bld.rel(o(n, 'relation'), objKind === 'other' ? 'table' : objKind);
      for (const c of a(n, 'cmds')) {
        const cmd = o(c, 'AlterTableCmd');
        const sub = s(cmd, 'subtype') ?? '';
        const name = s(cmd, 'name');
        const def = o(cmd, 'def');
        switch (sub) {
          case 'AT_AddColumn': {
            const col = o(def, 'ColumnDef');
            bld.alter(t, 'add', { kind: 'column', name: s(col, 'colname') ?? '' });
            bld.constraintReads(a(col, 'constraints'));
            break;
          }
          case 'AT_DropColumn':
            bld.alter(t, 'drop', { kind: 'column', name: name ?? '' });
            break;
          case 'AT_AlterColumnType':
            bld.alter(t, 'type', { kind: 'column', name: name ?? '' });
            break;
          case 'AT_ColumnDefault':
            bld.alter(t, def ? 'set default' : 'drop default', { kind: 'default', name: name ?? '' });
            break;
          case 'AT_SetNotNull':
            bld.alter(t, 'set not null', { kind: 'column', name: name ?? '' });
            break;
          case 'AT_DropNotNull':
            bld.alter(t, 'drop not null', { kind: 'column', name: name ?? '' });
            break;
          case 'AT_AddIdentity':
          case 'AT_SetIdentity':
          case 'AT_DropIdentity':
          case 'AT_SetStatistics':
          case 'AT_SetStorage':
          case 'AT_SetCompression':
          case 'AT_SetOptions':
          case 'AT_ResetOptions':
            bld.alter(t, sub.slice(3).toLowerCase(), { kind: 'column', name: name ?? '' });
            break;
          case 'AT_AddConstraint': {
            const con = o(def, 'Constraint');
            bld.alter(t, 'add', { kind: 'constraint', name: s(con, 'conname') ?? '' });
            bld.constraintReads(def ? [def] : []);
            break;
          }
          case 'AT_DropConstraint':
            bld.alter(t, 'drop', { kind: 'constraint', name: name ?? '' });
            break;
          case 'AT_ValidateConstraint':
            bld.alter(t, 'validate', { kind: 'constraint', name: name ?? '' });
            break;
          case 'AT_AttachPartition':
          case 'AT_DetachPartition':
          case 'AT_DetachPartitionFinalize': {
            const part = bld.rel(o(o(def, 'PartitionCmd'), 'name'));
            bld.alter(t, sub === 'AT_AttachPartition' ? 'attach' : 'detach', {
              kind: 'partition',
              name: part ? qname(part) : '',
            });
            bld.alter(part, sub === 'AT_AttachPartition' ? 'attach to' : 'detach from', {
              kind: 'partition',
              name: t ? qname(t) : '',
            });
            break;
          }
          case 'AT_ChangeOwner':
            bld.alter(t, 'owner', { kind: 'owner' });
            break;
          case 'AT_EnableTrig':
          case 'AT_DisableTrig':
          case 'AT_EnableAlwaysTrig':
          case 'AT_EnableReplicaTrig':
            bld.alter(t, sub.slice(3).toLowerCase(), { kind: 'trigger', name: name ?? '' });
            break;
          default:
            bld.alter(t, sub.replace(/^AT_/, '').toLowerCase(), {
              kind: 'option',
              ...(name ? { name } : {}),
            });
        }
      }
      break;
    }
    case 'RenameStmt': {
      const rt = s(n, 'renameType');
      const k = objectKind(rt);
      const newname = s(n, 'newname') ?? '';
      const rel = bld.rel(
        o(n, 'relation'),
        objectKind(s(n, 'relationType')) === 'other' ? 'table' : objectKind(s(n, 'relationType')),
      );
      if (k === 'column' || k === 'constraint' || k === 'trigger' || k === 'policy' || rt === 'OBJECT_RULE') {
        const table = rel ? qname(rel) : '';
        const from: ObjectRef = { kind: k, name: s(n, 'subname') ?? '', table };
        fp.renames.push({ from, to: { ...from, name: newname } });
        bld.alter(rel, 'rename', {
          kind:
            k === 'column'
              ? 'column'
              : k === 'constraint'
                ? 'constraint'
                : k === 'trigger'
                  ? 'trigger'
                  : 'policy',
          name: s(n, 'subname') ?? '',
        });
      } else if (rel) {
        const from: ObjectRef = { ...rel, kind: k };
        fp.renames.push({ from, to: { ...from, name: newname } });
      } else if (k === 'schema' || k === 'database' || k === 'role') {
        const old = s(n, 'subname') ?? '';
        fp.renames.push({ from: { kind: k, name: old }, to: { kind: k, name: newname } });
      } else {
        const objNode = o(n, 'object');
        if (rt === 'OBJECT_TYPE' || rt === 'OBJECT_DOMAIN' || k === 'function' || k === 'procedure') {
          const from = bld.routine(objNode, k);
          fp.renames.push({ from, to: { ...from, name: newname } });
        } else {
          fp.notes.push(`rename of ${rt ?? 'object'} not analysed`);
        }
      }
      break;
    }
    case 'DropStmt': {
      const k = objectKind(s(n, 'removeType'));
      for (const obj of a(n, 'objects')) {
        if (k === 'trigger' || k === 'policy' || k === 'rule') {
          const names = refNames(obj);
          const table = bld.named(names.slice(0, -1), 'table');
          bld.add(fp.drops, { kind: k, name: names[names.length - 1] ?? '', table: qname(table) });
          bld.alter(table, 'drop', {
            kind: k === 'trigger' ? 'trigger' : 'policy',
            name: names[names.length - 1] ?? '',
          });
        } else if (k === 'schema' || k === 'extension' || k === 'database' || k === 'role') {
          bld.add(fp.drops, { kind: k, name: refNames(obj)[0] ?? '' });
        } else {
          bld.add(fp.drops, bld.routine(obj, k));
        }
      }
      break;
    }
    case 'DropdbStmt':
      bld.add(fp.drops, { kind: 'database', name: s(n, 'dbname') ?? '' });
      break;
    case 'CreatedbStmt':
      bld.add(fp.creates, { kind: 'database', name: s(n, 'dbname') ?? '' });
      break;
    case 'CreateSchemaStmt': {
      bld.add(fp.creates, { kind: 'schema', name: s(n, 'schemaname') ?? '' });
      const sub = new Builder({ searchPath: [s(n, 'schemaname') ?? bld.schema] });
      for (const el of a(n, 'schemaElts'))
        sub.merge(footprint(el, { searchPath: [s(n, 'schemaname') ?? bld.schema] }));
      bld.merge(sub.fp);
      break;
    }
    case 'CreateExtensionStmt':
      bld.add(fp.creates, { kind: 'extension', name: s(n, 'extname') ?? '' });
      break;
    case 'CreateSeqStmt':
      bld.add(fp.creates, bld.rel(o(n, 'sequence'), 'sequence'));
      break;
    case 'AlterSeqStmt':
      bld.alter(bld.rel(o(n, 'sequence'), 'sequence'), 'alter', { kind: 'option' });
      break;
    case 'CreateEnumStmt':
    case 'CompositeTypeStmt':
    case 'CreateRangeStmt': {
      const names = kind === 'CompositeTypeStmt' ? [] : strings(a(n, 'typeName'));
      const ref = kind === 'CompositeTypeStmt' ? bld.rel(o(n, 'typevar'), 'type') : bld.named(names, 'type');
      bld.add(fp.creates, ref);
      break;
    }
    case 'CreateDomainStmt':
      bld.add(fp.creates, bld.named(strings(a(n, 'domainname')), 'domain'));
      break;
    case 'AlterDomainStmt':
      bld.alter(bld.named(strings(a(n, 'typeName')), 'domain'), 'alter', {
        kind: 'constraint',
        ...(s(n, 'name') ? { name: s(n, 'name')! } : {}),
      });
      break;
    case 'AlterEnumStmt': {
      const t = bld.named(strings(a(n, 'typeName')), 'type');
      if (s(n, 'oldVal')) bld.alter(t, 'rename value', { kind: 'enum value', name: s(n, 'oldVal')! });
      else bld.alter(t, 'add value', { kind: 'enum value', name: s(n, 'newVal') ?? '' });
      break;
    }
    case 'CreateFunctionStmt': {
      const names = strings(a(n, 'funcname'));
      const isProc = b(n, 'is_procedure');
      const ref = bld.named(names, isProc ? 'procedure' : 'function');
      const sig = signatureOf(a(n, 'parameters'));
      if (sig) ref.args = sig;
      bld.add(fp.creates, ref);
      if (b(n, 'replace')) fp.notes.push('CREATE OR REPLACE: replaces the function if it exists');
      if (opts.functionBodies === false) break;
      const { language, body, atomic } = functionBody(n);
      const what = `function ${qname(ref)}`;
      const bodyOpts = { searchPath: opts.searchPath ?? ['public'] };
      if (atomic) {
        bld.readsIn(atomic);
      } else if (body === undefined) {
        bld.incomplete(`${what}: no body`);
      } else if (language === 'sql') {
        const parsed = parseSql(body);
        if (!parsed.ok) bld.incomplete(`${what}: SQL body does not parse (${parsed.message})`);
        else for (const st of parsed.stmts) bld.readsIn(st.stmt);
      } else if (language === 'plpgsql') {
        const sub = new Builder(bodyOpts);
        plpgsqlFootprint(sub, body, bodyOpts, what, plpgsqlHeader(n));
        // what a body does runs later, when called: it is read (referenced), not done now
        for (const list of [sub.fp.reads, sub.fp.writes, sub.fp.creates, sub.fp.drops])
          for (const r of list) bld.add(fp.reads, r);
        for (const al of sub.fp.alters) bld.add(fp.reads, al.object);
        if (sub.fp.incomplete) bld.incomplete(sub.fp.notes.join('; '));
      } else {
        bld.incomplete(`${what}: body in language ${language} is not analysed`);
      }
      break;
    }
    case 'AlterFunctionStmt': {
      const k = objectKind(s(n, 'objtype'));
      const fn = o(n, 'func');
      bld.alter(
        bld.routine(fn ? { ObjectWithArgs: fn } : undefined, k === 'other' ? 'function' : k),
        'alter',
        {
          kind: 'option',
        },
      );
      break;
    }
    case 'DefineStmt': {
      if (s(n, 'kind') !== 'OBJECT_AGGREGATE') {
        if (kind) fp.notes.push(`${kind}: footprint not analysed`);
        bld.readsIn(n);
        break;
      }
      // Aggregates share the functions' namespace: keyed as functions with their signature.
      const ref = bld.named(strings(a(n, 'defnames')), 'function');
      const [argList] = a(n, 'args');
      const items = a(o(argList, 'List'), 'items');
      let sig: string[] | undefined = argList ? signatureOf(items) : undefined;
      if (b(n, 'oldstyle')) {
        const basetype = a(n, 'definition').find((d) => s(o(d, 'DefElem'), 'defname') === 'basetype');
        const t = normalizeArgType(o(o(o(basetype, 'DefElem'), 'arg'), 'TypeName'));
        sig = t === undefined ? undefined : t === 'any' ? [] : [t];
      }
      if (sig) ref.args = sig;
      bld.add(fp.creates, ref);
      for (const d of a(n, 'definition')) {
        const de = o(d, 'DefElem');
        const name = s(de, 'defname') ?? '';
        if (!/^(sfunc|finalfunc|combinefunc|serialfunc|deserialfunc|msfunc|minvfunc|mfinalfunc)$/.test(name))
          continue;
        const fnNames = strings(a(o(o(de, 'arg'), 'TypeName'), 'names'));
        if (fnNames.length) bld.add(fp.reads, bld.named(fnNames, 'function'));
      }
      break;
    }
    case 'DoStmt': {
      let body: string | undefined;
      let language = 'plpgsql';
      for (const arg of a(n, 'args')) {
        const d = o(arg, 'DefElem');
        if (s(d, 'defname') === 'as') body = s(o(o(d, 'arg'), 'String'), 'sval');
        if (s(d, 'defname') === 'language')
          language = (s(o(o(d, 'arg'), 'String'), 'sval') ?? '').toLowerCase();
      }
      if (body === undefined || language !== 'plpgsql')
        bld.incomplete(`DO block in ${language} is not analysed`);
      else plpgsqlFootprint(bld, body, opts, 'DO block');
      break;
    }
    case 'CreateTrigStmt': {
      const t = bld.rel(o(n, 'relation'));
      const trig = s(n, 'trigname') ?? '';
      if (t) bld.add(fp.creates, { kind: 'trigger', name: trig, table: qname(t) });
      bld.alter(t, 'add', { kind: 'trigger', name: trig });
      const fn = strings(a(n, 'funcname'));
      if (fn.length) bld.add(fp.reads, bld.named(fn, 'function'));
      break;
    }
    case 'CreatePolicyStmt':
    case 'AlterPolicyStmt': {
      const t = bld.rel(o(n, 'table'));
      const pol = s(n, 'policy_name') ?? '';
      if (kind === 'CreatePolicyStmt' && t)
        bld.add(fp.creates, { kind: 'policy', name: pol, table: qname(t) });
      bld.alter(t, kind === 'CreatePolicyStmt' ? 'add' : 'alter', { kind: 'policy', name: pol });
      bld.readsIn([o(n, 'qual'), o(n, 'with_check')]);
      break;
    }
    case 'CommentStmt': {
      const k = objectKind(s(n, 'objtype'));
      const names = refNames(o(n, 'object'));
      if (k === 'column')
        bld.alter(bld.named(names.slice(0, -1), 'table'), 'comment', {
          kind: 'column',
          name: names[names.length - 1] ?? '',
        });
      else if (k === 'schema' || k === 'extension')
        bld.alter({ kind: k, name: names[0] ?? '' }, 'comment', { kind: 'comment' });
      else bld.alter(bld.routine(o(n, 'object'), k), 'comment', { kind: 'comment' });
      break;
    }
    case 'GrantStmt': {
      const k = objectKind(s(n, 'objtype'));
      if (s(n, 'targtype') === 'ACL_TARGET_OBJECT') {
        for (const obj of a(n, 'objects')) {
          const rv = o(obj, 'RangeVar');
          const ref = rv
            ? bld.rel(rv, k)
            : k === 'schema'
              ? { kind: k, name: refNames(obj)[0] ?? '' }
              : bld.routine(obj, k);
          bld.alter(ref, b(n, 'is_grant') ? 'grant' : 'revoke', { kind: 'privileges' });
        }
      }
      break;
    }
    case 'AlterOwnerStmt':
    case 'AlterObjectSchemaStmt': {
      const k = objectKind(s(n, 'objectType'));
      const ref =
        bld.rel(o(n, 'relation'), k) ??
        (k === 'schema'
          ? { kind: k, name: refNames(o(n, 'object'))[0] ?? '' }
          : bld.routine(o(n, 'object'), k));
      if (kind === 'AlterOwnerStmt') bld.alter(ref, 'owner', { kind: 'owner' });
      else fp.renames.push({ from: ref, to: { ...ref, schema: s(n, 'newschema') ?? '' } });
      break;
    }
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt': {
      const t = bld.rel(o(n, 'relation'));
      bld.add(fp.writes, t);
      bld.add(fp.reads, t);
      bld.readsIn(n);
      break;
    }
    case 'TruncateStmt':
      for (const r of a(n, 'relations')) {
        const t = bld.rel(o(r, 'RangeVar'));
        bld.add(fp.writes, t);
        bld.add(fp.reads, t);
      }
      break;
    case 'CopyStmt': {
      const t = bld.rel(o(n, 'relation'));
      bld.add(b(n, 'is_from') ? fp.writes : fp.reads, t);
      bld.readsIn(o(n, 'query'));
      break;
    }
    case 'RefreshMatViewStmt':
      bld.alter(bld.rel(o(n, 'relation'), 'materialized view'), 'refresh', { kind: 'option' });
      break;
    case 'SelectStmt':
    case 'ExplainStmt':
    case 'CallStmt':
      bld.readsIn(n);
      break;
    case 'VariableSetStmt':
    case 'TransactionStmt':
    case 'VariableShowStmt':
      break;
    default:
      if (kind) fp.notes.push(`${kind}: footprint not analysed`);
      bld.readsIn(n);
  }
  return fp;
}

/** Names of an object reference node: List of String, String, TypeName or ObjectWithArgs. */
function refNames(obj: AstNode | undefined): string[] {
  if (!obj) return [];
  const list = o(obj, 'List');
  if (list) return strings(a(list, 'items'));
  const str = o(obj, 'String');
  if (str) return [s(str, 'sval') ?? ''];
  const tn = o(obj, 'TypeName');
  if (tn) return strings(a(tn, 'names'));
  const owa = o(obj, 'ObjectWithArgs');
  if (owa) return strings(a(owa, 'objname'));
  if (isNode(obj) && Array.isArray(obj['names'])) return strings(a(obj, 'names'));
  return [];
}
