import {
  countResults,
  describeDownDiff,
  engineMatrix,
  textDiff,
  type MigrationTestResult,
  describeReupDiff,
  diffSchemas,
  emptyModel,
  engineDifferences,
  renderJUnit,
  renderTestMarkdown,
  renderTestText,
  reportOk,
  statusOf,
  versionText,
  xmlEscape,
  type ColumnDef,
  type EngineRun,
  type SchemaModel,
  type TableDef,
  type TestReport,
} from '@braid/core';

const col = (type: string, extra: Partial<ColumnDef> = {}): ColumnDef => ({
  type,
  notNull: false,
  default: null,
  identity: null,
  generated: null,
  collation: null,
  comment: null,
  ...extra,
});

function withUsers(columns: Record<string, ColumnDef>): SchemaModel {
  const m = emptyModel();
  m.tables['public.users'] = {
    schema: 'public',
    name: 'users',
    kind: 'table',
    columns,
    constraints: {},
  } as unknown as TableDef;
  return m;
}

describe('round-trip differences in words', () => {
  it('names an index down.sql leaves and a default it restores wrongly', () => {
    const before = withUsers({ status: col('text', { default: "'new'::text" }) });
    const after = withUsers({ status: col('text') });
    after.indexes['public.users_email_idx'] = { schema: 'public', name: 'users_email_idx' } as never;
    expect(describeDownDiff(diffSchemas(before, after))).toEqual([
      "down.sql restores users.status default 'new'::text as NULL",
      'down.sql leaves index users_email_idx',
    ]);
  });

  it('names a column not restored, a column left and an object of another schema', () => {
    const before = withUsers({ phone: col('text') });
    const after = withUsers({ email: col('text') });
    after.tables['audit.log'] = { schema: 'audit', name: 'log', kind: 'table', columns: {} } as never;
    expect(describeDownDiff(diffSchemas(before, after))).toEqual([
      'down.sql leaves table audit.log',
      'down.sql leaves column users.email',
      'down.sql does not restore column users.phone (it existed before up.sql)',
    ]);
  });

  it('words a re-up difference from the point of view of the first up', () => {
    const s1 = withUsers({ x: col('integer') });
    const again = withUsers({ x: col('text') });
    expect(describeReupDiff(diffSchemas(s1, again))).toEqual([
      'up.sql again gives users.x type text instead of integer',
    ]);
    expect(describeReupDiff(diffSchemas(s1, emptyModel()))).toEqual([
      'up.sql again does not create table users',
    ]);
  });
});

const run = (
  engine: 'pglite' | 'postgres',
  statuses: [string, EngineRun['results'][number]['status']][],
): EngineRun => ({
  engine,
  serverVersion: engine === 'pglite' ? '18.0' : '15.14',
  serverVersionNum: engine === 'pglite' ? 180000 : 150014,
  prefix: 1,
  ms: 1234,
  results: statuses.map(([id, status]) => ({
    id,
    status,
    ms: 12,
    notes: status === 'ok' || status === 'irreversible' ? [] : ['continued from the state after up.sql'],
    problems:
      status === 'ok' || status === 'irreversible'
        ? []
        : [
            {
              category: status,
              message: `.migrations/${id}/down.sql:3:5: relation "x" <does> not exist & more`,
              differences: status === 'down-differs' ? ['down.sql leaves index users_email_idx'] : [],
            },
          ],
  })),
});

describe('reports', () => {
  const report: TestReport = {
    selection: 'all',
    tested: ['1_a', '2_b', '3_c'],
    runs: [
      run('pglite', [
        ['1_a', 'ok'],
        ['2_b', 'down-differs'],
        ['3_c', 'irreversible'],
      ]),
      run('postgres', [
        ['1_a', 'ok'],
        ['2_b', 'down-fails'],
        ['3_c', 'irreversible'],
      ]),
    ],
    ok: false,
  };

  it('status is the first problem, ok / irreversible without one; ok only without failures', () => {
    expect(statusOf([], false)).toBe('ok');
    expect(statusOf([], true)).toBe('irreversible');
    expect(
      statusOf(
        [
          { category: 'down-differs', message: '' },
          { category: 'reup-fails', message: '' },
        ],
        false,
      ),
    ).toBe('down-differs');
    expect(reportOk(report.runs)).toBe(false);
    expect(
      reportOk([
        run('pglite', [
          ['1_a', 'ok'],
          ['2_b', 'irreversible'],
        ]),
      ]),
    ).toBe(true);
    expect(versionText(150014)).toBe('15.14');
  });

  it('text: one line per migration, problems indented, summary and engine differences', () => {
    const lines = renderTestText(report);
    expect(lines).toContain('== PGlite 18.0 ==');
    expect(lines).toContain('down-differs  2_b');
    expect(lines).toContain('      down.sql leaves index users_email_idx');
    expect(
      lines.some((l) =>
        l.startsWith('3 migrations tested on PGlite 18.0: 1 ok, 1 irreversible, 1 failed (1 down-differs)'),
      ),
    ).toBe(true);
    expect(engineDifferences(report.runs)).toEqual([
      '2_b: down-differs on PGlite 18.0, down-fails on PostgreSQL server 15.14',
    ]);
    expect(renderTestText({ selection: 'not yet on main', tested: [], runs: [], ok: true })).toEqual([
      'nothing to test (not yet on main)',
    ]);
  });

  it('markdown: a matrix of migrations by engine and the details', () => {
    const md = renderTestMarkdown(report);
    expect(md).toContain('| migration | PGlite 18.0 | PostgreSQL server 15.14 |');
    expect(md).toContain('| `2_b` | **down-differs** | **down-fails** |');
    expect(md).toContain('    - down.sql leaves index users_email_idx');
  });

  it('JUnit: well-formed suites per engine with failures and skipped cases', () => {
    const xml = renderJUnit(report);
    expect(
      xml.startsWith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="braid test" tests="6" failures="2" errors="0" skipped="2"',
      ),
    ).toBe(true);
    expect(xml.match(/<testsuite /g)).toHaveLength(2);
    expect(xml.match(/<testcase /g)).toHaveLength(6);
    expect(xml).toContain(
      '<failure type="down-differs" message=".migrations/2_b/down.sql:3:5: relation &quot;x&quot; &lt;does&gt; not exist &amp; more">',
    );
    expect(xml).toContain('<skipped message="declared irreversible: down.sql not run"/>');
    // Every opened element is closed, in order.
    const stack: string[] = [];
    for (const m of xml.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
      if (m[3] === '/') continue;
      if (m[1] === '/') expect(stack.pop()).toBe(m[2]);
      else stack.push(m[2]);
    }
    expect(stack).toEqual([]);
    expect(xmlEscape('a\u0001<b>')).toBe('a&lt;b&gt;');
  });

  it('data-losing migrations are flagged in every rendering without failing the run', () => {
    const r = run('pglite', [['1_a', 'ok']]);
    r.results[0].data = {
      seeded: ['public.users'],
      notSeeded: [],
      lost: ['up.sql drops column users.phone holding 10 values'],
      notRestored: [
        'down.sql does not restore the values of users.phone (10 before up.sql, 0 after down.sql)',
      ],
    };
    r.results[0].dataLosing = true;
    const rep: TestReport = { selection: 'all', tested: ['1_a'], runs: [r], ok: reportOk([r]) };
    expect(rep.ok).toBe(true);
    const text = renderTestText(rep);
    expect(text).toContain('    data-losing: up.sql drops column users.phone holding 10 values');
    expect(text.some((l) => l.includes('1 ok, 1 data-losing in'))).toBe(true);
    expect(renderTestMarkdown(rep)).toContain('| `1_a` | ok (data-losing) |');
    const xml = renderJUnit(rep);
    expect(xml).toContain('<system-out>data-losing: up.sql drops column users.phone holding 10 values');
    expect(xml).not.toContain('<failure');
  });

  it('--impact lines: duration, rewrites, indexes, observed locks and disagreements', () => {
    const r = run('postgres', [['1_a', 'ok']]);
    r.results[0].impact = {
      upMs: 12.3,
      rewritten: ['public.users'],
      indexesBuilt: ['public.users_email_idx'],
      locks: [{ table: 'public.users', observed: 'ACCESS EXCLUSIVE', predicted: 'SHARE' }],
      disagreements: ['users: took ACCESS EXCLUSIVE, predicted SHARE'],
    };
    const rep: TestReport = { selection: 'all', tested: ['1_a'], runs: [r], ok: true };
    expect(renderTestText(rep, { impact: true })).toContain(
      '    measured: up 12 ms; rewrote users; built users_email_idx; locked users ACCESS EXCLUSIVE; disagrees with static analysis: users: took ACCESS EXCLUSIVE, predicted SHARE',
    );
    expect(renderTestText(rep).some((l) => l.includes('measured'))).toBe(false);
  });
});

describe('definitions that differ are shown as a diff, not cut at the same point', () => {
  const view = (def: string): SchemaModel => {
    const m = emptyModel();
    m.views['public.v'] = { schema: 'public', name: 'v', kind: 'view', definition: def } as never;
    return m;
  };
  const long = (mid: string) =>
    [
      ' SELECT p.id,',
      '    p.name,',
      '    p.url,',
      '    p.body,',
      '    p.creator_id,',
      `    ${mid}`,
      '   FROM post p;',
    ].join('\n');

  it('a view definition: the changed lines with one line of context', () => {
    const lines = describeDownDiff(diffSchemas(view(long('p.published')), view(long('p.updated'))));
    expect(lines).toEqual([
      'down.sql restores view v definition differently (- before up.sql, + after down.sql):',
      '  @@ line 5 @@',
      '        p.creator_id,',
      '  -     p.published',
      '  +     p.updated',
      '       FROM post p;',
    ]);
  });

  it('a one-line text: the changed words with context', () => {
    const a = `CHECK (${'length(name) > 0 AND '.repeat(6)}kind = 'a')`;
    const b = `CHECK (${'length(name) > 0 AND '.repeat(6)}kind = 'b')`;
    const d = textDiff(a, b);
    expect(d).toHaveLength(1);
    expect(d[0]).toMatch(/… length\(name\) > 0 AND kind = '\[-a-\]\{\+b\+\}'\)$/);
  });

  it('says when only baked-in timestamps differ (a view made with a folded now)', () => {
    const at = (t: string) =>
      long(`WHEN p.published < ('${t}'::timestamp without time zone - '1 mon'::interval)`);
    const d = textDiff(at('2026-12-07 12:40:06.867046'), at('2026-12-07 12:40:07.020326'));
    expect(d[d.length - 1]).toContain('only timestamps differ');
    expect(textDiff(long('a'), long('b')).join('\n')).not.toContain('only timestamps differ');
  });

  it('says when only whitespace differs (a function re-created with another indentation)', () => {
    const body = (indent: string) =>
      ['', `${indent}BEGIN`, `${indent}  RETURN NEW;`, `${indent}END`, ''].join('\n');
    const d = textDiff(body('            '), body(''));
    expect(d[d.length - 1]).toContain('only whitespace differs');
  });

  it('a NOT NULL that differs in words', () => {
    const before = withUsers({ downloads: col('integer', { notNull: true }) });
    const after = withUsers({ downloads: col('integer') });
    expect(describeDownDiff(diffSchemas(before, after))).toEqual([
      'down.sql leaves users.downloads nullable (it was NOT NULL before up.sql)',
    ]);
    expect(describeReupDiff(diffSchemas(after, before))).toEqual([
      'up.sql again leaves users.downloads NOT NULL (the first up.sql left it nullable)',
    ]);
  });

  it('a long diff is cut with a count of what is left', () => {
    const a = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    const b = Array.from({ length: 100 }, (_, i) => `line ${i}${i % 2 ? ' changed' : ''}`).join('\n');
    const d = textDiff(a, b);
    expect(d).toHaveLength(41);
    expect(d[40]).toMatch(/^ {2}… \d+ more lines$/);
  });
});

describe('consequences and the engine matrix', () => {
  const result = (
    id: string,
    status: MigrationTestResult['status'],
    consequenceOf?: string,
  ): MigrationTestResult => ({
    id,
    status,
    problems: status === 'ok' ? [] : [{ category: status as never, message: `${id} failed` }],
    ms: 1,
    notes: [],
    ...(consequenceOf ? { consequenceOf } : {}),
  });
  const engineRun = (
    engine: EngineRun['engine'],
    num: number,
    results: MigrationTestResult[],
  ): EngineRun => ({
    engine,
    serverVersion: versionText(num),
    serverVersionNum: num,
    prefix: 0,
    results,
    ms: 10,
  });

  it('counts follow-on failures apart from the failure they follow from', () => {
    const r = engineRun('postgres', 150020, [
      result('1_a', 'ok'),
      result('2_b', 'up-fails'),
      result('3_c', 'up-fails', '2_b'),
      result('4_d', 'down-fails', '2_b'),
    ]);
    expect(countResults(r.results)).toMatchObject({ ok: 1, failed: 1, consequences: 2 });
    const text = renderTestText({
      selection: 'all',
      tested: ['1_a', '2_b', '3_c', '4_d'],
      runs: [r],
      ok: false,
    });
    expect(text).toContain('up-fails    3_c — a consequence of 2_b');
    expect(
      text.some((l) =>
        l.startsWith(
          '4 migrations tested on PostgreSQL server 15.20: 1 ok, 1 failed (1 up-fails), 2 more failed as consequences of it',
        ),
      ),
    ).toBe(true);
    const xml = renderJUnit({ selection: 'all', tested: [], runs: [r], ok: false });
    expect(xml).toContain('failures="1" errors="0" skipped="2"');
    expect(xml).toContain(
      '<skipped message="up-fails as a consequence of 2_b (its up.sql failed): 3_c failed"/>',
    );
    expect(renderTestMarkdown({ selection: 'all', tested: ['3_c'], runs: [r], ok: false })).toContain(
      '| `3_c` | up-fails (consequence of `2_b`) |',
    );
  });

  it('with two engines: a matrix of the migrations whose outcome differs, or one line when none does', () => {
    const server = engineRun('postgres', 150020, [
      result('1_a', 'ok'),
      result('2_b', 'up-fails'),
      result('3_c', 'up-fails', '2_b'),
    ]);
    const pglite = engineRun('pglite', 180006, [
      result('1_a', 'ok'),
      result('2_b', 'ok'),
      result('3_c', 'ok'),
    ]);
    expect(engineMatrix([pglite, server])).toEqual([
      'engine matrix: 2 migrations differ between engines',
      '  migration  PGlite 18.6  PostgreSQL server 15.20',
      '  2_b        ok           up-fails',
      '  3_c        ok           up-fails (consequence)',
    ]);
    expect(engineMatrix([pglite, pglite])).toEqual([
      'engines agree: every migration has the same outcome on PGlite 18.6 and PGlite 18.6',
    ]);
    expect(engineMatrix([pglite])).toEqual([]);
  });
});
