import {
  assignWaves,
  canTransition,
  newRolloutState,
  nextWork,
  overallStatus,
  parseRolloutState,
  parseTargets,
  parseWaves,
  rolloutIdFor,
  summarize,
  transition,
  type RolloutOptions,
  type RolloutState,
} from '@braid/core';

const err = (fn: () => unknown): { message: string; code: string; exitCode: number } => {
  try {
    fn();
  } catch (e) {
    return e as { message: string; code: string; exitCode: number };
  }
  throw new Error('expected an error');
};

describe('parseTargets', () => {
  it('parses the targets in file order', () => {
    expect(
      parseTargets('{"targets":[{"name":"tenant-1","urlEnv":"TENANT_1_URL"},{"name":"b.2","urlEnv":"B"}]}'),
    ).toEqual([
      { name: 'tenant-1', urlEnv: 'TENANT_1_URL' },
      { name: 'b.2', urlEnv: 'B' },
    ]);
  });

  it.each([
    ['not json', '{"targets": [', 'fleet.json: line 1: not valid JSON'],
    ['not an object', '[]', 'fleet.json: expected an object {"targets": [...]}, got an array'],
    ['unknown top key', '{"targets":[],"x":1}', 'fleet.json: x: unknown key (allowed: targets)'],
    ['missing targets', '{}', 'fleet.json: targets: missing'],
    ['targets not array', '{"targets":{}}', 'fleet.json: targets: expected an array, got an object'],
    ['empty', '{"targets":[]}', 'fleet.json: targets: empty'],
    ['entry not object', '{"targets":[1]}', 'fleet.json: targets[0]: expected an object'],
    [
      'unknown key',
      '{"targets":[{"name":"a","urlEnv":"A","url":"x"}]}',
      'fleet.json: targets[0].url: unknown key',
    ],
    ['missing name', '{"targets":[{"urlEnv":"A"}]}', 'fleet.json: targets[0].name: missing'],
    ['bad name', '{"targets":[{"name":"a b","urlEnv":"A"}]}', 'fleet.json: targets[0].name: expected a name'],
    [
      'duplicate',
      '{"targets":[{"name":"a","urlEnv":"A"},{"name":"a","urlEnv":"B"}]}',
      'fleet.json: targets[1].name: duplicate name a (also targets[0])',
    ],
    ['missing urlEnv', '{"targets":[{"name":"a"}]}', 'fleet.json: targets[0].urlEnv: missing'],
    [
      'urlEnv number',
      '{"targets":[{"name":"a","urlEnv":3}]}',
      'fleet.json: targets[0].urlEnv: expected a variable name, got number 3',
    ],
  ])('refuses %s with a one-line error naming the file and key', (_label, text, expected) => {
    const e = err(() => parseTargets(text, 'fleet.json'));
    expect(e.message).toContain(expected);
    expect(e.message).not.toContain('\n');
    expect(e.exitCode).toBe(2);
    expect(e.code).toBe('invalid-targets');
  });

  it('refuses a connection string in urlEnv without echoing it', () => {
    const e = err(() =>
      parseTargets('{"targets":[{"name":"a","urlEnv":"postgres://u:Hunter2pw@h/db"}]}', 'fleet.json'),
    );
    expect(e.message).toBe(
      'fleet.json: targets[0].urlEnv: expected a variable name (the name of a variable, not a connection string), got a URL',
    );
    expect(e.message).not.toContain('Hunter2pw');
  });

  it('names the line of a JSON syntax error', () => {
    expect(err(() => parseTargets('{\n "targets": [\n  {"name": "a",}\n ]}', 'f.json')).message).toMatch(
      /^f\.json: line 3: not valid JSON/,
    );
  });
});

describe('waves', () => {
  it('parses counts, percentages and rest', () => {
    expect(parseWaves('1,10%,rest')).toEqual([
      { kind: 'count', n: 1 },
      { kind: 'percent', p: 10 },
      { kind: 'rest' },
    ]);
  });

  it.each([
    ['', 'expected a list'],
    ['1,,rest', 'expected a list'],
    ['rest,1', "'rest' must be the last wave"],
    ['0', 'wave 1: expected a count'],
    ['0%', 'wave 1: a percentage from 1% to 100%'],
    ['101%', 'wave 1: a percentage from 1% to 100%'],
    ['1,x', 'wave 2: expected a count (1), a percentage (10%) or rest, got "x"'],
  ])('refuses %j', (spec, expected) => {
    const e = err(() => parseWaves(spec));
    expect(e.message).toContain('--waves: ');
    expect(e.message).toContain(expected);
    expect(e.exitCode).toBe(2);
  });

  const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `t${i + 1}`);

  it('1,10%,rest over 20 targets: a canary, ceil(10% of 20) = 2, then the other 17', () => {
    expect(assignWaves(names(20), parseWaves('1,10%,rest')).map((w) => w.length)).toEqual([1, 2, 17]);
  });

  it('rounds percentages up and drops empty waves', () => {
    expect(assignWaves(names(3), parseWaves('1,10%,rest')).map((w) => w.length)).toEqual([1, 1, 1]);
    expect(assignWaves(names(2), parseWaves('1,10%,rest')).map((w) => w.length)).toEqual([1, 1]);
    expect(assignWaves(names(1), parseWaves('1,10%,rest'))).toEqual([['t1']]);
  });

  it('adds an implicit rest wave and keeps file order', () => {
    expect(assignWaves(names(5), parseWaves('2'))).toEqual([
      ['t1', 't2'],
      ['t3', 't4', 't5'],
    ]);
    expect(assignWaves(names(5), parseWaves('50%,50%'))).toEqual([
      ['t1', 't2', 't3'],
      ['t4', 't5'],
    ]);
  });
});

const OPTS: RolloutOptions = {
  waves: '1,rest',
  concurrency: 2,
  continueOnError: false,
  healthTimeoutMs: 1000,
  rollbackOnFailure: false,
  lock: 'advisory',
  lockWaitMs: 1000,
  lockTimeoutMs: 1000,
  lockRetries: 0,
};

function fresh(opts: Partial<RolloutOptions> = {}): RolloutState {
  return newRolloutState({
    rolloutId: rolloutIdFor(new Date('2026-11-25T19:00:12.345Z'), 'abc123'),
    now: '2026-11-25T19:00:12.345Z',
    manifestHash: 'sha256:x',
    migrations: 3,
    targetsFile: 'targets.json',
    options: { ...OPTS, ...opts },
    targets: [
      { name: 'a', urlEnv: 'A' },
      { name: 'b', urlEnv: 'B' },
      { name: 'c', urlEnv: 'C' },
    ],
  });
}

describe('rollout state', () => {
  it('starts with every target pending in its wave', () => {
    const s = fresh();
    expect(s.rolloutId).toBe('r20261125T190012Z-abc123');
    expect(s.waves).toEqual([['a'], ['b', 'c']]);
    expect(s.targets.map((t) => [t.name, t.wave, t.status])).toEqual([
      ['a', 0, 'pending'],
      ['b', 1, 'pending'],
      ['c', 1, 'pending'],
    ]);
    expect(nextWork(s)).toEqual({ kind: 'run', wave: 0, targets: ['a'] });
    expect(overallStatus(s)).toBe('running');
  });

  it('allows only the documented transitions', () => {
    expect(canTransition('pending', 'running')).toBe(true);
    expect(canTransition('pending', 'done')).toBe(false);
    expect(canTransition('running', 'paused')).toBe(true);
    expect(canTransition('paused', 'running')).toBe(true);
    expect(canTransition('failed', 'rolled-back')).toBe(true);
    expect(canTransition('rolled-back', 'running')).toBe(true);
    expect(canTransition('done', 'running')).toBe(false);
    expect(() => transition(fresh(), 'a', 'done')).toThrow('cannot go from pending to done');
    expect(() => transition(fresh(), 'zz', 'running')).toThrow('no target zz');
  });

  it('counts attempts and clears the failure on a retry', () => {
    let s = transition(fresh(), 'a', 'running', {}, 't1');
    s = transition(
      s,
      'a',
      'failed',
      { failure: { kind: 'migration', migration: 'm3', error: 'boom' } },
      't2',
    );
    expect(s.targets[0]).toMatchObject({ status: 'failed', attempts: 1, finishedAt: 't2' });
    expect(nextWork(s)).toEqual({ kind: 'blocked', wave: 0, failed: ['a'] });
    expect(overallStatus(s)).toBe('failed');
    s = transition(s, 'a', 'running', {}, 't3');
    expect(s.targets[0].failure).toBeUndefined();
    expect(s.targets[0].attempts).toBe(2);
    s = transition(s, 'a', 'done', {}, 't4');
    expect(nextWork(s)).toEqual({ kind: 'run', wave: 1, targets: ['b', 'c'] });
  });

  it('a failure stops the rollout; continue-on-error goes on and fails at the end', () => {
    let s = transition(fresh(), 'a', 'running');
    s = transition(s, 'a', 'done');
    s = transition(s, 'b', 'running');
    s = transition(s, 'b', 'failed', { failure: { kind: 'health', error: 'x' } });
    expect(nextWork(s)).toEqual({ kind: 'run', wave: 1, targets: ['c'] });
    expect(overallStatus(s)).toBe('failed');
    let k = { ...s, options: { ...s.options, continueOnError: true } };
    expect(overallStatus(k)).toBe('running');
    k = transition(transition(k, 'c', 'running'), 'c', 'done');
    expect(nextWork(k)).toEqual({ kind: 'done' });
    expect(overallStatus(k)).toBe('failed');
    expect(summarize(k)).toMatchObject({ done: 2, failed: 1, targets: 3 });
  });

  it('running targets left by a crash are picked up again; pause is a status', () => {
    let s = transition(fresh(), 'a', 'running');
    expect(nextWork(s)).toEqual({ kind: 'run', wave: 0, targets: ['a'] });
    s = transition(s, 'a', 'running'); // resume after kill -9
    expect(s.targets[0].attempts).toBe(1);
    s = transition(s, 'a', 'paused', { note: 'paused between migrations' });
    expect(overallStatus({ ...s, pauseRequested: true })).toBe('paused');
    expect(nextWork(s)).toEqual({ kind: 'run', wave: 0, targets: ['a'] });
    s = transition(transition(s, 'a', 'running'), 'a', 'done');
    for (const n of ['b', 'c']) s = transition(transition(s, n, 'running'), n, 'done');
    expect(overallStatus(s)).toBe('done');
  });

  it('round-trips through JSON and refuses a file that is not a state', () => {
    const s = fresh();
    expect(parseRolloutState(JSON.stringify(s), 'st.json')).toEqual(s);
    expect(() => parseRolloutState('{', 'st.json')).toThrow(/^st\.json: not valid JSON/);
    expect(() => parseRolloutState('{"version":2}', 'st.json')).toThrow(
      'st.json: version: missing or invalid',
    );
    const bad = { ...s, targets: [{ ...s.targets[0], status: 'weird' }] };
    expect(() => parseRolloutState(JSON.stringify(bad), 'st.json')).toThrow('st.json: targets[0].status');
  });
});
