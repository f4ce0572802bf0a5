/**
 * Analysis of a SQL file: split, parse, and for each statement its footprint, locks, the
 * search_path in effect and the suppressions (`-- braid:ignore <rule-id> <reason>`) attached to
 * it. Requires the parser (`await loadParser()`).
 */
import { kindOf } from './ast';
import { footprint, searchPathAfter, type Footprint, type FootprintOptions } from './footprint';
import { classify, type ClassifyOptions, type ColumnTypeLookup, type LockInfo } from './locks';
import { parseSql } from './parser';
import { SourceMap, splitLexically, splitParsed, type Statement } from './split';

export interface Suppression {
  rules: string[];
  /** Empty when none was given (that is itself a finding). */
  reason: string;
  line: number;
  col: number;
}

export interface AnalyzedStatement extends Statement {
  index: number;
  /** Parser node type (CreateStmt, AlterTableStmt, ...); '' when the statement does not parse. */
  kind: string;
  footprint: Footprint;
  locks: LockInfo;
  searchPath: string[];
  suppressions: Suppression[];
}

export interface SyntaxErrorInfo {
  message: string;
  line: number;
  col: number;
}

export interface AnalyzedFile {
  path: string;
  text: string;
  statements: AnalyzedStatement[];
  syntaxErrors: SyntaxErrorInfo[];
  /** Suppressions at the top of the file (before the first statement): apply to the whole file. */
  fileSuppressions: Suppression[];
  /** `-- braid:<directive>` words found in the file's header comments (no-transaction, irreversible, ...). */
  directives: Set<string>;
}

export interface AnalyzeOptions {
  pgVersion?: number;
  searchPath?: string[];
  /** Column types known from earlier migrations (ALTER TYPE rewrite decisions). */
  columnType?: ColumnTypeLookup;
  /** Analyse CREATE FUNCTION bodies in footprints (default true; see FootprintOptions). */
  functionBodies?: boolean;
  /** Collect footprints' reads (default true; see FootprintOptions). */
  reads?: boolean;
}

// Like core's directives, a suppression starts its comment: `-- braid:ignore …` or `/* braid:ignore … */`
// (so prose or examples inside a comment, such as `--   -- braid:ignore …`, do not count).
const IGNORE_RE = /^(?:--|\/\*)\s*braid:ignore(?:\s+([a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*))?[ \t]*([^\n]*)/gm;
const DIRECTIVE_RE = /^--\s*braid:([a-z-]+)/gim;

/** Suppressions in a list of comments, with their positions. */
function suppressionsIn(comments: string[], text: string, map: SourceMap, searchFrom: number): Suppression[] {
  const out: Suppression[] = [];
  let from = searchFrom;
  for (const c of comments) {
    const at = text.indexOf(c, from);
    from = at >= 0 ? at + c.length : from;
    if (!c.includes('braid:')) continue;
    for (const m of c.matchAll(IGNORE_RE)) {
      // groups are undefined when absent (`-- braid:ignore` alone): no rule, no reason
      const groups = m as unknown as Array<string | undefined>;
      const reason = (groups[2] ?? '').replace(/\*\/\s*$/, '').trim();
      const pos = map.position((at >= 0 ? at : 0) + (m.index ?? 0));
      const rules = (groups[1] ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      out.push({ rules, reason, line: pos.line, col: pos.col });
    }
  }
  return out;
}

export function analyzeFile(path: string, text: string, opts: AnalyzeOptions = {}): AnalyzedFile {
  const map = new SourceMap(text);
  const syntaxErrors: SyntaxErrorInfo[] = [];
  let statements: Statement[];
  const whole = parseSql(text);
  if (whole.ok) statements = splitParsed(text, whole.stmts, map);
  else {
    statements = splitLexically(text, map);
    for (const st of statements) {
      const r = parseSql(st.text);
      if (r.ok) {
        if (r.stmts.length === 1) st.ast = r.stmts[0].stmt;
      } else {
        const pos = map.position(st.charStart + (r.position ?? 0));
        syntaxErrors.push({ message: r.message, line: pos.line, col: pos.col });
      }
    }
    if (syntaxErrors.length === 0) {
      const pos = map.position(text.length);
      syntaxErrors.push({ message: whole.message, line: pos.line, col: pos.col });
    }
  }
  let searchPath = opts.searchPath ?? ['public'];
  const analyzed: AnalyzedStatement[] = [];
  let prevEnd = 0;
  const directives = new Set<string>();
  let fileSuppressions: Suppression[] = [];
  // option objects are rebuilt only when the search_path changes (not per statement)
  let fpOpts: FootprintOptions | undefined;
  let clOpts: ClassifyOptions | undefined;
  for (let index = 0; index < statements.length; index++) {
    const st = statements[index];
    const sup = st.leadingComments.length === 0 ? [] : suppressionsIn(st.leadingComments, text, map, prevEnd);
    if (index === 0) {
      fileSuppressions = sup;
      for (const c of st.leadingComments)
        if (c.includes('braid:'))
          for (const m of c.matchAll(DIRECTIVE_RE)) if (m[1] !== 'ignore') directives.add(m[1].toLowerCase());
    }
    if (!fpOpts || fpOpts.searchPath !== searchPath) {
      fpOpts = {
        searchPath,
        ...(opts.functionBodies === false ? { functionBodies: false } : {}),
        ...(opts.reads === false ? { reads: false } : {}),
      };
      clOpts = {
        pgVersion: opts.pgVersion ?? 15,
        searchPath,
        ...(opts.columnType ? { columnType: opts.columnType } : {}),
      };
    }
    const out: AnalyzedStatement = {
      text: st.text,
      start: st.start,
      end: st.end,
      line: st.line,
      col: st.col,
      charStart: st.charStart,
      charEnd: st.charEnd,
      leadingComments: st.leadingComments,
      index,
      kind: kindOf(st.ast),
      footprint: footprint(st.ast, fpOpts),
      locks: classify(st.ast, clOpts),
      searchPath,
      suppressions: index === 0 ? [] : sup,
    };
    if (st.ast) out.ast = st.ast;
    analyzed.push(out);
    searchPath = searchPathAfter(st.ast, searchPath);
    prevEnd = st.charEnd;
  }
  if (statements.length === 0) {
    // comments only: directives and suppressions still count
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('--'));
    for (const l of lines)
      for (const m of l.matchAll(DIRECTIVE_RE)) if (m[1] !== 'ignore') directives.add(m[1].toLowerCase());
    fileSuppressions = suppressionsIn(lines, text, map, 0);
  }
  return { path, text, statements: analyzed, syntaxErrors, fileSuppressions, directives };
}
