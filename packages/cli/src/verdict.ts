/**
 * The branch verdict, I/O part: footprints of each side's new migrations (@braid/sql), the two
 * shadow replays (base+ours+theirs, base+theirs+ours) and the per-side object diffs, then the
 * pure decision (core/verdict.ts). Also the text and markdown renderings used by `braid diff`
 * and the merge driver.
 */
import {
  decideVerdict,
  diffSchemas,
  FindingsError,
  mergeManifests,
  renderDiffText,
  shadowLabelText,
  touchesOf,
  type Manifest,
  type ManifestMerge,
  type Migration,
  type ReplayOutcome,
  type SchemaModel,
  type ShadowLabel,
  type SideSummary,
  type Verdict,
} from '@braid/core';
import { replaySchema, type ShadowSpec } from '@braid/pg';
import { buildReportModel, renderMarkdown } from '@braid/report';
import { braidVersion } from './db';
import { analyzeFile, loadParser } from '@braid/sql';

export interface SideInput {
  /** Label for humans (`main`, `feature`, a short sha). */
  label: string;
  manifest: Manifest;
  /** Listed migrations in manifest order. */
  migrations: Migration[];
}

export interface VerdictRequest {
  base: SideInput;
  ours: SideInput;
  theirs: SideInput;
  /** Undefined: static only (no database, no PGlite). */
  shadow?: ShadowSpec;
  onProgress?: (line: string) => void;
  /** Footprints already computed (by migration id and content hash); filled with new ones. */
  footprints?: FootprintMemo;
}

export interface BranchVerdict extends Verdict {
  labels: { base: string; ours: string; theirs: string };
  /** The merged manifest's order (ids after the base), when the manifests merge. */
  mergedOrder?: string[];
}

/** What sideSummary derives from one migration's up.sql (a function of its id and contents). */
export interface MigrationFootprint {
  touches: SideSummary['touches'];
  incomplete: SideSummary['incomplete'];
}

/**
 * A memo of footprints by migration (key: id and content hash), e.g. kept in `.git/braid/` by
 * `braid diff`: a warm memo spares the parser (a WebAssembly compile) altogether.
 */
export interface FootprintMemo {
  get(key: string): MigrationFootprint | undefined;
  set(key: string, value: MigrationFootprint): void;
}

async function sideSummary(
  mine: SideInput,
  added: string[],
  edited: string[],
  removed: string[],
  memo?: FootprintMemo,
): Promise<SideSummary> {
  const byId = new Map(mine.migrations.map((m) => [m.id, m] as const));
  const touches: SideSummary['touches'] = [];
  const incomplete: SideSummary['incomplete'] = [];
  for (const id of [...added, ...edited]) {
    const m = byId.get(id);
    if (!m) continue;
    const key = `${id} ${m.hash}`;
    let fp = memo?.get(key);
    if (!fp) {
      await loadParser();
      fp = { touches: [], incomplete: [] };
      const file = analyzeFile(`${id}/up.sql`, m.files.up);
      for (const e of file.syntaxErrors) {
        fp.incomplete.push({ at: `${id}/up.sql:${e.line}`, notes: [`syntax error: ${e.message}`] });
      }
      for (const st of file.statements) {
        fp.touches.push(...touchesOf({ id, line: st.line, footprint: st.footprint }));
        if (st.footprint.incomplete) {
          fp.incomplete.push({ at: `${id}/up.sql:${st.line}`, notes: st.footprint.notes });
        }
      }
      memo?.set(key, fp);
    }
    touches.push(...fp.touches);
    incomplete.push(...fp.incomplete);
  }
  return { added, edited, removed, touches, incomplete };
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Replays a sequence; a migration failure becomes an outcome, anything else is rethrown. */
async function tryReplay(
  migrations: Migration[],
  spec: ShadowSpec,
): Promise<{ model?: SchemaModel; error?: string; shadow: ShadowLabel | undefined }> {
  try {
    const r = await replaySchema(migrations, spec);
    return {
      model: r.model,
      shadow: { engine: r.stats.engine, major: Math.floor(r.stats.serverVersionNum / 10000) },
    };
  } catch (e) {
    if (e instanceof FindingsError) return { error: oneLine(e.message), shadow: undefined };
    throw e;
  }
}

export async function computeVerdict(req: VerdictRequest): Promise<BranchVerdict> {
  const merge: ManifestMerge = mergeManifests(req.base.manifest, req.ours.manifest, req.theirs.manifest);
  // Replays split statements with the parser: load it as before. A static verdict loads it
  // only for footprints the memo does not hold.
  if (req.shadow) await loadParser();
  const memo = req.footprints;
  const ours = await sideSummary(req.ours, merge.oursNew, merge.oursEdited, merge.oursRemoved, memo);
  const theirs = await sideSummary(
    req.theirs,
    merge.theirsNew,
    merge.theirsEdited,
    merge.theirsRemoved,
    memo,
  );
  const labels = { base: req.base.label, ours: req.ours.label, theirs: req.theirs.label };
  const manifestConflicts = merge.conflicts.map((c) => c.message);

  const aloneErrors: { ours?: string; theirs?: string } = {};
  let replay: Parameters<typeof decideVerdict>[0]['replay'];
  if (req.shadow && merge.conflicts.length === 0) {
    const spec = req.shadow;
    const oursBy = new Map(req.ours.migrations.map((m) => [m.id, m] as const));
    const theirsBy = new Map(req.theirs.migrations.map((m) => [m.id, m] as const));
    const baseList = req.base.migrations.filter((m) => req.base.manifest.entries.some((e) => e.id === m.id));
    const both = merge.bothNew.map((id) => oursBy.get(id)!).filter(Boolean);
    const oursList = merge.oursNew.map((id) => oursBy.get(id)!).filter(Boolean);
    const theirsList = merge.theirsNew.map((id) => theirsBy.get(id)!).filter(Boolean);
    const prefix = [...baseList, ...both];
    const progress = req.onProgress ?? (() => {});

    progress(`braid: replaying the merge base (${prefix.length} migration(s))`);
    const base = await tryReplay(prefix, spec);
    progress(
      `braid: replaying ${labels.ours} (+${oursList.length}) and ${labels.theirs} (+${theirsList.length})`,
    );
    const oursOnly = await tryReplay([...prefix, ...oursList], spec);
    const theirsOnly = await tryReplay([...prefix, ...theirsList], spec);
    progress('braid: replaying both orders');
    const ot = await tryReplay([...prefix, ...oursList, ...theirsList], spec);
    const to = await tryReplay([...prefix, ...theirsList, ...oursList], spec);
    const outcomes: ReplayOutcome[] = [];
    const seqOT = [...oursList, ...theirsList].map((m) => m.id);
    const seqTO = [...theirsList, ...oursList].map((m) => m.id);
    outcomes.push({
      order: 'ours-then-theirs',
      ok: !ot.error,
      sequence: seqOT,
      ...(ot.error ? { error: ot.error } : {}),
    });
    outcomes.push({
      order: 'theirs-then-ours',
      ok: !to.error,
      sequence: seqTO,
      ...(to.error ? { error: to.error } : {}),
    });
    if (oursOnly.error) aloneErrors.ours = oursOnly.error;
    if (theirsOnly.error) aloneErrors.theirs = theirsOnly.error;
    if (base.model && oursOnly.model) ours.diff = diffSchemas(base.model, oursOnly.model);
    if (base.model && theirsOnly.model) theirs.diff = diffSchemas(base.model, theirsOnly.model);
    if (ours.diff) ours.diffText = renderDiffText(ours.diff);
    if (theirs.diff) theirs.diffText = renderDiffText(theirs.diff);
    const shadow = ot.shadow ??
      to.shadow ??
      oursOnly.shadow ??
      base.shadow ?? {
        engine: spec.serverUrl ? ('postgres' as const) : ('pglite' as const),
        major: 0,
      };
    replay = { outcomes, shadow };
    if (ot.model && to.model) replay.orderDiff = diffSchemas(ot.model, to.model);
    if (base.error)
      outcomes.unshift({
        order: 'ours-then-theirs',
        ok: false,
        sequence: [],
        error: `the merge base itself does not replay: ${base.error}`,
      });
  }
  const v = decideVerdict({
    base: labels.base,
    ours,
    theirs,
    manifestConflicts,
    ...(replay ? { replay } : {}),
  });
  const out: BranchVerdict = { ...v, labels };
  // A side that does not replay on its own is broken before any merge: say so first.
  for (const [name, err] of [
    [labels.ours, aloneErrors.ours],
    [labels.theirs, aloneErrors.theirs],
  ] as const) {
    if (err) {
      out.reasons.unshift(`${name} does not replay on its own (before any merge): ${err}`);
      out.verdict = 'conflict';
    }
  }
  if (merge.manifest) {
    const baseIds = new Set(req.base.manifest.entries.map((e) => e.id));
    out.mergedOrder = merge.manifest.entries.filter((e) => !baseIds.has(e.id)).map((e) => e.id);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Renderings

function verdictHeadline(v: BranchVerdict): string {
  const engine = v.shadow ? ` (replayed on ${shadowLabelText(v.shadow)})` : ' (static analysis only)';
  const word = v.verdict === 'safe' ? 'SAFE' : v.verdict === 'conflict' ? 'CONFLICT' : 'UNPROVEN';
  return `verdict: ${word}${engine}`;
}

function sideLines(name: string, label: string, s: SideSummary): string[] {
  const lines = [`${name} (${label}): ${s.added.length} new migration(s)`];
  for (const id of s.added) lines.push(`  + ${id}`);
  for (const id of s.edited) lines.push(`  ~ ${id} (edited; it existed at the merge base)`);
  for (const id of s.removed) lines.push(`  - ${id} (removed; it existed at the merge base)`);
  if (s.diffText) {
    lines.push(`  schema changes:${s.diffText.length === 0 ? ' none' : ''}`);
    for (const l of s.diffText) lines.push(`    ${l}`);
  }
  return lines;
}

export function renderVerdictText(v: BranchVerdict): string[] {
  const lines: string[] = [];
  lines.push(`merge base: ${v.labels.base}`);
  lines.push(...sideLines('ours', v.labels.ours, v.ours));
  lines.push(...sideLines('theirs', v.labels.theirs, v.theirs));
  const blocking = v.collisions.filter((c) => c.severity === 'conflict');
  const notes = v.collisions.filter((c) => c.severity === 'note');
  if (v.collisions.length === 0) lines.push('collisions: none (the static footprints do not overlap)');
  else {
    lines.push(`collisions: ${blocking.length} blocking, ${notes.length} note(s)`);
    for (const c of v.collisions) lines.push(`  ${c.severity === 'conflict' ? '!' : '-'} ${c.reason}`);
  }
  for (const r of v.replays) {
    lines.push(`replay ${r.order.replace(/-/g, ' ')}: ${r.ok ? 'ok' : `FAILED: ${r.error ?? ''}`}`);
  }
  if (v.mergedOrder && v.verdict !== 'conflict')
    lines.push(`merged order: ${v.mergedOrder.join(', ') || '(nothing new)'}`);
  lines.push(verdictHeadline(v));
  if (v.verdict !== 'safe') for (const r of v.reasons) lines.push(`  - ${r}`);
  for (const a of v.advice) lines.push(`what to do: ${a}`);
  return lines;
}

/**
 * The markdown report of a verdict (the report package renders it: one renderer for `diff
 * --format md`, the merge driver's conflict report and `braid report`).
 */
export function renderVerdictMarkdown(
  v: BranchVerdict,
  manifests: { base: Manifest; ours: Manifest; theirs: Manifest },
): string {
  return renderMarkdown(
    buildReportModel({ verdict: v, manifests, hazards: [], generator: `braid ${braidVersion()}` }),
  );
}
