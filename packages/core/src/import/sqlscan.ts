/**
 * A small lexical scan of a SQL file, enough to decide how an imported file must run: it splits
 * top-level statements (outside comments, quoted strings and identifiers, dollar quotes and
 * `BEGIN ATOMIC` bodies) and reads each statement's leading keywords. It is not a parser (core
 * has no parser dependency); it only has to recognise transaction control and the statements
 * PostgreSQL refuses inside a transaction block.
 */

export interface ScannedStatement {
  /** Byte range in the file, from the first keyword to the terminating `;` (inclusive) or the end. */
  start: number;
  end: number;
  /** Upper-case leading words outside comments/strings (at most 12). */
  words: string[];
}

const WORD_RE = /[A-Za-z_][A-Za-z0-9_$]*/y;

export function scanStatements(sql: string): ScannedStatement[] {
  const out: ScannedStatement[] = [];
  let i = 0;
  const n = sql.length;
  let start = -1;
  let words: string[] = [];
  let atomicDepth = 0;
  let sawBegin = false;

  const finish = (end: number): void => {
    if (start >= 0) out.push({ start, end, words });
    start = -1;
    words = [];
    atomicDepth = 0;
    sawBegin = false;
  };

  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
      continue;
    }
    if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (start < 0) start = i;
    if (c === ';' && atomicDepth === 0) {
      finish(i + 1);
      i++;
      continue;
    }
    if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]) && (i < 2 || !/[A-Za-z0-9_]/.test(sql[i - 2]));
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'") {
          if (sql[i + 1] === "'") i += 2;
          else {
            i++;
            break;
          }
        } else i++;
      }
      continue;
    }
    if (c === '"') {
      i++;
      while (i < n) {
        if (sql[i] === '"') {
          if (sql[i + 1] === '"') i += 2;
          else {
            i++;
            break;
          }
        } else i++;
      }
      continue;
    }
    if (c === '$' && (i === 0 || !/[A-Za-z0-9_$]/.test(sql[i - 1]))) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 200));
      if (m) {
        const tag = m[0];
        const close = sql.indexOf(tag, i + tag.length);
        i = close < 0 ? n : close + tag.length;
        continue;
      }
    }
    if (/[A-Za-z_]/.test(c) && (i === 0 || !/[A-Za-z0-9_$]/.test(sql[i - 1]))) {
      WORD_RE.lastIndex = i;
      const m = WORD_RE.exec(sql);
      const w = m ? m[0].toUpperCase() : c.toUpperCase();
      if (words.length < 12) words.push(w);
      // SQL-standard function bodies (CREATE FUNCTION ... BEGIN ATOMIC ... END) contain `;`.
      if (words[0] === 'CREATE') {
        if (w === 'ATOMIC' && sawBegin) atomicDepth++;
        else if (atomicDepth > 0 && w === 'CASE') atomicDepth++;
        else if (atomicDepth > 0 && w === 'END') atomicDepth--;
        sawBegin = w === 'BEGIN';
      }
      i += m ? m[0].length : 1;
      continue;
    }
    i++;
  }
  finish(n);
  return out;
}

export type TxControl = 'begin' | 'commit' | 'rollback' | 'other';

/** The transaction-control kind of a statement, if it is one (SAVEPOINT & co. are not). */
export function txControl(words: string[]): TxControl | undefined {
  const [a, b] = words;
  if (a === 'BEGIN') return b === undefined || b === 'WORK' || b === 'TRANSACTION' ? 'begin' : 'other';
  if (a === 'START' && b === 'TRANSACTION') return words.length === 2 ? 'begin' : 'other';
  if (a === 'COMMIT' || a === 'END') {
    if (b === 'PREPARED') return 'other';
    return b === undefined || b === 'WORK' || b === 'TRANSACTION' ? 'commit' : 'other';
  }
  if (a === 'ROLLBACK' || a === 'ABORT') {
    if (b === 'TO') return undefined; // ROLLBACK TO SAVEPOINT stays inside the transaction
    if (b === 'PREPARED') return 'other';
    return b === undefined || b === 'WORK' || b === 'TRANSACTION' ? 'rollback' : 'other';
  }
  if (a === 'PREPARE' && b === 'TRANSACTION') return 'other';
  return undefined;
}

/** Statements PostgreSQL refuses inside a transaction block. */
export function isNonTransactional(words: string[]): boolean {
  const [a, b, c] = words;
  const head = words.slice(0, 6);
  if (a === 'CREATE' && (b === 'INDEX' || (b === 'UNIQUE' && c === 'INDEX')))
    return head.includes('CONCURRENTLY');
  if (a === 'DROP' && b === 'INDEX') return head.includes('CONCURRENTLY');
  if (a === 'REINDEX')
    return head.includes('CONCURRENTLY') || head.includes('DATABASE') || head.includes('SYSTEM');
  if (a === 'VACUUM') return true;
  if ((a === 'CREATE' || a === 'DROP') && (b === 'DATABASE' || b === 'TABLESPACE')) return true;
  if (a === 'ALTER' && b === 'SYSTEM') return true;
  if (a === 'CREATE' && b === 'SUBSCRIPTION') return true;
  if (a === 'ALTER' && b === 'SUBSCRIPTION') return true;
  if (a === 'DROP' && b === 'SUBSCRIPTION') return true;
  if (a === 'ALTER' && b === 'TABLE' && words.includes('DETACH') && words.includes('CONCURRENTLY'))
    return true;
  return false;
}

export interface FileAnalysis {
  statements: ScannedStatement[];
  /** Statements that cannot run in a transaction block (CONCURRENTLY, VACUUM, ...). */
  nonTransactional: ScannedStatement[];
  /** Transaction-control statements (BEGIN, COMMIT, ROLLBACK, ...). */
  txControl: ScannedStatement[];
  /**
   * When the file is exactly one `BEGIN; ... COMMIT;` (or `... ROLLBACK;`) block with no other
   * transaction control and nothing non-transactional: its first and last statements.
   */
  wrapper?: { begin: ScannedStatement; end: ScannedStatement; endKind: 'commit' | 'rollback' };
}

export function analyzeSql(sql: string): FileAnalysis {
  const statements = scanStatements(sql);
  const nonTransactional = statements.filter((s) => isNonTransactional(s.words));
  const tx = statements.filter((s) => txControl(s.words) !== undefined);
  const result: FileAnalysis = { statements, nonTransactional, txControl: tx };
  const first = statements[0];
  const last = statements[statements.length - 1];
  if (
    first &&
    last &&
    first !== last &&
    tx.length === 2 &&
    tx[0] === first &&
    tx[1] === last &&
    nonTransactional.length === 0 &&
    txControl(first.words) === 'begin'
  ) {
    const endKind = txControl(last.words);
    if (endKind === 'commit' || endKind === 'rollback') result.wrapper = { begin: first, end: last, endKind };
  }
  return result;
}

/**
 * Replaces the wrapper's BEGIN and COMMIT/ROLLBACK statements by comments (line count kept), so
 * that braid's own transaction is the one the file runs in.
 */
export function unwrapTransaction(sql: string, wrapper: NonNullable<FileAnalysis['wrapper']>): string {
  const replace = (text: string, s: ScannedStatement): string => {
    const original = text.slice(s.start, s.end);
    const lines = original.split('\n').length;
    const note = `-- (braid import: "${original.split('\n')[0].trim()}" removed; braid runs this file in its own transaction)`;
    const rest = text.slice(s.end);
    const sameLine = /^[^\S\n]*\S/.test(rest) && !/^[^\S\n]*--/.test(rest);
    return (
      text.slice(0, s.start) +
      note +
      (sameLine ? '\n' : '') +
      '\n'.repeat(lines - 1) +
      (sameLine ? rest.replace(/^[^\S\n]+/, '') : rest)
    );
  };
  // End first: it lies after the begin, so the begin's offsets stay valid.
  return replace(replace(sql, wrapper.end), wrapper.begin);
}
