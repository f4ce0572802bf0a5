/**
 * Renderings of `braid history` (SVG charts, HTML, text) and `braid changelog` (grouping,
 * markdown): structure, scales, escaping of hostile text, empty states.
 */
import { buildHistoryModel, type HistoryModel, type TargetRead } from '@braid/core';
import {
  buildChangelog,
  durationChartSvg,
  failuresChartSvg,
  formatMs,
  niceMax,
  renderChangelogJson,
  renderChangelogMarkdown,
  renderHistoryHtml,
  renderHistoryText,
  successChartSvg,
  type ChangelogEntry,
} from '@braid/report';

const EVIL = '<script>alert("x")</script> & \'q\'';
const M1 = '20261125100000_create_users';
const M2 = '20261125100100_add_phone';

function model(): HistoryModel {
  const t: TargetRead = {
    name: 'tenant<1>',
    database: 'db.example.com:5432/app',
    reachable: true,
    registryVersion: 3,
    applied: [M1],
    history: [
      {
        seq: 1,
        id: M1,
        checksum: 's',
        direction: 'up',
        at: '2026-11-24T10:00:00.000Z',
        durationMs: 40,
        gitAuthorName: EVIL,
      },
      { seq: 2, id: M2, checksum: 's', direction: 'up', at: '2026-11-24T10:00:01.000Z', durationMs: 400 },
      { seq: 3, id: M2, checksum: 's', direction: 'down', at: '2026-11-25T10:00:00.000Z', durationMs: 5 },
    ],
    audit: [
      { seq: 1, id: M1, at: '2026-11-24T10:00:00.000Z', direction: 'up', outcome: 'ok' },
      { seq: 2, id: M2, at: '2026-11-24T10:00:01.000Z', direction: 'up', outcome: 'ok' },
      {
        seq: 3,
        id: M2,
        at: '2026-11-25T09:00:00.000Z',
        direction: 'up',
        outcome: 'failed',
        error: EVIL,
        sqlstate: '42P01',
      },
      { seq: 4, id: M2, at: '2026-11-25T10:00:00.000Z', direction: 'down', outcome: 'ok' },
    ],
  };
  t.watch = [
    {
      seq: 1,
      at: '2026-11-25T09:00:00.000Z',
      id: M2,
      direction: 'up',
      statement: 2,
      attempt: 1,
      outcome: 'tripped',
      elapsedMs: 1200,
      rows: 1000,
      batches: 2,
      maxBlocked: 3,
      longestBlockMs: 1100,
      ownLockWaitMs: 0,
      maxReplicaLagMs: 250,
      maxLatencyRatio: 1.75,
      breach: `pid 4242 (${EVIL}) blocked behind braid for 1.1 s (maxBlockedFor 1.0 s)`,
    },
    {
      seq: 2,
      at: '2026-11-25T09:00:05.000Z',
      id: M2,
      direction: 'up',
      statement: 2,
      attempt: 1,
      outcome: 'ok',
      elapsedMs: 4000,
      rows: 3000,
      batches: 7,
      maxBlocked: 0,
      longestBlockMs: 0,
      ownLockWaitMs: 30,
      maxReplicaLagMs: null,
      maxLatencyRatio: null,
      breach: null,
    },
  ];
  const gone: TargetRead = {
    name: 'gone',
    database: 'h:1/x',
    reachable: false,
    error: 'cannot connect to h:1/x',
    registryVersion: 0,
    applied: [],
    history: [],
    audit: [],
  };
  return buildHistoryModel({
    targets: [t, gone],
    migrations: new Map([[M1, { id: M1, title: 'Create users', tickets: ['OPS-1', EVIL], reason: EVIL }]]),
    order: [M1, M2],
    generator: 'braid test',
  });
}

describe('history charts (SVG)', () => {
  it('durations: one bar per migration, scaled to a nice maximum, with the per-target tooltip', () => {
    const m = model();
    const svg = durationChartSvg(m.durations);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" class="chart durations"')).toBe(true);
    const bars = [
      ...svg.matchAll(
        /<rect class="bar duration" data-id="([^"]+)" data-ms="(\d+)" x="(\d+)" y="[\d.]+" width="([\d.]+)"/g,
      ),
    ];
    expect(bars.map((b) => [b[1], b[2]])).toEqual([
      [M1, '40'],
      [M2, '400'],
    ]);
    // 400 ms on a 500 ms axis is 4/5 of the plot; 40 ms is 1/10 of that.
    const w1 = Number(bars[0][4]);
    const w2 = Number(bars[1][4]);
    expect(w2 / w1).toBeCloseTo(10, 0);
    expect(svg).toContain('>500 ms</text>');
    expect(svg).toContain('tenant&lt;1&gt;: 40 ms');
  });

  it('failures and success rate: one group per day, values as data attributes', () => {
    const m = model();
    const f = failuresChartSvg(m.days);
    expect([...f.matchAll(/<g class="day" data-day="([\d-]+)">/g)].map((x) => x[1])).toEqual([
      '2026-11-24',
      '2026-11-25',
    ]);
    expect(
      [...f.matchAll(/<rect class="bar failed" data-day="([\d-]+)" data-value="(\d+)"/g)].map((x) => x[2]),
    ).toEqual(['0', '1']);
    expect(
      [...f.matchAll(/<rect class="bar rolled-back" data-day="([\d-]+)" data-value="(\d+)"/g)].map(
        (x) => x[2],
      ),
    ).toEqual(['0', '1']);
    const s = successChartSvg(m.days);
    expect(
      [...s.matchAll(/<rect class="bar success-rate" data-day="([\d-]+)" data-value="([\d.]+)"/g)].map(
        (x) => x[2],
      ),
    ).toEqual(['1', '0.5']);
    expect(s).toContain('>100%</text>');
  });

  it('empty states are charts with a message, not errors', () => {
    expect(durationChartSvg([])).toContain('No migration applied in this history.');
    expect(failuresChartSvg([])).toContain('No attempt recorded');
    expect(successChartSvg([])).toContain('No attempt recorded');
  });

  it('helpers', () => {
    expect([0, 1, 7, 40, 400, 1001, 20000].map(niceMax)).toEqual([1, 1, 10, 50, 500, 2000, 20000]);
    expect([5, 1500, 12_000, 90_000].map(formatMs)).toEqual(['5 ms', '1.50 s', '12.0 s', '1.5 min']);
  });
});

describe('history HTML and text', () => {
  it('HTML: self-contained, every value escaped, three charts and the tables', () => {
    const html = renderHistoryHtml(model());
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|\bsrc=|href=/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;');
    expect([...html.matchAll(/<svg [^>]*class="chart (\w+)"/g)].map((x) => x[1])).toEqual([
      'durations',
      'failures',
      'success',
    ]);
    for (const cls of ['targets', 'failures', 'rollbacks', 'applied', 'watch', 'days', 'migrations'])
      expect(html).toContain(`<table class="${cls}">`);
    expect(html).toContain('<tr class="unreachable">');
    expect(html).toContain('tenant&lt;1&gt;');
  });

  it('HTML: the watch rows per statement (blocked sessions, longest block, lag, latency ratio, trips, breach)', () => {
    const html = renderHistoryHtml(model());
    const table = html.slice(
      html.indexOf('<table class="watch">'),
      html.indexOf('</table>', html.indexOf('<table class="watch">')),
    );
    const rows = [...table.matchAll(/<tr class="(\w+)">(.*?)<\/tr>/g)].map((r) => [
      r[1],
      [...r[2].matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((x) => x[1]),
    ]);
    // newest first: the statement's ok row, then its trip; both count the statement's one trip
    expect(rows).toEqual([
      [
        'ok',
        [
          '2026-11-25 09:00:05',
          'tenant&lt;1&gt;',
          `<code>${M2}</code>`,
          '2',
          'ok',
          '1',
          '4.00 s',
          '3000',
          '7',
          '0',
          '0 ms',
          '30 ms',
          '-',
          '-',
          '1',
          '',
        ],
      ],
      [
        'tripped',
        [
          '2026-11-25 09:00:00',
          'tenant&lt;1&gt;',
          `<code>${M2}</code>`,
          '2',
          'tripped',
          '1',
          '1.20 s',
          '1000',
          '2',
          '3',
          '1.10 s',
          '0 ms',
          '250 ms',
          '×1.75',
          '1',
          'pid 4242 (&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;) blocked behind braid for 1.1 s (maxBlockedFor 1.0 s)',
        ],
      ],
    ]);
    expect(table).toContain(
      '<th>blocked sessions</th><th>longest block</th><th>own lock wait</th><th>replica lag</th><th>latency ratio</th><th>trips</th>',
    );
  });

  it('text: the sections in order', () => {
    const text = renderHistoryText(model());
    const order = [
      'Targets:',
      'Attempts:',
      'Failures:',
      'Rollbacks:',
      'Applied (newest first):',
      'Per day (UTC):',
      'Durations',
    ];
    const pos = order.map((s) => text.indexOf(s));
    expect(pos.every((p) => p >= 0)).toBe(true);
    expect([...pos].sort((a, b) => a - b)).toEqual(pos);
    expect(text).toContain('  gone (h:1/x): UNREACHABLE: cannot connect to h:1/x');
    expect(text).toContain('Attempts: 4, ok 3, failed 1, rolled back 1, success rate 75%');
    expect(text).toContain(`  2026-11-25 10:00:00  tenant<1>  ${M2}  braid down; by -`);
  });
});

describe('changelog', () => {
  const e = (id: string, extra: Partial<ChangelogEntry> = {}): ChangelogEntry => ({
    id,
    title: id.slice(15),
    tickets: [],
    irreversible: false,
    noTransaction: false,
    ...extra,
  });
  const entries = [
    e('20261125100000_a', {
      release: 'v1',
      date: '2026-11-20T10:00:00+00:00',
      commit: 'a'.repeat(40),
      author: 'Ann',
    }),
    e('20261125100100_b', {
      release: 'v2',
      date: '2026-11-21T10:00:00+00:00',
      commit: 'b'.repeat(40),
      author: 'Bo',
    }),
    e('20261125100200_c', { date: '2026-11-21T11:00:00+00:00', commit: 'c'.repeat(40), author: 'Cy' }),
    e('20261125100300_d', {
      tickets: ['T-1', 'T-2'],
      reason: 'because | <why>',
      irreversible: true,
      drops: ['table public.x'],
    }),
  ];

  it('groups by release, newest first, unreleased on top', () => {
    const m = buildChangelog({
      range: 'r',
      to: 'HEAD',
      groupBy: 'release',
      generator: 'g',
      entries,
      releases: ['v1', 'v2'],
    });
    expect(m.groups.map((g) => [g.title, g.entries.map((x) => x.id.slice(15))])).toEqual([
      ['Unreleased', ['c', 'd']],
      ['v2', ['b']],
      ['v1', ['a']],
    ]);
  });

  it('groups by date, newest first, uncommitted on top', () => {
    const m = buildChangelog({ range: 'r', to: 'HEAD', groupBy: 'date', generator: 'g', entries });
    expect(m.groups.map((g) => [g.title, g.entries.length])).toEqual([
      ['Not committed', 1],
      ['2026-11-21', 2],
      ['2026-11-20', 1],
    ]);
  });

  it('markdown escapes text and shows flags, tickets, reason, objects and the commit', () => {
    const m = buildChangelog({
      range: 'v1..HEAD',
      to: 'HEAD',
      groupBy: 'release',
      generator: 'g',
      entries,
      releases: ['v1', 'v2'],
    });
    const md = renderChangelogMarkdown(m);
    expect(md).toContain('# Changelog: v1..HEAD\n');
    expect(md).toContain('`20261125100300_d` · ticket T-1, T-2 · **irreversible**');
    expect(md).toContain('> because \\| \\<why\\>');
    expect(md).toContain('- drops: `table public.x`');
    expect(md).toContain(`Added by Ann on 2026-11-20 in \`${'a'.repeat(12)}\`.`);
    expect(md).toContain('Not committed yet.');
    expect(JSON.parse(renderChangelogJson(m))).toEqual(m);
    const empty = renderChangelogMarkdown(
      buildChangelog({ range: 'x', to: 'x', groupBy: 'release', generator: 'g', entries: [] }),
    );
    expect(empty).toContain('No migrations in this range.');
  });
});
