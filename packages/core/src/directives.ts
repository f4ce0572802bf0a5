/**
 * Directives: SQL line comments `-- braid:<name> [args]` in the leading comment block of
 * `up.sql` (the blank and `--` comment lines before the first statement).
 *
 *   -- braid:no-transaction           run outside a transaction, statement by statement
 *   -- braid:requires <id> [<id> ...] explicit dependency on EARLIER migrations (may repeat)
 *   -- braid:irreversible             no down.sql; `braid down` refuses
 *   -- braid:ticket <ref> [<ref> ...] tracker references (JIRA-12, #42, a URL); may repeat
 *   -- braid:reason <text>            why the change is made; several lines join with a space
 *   -- braid:batch [size=N|auto] [key=COL] [delay=D|auto] [target=D]
 *                                     run each UPDATE / DELETE / INSERT … SELECT in keyed batches,
 *                                     each its own transaction (implies no-transaction;
 *                                     docs/online.md)
 *
 * Ticket and reason are metadata: `braid history` and `braid changelog` show them.
 * Also accepted and kept verbatim in `others` (their meaning belongs to later features):
 * ignore, timeout, lock-timeout. Any other `braid:` name is an error, so that a
 * typo (`braid:no-transation`) is never silently ignored.
 */
import { UsageError } from './errors';
import { canonicalText } from './hash';
import { isValidId } from './ids';

export interface OtherDirective {
  name: string;
  args: string;
  /** 1-based line in up.sql. */
  line: number;
}

export interface Directives {
  noTransaction: boolean;
  requires: string[];
  irreversible: boolean;
  /** `-- braid:ticket` references, in order of appearance, without duplicates. */
  tickets: string[];
  /** `-- braid:reason` text (several reason lines joined by a space); absent when none. */
  reason?: string;
  /** `-- braid:batch`: its data statements run in keyed batches (the migration is no-transaction). */
  batch?: BatchDirective;
  others: OtherDirective[];
}

export interface BatchDirective {
  /** Keys per batch (`size=N`); adaptive: the first batch's size (1000). */
  size: number;
  /** No `size=` (or `size=auto`): each batch is sized to take about targetMs (docs/online.md). */
  adaptive: boolean;
  /** Adaptive: the duration a batch aims at (ms, `target=`, default 5). */
  targetMs: number;
  /** The key column (unquoted: folded to lower case); absent: the table's one-column primary key. */
  key?: string;
  /** Pause between batches (ms) when `delay=D` is given. */
  delayMs: number;
  /** No `delay=` (or `delay=auto`): the pause is paced on the last batch's duration. */
  pacedDelay: boolean;
  /** 1-based line of the directive in up.sql. */
  line: number;
}

export const BATCH_DEFAULT_SIZE = 1000;
/** Adaptive batches aim at this duration by default (ms). */
export const BATCH_DEFAULT_TARGET_MS = 5;
export const BATCH_MAX_SIZE = 1_000_000;

export const CORE_DIRECTIVES = [
  'no-transaction',
  'requires',
  'irreversible',
  'ticket',
  'reason',
  'batch',
] as const;
export const OTHER_DIRECTIVES = ['ignore', 'timeout', 'lock-timeout', 'destructive'] as const;
/** Every directive name, in the order error messages list them. */
export const KNOWN_DIRECTIVES = [
  'no-transaction',
  'requires',
  'irreversible',
  'ignore',
  'ticket',
  'reason',
  'batch',
  'timeout',
  'lock-timeout',
  'destructive',
] as const;
/** Directives that annotate the statement they precede (lint suppression, generated-SQL flags). */
export const STATEMENT_DIRECTIVES = ['ignore', 'destructive'] as const;

const DIRECTIVE_PREFIX = /^\s*--\s*braid:/i;
const DIRECTIVE_LINE = /^\s*--\s*braid:([A-Za-z0-9_-]*)(?:\s+(.*?))?\s*$/i;

export function emptyDirectives(): Directives {
  return { noTransaction: false, requires: [], irreversible: false, tickets: [], others: [] };
}

/** A ticket reference: printable, no whitespace or comma (they separate refs), at most 200 characters. */
const hasControl = (s: string): boolean =>
  [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
const isTicketRef = (s: string): boolean => s.length <= 200 && !/[\s,]/.test(s) && !hasControl(s);
const REASON_MAX = 2000;

/** Lines (1-based number and text) of the leading comment block of a SQL file. */
function leadingCommentLines(sql: string): { line: number; text: string }[] {
  const lines = canonicalText(sql).split('\n');
  const out: { line: number; text: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i];
    if (text.trim() === '') continue;
    if (!/^\s*--/.test(text)) break;
    out.push({ line: i + 1, text });
  }
  return out;
}

/**
 * Parses the directives of an `up.sql`. `file` names it in errors (`FILE:LINE: reason`,
 * UsageError). Only the leading comment block counts; see `misplacedDirectives` for
 * directive-looking comments further down (which `braid check` reports).
 */
export function parseDirectives(upSql: string, file: string): Directives {
  const d = emptyDirectives();
  const seen = new Set<string>();
  for (const { line, text } of leadingCommentLines(upSql)) {
    if (!DIRECTIVE_PREFIX.test(text)) continue;
    const m = DIRECTIVE_LINE.exec(text);
    if (!m) {
      throw new UsageError(
        'invalid-directive',
        `${file}:${line}: malformed directive ${JSON.stringify(text.trim())} (expected "-- braid:<name> [args]")`,
        { data: { file, line } },
      );
    }
    const name = m[1].toLowerCase();
    const args = m[2] ?? '';
    const fail = (reason: string): never => {
      throw new UsageError('invalid-directive', `${file}:${line}: ${reason}`, {
        data: { file, line, directive: name },
      });
    };
    switch (name) {
      case 'no-transaction':
      case 'irreversible':
        if (args !== '') fail(`braid:${name} takes no arguments (found ${JSON.stringify(args)})`);
        if (seen.has(name)) fail(`braid:${name} is given twice`);
        if (name === 'no-transaction') d.noTransaction = true;
        else d.irreversible = true;
        break;
      case 'requires': {
        const ids = args.split(/[\s,]+/).filter((x) => x !== '');
        if (ids.length === 0) fail('braid:requires needs at least one migration id');
        for (const id of ids) {
          if (!isValidId(id))
            fail(`braid:requires: ${JSON.stringify(id)} is not a migration id (YYYYMMDDHHMMSS_slug)`);
          if (!d.requires.includes(id)) d.requires.push(id);
        }
        break;
      }
      case 'ticket': {
        const refs = args.split(/[\s,]+/).filter((x) => x !== '');
        if (refs.length === 0)
          fail('braid:ticket needs at least one ticket reference (e.g. OPS-12, #42 or a URL)');
        for (const ref of refs) {
          if (!isTicketRef(ref))
            fail(
              `braid:ticket: ${JSON.stringify(ref.slice(0, 60))} is not a ticket reference (printable, at most 200 characters)`,
            );
          if (!d.tickets.includes(ref)) d.tickets.push(ref);
        }
        break;
      }
      case 'reason': {
        const text = args.replace(/\s+/g, ' ').trim();
        if (text === '') fail('braid:reason needs a text (why this change is made)');
        if (hasControl(text)) fail('braid:reason: control characters are not allowed');
        const joined = d.reason === undefined ? text : `${d.reason} ${text}`;
        if (joined.length > REASON_MAX) fail(`braid:reason is longer than ${REASON_MAX} characters`);
        d.reason = joined;
        break;
      }
      case 'batch':
        if (seen.has(name)) fail('braid:batch is given twice');
        d.batch = parseBatchArgs(args, line, fail);
        // a batch commits on its own: the migration runs statement by statement
        d.noTransaction = true;
        break;
      default:
        if ((OTHER_DIRECTIVES as readonly string[]).includes(name)) {
          d.others.push({ name, args, line });
        } else {
          fail(`unknown directive braid:${name || '(empty)'} (known: ${KNOWN_DIRECTIVES.join(', ')})`);
        }
    }
    seen.add(name);
  }
  return d;
}

const KEY_NAME = /^(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")$/;

/** `size=5000 key=id delay=100ms` (any order, each at most once). */
function parseBatchArgs(args: string, line: number, fail: (reason: string) => never): BatchDirective {
  const out: BatchDirective = {
    size: BATCH_DEFAULT_SIZE,
    adaptive: true,
    targetMs: BATCH_DEFAULT_TARGET_MS,
    delayMs: 0,
    pacedDelay: true,
    line,
  };
  const duration = (v: string): number | undefined => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
    const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000) : NaN;
    return m && ms <= 3_600_000 ? Math.round(ms) : undefined;
  };
  const seen = new Set<string>();
  for (const part of args.split(/\s+/).filter((x) => x !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0)
      fail(`braid:batch: expected name=value (size=5000, key=id, delay=100ms), got ${JSON.stringify(part)}`);
    const k = part.slice(0, eq).toLowerCase();
    const v = part.slice(eq + 1);
    if (seen.has(k)) fail(`braid:batch: ${k} is given twice`);
    seen.add(k);
    switch (k) {
      case 'size': {
        if (v.toLowerCase() === 'auto') break;
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > BATCH_MAX_SIZE)
          fail(
            `braid:batch: size must be a whole number from 1 to ${BATCH_MAX_SIZE}, got ${JSON.stringify(v)}`,
          );
        out.size = Number(v);
        out.adaptive = false;
        break;
      }
      case 'key':
        if (!KEY_NAME.test(v))
          fail(`braid:batch: key must be a column name (id, "OrderId"), got ${JSON.stringify(v)}`);
        out.key = v.startsWith('"') ? v.slice(1, -1).replace(/""/g, '"') : v.toLowerCase();
        break;
      case 'delay': {
        if (v.toLowerCase() === 'auto') break;
        const ms = duration(v);
        if (ms === undefined)
          fail(
            `braid:batch: delay must be a duration such as 100ms or 1s (at most 1h), or auto, got ${JSON.stringify(v)}`,
          );
        out.delayMs = ms;
        out.pacedDelay = false;
        break;
      }
      case 'target': {
        const ms = duration(v);
        if (ms === undefined || ms < 1 || ms > 60_000)
          fail(
            `braid:batch: target must be a duration from 1ms to 1m such as 50ms (how long a batch should take), got ${JSON.stringify(v)}`,
          );
        out.targetMs = ms;
        break;
      }
      default:
        fail(`braid:batch: unknown setting ${JSON.stringify(k)} (known: size, key, delay, target)`);
    }
  }
  if (seen.has('target') && !out.adaptive)
    fail('braid:batch: target= sizes adaptive batches: it cannot go with a fixed size= (drop one of them)');
  return out;
}

/**
 * `-- braid:...` comments after the first statement: they are not directives (only the leading
 * comment block counts), which is almost always a mistake worth reporting.
 */
export function misplacedDirectives(upSql: string): { name: string; line: number }[] {
  const lines = canonicalText(upSql).split('\n');
  const leading = new Set(leadingCommentLines(upSql).map((l) => l.line));
  const out: { name: string; line: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (leading.has(i + 1)) continue;
    if (!DIRECTIVE_PREFIX.test(lines[i])) continue;
    const m = DIRECTIVE_LINE.exec(lines[i]);
    const name = m ? m[1].toLowerCase() : lines[i].replace(DIRECTIVE_PREFIX, '').trim();
    // Statement-level annotations belong before their statement, anywhere in the file.
    if ((STATEMENT_DIRECTIVES as readonly string[]).includes(name)) continue;
    out.push({ name, line: i + 1 });
  }
  return out;
}
