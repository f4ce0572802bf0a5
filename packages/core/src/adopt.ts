/**
 * `braid adopt`, the pure part: which imported migrations another tool has already applied to a
 * database, read from that tool's own bookkeeping rows, matched to the braid ids through the
 * baseline's source versions (`.migrations/baseline`). The CLI reads the rows and records the
 * result in braid's registry without running anything. Refusals (a dirty or failed migration,
 * versions the import does not know, a Flyway checksum that differs, a gap braid could not fill)
 * come back as problems: nothing is recorded while there is one.
 */
import type { BaselineBlock, BaselineEntry } from './baseline';
import type { ImportTool } from './import/types';

/** One bookkeeping row, as the CLI reads it (the fields a tool has; the others absent). */
export interface AdoptRow {
  /** Diesel, dbmate, golang-migrate (decimal), Flyway (null for a repeatable) version. */
  version?: string | null;
  /** golang-migrate. */
  dirty?: boolean;
  /** Flyway. */
  rank?: number;
  description?: string;
  type?: string;
  checksum?: number | null;
  success?: boolean;
  /** sqitch: change name, planned-at time (`YYYY-MM-DDTHH:MM:SSZ`, UTC), project. */
  change?: string;
  plannedAt?: string;
  project?: string;
}

export interface AdoptProblem {
  code:
    | 'adopt-dirty'
    | 'adopt-failed'
    | 'adopt-unknown-version'
    | 'adopt-checksum'
    | 'adopt-gap'
    | 'adopt-malformed';
  message: string;
}

export interface AdoptPlan {
  /** To record as applied, in manifest order. */
  adopt: { id: string; tool: ImportTool; version: string; source: string }[];
  /** Applied by the tool and already in braid's registry (nothing to do). */
  already: string[];
  /** Imported migrations the tool has not applied: `braid up` will apply them. */
  pending: string[];
  problems: AdoptProblem[];
  /** Things worth saying that are not refusals. */
  notes: string[];
}

/** The command that makes each tool apply what it has pending (named in refusals). */
export const TOOL_RUN_COMMAND: Record<ImportTool, string> = {
  diesel: 'diesel migration run',
  'golang-migrate': 'migrate up',
  dbmate: 'dbmate up',
  flyway: 'flyway migrate',
  sqitch: 'sqitch deploy',
};

/** Flyway version equality (MigrationVersion): numeric parts, trailing zero parts dropped. */
export function flywayVersionKey(v: string): string {
  const parts = v
    .replace(/_/g, '.')
    .split(/\.(?=\d)/)
    .map((x) => (/^\d+$/.test(x) ? BigInt(x).toString() : x));
  while (parts.length > 1 && parts[parts.length - 1] === '0') parts.pop();
  return parts.join('.');
}

function flywayDescription(source: string): string {
  // R__<description> with `_` for spaces (the baseline keeps Flyway's file name)
  return source.replace(/^R__/, '').replace(/_/g, ' ');
}

interface Matched {
  /** Entries the tool has applied (by id). */
  applied: Set<string>;
  problems: AdoptProblem[];
  notes: string[];
}

function matchRows(block: BaselineBlock, rows: readonly AdoptRow[], table: string): Matched {
  const tool = block.tool;
  const entries = block.entries;
  const applied = new Set<string>();
  const problems: AdoptProblem[] = [];
  const notes: string[] = [];
  const unknown = (versions: string[]): void => {
    if (versions.length === 0) return;
    problems.push({
      code: 'adopt-unknown-version',
      message: `${table} records ${versions.length} migration(s) the import does not have: ${versions.slice(0, 5).join(', ')}${versions.length > 5 ? ', …' : ''} (applied from another branch or removed since? import the history that database ran, or remove them from ${table} if they are truly gone)`,
    });
  };
  switch (tool) {
    case 'diesel':
    case 'dbmate': {
      const byVersion = new Map(entries.map((e) => [e.version, e] as const));
      const extra: string[] = [];
      for (const r of rows) {
        const v = r.version ?? '';
        const e = byVersion.get(v);
        if (e) applied.add(e.id);
        else extra.push(v);
      }
      unknown(extra);
      break;
    }
    case 'golang-migrate': {
      if (rows.length > 1) {
        problems.push({
          code: 'adopt-malformed',
          message: `${table} holds ${rows.length} rows; golang-migrate keeps exactly one (version, dirty)`,
        });
        break;
      }
      const row = rows[0];
      if (!row) break; // no version: golang-migrate applied nothing (or rolled everything back)
      const v = BigInt(row.version ?? '-1');
      if (row.dirty) {
        problems.push({
          code: 'adopt-dirty',
          message: `${table} says version ${v} is dirty: golang-migrate stopped in the middle of it. Repair the database by hand, then \`migrate force <version>\` (the last version that is fully applied), then adopt again`,
        });
        break;
      }
      if (v < 0n) break;
      if (!entries.some((e) => BigInt(e.version) === v)) unknown([String(v)]);
      for (const e of entries) if (BigInt(e.version) <= v) applied.add(e.id);
      break;
    }
    case 'flyway': {
      const sorted = [...rows].sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0));
      const state = new Map<string, { ok: boolean; checksum: number | null; version: string }>();
      const repeatables = new Map<string, { ok: boolean; checksum: number | null }>();
      let baselineKey: string | undefined;
      for (const r of sorted) {
        const type = (r.type ?? '').toUpperCase();
        if (type === 'SCHEMA') continue; // "<< Flyway Schema Creation >>"
        if (r.version === null || r.version === undefined || r.version === '') {
          if (type.includes('UNDO') || type === 'DELETE') {
            repeatables.delete(r.description ?? '');
            continue;
          }
          repeatables.set(r.description ?? '', { ok: r.success !== false, checksum: r.checksum ?? null });
          continue;
        }
        const key = flywayVersionKey(r.version);
        if (type === 'BASELINE') {
          baselineKey = key;
          continue;
        }
        if (type.includes('UNDO') || type === 'DELETE') {
          if (r.success !== false) state.delete(key);
          continue;
        }
        state.set(key, { ok: r.success !== false, checksum: r.checksum ?? null, version: r.version });
      }
      const byKey = new Map(
        entries.filter((e) => e.version !== 'R').map((e) => [flywayVersionKey(e.version), e]),
      );
      const extra: string[] = [];
      for (const [key, s] of state) {
        const e = byKey.get(key);
        if (!s.ok) {
          problems.push({
            code: 'adopt-failed',
            message: `${table} records a failed migration, version ${s.version}: fix the database, then \`flyway repair\` (which removes failed rows), then adopt again`,
          });
          continue;
        }
        if (!e) {
          extra.push(s.version);
          continue;
        }
        if (s.checksum !== null && e.checksum !== undefined && String(s.checksum) !== e.checksum) {
          problems.push({
            code: 'adopt-checksum',
            message: `${e.id}: ${table} records version ${s.version} with checksum ${s.checksum}, the imported file has ${e.checksum}: the file changed after Flyway ran it (flyway validate fails the same way); restore the file as it ran, or \`flyway repair\` if the change is intended, then import and adopt again`,
          });
          continue;
        }
        applied.add(e.id);
      }
      if (baselineKey !== undefined) {
        const below = entries.filter(
          (e) => e.version !== 'R' && compareKeys(flywayVersionKey(e.version), baselineKey) <= 0,
        );
        for (const e of below) applied.add(e.id);
        if (below.length > 0)
          notes.push(
            `${below.length} migration(s) up to version ${baselineKey} are below the database's Flyway baseline: adopted as applied`,
          );
      }
      const byDescription = new Map(
        entries.filter((e) => e.version === 'R').map((e) => [flywayDescription(e.source), e]),
      );
      for (const [description, s] of repeatables) {
        const e = byDescription.get(description);
        if (!s.ok) {
          problems.push({
            code: 'adopt-failed',
            message: `${table} records a failed repeatable migration "${description}": fix the database, then \`flyway repair\`, then adopt again`,
          });
          continue;
        }
        if (!e) {
          extra.push(`repeatable "${description}"`);
          continue;
        }
        if (s.checksum !== null && e.checksum !== undefined && String(s.checksum) !== e.checksum) {
          notes.push(
            `${e.id}: the repeatable migration changed since Flyway last ran it (checksum ${s.checksum}, file ${e.checksum}): left pending, as Flyway would re-apply it`,
          );
          continue;
        }
        applied.add(e.id);
      }
      unknown(extra);
      break;
    }
    case 'sqitch': {
      const key = (change: string, at: string): string => `${change}\0${at}`;
      const byKey = new Map(entries.map((e) => [key(e.source, e.version), e] as const));
      const extra: string[] = [];
      let otherProjects = 0;
      for (const r of rows) {
        if (block.project !== undefined && r.project !== block.project) {
          otherProjects++;
          continue;
        }
        const e = byKey.get(key(r.change ?? '', r.plannedAt ?? ''));
        if (e) applied.add(e.id);
        else extra.push(`${r.change ?? '?'} (planned ${r.plannedAt ?? '?'})`);
      }
      if (otherProjects > 0)
        notes.push(
          `${otherProjects} change(s) of other sqitch projects in ${table} are not this import's: left alone`,
        );
      unknown(extra);
      break;
    }
  }
  return { applied, problems, notes };
}

function compareKeys(a: string, b: string): number {
  const x = a.split('.').map((p) => BigInt(p));
  const y = b.split('.').map((p) => BigInt(p));
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i] ?? 0n;
    const q = y[i] ?? 0n;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

export interface AdoptSource {
  block: BaselineBlock;
  /** The tool's bookkeeping rows. */
  rows: readonly AdoptRow[];
  /** The table as shown in messages (`__diesel_schema_migrations`, `public.schema_migrations`). */
  table: string;
}

export interface AdoptInput {
  /** One per baseline block (one per import). */
  sources: readonly AdoptSource[];
  /** Every manifest id, in order. */
  manifestIds: readonly string[];
  /** Ids braid's registry has applied on that database. */
  braidApplied: ReadonlySet<string>;
}

/** Which imported migrations to record as applied, or why not. */
export function planAdoption(input: AdoptInput): AdoptPlan {
  const { manifestIds, braidApplied } = input;
  const plan: AdoptPlan = { adopt: [], already: [], pending: [], problems: [], notes: [] };
  const byId = new Map<string, { entry: BaselineEntry; tool: ImportTool }>();
  const applied = new Set<string>();
  for (const src of input.sources) {
    const m = matchRows(src.block, src.rows, src.table);
    plan.problems.push(...m.problems);
    plan.notes.push(...m.notes);
    for (const e of src.block.entries) byId.set(e.id, { entry: e, tool: src.block.tool });
    for (const id of m.applied) applied.add(id);
  }
  for (const id of manifestIds) {
    const x = byId.get(id);
    if (!x) continue;
    if (applied.has(id)) {
      if (braidApplied.has(id)) plan.already.push(id);
      else plan.adopt.push({ id, tool: x.tool, version: x.entry.version, source: x.entry.source });
    } else if (!braidApplied.has(id)) plan.pending.push(id);
  }
  // A gap: braid applies a linear history in order, so a pending migration before an applied
  // one would make `braid up` refuse (ancestor-pending).
  const done = new Set([...braidApplied, ...applied]);
  let firstPending: string | undefined;
  for (const id of manifestIds) {
    if (!done.has(id)) {
      firstPending ??= id;
    } else if (firstPending !== undefined) {
      const x = byId.get(firstPending);
      const tool = x?.tool ?? byId.get(id)?.tool;
      const fix = tool
        ? `run \`${TOOL_RUN_COMMAND[tool]}\` once more so that ${tool} applies what it has pending, then adopt again`
        : 'apply it first, then adopt again';
      plan.problems.push({
        code: 'adopt-gap',
        message: `${firstPending}${x ? ` (${x.entry.source})` : ''} is not applied but ${id}, which comes after it, is: braid applies the history in order and would refuse this database; ${fix}`,
      });
      break;
    }
  }
  return plan;
}
