import {
  describeDownDiff,
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
