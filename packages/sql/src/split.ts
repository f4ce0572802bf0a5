/**
 * Splitting a SQL file into statements, with exact locations.
 *
 * Offsets: `start`/`end` are UTF-8 BYTE offsets into the file (what PostgreSQL and libpg-query
 * report); `charStart`/`charEnd` are the same positions as JavaScript string indices (use them
 * to slice the text). `line` and `col` are 1-based; `col` counts characters (UTF-16 code units),
 * as editors do. A statement's range starts at its first token (leading whitespace and comments
 * excluded; they are in `leadingComments`) and ends after its last token (the terminating
 * semicolon and trailing comments excluded).
 *
 * When the parser is loaded and the file parses, statement boundaries come from the parser's
 * stmt_location/stmt_len. Otherwise a lexical splitter is used: it understands single-quoted
 * strings (with '' and, for E'' strings, backslash escapes), quoted identifiers, dollar quotes
 * with tags, nested block comments, line comments and BEGIN ATOMIC … END bodies, so a file with
 * a syntax error still splits where PostgreSQL would, and every error points at a line and column.
 */
import { isParserLoaded, parseSql, type AstNode, type RawStmt } from './parser';

export interface Statement {
  /** The statement's text, without leading comments and without the terminating semicolon. */
  text: string;
  /** UTF-8 byte offset of the first character. */
  start: number;
  /** UTF-8 byte offset just past the last character. */
  end: number;
  /** 1-based line of the first character. */
  line: number;
  /** 1-based column (in characters) of the first character. */
  col: number;
  /** String indices (for slicing the JavaScript string). */
  charStart: number;
  charEnd: number;
  /** The comments between the previous statement and this one, in order, as written. */
  leadingComments: string[];
  /** The parsed statement, when the file was split by the parser. */
  ast?: AstNode;
}

type TokKind = 'ws' | 'comment' | 'string' | 'ident' | 'dollar' | 'semi' | 'word' | 'other';
/** The kind of the token nextToken() read last. */
let tokKind: TokKind = 'other';

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
const isIdentStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
const isIdentChar = (c: number) => isIdentStart(c) || (c >= 48 && c <= 57) || c === 36;

/**
 * Reads one token at i (i < to) and returns its end; the token's kind is left in `tokKind` (no
 * object per token: this runs for every token of every statement). Unterminated constructs run
 * to `to`.
 */
function nextToken(s: string, i: number, to: number): number {
  const c = s.charCodeAt(i);
  if (isSpace(c)) {
    let j = i + 1;
    while (j < to && isSpace(s.charCodeAt(j))) j++;
    tokKind = 'ws';
    return j;
  }
  if (c === 45 /* - */ && s.charCodeAt(i + 1) === 45) {
    let j = i + 2;
    while (j < to && s.charCodeAt(j) !== 10) j++;
    tokKind = 'comment';
    return j;
  }
  if (c === 47 /* / */ && s.charCodeAt(i + 1) === 42 /* * */) {
    let depth = 1;
    let j = i + 2;
    while (j < to && depth > 0) {
      if (s.charCodeAt(j) === 47 && s.charCodeAt(j + 1) === 42) {
        depth++;
        j += 2;
      } else if (s.charCodeAt(j) === 42 && s.charCodeAt(j + 1) === 47) {
        depth--;
        j += 2;
      } else j++;
    }
    tokKind = 'comment';
    return Math.min(j, to);
  }
  if (c === 39 /* ' */) {
    tokKind = 'string';
    return quoted(s, i + 1, to, false);
  }
  if ((c === 69 || c === 101) /* E e */ && s.charCodeAt(i + 1) === 39) {
    tokKind = 'string';
    return quoted(s, i + 2, to, true);
  }
  if (c === 34 /* " */) {
    tokKind = 'ident';
    let j = i + 1;
    while (j < to) {
      if (s.charCodeAt(j) === 34) {
        if (s.charCodeAt(j + 1) === 34) j += 2;
        else return j + 1;
      } else j++;
    }
    return to;
  }
  if (c === 36 /* $ */) {
    // $tag$ or $$ (a tag is an identifier without $); $1 is a parameter.
    let j = i + 1;
    if (j < to && isIdentStart(s.charCodeAt(j))) {
      while (j < to && isIdentChar(s.charCodeAt(j)) && s.charCodeAt(j) !== 36) j++;
    }
    if (s.charCodeAt(j) === 36) {
      const tag = s.slice(i, j + 1);
      const close = s.indexOf(tag, j + 1);
      tokKind = 'dollar';
      return close < 0 || close + tag.length > to ? to : close + tag.length;
    }
    tokKind = 'other';
    return i + 1;
  }
  if (c === 59 /* ; */) {
    tokKind = 'semi';
    return i + 1;
  }
  if (isIdentStart(c)) {
    let j = i + 1;
    while (j < to && isIdentChar(s.charCodeAt(j))) j++;
    tokKind = 'word';
    return j;
  }
  tokKind = 'other';
  return i + 1;
}

function quoted(s: string, j: number, to: number, backslash: boolean): number {
  while (j < to) {
    const c = s.charCodeAt(j);
    if (backslash && c === 92) j += 2;
    else if (c === 39) {
      if (s.charCodeAt(j + 1) === 39) j += 2;
      else return j + 1;
    } else j++;
  }
  return to;
}

/** Positions: byte offsets and line/column for string indices. */
export class SourceMap {
  private readonly lineStarts: number[] = [0];
  private readonly ascii: boolean;
  private byteAt: Uint32Array | undefined;
  constructor(readonly text: string) {
    let ascii = true;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.lineStarts.push(i + 1);
      else if (c >= 128) ascii = false;
    }
    this.ascii = ascii;
  }
  /** 1-based line and column of a string index. */
  position(charIndex: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= charIndex) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: charIndex - this.lineStarts[lo] + 1 };
  }
  private table(): Uint32Array {
    if (!this.byteAt) {
      const t = new Uint32Array(this.text.length + 1);
      let b = 0;
      for (let i = 0; i < this.text.length; i++) {
        t[i] = b;
        const c = this.text.charCodeAt(i);
        if (c < 0x80) b += 1;
        else if (c < 0x800) b += 2;
        else if (c >= 0xd800 && c <= 0xdbff) {
          // surrogate pair: 4 bytes for the pair, counted on the high half
          b += 4;
          t[i + 1] = b;
          i++;
          continue;
        } else b += 3;
      }
      t[this.text.length] = b;
      this.byteAt = t;
    }
    return this.byteAt;
  }
  byteOffset(charIndex: number): number {
    return this.ascii ? charIndex : this.table()[charIndex];
  }
  charIndex(byteOffset: number): number {
    if (this.ascii) return byteOffset;
    const t = this.table();
    let lo = 0;
    let hi = this.text.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (t[mid] < byteOffset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** First and last significant characters in [from, to), and the comments before the first. */
function significant(
  s: string,
  from: number,
  to: number,
): { start: number; end: number; comments: string[] } | undefined {
  const comments: string[] = [];
  let start = -1;
  let end = -1;
  let i = from;
  // Fast path: skip the leading white space and comments; when no comment can follow, the
  // statement ends at its last character that is not a semicolon or white space. Tokenizing the
  // whole statement (below) is only needed to leave out trailing comments.
  while (i < to) {
    const tEnd = nextToken(s, i, to);
    if (tokKind === 'comment') comments.push(s.slice(i, tEnd));
    else if (tokKind !== 'ws' && tokKind !== 'semi') break;
    i = tEnd;
  }
  if (i >= to) return undefined;
  end = to;
  while (end > i && (s.charCodeAt(end - 1) === 59 || isSpace(s.charCodeAt(end - 1)))) end--;
  const text = s.slice(i, end); // (a slice: no copy; indexOf on s would search the whole rest of the file)
  if (!text.includes('--') && !text.includes('/*')) return { start: i, end, comments };
  end = -1;
  i = from;
  comments.length = 0;
  while (i < to) {
    const tEnd = nextToken(s, i, to);
    const kind = tokKind;
    if (kind === 'comment') {
      if (start < 0) comments.push(s.slice(i, tEnd));
    } else if (kind !== 'ws' && kind !== 'semi') {
      if (start < 0) start = i;
      end = tEnd;
    } else if (kind === 'semi' && start >= 0) {
      end = tEnd; // an inner semicolon (BEGIN ATOMIC bodies) belongs to the statement
    }
    i = tEnd;
  }
  if (start < 0) return undefined;
  // a trailing semicolon is not part of the statement
  while (end > start && (s.charCodeAt(end - 1) === 59 || isSpace(s.charCodeAt(end - 1)))) end--;
  return { start, end, comments };
}

/** Lexical split: [charStart, charEnd) ranges between top-level semicolons. */
export function lexicalRanges(s: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let segStart = 0;
  let i = 0;
  const n = s.length;
  let firstWord: string | undefined;
  let prevWord = '';
  let atomic = 0;
  while (i < n) {
    const tEnd = nextToken(s, i, n);
    const kind = tokKind;
    if (kind === 'word') {
      const w = s.slice(i, tEnd).toUpperCase();
      firstWord ??= w;
      if (atomic > 0) {
        if (w === 'CASE' || (w === 'BEGIN' && prevWord !== 'ATOMIC')) atomic++;
        else if (w === 'END') atomic--;
      } else if (w === 'ATOMIC' && prevWord === 'BEGIN' && firstWord === 'CREATE') atomic = 1;
      prevWord = w;
    } else if (kind === 'semi' && atomic === 0) {
      ranges.push([segStart, i]);
      segStart = tEnd;
      firstWord = undefined;
      prevWord = '';
    }
    i = tEnd;
  }
  ranges.push([segStart, n]);
  return ranges;
}

function build(s: string, map: SourceMap, from: number, to: number, ast?: AstNode): Statement | undefined {
  const sig = significant(s, from, to);
  if (!sig) return undefined;
  const { line, col } = map.position(sig.start);
  const st: Statement = {
    text: s.slice(sig.start, sig.end),
    start: map.byteOffset(sig.start),
    end: map.byteOffset(sig.end),
    line,
    col,
    charStart: sig.start,
    charEnd: sig.end,
    leadingComments: sig.comments,
  };
  if (ast) st.ast = ast;
  return st;
}

/** Splits lexically (no parser). Exported for tests and for files that do not parse. */
export function splitLexically(sql: string, map = new SourceMap(sql)): Statement[] {
  const out: Statement[] = [];
  for (const [a, b] of lexicalRanges(sql)) {
    const st = build(sql, map, a, b);
    if (st) out.push(st);
  }
  return out;
}

/**
 * Splits a file into statements. Uses the parser's locations when the parser is loaded
 * (`await loadParser()`) and the file parses; the lexical splitter otherwise. Both give the same
 * ranges on a file that parses.
 */
export function splitStatements(sql: string): Statement[] {
  const map = new SourceMap(sql);
  if (isParserLoaded()) {
    const r = parseSql(sql);
    if (r.ok) return splitParsed(sql, r.stmts, map);
  }
  return splitLexically(sql, map);
}

/** Statements of a file that parsed, from the parser's statement locations (see splitStatements). */
export function splitParsed(sql: string, stmts: readonly RawStmt[], map = new SourceMap(sql)): Statement[] {
  const out: Statement[] = [];
  let prevEnd = 0; // scan from the previous statement's end so leading comments are kept
  for (const raw of stmts) {
    const b = raw.length === undefined ? sql.length : map.charIndex(raw.location + raw.length);
    const st = build(sql, map, Math.min(prevEnd, map.charIndex(raw.location)), b, raw.stmt);
    if (st) out.push(st);
    prevEnd = b;
  }
  return out;
}
