/**
 * `braid test --queries FILE` input (pure): a `pg_stat_statements` export (CSV with a header
 * row, a JSON array of objects, or JSON lines) recognised from its content, the queries kept
 * (plannable statements, braid's own registry queries left out) ordered by total time.
 * A plain .sql file is split by the parser in the CLI (this module says it is not an export).
 */

/** A query to EXPLAIN before and after each migration. */
export interface PlanQuery {
  /** Stable name in messages and baselines: `queries.sql:3`, `queryid 4711`. */
  label: string;
  text: string;
  /** Highest `$n` parameter in the text (0: none): planned as a generic plan. */
  params: number;
  queryid?: string;
  calls?: number;
  totalMs?: number;
}

export interface SkippedQuery {
  label: string;
  reason: 'utility' | 'braid-registry' | 'empty' | 'below-top';
}

export type QueryFileFormat = 'sql' | 'pgss-csv' | 'pgss-json';

export interface ParsedExport {
  format: Exclude<QueryFileFormat, 'sql'>;
  queries: PlanQuery[];
  skipped: SkippedQuery[];
}

export class QueryFileError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** The highest `$n` in a (normalized) query text, outside quoted strings and identifiers. */
export function maxParam(text: string): number {
  let max = 0;
  const stripped = text
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/"(?:[^"]|"")*"/g, '""')
    .replace(/--[^\n]*/g, '');
  for (const m of stripped.matchAll(/\$(\d+)/g)) max = Math.max(max, Number(m[1]));
  return max;
}

const PLANNABLE = /^(select|insert|update|delete|with|values|table|merge)\b/i;

/** Why a query is left out, or undefined when it can be EXPLAINed. */
export function skipReason(text: string): SkippedQuery['reason'] | undefined {
  const t = text
    .replace(/^(\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)+/, '')
    .replace(/^\(+\s*/, '')
    .trim();
  if (t === '') return 'empty';
  if (!PLANNABLE.test(t)) return 'utility';
  // braid's own registry (schema braid): `braid.migrations`, `"braid".…`
  if (/(^|[^\w.$"])"?braid"?\s*\.\s*"?[a-z_]/i.test(t)) return 'braid-registry';
  return undefined;
}

/** Which kind of file this is, from its content (not its name). */
export function detectQueryFormat(text: string): QueryFileFormat {
  const t = text.replace(/^\uFEFF/, '').trimStart();
  if (t.startsWith('[') || t.startsWith('{')) return 'pgss-json';
  const firstLine = t.split(/\r?\n/, 1)[0] ?? '';
  // A CSV header: comma-separated bare names, one of them `query`.
  if (/^[\w"]+(\s*,\s*[\w"]+)+\s*$/.test(firstLine)) {
    const names = firstLine.split(',').map((s) => s.trim().replace(/^"|"$/g, '').toLowerCase());
    if (names.includes('query')) return 'pgss-csv';
  }
  return 'sql';
}

/** RFC 4180 CSV (quoted fields may hold commas, quotes as "" and newlines). Rows with their first line. */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let f = '';
      if (text[i] === '"') {
        i++;
        let closed = false;
        while (i < n) {
          const ch = text[i];
          if (ch === '"') {
            if (text[i + 1] === '"') {
              f += '"';
              i += 2;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          if (ch === '\n') line++;
          f += ch;
          i++;
        }
        if (!closed) throw new QueryFileError('unterminated quoted field', start);
      } else {
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') f += text[i++];
      }
      fields.push(f);
      if (text[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') {
      i++;
      line++;
    } else if (i < n) {
      throw new QueryFileError('unexpected character after a quoted field', line);
    }
    if (!(fields.length === 1 && fields[0] === '')) rows.push({ line: start, fields });
  }
  return rows;
}

interface RawEntry {
  query: string;
  queryid?: string;
  calls?: number;
  totalMs?: number;
  line: number;
}

function num(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const x = Number(v);
  return Number.isFinite(x) ? x : undefined;
}

function csvEntries(text: string): RawEntry[] {
  const rows = parseCsv(text.replace(/^\uFEFF/, ''));
  const header = rows[0];
  if (!header) throw new QueryFileError('no header row', 1);
  const names = header.fields.map((s) => s.trim().toLowerCase());
  const col = (k: string) => names.indexOf(k);
  const q = col('query');
  const id = col('queryid');
  const calls = col('calls');
  const total = col('total_exec_time') >= 0 ? col('total_exec_time') : col('total_time');
  return rows.slice(1).map((r) => {
    if (r.fields.length !== names.length) {
      throw new QueryFileError(`${r.fields.length} fields where the header has ${names.length}`, r.line);
    }
    const e: RawEntry = { query: r.fields[q], line: r.line };
    if (id >= 0 && r.fields[id] !== '') e.queryid = r.fields[id].trim();
    const c = calls >= 0 ? num(r.fields[calls]) : undefined;
    if (c !== undefined) e.calls = c;
    const t = total >= 0 ? num(r.fields[total]) : undefined;
    if (t !== undefined) e.totalMs = t;
    return e;
  });
}

function jsonEntries(text: string): RawEntry[] {
  // queryid is a bigint: keep its digits (JSON.parse would round it to a double).
  const safe = text.replace(/^\uFEFF/, '').replace(/("queryid"\s*:\s*)(-?\d+)/g, '$1"$2"');
  let docs: unknown[];
  const t = safe.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      docs = Array.isArray(v) ? v : [v];
    } catch (e) {
      throw new QueryFileError(`not valid JSON: ${(e as Error).message}`);
    }
  } else {
    // JSON lines (one object per line), or a single object.
    docs = [];
    const lines = safe.split(/\r?\n/);
    try {
      docs = [JSON.parse(t) as unknown];
    } catch {
      lines.forEach((l, i) => {
        if (l.trim() === '') return;
        try {
          docs.push({ ...(JSON.parse(l) as object), __line: i + 1 });
        } catch (e) {
          throw new QueryFileError(`not valid JSON: ${(e as Error).message}`, i + 1);
        }
      });
    }
  }
  return docs.map((d, i) => {
    const o = (d ?? {}) as Record<string, unknown>;
    const line = typeof o['__line'] === 'number' ? o['__line'] : undefined;
    if (typeof o['query'] !== 'string') {
      throw new QueryFileError(`entry ${i + 1} has no "query" string`, line);
    }
    const e: RawEntry = { query: o['query'], line: line ?? i + 1 };
    const qid = o['queryid'];
    if (typeof qid === 'string' || typeof qid === 'number') e.queryid = String(qid);
    const c = num(o['calls']);
    if (c !== undefined) e.calls = c;
    const tt = num(o['total_exec_time'] ?? o['total_time']);
    if (tt !== undefined) e.totalMs = tt;
    return e;
  });
}

/**
 * Reads a pg_stat_statements export: the plannable queries, by total time (highest first), the
 * first `top`; the rest listed in `skipped` with the reason. Labels: `queryid <id>`, else
 * `<file>:<line>` of the entry.
 */
export function parsePgssExport(text: string, file: string, top: number): ParsedExport {
  const format = detectQueryFormat(text);
  if (format === 'sql') throw new QueryFileError('not a pg_stat_statements export');
  const entries = format === 'pgss-csv' ? csvEntries(text) : jsonEntries(text);
  const skipped: SkippedQuery[] = [];
  const kept: PlanQuery[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    let label = e.queryid !== undefined ? `queryid ${e.queryid}` : `${file}:${e.line}`;
    if (seen.has(label)) label = `${label} (${file}:${e.line})`;
    seen.add(label);
    const why = skipReason(e.query);
    if (why) {
      skipped.push({ label, reason: why });
      continue;
    }
    const q: PlanQuery = { label, text: e.query.trim().replace(/;\s*$/, ''), params: maxParam(e.query) };
    if (e.queryid !== undefined) q.queryid = e.queryid;
    if (e.calls !== undefined) q.calls = e.calls;
    if (e.totalMs !== undefined) q.totalMs = e.totalMs;
    kept.push(q);
  }
  // Stable: by total time descending, ties in file order.
  const ordered = kept
    .map((q, i) => ({ q, i }))
    .sort((a, b) => (b.q.totalMs ?? 0) - (a.q.totalMs ?? 0) || a.i - b.i)
    .map((x) => x.q);
  for (const q of ordered.slice(top)) skipped.push({ label: q.label, reason: 'below-top' });
  return { format, queries: ordered.slice(0, top), skipped };
}

/** "3 skipped: 2 utility statements, 1 braid registry query" */
export function describeSkipped(skipped: readonly SkippedQuery[]): string | undefined {
  if (skipped.length === 0) return undefined;
  const words: Record<SkippedQuery['reason'], [string, string]> = {
    utility: [
      'utility statement (not plannable: BEGIN, SET, DDL, …)',
      'utility statements (not plannable: BEGIN, SET, DDL, …)',
    ],
    'braid-registry': ['braid registry query', 'braid registry queries'],
    empty: ['empty query', 'empty queries'],
    'below-top': ['query below --queries-top', 'queries below --queries-top'],
  };
  const counts = new Map<SkippedQuery['reason'], number>();
  for (const s of skipped) counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1);
  const parts = [...counts].map(([r, n]) => `${n} ${words[r][n === 1 ? 0 : 1]}`);
  return `${skipped.length} skipped: ${parts.join(', ')}`;
}
