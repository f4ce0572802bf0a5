import { mergeManifests, virtualBase } from '../src/merge';
import type { Manifest, ManifestEntry } from '../src/manifest';
import { parseManifest, serializeManifest } from '../src/manifest';

const H = (c: string): string => `sha256:${c.repeat(64).slice(0, 64)}`;
const e = (id: string, hash: string, parents: string[] = []): ManifestEntry => ({
  id,
  hash: H(hash),
  parents,
});
const m = (...entries: ManifestEntry[]): Manifest => ({ entries });

const A = e('20260101000000_a', 'a');
const B = e('20260101000100_b', 'b', [A.id]);
const O1 = e('20260102000000_o1', 'c', [B.id]);
const O2 = e('20260102000200_o2', 'd', [O1.id]);
const T1 = e('20260102000100_t1', 'e', [B.id]);
const T2 = e('20260103000000_t2', 'f', [T1.id]);

const ids = (x: Manifest | undefined): string[] => (x ? x.entries.map((y) => y.id) : []);

describe('mergeManifests', () => {
  test('nothing new on either side: the base', () => {
    const r = mergeManifests(m(A, B), m(A, B), m(A, B));
    expect(r.conflicts).toEqual([]);
    expect(ids(r.manifest)).toEqual([A.id, B.id]);
  });

  test('only theirs added: theirs', () => {
    const r = mergeManifests(m(A, B), m(A, B), m(A, B, T1, T2));
    expect(ids(r.manifest)).toEqual([A.id, B.id, T1.id, T2.id]);
    expect(r.theirsNew).toEqual([T1.id, T2.id]);
    expect(r.oursNew).toEqual([]);
  });

  test('only ours added: ours', () => {
    const r = mergeManifests(m(A, B), m(A, B, O1), m(A, B));
    expect(ids(r.manifest)).toEqual([A.id, B.id, O1.id]);
  });

  test('both added: base, then the side whose first new id is older, each side in its own order; parents kept', () => {
    const r = mergeManifests(m(A, B), m(A, B, O1, O2), m(A, B, T1, T2));
    expect(r.first).toBe('ours');
    expect(ids(r.manifest)).toEqual([A.id, B.id, O1.id, O2.id, T1.id, T2.id]);
    expect(r.manifest!.entries.find((x) => x.id === T1.id)!.parents).toEqual([B.id]);
    // the result is a valid manifest (parents listed earlier)
    const text = serializeManifest(r.manifest!);
    expect(parseManifest(text).headerHashOk).toBe(true);
  });

  test('theirs first when its first new id sorts earlier; symmetric', () => {
    const T0 = e('20260101120000_t0', '9', [B.id]);
    const r = mergeManifests(m(A, B), m(A, B, O1), m(A, B, T0));
    expect(r.first).toBe('theirs');
    expect(ids(r.manifest)).toEqual([A.id, B.id, T0.id, O1.id]);
    const s = mergeManifests(m(A, B), m(A, B, T0), m(A, B, O1));
    expect(ids(s.manifest)).toEqual(ids(r.manifest));
  });

  test('empty base (no common manifest)', () => {
    const r = mergeManifests(m(), m(A), m(e('20260101000005_x', '1')));
    expect(ids(r.manifest)).toEqual([A.id, '20260101000005_x']);
  });

  test('the same migration added identically on both sides is listed once, before the sides', () => {
    const r = mergeManifests(m(A), m(A, B, O1), m(A, B, T1));
    expect(r.conflicts).toEqual([]);
    expect(r.bothNew).toEqual([B.id]);
    expect(ids(r.manifest)).toEqual([A.id, B.id, O1.id, T1.id]);
  });

  test('the same id added with different contents: conflict', () => {
    const B2 = { ...B, hash: H('z') };
    const r = mergeManifests(m(A), m(A, B), m(A, B2));
    expect(r.manifest).toBeUndefined();
    expect(r.conflicts).toEqual([
      expect.objectContaining({ kind: 'added-both-different', id: B.id, sides: ['ours', 'theirs'] }),
    ]);
    expect(r.conflicts[0].message).toMatch(/added on both sides with different contents/);
  });

  test('the same id added with different parents: conflict', () => {
    const B2 = { ...B, parents: [] };
    const r = mergeManifests(m(A), m(A, B), m(A, B2));
    expect(r.conflicts[0].message).toMatch(/different parents/);
  });

  test('a base entry edited on one side: conflict naming the side', () => {
    const B2 = { ...B, hash: H('z') };
    for (const [ours, theirs, side] of [
      [m(A, B2), m(A, B, T1), 'ours'],
      [m(A, B, O1), m(A, B2), 'theirs'],
    ] as const) {
      const r = mergeManifests(m(A, B), ours, theirs);
      expect(r.manifest).toBeUndefined();
      expect(r.conflicts).toEqual([
        expect.objectContaining({ kind: 'base-edited', id: B.id, sides: [side] }),
      ]);
      expect(side === 'ours' ? r.oursEdited : r.theirsEdited).toEqual([B.id]);
    }
  });

  test('a base entry edited identically on both sides is taken', () => {
    const B2 = { ...B, hash: H('z') };
    const r = mergeManifests(m(A, B), m(A, B2, O1), m(A, B2));
    expect(r.conflicts).toEqual([]);
    expect(r.manifest!.entries[1].hash).toBe(H('z'));
  });

  test('a base entry edited differently on both sides: conflict naming both', () => {
    const r = mergeManifests(m(A, B), m(A, { ...B, hash: H('y') }), m(A, { ...B, hash: H('z') }));
    expect(r.conflicts).toEqual([
      expect.objectContaining({ kind: 'base-edited', sides: ['ours', 'theirs'] }),
    ]);
  });

  test('a base entry re-parented on a side: conflict', () => {
    const r = mergeManifests(m(A, B), m(A, { ...B, parents: [] }), m(A, B));
    expect(r.conflicts[0].kind).toBe('base-edited');
    expect(r.conflicts[0].message).toMatch(/parents/);
  });

  test('a base entry removed on a side (or both): conflict', () => {
    expect(mergeManifests(m(A, B), m(A), m(A, B, T1)).conflicts).toEqual([
      expect.objectContaining({ kind: 'base-removed', id: B.id, sides: ['ours'] }),
    ]);
    expect(mergeManifests(m(A, B), m(A, B, O1), m(A)).conflicts).toEqual([
      expect.objectContaining({ kind: 'base-removed', id: B.id, sides: ['theirs'] }),
    ]);
    const both = mergeManifests(m(A, B), m(A), m(A));
    expect(both.conflicts[0].sides).toEqual(['ours', 'theirs']);
    expect(both.oursRemoved).toEqual([B.id]);
  });

  test('base entries reordered on a side: conflict', () => {
    const B0 = { ...B, parents: [] };
    const r = mergeManifests(m(A, B0), m(B0, A), m(A, B0));
    expect(r.conflicts).toEqual([expect.objectContaining({ kind: 'base-reordered', sides: ['ours'] })]);
  });

  test('a new entry whose parent the merge does not list: conflict', () => {
    const X = e('20260105000000_x', '7', ['20260104000000_gone']);
    const r = mergeManifests(m(A), m(A, X), m(A));
    expect(r.conflicts).toEqual([expect.objectContaining({ kind: 'missing-parent', id: X.id })]);
  });

  test('deterministic: merging twice gives the same text', () => {
    const a = serializeManifest(mergeManifests(m(A, B), m(A, B, O1, O2), m(A, B, T1, T2)).manifest!);
    const b = serializeManifest(mergeManifests(m(A, B), m(A, B, O1, O2), m(A, B, T1, T2)).manifest!);
    expect(a).toBe(b);
  });
});

describe('virtualBase (criss-cross merges: several merge bases)', () => {
  // X0 = A,B,O1 and Y0 = A,B,T1 are the merge bases; both tips merged both, then added more.
  test('the union of the merge bases, in ours order; then the three-way merge finds only the new entries', () => {
    const X0 = m(A, B, O1);
    const Y0 = m(A, B, T1);
    const ours = m(A, B, O1, T1, O2);
    const theirs = m(A, B, O1, T1, T2);
    const vb = virtualBase([X0, Y0], ours);
    expect(ids(vb.manifest)).toEqual([A.id, B.id, O1.id, T1.id]);
    expect(vb.disagreements).toEqual([]);
    // in the other order of the merge bases: the same (ours decides the order)
    expect(ids(virtualBase([Y0, X0], ours).manifest)).toEqual([A.id, B.id, O1.id, T1.id]);
    const r = mergeManifests(vb.manifest, ours, theirs);
    expect(r.conflicts).toEqual([]);
    expect(r.oursNew).toEqual([O2.id]);
    expect(r.theirsNew).toEqual([T2.id]);
    expect(ids(r.manifest)).toEqual([A.id, B.id, O1.id, T1.id, O2.id, T2.id]);
  });

  test('one merge base: itself', () => {
    const X0 = m(A, B, O1);
    expect(virtualBase([X0], m(A, B, O1, T1)).manifest).toBe(X0);
  });

  test('tips that order their shared history differently: a conflict (theirs reordered)', () => {
    const O1b = { ...O1, parents: [A.id] };
    const T1b = { ...T1, parents: [A.id] };
    const vb = virtualBase([m(A, O1b), m(A, T1b)], m(A, O1b, T1b));
    const r = mergeManifests(vb.manifest, m(A, O1b, T1b), m(A, T1b, O1b));
    expect(r.conflicts).toEqual([expect.objectContaining({ kind: 'base-reordered', sides: ['theirs'] })]);
  });

  test('an entry of a merge base that a tip removed: a conflict', () => {
    const vb = virtualBase([m(A, B, O1), m(A, B, T1)], m(A, B, O1, O2));
    expect(ids(vb.manifest)).toEqual([A.id, B.id, O1.id, T1.id]);
    const r = mergeManifests(vb.manifest, m(A, B, O1, O2), m(A, B, O1, T1, T2));
    expect(r.conflicts).toEqual([
      expect.objectContaining({ kind: 'base-removed', id: T1.id, sides: ['ours'] }),
    ]);
  });

  test('merge bases that disagree about an entry: named; a tip holding the other version conflicts', () => {
    const O1x = { ...O1, hash: H('9') };
    const vb = virtualBase([m(A, B, O1), m(A, B, O1x, T1)], m(A, B, O1, T1, O2));
    expect(vb.disagreements).toEqual([
      expect.stringMatching(new RegExp(`^${O1.id} differs between the merge bases`)),
    ]);
    expect(vb.manifest.entries.find((x) => x.id === O1.id)?.hash).toBe(O1.hash);
    const r = mergeManifests(vb.manifest, m(A, B, O1, T1, O2), m(A, B, O1x, T1, T2));
    expect(r.conflicts).toEqual([
      expect.objectContaining({ kind: 'base-edited', id: O1.id, sides: ['theirs'] }),
    ]);
  });
});
