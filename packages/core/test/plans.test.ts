import {
  baselineOf,
  compareWithBaseline,
  engineKey,
  parsePlansFile,
  PlansFileError,
  roundCost,
  serializePlansFile,
  summarizePlan,
  withSet,
  type BaselineSet,
  type PlanNode,
} from '@braid/core';

const bitmap: PlanNode = {
  'Node Type': 'Bitmap Heap Scan',
  'Relation Name': 'orders',
  'Total Cost': 15.21,
  Plans: [{ 'Node Type': 'Bitmap Index Scan', 'Index Name': 'orders_user_idx', 'Total Cost': 4.3 }],
};
const seq: PlanNode = { 'Node Type': 'Seq Scan', 'Relation Name': 'orders', 'Total Cost': 36.0 };
const join: PlanNode = {
  'Node Type': 'Hash Join',
  'Join Type': 'Left',
  'Total Cost': 120.5,
  Plans: [seq, { 'Node Type': 'Hash', Plans: [{ 'Node Type': 'Seq Scan', 'Relation Name': 'users' }] }],
};

describe('plan summaries and baselines', () => {
  it('summarizes a plan as one line per node; a bitmap index scan belongs to its heap scan’s table', () => {
    const s = summarizePlan(bitmap);
    expect(s.tree).toEqual(['Bitmap Heap Scan on orders', '  Bitmap Index Scan using orders_user_idx']);
    expect(s.scans).toEqual([
      { node: 'Bitmap Heap Scan', relation: 'orders', index: null },
      { node: 'Bitmap Index Scan', relation: 'orders', index: 'orders_user_idx' },
    ]);
    expect(summarizePlan(join).tree).toEqual([
      'Hash Join (Left)',
      '  Seq Scan on orders',
      '  Hash',
      '    Seq Scan on users',
    ]);
  });

  it('rounds costs to two significant digits', () => {
    expect([roundCost(15.21), roundCost(258.5), roundCost(0.294), roundCost(0), roundCost(12345)]).toEqual([
      15, 260, 0.29, 0, 12000,
    ]);
  });

  it('serializes with sorted keys (numeric-aware), one node per line, and parses back', () => {
    const set: BaselineSet = {
      queries: 'q.sql',
      engine: engineKey('postgres', 150020),
      data: 'seed 500',
      plans: {
        'q.sql:10': baselineOf('select 10', summarizePlan(seq)),
        'q.sql:2': baselineOf('select 2', summarizePlan(bitmap)),
        'q.sql:3': baselineOf('select broken', undefined),
      },
    };
    const file = withSet(withSet(undefined, 'm1', set), 'm1', { ...set, engine: 'pglite 18' });
    const text = serializePlansFile(file);
    expect(Object.keys(parsePlansFile(text).sets)).toEqual(['q.sql on pglite 18', 'q.sql on postgres 15']);
    expect(text.indexOf('"q.sql:2"')).toBeLessThan(text.indexOf('"q.sql:10"'));
    expect(text).toContain(
      '"plan": [\n            "Bitmap Heap Scan on orders",\n            "  Bitmap Index Scan using orders_user_idx"\n          ]',
    );
    expect(text).toContain('"cost": null,\n          "plan": null');
    expect(serializePlansFile(parsePlansFile(text))).toBe(text);
    expect(() => parsePlansFile('{')).toThrow(PlansFileError);
    expect(() => parsePlansFile('{"format":"other"}')).toThrow(/not a braid plans file/);
  });

  it('compares a run with its baseline: index replaced, no longer plans, cost up, query found by text', () => {
    const set: BaselineSet = {
      queries: 'q.sql',
      engine: 'postgres 15',
      data: 'seed 500',
      plans: {
        'q.sql:2': baselineOf('select * from orders where user_id = $1', summarizePlan(bitmap)),
        'q.sql:5': baselineOf('select 5', summarizePlan(seq)),
      },
    };
    // Same plans, the first query moved to another line: found by its text, no change.
    const same = compareWithBaseline(
      [
        { label: 'q.sql:3', text: 'select *  from orders\nwhere user_id = $1;', plan: summarizePlan(bitmap) },
        { label: 'q.sql:5', text: 'select 5', plan: summarizePlan({ ...seq, 'Total Cost': 36.4 }) },
        { label: 'q.sql:9', text: 'select new', plan: summarizePlan(seq) },
      ],
      set,
      2,
    );
    expect(same).toEqual({ changes: [], unmatched: ['q.sql:9'] });

    const changed = compareWithBaseline(
      [
        { label: 'q.sql:2', text: 'select * from orders where user_id = $1', plan: summarizePlan(seq) },
        { label: 'q.sql:5', text: 'select 5', plan: undefined },
      ],
      set,
      2,
    );
    expect(changed.changes).toEqual([
      'query q.sql:2: Seq Scan on orders replaces Bitmap Index Scan using orders_user_idx (plan differs from the baseline)',
      'query q.sql:2: total cost up 2.4× from the baseline (15 → 36)',
      'query q.sql:5 no longer plans (the baseline plan starts with Seq Scan on orders)',
    ]);
    const other = compareWithBaseline(
      [{ label: 'q.sql:5', text: 'select 5', plan: summarizePlan(join) }],
      set,
      10,
    );
    expect(other.changes).toEqual([
      'query q.sql:5: plan differs from the baseline: Seq Scan on orders became Hash Join (Left) > Seq Scan on orders > Hash > Seq Scan on users',
    ]);
  });
});
