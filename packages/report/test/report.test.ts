import type { Manifest, SideSummary } from '@braid/core';
import {
  buildDag,
  buildReportModel,
  escapeXml,
  layoutDag,
  renderHtml,
  renderJson,
  renderMarkdown,
  renderMermaid,
  renderSvg,
  NODE_H,
  NODE_W,
  type ReportVerdict,
} from '@braid/report';

const H = 'sha256:' + '0'.repeat(64);
const B1 = '20261125100000_base_one';
const B2 = '20261125100100_base_two';
const O1 = '20261125110000_ours_a';
const T1 = '20261125120000_theirs_a';
const T2 = '20261125120100_theirs_b';

function side(added: string[], extra: Partial<SideSummary> = {}): SideSummary {
  return { added, edited: [], removed: [], touches: [], incomplete: [], ...extra };
}

const base: Manifest = {
  entries: [
    { id: B1, hash: H, parents: [] },
    { id: B2, hash: H, parents: [B1] },
  ],
};
const ours: Manifest = { entries: [...base.entries, { id: O1, hash: H, parents: [B2] }] };
const theirs: Manifest = {
  entries: [...base.entries, { id: T1, hash: H, parents: [B2] }, { id: T2, hash: H, parents: [T1] }],
};

function verdict(over: Partial<ReportVerdict> = {}): ReportVerdict {
  return {
    verdict: 'safe',
    static: false,
    base: 'abc',
    ours: side([O1], { diffText: ['+ table public.a'] }),
    theirs: side([T1, T2], { diffText: [] }),
    collisions: [],
    replays: [
      { order: 'ours-then-theirs', ok: true, sequence: [O1, T1, T2] },
      { order: 'theirs-then-ours', ok: true, sequence: [T1, T2, O1] },
    ],
    reasons: [],
    advice: [],
    manifestConflicts: [],
    shadow: { engine: 'postgres', major: 15 },
    labels: { base: 'abc123', ours: 'main', theirs: 'feature' },
    mergedOrder: [T1, T2, O1],
    ...over,
  };
}

const manifests = { base, ours, theirs };

describe('buildDag', () => {
  test('base heads, then each side with parents', () => {
    const dag = buildDag(verdict(), manifests);
    expect(dag).toEqual([
      { id: B2, side: 'base', parents: [] },
      { id: O1, side: 'ours', parents: [B2] },
      { id: T1, side: 'theirs', parents: [B2] },
      { id: T2, side: 'theirs', parents: [T1] },
    ]);
  });

  test('a base parent that is not a head is shown too, with its edge to the head', () => {
    const t2: Manifest = { entries: [...base.entries, { id: T1, hash: H, parents: [B1] }] };
    const dag = buildDag(verdict({ theirs: side([T1]) }), { base, ours, theirs: t2 });
    expect(dag.map((n) => n.id)).toEqual([B1, B2, O1, T1]);
    expect(dag[1].parents).toEqual([B1]);
    expect(dag[3].parents).toEqual([B1]);
  });

  test('an empty base and no new migrations give an empty DAG', () => {
    const empty = { entries: [] };
    expect(
      buildDag(verdict({ ours: side([]), theirs: side([]) }), { base: empty, ours: empty, theirs: empty }),
    ).toEqual([]);
  });
});

describe('layout and SVG', () => {
  test('columns per side, rows in order, everything inside the box', () => {
    const dag = buildDag(verdict(), manifests);
    const { placed, width, height } = layoutDag(dag);
    const x = (id: string) => placed.find((p) => p.id === id)!.x;
    const y = (id: string) => placed.find((p) => p.id === id)!.y;
    expect(x(O1)).toBeLessThan(x(B2));
    expect(x(B2)).toBeLessThan(x(T1));
    expect(x(T1)).toBe(x(T2));
    expect(y(B2)).toBeLessThan(y(T1));
    expect(y(T1)).toBeLessThan(y(T2));
    expect(y(O1)).toBe(y(T1));
    for (const p of placed) {
      expect(p.x + NODE_W).toBeLessThanOrEqual(width);
      expect(p.y + NODE_H).toBeLessThanOrEqual(height);
    }
  });

  test('SVG: one node per migration, one edge per parent link, labels escaped', () => {
    const svg = renderSvg(buildDag(verdict(), manifests), { base: 'a<b', ours: 'main', theirs: 'x&y' });
    expect(svg.match(/<g class="node /g)).toHaveLength(4);
    expect(svg.match(/<path class="edge"/g)).toHaveLength(3);
    expect(svg).toContain('base: a&lt;b');
    expect(svg).toContain('theirs: x&amp;y');
    expect(svg).not.toContain('a<b');
  });
});

describe('mermaid', () => {
  test('subgraphs per side, edges, quotes escaped', () => {
    const text = renderMermaid(buildDag(verdict(), manifests), {
      base: 'abc',
      ours: 'we "quote"',
      theirs: 'feature',
    });
    expect(text.split('\n')[0]).toBe('flowchart TB');
    expect(text).toContain('subgraph side_ours["ours: we #quot;quote#quot;"]');
    expect(text).toContain('m0 --> m1');
    expect(text).toContain('m2 --> m3');
    expect(text).toContain('class m2,m3 theirs');
  });
});

describe('renderings', () => {
  const hazards = [
    {
      side: 'theirs' as const,
      migration: T1,
      file: `.migrations/${T1}/up.sql`,
      line: 3,
      column: 1,
      rule: 'require-lock-timeout',
      severity: 'warning' as const,
      message: 'a | pipe',
      help: 'h',
    },
    {
      side: 'theirs' as const,
      migration: T2,
      file: `.migrations/${T2}/up.sql`,
      line: 1,
      column: 1,
      rule: 'add-column-not-null-no-default',
      severity: 'error' as const,
      message: 'boom',
      help: 'h',
    },
  ];

  test('hazards sorted errors first; markdown escapes table pipes', () => {
    const m = buildReportModel({ verdict: verdict(), manifests, hazards, generator: 'braid 0.0.0' });
    expect(m.hazards.map((h) => h.severity)).toEqual(['error', 'warning']);
    const md = renderMarkdown(m);
    expect(md.split('\n')[0]).toBe('# ✅ braid: SAFE (replayed on PostgreSQL 15)');
    expect(md).toContain('a \\| pipe');
    expect(md).toContain(`1. \`${T1}\``);
    expect(md).toContain('(no schema change)');
  });

  test('a conflict: reasons first, no merged order, collisions located', () => {
    const v = verdict({
      verdict: 'conflict',
      reasons: ['column public.users.nickname added on both sides'],
      advice: ['rebase'],
      collisions: [
        {
          object: 'column public.users.nickname',
          severity: 'conflict',
          reason: 'column public.users.nickname added on both sides',
          ours: [{ object: 'x', action: 'create', destructive: false, at: `${O1}/up.sql:1` }],
          theirs: [{ object: 'x', action: 'create', destructive: false, at: `${T1}/up.sql:2` }],
        },
      ],
    });
    const m = buildReportModel({ verdict: v, manifests, hazards: [], generator: 'g' });
    const md = renderMarkdown(m);
    expect(md.indexOf('## Why it conflicts')).toBeLessThan(md.indexOf('## Migration DAG'));
    expect(md).toContain(`(ours ${O1}/up.sql:1, theirs ${T1}/up.sql:2)`);
    expect(md).toContain('None: the two sides do not merge as they are.');
    const html = renderHtml(m);
    expect(html).toContain('<h1 class="verdict conflict">');
    expect(html).toContain('class="conflict-item"');
  });

  test('HTML escapes every user-controlled string and references nothing external', () => {
    const v = verdict({ labels: { base: 'b', ours: '<script>alert(1)</script>', theirs: 'f' } });
    const html = renderHtml(buildReportModel({ verdict: v, manifests, hazards, generator: 'g' }));
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;');
    expect(html).not.toMatch(/\bsrc=|<link|@import|url\((?!#)/);
  });

  test('JSON is the model', () => {
    const m = buildReportModel({ verdict: verdict(), manifests, hazards, generator: 'g' });
    expect(JSON.parse(renderJson(m))).toEqual(JSON.parse(JSON.stringify(m)));
  });

  test('escapeXml', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
