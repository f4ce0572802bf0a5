import {
  CONTROL_SCHEMA_VERSION,
  canFleetTransition,
  checkControlVersion,
  claimable,
  fleetStatus,
  heartbeatEvery,
  heartbeatVerdict,
  leaseAlive,
  parseLsn,
  pickClaim,
  replicaLags,
  replicaWaitDecision,
  serverHasRoom,
  serverKeyOf,
  settleStatus,
  splitTenant,
  tenantLockKey,
  tenantRegistrySchema,
  workerDecision,
  type FleetTargetStatus,
  type FleetWaveCounts,
} from '@braid/core';

const STATUSES: FleetTargetStatus[] = ['pending', 'running', 'done', 'failed', 'paused'];

const err = (fn: () => unknown): { message: string; code: string; exitCode: number } => {
  try {
    fn();
  } catch (e) {
    return e as { message: string; code: string; exitCode: number };
  }
  throw new Error('expected an error');
};

describe('control schema version', () => {
  it('creates a missing schema, keeps the current one, upgrades an older one', () => {
    expect(checkControlVersion(undefined)).toBe('create');
    expect(checkControlVersion(CONTROL_SCHEMA_VERSION)).toBe('current');
    expect(checkControlVersion(1, 2)).toBe('upgrade');
  });
  it('refuses a schema from a newer braid (exit 3) naming both versions', () => {
    const e = err(() => checkControlVersion(CONTROL_SCHEMA_VERSION + 1, CONTROL_SCHEMA_VERSION, 'ctl'));
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe('control-schema-newer');
    expect(e.message).toBe(
      `ctl: the braid_control schema is version ${CONTROL_SCHEMA_VERSION + 1}, written by a newer braid (this braid knows version ${CONTROL_SCHEMA_VERSION}): upgrade braid on this machine`,
    );
  });
  it.each([0, -1, 1.5, NaN])('refuses a version row %p that no braid wrote', (v) => {
    expect(err(() => checkControlVersion(v)).code).toBe('control-schema-invalid');
  });
});

describe('leases and claims', () => {
  const now = 1_000_000;
  it.each(STATUSES)('a %s target: lease alive only while running and unexpired', (status) => {
    expect(leaseAlive({ status, leaseExpiresAt: now + 1 }, now)).toBe(status === 'running');
    expect(leaseAlive({ status, leaseExpiresAt: now }, now)).toBe(false);
    expect(leaseAlive({ status, leaseExpiresAt: now - 1 }, now)).toBe(false);
    expect(leaseAlive({ status }, now)).toBe(false);
  });

  it.each([
    ['pending', undefined, true],
    ['paused', undefined, true],
    ['running', now + 5000, false],
    ['running', now, true],
    ['running', now - 1, true],
    ['running', undefined, true],
    ['done', undefined, false],
    ['failed', undefined, false],
    ['done', now + 5000, false],
  ] as const)('%s with lease until %p: claimable %p', (status, exp, want) => {
    expect(claimable({ status, ...(exp === undefined ? {} : { leaseExpiresAt: exp }) }, now)).toBe(want);
  });

  it('transitions: exhaustive table', () => {
    const allowed = new Set([
      'pending>running',
      'running>running',
      'running>done',
      'running>failed',
      'running>paused',
      'paused>running',
      'failed>pending',
    ]);
    for (const a of STATUSES)
      for (const b of STATUSES)
        expect([`${a}>${b}`, canFleetTransition(a, b)]).toEqual([`${a}>${b}`, allowed.has(`${a}>${b}`)]);
  });

  it('settled outcomes map to statuses', () => {
    expect(settleStatus('done')).toBe('done');
    expect(settleStatus('failed')).toBe('failed');
    expect(settleStatus('stopped')).toBe('paused');
  });

  it('server room', () => {
    expect(serverHasRoom(100, undefined)).toBe(true);
    expect(serverHasRoom(1, 2)).toBe(true);
    expect(serverHasRoom(2, 2)).toBe(false);
    expect(serverHasRoom(3, 2)).toBe(false);
  });

  const row = (name: string, wave: number, status: FleetTargetStatus, server = 'a:5432', exp?: number) => ({
    name,
    wave,
    status,
    server,
    attempts: 0,
    ...(exp === undefined ? {} : { leaseExpiresAt: exp }),
  });

  it('picks the first claimable target of the wave in order', () => {
    const ts = [
      row('a', 0, 'done'),
      row('b', 0, 'running', 'a:5432', now + 10),
      row('c', 0, 'pending'),
      row('d', 1, 'pending'),
    ];
    expect(pickClaim(ts, 0, now)?.name).toBe('c');
    expect(pickClaim(ts, 1, now)?.name).toBe('d');
    expect(pickClaim(ts, 2, now)).toBeUndefined();
  });

  it('takes over a target whose lease expired before a pending one', () => {
    const ts = [row('a', 0, 'running', 's', now - 1), row('b', 0, 'pending')];
    expect(pickClaim(ts, 0, now)?.name).toBe('a');
  });

  it('respects the per-server limit, counting live leases of every wave', () => {
    const ts = [
      row('a', 0, 'running', 's1', now + 10),
      row('b', 0, 'running', 's1', now + 10),
      row('c', 0, 'pending', 's1'),
      row('d', 0, 'pending', 's2'),
      row('e', 0, 'running', 's2', now - 5), // expired: does not count
    ];
    expect(pickClaim(ts, 0, now, 2)?.name).toBe('d');
    expect(pickClaim(ts, 0, now, 3)?.name).toBe('c');
    expect(pickClaim(ts.slice(0, 3), 0, now, 2)).toBeUndefined();
    expect(pickClaim(ts, 0, now)?.name).toBe('c');
  });
});

describe('workerDecision and fleetStatus', () => {
  const w = (wave: number, c: Partial<FleetWaveCounts>): FleetWaveCounts => ({
    wave,
    total: 0,
    pending: 0,
    running: 0,
    expired: 0,
    paused: 0,
    done: 0,
    failed: 0,
    ...c,
  });
  const go = { paused: false, continueOnError: false };

  it('claims in the first unfinished wave', () => {
    const waves = [w(0, { done: 1 }), w(1, { pending: 2, running: 1 }), w(2, { pending: 5 })];
    expect(workerDecision(waves, go)).toEqual({ kind: 'claim', wave: 1 });
    expect(fleetStatus(waves, go)).toBe('running');
  });
  it('waits while the current wave only has live leases; never starts the next wave early', () => {
    const waves = [w(0, { done: 1, running: 1 }), w(1, { pending: 5 })];
    expect(workerDecision(waves, go)).toEqual({ kind: 'wait', wave: 0 });
  });
  it('claims expired and paused targets', () => {
    expect(workerDecision([w(0, { expired: 1, running: 1 })], go)).toEqual({ kind: 'claim', wave: 0 });
    expect(workerDecision([w(0, { paused: 1 })], go)).toEqual({ kind: 'claim', wave: 0 });
  });
  it('is done when every wave is done', () => {
    const waves = [w(0, { done: 1 }), w(1, { done: 3 })];
    expect(workerDecision(waves, go)).toEqual({ kind: 'done' });
    expect(fleetStatus(waves, go)).toBe('done');
    expect(workerDecision([], go)).toEqual({ kind: 'done' });
  });
  it('a failure blocks the rollout (even targets of the same wave do not start)', () => {
    const waves = [w(0, { done: 1 }), w(1, { failed: 1, pending: 3 }), w(2, { pending: 1 })];
    expect(workerDecision(waves, go)).toEqual({ kind: 'blocked', wave: 1 });
    expect(fleetStatus(waves, go)).toBe('failed');
  });
  it('continue-on-error goes on past failures and ends failed', () => {
    const flags = { paused: false, continueOnError: true };
    const waves = [w(0, { failed: 1, done: 1 }), w(1, { pending: 1 })];
    expect(workerDecision(waves, flags)).toEqual({ kind: 'claim', wave: 1 });
    expect(fleetStatus(waves, flags)).toBe('running');
    const end = [w(0, { failed: 1, done: 1 }), w(1, { done: 1 })];
    expect(workerDecision(end, flags)).toEqual({ kind: 'done' });
    expect(fleetStatus(end, flags)).toBe('failed');
  });
  it('paused: nothing is claimed, and a finished rollout stays done', () => {
    const flags = { paused: true, continueOnError: false };
    expect(workerDecision([w(0, { pending: 1 })], flags)).toEqual({ kind: 'paused' });
    expect(workerDecision([w(0, { running: 1 })], flags)).toEqual({ kind: 'paused' });
    expect(fleetStatus([w(0, { pending: 1 })], flags)).toBe('paused');
    expect(fleetStatus([w(0, { done: 1 })], flags)).toBe('done');
  });
});

describe('heartbeat', () => {
  it.each([
    [undefined, 'lost'],
    [{ paused: false, blocked: false }, 'continue'],
    [{ paused: true, blocked: false }, 'stop-paused'],
    [{ paused: true, blocked: true }, 'stop-paused'],
    [{ paused: false, blocked: true }, 'stop-blocked'],
  ] as const)('%p → %s', (renewed, want) => {
    expect(heartbeatVerdict(renewed)).toBe(want);
  });
  it('beats three times per ttl, at least every 50 ms', () => {
    expect(heartbeatEvery(30_000)).toBe(10_000);
    expect(heartbeatEvery(90)).toBe(50);
  });
});

describe('tenant schemas', () => {
  it('splits URL#schema', () => {
    expect(splitTenant('postgres://u@h/db#tenant_1')).toEqual({
      url: 'postgres://u@h/db',
      schema: 'tenant_1',
    });
    expect(splitTenant('postgres://u@h/db')).toEqual({ url: 'postgres://u@h/db' });
  });
  it.each(['Tenant', 'a-b', '', '1abc', 'x'.repeat(64), 'braid', 'pg_x', 'information_schema'])(
    'refuses the tenant %p naming the argument, without the URL',
    (s) => {
      const e = err(() => splitTenant(`postgres://u:sekret@h/db#${s}`, 'fleet.json: target t'));
      expect(e.exitCode).toBe(2);
      expect(e.message).toMatch(/^fleet\.json: target t: /);
      expect(e.message).not.toContain('sekret');
    },
  );
  it('names the registry schema of a tenant, shortening long names with a hash', () => {
    expect(tenantRegistrySchema('tenant_1')).toBe('braid_tenant_1');
    const long = 't'.repeat(63);
    const r = tenantRegistrySchema(long);
    expect(r.length).toBeLessThanOrEqual(63);
    expect(r).toMatch(/^braid_t{44}_[0-9a-f]{12}$/);
    expect(tenantRegistrySchema(`${'t'.repeat(62)}u`)).not.toBe(r);
  });
  it('gives each tenant its own advisory lock key, never the database-wide one', () => {
    const keys = new Set(Array.from({ length: 2000 }, (_, i) => tenantLockKey(`tenant_${i}`)));
    expect(keys.size).toBeGreaterThan(1990);
    expect(keys.has(0x64000001)).toBe(false);
    for (const k of keys) expect(k > 0 && k <= 0x7fffffff).toBe(true);
    expect(tenantLockKey('a')).toBe(tenantLockKey('a'));
  });
  it('keys servers by host and port only', () => {
    expect(serverKeyOf('postgres://u:pw@db1.example:6432/app#t1')).toBe('db1.example:6432');
    expect(serverKeyOf('postgres://u@db1/other')).toBe('db1:5432');
    expect(serverKeyOf('postgres:///x')).toBe('localhost:5432');
    expect(serverKeyOf('pglite:/tmp/x#t')).toBe('pglite:/tmp/x');
    expect(serverKeyOf('postgres://[')).toBe('unknown');
  });
});

describe('replicas', () => {
  it('parses LSNs', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(() => parseLsn('nope')).toThrow('not an LSN');
  });
  it('computes each replica lag to the commit LSN', () => {
    expect(
      replicaLags(
        [
          { name: 'r1', replayLsn: '0/100' },
          { name: 'r2', replayLsn: '0/200' },
          { name: 'r3', replayLsn: '1/0' },
          { name: 'r4', replayLsn: null },
        ],
        '0/200',
      ),
    ).toEqual([
      { name: 'r1', lagBytes: 256, caughtUp: false },
      { name: 'r2', lagBytes: 0, caughtUp: true },
      { name: 'r3', lagBytes: 0, caughtUp: true },
      { name: 'r4', lagBytes: null, caughtUp: false },
    ]);
  });
  it('zero replicas: nothing to wait for', () => {
    expect(replicaWaitDecision([], '5/0', 0, 1000)).toEqual({ kind: 'ok', replicas: [] });
  });
  it('all caught up: ok', () => {
    expect(replicaWaitDecision([{ name: 'r', replayLsn: '5/1' }], '5/0', 0, 1000).kind).toBe('ok');
  });
  it('behind: wait, polling no later than the deadline', () => {
    const d = replicaWaitDecision([{ name: 'r', replayLsn: '4/FFFFFF00' }], '5/0', 900, 1000, 200);
    expect(d).toEqual({
      kind: 'wait',
      replicas: [{ name: 'r', lagBytes: 256, caughtUp: false }],
      retryInMs: 100,
    });
  });
  it('behind at the timeout: a failure naming the lagging replicas and their lag', () => {
    const d = replicaWaitDecision(
      [
        { name: 'r1', replayLsn: '0/0' },
        { name: 'r2', replayLsn: '0/A00000' },
        { name: 'r3', replayLsn: null },
      ],
      '0/B00000',
      5000,
      5000,
    );
    expect(d.kind).toBe('timeout');
    expect(d.kind === 'timeout' && d.message).toBe(
      "replicas had not replayed braid's commit 0/B00000 after 5 s (--replica-timeout): r1 11.0 MB behind, r2 1.0 MB behind, r3 not replaying yet",
    );
  });
});
