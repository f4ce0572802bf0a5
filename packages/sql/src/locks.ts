/**
 * Lock and rewrite classification per statement, from the PostgreSQL documentation's lock
 * tables ("Explicit Locking", and the Notes of ALTER TABLE, CREATE INDEX, ...). Version-aware
 * (`pgVersion`, default 15). Pure: works on the AST.
 *
 * For each table a statement touches: the lock level it takes, whether it rewrites the table
 * (all rows copied: duration proportional to the table size, under the lock), whether it scans
 * it (reads all rows under the lock, e.g. to validate a constraint), and whether the statement
 * can run inside a transaction block.
 */
import { a, b, inner, kindOf, o, s, strings, typeNameOf, walk } from './ast';
import { defaultSchema, type ObjectKind } from './footprint';
import type { AstNode } from './parser';

export const LOCK_LEVELS = [
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE',
] as const;
export type LockLevel = (typeof LOCK_LEVELS)[number];

export function lockRank(l: LockLevel): number {
  return LOCK_LEVELS.indexOf(l);
}
/** Locks that block writes (INSERT/UPDATE/DELETE) on the table. */
export function blocksWrites(l: LockLevel): boolean {
  return lockRank(l) >= lockRank('SHARE');
}
/** Locks that block reads (SELECT) too. */
export function blocksReads(l: LockLevel): boolean {
  return l === 'ACCESS EXCLUSIVE';
}

export interface TableEffect {
  /** Schema-qualified name. */
  object: string;
  kind: ObjectKind;
  lock: LockLevel;
  rewrite: boolean;
  scan: boolean;
  reasons: string[];
}

export interface LockInfo {
  effects: TableEffect[];
  transactional: boolean;
  /** Why the statement cannot run in a transaction block. */
  nonTransactionalReason?: string;
}

export interface ClassifyOptions {
  pgVersion?: number;
  searchPath?: string[];
  /** Known column types, for ALTER TYPE (see ColumnTypeLookup). */
  columnType?: ColumnTypeLookup;
}

/**
 * The declared type of a column as earlier statements left it (table qname, column name ->
 * lower-case type name with modifiers), or undefined when unknown.
 */
export type ColumnTypeLookup = (table: string, column: string) => string | undefined;

/** Functions that are not volatile (a DEFAULT calling only these does not rewrite on PG >= 11). */
const NON_VOLATILE = new Set([
  'now',
  'current_timestamp',
  'current_date',
  'current_time',
  'localtimestamp',
  'localtime',
  'transaction_timestamp',
  'statement_timestamp',
  'current_user',
  'session_user',
  'current_setting',
  'lower',
  'upper',
  'length',
  'coalesce',
  'jsonb_build_object',
  'json_build_object',
  'jsonb_build_array',
  'array',
  'make_interval',
  'to_jsonb',
  'to_json',
]);

/** Whether a DEFAULT expression is volatile (evaluated per row: adding the column rewrites). */
export function isVolatileExpr(expr: AstNode | undefined): { volatile: boolean; fn?: string } {
  let volatile = false;
  let fn: string | undefined;
  walk(expr, (n) => {
    const fc = o(n, 'FuncCall');
    if (fc) {
      const names = strings(a(fc, 'funcname'));
      const name = (names[names.length - 1] ?? '').toLowerCase();
      if (!NON_VOLATILE.has(name)) {
        volatile = true;
        fn ??= name;
      }
    }
    if (o(n, 'SubLink')) {
      volatile = true;
      fn ??= 'subquery';
    }
  });
  return fn ? { volatile, fn } : { volatile };
}

/** Types to which a change from `from` does not rewrite (binary-coercible or widening). */
function typeChangeRewrites(
  from: string | undefined,
  to: string,
  using: boolean,
): { rewrite: boolean; reason: string } {
  if (using) return { rewrite: true, reason: 'USING expression: every row is rewritten' };
  const base = (t: string) => t.replace(/\(.*$/, '').trim();
  const mods = (t: string) => (/\((.*)\)/.exec(t)?.[1] ?? '').split(',').filter(Boolean).map(Number);
  const tb = base(to);
  if (from === undefined) {
    if (
      tb === 'text' ||
      (tb === 'varchar' && mods(to).length === 0) ||
      (tb === 'numeric' && mods(to).length === 0)
    ) {
      return {
        rewrite: false,
        reason: `changing to ${to} is binary-coercible from varchar/text/numeric (not verified: old type unknown)`,
      };
    }
    return {
      rewrite: true,
      reason: `changing a column's type to ${to} rewrites the table unless binary-coercible (old type unknown)`,
    };
  }
  const fb = base(from);
  const textual = new Set(['text', 'varchar', 'bpchar']);
  if (fb === tb && fb === 'varchar') {
    const [fm] = mods(from);
    const [tm] = mods(to);
    if (tm === undefined || (fm !== undefined && tm >= fm))
      return { rewrite: false, reason: 'widening varchar does not rewrite' };
  }
  if ((fb === 'varchar' || fb === 'text') && (tb === 'text' || (tb === 'varchar' && mods(to).length === 0))) {
    return { rewrite: false, reason: `${from} -> ${to} is binary-coercible` };
  }
  if (fb === 'numeric' && tb === 'numeric') {
    const [fp, fs = 0] = mods(from);
    const [tp, ts = 0] = mods(to);
    if (tp === undefined || (fp !== undefined && tp >= fp && ts === fs))
      return { rewrite: false, reason: 'widening numeric does not rewrite' };
  }
  if (fb === 'cidr' && tb === 'inet') return { rewrite: false, reason: 'cidr -> inet is binary-coercible' };
  if (textual.has(fb) && textual.has(tb) && fb === tb && from === to)
    return { rewrite: false, reason: 'same type' };
  return { rewrite: true, reason: `${from} -> ${to} rewrites the table` };
}

const TYPE_ALIAS: Record<string, string> = {
  int4: 'integer',
  int8: 'bigint',
  int2: 'smallint',
  bpchar: 'char',
  timestamptz: 'timestamptz',
};

function typeText(typeName: AstNode | undefined): string {
  const t = typeNameOf(typeName);
  const name = TYPE_ALIAS[t.name] ?? t.name;
  return `${name}${t.mods.length ? `(${t.mods.join(',')})` : ''}${t.array ? '[]' : ''}`;
}
export { typeText };

class Effects {
  readonly list: TableEffect[] = [];
  touch(
    object: string,
    kind: ObjectKind,
    lock: LockLevel,
    reason: string,
    extra: { rewrite?: boolean; scan?: boolean } = {},
  ): void {
    let e = this.list.find((x) => x.object === object);
    if (!e) {
      e = { object, kind, lock, rewrite: false, scan: false, reasons: [] };
      this.list.push(e);
    } else if (lockRank(lock) > lockRank(e.lock)) e.lock = lock;
    if (extra.rewrite) e.rewrite = true;
    if (extra.scan) e.scan = true;
    if (reason && !e.reasons.includes(reason)) e.reasons.push(reason);
  }
}

/** Lock levels, rewrites, scans and transaction compatibility of one statement. */
export function classify(stmt: AstNode | undefined, opts: ClassifyOptions = {}): LockInfo {
  const pg = opts.pgVersion ?? 15;
  const schema = defaultSchema(opts.searchPath);
  const rel = (rv: AstNode | undefined) =>
    rv && s(rv, 'relname') ? `${s(rv, 'schemaname') ?? schema}.${s(rv, 'relname')!}` : undefined;
  const named = (list: string[]) =>
    list.length >= 2 ? `${list[list.length - 2]}.${list[list.length - 1]}` : `${schema}.${list[0] ?? ''}`;
  const fx = new Effects();
  let transactional = true;
  let why: string | undefined;
  const noTx = (reason: string) => {
    transactional = false;
    why ??= reason;
  };
  const kind = kindOf(stmt);
  const n = inner(stmt);
  const fkTargets = (constraints: AstNode[], table: string | undefined) => {
    for (const c of constraints) {
      const con = o(c, 'Constraint');
      if (s(con, 'contype') !== 'CONSTR_FOREIGN') continue;
      const target = rel(o(con, 'pktable'));
      if (target && target !== table)
        fx.touch(target, 'table', 'SHARE ROW EXCLUSIVE', 'referenced by a new foreign key');
    }
  };
  switch (kind) {
    case 'CreateStmt': {
      const t = rel(o(n, 'relation'));
      for (const el of a(n, 'tableElts')) {
        fkTargets(a(o(el, 'ColumnDef'), 'constraints'), t);
        if (o(el, 'Constraint')) fkTargets([el], t);
      }
      if (o(n, 'partbound')) {
        for (const p of a(n, 'inhRelations')) {
          const parent = rel(o(p, 'RangeVar'));
          if (parent)
            fx.touch(
              parent,
              'table',
              pg >= 12 ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE',
              'CREATE TABLE … PARTITION OF',
            );
        }
      }
      break;
    }
    case 'IndexStmt': {
      const t = rel(o(n, 'relation'));
      if (!t) break;
      if (b(n, 'concurrent')) {
        fx.touch(t, 'table', 'SHARE UPDATE EXCLUSIVE', 'CREATE INDEX CONCURRENTLY', { scan: true });
        noTx('CREATE INDEX CONCURRENTLY cannot run inside a transaction block');
      } else
        fx.touch(t, 'table', 'SHARE', 'CREATE INDEX blocks writes while the index builds', { scan: true });
      break;
    }
    case 'DropStmt': {
      const rt = s(n, 'removeType');
      const conc = b(n, 'concurrent');
      for (const obj of a(n, 'objects')) {
        const names = strings(a(o(obj, 'List'), 'items'));
        if (rt === 'OBJECT_INDEX') {
          if (conc) {
            fx.touch(named(names), 'index', 'SHARE UPDATE EXCLUSIVE', 'DROP INDEX CONCURRENTLY');
            noTx('DROP INDEX CONCURRENTLY cannot run inside a transaction block');
          } else fx.touch(named(names), 'index', 'ACCESS EXCLUSIVE', 'DROP INDEX locks the index’s table');
        } else if (
          rt === 'OBJECT_TABLE' ||
          rt === 'OBJECT_VIEW' ||
          rt === 'OBJECT_MATVIEW' ||
          rt === 'OBJECT_SEQUENCE'
        ) {
          fx.touch(
            named(names),
            rt === 'OBJECT_TABLE'
              ? 'table'
              : rt === 'OBJECT_VIEW'
                ? 'view'
                : rt === 'OBJECT_MATVIEW'
                  ? 'materialized view'
                  : 'sequence',
            'ACCESS EXCLUSIVE',
            'DROP',
          );
        } else if (rt === 'OBJECT_TRIGGER' || rt === 'OBJECT_POLICY' || rt === 'OBJECT_RULE') {
          fx.touch(named(names.slice(0, -1)), 'table', 'ACCESS EXCLUSIVE', `DROP ${rt.slice(7)}`);
        }
      }
      break;
    }
    case 'AlterTableStmt': {
      const t = rel(o(n, 'relation'));
      if (!t) break;
      const objtype = s(n, 'objtype');
      const tkind: ObjectKind =
        objtype === 'OBJECT_INDEX'
          ? 'index'
          : objtype === 'OBJECT_MATVIEW'
            ? 'materialized view'
            : objtype === 'OBJECT_VIEW'
              ? 'view'
              : objtype === 'OBJECT_SEQUENCE'
                ? 'sequence'
                : 'table';
      for (const c of a(n, 'cmds')) {
        const cmd = o(c, 'AlterTableCmd');
        const sub = s(cmd, 'subtype') ?? '';
        const def = o(cmd, 'def');
        const col = s(cmd, 'name');
        switch (sub) {
          case 'AT_AddColumn': {
            const cd = o(def, 'ColumnDef');
            const cons = a(cd, 'constraints').map((x) => o(x, 'Constraint'));
            const dflt = cons.find((x) => s(x, 'contype') === 'CONSTR_DEFAULT');
            const generated = cons.find((x) => s(x, 'contype') === 'CONSTR_GENERATED');
            const identity = cons.find((x) => s(x, 'contype') === 'CONSTR_IDENTITY');
            const tn = typeNameOf(o(cd, 'typeName')).name;
            const serial = ['serial', 'bigserial', 'smallserial', 'serial4', 'serial8', 'serial2'].includes(
              tn,
            );
            let rewrite = false;
            let reason = 'ADD COLUMN';
            if (
              generated &&
              s(generated, 'generated_when') !== undefined &&
              s(generated, 'generated_kind') !== 'v'
            ) {
              rewrite = true;
              reason = 'ADD COLUMN … GENERATED ALWAYS AS … STORED rewrites the table';
            } else if (identity || serial) {
              rewrite = true;
              reason = 'ADD COLUMN with an identity/serial default fills every row (rewrite)';
            } else if (dflt) {
              const vol = isVolatileExpr(o(dflt, 'raw_expr'));
              if (pg < 11) {
                rewrite = true;
                reason = 'ADD COLUMN with a DEFAULT rewrites the table before PostgreSQL 11';
              } else if (vol.volatile) {
                rewrite = true;
                reason = `ADD COLUMN with a volatile DEFAULT (${vol.fn ?? '?'}) rewrites the table`;
              }
            }
            fx.touch(t, tkind, 'ACCESS EXCLUSIVE', reason, { rewrite });
            const check = cons.find(
              (x) => s(x, 'contype') === 'CONSTR_CHECK' || s(x, 'contype') === 'CONSTR_FOREIGN',
            );
            if (check && !rewrite)
              fx.touch(t, tkind, 'ACCESS EXCLUSIVE', 'ADD COLUMN with a constraint checks every row', {
                scan: true,
              });
            fkTargets(a(cd, 'constraints'), t);
            break;
          }
          case 'AT_AlterColumnType': {
            const cd = o(def, 'ColumnDef');
            const to = typeText(o(cd, 'typeName'));
            const from = col ? opts.columnType?.(t, col) : undefined;
            const r = typeChangeRewrites(from, to, o(cd, 'raw_default') !== undefined);
            fx.touch(t, tkind, 'ACCESS EXCLUSIVE', r.reason, { rewrite: r.rewrite });
            break;
          }
          case 'AT_SetNotNull':
            fx.touch(
              t,
              tkind,
              'ACCESS EXCLUSIVE',
              `SET NOT NULL scans the table to check ${col ?? 'the column'}`,
              { scan: true },
            );
            break;
          case 'AT_AddConstraint': {
            const con = o(def, 'Constraint');
            const ct = s(con, 'contype');
            const notValid = b(con, 'skip_validation');
            if (ct === 'CONSTR_FOREIGN') {
              fx.touch(
                t,
                tkind,
                'SHARE ROW EXCLUSIVE',
                notValid ? 'ADD FOREIGN KEY … NOT VALID' : 'ADD FOREIGN KEY validates every row',
                { scan: !notValid },
              );
              fkTargets([def!], t);
            } else if (ct === 'CONSTR_CHECK') {
              fx.touch(
                t,
                tkind,
                'ACCESS EXCLUSIVE',
                notValid ? 'ADD CHECK … NOT VALID' : 'ADD CHECK validates every row',
                { scan: !notValid },
              );
            } else if (ct === 'CONSTR_UNIQUE' || ct === 'CONSTR_PRIMARY' || ct === 'CONSTR_EXCLUSION') {
              const usingIndex = s(con, 'indexname') !== undefined;
              fx.touch(
                t,
                tkind,
                'ACCESS EXCLUSIVE',
                usingIndex
                  ? 'ADD CONSTRAINT … USING INDEX'
                  : 'ADD UNIQUE/PRIMARY KEY builds an index under the lock',
                { scan: !usingIndex },
              );
            } else fx.touch(t, tkind, 'ACCESS EXCLUSIVE', 'ADD CONSTRAINT');
            break;
          }
          case 'AT_ValidateConstraint':
            fx.touch(
              t,
              tkind,
              'SHARE UPDATE EXCLUSIVE',
              'VALIDATE CONSTRAINT scans without blocking writes',
              { scan: true },
            );
            break;
          case 'AT_SetStatistics':
          case 'AT_ClusterOn':
          case 'AT_DropCluster':
          case 'AT_SetOptions':
          case 'AT_ResetOptions':
          case 'AT_SetRelOptions':
          case 'AT_ResetRelOptions':
            fx.touch(t, tkind, 'SHARE UPDATE EXCLUSIVE', sub.slice(3));
            break;
          case 'AT_EnableTrig':
          case 'AT_DisableTrig':
          case 'AT_EnableAlwaysTrig':
          case 'AT_EnableReplicaTrig':
          case 'AT_EnableTrigAll':
          case 'AT_DisableTrigAll':
          case 'AT_EnableTrigUser':
          case 'AT_DisableTrigUser':
            fx.touch(t, tkind, 'SHARE ROW EXCLUSIVE', 'ENABLE/DISABLE TRIGGER');
            break;
          case 'AT_AttachPartition': {
            const part = rel(o(o(def, 'PartitionCmd'), 'name'));
            fx.touch(t, tkind, pg >= 12 ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE', 'ATTACH PARTITION');
            if (part)
              fx.touch(
                part,
                'table',
                'ACCESS EXCLUSIVE',
                'ATTACH PARTITION scans the partition unless a matching constraint exists',
                { scan: true },
              );
            break;
          }
          case 'AT_DetachPartition': {
            const conc = b(o(def, 'PartitionCmd'), 'concurrent');
            if (conc) {
              fx.touch(t, tkind, 'SHARE UPDATE EXCLUSIVE', 'DETACH PARTITION CONCURRENTLY');
              noTx('DETACH PARTITION CONCURRENTLY cannot run inside a transaction block');
            } else fx.touch(t, tkind, 'ACCESS EXCLUSIVE', 'DETACH PARTITION');
            break;
          }
          case 'AT_SetLogged':
          case 'AT_SetUnLogged':
            fx.touch(
              t,
              tkind,
              'ACCESS EXCLUSIVE',
              `${sub === 'AT_SetLogged' ? 'SET LOGGED' : 'SET UNLOGGED'} rewrites the table`,
              { rewrite: true },
            );
            break;
          case 'AT_SetTableSpace':
          case 'AT_SetAccessMethod':
            fx.touch(t, tkind, 'ACCESS EXCLUSIVE', `${sub.slice(3)} rewrites the table`, { rewrite: true });
            break;
          default:
            fx.touch(t, tkind, 'ACCESS EXCLUSIVE', `ALTER ${tkind.toUpperCase()} ${sub.replace(/^AT_/, '')}`);
        }
      }
      break;
    }
    case 'RenameStmt': {
      const t = rel(o(n, 'relation'));
      const rt = s(n, 'renameType');
      if (t) {
        const lock: LockLevel =
          rt === 'OBJECT_INDEX' && pg >= 12 ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE';
        fx.touch(
          t,
          rt === 'OBJECT_INDEX' ? 'index' : 'table',
          lock,
          `RENAME ${(rt ?? '').replace('OBJECT_', '')}`,
        );
      }
      break;
    }
    case 'CreateTrigStmt': {
      const t = rel(o(n, 'relation'));
      if (t) fx.touch(t, 'table', 'SHARE ROW EXCLUSIVE', 'CREATE TRIGGER');
      break;
    }
    case 'CreatePolicyStmt':
    case 'AlterPolicyStmt': {
      const t = rel(o(n, 'table'));
      if (t)
        fx.touch(
          t,
          'table',
          'ACCESS EXCLUSIVE',
          kind === 'CreatePolicyStmt' ? 'CREATE POLICY' : 'ALTER POLICY',
        );
      break;
    }
    case 'TruncateStmt':
      for (const r of a(n, 'relations')) {
        const t = rel(o(r, 'RangeVar'));
        if (t) fx.touch(t, 'table', 'ACCESS EXCLUSIVE', 'TRUNCATE');
      }
      break;
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt': {
      const t = rel(o(n, 'relation'));
      const whole = (kind === 'UpdateStmt' || kind === 'DeleteStmt') && !o(n, 'whereClause');
      if (t)
        fx.touch(t, 'table', 'ROW EXCLUSIVE', kind.replace('Stmt', '').toUpperCase(), {
          scan: whole || kind === 'MergeStmt',
        });
      break;
    }
    case 'LockStmt': {
      const mode = LOCK_LEVELS[Math.max(0, Math.min(7, (typeof n['mode'] === 'number' ? n['mode'] : 8) - 1))];
      for (const r of a(n, 'relations')) {
        const t = rel(o(r, 'RangeVar'));
        if (t) fx.touch(t, 'table', mode, 'LOCK TABLE');
      }
      break;
    }
    case 'RefreshMatViewStmt': {
      const t = rel(o(n, 'relation'));
      if (t)
        fx.touch(
          t,
          'materialized view',
          b(n, 'concurrent') ? 'EXCLUSIVE' : 'ACCESS EXCLUSIVE',
          'REFRESH MATERIALIZED VIEW',
          { rewrite: true },
        );
      break;
    }
    case 'ClusterStmt': {
      const t = rel(o(n, 'relation'));
      if (t) fx.touch(t, 'table', 'ACCESS EXCLUSIVE', 'CLUSTER rewrites the table', { rewrite: true });
      break;
    }
    case 'VacuumStmt': {
      noTx('VACUUM cannot run inside a transaction block');
      const full = a(n, 'options').some((x) => s(o(x, 'DefElem'), 'defname') === 'full');
      for (const r of a(n, 'rels')) {
        const t = rel(o(o(r, 'VacuumRelation'), 'relation'));
        if (t)
          fx.touch(
            t,
            'table',
            full ? 'ACCESS EXCLUSIVE' : 'SHARE UPDATE EXCLUSIVE',
            full ? 'VACUUM FULL rewrites the table' : 'VACUUM',
            { rewrite: full },
          );
      }
      break;
    }
    case 'ReindexStmt': {
      const conc = a(n, 'params').some((x) => s(o(x, 'DefElem'), 'defname') === 'concurrently');
      const t = rel(o(n, 'relation'));
      if (conc) noTx('REINDEX CONCURRENTLY cannot run inside a transaction block');
      if (t) fx.touch(t, 'table', conc ? 'SHARE UPDATE EXCLUSIVE' : 'SHARE', 'REINDEX');
      break;
    }
    case 'CommentStmt': {
      if (s(n, 'objtype') === 'OBJECT_TABLE' || s(n, 'objtype') === 'OBJECT_COLUMN') {
        const items = strings(a(o(o(n, 'object'), 'List'), 'items'));
        const t = s(n, 'objtype') === 'OBJECT_COLUMN' ? named(items.slice(0, -1)) : named(items);
        fx.touch(t, 'table', 'SHARE UPDATE EXCLUSIVE', 'COMMENT ON');
      }
      break;
    }
    case 'CreatedbStmt':
    case 'DropdbStmt':
      noTx(`${kind === 'CreatedbStmt' ? 'CREATE' : 'DROP'} DATABASE cannot run inside a transaction block`);
      break;
    case 'AlterSystemStmt':
      noTx('ALTER SYSTEM cannot run inside a transaction block');
      break;
    case 'CreateTableSpaceStmt':
    case 'DropTableSpaceStmt':
      noTx('TABLESPACE commands cannot run inside a transaction block');
      break;
    case 'AlterEnumStmt':
      if (pg < 12 && !s(n, 'oldVal'))
        noTx('ALTER TYPE … ADD VALUE cannot run inside a transaction block before PostgreSQL 12');
      break;
    case 'ViewStmt':
    case 'CreateTableAsStmt':
    case 'SelectStmt':
      break;
  }
  const info: LockInfo = { effects: fx.list, transactional };
  if (why) info.nonTransactionalReason = why;
  return info;
}
