import {
  addSample,
  BatchPacer,
  breachOf,
  emptySummary,
  LagTracker,
  PACING_PAUSE_FACTOR,
  pacingOf,
  latencyRatio,
  parseConfig,
  parseDirectives,
  parseOnlineConfig,
  parseOnlineFlags,
  patienceMs,
  progressLine,
  resolveOnline,
  snapshotDelta,
  throttleOf,
  topQueries,
  type WatchSample,
} from '@braid/core';

const sample = (over: Partial<WatchSample> = {}): WatchSample => ({
  elapsedMs: 1000,
  blocked: [],
  ownLockWaitMs: 0,
  blockers: [],
  replicas: [],
  ...over,
});

describe('online settings: braid.json', () => {
  const config = (online: unknown, env?: unknown) =>
    JSON.stringify({
      environments: { prod: { urlEnv: 'PROD_URL', branch: 'main', ...(env ? { online: env } : {}) } },
      online,
    });

  test('top level and per environment, layered with the flags (later wins per key)', () => {
    const c = parseConfig(
      config(
        { breaker: { maxBlockedSessions: 5, maxBlockedFor: '2s' }, retries: 2, backoff: '1s' },
        {
          breaker: { maxBlockedFor: '500ms', maxReplicaLag: '10s', maxLatencyRatio: 2.5 },
          latencyBaseline: '30s',
        },
      ),
    );
    const env = c.environments.get('prod')!;
    const s = resolveOnline(c.online, env.online, parseOnlineFlags({ 'breaker-retries': '7' }));
    expect(s).toEqual({
      watch: true,
      thresholds: { maxBlockedSessions: 5, maxBlockedMs: 500, maxReplicaLagMs: 10_000, maxLatencyRatio: 2.5 },
      retries: 7,
      backoffMs: 1000,
      latencyBaselineMs: 30_000,
      pollMs: 250,
    });
  });

  test.each([
    [
      { breaker: { maxBlockedFor: 1 } },
      'online.breaker.maxBlockedFor: expected a duration such as "1s", "500ms" or "2m" (a string), got number 1',
    ],
    [
      { breaker: { maxBlockedFor: 'soon' } },
      'online.breaker.maxBlockedFor: expected a duration such as "1s", "500ms" or "2m", got "soon"',
    ],
    [{ breaker: { maxBlockedFor: '0s' } }, 'online.breaker.maxBlockedFor: must be at least 1 ms, got "0s"'],
    [
      { breaker: { maxBlockedSessions: -1 } },
      'online.breaker.maxBlockedSessions: expected a whole number from 0 to 100000, got number -1',
    ],
    [{ breaker: { maxBlockedSessions: 2.5 } }, 'online.breaker.maxBlockedSessions: expected a whole number'],
    [
      { breaker: { maxLatencyRatio: 1 } },
      'online.breaker.maxLatencyRatio: expected a number greater than 1 (e.g. 2: twice as slow), got 1',
    ],
    [
      { breaker: { maxLatencyRatio: '2' } },
      'online.breaker.maxLatencyRatio: expected a number greater than 1 (e.g. 2: twice as slow), got string "2"',
    ],
    [
      { breaker: { maxLag: '1s' } },
      'online.breaker.maxLag: unknown key (allowed in online.breaker: maxBlockedSessions, maxBlockedFor, maxReplicaLag, maxLatencyRatio)',
    ],
    [{ retries: 101 }, 'online.retries: expected a whole number from 0 to 100, got number 101'],
    [{ watch: 'yes' }, 'online.watch: expected true or false, got string "yes"'],
    [{ backoff: '61m' }, 'online.backoff: must be at most 60 min, got "61m"'],
    [{ latencyBaseline: '11m' }, 'online.latencyBaseline: must be at most 10 min, got "11m"'],
    [
      { colour: 1 },
      'online.colour: unknown key (allowed in online: watch, breaker, retries, backoff, latencyBaseline)',
    ],
    [[], 'online: expected an object, got an array'],
  ])('refuses %j with one line naming the key', (online, message) => {
    let err: unknown;
    try {
      parseConfig(config(online));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'invalid-config', exitCode: 2 });
    expect((err as Error).message).toContain(`braid.json: ${message}`);
  });

  test('per environment errors name the environment', () => {
    expect(() => parseConfig(config(undefined, { breaker: { maxReplicaLag: 'x' } }))).toThrow(
      'braid.json: environments.prod.online.breaker.maxReplicaLag: expected a duration',
    );
    expect(() => parseOnlineConfig({ breaker: [] }, 'f.json', 'online')).toThrow(
      'f.json: online.breaker: expected an object, got an array',
    );
  });

  test('flags: parsed, and refused naming the flag', () => {
    expect(
      parseOnlineFlags({
        'max-blocked-sessions': '0',
        'max-blocked-for': '1s',
        'max-replica-lag': '2m',
        'max-latency-ratio': '1.5',
        'breaker-backoff': '250ms',
        watch: false,
      }),
    ).toEqual({
      thresholds: {
        maxBlockedSessions: 0,
        maxBlockedMs: 1000,
        maxReplicaLagMs: 120_000,
        maxLatencyRatio: 1.5,
      },
      watch: false,
      backoffMs: 250,
    });
    expect(() => parseOnlineFlags({ 'max-blocked-for': 'fast' })).toThrow(
      '--max-blocked-for: expected a duration such as "1s", "500ms" or "2m", got "fast"',
    );
    expect(() => parseOnlineFlags({ 'max-latency-ratio': '0.5' })).toThrow(
      '--max-latency-ratio: expected a number greater than 1',
    );
    expect(() => parseOnlineFlags({ 'breaker-retries': 'many' })).toThrow(
      '--breaker-retries: expected a whole number',
    );
    expect(() => parseOnlineFlags({ 'max-blocked-sessions': '3x' })).toThrow(
      expect.objectContaining({ code: 'bad-option', exitCode: 2 }),
    );
  });

  test('defaults: watching, no threshold (the breaker never trips unless told)', () => {
    expect(resolveOnline()).toMatchObject({ watch: true, thresholds: {}, retries: 3, backoffMs: 5000 });
    expect(
      breachOf(sample({ blocked: [{ pid: 1, applicationName: '', waitMs: 1e9, query: '' }] }), {}),
    ).toBeUndefined();
    expect(patienceMs({ backoffMs: 1000, retries: 3 })).toBe(7000);
  });
});

describe('breaches', () => {
  const blocked = (n: number, waitMs: number) =>
    Array.from({ length: n }, (_, i) => ({
      pid: 100 + i,
      applicationName: 'app',
      waitMs: waitMs + i,
      query: 'select 1',
    }));

  test('each threshold, strictly above its limit, in a fixed order', () => {
    expect(breachOf(sample({ blocked: blocked(3, 10) }), { maxBlockedSessions: 3 })).toBeUndefined();
    expect(breachOf(sample({ blocked: blocked(4, 10) }), { maxBlockedSessions: 3 })).toMatchObject({
      kind: 'blocked-sessions',
      value: 4,
      message: '4 session(s) blocked behind braid (maxBlockedSessions 3)',
    });
    expect(breachOf(sample({ blocked: blocked(2, 1500) }), { maxBlockedMs: 1000 })).toMatchObject({
      kind: 'blocked-for',
      value: 1501,
      message: 'pid 101 (app) blocked behind braid for 1.5 s (maxBlockedFor 1.0 s)',
    });
    const replicas = [
      { name: 'r1', lagMs: 200, behindBytes: 10 },
      { name: 'r2', lagMs: 12_000, behindBytes: 1e6 },
    ];
    expect(breachOf(sample({ replicas }), { maxReplicaLagMs: 10_000 })).toMatchObject({
      kind: 'replica-lag',
      message: 'replica r2 lags 12 s behind (maxReplicaLag 10 s)',
    });
    expect(breachOf(sample({ latencyRatio: 3.2 }), { maxLatencyRatio: 2 })).toMatchObject({
      kind: 'latency',
    });
    expect(breachOf(sample({ latencyRatio: 1.9 }), { maxLatencyRatio: 2 })).toBeUndefined();
    // blocked sessions first; throttling ignores them (braid is not running then)
    const all = sample({ blocked: blocked(5, 5000), replicas, latencyRatio: 9 });
    const t = { maxBlockedSessions: 1, maxBlockedMs: 1, maxReplicaLagMs: 1, maxLatencyRatio: 2 };
    expect(breachOf(all, t)?.kind).toBe('blocked-sessions');
    expect(throttleOf(all, t)?.kind).toBe('replica-lag');
  });

  test('summary and progress line', () => {
    let sum = emptySummary();
    sum = addSample(sum, sample({ blocked: blocked(2, 300), ownLockWaitMs: 120 }));
    sum = addSample(sum, sample({ replicas: [{ name: 'r', lagMs: 40, behindBytes: 0 }], latencyRatio: 1.2 }));
    expect(sum).toEqual({
      samples: 2,
      maxBlocked: 2,
      longestBlockMs: 301,
      ownLockWaitMs: 120,
      maxReplicaLagMs: 40,
      maxLatencyRatio: 1.2,
    });
    expect(
      progressLine(
        'x 2/3',
        sample({
          elapsedMs: 12_300,
          progress: { done: 25_000, total: 100_000, unit: 'rows' },
          blocked: blocked(1, 800),
          replicas: [{ name: 'r', lagMs: 40, behindBytes: 0 }],
        }),
      ),
    ).toBe('x 2/3 · 12 s · 25.0k/100k rows (25%) · blocked 1 (longest 800 ms) · lag 40 ms');
  });
});

describe('replica lag across samples', () => {
  test('a standby whose replay stalls while behind lags from the moment it stalled', () => {
    const t = new LagTracker();
    const r = (lsn: number, behind: number, lag: number | null = 5) => [
      { name: 's1', replayLsn: lsn, behindBytes: behind, replayLagMs: lag },
    ];
    expect(t.update(0, r(100, 50))[0].lagMs).toBe(5);
    expect(t.update(1000, r(100, 80))[0].lagMs).toBe(1000);
    expect(t.update(4000, r(100, 900))[0].lagMs).toBe(4000);
    // replay moves again: back to what the server says
    expect(t.update(4500, r(900, 10, 30))[0].lagMs).toBe(30);
    // caught up: never stalled however long the position stays
    expect(t.update(5000, r(900, 0, null))[0].lagMs).toBe(0);
    expect(t.update(9000, r(900, 0, null))[0].lagMs).toBe(0);
  });
});

describe('latency ratio from pg_stat_statements snapshots', () => {
  const snap = (o: Record<string, [number, number]>) =>
    new Map(Object.entries(o).map(([q, [calls, totalMs]]) => [q, { calls, totalMs }]));

  test('call-weighted against the baseline means; too few calls is unknown', () => {
    const base = snap({ a: [100, 100], b: [10, 100], c: [5, 0] });
    expect(topQueries(base)).toEqual(['a', 'b']);
    // a: 40 calls at 3 ms (baseline 1 ms) ; b: 10 calls at 10 ms (baseline 10 ms)
    const during = snapshotDelta(
      snap({ a: [100, 100], b: [10, 100] }),
      snap({ a: [140, 220], b: [20, 200] }),
    );
    expect(latencyRatio(base, during)).toBeCloseTo((120 + 100) / (40 + 100), 5);
    expect(latencyRatio(base, snap({ a: [5, 50] }))).toBeUndefined();
    // a reset (counters went down) is left out
    expect(snapshotDelta(snap({ a: [100, 100] }), snap({ a: [3, 3] })).size).toBe(0);
  });
});

describe('-- braid:batch', () => {
  const f = 'x/up.sql';
  test('settings, defaults, and the implied no-transaction', () => {
    expect(
      parseDirectives('-- braid:batch size=5000 key=id delay=100ms\nupdate t set a = 1;', f),
    ).toMatchObject({
      noTransaction: true,
      batch: { size: 5000, adaptive: false, key: 'id', delayMs: 100, pacedDelay: false, line: 1 },
    });
    expect(parseDirectives('-- braid:batch\nupdate t set a = 1;', f).batch).toEqual({
      size: 1000,
      adaptive: true,
      targetMs: 5,
      delayMs: 0,
      pacedDelay: true,
      line: 1,
    });
    expect(
      parseDirectives('-- braid:batch size=auto delay=auto target=20ms\nupdate t set a = 1;', f).batch,
    ).toMatchObject({ adaptive: true, targetMs: 20, pacedDelay: true });
    expect(parseDirectives('-- braid:batch delay=0\nupdate t set a = 1;', f).batch).toMatchObject({
      adaptive: true,
      delayMs: 0,
      pacedDelay: false,
    });
    expect(
      parseDirectives('-- braid:no-transaction\n-- braid:batch key="OrderId"\nselect 1;', f).batch?.key,
    ).toBe('OrderId');
    expect(parseDirectives('-- braid:batch key=ID\nselect 1;', f).batch?.key).toBe('id');
  });
  test.each([
    ['size=0', 'x/up.sql:1: braid:batch: size must be a whole number from 1 to 1000000, got "0"'],
    ['size=10k', 'size must be a whole number'],
    ['key=a.b', 'braid:batch: key must be a column name (id, "OrderId"), got "a.b"'],
    [
      'delay=soon',
      'braid:batch: delay must be a duration such as 100ms or 1s (at most 1h), or auto, got "soon"',
    ],
    ['target=0ms', 'braid:batch: target must be a duration from 1ms to 1m'],
    ['target=2m', 'braid:batch: target must be a duration from 1ms to 1m'],
    ['size=100 target=5ms', 'braid:batch: target= sizes adaptive batches: it cannot go with a fixed size='],
    ['rows=5', 'braid:batch: unknown setting "rows" (known: size, key, delay, target)'],
    ['5000', 'braid:batch: expected name=value (size=5000, key=id, delay=100ms), got "5000"'],
    ['size=1 size=2', 'braid:batch: size is given twice'],
  ])('refuses %s', (args, message) => {
    expect(() => parseDirectives(`-- braid:batch ${args}\nselect 1;`, f)).toThrow(message);
  });
  test('given twice', () => {
    expect(() => parseDirectives('-- braid:batch\n-- braid:batch\nselect 1;', f)).toThrow(
      'x/up.sql:2: braid:batch is given twice',
    );
  });
});

describe('batch pacing', () => {
  const adaptive = pacingOf({ size: 1000, adaptive: true, targetMs: 5, delayMs: 0, pacedDelay: true });
  test('adaptive: the next size aims at the target duration, at most doubled or halved at a time', () => {
    const p = new BatchPacer(adaptive);
    expect(p.nextSize()).toBe(1000);
    // 1000 keys in 2.5 ms: 2000 would take 5 ms
    expect(p.observe({ ms: 2.5, keys: 1000 })).toBe(Math.round(2.5 * PACING_PAUSE_FACTOR));
    expect(p.nextSize()).toBe(2000);
    // very fast: at most doubled
    p.observe({ ms: 0.1, keys: 2000 });
    expect(p.nextSize()).toBe(4000);
    // very slow (a checkpoint): at most halved
    p.observe({ ms: 500, keys: 4000 });
    expect(p.nextSize()).toBe(2000);
    // on target: unchanged
    p.observe({ ms: 5, keys: 2000 });
    expect(p.nextSize()).toBe(2000);
  });
  test('within [minSize, maxSize]', () => {
    const p = new BatchPacer({ ...adaptive, startSize: 12 });
    for (let i = 0; i < 5; i++) p.observe({ ms: 1000, keys: p.nextSize() });
    expect(p.nextSize()).toBe(adaptive.minSize);
    const q = new BatchPacer(adaptive);
    for (let i = 0; i < 20; i++) q.observe({ ms: 0.01, keys: q.nextSize() });
    expect(q.nextSize()).toBe(adaptive.maxSize);
  });
  test('sessions blocked behind braid or slow top queries: the next batch is halved and the pause doubled', () => {
    const p = new BatchPacer(adaptive);
    const calm = p.observe({ ms: 5, keys: 1000 });
    expect(calm).toBe(5 * PACING_PAUSE_FACTOR);
    const hurt = p.observe({ ms: 5, keys: 1000, watch: { ...emptySummary(), samples: 1, maxBlocked: 2 } });
    expect(p.nextSize()).toBe(500);
    expect(hurt).toBe(2 * calm);
    p.observe({ ms: 5, keys: 500, watch: { ...emptySummary(), samples: 4, maxLatencyRatio: 1.8 } });
    expect(p.nextSize()).toBe(250);
    // 1.4× is not hurting: on target, the size stays
    p.observe({ ms: 5, keys: 250, watch: { ...emptySummary(), samples: 4, maxLatencyRatio: 1.4 } });
    expect(p.nextSize()).toBe(250);
  });
  test('size= and delay= are kept as given', () => {
    const p = new BatchPacer(
      pacingOf({ size: 5000, adaptive: false, targetMs: 5, delayMs: 100, pacedDelay: false }),
    );
    expect(p.observe({ ms: 300, keys: 5000, watch: { ...emptySummary(), maxBlocked: 3 } })).toBe(100);
    expect(p.nextSize()).toBe(5000);
    // a paced pause never exceeds maxPauseMs
    const q = new BatchPacer(adaptive);
    expect(q.observe({ ms: 10_000, keys: 1000 })).toBe(adaptive.maxPauseMs);
  });
});
