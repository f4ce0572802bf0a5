import type {
  ColumnDef,
  ConstraintDef,
  CompositeDef,
  DomainDef,
  EnumDef,
  Grant,
  SchemaModel,
  SequenceDef,
  TableDef,
  ViewDef,
} from './model';
import { compareStrings } from './model';
import { stableJson } from './diff';
import { displayIdent, qualifiedKey, qualifiedName, quoteIdent, quoteLiteral } from './quote';

/** One generated statement. */
export interface DdlStatement {
  sql: string;
  /** Loses data (drop of a table, column, type, schema; narrowing a column type; enum value removal). */
  destructive: boolean;
  reason?: string;
  /** false for statements that cannot run inside a transaction block (CONCURRENTLY). */
  transactional: boolean;
}

export interface DdlOptions {
  /** CREATE/DROP INDEX CONCURRENTLY where PostgreSQL allows it. */
  online?: boolean;
}

const same = (a: unknown, b: unknown): boolean => stableJson(a) === stableJson(b);
const keysOf = (r: object): string[] => Object.keys(r).sort(compareStrings);

function tname(t: { schema: string; name: string }): string {
  return qualifiedName(t.schema, t.name);
}

/** Topological order of keys by `deps(key)` (only deps inside `keys` count); ties by key. */
function topo(keys: string[], deps: (k: string) => string[]): string[] {
  const set = new Set(keys);
  const out: string[] = [];
  const state = new Map<string, number>();
  const visit = (k: string): void => {
    if (state.get(k) === 2) return;
    if (state.get(k) === 1) return; // a cycle: keep going, PostgreSQL will say so
    state.set(k, 1);
    for (const d of deps(k).slice().sort(compareStrings)) if (set.has(d) && d !== k) visit(d);
    state.set(k, 2);
    out.push(k);
  };
  for (const k of keys.slice().sort(compareStrings)) visit(k);
  return out;
}

/**
 * Whether a column type (format_type output, which omits the schema of a type visible on the
 * search path) names the type `key`, or an array of it.
 */
export function typeRefersTo(colType: string, key: string, t: { schema: string; name: string }): boolean {
  const base = colType.endsWith('[]') ? colType.slice(0, -2) : colType;
  return (
    base === key ||
    base === qualifiedKey(t.schema, t.name) ||
    (t.schema === 'public' && base === displayIdent(t.name))
  );
}

/** Whether a type list (function arguments, result) names a table's row type. */
function mentionsRelation(text: string, t: { schema: string; name: string }): boolean {
  const names = [qualifiedKey(t.schema, t.name)];
  if (t.schema === 'public') names.push(displayIdent(t.name));
  return names.some((n) => {
    const esc = n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`(^|[\\s,(])${esc}($|[\\s,)\\[])`).test(text);
  });
}

const INT_RANK: Record<string, number> = { smallint: 1, integer: 2, bigint: 3, numeric: 4 };

/** true when every value of `from` fits `to` without loss (a widening); other changes are narrowing. */
export function isWidening(from: string, to: string): boolean {
  if (from === to) return true;
  const fi = INT_RANK[from];
  const ti = INT_RANK[to];
  if (fi !== undefined && ti !== undefined) return ti >= fi;
  if (from === 'real' && to === 'double precision') return true;
  const vc = /^(character varying|character|varchar|char)\((\d+)\)$/;
  const fm = vc.exec(from);
  if (fm && (to === 'text' || to === 'character varying')) return true;
  const tm = vc.exec(to);
  if (fm && tm && fm[1] === tm[1] && Number(tm[2]) >= Number(fm[2])) return true;
  if (fm && tm && fm[1] === 'character' && tm[1] === 'character varying' && Number(tm[2]) >= Number(fm[2]))
    return true;
  if (from === 'character varying' && to === 'text') return true;
  const num = /^numeric\((\d+),(\d+)\)$/;
  const fn = num.exec(from);
  if (fn && to === 'numeric') return true;
  const tn = num.exec(to);
  if (fn && tn && fn[2] === tn[2] && Number(tn[1]) >= Number(fn[1])) return true;
  if (fi !== undefined && fi <= 3 && to === 'numeric') return true;
  return false;
}

/** The default grants PostgreSQL gives a freshly created object (besides the owner). */
function defaultGrants(kind: 'function' | 'type' | 'other'): Grant[] {
  if (kind === 'function') return [{ grantee: 'PUBLIC', privilege: 'EXECUTE', grantable: false }];
  if (kind === 'type') return [{ grantee: 'PUBLIC', privilege: 'USAGE', grantable: false }];
  return [];
}

const grantee = (g: string): string => (g === 'PUBLIC' ? 'PUBLIC' : quoteIdent(g));

/** A column's definition inside CREATE TABLE / ADD COLUMN. */
function columnSql(name: string, c: ColumnDef): string {
  let s = `${quoteIdent(name)} ${c.type}`;
  if (c.collation) s += ` COLLATE ${c.collation}`;
  if (c.generated) s += ` GENERATED ALWAYS AS (${c.generated}) STORED`;
  if (c.identity) s += ` GENERATED ${c.identity === 'always' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`;
  if (c.default !== null) s += ` DEFAULT ${c.default}`;
  if (c.notNull) s += ' NOT NULL';
  return s;
}

function sequenceOptions(s: SequenceDef): string {
  return (
    `AS ${s.type} INCREMENT BY ${s.increment} MINVALUE ${s.min} MAXVALUE ${s.max} ` +
    `START WITH ${s.start} CACHE ${s.cache} ${s.cycle ? 'CYCLE' : 'NO CYCLE'}`
  );
}

function domainSql(d: DomainDef): string {
  let s = `CREATE DOMAIN ${tname(d)} AS ${d.type}`;
  if (d.collation) s += ` COLLATE ${d.collation}`;
  if (d.default !== null) s += ` DEFAULT ${d.default}`;
  if (d.notNull) s += ' NOT NULL';
  for (const c of keysOf(d.checks)) s += ` CONSTRAINT ${quoteIdent(c)} ${d.checks[c]}`;
  return s;
}

function compositeSql(t: CompositeDef): string {
  const attrs = t.attributes.map(
    (a) => `${quoteIdent(a.name)} ${a.type}${a.collation ? ` COLLATE ${a.collation}` : ''}`,
  );
  return `CREATE TYPE ${tname(t)} AS (${attrs.join(', ')})`;
}

function viewSql(v: ViewDef): string {
  const body = v.definition.trim().replace(/;\s*$/, '');
  if (v.materialized) return `CREATE MATERIALIZED VIEW ${tname(v)} AS\n${body}`;
  const opts = v.options.length ? ` WITH (${v.options.join(', ')})` : '';
  return `CREATE VIEW ${tname(v)}${opts} AS\n${body}`;
}

/**
 * The statements that turn schema `from` into schema `to`, ordered by dependency: schemas and
 * extensions, types, sequences, functions, tables, columns, constraints, foreign keys, indexes,
 * views, triggers, policies, comments, grants; drops run first, dependents before what they
 * depend on. Views, triggers and policies on a table whose column types change are dropped
 * before and recreated after. Pure: no I/O.
 */
export function generateDdl(from: SchemaModel, to: SchemaModel, opts: DdlOptions = {}): DdlStatement[] {
  const out: DdlStatement[] = [];
  const emit = (sql: string, extra: Partial<DdlStatement> = {}): void => {
    out.push({ sql, destructive: false, transactional: true, ...extra });
  };
  const destroy = (sql: string, reason: string): void => emit(sql, { destructive: true, reason });

  // ---- what is recreated -----------------------------------------------------------------
  const structural = (t: TableDef): string => stableJson([t.kind, t.partitionKey, t.partitionOf, t.inherits]);
  const recreatedTables = new Set<string>();
  for (const k of keysOf(to.tables)) {
    const a = from.tables[k];
    const b = to.tables[k];
    if (a && structural(a) !== structural(b)) recreatedTables.add(k);
  }
  const droppedTables = new Set([...keysOf(from.tables).filter((k) => !to.tables[k]), ...recreatedTables]);
  const createdTables = new Set([...keysOf(to.tables).filter((k) => !from.tables[k]), ...recreatedTables]);

  // Enums whose labels cannot be reached by ADD VALUE: recreated, with the columns that use them.
  const recreatedEnums = new Set<string>();
  for (const k of keysOf(to.types)) {
    const a = from.types[k];
    const b = to.types[k];
    if (a?.kind === 'enum' && b?.kind === 'enum' && !same(a.labels, b.labels)) {
      let i = 0;
      for (const l of b.labels) if (a.labels[i] === l) i++;
      if (i < a.labels.length) recreatedEnums.add(k);
    }
  }
  const usesRecreatedEnum = (type: string): string | undefined =>
    [...recreatedEnums].find((e) => typeRefersTo(type, e, to.types[e]));

  // Tables whose columns change type, are dropped, or change generation: dependents are rebuilt.
  const alteredTables = new Set<string>();
  const typeChanged = (a: ColumnDef, b: ColumnDef): boolean =>
    a.type !== b.type || a.collation !== b.collation || usesRecreatedEnum(b.type) !== undefined;
  for (const k of keysOf(from.tables)) {
    const a = from.tables[k];
    const b = to.tables[k];
    if (!b || droppedTables.has(k)) continue;
    for (const c of keysOf(a.columns)) {
      const ca = a.columns[c];
      const cb = b.columns[c];
      if (!cb || typeChanged(ca, cb) || ca.generated !== cb.generated) alteredTables.add(k);
    }
  }

  // Views: changed, or reading a dropped/altered table or a recreated view (transitively).
  const recreatedViews = new Set<string>();
  for (const k of keysOf(to.views)) {
    const a = from.views[k];
    const b = to.views[k];
    if (!a) continue;
    const { comment: _c1, grants: _g1, ...ra } = a;
    const { comment: _c2, grants: _g2, ...rb } = b;
    void _c1;
    void _c2;
    void _g1;
    void _g2;
    if (!same(ra, rb)) recreatedViews.add(k);
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const k of keysOf(from.views)) {
      if (!to.views[k] || recreatedViews.has(k)) continue;
      const deps = from.views[k].dependsOn;
      if (deps.some((d) => droppedTables.has(d) || alteredTables.has(d) || recreatedViews.has(d))) {
        recreatedViews.add(k);
        grew = true;
      }
    }
  }
  const droppedViews = new Set([...keysOf(from.views).filter((k) => !to.views[k]), ...recreatedViews]);
  const createdViews = new Set([...keysOf(to.views).filter((k) => !from.views[k]), ...recreatedViews]);
  const relationGone = (k: string): boolean => droppedTables.has(k) || droppedViews.has(k);
  const relationNew = (k: string): boolean => createdTables.has(k) || createdViews.has(k);

  // Child objects (indexes, triggers, policies): dropped/created explicitly unless their table goes/comes.
  function childPlan<T extends { table: string }>(
    a: Record<string, T>,
    b: Record<string, T>,
    rebuild: (x: T) => boolean,
  ): { drop: string[]; create: string[]; created: Set<string> } {
    const drop: string[] = [];
    const create: string[] = [];
    for (const k of keysOf(a)) {
      const x = a[k];
      const y = b[k];
      if (relationGone(x.table)) continue;
      if (!y || !same(x, y) || rebuild(x)) drop.push(k);
    }
    const dropped = new Set(drop);
    for (const k of keysOf(b)) {
      const y = b[k];
      const x = a[k];
      if (!x || relationNew(y.table) || dropped.has(k)) create.push(k);
    }
    return { drop, create, created: new Set(create) };
  }
  const strip = <T extends { comment: string | null }>(r: Record<string, T>): Record<string, T> => {
    const o: Record<string, T> = {};
    for (const k of Object.keys(r)) o[k] = { ...r[k], comment: null };
    return o;
  };
  const idx = childPlan(strip(from.indexes), strip(to.indexes), () => false);
  const trg = childPlan(strip(from.triggers), strip(to.triggers), (t) => alteredTables.has(t.table));
  const pol = childPlan(strip(from.policies), strip(to.policies), (p) => alteredTables.has(p.table));

  // Constraints per kept table.
  const conKey = (t: string, c: string): string => `${t}\u0000${c}`;
  const droppedCons: [string, string][] = [];
  const createdCons: [string, string][] = [];
  const validatedCons: [string, string][] = [];
  const pkChanged = new Set<string>();
  for (const k of keysOf(from.tables)) {
    if (droppedTables.has(k)) continue;
    const a = from.tables[k];
    const b = to.tables[k];
    for (const c of keysOf(a.constraints)) {
      const ca = a.constraints[c];
      const cb = b.constraints[c];
      if (cb && same({ ...ca, comment: null }, { ...cb, comment: null })) continue;
      if (
        cb &&
        !ca.validated &&
        cb.validated &&
        ca.definition.replace(/ NOT VALID$/, '') === cb.definition &&
        same(
          { ...ca, definition: '', validated: true, comment: null },
          { ...cb, definition: '', comment: null },
        )
      ) {
        validatedCons.push([k, c]);
        continue;
      }
      droppedCons.push([k, c]);
      if (cb) createdCons.push([k, c]);
      if (ca.type === 'primary key' || ca.type === 'unique') pkChanged.add(k);
    }
  }
  // Foreign keys referencing a table whose keys are rebuilt must be rebuilt too.
  const droppedSet = new Set(droppedCons.map(([t, c]) => conKey(t, c)));
  for (const k of keysOf(from.tables)) {
    if (droppedTables.has(k)) continue;
    const a = from.tables[k];
    const b = to.tables[k];
    for (const c of keysOf(a.constraints)) {
      const ca = a.constraints[c];
      if (ca.type !== 'foreign key' || !ca.references || droppedSet.has(conKey(k, c))) continue;
      if (pkChanged.has(ca.references) && b.constraints[c]) {
        droppedCons.push([k, c]);
        createdCons.push([k, c]);
        droppedSet.add(conKey(k, c));
      }
    }
  }
  for (const k of keysOf(to.tables)) {
    if (!createdTables.has(k)) {
      const a = from.tables[k];
      const b = to.tables[k];
      for (const c of keysOf(b.constraints)) if (!a.constraints[c]) createdCons.push([k, c]);
    } else {
      for (const c of keysOf(to.tables[k].constraints)) createdCons.push([k, c]);
    }
  }
  const consOf = (m: SchemaModel, [t, c]: [string, string]): ConstraintDef => m.tables[t].constraints[c];

  // ---- drops -----------------------------------------------------------------------------
  for (const k of pol.drop) {
    const p = from.policies[k];
    emit(
      `DROP POLICY ${quoteIdent(p.name)} ON ${tname(from.tables[p.table] ?? { schema: p.schema, name: '' })}`,
    );
  }
  for (const k of trg.drop) {
    const t = from.triggers[k];
    const tab = from.tables[t.table] ?? from.views[t.table];
    emit(`DROP TRIGGER ${quoteIdent(t.name)} ON ${tab ? tname(tab) : t.table}`);
  }
  const viewOrder = topo(keysOf(from.views), (k) => from.views[k].dependsOn);
  for (const k of viewOrder.slice().reverse()) {
    if (!droppedViews.has(k)) continue;
    const v = from.views[k];
    emit(`DROP ${v.materialized ? 'MATERIALIZED VIEW' : 'VIEW'} ${tname(v)}`);
  }
  for (const k of idx.drop) {
    const i = from.indexes[k];
    const parentIsPartitioned = from.tables[i.table]?.kind === 'partitioned';
    const conc = opts.online && !parentIsPartitioned;
    emit(`DROP INDEX${conc ? ' CONCURRENTLY' : ''} ${qualifiedName(i.schema, i.name)}`, {
      transactional: !conc,
    });
  }
  // Foreign keys first (they depend on the keys), then the rest; also FKs between dropped tables.
  const fkFirst = (list: [string, string][], m: SchemaModel): [string, string][] => [
    ...list.filter((x) => consOf(m, x).type === 'foreign key'),
    ...list.filter((x) => consOf(m, x).type !== 'foreign key'),
  ];
  for (const x of fkFirst(droppedCons, from)) {
    emit(`ALTER TABLE ${tname(from.tables[x[0]])} DROP CONSTRAINT ${quoteIdent(x[1])}`);
  }
  for (const k of keysOf(from.tables)) {
    if (!droppedTables.has(k)) continue;
    const t = from.tables[k];
    for (const c of keysOf(t.constraints)) {
      const con = t.constraints[c];
      if (
        con.type === 'foreign key' &&
        con.references &&
        con.references !== k &&
        droppedTables.has(con.references)
      ) {
        emit(`ALTER TABLE ${tname(t)} DROP CONSTRAINT ${quoteIdent(c)}`);
      }
    }
  }
  // Objects removed outright are dropped last (after the columns and defaults that used them
  // have changed); objects recreated under the same name are dropped here.
  const late: (() => void)[] = [];
  for (const k of keysOf(from.functions)) {
    const a = from.functions[k];
    const b = to.functions[k];
    if (b && a.kind === b.kind && a.returns === b.returns) continue;
    const sql = `DROP ${a.kind === 'procedure' ? 'PROCEDURE' : 'FUNCTION'} ${tname(a)}(${a.identityArgs})`;
    // Recreated, or signed with the row type of a table being dropped: before the tables go.
    const sig = `${a.identityArgs} ${a.returns ?? ''}`;
    if (b || [...droppedTables].some((t) => mentionsRelation(sig, from.tables[t]))) emit(sql);
    else late.push(() => emit(sql));
  }
  // Columns removed (or whose generation expression changes: dropped and added back).
  for (const k of keysOf(from.tables)) {
    if (droppedTables.has(k)) continue;
    const a = from.tables[k];
    const b = to.tables[k];
    for (const c of keysOf(a.columns)) {
      const cb = b.columns[c];
      if (!cb) destroy(`ALTER TABLE ${tname(a)} DROP COLUMN ${quoteIdent(c)}`, `drops column ${k}.${c}`);
      else if (a.columns[c].generated !== cb.generated)
        destroy(
          `ALTER TABLE ${tname(a)} DROP COLUMN ${quoteIdent(c)}`,
          `recreates generated column ${k}.${c}`,
        );
    }
  }
  const tableDeps =
    (m: SchemaModel) =>
    (k: string): string[] => {
      const t = m.tables[k];
      return [...(t.partitionOf ? [t.partitionOf.parent] : []), ...t.inherits];
    };
  for (const k of topo(keysOf(from.tables), tableDeps(from)).reverse()) {
    if (!droppedTables.has(k)) continue;
    const t = from.tables[k];
    // A partition whose parent is dropped too goes with it.
    if (t.partitionOf && droppedTables.has(t.partitionOf.parent)) continue;
    destroy(`DROP TABLE ${tname(t)}`, recreatedTables.has(k) ? `recreates table ${k}` : `drops table ${k}`);
  }
  for (const k of keysOf(from.sequences)) {
    if (to.sequences[k]) continue;
    late.push(() => emit(`DROP SEQUENCE IF EXISTS ${tname(from.sequences[k])}`));
  }
  // Types: composites, then domains, then enums (reverse of creation).
  const typeRank = { composite: 0, domain: 1, enum: 2 } as const;
  const typeKeys = (m: SchemaModel): string[] =>
    keysOf(m.types).sort(
      (x, y) => typeRank[m.types[x].kind] - typeRank[m.types[y].kind] || compareStrings(x, y),
    );
  for (const k of typeKeys(from)) {
    const a = from.types[k];
    const b = to.types[k];
    if (b && b.kind === a.kind && !(a.kind === 'domain' && (b as DomainDef).type !== a.type)) continue;
    const sql = `DROP ${a.kind === 'domain' ? 'DOMAIN' : 'TYPE'} ${tname(a)}`;
    if (b) destroy(sql, `recreates type ${k}`);
    else late.push(() => destroy(sql, `drops type ${k}`));
  }
  for (const k of keysOf(from.extensions)) {
    if (!to.extensions[k]) late.push(() => emit(`DROP EXTENSION ${quoteIdent(from.extensions[k].name)}`));
  }
  for (const k of keysOf(from.schemas)) {
    if (!to.schemas[k])
      late.push(() => destroy(`DROP SCHEMA ${quoteIdent(from.schemas[k].name)}`, `drops schema ${k}`));
  }

  // ---- creates and alters ----------------------------------------------------------------
  for (const k of keysOf(to.schemas)) {
    if (!from.schemas[k]) emit(`CREATE SCHEMA ${quoteIdent(to.schemas[k].name)}`);
  }
  for (const k of keysOf(to.extensions)) {
    const a = from.extensions[k];
    const b = to.extensions[k];
    if (!a) {
      emit(
        `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(b.name)} WITH SCHEMA ${quoteIdent(b.schema)} VERSION ${quoteLiteral(b.version)}`,
      );
      continue;
    }
    if (a.version !== b.version)
      emit(`ALTER EXTENSION ${quoteIdent(b.name)} UPDATE TO ${quoteLiteral(b.version)}`);
    if (a.schema !== b.schema)
      emit(`ALTER EXTENSION ${quoteIdent(b.name)} SET SCHEMA ${quoteIdent(b.schema)}`);
  }
  // Types: enums, domains, composites.
  const recreatedEnumColumns: {
    table: TableDef;
    column: string;
    b: ColumnDef;
    a: ColumnDef;
    enumKey: string;
  }[] = [];
  for (const k of typeKeys(to).reverse()) {
    const a = from.types[k];
    const b = to.types[k];
    const fresh = !a || a.kind !== b.kind || (a.kind === 'domain' && (b as DomainDef).type !== a.type);
    if (b.kind === 'enum') {
      const labels = `(${b.labels.map(quoteLiteral).join(', ')})`;
      if (fresh) {
        emit(`CREATE TYPE ${tname(b)} AS ENUM ${labels}`);
      } else if (recreatedEnums.has(k)) {
        const ea = a as EnumDef;
        const old = `${b.name}__braid_old`;
        const removed = ea.labels.filter((l) => !b.labels.includes(l));
        emit(`ALTER TYPE ${tname(b)} RENAME TO ${quoteIdent(old)}`);
        emit(`CREATE TYPE ${tname(b)} AS ENUM ${labels}`);
        for (const tk of keysOf(from.tables)) {
          if (droppedTables.has(tk)) continue;
          const ta = from.tables[tk];
          const tb = to.tables[tk];
          for (const c of keysOf(ta.columns)) {
            const ca = ta.columns[c];
            const cb = tb.columns[c];
            if (!cb || ca.generated !== cb.generated) continue;
            if (typeRefersTo(ca.type, k, b))
              recreatedEnumColumns.push({ table: ta, column: c, a: ca, b: cb, enumKey: k });
          }
        }
        for (const { table, column, a: ca } of recreatedEnumColumns.filter((x) => x.enumKey === k)) {
          const target = `${tname(b)}${ca.type.endsWith('[]') ? '[]' : ''}`;
          if (ca.default !== null)
            emit(`ALTER TABLE ${tname(table)} ALTER COLUMN ${quoteIdent(column)} DROP DEFAULT`);
          emit(
            `ALTER TABLE ${tname(table)} ALTER COLUMN ${quoteIdent(column)} TYPE ${target} USING ${quoteIdent(column)}::text${ca.type.endsWith('[]') ? '[]' : ''}::${target}`,
            removed.length ? { destructive: true, reason: `enum ${k} loses ${removed.join(', ')}` } : {},
          );
        }
        destroy(
          `DROP TYPE ${qualifiedName(b.schema, old)}`,
          `enum ${k} loses ${removed.join(', ') || 'its order'}`,
        );
      } else {
        const ea = a as EnumDef;
        const have = [...ea.labels];
        b.labels.forEach((l, i) => {
          if (have.includes(l)) return;
          const prev = b.labels[i - 1];
          const where =
            prev !== undefined
              ? ` AFTER ${quoteLiteral(prev)}`
              : have.length
                ? ` BEFORE ${quoteLiteral(have[0])}`
                : '';
          emit(`ALTER TYPE ${tname(b)} ADD VALUE ${quoteLiteral(l)}${where}`);
          have.splice(prev !== undefined ? have.indexOf(prev) + 1 : 0, 0, l);
        });
      }
    } else if (b.kind === 'domain') {
      if (fresh) {
        emit(domainSql(b));
        continue;
      }
      const da = a as DomainDef;
      const n = tname(b);
      if (da.default !== b.default)
        emit(`ALTER DOMAIN ${n} ${b.default === null ? 'DROP DEFAULT' : `SET DEFAULT ${b.default}`}`);
      if (da.notNull !== b.notNull) emit(`ALTER DOMAIN ${n} ${b.notNull ? 'SET' : 'DROP'} NOT NULL`);
      for (const c of keysOf(da.checks)) {
        if (b.checks[c] !== da.checks[c]) emit(`ALTER DOMAIN ${n} DROP CONSTRAINT ${quoteIdent(c)}`);
      }
      for (const c of keysOf(b.checks)) {
        if (b.checks[c] !== da.checks[c])
          emit(`ALTER DOMAIN ${n} ADD CONSTRAINT ${quoteIdent(c)} ${b.checks[c]}`);
      }
      if (da.collation !== b.collation) {
        destroy(`DROP DOMAIN ${n}`, `recreates domain ${k}`);
        emit(domainSql(b));
      }
    } else {
      if (fresh) {
        emit(compositeSql(b));
        continue;
      }
      const ca = a as CompositeDef;
      if (same(ca.attributes, b.attributes)) continue;
      const an = ca.attributes.map((x) => x.name);
      const bn = b.attributes.map((x) => x.name);
      const common = an.filter((x) => bn.includes(x));
      const orderKept = same(
        common,
        bn.filter((x) => an.includes(x)),
      );
      const appendOnly = orderKept && same(bn.slice(0, common.length), common);
      if (!appendOnly) {
        destroy(`DROP TYPE ${tname(b)}`, `recreates composite type ${k}`);
        emit(compositeSql(b));
        continue;
      }
      const n = tname(b);
      for (const x of ca.attributes)
        if (!bn.includes(x.name))
          destroy(`ALTER TYPE ${n} DROP ATTRIBUTE ${quoteIdent(x.name)}`, `drops attribute ${k}.${x.name}`);
      for (const x of b.attributes) {
        const old = ca.attributes.find((y) => y.name === x.name);
        const coll = x.collation ? ` COLLATE ${x.collation}` : '';
        if (!old) emit(`ALTER TYPE ${n} ADD ATTRIBUTE ${quoteIdent(x.name)} ${x.type}${coll}`);
        else if (old.type !== x.type || old.collation !== x.collation)
          emit(`ALTER TYPE ${n} ALTER ATTRIBUTE ${quoteIdent(x.name)} TYPE ${x.type}${coll}`);
      }
    }
  }
  for (const k of keysOf(to.sequences)) {
    const a = from.sequences[k];
    const b = to.sequences[k];
    if (!a) emit(`CREATE SEQUENCE ${tname(b)} ${sequenceOptions(b)}`);
    else if (
      !same(
        { ...a, ownedBy: null, comment: null, grants: [] },
        { ...b, ownedBy: null, comment: null, grants: [] },
      )
    ) {
      // A narrower range may exclude the current value: restart at the new start then.
      const restart =
        BigInt(b.min) > BigInt(a.min) || BigInt(b.max) < BigInt(a.max) ? ` RESTART WITH ${b.start}` : '';
      emit(`ALTER SEQUENCE ${tname(b)} ${sequenceOptions(b)}${restart}`);
    }
  }
  // Functions: CREATE OR REPLACE keeps dependents (triggers, defaults) in place.
  const fnKeys = keysOf(to.functions).filter((k) => {
    const a = from.functions[k];
    return (
      !a ||
      a.definition !== to.functions[k].definition ||
      a.kind !== to.functions[k].kind ||
      a.returns !== to.functions[k].returns
    );
  });
  // A function whose signature names a table's row type waits for the table.
  const usesNewRowType = (k: string): boolean => {
    const f = to.functions[k];
    const sig = `${f.identityArgs} ${f.returns ?? ''}`;
    return [...createdTables].some((t) => mentionsRelation(sig, to.tables[t]));
  };
  const fnEarly = fnKeys.filter((k) => !usesNewRowType(k));
  const fnLate = fnKeys.filter((k) => usesNewRowType(k));
  if (fnKeys.length) emit('SET check_function_bodies = false');
  for (const k of fnEarly) emit(to.functions[k].definition.trim().replace(/;\s*$/, ''));

  // Tables: parents before children.
  for (const k of topo(keysOf(to.tables), tableDeps(to))) {
    if (!createdTables.has(k)) continue;
    const t = to.tables[k];
    const cols = keysOf(t.columns).map((c) => columnSql(c, t.columns[c]));
    let sql = `CREATE ${t.unlogged ? 'UNLOGGED ' : ''}TABLE ${tname(t)}`;
    if (t.partitionOf) {
      const parent = to.tables[t.partitionOf.parent];
      sql += ` PARTITION OF ${tname(parent)}${cols.length ? ` (${cols.join(', ')})` : ''} ${t.partitionOf.bound}`;
    } else {
      sql += ` (${cols.join(', ')})`;
      if (t.inherits.length) sql += ` INHERITS (${t.inherits.map((p) => tname(to.tables[p])).join(', ')})`;
    }
    if (t.partitionKey) sql += ` PARTITION BY ${t.partitionKey}`;
    emit(sql);
    if (t.rowSecurity) emit(`ALTER TABLE ${tname(t)} ENABLE ROW LEVEL SECURITY`);
    if (t.forceRowSecurity) emit(`ALTER TABLE ${tname(t)} FORCE ROW LEVEL SECURITY`);
  }
  for (const k of fnLate) emit(to.functions[k].definition.trim().replace(/;\s*$/, ''));
  // Altered tables.
  for (const k of keysOf(to.tables)) {
    if (createdTables.has(k)) continue;
    const a = from.tables[k];
    const b = to.tables[k];
    const n = tname(b);
    if (a.unlogged !== b.unlogged) emit(`ALTER TABLE ${n} SET ${b.unlogged ? 'UNLOGGED' : 'LOGGED'}`);
    for (const p of a.inherits)
      if (!b.inherits.includes(p)) emit(`ALTER TABLE ${n} NO INHERIT ${tname(from.tables[p])}`);
    for (const p of b.inherits)
      if (!a.inherits.includes(p)) emit(`ALTER TABLE ${n} INHERIT ${tname(to.tables[p])}`);
    for (const c of keysOf(b.columns)) {
      const ca = a.columns[c];
      const cb = b.columns[c];
      const col = `ALTER TABLE ${n} ALTER COLUMN ${quoteIdent(c)}`;
      if (!ca || ca.generated !== cb.generated) {
        emit(`ALTER TABLE ${n} ADD COLUMN ${columnSql(c, cb)}`);
        continue;
      }
      const viaEnum = recreatedEnumColumns.some((x) => x.table === a && x.column === c);
      const retyped = !viaEnum && (ca.type !== cb.type || ca.collation !== cb.collation);
      let defaultDropped = viaEnum && ca.default !== null;
      if (retyped && ca.default !== null) {
        emit(`${col} DROP DEFAULT`);
        defaultDropped = true;
      }
      if (ca.identity && !cb.identity) emit(`${col} DROP IDENTITY`);
      if (retyped) {
        const coll = cb.collation ? ` COLLATE ${cb.collation}` : '';
        const narrowing = !isWidening(ca.type, cb.type);
        emit(
          `${col} TYPE ${cb.type}${coll}${ca.type !== cb.type ? ` USING ${quoteIdent(c)}::${cb.type}` : ''}`,
          narrowing ? { destructive: true, reason: `narrows ${k}.${c}: ${ca.type} → ${cb.type}` } : {},
        );
      }
      if (cb.default !== null && (defaultDropped || ca.default !== cb.default))
        emit(`${col} SET DEFAULT ${cb.default}`);
      else if (cb.default === null && ca.default !== null && !defaultDropped) emit(`${col} DROP DEFAULT`);
      if (ca.notNull !== cb.notNull) emit(`${col} ${cb.notNull ? 'SET' : 'DROP'} NOT NULL`);
      if (!ca.identity && cb.identity)
        emit(`${col} ADD GENERATED ${cb.identity === 'always' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`);
      else if (ca.identity && cb.identity && ca.identity !== cb.identity)
        emit(`${col} SET GENERATED ${cb.identity === 'always' ? 'ALWAYS' : 'BY DEFAULT'}`);
    }
    if (a.rowSecurity !== b.rowSecurity)
      emit(`ALTER TABLE ${n} ${b.rowSecurity ? 'ENABLE' : 'DISABLE'} ROW LEVEL SECURITY`);
    if (a.forceRowSecurity !== b.forceRowSecurity)
      emit(`ALTER TABLE ${n} ${b.forceRowSecurity ? 'FORCE' : 'NO FORCE'} ROW LEVEL SECURITY`);
  }
  // Constraints: keys and checks, then NOT VALID → valid, then foreign keys.
  const addCon = (x: [string, string]): void => {
    const con = consOf(to, x);
    const t = to.tables[x[0]];
    const add = `ALTER TABLE ${tname(t)} ADD CONSTRAINT ${quoteIdent(x[1])}`;
    // --online on an existing table: build the index concurrently, then attach it; add foreign
    // keys and checks NOT VALID, then validate (a weaker lock, and no long exclusive scan).
    const online = opts.online && !createdTables.has(x[0]) && t.kind === 'table';
    const key = /^(PRIMARY KEY|UNIQUE) (\([^()]*\))$/.exec(con.definition);
    if (online && key) {
      emit(`CREATE UNIQUE INDEX CONCURRENTLY ${quoteIdent(x[1])} ON ${tname(t)} ${key[2]}`, {
        transactional: false,
      });
      emit(`${add} ${key[1]} USING INDEX ${quoteIdent(x[1])}`);
    } else if (online && con.validated && (con.type === 'foreign key' || con.type === 'check')) {
      emit(`${add} ${con.definition} NOT VALID`);
      emit(`ALTER TABLE ${tname(t)} VALIDATE CONSTRAINT ${quoteIdent(x[1])}`);
    } else {
      emit(`${add} ${con.definition}`);
    }
  };
  const creates = fkFirst(createdCons, to);
  for (const x of creates.filter((y) => consOf(to, y).type !== 'foreign key')) addCon(x);
  for (const x of validatedCons)
    emit(`ALTER TABLE ${tname(to.tables[x[0]])} VALIDATE CONSTRAINT ${quoteIdent(x[1])}`);
  for (const x of creates.filter((y) => consOf(to, y).type === 'foreign key')) addCon(x);
  // Sequence ownership, once the owning columns exist.
  for (const k of keysOf(to.sequences)) {
    const a = from.sequences[k];
    const b = to.sequences[k];
    if (
      (a?.ownedBy ?? null) === b.ownedBy &&
      !(b.ownedBy && droppedTables.has(b.ownedBy.replace(/\.[^.]+$/, '')))
    )
      continue;
    if (!a && b.ownedBy === null) continue;
    let owner = 'NONE';
    if (b.ownedBy) {
      const ti = b.ownedBy.lastIndexOf('.');
      const t = to.tables[b.ownedBy.slice(0, ti)];
      const col = b.ownedBy.slice(ti + 1).replace(/^"(.*)"$/, (_m, s: string) => s.replace(/""/g, '"'));
      if (t) owner = `${tname(t)}.${quoteIdent(col)}`;
    }
    emit(`ALTER SEQUENCE ${tname(b)} OWNED BY ${owner}`);
  }
  // Indexes on tables; then views (dependencies first), then indexes on materialized views.
  const createIndex = (k: string): void => {
    const i = to.indexes[k];
    const onPartitioned = to.tables[i.table]?.kind === 'partitioned';
    const conc = opts.online && !onPartitioned && !createdTables.has(i.table) && !createdViews.has(i.table);
    const sql = conc
      ? i.definition.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX CONCURRENTLY ')
      : i.definition;
    emit(sql, { transactional: !conc });
  };
  for (const k of idx.create) if (to.tables[to.indexes[k].table]) createIndex(k);
  for (const k of topo(keysOf(to.views), (v) => to.views[v].dependsOn)) {
    if (createdViews.has(k)) emit(viewSql(to.views[k]));
  }
  for (const k of idx.create) if (!to.tables[to.indexes[k].table]) createIndex(k);
  for (const k of trg.create) {
    const t = to.triggers[k];
    emit(t.definition);
  }
  for (const k of keysOf(to.triggers)) {
    const t = to.triggers[k];
    const before = from.triggers[k];
    const effective = trg.created.has(k) || !before ? 'O' : before.enabled;
    if (t.enabled === effective) continue;
    const tab = to.tables[t.table];
    const verb = { O: 'ENABLE', D: 'DISABLE', R: 'ENABLE REPLICA', A: 'ENABLE ALWAYS' }[t.enabled];
    emit(`ALTER TABLE ${tab ? tname(tab) : t.table} ${verb} TRIGGER ${quoteIdent(t.name)}`);
  }
  for (const k of pol.create) {
    const p = to.policies[k];
    let sql = `CREATE POLICY ${quoteIdent(p.name)} ON ${tname(to.tables[p.table])} AS ${p.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${p.command}`;
    sql += ` TO ${p.roles.map(grantee).join(', ')}`;
    if (p.using !== null) sql += ` USING (${p.using})`;
    if (p.withCheck !== null) sql += ` WITH CHECK (${p.withCheck})`;
    emit(sql);
  }

  for (const f of late) f();

  const createdConSet = new Set(createdCons.map(([t, c]) => conKey(t, c)));

  // ---- comments --------------------------------------------------------------------------
  const comment = (target: string, a: string | null | undefined, b: string | null, fresh: boolean): void => {
    const before = fresh ? null : (a ?? null);
    if (before === b) return;
    emit(`COMMENT ON ${target} IS ${b === null ? 'NULL' : quoteLiteral(b)}`);
  };
  for (const k of keysOf(to.schemas)) {
    const b = to.schemas[k];
    comment(`SCHEMA ${quoteIdent(b.name)}`, from.schemas[k]?.comment, b.comment, !from.schemas[k]);
  }
  for (const k of keysOf(to.extensions)) {
    const b = to.extensions[k];
    comment(`EXTENSION ${quoteIdent(b.name)}`, from.extensions[k]?.comment, b.comment, !from.extensions[k]);
  }
  const recreatedType = (k: string): boolean => {
    const a = from.types[k];
    const b = to.types[k];
    if (!a || a.kind !== b.kind || recreatedEnums.has(k)) return true;
    if (a.kind === 'domain')
      return a.type !== (b as DomainDef).type || a.collation !== (b as DomainDef).collation;
    if (a.kind === 'composite') return out.some((s) => s.sql === compositeSql(b as CompositeDef));
    return false;
  };
  for (const k of keysOf(to.types)) {
    const b = to.types[k];
    comment(
      `${b.kind === 'domain' ? 'DOMAIN' : 'TYPE'} ${tname(b)}`,
      from.types[k]?.comment,
      b.comment,
      recreatedType(k),
    );
  }
  for (const k of keysOf(to.sequences)) {
    const b = to.sequences[k];
    comment(`SEQUENCE ${tname(b)}`, from.sequences[k]?.comment, b.comment, !from.sequences[k]);
  }
  const fnFresh = (k: string): boolean => {
    const a = from.functions[k];
    const b = to.functions[k];
    return !a || a.kind !== b.kind || a.returns !== b.returns;
  };
  for (const k of keysOf(to.tables)) {
    const b = to.tables[k];
    const a = from.tables[k];
    const fresh = createdTables.has(k);
    comment(`TABLE ${tname(b)}`, a?.comment, b.comment, fresh);
    for (const c of keysOf(b.columns)) {
      const ca = a?.columns[c];
      const cb = b.columns[c];
      comment(
        `COLUMN ${tname(b)}.${quoteIdent(c)}`,
        ca?.comment,
        cb.comment,
        fresh || !ca || ca.generated !== cb.generated,
      );
    }
    for (const c of keysOf(b.constraints)) {
      const fr = fresh || createdConSet.has(conKey(k, c));
      comment(
        `CONSTRAINT ${quoteIdent(c)} ON ${tname(b)}`,
        a?.constraints[c]?.comment,
        b.constraints[c].comment,
        fr,
      );
    }
  }
  for (const k of keysOf(to.views)) {
    const b = to.views[k];
    comment(
      `${b.materialized ? 'MATERIALIZED VIEW' : 'VIEW'} ${tname(b)}`,
      from.views[k]?.comment,
      b.comment,
      createdViews.has(k),
    );
  }
  for (const k of keysOf(to.functions)) {
    const b = to.functions[k];
    comment(
      `${b.kind === 'procedure' ? 'PROCEDURE' : 'FUNCTION'} ${tname(b)}(${b.identityArgs})`,
      from.functions[k]?.comment,
      b.comment,
      fnFresh(k),
    );
  }
  for (const k of keysOf(to.indexes)) {
    const b = to.indexes[k];
    comment(
      `INDEX ${qualifiedName(b.schema, b.name)}`,
      from.indexes[k]?.comment,
      b.comment,
      idx.created.has(k),
    );
  }
  for (const k of keysOf(to.triggers)) {
    const b = to.triggers[k];
    const tab = to.tables[b.table];
    comment(
      `TRIGGER ${quoteIdent(b.name)} ON ${tab ? tname(tab) : b.table}`,
      from.triggers[k]?.comment,
      b.comment,
      trg.created.has(k),
    );
  }
  for (const k of keysOf(to.policies)) {
    const b = to.policies[k];
    comment(
      `POLICY ${quoteIdent(b.name)} ON ${tname(to.tables[b.table])}`,
      from.policies[k]?.comment,
      b.comment,
      pol.created.has(k),
    );
  }

  // ---- grants ----------------------------------------------------------------------------
  const grantDiff = (target: string, before: Grant[], after: Grant[]): void => {
    const id = (g: Grant): string => `${g.grantee}\u0000${g.privilege}\u0000${g.grantable}`;
    const bset = new Set(before.map(id));
    const aset = new Set(after.map(id));
    for (const g of before) {
      if (aset.has(id(g))) continue;
      const downgrade = after.some((x) => x.grantee === g.grantee && x.privilege === g.privilege);
      emit(
        downgrade
          ? `REVOKE GRANT OPTION FOR ${g.privilege} ON ${target} FROM ${grantee(g.grantee)}`
          : `REVOKE ${g.privilege} ON ${target} FROM ${grantee(g.grantee)}`,
      );
    }
    for (const g of after) {
      if (bset.has(id(g))) continue;
      emit(
        `GRANT ${g.privilege} ON ${target} TO ${grantee(g.grantee)}${g.grantable ? ' WITH GRANT OPTION' : ''}`,
      );
    }
  };
  for (const k of keysOf(to.schemas)) {
    const b = to.schemas[k];
    grantDiff(`SCHEMA ${quoteIdent(b.name)}`, from.schemas[k]?.grants ?? [], b.grants);
  }
  for (const k of keysOf(to.sequences)) {
    const b = to.sequences[k];
    grantDiff(`SEQUENCE ${tname(b)}`, from.sequences[k]?.grants ?? [], b.grants);
  }
  for (const k of keysOf(to.tables)) {
    const b = to.tables[k];
    grantDiff(`TABLE ${tname(b)}`, createdTables.has(k) ? [] : from.tables[k].grants, b.grants);
  }
  for (const k of keysOf(to.views)) {
    const b = to.views[k];
    grantDiff(`TABLE ${tname(b)}`, createdViews.has(k) ? [] : from.views[k].grants, b.grants);
  }
  for (const k of keysOf(to.types)) {
    const b = to.types[k];
    const target = `${b.kind === 'domain' ? 'DOMAIN' : 'TYPE'} ${tname(b)}`;
    grantDiff(target, recreatedType(k) ? defaultGrants('type') : from.types[k].grants, b.grants);
  }
  for (const k of keysOf(to.functions)) {
    const b = to.functions[k];
    const target = `${b.kind === 'procedure' ? 'PROCEDURE' : 'FUNCTION'} ${tname(b)}(${b.identityArgs})`;
    grantDiff(target, fnFresh(k) ? defaultGrants('function') : from.functions[k].grants, b.grants);
  }
  return out;
}

/** The SQL text: one statement per paragraph; destructive ones preceded by a flag comment. */
export function renderDdl(stmts: DdlStatement[]): string {
  const parts: string[] = [];
  for (const s of stmts) {
    let text = '';
    if (s.destructive) text += `-- braid:destructive ${s.reason ?? ''}`.trimEnd() + '\n';
    if (!s.transactional)
      text += '-- cannot run inside a transaction block (the migration needs braid:no-transaction)\n';
    text += `${s.sql};`;
    parts.push(text);
  }
  return parts.length ? parts.join('\n\n') + '\n' : '';
}
