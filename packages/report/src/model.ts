/**
 * The reviewer report model (pure): everything `braid report` / `braid ci` show, built from a
 * branch verdict, the three manifests and the lint findings of each side's new migrations.
 * Renderings (markdown, HTML, JSON) only read this model.
 */
import { heads, type Manifest, type Verdict } from '@braid/core';

/** A branch verdict as `computeVerdict` returns it (structurally; the CLI owns the type). */
export interface ReportVerdict extends Verdict {
  labels: { base: string; ours: string; theirs: string };
  mergedOrder?: string[];
}

export type ReportSide = 'base' | 'ours' | 'theirs';

/** One lint finding on a side's new migration (the stable subset of @braid/sql's Finding). */
export interface Hazard {
  side: 'ours' | 'theirs';
  migration: string;
  file: string;
  line: number;
  column: number;
  rule: string;
  severity: 'error' | 'warning' | 'info';
  message: string;
  help: string;
}

export interface DagNode {
  id: string;
  side: ReportSide;
  parents: string[];
}

export interface ReportModel {
  /** Format version of the JSON rendering. */
  version: 1;
  title: string;
  /** `braid <version>` (normalised away in snapshot tests). */
  generator: string;
  verdict: ReportVerdict;
  hazards: Hazard[];
  /** The base's heads (and base parents of new migrations), then ours' and theirs' new ones. */
  dag: DagNode[];
}

export interface ReportInput {
  verdict: ReportVerdict;
  manifests: { base: Manifest; ours: Manifest; theirs: Manifest };
  hazards: Hazard[];
  generator: string;
  title?: string;
}

/** The DAG shown: base context nodes (heads and the base parents new migrations name), then each side's new ones. */
export function buildDag(v: ReportVerdict, m: ReportInput['manifests']): DagNode[] {
  const baseIds = new Set(m.base.entries.map((e) => e.id));
  const parentsIn = (man: Manifest) => new Map(man.entries.map((e) => [e.id, e.parents] as const));
  const oursP = parentsIn(m.ours);
  const theirsP = parentsIn(m.theirs);
  const sideNodes: DagNode[] = [];
  for (const [side, ids, pm] of [
    ['ours', v.ours.added, oursP],
    ['theirs', v.theirs.added, theirsP],
  ] as const) {
    for (const id of ids) {
      if (baseIds.has(id)) continue;
      if (side === 'theirs' && v.ours.added.includes(id)) continue;
      sideNodes.push({ id, side, parents: [...(pm.get(id) ?? [])] });
    }
  }
  const context = new Set(heads(m.base));
  for (const n of sideNodes) for (const p of n.parents) if (baseIds.has(p)) context.add(p);
  const baseP = parentsIn(m.base);
  const baseNodes: DagNode[] = m.base.entries
    .filter((e) => context.has(e.id))
    .map((e) => ({
      id: e.id,
      side: 'base' as const,
      parents: (baseP.get(e.id) ?? []).filter((p) => context.has(p)),
    }));
  const shown = new Set([...baseNodes, ...sideNodes].map((n) => n.id));
  for (const n of sideNodes) n.parents = n.parents.filter((p) => shown.has(p));
  return [...baseNodes, ...sideNodes];
}

export function buildReportModel(input: ReportInput): ReportModel {
  const v = input.verdict;
  const order: Record<string, number> = { error: 0, warning: 1, info: 2 };
  const hazards = [...input.hazards].sort(
    (a, b) =>
      (order[a.severity] ?? 3) - (order[b.severity] ?? 3) ||
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      a.rule.localeCompare(b.rule),
  );
  return {
    version: 1,
    title: input.title ?? `braid report: ${v.labels.theirs} into ${v.labels.ours}`,
    generator: input.generator,
    verdict: v,
    hazards,
    dag: buildDag(v, input.manifests),
  };
}

export function verdictWord(v: ReportVerdict): string {
  return v.verdict === 'safe' ? 'SAFE' : v.verdict === 'conflict' ? 'CONFLICT' : 'UNPROVEN';
}

export function verdictSummary(v: ReportVerdict): string {
  const how = v.shadow
    ? `replayed on ${v.shadow.engine === 'pglite' ? 'PGlite' : 'PostgreSQL'}${v.shadow.major ? ` ${v.shadow.major}` : ''}`
    : 'static analysis only';
  return `${verdictWord(v)} (${how})`;
}
