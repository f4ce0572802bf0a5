/**
 * Three-way merge of manifests (pure): base, ours, theirs -> the merged manifest, or the
 * structural conflicts that prevent one. What the migrations *do* is judged separately by the
 * verdict (verdict.ts); this only decides whether the lineage can be combined.
 *
 * The merged manifest is: the base entries (in base order), then the entries both sides added
 * identically (in ours' order), then each side's own new entries, each side keeping its own
 * order. The side whose first new id sorts first (ids start with a UTC timestamp) goes first;
 * on a tie, ours. Parents are kept as written, so the DAG records that the two sides were
 * written concurrently (neither side's new migrations are ancestors of the other's).
 *
 * Structural conflicts (any one means no merged manifest):
 * - `base-removed`: a base entry is missing on one side (history rewritten after it was shared);
 * - `base-edited`: a base entry's hash or parents differ on one side (or differently on both);
 *   the same edit on both sides is taken;
 * - `base-reordered`: a side lists base entries in another relative order;
 * - `added-both-different`: the same id added on both sides with different hashes or parents;
 * - `missing-parent`: a new entry names a parent that the merged manifest would not list earlier.
 */
import type { Manifest, ManifestEntry } from './manifest';

export type Side = 'ours' | 'theirs';

export type ManifestConflictKind =
  'base-removed' | 'base-edited' | 'base-reordered' | 'added-both-different' | 'missing-parent';

export interface ManifestConflict {
  kind: ManifestConflictKind;
  id: string;
  /** The side(s) responsible. */
  sides: Side[];
  message: string;
}

export interface ManifestMerge {
  /** The merged manifest when there is no structural conflict. */
  manifest?: Manifest;
  conflicts: ManifestConflict[];
  /** Entries each side added since the base (in that side's order, shared additions excluded). */
  oursNew: string[];
  theirsNew: string[];
  /** Entries added identically on both sides. */
  bothNew: string[];
  /** Base entries each side edited (hash changed). */
  oursEdited: string[];
  theirsEdited: string[];
  /** Base entries each side removed. */
  oursRemoved: string[];
  theirsRemoved: string[];
  /** Which side's new entries come first in the merged manifest. */
  first: Side;
}

function sameEntry(a: ManifestEntry, b: ManifestEntry): boolean {
  return (
    a.hash === b.hash &&
    a.parents.length === b.parents.length &&
    a.parents.every((p, i) => p === b.parents[i])
  );
}

function describeEdit(base: ManifestEntry, e: ManifestEntry): string {
  if (base.hash !== e.hash) return `hash ${short(base.hash)} -> ${short(e.hash)}`;
  return `parents ${base.parents.join(' ') || '-'} -> ${e.parents.join(' ') || '-'}`;
}

function short(hash: string): string {
  return hash.replace(/^sha256:/, '').slice(0, 12);
}

/** Whether the base ids a side still lists appear in base order. */
function keepsBaseOrder(base: Manifest, side: Manifest): string | undefined {
  const pos = new Map(base.entries.map((e, i) => [e.id, i] as const));
  let last = -1;
  for (const e of side.entries) {
    const p = pos.get(e.id);
    if (p === undefined) continue;
    if (p < last) return e.id;
    last = p;
  }
  return undefined;
}

export function mergeManifests(base: Manifest, ours: Manifest, theirs: Manifest): ManifestMerge {
  const conflicts: ManifestConflict[] = [];
  const oursBy = new Map(ours.entries.map((e) => [e.id, e] as const));
  const theirsBy = new Map(theirs.entries.map((e) => [e.id, e] as const));
  const baseIds = new Set(base.entries.map((e) => e.id));
  const out: ManifestMerge = {
    conflicts,
    oursNew: [],
    theirsNew: [],
    bothNew: [],
    oursEdited: [],
    theirsEdited: [],
    oursRemoved: [],
    theirsRemoved: [],
    first: 'ours',
  };

  const merged: ManifestEntry[] = [];
  for (const b of base.entries) {
    const o = oursBy.get(b.id);
    const t = theirsBy.get(b.id);
    if (!o) out.oursRemoved.push(b.id);
    if (!t) out.theirsRemoved.push(b.id);
    if (!o || !t) {
      const sides: Side[] = [...(!o ? (['ours'] as const) : []), ...(!t ? (['theirs'] as const) : [])];
      conflicts.push({
        kind: 'base-removed',
        id: b.id,
        sides,
        message: `${b.id} existed at the merge base and was removed by ${sides.join(' and ')}`,
      });
      continue;
    }
    const oEdited = !sameEntry(b, o);
    const tEdited = !sameEntry(b, t);
    if (oEdited && b.hash !== o.hash) out.oursEdited.push(b.id);
    if (tEdited && b.hash !== t.hash) out.theirsEdited.push(b.id);
    if (!oEdited && !tEdited) {
      merged.push(b);
    } else if (oEdited && tEdited && sameEntry(o, t)) {
      merged.push(o); // the same edit on both sides
    } else {
      const sides: Side[] = [
        ...(oEdited ? (['ours'] as const) : []),
        ...(tEdited ? (['theirs'] as const) : []),
      ];
      const what = sides.map((s) => `${s} (${describeEdit(b, s === 'ours' ? o : t)})`).join(' and ');
      conflicts.push({
        kind: 'base-edited',
        id: b.id,
        sides,
        message: `${b.id} existed at the merge base and was edited by ${what}`,
      });
    }
  }
  for (const [side, m] of [
    ['ours', ours],
    ['theirs', theirs],
  ] as const) {
    const bad = keepsBaseOrder(base, m);
    if (bad !== undefined) {
      conflicts.push({
        kind: 'base-reordered',
        id: bad,
        sides: [side],
        message: `${side} lists ${bad} out of its merge-base order`,
      });
    }
  }

  const both: ManifestEntry[] = [];
  for (const o of ours.entries) {
    if (baseIds.has(o.id)) continue;
    const t = theirsBy.get(o.id);
    if (!t) out.oursNew.push(o.id);
    else if (sameEntry(o, t)) {
      out.bothNew.push(o.id);
      both.push(o);
    } else {
      conflicts.push({
        kind: 'added-both-different',
        id: o.id,
        sides: ['ours', 'theirs'],
        message: `${o.id} was added on both sides with different ${o.hash !== t.hash ? 'contents' : 'parents'} (${describeEdit(o, t)})`,
      });
    }
  }
  for (const t of theirs.entries) {
    if (!baseIds.has(t.id) && !oursBy.has(t.id)) out.theirsNew.push(t.id);
  }

  const oursFirstId = out.oursNew[0];
  const theirsFirstId = out.theirsNew[0];
  out.first =
    oursFirstId !== undefined && theirsFirstId !== undefined && theirsFirstId < oursFirstId
      ? 'theirs'
      : 'ours';
  const oursEntries = out.oursNew.map((id) => oursBy.get(id)!);
  const theirsEntries = out.theirsNew.map((id) => theirsBy.get(id)!);
  const tail = out.first === 'ours' ? [...oursEntries, ...theirsEntries] : [...theirsEntries, ...oursEntries];
  const result = [...merged, ...both, ...tail];

  if (conflicts.length === 0) {
    const seen = new Set<string>();
    const oursNewSet = new Set(out.oursNew);
    for (const e of result) {
      for (const p of e.parents) {
        if (!seen.has(p)) {
          conflicts.push({
            kind: 'missing-parent',
            id: e.id,
            sides: [oursNewSet.has(e.id) ? 'ours' : 'theirs'],
            message: `${e.id} names parent ${p}, which the merged manifest does not list before it`,
          });
        }
      }
      seen.add(e.id);
    }
  }
  if (conflicts.length === 0) out.manifest = { entries: result };
  return out;
}

/**
 * The merge base of a criss-cross merge (two branches that merged each other: `git merge-base
 * --all` gives several commits). Git merges the merge bases into a virtual one; for manifests,
 * which only ever grow by union, that is the union of the merge bases' entries. Every merge base
 * is an ancestor of both tips, so each tip lists every one of these entries unless it removed or
 * edited it, which the three-way merge against this base then reports as a conflict.
 *
 * Order: ours' order for the entries ours lists (so that ours never looks reordered; theirs does
 * when the tips disagree about the order of their shared history, a conflict), then the entries
 * ours lacks, in the order of the first merge base listing them. An entry the merge bases list
 * with different hashes or parents is taken in ours' version when ours has one of them, else in
 * the first merge base's; `disagreements` names them.
 */
export function virtualBase(
  bases: readonly Manifest[],
  ours: Manifest,
): { manifest: Manifest; disagreements: string[] } {
  if (bases.length === 1) return { manifest: bases[0], disagreements: [] };
  const versions = new Map<string, ManifestEntry[]>();
  const order: string[] = [];
  for (const b of bases) {
    for (const e of b.entries) {
      const v = versions.get(e.id);
      if (!v) {
        versions.set(e.id, [e]);
        order.push(e.id);
      } else if (!v.some((x) => sameEntry(x, e))) v.push(e);
    }
  }
  const oursBy = new Map(ours.entries.map((e) => [e.id, e] as const));
  const pick = (id: string): ManifestEntry => {
    const v = versions.get(id)!;
    const o = oursBy.get(id);
    return (o && v.find((x) => sameEntry(x, o))) ?? v[0];
  };
  const inOurs = ours.entries.map((e) => e.id).filter((id) => versions.has(id));
  const listed = new Set(inOurs);
  const entries = [...inOurs, ...order.filter((id) => !listed.has(id))].map(pick);
  const disagreements = order
    .filter((id) => versions.get(id)!.length > 1)
    .map(
      (id) =>
        `${id} differs between the merge bases (${versions
          .get(id)!
          .map((x) => short(x.hash))
          .join(' vs ')})`,
    );
  return { manifest: { entries }, disagreements };
}
