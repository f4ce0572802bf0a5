/**
 * `braid test` results (pure): the categories of a migration's round trip, the object diff in
 * words ("down.sql leaves index users_email_idx"), and the renderings: text, markdown, JUnit XML.
 * The round trip itself runs in @braid/pg (roundtrip.ts); the command wires them (cli test.ts).
 */
import { diffWordsWithSpace, structuredPatch } from 'diff';
import type { ObjectChange, SchemaDiff } from './schema';
import type { PlanSummary } from './plans';

/**
 * The outcome of one step of a round trip. A migration's `status` is the first thing that went
 * wrong in execution order (up, down, re-up); every problem found is listed in `problems`.
 */
export type TestCategory =
  'ok' | 'irreversible' | 'up-fails' | 'down-fails' | 'down-differs' | 'reup-fails' | 'reup-differs';

export const FAILING_CATEGORIES: readonly TestCategory[] = [
  'up-fails',
  'down-fails',
  'down-differs',
  'reup-fails',
  'reup-differs',
];

export function isFailing(c: TestCategory): boolean {
  return FAILING_CATEGORIES.includes(c);
}

export interface TestProblem {
  category: Exclude<TestCategory, 'ok' | 'irreversible'>;
  /** One line: `.migrations/<id>/down.sql:3:1: relation "x" does not exist (SQLSTATE 42P01)`. */
  message: string;
  file?: string;
  line?: number;
  column?: number;
  sqlstate?: string;
  /** Source line, caret, detail, hint (for a failed statement). */
  snippet?: string[];
  /** The differences in words, one per line (for *-differs). */
  differences?: string[];
  /** The raw object diff (for *-differs). */
  changes?: ObjectChange[];
}

/** What a migration's up.sql did on the shadow (measured, not predicted). */
export interface MeasuredImpact {
  /** Duration of up.sql (and verify.sql) in milliseconds. */
  upMs: number;
  /** Tables (and materialized views) whose storage was rewritten (relfilenode changed). */
  rewritten: string[];
  /** Indexes built (new, or rebuilt: relfilenode changed). */
  indexesBuilt: string[];
  /**
   * Strongest lock up.sql took on each table that existed before it (observed in pg_locks while
   * the migration's transaction is open), beside the static analysis' prediction.
   */
  locks?: { table: string; observed: string | null; predicted: string | null }[];
  /** Where observation and static analysis disagree, in words. */
  disagreements?: string[];
}

/** What a migration did to seeded data (`braid test --seed ROWS`). Data loss is flagged, not failed. */
export interface DataReport {
  /** Tables filled with generated rows before this migration (they were empty). */
  seeded: string[];
  /** Tables that could not be filled (a CHECK, a type braid cannot generate, …) and why. */
  notSeeded: { table: string; reason: string }[];
  /** What up.sql did to existing rows: "up.sql drops column users.phone holding 100 values". */
  lost: string[];
  /** What down.sql cannot give back: "down.sql does not restore the 100 values of column users.phone". */
  notRestored: string[];
  /**
   * With --stats-from: how each table seeded here was shaped (rows, and per column the null
   * fraction and distinct count used; `source` says whether the stats source knew the table).
   */
  shape?: SeedShape[];
}

/** What `--stats-from` made of one table (numbers only: the stats source's values are never read). */
export interface SeedShape {
  table: string;
  rows: number;
  source: 'stats' | 'default';
  columns: { column: string; nullFrac: number; distinct: number | null; width: number | null }[];
  /** The shaped insert failed (a CHECK…) and the table was filled with the plain generator. */
  fallback?: string;
}

export interface MigrationTestResult {
  id: string;
  status: TestCategory;
  problems: TestProblem[];
  /** Duration of the whole round trip in milliseconds. */
  ms: number;
  /** How the run continued after a problem, and other remarks. */
  notes: string[];
  impact?: MeasuredImpact;
  /** With --seed: what the migration did to the data. */
  data?: DataReport;
  /** With --seed: up.sql loses data, or down.sql cannot restore it (a flag, not a failure). */
  dataLosing?: boolean;
  /** With --queries: plan changes of those queries between before and after up.sql (a flag). */
  planChanges?: string[];
  /** With --queries: each query's plan after up.sql (null: it did not plan). */
  plans?: { label: string; plan: PlanSummary | null }[];
  /**
   * With --queries and stored baselines (.migrations/<id>/.plans.json): how the plans after
   * up.sql differ from the baseline (`plan-changed-vs-baseline`, a failure: exit 1).
   */
  baselineChanges?: string[];
  /**
   * This migration's problems follow from an earlier migration whose up.sql failed (it uses what
   * that one would have created): a consequence, not a finding of its own.
   */
  consequenceOf?: string;
  /**
   * Tables whose columns down.sql restored in another order (a dropped column re-added last), in
   * words. Not a failure: PostgreSQL cannot reorder columns.
   */
  columnOrder?: string[];
}

export interface EngineRun {
  /** 'pglite' (in-process) or 'postgres' (a server). */
  engine: 'pglite' | 'postgres';
  /** e.g. "18.0" or "15.14". */
  serverVersion: string;
  serverVersionNum: number;
  /** Migrations applied (up only) before the first tested one. */
  prefix: number;
  results: MigrationTestResult[];
  ms: number;
  /** How many times the shadow was rebuilt after a round trip that left it in another state. */
  rebuilds?: number;
  /** A server's host:port/database (no credentials), which tells two servers of a matrix apart. */
  where?: string;
}

export interface TestReport {
  /** How the migrations were chosen: "all", "ids", "since <ref>", "not on protected <ref>". */
  selection: string;
  tested: string[];
  runs: EngineRun[];
  ok: boolean;
}

/** PostgreSQL version text from server_version_num (150014 -> "15.14", 180000 -> "18.0"). */
export function versionText(num: number): string {
  return `${Math.floor(num / 10000)}.${num % 10000}`;
}

/** The first failing category of a list of problems in execution order, else ok/irreversible. */
export function statusOf(problems: readonly TestProblem[], irreversible: boolean): TestCategory {
  if (problems.length > 0) return problems[0].category;
  return irreversible ? 'irreversible' : 'ok';
}

export function reportOk(runs: readonly EngineRun[]): boolean {
  return runs.every((r) => r.results.every((m) => !isFailing(m.status) && !m.baselineChanges?.length));
}

// ---------------------------------------------------------------------------------------------
// The object diff in words

/** `public.users` -> `users` (the default schema is left out of messages). */
export function displayKey(key: string): string {
  return key.startsWith('public.') ? key.slice('public.'.length) : key;
}

function value(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return v.length > 100 ? `${v.slice(0, 97)}…` : v;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  const s = JSON.stringify(v);
  return s.length > 100 ? `${s.slice(0, 97)}…` : s;
}

const SUB_LABEL: Record<string, string> = {
  columns: 'column',
  constraints: 'constraint',
  checks: 'check',
};

/**
 * Differences between the schema before up.sql (`before`) and after down.sql (`after`), in words:
 * "down.sql leaves index users_email_idx", "down.sql does not restore column users.phone",
 * "down.sql restores users.status default 'new'::text as NULL".
 */
export function describeDownDiff(d: SchemaDiff): string[] {
  return describe(d, {
    added: (what) => `down.sql leaves ${what}`,
    removed: (what) => `down.sql does not restore ${what} (it existed before up.sql)`,
    changed: (what, field, from, to) => `down.sql restores ${what}${field} ${from} as ${to}`,
    nullability: (what, notNull) =>
      `down.sql leaves ${what} ${notNull ? 'NOT NULL (it was nullable before up.sql)' : 'nullable (it was NOT NULL before up.sql)'}`,
    changedText: (what, field) =>
      `down.sql restores ${what}${field} differently (- before up.sql, + after down.sql):`,
  });
}

/** Differences between the schema after up.sql (`before`) and after down + up again (`after`). */
export function describeReupDiff(d: SchemaDiff): string[] {
  return describe(d, {
    added: (what) => `up.sql again leaves an extra ${what}`,
    removed: (what) => `up.sql again does not create ${what}`,
    changed: (what, field, from, to) => `up.sql again gives ${what}${field} ${to} instead of ${from}`,
    nullability: (what, notNull) =>
      `up.sql again leaves ${what} ${notNull ? 'NOT NULL (the first up.sql left it nullable)' : 'nullable (the first up.sql made it NOT NULL)'}`,
    changedText: (what, field) =>
      `up.sql again gives ${what}${field} differently (- after the first up.sql, + after the second):`,
  });
}

interface Phrases {
  added: (what: string) => string;
  removed: (what: string) => string;
  changed: (what: string, field: string, from: string, to: string) => string;
  /** A column's NOT NULL that differs: `notNull` is what it is now. */
  nullability: (what: string, notNull: boolean) => string;
  /** The headline of a text that differs (a definition, a body), followed by its diff. */
  changedText: (what: string, field: string) => string;
}

/** Lines of a text diff shown under a difference, at most (the rest is counted). */
const TEXT_DIFF_LINES = 40;
/** Characters of unchanged text shown around a change in a one-line text. */
const WORD_CONTEXT = 30;

/** A text is shown as a diff when cutting it at 100 characters could hide the difference. */
function isLongText(from: unknown, to: unknown): from is string {
  return (
    typeof from === 'string' &&
    typeof to === 'string' &&
    (from.length > 100 || to.length > 100 || from.includes('\n') || to.includes('\n'))
  );
}

/**
 * The difference between two texts, indented under its headline: a unified diff with one line
 * of context per hunk (`@@ line N @@`, then ` `, `-` and `+` lines) for multi-line texts (view
 * definitions, function bodies), the changed words with some context (`[-old-]{+new+}`) for a
 * one-line text. Whitespace counts: a body that differs only in indentation is a different body.
 */
export function textDiff(from: string, to: string): string[] {
  const out: string[] = [];
  if (from.includes('\n') || to.includes('\n')) {
    const nl = (t: string) => (t.endsWith('\n') ? t : `${t}\n`);
    const patch = structuredPatch('', '', nl(from), nl(to), '', '', { context: 1 });
    for (const h of patch.hunks) {
      out.push(`  @@ line ${h.oldStart} @@`);
      for (const l of h.lines) out.push(`  ${l[0]} ${l.slice(1)}`);
    }
  } else {
    let line = '';
    const parts = diffWordsWithSpace(from, to);
    parts.forEach((part, i) => {
      if (part.added) line += `{+${part.value}+}`;
      else if (part.removed) line += `[-${part.value}-]`;
      else {
        const v = part.value;
        const head = i === 0 ? '' : v.slice(0, WORD_CONTEXT);
        const tail = i === parts.length - 1 ? '' : v.slice(-WORD_CONTEXT);
        line += v.length <= 2 * WORD_CONTEXT ? v : `${head}…${tail}`;
      }
    });
    out.push(`  ${line}`);
  }
  if (out.length > TEXT_DIFF_LINES) {
    const more = out.length - TEXT_DIFF_LINES;
    out.length = TEXT_DIFF_LINES;
    out.push(`  … ${more} more line${more === 1 ? '' : 's'}`);
  }
  if (from.replace(/\s+/g, ' ').trim() === to.replace(/\s+/g, ' ').trim()) {
    out.push(
      '  (only whitespace differs: the same code, laid out differently; PostgreSQL keeps a function body or a CHECK as written, so pg_dump and braid see another text)',
    );
  } else if (from.replace(TIMESTAMP_LITERAL, "'…'") === to.replace(TIMESTAMP_LITERAL, "'…'")) {
    out.push(
      "  (only timestamps differ: the definition holds the moment it was created — 'now'::timestamp and similar literals are evaluated when the object is created; now() or CURRENT_TIMESTAMP is evaluated when it runs)",
    );
  }
  return out;
}

/** A timestamp literal as PostgreSQL prints a folded 'now' ('2026-12-07 12:40:06.867046'). */
const TIMESTAMP_LITERAL = /'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d(?::?\d\d)?)?'/g;

function describe(d: SchemaDiff, p: Phrases): string[] {
  const out: string[] = [];
  for (const ch of d.changes) {
    const obj = `${ch.kind} ${displayKey(ch.key)}`;
    if (ch.action === 'added') {
      out.push(p.added(obj));
      continue;
    }
    if (ch.action === 'removed') {
      out.push(p.removed(obj));
      continue;
    }
    for (const f of ch.fields) {
      const parts = f.path.split('.');
      const sub = parts.length >= 2 ? SUB_LABEL[parts[0]] : undefined;
      if (sub) {
        const name = `${displayKey(ch.key)}.${parts[1]}`;
        const rest = parts.slice(2).join('.');
        if (rest === '') {
          if (f.from === null) out.push(p.added(`${sub} ${name}`));
          else if (f.to === null) out.push(p.removed(`${sub} ${name}`));
          else out.push(p.changed(`${sub} ${name}`, '', value(f.from), value(f.to)));
        } else if (isLongText(f.from, f.to)) {
          out.push(p.changedText(name, ` ${rest}`), ...textDiff(f.from, f.to as string));
        } else if (rest === 'notNull' && typeof f.to === 'boolean') {
          out.push(p.nullability(name, f.to));
        } else {
          out.push(p.changed(name, ` ${rest}`, value(f.from), value(f.to)));
        }
      } else if (isLongText(f.from, f.to)) {
        out.push(p.changedText(obj, ` ${f.path}`), ...textDiff(f.from, f.to as string));
      } else {
        out.push(p.changed(obj, ` ${f.path}`, value(f.from), value(f.to)));
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Renderings

function engineName(r: EngineRun): string {
  return `${r.engine === 'pglite' ? 'PGlite' : 'PostgreSQL server'} ${r.serverVersion}`;
}

/** Engine names of several runs, each with its server's address when two would read the same. */
function engineNames(runs: readonly EngineRun[]): string[] {
  const names = runs.map(engineName);
  return names.map((n, i) =>
    names.filter((x) => x === n).length > 1 && runs[i].where ? `${n} (${runs[i].where})` : n,
  );
}

export interface Counts {
  total: number;
  ok: number;
  irreversible: number;
  /** Failing migrations that are findings of their own (not consequences). */
  failed: number;
  /** Failing migrations whose problems follow from an earlier failed up.sql. */
  consequences: number;
  /** Categories of the `failed` ones (and ok/irreversible). */
  byCategory: Partial<Record<TestCategory, number>>;
}

export function countResults(results: readonly MigrationTestResult[]): Counts {
  const c: Counts = {
    total: results.length,
    ok: 0,
    irreversible: 0,
    failed: 0,
    consequences: 0,
    byCategory: {},
  };
  for (const r of results) {
    if (isFailing(r.status) && r.consequenceOf) {
      c.consequences++;
      continue;
    }
    c.byCategory[r.status] = (c.byCategory[r.status] ?? 0) + 1;
    if (r.status === 'ok') c.ok++;
    else if (r.status === 'irreversible') c.irreversible++;
    else c.failed++;
  }
  return c;
}

/** The status as shown: `up-fails` or, for a follow-on failure, `up-fails (consequence of <id>)`. */
function statusLabel(r: MigrationTestResult): string {
  return isFailing(r.status) && r.consequenceOf
    ? `${r.status} (consequence of ${r.consequenceOf})`
    : r.status;
}

function summaryLine(r: EngineRun): string {
  const c = countResults(r.results);
  const parts = [`${c.ok} ok`];
  if (c.irreversible) parts.push(`${c.irreversible} irreversible`);
  const losing = r.results.filter((x) => x.dataLosing).length;
  if (losing) parts.push(`${losing} data-losing`);
  const vsBaseline = r.results.filter((x) => x.baselineChanges?.length).length;
  if (vsBaseline) parts.push(`${vsBaseline} plan-changed-vs-baseline`);
  if (c.failed) {
    const cats = FAILING_CATEGORIES.filter((k) => c.byCategory[k]).map((k) => `${c.byCategory[k]} ${k}`);
    parts.push(`${c.failed} failed (${cats.join(', ')})`);
  }
  if (c.consequences) {
    parts.push(`${c.consequences} more failed as consequences of ${c.failed === 1 ? 'it' : 'those'}`);
  }
  return `${c.total} migration${c.total === 1 ? '' : 's'} tested on ${engineName(r)}: ${parts.join(', ')} in ${(r.ms / 1000).toFixed(1)} s`;
}

function impactText(i: MeasuredImpact): string {
  const parts = [`up ${i.upMs.toFixed(0)} ms`];
  if (i.rewritten.length) parts.push(`rewrote ${i.rewritten.map(displayKey).join(', ')}`);
  if (i.indexesBuilt.length) parts.push(`built ${i.indexesBuilt.map(displayKey).join(', ')}`);
  const locks = (i.locks ?? []).filter((l) => l.observed);
  if (locks.length)
    parts.push(`locked ${locks.map((l) => `${displayKey(l.table)} ${l.observed}`).join(', ')}`);
  for (const d of i.disagreements ?? []) parts.push(`disagrees with static analysis: ${d}`);
  return parts.join('; ');
}

/** Terminal text: one line per migration, its problems indented under it, a summary per engine. */
export function renderTestText(report: TestReport, opts: { impact?: boolean } = {}): string[] {
  const lines: string[] = [];
  if (report.tested.length === 0) {
    lines.push(`nothing to test (${report.selection})`);
    return lines;
  }
  const headers = engineNames(report.runs);
  for (const [ri, run] of report.runs.entries()) {
    if (report.runs.length > 1) lines.push(`== ${headers[ri]} ==`);
    if (run.prefix > 0)
      lines.push(`(${run.prefix} earlier migration${run.prefix === 1 ? '' : 's'} applied first, not tested)`);
    const width = Math.max(...run.results.map((r) => r.status.length), 2);
    for (const r of run.results) {
      const tag = r.status.padEnd(width);
      const more = r.problems.slice(1).map((p) => p.category);
      const extra = more.length ? ` (also ${[...new Set(more)].join(', ')})` : '';
      const consequence =
        isFailing(r.status) && r.consequenceOf ? ` — a consequence of ${r.consequenceOf}` : '';
      lines.push(
        `${tag}  ${r.id}${extra}${consequence}${r.status === 'irreversible' ? ' — declared irreversible, down skipped' : ''}`,
      );
      for (const p of r.problems) {
        lines.push(`    ${p.category}: ${p.message}`);
        for (const s of p.snippet ?? []) lines.push(`    ${s}`);
        for (const d of p.differences ?? []) lines.push(`      ${d}`);
      }
      for (const d of r.columnOrder ?? []) lines.push(`    column-order: ${d}`);
      for (const d of r.data?.lost ?? []) lines.push(`    data-losing: ${d}`);
      for (const d of r.data?.notRestored ?? []) lines.push(`    data-losing: ${d}`);
      for (const d of r.planChanges ?? []) lines.push(`    plan-change: ${d}`);
      for (const d of r.baselineChanges ?? []) lines.push(`    plan-changed-vs-baseline: ${d}`);
      for (const n of r.notes) lines.push(`    note: ${n}`);
      if (opts.impact && r.impact) lines.push(`    measured: ${impactText(r.impact)}`);
    }
    lines.push(summaryLine(run));
  }
  lines.push(...engineMatrix(report.runs));
  return lines;
}

/**
 * With several engines: a matrix of the migrations whose outcome differs between them (one row
 * each, one column per engine), or one line saying that every outcome agrees.
 */
export function engineMatrix(runs: readonly EngineRun[]): string[] {
  if (runs.length < 2) return [];
  const rows = matrixRows(runs);
  const names = engineNames(runs);
  if (rows.length === 0)
    return [`engines agree: every migration has the same outcome on ${names.join(' and ')}`];
  const idWidth = Math.max('migration'.length, ...rows.map((r) => r.id.length));
  const widths = names.map((n, i) => Math.max(n.length, ...rows.map((r) => r.cells[i].length)));
  const line = (first: string, cells: string[]) =>
    `  ${first.padEnd(idWidth)}  ${cells.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd();
  return [
    `engine matrix: ${rows.length} migration${rows.length === 1 ? ' differs' : 's differ'} between engines`,
    line('migration', names),
    ...rows.map((r) => line(r.id, r.cells)),
  ];
}

function outcome(r: MigrationTestResult | undefined): string {
  if (!r) return 'not run';
  return r.consequenceOf && isFailing(r.status) ? `${r.status} (consequence)` : r.status;
}

function matrixRows(runs: readonly EngineRun[]): { id: string; cells: string[] }[] {
  const ids = [...new Set(runs.flatMap((run) => run.results.map((r) => r.id)))];
  const out: { id: string; cells: string[] }[] = [];
  for (const id of ids) {
    const cells = runs.map((run) => outcome(run.results.find((r) => r.id === id)));
    if (new Set(cells).size > 1) out.push({ id, cells });
  }
  return out;
}

/** Migrations whose category differs between engines, in words. */
export function engineDifferences(runs: readonly EngineRun[]): string[] {
  if (runs.length < 2) return [];
  const out: string[] = [];
  const ids = runs[0].results.map((r) => r.id);
  for (const id of ids) {
    const cats = runs.map((run) => ({ run, cat: run.results.find((r) => r.id === id)?.status }));
    if (new Set(cats.map((c) => c.cat)).size > 1) {
      out.push(`${id}: ${cats.map((c) => `${c.cat ?? 'not run'} on ${engineName(c.run)}`).join(', ')}`);
    }
  }
  return out;
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Markdown: a matrix (migration × engine) and the details of every problem. */
export function renderTestMarkdown(report: TestReport): string {
  const out: string[] = ['## braid test', ''];
  if (report.tested.length === 0) {
    out.push(`Nothing to test (${report.selection}).`, '');
    return out.join('\n');
  }
  out.push(
    `${report.ok ? '✅ every round trip passed' : '❌ some round trips failed'} — ${report.tested.length} migration${report.tested.length === 1 ? '' : 's'} (${report.selection})`,
    '',
  );
  out.push(`| migration | ${engineNames(report.runs).join(' | ')} |`);
  out.push(`| --- | ${report.runs.map(() => '---').join(' | ')} |`);
  for (const id of report.tested) {
    const cells = report.runs.map((run) => {
      const r = run.results.find((x) => x.id === id);
      if (!r) return 'not run';
      const tag = isFailing(r.status)
        ? r.consequenceOf
          ? `${r.status} (consequence of \`${r.consequenceOf}\`)`
          : `**${r.status}**`
        : r.status;
      const flags = [
        ...(r.dataLosing ? ['data-losing'] : []),
        ...(r.baselineChanges?.length ? ['**plan-changed-vs-baseline**'] : []),
      ];
      return flags.length ? `${tag} (${flags.join(', ')})` : tag;
    });
    out.push(`| \`${id}\` | ${cells.join(' | ')} |`);
  }
  out.push('');
  for (const run of report.runs) {
    const failing = run.results.filter(
      (r) =>
        r.problems.length > 0 ||
        r.notes.length > 0 ||
        (r.columnOrder ?? []).length > 0 ||
        r.dataLosing ||
        (r.planChanges ?? []).length > 0 ||
        (r.baselineChanges ?? []).length > 0,
    );
    if (failing.length === 0) continue;
    out.push(`### ${engineName(run)}`, '');
    for (const r of failing) {
      out.push(`- \`${r.id}\` — **${statusLabel(r)}**`);
      for (const p of r.problems) {
        out.push(`  - ${p.category}: ${mdEscape(p.message)}`);
        for (const d of p.differences ?? []) out.push(`    - ${mdEscape(d)}`);
      }
      for (const d of r.columnOrder ?? []) out.push(`  - column-order: ${mdEscape(d)}`);
      for (const d of [...(r.data?.lost ?? []), ...(r.data?.notRestored ?? [])])
        out.push(`  - data-losing: ${mdEscape(d)}`);
      for (const d of r.planChanges ?? []) out.push(`  - plan-change: ${mdEscape(d)}`);
      for (const d of r.baselineChanges ?? []) out.push(`  - **plan-changed-vs-baseline**: ${mdEscape(d)}`);
      for (const n of r.notes) out.push(`  - note: ${mdEscape(n)}`);
    }
    out.push('');
  }
  for (const run of report.runs) out.push(`- ${summaryLine(run)}`);
  const diffs = engineDifferences(report.runs);
  for (const d of diffs) out.push(`- engine difference: ${mdEscape(d)}`);
  out.push('');
  return out.join('\n');
}

/** XML text escape (also for attributes); drops characters XML 1.0 cannot hold. */
export function xmlEscape(s: string): string {
  return (
    s
      // eslint-disable-next-line no-control-regex -- XML 1.0 forbids these control characters
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

/**
 * JUnit XML for CI: one <testsuite> per engine, one <testcase> per migration (classname
 * `braid.<engine>`), a <failure type="<category>"> per failing migration, <skipped> for an
 * irreversible one (its down is not run).
 */
export function renderJUnit(report: TestReport): string {
  const sec = (ms: number) => (ms / 1000).toFixed(3);
  const all = report.runs.flatMap((r) => r.results);
  const failing = (r: MigrationTestResult) =>
    (isFailing(r.status) && !r.consequenceOf) || (r.baselineChanges ?? []).length > 0;
  const skip = (r: MigrationTestResult) =>
    r.status === 'irreversible' || (isFailing(r.status) && !!r.consequenceOf);
  const failures = all.filter(failing).length;
  const skipped = all.filter(skip).length;
  const total = report.runs.reduce((a, r) => a + r.ms, 0);
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="braid test" tests="${all.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${sec(total)}">`,
  );
  for (const run of report.runs) {
    const c = countResults(run.results);
    out.push(
      `  <testsuite name="${xmlEscape(`braid test (${engineName(run)})`)}" tests="${c.total}" failures="${run.results.filter(failing).length}" errors="0" skipped="${run.results.filter(skip).length}" time="${sec(run.ms)}">`,
    );
    out.push('    <properties>');
    out.push(`      <property name="engine" value="${run.engine}"/>`);
    out.push(`      <property name="postgresql" value="${xmlEscape(run.serverVersion)}"/>`);
    out.push(`      <property name="selection" value="${xmlEscape(report.selection)}"/>`);
    out.push('    </properties>');
    for (const r of run.results) {
      const open = `    <testcase classname="braid.${run.engine}" name="${xmlEscape(r.id)}" time="${sec(r.ms)}"`;
      const dataLines = [
        ...[...(r.data?.lost ?? []), ...(r.data?.notRestored ?? [])].map((d) => `data-losing: ${d}`),
        ...(r.planChanges ?? []).map((d) => `plan-change: ${d}`),
      ];
      const vsBaseline = r.baselineChanges ?? [];
      if (r.status === 'ok' && dataLines.length === 0 && vsBaseline.length === 0) {
        out.push(`${open}/>`);
        continue;
      }
      out.push(`${open}>`);
      if (dataLines.length > 0) out.push(`      <system-out>${xmlEscape(dataLines.join('\n'))}</system-out>`);
      if (r.status === 'ok' && vsBaseline.length > 0) {
        out.push(
          `      <failure type="plan-changed-vs-baseline" message="${xmlEscape(vsBaseline[0])}">${xmlEscape(vsBaseline.map((d) => `plan-changed-vs-baseline: ${d}`).join('\n'))}</failure>`,
        );
      } else if (r.status === 'ok') {
        // data-losing only: reported, not failed
      } else if (r.status === 'irreversible') {
        out.push('      <skipped message="declared irreversible: down.sql not run"/>');
      } else if (r.consequenceOf) {
        // Reported once, at the migration it follows from.
        out.push(
          `      <skipped message="${xmlEscape(`${r.status} as a consequence of ${r.consequenceOf} (its up.sql failed): ${r.problems[0]?.message ?? ''}`)}"/>`,
        );
      } else {
        const first = r.problems[0];
        const body = r.problems
          .flatMap((p) => [
            `${p.category}: ${p.message}`,
            ...(p.snippet ?? []),
            ...(p.differences ?? []).map((d) => `  ${d}`),
          ])
          .concat(r.notes.map((n) => `note: ${n}`))
          .join('\n');
        out.push(
          `      <failure type="${r.status}" message="${xmlEscape(first ? first.message : r.status)}">${xmlEscape(body)}</failure>`,
        );
      }
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
