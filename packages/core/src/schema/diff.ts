import { diffLines } from 'diff';
import { type Collection, MODEL_COLLECTIONS, type SchemaModel, compareStrings } from './model';

/** One field that differs, by path inside the object (`columns.email.type`). */
export interface FieldChange {
  path: string;
  from: unknown;
  to: unknown;
}

export interface ObjectChange {
  collection: Collection;
  /** Readable kind: table, partitioned table, view, materialized view, enum, domain, function, … */
  kind: string;
  key: string;
  action: 'added' | 'removed' | 'changed';
  /** Field-level detail for `changed` (empty for added/removed). */
  fields: FieldChange[];
}

export interface SchemaDiff {
  changes: ObjectChange[];
}

/** The readable kind of a model object. */
export function objectKind(collection: Collection, obj: unknown): string {
  const o = obj as Record<string, unknown>;
  switch (collection) {
    case 'schemas':
      return 'schema';
    case 'extensions':
      return 'extension';
    case 'types':
      return String(o['kind']);
    case 'sequences':
      return 'sequence';
    case 'tables':
      return o['kind'] === 'partitioned' ? 'partitioned table' : 'table';
    case 'views':
      return o['materialized'] ? 'materialized view' : 'view';
    case 'functions':
      return String(o['kind']);
    case 'indexes':
      return 'index';
    case 'triggers':
      return 'trigger';
    case 'policies':
      return 'policy';
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Stable JSON (sorted keys) for comparing values. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v)
      .sort(compareStrings)
      .map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** Field-level differences between two versions of one object: records recurse, lists and scalars compare whole. */
export function diffFields(a: unknown, b: unknown, prefix = ''): FieldChange[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const out: FieldChange[] = [];
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareStrings);
    for (const k of keys) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (!(k in a)) out.push({ path, from: null, to: b[k] });
      else if (!(k in b)) out.push({ path, from: a[k], to: null });
      else out.push(...diffFields(a[k], b[k], path));
    }
    return out;
  }
  return stableJson(a) === stableJson(b) ? [] : [{ path: prefix, from: a ?? null, to: b ?? null }];
}

/**
 * The object diff of two models: added, removed and changed objects with field-level detail,
 * in a deterministic order (collection order of the model, then key). Plain JSON.
 */
export function diffSchemas(from: SchemaModel, to: SchemaModel): SchemaDiff {
  const changes: ObjectChange[] = [];
  for (const c of MODEL_COLLECTIONS) {
    const a = from[c] as Record<string, unknown>;
    const b = to[c] as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareStrings);
    for (const key of keys) {
      const x = a[key];
      const y = b[key];
      if (x === undefined)
        changes.push({ collection: c, kind: objectKind(c, y), key, action: 'added', fields: [] });
      else if (y === undefined)
        changes.push({ collection: c, kind: objectKind(c, x), key, action: 'removed', fields: [] });
      else {
        const fields = diffFields(x, y);
        if (fields.length)
          changes.push({ collection: c, kind: objectKind(c, y), key, action: 'changed', fields });
      }
    }
  }
  return { changes };
}

export function isEmptyDiff(d: SchemaDiff): boolean {
  return d.changes.length === 0;
}

function show(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (typeof v === 'string')
    return v.length > 80 || v.includes('\n') ? `${JSON.stringify(v.slice(0, 77))}…` : v;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

const SUB = new Set(['columns', 'constraints', 'checks']);
const SUB_LABEL: Record<string, string> = { columns: 'column', constraints: 'constraint', checks: 'check' };

/**
 * Text rendering, one object per line and one sub-object (column, constraint) per indented
 * line: `~ table public.users` / `    column email: type text → citext; notNull false → true`.
 */
export function renderDiffText(d: SchemaDiff): string[] {
  const lines: string[] = [];
  const sign = { added: '+', removed: '-', changed: '~' } as const;
  for (const ch of d.changes) {
    lines.push(`${sign[ch.action]} ${ch.kind} ${ch.key}`);
    if (ch.action !== 'changed') continue;
    const groups = new Map<string, string[]>();
    for (const f of ch.fields) {
      const parts = f.path.split('.');
      let group = '';
      let rest = f.path;
      if (parts.length >= 2 && SUB.has(parts[0])) {
        group = `${SUB_LABEL[parts[0]]} ${parts[1]}`;
        rest = parts.slice(2).join('.');
      }
      let text: string;
      const multiline =
        typeof f.from === 'string' &&
        typeof f.to === 'string' &&
        (f.from.includes('\n') || f.to.includes('\n'));
      if (multiline) {
        // Definitions (functions, views): the changed lines, not the whole text.
        const changed: string[] = [];
        for (const part of diffLines(f.from as string, f.to as string)) {
          if (!part.added && !part.removed) continue;
          for (const l of part.value.replace(/\n$/, '').split('\n'))
            changed.push(`${part.added ? '+' : '-'} ${l}`);
        }
        const shown = changed.slice(0, 20);
        if (changed.length > shown.length) shown.push(`… ${changed.length - shown.length} more lines`);
        text = `${rest || 'definition'} changed:\n${shown.map((l) => `        ${l}`).join('\n')}`;
      } else if (rest === '')
        text = f.from === null ? 'added' : f.to === null ? 'removed' : `${show(f.from)} → ${show(f.to)}`;
      else text = `${rest} ${show(f.from)} → ${show(f.to)}`;
      const list = groups.get(group) ?? [];
      list.push(text);
      groups.set(group, list);
    }
    for (const [group, items] of groups) {
      lines.push(`    ${group ? `${group}: ` : ''}${items.join('; ')}`);
    }
  }
  return lines;
}
