import {
  ancestors,
  appendMigration,
  concurrent,
  descendants,
  emptyManifest,
  heads,
  isAncestor,
  parseManifest,
  rehashManifest,
  serializeManifest,
  sha256,
  UsageError,
  type Manifest,
} from '@braid/core';

const A = '20261125101500_create_users';
const B = '20261125101600_add_phone';
const C = '20261125101700_add_email';
const D = '20261125101800_merge_both';
const h = (s: string) => sha256(s);

function sample(): Manifest {
  return {
    entries: [
      { id: A, hash: h('a'), parents: [] },
      { id: B, hash: h('b'), parents: [A] },
      { id: C, hash: h('c'), parents: [A] },
      { id: D, hash: h('d'), parents: [B, C] },
    ],
  };
}

function errorOf(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error('expected a UsageError');
}

describe('manifest format', () => {
  it('serializes the documented line format', () => {
    const text = serializeManifest(sample());
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^braid-manifest 1 sha256:[0-9a-f]{64}$/);
    expect(lines[1]).toBe(`${A} ${h('a')} -`);
    expect(lines[2]).toBe(`${B} ${h('b')} ${A}`);
    expect(lines[4]).toBe(`${D} ${h('d')} ${B} ${C}`);
    expect(text.endsWith('\n')).toBe(true);
    // The header hashes the body lines.
    expect(lines[0]).toBe(`braid-manifest 1 ${sha256(lines.slice(1).join('\n'))}`);
  });

  it('round-trips', () => {
    const text = serializeManifest(sample());
    const parsed = parseManifest(text);
    expect(parsed.manifest).toEqual(sample());
    expect(parsed.headerHashOk).toBe(true);
    expect(parsed.lines.get(C)).toBe(4);
    expect(serializeManifest(parsed.manifest)).toBe(text);
  });

  it('round-trips the empty manifest', () => {
    const text = serializeManifest(emptyManifest());
    expect(text).toBe(`braid-manifest 1 ${sha256('')}\n`);
    expect(parseManifest(text).manifest.entries).toEqual([]);
    expect(parseManifest(text).headerHashOk).toBe(true);
  });

  it('accepts CRLF line endings and blank lines with the same hash', () => {
    const text = serializeManifest(sample());
    const crlf = text.replace(/\n/g, '\r\n').replace(`${B}`, `\r\n${B}`);
    const parsed = parseManifest(crlf);
    expect(parsed.manifest).toEqual(sample());
    expect(parsed.headerHashOk).toBe(true);
  });

  it('reports a stale header hash without failing', () => {
    const text = serializeManifest(sample());
    const edited = text.replace(h('b'), h('b2'));
    const parsed = parseManifest(edited);
    expect(parsed.headerHashOk).toBe(false);
    expect(parsed.manifest.entries[1].hash).toBe(h('b2'));
  });

  it('makes two branches that each add a migration differ on line 1', () => {
    const base: Manifest = { entries: [sample().entries[0]] };
    const ours = serializeManifest(appendMigration(base, B, h('b')));
    const theirs = serializeManifest(appendMigration(base, C, h('c')));
    expect(ours.split('\n')[0]).not.toBe(theirs.split('\n')[0]);
  });

  const good = serializeManifest(sample()).split('\n');
  const withLine = (n: number, line: string) => {
    const l = [...good];
    l[n - 1] = line;
    return l.join('\n');
  };

  it.each([
    ['', 1, /empty manifest/],
    ['braid-manifesto 1 sha256:00\n', 1, /expected the header/],
    [`braid-manifest 2 ${sha256('')}\n`, 1, /newer than this braid understands/],
    [`braid-manifest x ${sha256('')}\n`, 1, /not a number/],
    ['braid-manifest 1 md5:abc\n', 1, /header hash "md5:abc"/],
  ])('rejects header %j at line %d', (text, line, re) => {
    const e = errorOf(() => parseManifest(text, 'x/manifest'));
    expect(e.message).toMatch(new RegExp(`^x/manifest:${line}: `));
    expect(e.message).toMatch(re);
    expect(e.data['line']).toBe(line);
    expect(e.exitCode).toBe(2);
  });

  it.each([
    [3, `${B} ${h('b')}`, /expected "<id> sha256:<hex> <parents or ->"/],
    [3, `2026112510160_add_phone ${h('b')} ${A}`, /is not a migration id/],
    [3, `${B} sha256:xyz ${A}`, /is not sha256:<64 hex digits>/],
    [3, `${A} ${h('b')} -`, /duplicate id .* \(first listed on line 2\)/],
    [3, `${B} ${h('b')} ${A} -`, /cannot be combined/],
    [3, `${B} ${h('b')} ${A} ${A}`, /listed twice/],
    [3, `${B} ${h('b')} ${B}`, /lists itself as a parent/],
    [3, `${B} ${h('b')} ${D}`, /not listed on an earlier line/],
    [3, `${B} ${h('b')} Bad`, /parent "Bad" .* is not a migration id/],
    [3, '<<<<<<< ours', /unresolved git merge conflict marker/],
    [4, '=======', /unresolved git merge conflict marker/],
  ])('rejects line %d %j', (n, line, re) => {
    const e = errorOf(() => parseManifest(withLine(n, line)));
    expect(e.message).toMatch(new RegExp(`^\\.migrations/manifest:${n}: `));
    expect(e.message).toMatch(re);
    expect(e.code).toBe('invalid-manifest');
  });
});

describe('DAG', () => {
  it('heads are the ids nobody lists as parent, in manifest order', () => {
    expect(heads(emptyManifest())).toEqual([]);
    expect(heads(sample())).toEqual([D]);
    const m = { entries: sample().entries.slice(0, 3) };
    expect(heads(m)).toEqual([B, C]);
  });

  it('appendMigration uses the heads as parents and refuses duplicates', () => {
    const m = appendMigration({ entries: sample().entries.slice(0, 3) }, D, h('d'));
    expect(m.entries[3]).toEqual({ id: D, hash: h('d'), parents: [B, C] });
    expect(() => appendMigration(m, D, h('d'))).toThrow(/already listed/);
  });

  it('ancestors follow parents and, when given, requires', () => {
    expect(ancestors(sample(), D)).toEqual(new Set([A, B, C]));
    expect(ancestors(sample(), B)).toEqual(new Set([A]));
    expect(ancestors(sample(), A)).toEqual(new Set());
    const m = {
      entries: sample()
        .entries.slice(0, 3)
        .map((e) => (e.id === C ? { ...e, parents: [] } : e)),
    };
    expect(ancestors(m, C)).toEqual(new Set());
    expect(ancestors(m, C, new Map([[C, [B]]]))).toEqual(new Set([A, B]));
  });

  it('isAncestor, descendants, concurrent', () => {
    expect(isAncestor(sample(), A, D)).toBe(true);
    expect(isAncestor(sample(), D, A)).toBe(false);
    expect(isAncestor(sample(), A, A)).toBe(false);
    expect(descendants(sample(), B)).toEqual([D]);
    expect(descendants(sample(), A)).toEqual([B, C, D]);
    expect(concurrent(sample(), B, C)).toBe(true);
    expect(concurrent(sample(), A, C)).toBe(false);
    expect(concurrent(sample(), B, C, new Map([[C, [B]]]))).toBe(false);
  });
});

describe('rehashManifest', () => {
  it('replaces changed hashes and reports them', () => {
    const r = rehashManifest(
      sample(),
      new Map([
        [A, h('a')],
        [B, h('b2')],
        [C, h('c')],
      ]),
    );
    expect(r.changed).toEqual([{ id: B, from: h('b'), to: h('b2') }]);
    expect(r.missing).toEqual([D]);
    expect(r.manifest.entries[1].hash).toBe(h('b2'));
    expect(r.manifest.entries[1].parents).toEqual([A]);
  });

  it('keeps protected hashes and lists them as refused', () => {
    const current = new Map([
      [A, h('a2')],
      [B, h('b2')],
      [C, h('c')],
      [D, h('d')],
    ]);
    const r = rehashManifest(sample(), current, { isProtected: (id) => id === A });
    expect(r.refused).toEqual([{ id: A, from: h('a'), to: h('a2') }]);
    expect(r.changed.map((c) => c.id)).toEqual([B]);
    expect(r.manifest.entries[0].hash).toBe(h('a'));
  });
});
