import { UsageError } from '../errors';
import { MIGRATIONS_DIR } from '../migration';
import { analyzeSql, unwrapTransaction } from './sqlscan';
import { bookkeepingReferences, bookkeepingWarning } from './bookkeeping';
import { compareBytes } from './common';
import type {
  ImportedMigration,
  ImportOptions,
  ImportOrder,
  ImportResult,
  ImportTool,
  SourceFile,
  SourceMigration,
} from './types';
import { importSlug } from './slug';

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True when `ts` is 14 digits forming a real UTC date-time (years 1970-9999). */
export function isTimestamp(ts: string): boolean {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(ts);
  if (!m) return false;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const max = mo === 2 && !leap ? 28 : DAYS[mo - 1];
  return d <= max;
}

/**
 * The timestamp a source version stands for, if it has one. Its digits once the separators
 * `-`, `_`, `.`, `:`, `T`, `Z` and spaces are removed (and nothing else may remain) must start
 * with a real UTC date-time from 1970 on:
 * - 14 digits or more: the first 14 are `YYYYMMDDHHMMSS` (`2023-01-15-123456`, `20230115123456`,
 *   `2023.01.15.12.34.56`, `2013-12-30T23:49:00Z`, Diesel's `2026-07-30-140000-0000`, whose
 *   version is the 18 digits `202607301400000000`);
 * - exactly 12 digits: `YYYYMMDDHHMM` (seconds 00);
 * - exactly 8 digits: `YYYYMMDD` (midnight).
 * Sequence numbers (`1`, `000002`, `1.1`) and Diesel's `00000000000000` are not dates.
 */
export function timestampFromVersion(version: string): string | undefined {
  const digits = version.replace(/[-_.:TZ ]/g, '');
  if (!/^\d+$/.test(digits)) return undefined;
  const candidate =
    digits.length >= 14
      ? digits.slice(0, 14)
      : digits.length === 12
        ? `${digits}00`
        : digits.length === 8
          ? `${digits}000000`
          : undefined;
  return candidate !== undefined && isTimestamp(candidate) ? candidate : undefined;
}

/** 2000-01-01 and 2100-01-01 in seconds since 1970: the range a Unix-time version is taken as one. */
const UNIX_MIN = 946_684_800;
const UNIX_MAX = 4_102_444_800;

/**
 * golang-migrate's `migrate create -format unix` / `unixNano` versions: 10 digits of seconds or
 * 19 digits of nanoseconds since 1970, taken as a date when it falls in 2000-2099 (a padded
 * sequence number such as `0000000001` does not).
 */
export function timestampFromUnix(digits: string): string | undefined {
  if (!/^[1-9]\d*$/.test(digits) || (digits.length !== 10 && digits.length !== 19)) return undefined;
  const seconds = Number(digits.slice(0, 10));
  if (seconds < UNIX_MIN || seconds >= UNIX_MAX) return undefined;
  return fromSeconds(seconds);
}

function toSeconds(ts: string): number {
  const y = Number(ts.slice(0, 4));
  const mo = Number(ts.slice(4, 6));
  const d = Number(ts.slice(6, 8));
  return (
    Date.UTC(y, mo - 1, d, Number(ts.slice(8, 10)), Number(ts.slice(10, 12)), Number(ts.slice(12, 14))) / 1000
  );
}

function fromSeconds(sec: number): string {
  const iso = new Date(sec * 1000).toISOString(); // 2023-01-15T12:34:56.000Z
  return iso.slice(0, 19).replace(/[-T:]/g, '');
}

/**
 * Id timestamps in source order, strictly increasing: a migration whose source version is a
 * timestamp keeps it, unless it would not sort after the previous one (then previous + 1 s);
 * any other migration gets previous + 1 s. The sequence starts after `after` when given, else
 * after 1970-01-01 00:00:00 (so `1_init`, `2_users` become 19700101000001, 19700101000002).
 */
export function assignTimestamps(candidates: (string | undefined)[], after?: string): string[] {
  let prev = after !== undefined ? toSeconds(after) : 0;
  return candidates.map((c) => {
    const want = c !== undefined ? toSeconds(c) : prev + 1;
    prev = want > prev ? want : prev + 1;
    return fromSeconds(prev);
  });
}

/** A path made safe for a one-line SQL comment. */
function commentSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, '?');
}

interface FilePlan {
  noTransaction: boolean;
  up: string;
  down?: string;
  verify?: string;
}

/**
 * Decides how a migration runs in braid and rewrites its files accordingly:
 * - 'tx' / 'no-tx': the source tool's own flag, files kept as they are;
 * - 'as-is' (golang-migrate, sqitch: the file runs as written): a file with no transaction
 *   control runs in braid's transaction; a file that is one `BEGIN; ... COMMIT;` block has the
 *   BEGIN/COMMIT commented out and runs in braid's transaction (same semantics); anything else
 *   (several blocks, CONCURRENTLY, VACUUM, ...) becomes `no-transaction`, kept verbatim.
 * A verify script always runs inside the migration's transaction: a `BEGIN; ... ROLLBACK;`
 * wrapper is removed; other transaction control in it is refused.
 */
function planFiles(m: SourceMigration, warnings: string[]): FilePlan {
  const up = analyzeSql(m.up.text);
  const down = m.down ? analyzeSql(m.down.text) : undefined;
  let noTransaction: boolean;
  let up2 = m.up.text;
  let down2 = m.down?.text;
  if (m.mode === 'as-is') {
    const needs = (a: ReturnType<typeof analyzeSql>): boolean =>
      a.nonTransactional.length > 0 || (a.txControl.length > 0 && !a.wrapper);
    noTransaction = needs(up) || (down !== undefined && needs(down));
    if (!noTransaction) {
      if (up.wrapper) up2 = unwrapTransaction(up2, up.wrapper);
      if (down?.wrapper && down2 !== undefined) down2 = unwrapTransaction(down2, down.wrapper);
    }
  } else {
    noTransaction = m.mode === 'no-tx';
    if (!noTransaction) {
      for (const [file, a] of [
        [m.up.path, up],
        [m.down?.path, down],
      ] as const) {
        if (!a || !file) continue;
        const bad = a.nonTransactional[0] ?? a.txControl[0];
        if (bad)
          warnings.push(
            `${file}: runs in a transaction (as in the source tool) but contains "${bad.words.slice(0, 4).join(' ')}"; ` +
              'it will fail or commit early exactly as it did there',
          );
      }
    }
  }
  let verify2 = m.verify?.text;
  if (m.verify) {
    const v = analyzeSql(m.verify.text);
    if (v.wrapper) verify2 = unwrapTransaction(m.verify.text, v.wrapper);
    else if (v.txControl.length > 0 || v.nonTransactional.length > 0)
      throw new UsageError(
        'import-verify-transaction',
        `${m.verify.path}: a verify script runs inside the migration's transaction; ` +
          'it may only be wrapped in one BEGIN ... ROLLBACK/COMMIT block',
        { data: { file: m.verify.path } },
      );
  }
  const plan: FilePlan = { noTransaction, up: up2 };
  if (down2 !== undefined) plan.down = down2;
  if (verify2 !== undefined) plan.verify = verify2;
  return plan;
}

/** Source texts without a leading byte-order mark (it would land in the middle of up.sql). */
function withoutBom(m: SourceMigration): SourceMigration {
  const strip = (f: SourceFile | undefined): SourceFile | undefined =>
    f && { ...f, text: f.text.replace(/^\uFEFF/, '') };
  const out: SourceMigration = { ...m, up: strip(m.up)! };
  if (m.down) out.down = strip(m.down);
  if (m.verify) out.verify = strip(m.verify);
  return out;
}

/** Turns parsed source migrations (in apply order) into braid migrations. */
export function assemble(
  tool: ImportTool,
  sources: SourceMigration[],
  warnings: string[],
  options: ImportOptions = {},
): ImportResult {
  if (options.after !== undefined && !isTimestamp(options.after))
    throw new UsageError('import-bad-after', `not a YYYYMMDDHHMMSS timestamp: ${options.after}`);
  const stamps = assignTimestamps(
    sources.map((s) => s.timestamp),
    options.after,
  );
  const ids = sources.map((s, i) => `${stamps[i]}_${importSlug(s.name)}`);
  const migrations = sources.map((s0, i): ImportedMigration => {
    const s = withoutBom(s0);
    for (const f of [s.up, s.down, s.verify]) {
      if (!f) continue;
      const meta = /^[^\S\n]*\\[a-zA-Z!?]\S*/m.exec(f.text);
      if (meta)
        warnings.push(
          `${f.path}: contains the psql meta-command "${meta[0].trim()}", which braid (like any driver) cannot run; edit the imported migration`,
        );
    }
    const plan = planFiles(s, warnings);
    const requires = [...new Set(s.requires.map((r) => ids[r]))];
    const irreversible = s.down === undefined;
    const header: string[] = [];
    if (plan.noTransaction) header.push('-- braid:no-transaction');
    if (requires.length > 0) header.push(`-- braid:requires ${requires.join(' ')}`);
    if (irreversible) header.push('-- braid:irreversible');
    const shown = options.sourceDir ? `${options.sourceDir.replace(/\/+$/, '')}/${s.up.path}` : s.up.path;
    header.push(`-- Imported by braid from ${tool}: ${commentSafe(shown)}`);
    const files: ImportedMigration['files'] = { up: `${header.join('\n')}\n\n${plan.up}` };
    if (plan.down !== undefined) files.down = plan.down;
    if (plan.verify !== undefined) files.verify = plan.verify;
    // Another tool's bookkeeping table: name the source line and the line in the braid file.
    const scanned: [SourceFile | undefined, string | undefined, string, number][] = [
      [s.up, plan.up, 'up.sql', header.length + 1],
      [s.down, plan.down, 'down.sql', 0],
      [s.verify, plan.verify, 'verify.sql', 0],
    ];
    for (const [src, text, name, offset] of scanned) {
      if (!src || text === undefined) continue;
      for (const ref of bookkeepingReferences(text)) {
        const at = `${src.path.replace(/ \(migrate:(up|down), line \d+\)$/, '')}:${(src.line ?? 1) + ref.line - 1}`;
        warnings.push(
          bookkeepingWarning(at, `${MIGRATIONS_DIR}/${ids[i]}/${name}:${offset + ref.line}`, ref),
        );
      }
    }
    const sourceFiles: ImportedMigration['sourceFiles'] = { up: s.up.path };
    if (s.down) sourceFiles.down = s.down.path;
    if (s.verify) sourceFiles.verify = s.verify.path;
    return {
      id: ids[i],
      source: s.source,
      sourceFiles,
      files,
      noTransaction: plan.noTransaction,
      requires,
      irreversible,
      version: s.version,
      ...(s.checksum !== undefined ? { checksum: s.checksum } : {}),
    };
  });
  return { tool, migrations, warnings, order: importOrder(sources, ORDER_RULES[tool]) };
}

/** Each tool's ordering rule, in words (printed with the mapping when it matters). */
export const ORDER_RULES: Record<ImportTool, string> = {
  diesel: 'by version (the folder name up to its first "_", with every "-" removed), compared as text',
  'golang-migrate': 'by version number (the leading digits, as an unsigned 64-bit integer)',
  dbmate: 'by file name (byte order)',
  flyway:
    'versioned migrations by version, compared number by number ("1.9" before "1.10"), then repeatable migrations (R__) by description',
  sqitch: 'in the order of the plan (sqitch.plan)',
};

/** The tool's order (that of `sources`) compared with the byte order of the source names. */
export function importOrder(sources: readonly SourceMigration[], rule: string): ImportOrder {
  const byName = sources.map((s) => s.source).sort(compareBytes);
  const position = new Map<string, number>();
  byName.forEach((n, i) => {
    if (!position.has(n)) position.set(n, i);
  });
  let moved = 0;
  let first: ImportOrder['first'];
  sources.forEach((s, i) => {
    if (byName[i] === s.source) return;
    moved++;
    first ??= { source: s.source, position: i + 1, namePosition: (position.get(s.source) ?? i) + 1 };
  });
  const order: ImportOrder = { rule, differsFromNames: moved > 0, moved };
  if (first) order.first = first;
  return order;
}
