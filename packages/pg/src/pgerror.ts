/**
 * PostgreSQL errors shown as `<file>:LINE:COL`, the source line and a caret, plus SQLSTATE,
 * detail and hint. The server reports `position` as a 1-based character (code point) index
 * into the query text it was sent; braid sends a file (or one statement at a known offset).
 */
import { redact } from '@braid/core';

export interface PgErrorInfo {
  message: string;
  code?: string;
  detail?: string;
  hint?: string;
  position?: number;
  where?: string;
}

export function pgErrorInfo(e: unknown): PgErrorInfo | undefined {
  if (!(e instanceof Error)) return undefined;
  const x = e as Error & Record<string, unknown>;
  if (typeof x['code'] !== 'string' || !/^[0-9A-Z]{5}$/.test(x['code'])) return undefined;
  const pos = x['position'] === undefined ? undefined : Number(x['position']);
  const str = (k: string) => (typeof x[k] === 'string' && x[k] ? x[k] : undefined);
  const info: PgErrorInfo = { message: redact(e.message), code: x['code'] };
  const detail = str('detail');
  const hint = str('hint');
  const where = str('where');
  if (detail) info.detail = redact(detail);
  if (hint) info.hint = redact(hint);
  if (where) info.where = redact(where);
  if (pos !== undefined && Number.isFinite(pos) && pos > 0) info.position = pos;
  return info;
}

/** JS string index of a 1-based code-point position (as PostgreSQL counts in UTF-8). */
export function codePointPositionToIndex(text: string, position: number): number {
  let idx = 0;
  let n = 1;
  while (n < position && idx < text.length) {
    const c = text.codePointAt(idx) ?? 0;
    idx += c > 0xffff ? 2 : 1;
    n++;
  }
  return Math.min(idx, text.length);
}

/** 1-based line and column (in characters) of a JS string index. */
export function lineCol(text: string, index: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: Array.from(text.slice(lineStart, index)).length + 1 };
}

export interface SourceLocation {
  file: string;
  line: number;
  col: number;
  /** The source line (tabs kept) and a caret line under it. */
  sourceLine: string;
  caret: string;
}

export function locate(file: string, text: string, index: number): SourceLocation {
  const { line, col } = lineCol(text, index);
  const lines = text.split('\n');
  const src = (lines[line - 1] ?? '').replace(/\r$/, '');
  const before = Array.from(src).slice(0, col - 1);
  const caret = before.map((ch) => (ch === '\t' ? '\t' : ' ')).join('') + '^';
  return { file, line, col, sourceLine: src, caret };
}

/** The lines to print after the one-line message: source, caret, detail, hint. */
export function errorSnippet(loc: SourceLocation | undefined, info: PgErrorInfo | undefined): string[] {
  const out: string[] = [];
  if (loc) {
    const gutter = String(loc.line);
    out.push(`  ${gutter} | ${loc.sourceLine}`);
    out.push(`  ${' '.repeat(gutter.length)} | ${loc.caret}`);
  }
  if (info?.detail) out.push(`  detail: ${info.detail}`);
  if (info?.hint) out.push(`  hint: ${info.hint}`);
  if (info?.where) out.push(`  where: ${info.where.split('\n')[0]}`);
  return out;
}
