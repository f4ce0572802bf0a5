/**
 * Migration ids: `<UTC timestamp YYYYMMDDHHMMSS>_<slug>`, slug `[a-z0-9_]+` (DESIGN §1).
 * Timestamps, not sequence numbers, so that two branches never mint the same id.
 */
import { UsageError } from './errors';

export const ID_RE = /^\d{14}_[a-z0-9_]+$/;
export const SLUG_RE = /^[a-z0-9_]+$/;
/** Longest slug `normalizeSlug` produces (ids stay readable and fit in a file name everywhere). */
export const MAX_SLUG_LENGTH = 100;

export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

/** The timestamp part of a well-formed id (`YYYYMMDDHHMMSS`). */
export function idTimestamp(id: string): string {
  return id.slice(0, 14);
}

/** The slug part of a well-formed id. */
export function idSlug(id: string): string {
  return id.slice(15);
}

export interface NormalizeSlugOptions {
  /**
   * Replace characters that cannot be normalised (`/`, `!`, `ß`, emoji, …) by `_` instead of
   * refusing them. `braid new` refuses (the user can retype); importers use this so that any
   * name from another tool survives as a valid id.
   */
  replaceInvalid?: boolean;
  /** What to call the input in an error message (default `slug`). */
  argName?: string;
}

/**
 * Normalises a user-typed name into a slug: lowercase; accents removed (`Café` → `cafe`);
 * spaces, tabs, dashes and dots → `_`; repeated `_` collapsed; leading/trailing `_` trimmed;
 * cut to MAX_SLUG_LENGTH. Throws UsageError naming the argument when a character cannot be
 * normalised (unless `replaceInvalid`) or when nothing is left.
 */
export function normalizeSlug(input: string, opts: NormalizeSlugOptions = {}): string {
  const argName = opts.argName ?? 'slug';
  let s = input
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[\s\-.]+/g, '_');
  const bad = s.match(/[^a-z0-9_]/u);
  if (bad) {
    if (!opts.replaceInvalid) {
      throw new UsageError(
        'invalid-slug',
        `${argName} ${JSON.stringify(input)}: character ${JSON.stringify(bad[0])} is not allowed (use letters, digits, spaces, '-', '_')`,
        { data: { argument: argName, value: input } },
      );
    }
    s = s.replace(/[^a-z0-9_]/gu, '_');
  }
  s = s.replace(/_+/g, '_').replace(/^_+|_+$/g, '');
  if (s.length > MAX_SLUG_LENGTH) s = s.slice(0, MAX_SLUG_LENGTH).replace(/_+$/, '');
  if (s === '') {
    throw new UsageError(
      'invalid-slug',
      `${argName} ${JSON.stringify(input)}: nothing usable is left after normalisation (use letters or digits)`,
      { data: { argument: argName, value: input } },
    );
  }
  return s;
}

/** `YYYYMMDDHHMMSS` in UTC. */
export function formatTimestamp(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new UsageError('invalid-date', `invalid date: ${String(date)}`);
  const y = date.getUTCFullYear();
  if (y < 1000 || y > 9999) {
    throw new UsageError('invalid-date', `date ${date.toISOString()} is outside the years 1000-9999`);
  }
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    String(y) +
    p(date.getUTCMonth() + 1) +
    p(date.getUTCDate()) +
    p(date.getUTCHours()) +
    p(date.getUTCMinutes()) +
    p(date.getUTCSeconds())
  );
}

/**
 * Parses `YYYYMMDDHHMMSS` (UTC). Returns undefined when the digits are not a real date
 * (month 13, …), which imported or hand-made ids may contain.
 */
export function parseTimestamp(ts: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(ts);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return formatTimestamp(date) === ts ? date : undefined;
}

/**
 * A new id for `slug` at time `now` that does not collide with `existing`. The timestamp is
 * `now` (UTC, to the second) unless that timestamp is already used by any existing id or does
 * not sort after the newest existing timestamp: then it moves to one second after the newest
 * (so two `braid new` in the same second get distinct ids, and a new id always sorts last).
 */
export function mintId(slug: string, now: Date, existing: Iterable<string>): string {
  const s = normalizeSlug(slug);
  let newest: string | undefined;
  const taken = new Set<string>();
  for (const id of existing) {
    const ts = /^\d{14}(?=_|$)/.exec(id)?.[0];
    if (ts === undefined) continue;
    taken.add(ts);
    if (newest === undefined || ts > newest) newest = ts;
  }
  let ts = formatTimestamp(now);
  if (newest !== undefined && ts <= newest) {
    const base = parseTimestamp(newest);
    if (base) {
      ts = formatTimestamp(new Date(base.getTime() + 1000));
    } else {
      // The newest timestamp is not a real date: count upward as a 14-digit number.
      ts = String(BigInt(newest) + 1n).padStart(14, '0');
    }
  }
  while (taken.has(ts)) {
    const d = parseTimestamp(ts);
    ts = d ? formatTimestamp(new Date(d.getTime() + 1000)) : String(BigInt(ts) + 1n).padStart(14, '0');
  }
  if (ts.length !== 14) throw new UsageError('id-space-exhausted', `cannot mint an id after ${newest ?? ts}`);
  return `${ts}_${s}`;
}
