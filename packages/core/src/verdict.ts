/**
 * The branch verdict (pure part): are two concurrent migration sequences (ours and theirs, since
 * their merge base) safe to merge? DESIGN §1 "Safe merge".
 *
 * Inputs are the static footprints of every statement of each side's new migrations (computed
 * by @braid/sql; described here structurally so that core stays free of the parser) and, unless
 * the verdict is static only, the outcome of two shadow replays (base+ours+theirs and
 * base+theirs+ours) with their schema models and the per-side object diffs.
 *
 * `safe` only when: both orders replay, both yield equal schemas, no object is changed on both
 * sides (static collisions and overlapping object diffs), and no incomplete footprint faces a
 * destructive change on the other side. Everything else is `conflict`, with reasons naming each
 * object and statement. A static-only verdict is never `safe`: at best `unproven`.
 */
import type { ObjectChange, SchemaDiff } from './schema/diff';

export type VerdictSide = 'ours' | 'theirs';

/** The subset of @braid/sql's ObjectRef the verdict uses. */
export interface RefLike {
  kind: string;
  schema?: string;
  name: string;
  table?: string;
  /** Functions: normalised argument types; undefined = signature unknown (matches every overload). */
  args?: string[];
}

/** The subset of @braid/sql's Footprint the verdict uses. */
export interface FootprintLike {
  creates: RefLike[];
  alters: Array<{ object: RefLike; sub?: { kind: string; name?: string }; action: string }>;
  drops: RefLike[];
  renames: Array<{ from: RefLike; to: RefLike }>;
  reads: RefLike[];
  writes: RefLike[];
  incomplete: boolean;
  notes: string[];
}

/** One statement of one side's new migrations. */
export interface StatementInput {
  /** Migration id. */
  id: string;
  /** 1-based line in up.sql. */
  line: number;
  footprint: FootprintLike;
}

export type TouchAction = 'create' | 'alter' | 'drop' | 'rename' | 'read' | 'write';

/** One object one statement touches. */
export interface Touch {
  /** Readable object key: `table public.users`, `column public.users.nickname`, `type public.mood`. */
  object: string;
  /** The table key (`table public.users`) for columns, constraints, defaults, indexes on it. */
  parent?: string;
  action: TouchAction;
  /** Footprint detail (`type`, `set default`, `add value`, `rename to full_name`, ...). */
  detail?: string;
  /** Whether the change breaks what others may use (drop, rename, type change, enum/value change). */
  destructive: boolean;
  /** `<id>/up.sql:LINE`. */
  at: string;
}

export interface Collision {
  object: string;
  /** `conflict` blocks the merge; `note` is listed (the replay is the proof). */
  severity: 'conflict' | 'note';
  reason: string;
  ours: Touch[];
  theirs: Touch[];
}

export interface ReplayOutcome {
  order: 'ours-then-theirs' | 'theirs-then-ours';
  ok: boolean;
  /** The replay error (names `<id>/up.sql:L:C`). */
  error?: string;
  /** Migration ids in replay order (after the base). */
  sequence: string[];
}

export interface ShadowLabel {
  engine: 'pglite' | 'postgres';
  major: number;
}

export interface SideSummary {
  /** Migrations the side added since the merge base, in manifest order. */
  added: string[];
  /** Base migrations the side edited or removed. */
  edited: string[];
  removed: string[];
  touches: Touch[];
  /** Statements whose footprint is incomplete (dynamic SQL, unparsed bodies), with the notes. */
  incomplete: Array<{ at: string; notes: string[] }>;
  /** Object diff base -> side (replay only). */
  diff?: SchemaDiff;
  diffText?: string[];
}

export type VerdictKind = 'safe' | 'conflict' | 'unproven';

export interface Verdict {
  verdict: VerdictKind;
  /** True when the replays were skipped (`--static`). */
  static: boolean;
  base: string;
  ours: SideSummary;
  theirs: SideSummary;
  collisions: Collision[];
  replays: ReplayOutcome[];
  /** Objects that differ between the two replay orders. */
  orderDifference?: string[];
  /** One line per reason for a conflict (or why the verdict is unproven). */
  reasons: string[];
  /** What to do next. */
  advice: string[];
  shadow?: ShadowLabel;
  /** Structural manifest conflicts (edited/removed base entries, same id twice). */
  manifestConflicts: string[];
}

// ---------------------------------------------------------------------------------------------
// Footprints -> touches

function relKey(r: RefLike): string {
  return r.schema ? `${r.schema}.${r.name}` : r.name;
}

function refObject(r: RefLike): { object: string; parent?: string } {
  if (
    r.table &&
    (r.kind === 'column' || r.kind === 'constraint' || r.kind === 'trigger' || r.kind === 'policy')
  ) {
    return { object: `${r.kind} ${r.table}.${r.name}`, parent: `table ${r.table}` };
  }
  if (r.table && r.kind === 'index') return { object: `index ${relKey(r)}`, parent: `table ${r.table}` };
  const kind = r.kind === 'procedure' ? 'function' : r.kind === 'materialized view' ? 'view' : r.kind;
  if (kind === 'function' && r.args) return { object: `function ${relKey(r)}(${r.args.join(', ')})` };
  return { object: `${kind} ${relKey(r)}` };
}

/** Table-like objects: a read of one of these reads all its columns. */
const RELATION = /^(table|view) /;

/** The touches of one statement. */
export function touchesOf(st: StatementInput): Touch[] {
  const at = `${st.id}/up.sql:${st.line}`;
  const fp = st.footprint;
  const out: Touch[] = [];
  const push = (
    o: { object: string; parent?: string },
    action: TouchAction,
    destructive: boolean,
    detail?: string,
  ) => {
    const t: Touch = { object: o.object, action, destructive, at };
    if (o.parent) t.parent = o.parent;
    if (detail) t.detail = detail;
    out.push(t);
  };
  for (const c of fp.creates) {
    // CREATE INDEX also appears as an alteration of its table (sub index): one touch is enough.
    push(refObject(c), 'create', false);
  }
  for (const a of fp.alters) {
    const obj = refObject(a.object);
    const table = relKey(a.object);
    const sub = a.sub;
    const action = a.action.toLowerCase();
    if (!sub) {
      push(obj, 'alter', /rename|type|drop/.test(action), action);
      continue;
    }
    switch (sub.kind) {
      case 'index':
        if (action === 'add') continue; // the create above
        push(
          {
            object: `index ${a.object.schema ? `${a.object.schema}.` : ''}${sub.name ?? '?'}`,
            parent: obj.object,
          },
          'alter',
          true,
          action,
        );
        break;
      case 'column':
      case 'default': {
        const isDefault = sub.kind === 'default';
        const kind: TouchAction = isDefault
          ? 'alter'
          : action === 'add'
            ? 'create'
            : action === 'drop'
              ? 'drop'
              : 'alter';
        push(
          { object: `column ${table}.${sub.name ?? '?'}`, parent: obj.object },
          kind,
          !isDefault && /^(drop|rename|type|set not null|set data type)/.test(action),
          isDefault ? `default: ${action}` : action,
        );
        break;
      }
      case 'constraint':
      case 'trigger':
      case 'policy':
        push(
          { object: `${sub.kind} ${table}.${sub.name ?? '?'}`, parent: obj.object },
          action === 'add' ? 'create' : action === 'drop' ? 'drop' : 'alter',
          /^(drop|rename)/.test(action),
          action,
        );
        break;
      case 'enum value':
        // Enum values are ordered: two sides adding values to one enum never commute safely.
        push(obj, 'alter', true, `${action} ${sub.name ?? ''}`.trim());
        break;
      default:
        push({ object: `${obj.object} (${sub.kind})`, parent: obj.object }, 'alter', false, action);
    }
  }
  for (const d of fp.drops) push(refObject(d), 'drop', true);
  for (const r of fp.renames) {
    push(refObject(r.from), 'rename', true, `rename to ${r.to.name}`);
    push(refObject(r.to), 'create', false, `renamed from ${r.from.name}`);
  }
  for (const r of fp.reads) push(refObject(r), 'read', false);
  for (const w of fp.writes) push(refObject(w), 'write', false);
  return dedupe(out);
}

function dedupe(ts: Touch[]): Touch[] {
  const seen = new Set<string>();
  return ts.filter((t) => {
    const k = `${t.object}\0${t.action}\0${t.detail ?? ''}\0${t.at}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Collisions

const CHANGES: ReadonlySet<TouchAction> = new Set(['create', 'alter', 'drop', 'rename']);

function verbs(ts: Touch[]): string {
  const names: Record<TouchAction, string> = {
    create: 'added',
    alter: 'changed',
    drop: 'dropped',
    rename: 'renamed',
    read: 'used',
    write: 'written (rows)',
  };
  return [
    ...new Set(ts.map((t) => names[t.action] + (t.action === 'alter' && t.detail ? ` (${t.detail})` : ''))),
  ].join(', ');
}

function at(ts: Touch[]): string {
  return [...new Set(ts.map((t) => t.at))].join(', ');
}

function displayObject(key: string): string {
  return key.replace(
    /^(table|column|view|function|type|index|constraint|sequence|schema|domain|trigger|policy|extension) /,
    '$1 ',
  );
}

/**
 * `function public.f(integer)` -> `function public.f`; undefined for other objects and for
 * sub-object keys (`function public.f(integer) (comment)`).
 */
export function functionName(key: string): string | undefined {
  if (!key.startsWith('function ') || key.includes(' (')) return undefined;
  const i = key.indexOf('(');
  return i < 0 ? key : key.slice(0, i);
}

/**
 * The other side's touches that concern the same object as `key`. Functions are keyed with
 * their signature (`function public.f(integer)`), so two overloads are two objects; a key
 * without a signature (`function public.f`: a call in a body or view, `DROP FUNCTION f`, a
 * trigger's function) matches every overload of the name, and every overload matches it.
 */
function sameObject(key: string, other: Map<string, Touch[]>): Touch[] | undefined {
  const fn = functionName(key);
  if (fn === undefined) return other.get(key);
  const out: Touch[] = [];
  for (const [k, ts] of other) {
    if (k === key || (functionName(k) === fn && (k === fn || key === fn))) out.push(...ts);
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Objects both sides touch, and whether that blocks the merge. Keys are schema-qualified, so the
 * same table name in two schemas never collides; functions are keyed by signature, and a use
 * whose signature is unknown (a call) collides with every overload of the name.
 */
export function findCollisions(ours: Touch[], theirs: Touch[]): Collision[] {
  const byObj = (ts: Touch[]) => {
    const m = new Map<string, Touch[]>();
    for (const t of ts) m.set(t.object, [...(m.get(t.object) ?? []), t]);
    return m;
  };
  const o = byObj(ours);
  const t = byObj(theirs);
  const out: Collision[] = [];
  const seen = new Set<string>();
  const add = (c: Collision) => {
    const k = `${c.object}\0${c.reason}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(c);
    }
  };

  // Same object on both sides.
  for (const [obj, ot] of o) {
    const tt = sameObject(obj, t);
    if (!tt) continue;
    const oc = ot.filter((x) => CHANGES.has(x.action));
    const tc = tt.filter((x) => CHANGES.has(x.action));
    const od = ot.some((x) => x.action === 'drop' || x.action === 'rename');
    const td = tt.some((x) => x.action === 'drop' || x.action === 'rename');
    // A name-only key meeting one overload is named by that overload.
    const specific = [...new Set(tt.map((x) => x.object))];
    const named = functionName(obj) === obj && specific.length === 1 ? specific[0] : obj;
    const name = displayObject(named);
    if (oc.length > 0 && tc.length > 0) {
      const bothCreate = oc.every((x) => x.action === 'create') && tc.every((x) => x.action === 'create');
      add({
        object: named,
        severity: 'conflict',
        reason: bothCreate
          ? `${name} added on both sides (ours ${at(oc)}; theirs ${at(tc)})`
          : `${name} changed on both sides: ours ${verbs(oc)} at ${at(oc)}; theirs ${verbs(tc)} at ${at(tc)}`,
        ours: oc,
        theirs: tc,
      });
    } else if (od || td || oc.length > 0 || tc.length > 0) {
      const [chSide, ch, other, otherTs] =
        oc.length > 0 ? (['ours', oc, 'theirs', tt] as const) : (['theirs', tc, 'ours', ot] as const);
      const data =
        otherTs.every((x) => x.action === 'write' || x.action === 'read') &&
        !ch.some((x) => x.destructive) &&
        otherTs.some((x) => x.action === 'write');
      add({
        object: named,
        severity:
          data && !ch.some((x) => x.action !== 'alter' && x.action !== 'create') ? 'note' : 'conflict',
        reason: `${name} ${verbs(ch)} by ${chSide} (${at(ch)}), ${verbs(otherTs)} by ${other}'s ${at(otherTs)}`,
        ours: ot,
        theirs: tt,
      });
    } else if (ot.some((x) => x.action === 'write') && tt.some((x) => x.action === 'write')) {
      add({
        object: named,
        severity: 'note',
        reason: `rows of ${name} written on both sides (ours ${at(ot)}; theirs ${at(tt)}): the replay checks they do not collide`,
        ours: ot,
        theirs: tt,
      });
    }
  }

  // A destructive change of a table or of one of its columns vs any use of that table on the other side.
  const parentCheck = (a: Touch[], b: Touch[], aSide: VerdictSide, bSide: VerdictSide) => {
    for (const x of a) {
      if (!x.destructive) continue;
      const table = x.parent ?? (RELATION.test(x.object) ? x.object : undefined);
      if (!table) continue;
      const users = b.filter((y) => (y.object === table || y.parent === table) && y.object !== x.object);
      if (users.length === 0) continue;
      add({
        object: x.object,
        severity: 'conflict',
        reason: `${displayObject(x.object)} ${verbs([x])} by ${aSide} (${x.at}), while ${bSide} uses ${displayObject(table)} (${at(users)})`,
        ours: aSide === 'ours' ? [x] : users,
        theirs: aSide === 'ours' ? users : [x],
      });
    }
  };
  parentCheck(ours, theirs, 'ours', 'theirs');
  parentCheck(theirs, ours, 'theirs', 'ours');
  return out.sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Object diffs

const SUBGROUPS = new Set(['columns', 'constraints', 'checks']);

function groupsOf(c: ObjectChange): Set<string> {
  if (c.action !== 'changed') return new Set(['*']);
  const g = new Set<string>();
  for (const f of c.fields) {
    const parts = f.path.split('.');
    g.add(parts.length >= 2 && SUBGROUPS.has(parts[0]) ? `${parts[0]}.${parts[1]}` : (parts[0] ?? ''));
  }
  return g;
}

/**
 * Objects that both sides' object diffs (base -> side) change in overlapping ways: added or
 * removed on one side and touched on the other, or the same field (column, constraint,
 * definition, enum values) changed on both.
 */
export function overlappingChanges(ours: SchemaDiff, theirs: SchemaDiff): string[] {
  const t = new Map(theirs.changes.map((c) => [`${c.collection}\0${c.key}`, c] as const));
  const out: string[] = [];
  for (const oc of ours.changes) {
    const tc = t.get(`${oc.collection}\0${oc.key}`);
    if (!tc) continue;
    const og = groupsOf(oc);
    const tg = groupsOf(tc);
    const common = og.has('*') || tg.has('*') ? ['*'] : [...og].filter((g) => tg.has(g));
    if (common.length === 0) continue;
    const what =
      common[0] === '*'
        ? `${oc.action} by ours, ${tc.action} by theirs`
        : `${common.map((g) => g.replace(/^columns\./, 'column ').replace(/^constraints\./, 'constraint ')).join(', ')} changed on both sides`;
    out.push(`${oc.kind} ${oc.key}: ${what}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The decision

export interface VerdictInput {
  base: string;
  ours: SideSummary;
  theirs: SideSummary;
  manifestConflicts: string[];
  /** Undefined for a static-only verdict. */
  replay?: {
    outcomes: ReplayOutcome[];
    /** diffSchemas(model of ours-then-theirs, model of theirs-then-ours), when both replayed. */
    orderDiff?: SchemaDiff;
    shadow: ShadowLabel;
  };
}

/**
 * Footprints name functions without their argument types, so two sides that each add a new
 * overload of one name collide by name. The replayed object diffs know the signatures: when
 * both sides only *add* functions of that name and their signatures are disjoint, it is two
 * different functions (a note, not a conflict). Anything else stays a conflict.
 */
export function refineOverloads(c: Collision, ours?: SchemaDiff, theirs?: SchemaDiff): Collision {
  if (c.severity !== 'conflict' || !c.object.startsWith('function ') || !ours || !theirs) return c;
  if (![...c.ours, ...c.theirs].every((t) => t.action === 'create')) return c;
  const name = (functionName(c.object) ?? c.object).slice('function '.length);
  const of = (d: SchemaDiff) =>
    d.changes.filter((x) => x.collection === 'functions' && x.key.startsWith(`${name}(`));
  const o = of(ours);
  const t = of(theirs);
  if (o.length === 0 || t.length === 0) return c;
  if (![...o, ...t].every((x) => x.action === 'added')) return c;
  if (o.some((x) => t.some((y) => y.key === x.key))) return c;
  return {
    ...c,
    severity: 'note',
    reason: `${c.reason}: different overloads (ours ${o.map((x) => x.key).join(', ')}; theirs ${t.map((x) => x.key).join(', ')}), proven by the replays`,
  };
}

function columnAdded(
  d: SchemaDiff | undefined,
  table: string,
  column: string,
): Record<string, unknown> | undefined {
  const ch = d?.changes.find((c) => c.collection === 'tables' && c.key === table);
  const f = ch?.fields.find((x) => x.path === `columns.${column}`);
  return f && f.from === null && typeof f.to === 'object' && f.to !== null
    ? (f.to as Record<string, unknown>)
    : undefined;
}

/** `column X added on both sides` + `with different types (text vs integer)` from the replayed diffs. */
export function describeColumns(c: Collision, ours?: SchemaDiff, theirs?: SchemaDiff): Collision {
  const m = /^column (.+)\.([^.]+)$/.exec(c.object);
  if (!m || !/added on both sides/.test(c.reason)) return c;
  const o = columnAdded(ours, m[1], m[2]);
  const t = columnAdded(theirs, m[1], m[2]);
  if (!o || !t) return c;
  const diffs = Object.keys(o)
    .filter((k) => JSON.stringify(o[k]) !== JSON.stringify(t[k]))
    .map((k) =>
      k === 'type' ? 'types' : k === 'notNull' ? 'nullability' : k === 'default' ? 'defaults' : k,
    );
  const what =
    diffs.length === 0
      ? 'with identical definitions (still written twice)'
      : `with different ${diffs.join(', ')}${diffs.includes('types') ? ` (ours ${String(o['type'])}, theirs ${String(t['type'])})` : ''}`;
  return { ...c, reason: c.reason.replace('added on both sides', `added on both sides ${what}`) };
}

export function decideVerdict(input: VerdictInput): Verdict {
  const collisions = findCollisions(input.ours.touches, input.theirs.touches).map((c) =>
    input.replay
      ? describeColumns(
          refineOverloads(c, input.ours.diff, input.theirs.diff),
          input.ours.diff,
          input.theirs.diff,
        )
      : c,
  );
  const reasons: string[] = [];
  const advice: string[] = [];
  for (const m of input.manifestConflicts) reasons.push(`manifest: ${m}`);
  for (const c of collisions) if (c.severity === 'conflict') reasons.push(c.reason);

  // Incomplete footprints are only tolerated when the other side changes nothing destructively.
  for (const [side, mine, other] of [
    ['ours', input.ours, input.theirs],
    ['theirs', input.theirs, input.ours],
  ] as const) {
    const destructive = other.touches.filter((t) => t.destructive);
    if (mine.incomplete.length > 0 && destructive.length > 0) {
      reasons.push(
        `${side}' ${mine.incomplete.map((i) => i.at).join(', ')} cannot be fully analysed (${mine.incomplete[0].notes[0] ?? 'dynamic SQL'}), and the other side makes destructive changes (${destructive
          .slice(0, 3)
          .map((d) => `${displayObject(d.object)} at ${d.at}`)
          .join(', ')})`,
      );
    }
  }

  let orderDifference: string[] | undefined;
  if (input.replay) {
    for (const r of input.replay.outcomes) {
      if (!r.ok) reasons.push(`replay ${r.order.replace(/-/g, ' ')} fails: ${r.error ?? 'unknown error'}`);
    }
    if (input.replay.orderDiff && input.replay.orderDiff.changes.length > 0) {
      orderDifference = input.replay.orderDiff.changes.map((c) => `${c.kind} ${c.key}`);
      reasons.push(
        `the two orders yield different schemas: ${orderDifference.join(', ')} differ between ours-then-theirs and theirs-then-ours`,
      );
    }
    if (input.ours.diff && input.theirs.diff) {
      for (const o of overlappingChanges(input.ours.diff, input.theirs.diff)) {
        const r = `${o} (object diff)`;
        if (!reasons.includes(r)) reasons.push(r);
      }
    }
  }

  let verdict: VerdictKind;
  if (reasons.length > 0) verdict = 'conflict';
  else if (!input.replay) verdict = 'unproven';
  else verdict = 'safe';

  if (verdict === 'conflict') {
    advice.push(
      'make one side build on the other: merge or rebase one branch first, then rewrite the colliding migration on top of it (`braid rebase --onto <ref>` moves your migrations after the other side and proves the result; or write a new migration with `braid new`)',
    );
    if (input.manifestConflicts.length > 0)
      advice.push(
        'restore migrations that existed at the merge base instead of editing or deleting them; add a new migration for the change',
      );
  } else if (verdict === 'unproven') {
    const noOverlap =
      collisions.length === 0
        ? 'the static footprints do not overlap'
        : 'the static footprints overlap only in data writes';
    reasons.push(`${noOverlap}; replay both orders (without --static) to prove the sides commute`);
  }
  const out: Verdict = {
    verdict,
    static: !input.replay,
    base: input.base,
    ours: input.ours,
    theirs: input.theirs,
    collisions,
    replays: input.replay?.outcomes ?? [],
    reasons,
    advice,
    manifestConflicts: input.manifestConflicts,
  };
  if (orderDifference) out.orderDifference = orderDifference;
  if (input.replay) out.shadow = input.replay.shadow;
  return out;
}

/** `PGlite (PostgreSQL 18)` / `PostgreSQL 15 server`. */
export function shadowLabelText(s: ShadowLabel): string {
  return s.engine === 'pglite' ? `PGlite (PostgreSQL ${s.major})` : `PostgreSQL ${s.major} server`;
}
