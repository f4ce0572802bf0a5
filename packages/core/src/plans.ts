/**
 * Query plans for `braid test --queries` (pure): the summary of an EXPLAIN (FORMAT JSON) plan,
 * the plan baselines stored beside each migration (`.migrations/<id>/.plans.json`, diff-friendly:
 * stable key order, one query per block, one plan node per line, rounded costs — never raw
 * EXPLAIN output with volatile numbers), and the comparison of a run with its baselines.
 *
 * .plans.json is NOT part of a migration's content hash (hashMigration reads up, down and
 * verify only), so writing or updating a baseline never changes the manifest or an approval.
 * Its name starts with a dot because every reader of `.migrations/` (the working-tree scan of
 * `braid check`, the git tree reader) ignores hidden entries by design: no stray-entry finding,
 * no change to the folder layout, while `git diff` shows it like any other file.
 */

/** The file name of a migration's plan baselines, inside `.migrations/<id>/`. */
export const PLANS_FILE = '.plans.json';

export const PLANS_FORMAT = 'braid-plans 1';

export interface PlanScan {
  node: string;
  relation: string | null;
  index: string | null;
}

/** What braid keeps of a plan: its total cost, its scans, and its node tree one line per node. */
export interface PlanSummary {
  cost: number;
  scans: PlanScan[];
  /** "Bitmap Heap Scan on users", "  Bitmap Index Scan using users_status_idx" (indent = depth). */
  tree: string[];
}

export interface PlanNode {
  'Node Type'?: string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Join Type'?: string;
  Strategy?: string;
  'Total Cost'?: number;
  Plans?: PlanNode[];
}

function nodeLine(n: PlanNode): string {
  let s = n['Node Type'] ?? '?';
  if (n.Strategy && n['Node Type'] === 'Aggregate') s = `${n.Strategy} ${s}`;
  if (n['Join Type'] && n['Join Type'] !== 'Inner') s += ` (${n['Join Type']})`;
  if (n['Index Name']) s += ` using ${n['Index Name']}`;
  if (n['Relation Name']) s += ` on ${n['Relation Name']}`;
  return s;
}

export function summarizePlan(root: PlanNode): PlanSummary {
  const scans: PlanScan[] = [];
  const tree: string[] = [];
  // A Bitmap Index Scan names no relation: it scans for its parent's (Bitmap Heap Scan) table.
  const walk = (n: PlanNode, depth: number, parentRel: string | null): void => {
    tree.push(`${'  '.repeat(depth)}${nodeLine(n)}`);
    const rel = n['Relation Name'] ?? null;
    if (rel || n['Index Name']) {
      scans.push({
        node: n['Node Type'] ?? '?',
        relation: rel ?? (n['Index Name'] ? parentRel : null),
        index: n['Index Name'] ?? null,
      });
    }
    for (const ch of n.Plans ?? []) walk(ch, depth + 1, rel ?? parentRel);
  };
  walk(root, 0, null);
  return { cost: Number(root['Total Cost'] ?? 0), scans, tree };
}

/** Two significant digits: 13.2 -> 13, 258.5 -> 260, 0.29 -> 0.29 (baselines ignore noise). */
export function roundCost(c: number): number {
  if (!Number.isFinite(c) || c === 0) return 0;
  return Number(c.toPrecision(2));
}

/** One query's baseline: its text, rounded cost and plan tree (null: it did not plan). */
export interface QueryBaseline {
  query: string;
  cost: number | null;
  plan: string[] | null;
}

/** The baselines of one queries file on one engine, after one migration. */
export interface BaselineSet {
  /** The queries file, relative to the project root ("queries.sql"). */
  queries: string;
  /** "postgres 15", "pglite 18" (plans can differ between engines and major versions). */
  engine: string;
  /** How the shadow was filled: "seed 500", "stats-from (cap 10000)", "none". */
  data: string;
  plans: Record<string, QueryBaseline>;
}

export interface PlansFile {
  format: string;
  migration: string;
  /** Keyed by `<queries file> on <engine>`, sorted. */
  sets: Record<string, BaselineSet>;
}

export function setKey(queries: string, engine: string): string {
  return `${queries} on ${engine}`;
}

/** "postgres 15" / "pglite 18" from an engine run. */
export function engineKey(engine: 'pglite' | 'postgres', serverVersionNum: number): string {
  return `${engine} ${Math.floor(serverVersionNum / 10000)}`;
}

const natural = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

/** The stable text of a plans file: sorted keys, two-space indent, one plan node per line. */
export function serializePlansFile(f: PlansFile): string {
  const sets: Record<string, BaselineSet> = {};
  for (const k of Object.keys(f.sets).sort(natural)) {
    const s = f.sets[k];
    const plans: Record<string, QueryBaseline> = {};
    for (const q of Object.keys(s.plans).sort(natural)) {
      const p = s.plans[q];
      plans[q] = { query: p.query, cost: p.cost, plan: p.plan };
    }
    sets[k] = { queries: s.queries, engine: s.engine, data: s.data, plans };
  }
  return JSON.stringify({ format: PLANS_FORMAT, migration: f.migration, sets }, null, 2) + '\n';
}

export class PlansFileError extends Error {}

/** Parses a plans file; throws PlansFileError with a one-line reason. */
export function parsePlansFile(text: string): PlansFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new PlansFileError(`not valid JSON: ${(e as Error).message}`);
  }
  const o = v as Partial<PlansFile> | null;
  if (!o || typeof o !== 'object' || o.format !== PLANS_FORMAT || typeof o.sets !== 'object' || !o.sets) {
    throw new PlansFileError(`not a braid plans file (expected "format": "${PLANS_FORMAT}")`);
  }
  return { format: PLANS_FORMAT, migration: String(o.migration ?? ''), sets: o.sets };
}

export function baselineOf(text: string, s: PlanSummary | undefined): QueryBaseline {
  return s ? { query: text, cost: roundCost(s.cost), plan: s.tree } : { query: text, cost: null, plan: null };
}

/** Puts (replaces) one set into a plans file (or a new one). */
export function withSet(file: PlansFile | undefined, migration: string, set: BaselineSet): PlansFile {
  const sets = { ...(file?.sets ?? {}) };
  sets[setKey(set.queries, set.engine)] = set;
  return { format: PLANS_FORMAT, migration, sets };
}

const normalizeSql = (s: string): string => s.replace(/\s+/g, ' ').trim().replace(/;$/, '');

/**
 * The current plans after a migration vs its stored baseline set, in words ("query q.sql:2:
 * Seq Scan on users replaces Index Scan using users_status_idx (baseline in …)"). A query is
 * found by label, else by its text; a query without baseline is not compared (listed in
 * `unmatched`). Cost differences count only above `threshold`× (and rounded costs hide noise).
 */
export function compareWithBaseline(
  current: { label: string; text: string; plan: PlanSummary | undefined }[],
  set: BaselineSet,
  threshold: number,
): { changes: string[]; unmatched: string[] } {
  const changes: string[] = [];
  const unmatched: string[] = [];
  const byText = new Map(Object.entries(set.plans).map(([k, b]) => [normalizeSql(b.query), k]));
  for (const q of current) {
    let key: string | undefined = q.label;
    let b: QueryBaseline | undefined = set.plans[key];
    if (!b || normalizeSql(b.query) !== normalizeSql(q.text)) {
      key = byText.get(normalizeSql(q.text));
      b = key === undefined ? undefined : set.plans[key];
    }
    if (!b) {
      unmatched.push(q.label);
      continue;
    }
    const name = `query ${q.label}`;
    const now = q.plan;
    if (b.plan === null) {
      if (now) changes.push(`${name} plans now (${now.tree[0]?.trim()}); the baseline says it did not plan`);
      continue;
    }
    if (!now) {
      changes.push(`${name} no longer plans (the baseline plan starts with ${b.plan[0]?.trim()})`);
      continue;
    }
    const same = now.tree.length === b.plan.length && now.tree.every((l, i) => l === b.plan?.[i]);
    if (!same) {
      changes.push(`${name}: ${describeTreeChange(b.plan, now)}`);
    }
    const was = b.cost ?? 0;
    const cost = roundCost(now.cost);
    if (was > 0 && cost / was > threshold) {
      changes.push(`${name}: total cost up ${(cost / was).toFixed(1)}× from the baseline (${was} → ${cost})`);
    }
  }
  return { changes, unmatched };
}

/** "Seq Scan on users replaces Index Scan using users_status_idx on users", else the two trees. */
function describeTreeChange(before: string[], now: PlanSummary): string {
  const parse = (l: string): PlanScan | undefined => {
    const m = /^\s*(.+?)(?: using (\S+))?(?: on (\S+))?$/.exec(l);
    if (!m) return undefined;
    return { node: m[1], index: m[2] ?? null, relation: m[3] ?? null };
  };
  const old = before.map(parse).filter((x): x is PlanScan => x !== undefined);
  const usedNow = new Set(now.scans.map((s) => s.index).filter(Boolean));
  const parts: string[] = [];
  for (const s of old) {
    if (!s.index || usedNow.has(s.index)) continue;
    const rel = s.relation ?? old.find((o) => o.relation && !o.index)?.relation ?? null;
    const instead = now.scans.find((x) => x.relation !== null && x.relation === rel);
    parts.push(
      instead
        ? `${instead.node}${instead.index ? ` using ${instead.index}` : ''} on ${instead.relation} replaces ${s.node} using ${s.index}`
        : `no longer uses index ${s.index}`,
    );
  }
  if (parts.length > 0) return `${parts.join('; ')} (plan differs from the baseline)`;
  const flat = (t: string[]) => t.map((l) => l.trim()).join(' > ');
  return `plan differs from the baseline: ${flat(before)} became ${flat(now.tree)}`;
}
