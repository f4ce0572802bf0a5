import {
  codePointPositionToIndex,
  computeStatus,
  lineCol,
  locate,
  planDown,
  planUp,
  type AppliedRow,
  type SourceMigration,
} from '@braid/pg';

const mig = (id: string, extra: Partial<SourceMigration['directives']> = {}): SourceMigration => ({
  id,
  files: { up: `create table ${id.slice(15)} ()`, down: `drop table ${id.slice(15)}` },
  directives: { noTransaction: false, irreversible: false, ...extra },
  hash: `sha256:${id}`,
});
const A = mig('20260101000000_a');
const B = mig('20260101000001_b', { noTransaction: true });
const C = mig('20260101000002_c');
const applied = (id: string, seq: number, checksum = `sha256:${id}`): AppliedRow => ({
  id,
  checksum,
  appliedAt: 'now',
  historySeq: seq,
});

describe('computeStatus', () => {
  it('classifies applied, pending, edited, unknown and partial migrations', () => {
    const s = computeStatus(
      [A, B, C],
      [applied(A.id, 1, 'sha256:old'), applied('20251231000000_gone', 2)],
      [{ id: B.id, checksum: B.hash, statementIndex: 0, statementHash: 'h' }],
    );
    expect(s.pending).toEqual([B.id, C.id]);
    expect(s.edited).toEqual([{ id: A.id, appliedChecksum: 'sha256:old', currentChecksum: A.hash }]);
    expect(s.unknown).toEqual(['20251231000000_gone']);
    expect(s.partial).toEqual([{ id: B.id, statementsDone: 1, checksum: B.hash }]);
  });
});

describe('planUp', () => {
  const s = computeStatus(
    [A, B, C],
    [applied(A.id, 1)],
    [{ id: B.id, checksum: B.hash, statementIndex: 0, statementHash: 'h' }],
  );
  it('lists pending migrations in manifest order with resume points', () => {
    const p = planUp([A, B, C], s);
    expect(p.steps.map((x) => [x.id, x.transactional, x.resumeFrom])).toEqual([
      [B.id, false, 1],
      [C.id, true, undefined],
    ]);
  });
  it('stops at --to and rejects an unknown id', () => {
    expect(planUp([A, B, C], s, { to: B.id }).steps.map((x) => x.id)).toEqual([B.id]);
    expect(() => planUp([A, B, C], s, { to: '20990101000000_nope' })).toThrow(
      /--to: no migration 20990101000000_nope/,
    );
  });
});

describe('planUp with the DAG (out-of-order application)', () => {
  // A is the root; B and C were written concurrently on two branches (both children of A).
  const dag = new Map<string, string[]>([
    [A.id, []],
    [B.id, [A.id]],
    [C.id, [A.id]],
  ]);
  it('applies a pending migration that sorts before an applied concurrent one', () => {
    const s = computeStatus([A, B, C], [applied(A.id, 1), applied(C.id, 2)], []);
    expect(planUp([A, B, C], s, { dependsOn: dag }).steps.map((x) => x.id)).toEqual([B.id]);
  });
  it('refuses a pending migration that an applied one depends on', () => {
    const s = computeStatus([A, B, C], [applied(C.id, 1)], []);
    expect(() => planUp([A, B, C], s, { dependsOn: dag })).toThrow(
      new RegExp(`${A.id} is pending but ${C.id}, which depends on it, is already applied`),
    );
  });
});

describe('planDown', () => {
  const s = computeStatus([A, B, C], [applied(A.id, 1), applied(C.id, 2), applied(B.id, 3)], []);
  it('rolls back newest applied first, one step by default', () => {
    expect(planDown([A, B, C], s).steps.map((x) => x.id)).toEqual([B.id]);
    expect(planDown([A, B, C], s, { steps: 2 }).steps.map((x) => x.id)).toEqual([B.id, C.id]);
    expect(planDown([A, B, C], s, { steps: 9 }).steps.map((x) => x.id)).toEqual([B.id, C.id, A.id]);
  });
  it('--to keeps that migration applied', () => {
    expect(planDown([A, B, C], s, { to: A.id }).steps.map((x) => x.id)).toEqual([B.id, C.id]);
    expect(() => planDown([A, B, C], s, { to: '20990101000000_nope' })).toThrow(/--to/);
    expect(() => planDown([A, B, C], s, { steps: 0 })).toThrow(/--steps/);
  });
});

describe('error positions', () => {
  it('maps a 1-based code-point position to line and column', () => {
    const text = 'select 1;\n-- é😀\nalter tabel t;';
    const jsIndex = text.indexOf('tabel');
    const codePoints = Array.from(text.slice(0, jsIndex)).length;
    // the emoji is two UTF-16 units but one code point (PostgreSQL counts code points)
    expect(codePoints).toBe(jsIndex - 1);
    expect(codePointPositionToIndex(text, codePoints + 1)).toBe(jsIndex);
    expect(lineCol(text, text.indexOf('tabel'))).toEqual({ line: 3, col: 7 });
    const loc = locate('x/up.sql', text, text.indexOf('tabel'));
    expect(loc.sourceLine).toBe('alter tabel t;');
    expect(loc.caret).toBe('      ^');
  });
});
