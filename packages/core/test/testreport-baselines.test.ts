import {
  renderJUnit,
  renderTestMarkdown,
  renderTestText,
  reportOk,
  type EngineRun,
  type MigrationTestResult,
  type TestReport,
} from '@braid/core';

const result = (id: string, extra: Partial<MigrationTestResult> = {}): MigrationTestResult => ({
  id,
  status: 'ok',
  problems: [],
  ms: 10,
  notes: [],
  ...extra,
});

function report(results: MigrationTestResult[]): TestReport {
  const run: EngineRun = {
    engine: 'postgres',
    serverVersion: '15.20',
    serverVersionNum: 150020,
    prefix: 0,
    results,
    ms: 100,
  };
  return { selection: 'all', tested: results.map((r) => r.id), runs: [run], ok: reportOk([run]) };
}

const change =
  'query q.sql:2: Seq Scan on orders replaces Index Scan using orders_user_idx (plan differs from the baseline) after 20260101000002_b (baseline .migrations/20260101000002_b/.plans.json, postgres 15)';

describe('plan-changed-vs-baseline in the test report', () => {
  it('fails the report (in-run plan changes do not)', () => {
    expect(reportOk(report([result('a', { planChanges: ['query q.sql:2: total cost up 3.0×'] })]).runs)).toBe(
      true,
    );
    expect(reportOk(report([result('a', { baselineChanges: [change] })]).runs)).toBe(false);
  });

  it('is shown in text, markdown and JUnit', () => {
    const r = report([result('20260101000001_a'), result('20260101000002_b', { baselineChanges: [change] })]);
    const text = renderTestText(r);
    expect(text).toContain(`    plan-changed-vs-baseline: ${change}`);
    expect(text[text.length - 1]).toMatch(
      /2 migrations tested on PostgreSQL server 15\.20: 2 ok, 1 plan-changed-vs-baseline in/,
    );
    const md = renderTestMarkdown(r);
    expect(md).toContain('| `20260101000002_b` | ok (**plan-changed-vs-baseline**) |');
    expect(md).toContain('  - **plan-changed-vs-baseline**: query q.sql:2: Seq Scan on orders');
    const xml = renderJUnit(r);
    expect(xml).toContain('<testsuites name="braid test" tests="2" failures="1"');
    expect(xml).toContain(
      '<failure type="plan-changed-vs-baseline" message="query q.sql:2: Seq Scan on orders',
    );
    expect(xml).toMatch(/<testcase classname="braid.postgres" name="20260101000001_a" time="0.010"\/>/);
  });
});
