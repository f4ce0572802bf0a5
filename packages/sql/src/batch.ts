/**
 * `-- braid:batch` (docs/online.md): which statements of a batched migration run in keyed batches
 * (UPDATE, DELETE, INSERT … SELECT) and how one batch's statement is written: the statement as
 * written, with a key-range condition ANDed to its WHERE clause. Pure (needs the parser loaded).
 */
import { a, inner, kindOf, o, s } from './ast';
import { parseSql, type AstNode } from './parser';

export interface BatchTable {
  schema?: string;
  name: string;
}

export interface BatchableStatement {
  kind: 'update' | 'delete' | 'insert-select';
  /** The table whose key ranges delimit the batches (UPDATE/DELETE: the target; INSERT … SELECT: the source). */
  table: BatchTable;
  /** How the statement names that table (its alias, else its name): qualifies the key column. */
  qualifier: string;
  /** The statement with `cond` (an SQL boolean expression) ANDed to its WHERE clause. */
  withCondition(cond: string): string;
}

export type Batchability = { ok: true; statement: BatchableStatement } | { ok: false; reason: string };

/** Top-level (parenthesis depth 0) words of a statement, with their string index. */
export function topLevelWords(text: string): Array<{ word: string; at: number }> {
  const out: Array<{ word: string; at: number }> = [];
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '-' && text[i + 1] === '-') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      let d = 1;
      i += 2;
      while (i < n && d > 0) {
        if (text[i] === '/' && text[i + 1] === '*') {
          d++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          d--;
          i += 2;
        } else i++;
      }
    } else if (c === "'" || c === '"') {
      i++;
      while (i < n) {
        if (text[i] === c) {
          if (text[i + 1] === c) i += 2;
          else break;
        } else if (c === "'" && text[i] === '\\' && /[eE]/.test(text[i - 1] ?? '')) i += 2;
        else i++;
      }
      i++;
    } else if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (m) {
        const end = text.indexOf(m[0], i + m[0].length);
        i = end < 0 ? n : end + m[0].length;
      } else i++;
    } else if (c === '(' || c === '[') {
      depth++;
      i++;
    } else if (c === ')' || c === ']') {
      depth--;
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z0-9_$]/.test(text[i])) i++;
      if (depth === 0) out.push({ word: text.slice(start, i).toLowerCase(), at: start });
    } else i++;
  }
  return out;
}

function rangeVar(n: AstNode | undefined): { table: BatchTable; qualifier: string } | undefined {
  const rv = o(n, 'RangeVar') ?? (n && s(n, 'relname') !== undefined ? n : undefined);
  if (!rv) return undefined;
  const name = s(rv, 'relname');
  if (!name) return undefined;
  const schema = s(rv, 'schemaname');
  const alias = s(o(rv, 'alias'), 'aliasname');
  return { table: schema ? { schema, name } : { name }, qualifier: alias ?? name };
}

/** `text.slice(0, at) WHERE (rest) AND cond` or, without a WHERE, `… WHERE cond` before `end`. */
function andWhere(text: string, whereAt: number | undefined, end: number, cond: string): string {
  if (whereAt === undefined)
    return `${text.slice(0, end).trimEnd()} WHERE ${cond}${end < text.length ? ` ${text.slice(end)}` : ''}`;
  const expr = text.slice(whereAt + 'where'.length, end).trim();
  return `${text.slice(0, whereAt)}WHERE (${expr}) AND ${cond}${end < text.length ? ` ${text.slice(end)}` : ''}`;
}

/**
 * Whether one statement (its text, without the terminating semicolon) runs in batches:
 * `undefined` when it is not a data statement a batch applies to (it runs as written), else
 * how (ok) or why it cannot (a data statement braid cannot cut into key ranges).
 */
export function batchability(text: string): Batchability | undefined {
  const parsed = parseSql(text);
  if (!parsed.ok || parsed.stmts.length !== 1) return undefined;
  const node = parsed.stmts[0].stmt;
  const kind = kindOf(node);
  const n = inner(node);
  if (kind !== 'UpdateStmt' && kind !== 'DeleteStmt' && kind !== 'InsertStmt') return undefined;
  const what = kind === 'UpdateStmt' ? 'UPDATE' : kind === 'DeleteStmt' ? 'DELETE' : 'INSERT … SELECT';
  if (a(n, 'returningList').length > 0 || o(n, 'returningClause'))
    return { ok: false, reason: `a batched ${what} cannot have RETURNING` };
  const words = topLevelWords(text);
  if (kind === 'InsertStmt') {
    const sel = o(n, 'selectStmt');
    const ss = o(sel, 'SelectStmt');
    if (!ss || a(ss, 'valuesLists').length > 0) return undefined; // INSERT … VALUES: runs as written
    if ((s(ss, 'op') ?? 'SETOP_NONE') !== 'SETOP_NONE')
      return { ok: false, reason: 'a batched INSERT … SELECT cannot be a UNION, INTERSECT or EXCEPT' };
    for (const [k, label] of [
      ['groupClause', 'GROUP BY'],
      ['havingClause', 'HAVING'],
      ['distinctClause', 'DISTINCT'],
      ['windowClause', 'WINDOW'],
      ['sortClause', 'ORDER BY'],
    ] as const) {
      if (a(ss, k).length > 0 || o(ss, k))
        return { ok: false, reason: `a batched INSERT … SELECT cannot have ${label}` };
    }
    if (o(ss, 'limitCount') || o(ss, 'limitOffset'))
      return { ok: false, reason: 'a batched INSERT … SELECT cannot have LIMIT or OFFSET' };
    if (o(ss, 'withClause'))
      return { ok: false, reason: 'a batched INSERT … SELECT cannot have its own WITH' };
    const from = a(ss, 'fromClause');
    // the leftmost table of the first FROM item (through JOINs)
    let item: AstNode | undefined = from[0];
    while (item && kindOf(item) === 'JoinExpr') item = o(inner(item), 'larg');
    const first = item ? rangeVar(item) : undefined;
    if (!first)
      return {
        ok: false,
        reason: 'a batched INSERT … SELECT must read FROM a table first (its key ranges delimit the batches)',
      };
    const selectAt = words.find((w) => w.word === 'select');
    if (!selectAt)
      return { ok: false, reason: 'a batched INSERT … SELECT must not put its SELECT in parentheses' };
    const conflict = words.findIndex((w, i) => w.word === 'on' && words[i + 1]?.word === 'conflict');
    const end = conflict >= 0 ? words[conflict].at : text.length;
    const where = words.find((w) => w.word === 'where' && w.at > selectAt.at && w.at < end);
    return {
      ok: true,
      statement: {
        kind: 'insert-select',
        ...first,
        withCondition: (cond) => andWhere(text, where?.at, end, cond),
      },
    };
  }
  if (o(n, 'whereClause') && kindOf(o(n, 'whereClause')) === 'CurrentOfExpr')
    return { ok: false, reason: `a batched ${what} cannot use WHERE CURRENT OF` };
  const target = rangeVar(o(n, 'relation'));
  if (!target) return { ok: false, reason: `cannot tell which table the ${what} changes` };
  // the WITH clause (if any) is in parentheses; the statement's own WHERE is the last top-level one
  const verb = words.find((w) => w.word === (kind === 'UpdateStmt' ? 'update' : 'delete'));
  const where = [...words].reverse().find((w) => w.word === 'where' && (!verb || w.at > verb.at));
  return {
    ok: true,
    statement: {
      kind: kind === 'UpdateStmt' ? 'update' : 'delete',
      ...target,
      withCondition: (cond) => andWhere(text, where?.at, text.length, cond),
    },
  };
}
