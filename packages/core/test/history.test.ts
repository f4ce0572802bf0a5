/**
 * The pure model of `braid history`: rollbacks matched to their rollout reasons, failures,
 * per-day counts and success rates, durations per migration (min/median/max across targets),
 * ordering, redaction, and the small helpers (--since, database labels, titles).
 */
import {
  buildHistoryModel,
  databaseLabel,
  median,
  parseSince,
  titleFromId,
  UsageError,
  withoutUrls,
  type AuditRow,
  type HistoryRow,
  type TargetRead,
} from '@braid/core';

const M1 = '20261125100000_create_users';
const M2 = '20261125100100_add_phone';
const M3 = '20261125100200_add_bad';

function h(seq: number, id: string, at: string, extra: Partial<HistoryRow> = {}): HistoryRow {
  return { seq, id, checksum: 'sha256:x', direction: 'up', at, durationMs: 10, dbRole: 'app', ...extra };
}
function a(
  seq: number,
  id: string | undefined,
  at: string,
  outcome: string,
  extra: Partial<AuditRow> = {},
): AuditRow {
  return { seq, ...(id ? { id } : {}), at, direction: 'up', outcome, dbRole: 'app', ...extra };
}
function target(
  name: string,
  history: HistoryRow[],
  audit: AuditRow[],
  extra: Partial<TargetRead> = {},
): TargetRead {
  return {
    name,
    database: `db/${name}`,
    reachable: true,
    registryVersion: 3,
    applied: [],
    history,
    audit,
    ...extra,
  };
}

describe('buildHistoryModel', () => {
  const t1 = target(
    'one',
    [
      h(1, M1, '2026-11-24T10:00:00.000Z', { durationMs: 30 }),
      h(2, M2, '2026-11-24T10:00:01.000Z', { durationMs: 100 }),
      h(3, M2, '2026-11-25T09:00:00.000Z', { direction: 'down', rolloutId: 'r1' }),
      h(4, M1, '2026-11-25T09:00:01.000Z', { direction: 'down', rolloutId: 'r1' }),
    ],
    [
      a(1, M1, '2026-11-24T10:00:00.000Z', 'ok'),
      a(2, M2, '2026-11-24T10:00:01.000Z', 'ok'),
      a(3, undefined, '2026-11-25T08:59:59.000Z', 'health-failed', {
        reason: 'health check failed: exit 1',
        rolloutId: 'r1',
      }),
      a(4, M2, '2026-11-25T09:00:00.000Z', 'ok', { direction: 'down' }),
      a(5, M1, '2026-11-25T09:00:01.000Z', 'ok', { direction: 'down' }),
      a(6, M2, '2026-11-25T09:00:02.000Z', 'rolled-back', {
        direction: 'down',
        reason: 'health check failed: exit 1',
        rolloutId: 'r1',
      }),
      a(7, M1, '2026-11-25T09:00:02.000Z', 'rolled-back', {
        direction: 'down',
        reason: 'health check failed: exit 1',
        rolloutId: 'r1',
      }),
    ],
  );
  const t2 = target(
    'two',
    [
      h(1, M1, '2026-11-24T11:00:00.000Z', { durationMs: 50 }),
      h(2, M2, '2026-11-24T11:00:01.000Z', { durationMs: 10 }),
    ],
    [
      a(1, M1, '2026-11-24T11:00:00.000Z', 'ok'),
      a(2, M2, '2026-11-24T11:00:01.000Z', 'ok'),
      a(3, M3, '2026-11-25T11:00:00.000Z', 'failed', {
        error: 'cannot reach postgres://u:hunter2@db.example.com:5432/app: boom',
        sqlstate: '42P01',
        statement: 'alter table nope add column x int -- password=hunter2',
      }),
    ],
    { applied: [M1, M2] },
  );
  const t3 = target('three', [], [], {
    reachable: false,
    error: 'cannot connect to postgres://u:pw@h:1/x: refused',
    registryVersion: 0,
  });
  const m = buildHistoryModel({
    targets: [t1, t2, t3],
    migrations: new Map([
      [M1, { id: M1, title: 'Create users', tickets: ['OPS-1'], reason: 'why' }],
      ['20990101000000_unrelated', { id: '20990101000000_unrelated', title: 'Unrelated', tickets: [] }],
    ]),
    order: [M1, M2, M3],
    generator: 'braid test',
    since: '2026-11-01T00:00:00.000Z',
    limit: 50,
  });

  it('matches a rollout rollback to its reason, per migration', () => {
    expect(m.rollbacks.map((r) => [r.targetName, r.id, r.kind, r.reason])).toEqual([
      ['one', M1, 'rollback-on-failure', 'health check failed: exit 1'],
      ['one', M2, 'rollback-on-failure', 'health check failed: exit 1'],
    ]);
  });

  it('lists failures (migration and health check), newest first, redacted, without connection strings', () => {
    expect(m.failures.map((f) => [f.targetName, f.id, f.outcome])).toEqual([
      ['two', M3, 'failed'],
      ['one', undefined, 'health-failed'],
    ]);
    expect(m.failures[0].error).toBe('cannot reach db.example.com:5432/app: boom');
    expect(m.failures[0].statement).toBe('alter table nope add column x int -- password=***');
    expect(JSON.stringify(m)).not.toContain('hunter2');
    expect(m.targets[2]).toMatchObject({
      name: 'three',
      reachable: false,
      error: 'cannot connect to h:1/x: refused',
    });
  });

  it('counts attempts, outcomes and rollbacks per UTC day', () => {
    expect(m.days).toEqual([
      { day: '2026-11-24', attempts: 4, ok: 4, failed: 0, healthFailed: 0, rolledBack: 0, successRate: 1 },
      {
        day: '2026-11-25',
        attempts: 3,
        ok: 2,
        failed: 1,
        healthFailed: 1,
        rolledBack: 2,
        successRate: 2 / 3,
      },
    ]);
    expect(m.totals).toEqual({
      attempts: 7,
      ok: 6,
      failed: 1,
      healthFailed: 1,
      rolledBack: 2,
      successRate: 6 / 7,
    });
  });

  it('summarises each target', () => {
    expect(m.targets.map((t) => [t.name, t.ups, t.downs, t.failed, t.rolledBack, t.lastAt ?? null])).toEqual([
      ['one', 2, 2, 1, 2, '2026-11-25T09:00:02.000Z'],
      ['two', 2, 0, 1, 0, '2026-11-25T11:00:00.000Z'],
      ['three', 0, 0, 0, 0, null],
    ]);
  });

  it('durations: latest up per target, min/median/max, in manifest order', () => {
    expect(m.durations).toEqual([
      {
        id: M1,
        perTarget: [
          { target: 'one', ms: 30 },
          { target: 'two', ms: 50 },
        ],
        min: 30,
        median: 40,
        max: 50,
      },
      {
        id: M2,
        perTarget: [
          { target: 'one', ms: 100 },
          { target: 'two', ms: 10 },
        ],
        min: 10,
        median: 55,
        max: 100,
      },
    ]);
  });

  it('applied events newest first; only named migrations carry metadata; filters are recorded', () => {
    expect(m.applied.map((x) => `${x.targetName} ${x.direction} ${x.seq}`)).toEqual([
      'one down 4',
      'one down 3',
      'two up 2',
      'two up 1',
      'one up 2',
      'one up 1',
    ]);
    expect(Object.keys(m.migrations)).toEqual([M1]);
    expect(m.filters).toEqual({ since: '2026-11-01T00:00:00.000Z', limit: 50 });
  });

  it('a plain braid down (no rollout row) is a "down" rollback without reason; an empty history is empty', () => {
    const x = buildHistoryModel({
      targets: [
        target(
          't',
          [h(1, M1, '2026-11-24T10:00:00.000Z'), h(2, M1, '2026-11-24T10:05:00.000Z', { direction: 'down' })],
          [],
        ),
      ],
      generator: 'g',
    });
    expect(x.rollbacks).toEqual([
      expect.objectContaining({ targetName: 't', id: M1, kind: 'down', durationMs: 10 }),
    ]);
    expect(x.rollbacks[0]).not.toHaveProperty('reason');
    const empty = buildHistoryModel({ targets: [], generator: 'g' });
    expect(empty).toMatchObject({ applied: [], failures: [], rollbacks: [], days: [], durations: [] });
    expect(empty.totals.successRate).toBeNull();
  });

  it('a rollout rollback with nothing to revert (no id) is still listed with its reason', () => {
    const x = buildHistoryModel({
      targets: [
        target(
          't',
          [],
          [
            a(1, undefined, '2026-11-24T10:00:00.000Z', 'rolled-back', {
              reason: 'health failed',
              rolloutId: 'r',
            }),
          ],
        ),
      ],
      generator: 'g',
    });
    expect(x.rollbacks).toEqual([
      expect.objectContaining({
        targetName: 't',
        kind: 'rollback-on-failure',
        reason: 'health failed',
        rolloutId: 'r',
      }),
    ]);
    expect(x.rollbacks[0]).not.toHaveProperty('id');
  });
});

describe('helpers', () => {
  it('parseSince accepts a date or an ISO timestamp (UTC when no zone) and refuses the rest', () => {
    expect(parseSince('2026-11-25')).toBe('2026-11-25T00:00:00.000Z');
    expect(parseSince('2026-11-25T10:30')).toBe('2026-11-25T10:30:00.000Z');
    expect(parseSince('2026-11-25 10:30:05+02:00')).toBe('2026-11-25T08:30:05.000Z');
    for (const bad of ['yesterday', '2026-13-45', '25/11/2026', '']) {
      expect(() => parseSince(bad)).toThrow(UsageError);
    }
    expect(() => parseSince('nope')).toThrow(/^--since: expected a date/);
  });

  it('databaseLabel never holds a user or password', () => {
    expect(databaseLabel('postgres://app:s3cret@db.example.com:6543/prod?sslmode=require')).toBe(
      'db.example.com:6543/prod',
    );
    expect(databaseLabel('postgresql://db/app')).toBe('db/app');
    expect(databaseLabel('postgres://u@localhost/x?host=/var/run/postgresql')).toBe('/var/run/postgresql/x');
    expect(databaseLabel('pglite:/tmp/x')).toBe('pglite:/tmp/x');
    expect(withoutUrls('cannot connect to postgres://a:b@h:1/d: refused (see "postgres://h/e")')).toBe(
      'cannot connect to h:1/d: refused (see "h/e")',
    );
  });

  it('titleFromId and median', () => {
    expect(titleFromId('20261125100000_add_phone_to_users')).toBe('Add phone to users');
    expect(titleFromId('not-an-id')).toBe('Not-an-id');
    expect(median([])).toBe(0);
    expect(median([5])).toBe(5);
    expect(median([9, 1, 5])).toBe(5);
    expect(median([1, 2, 3, 10])).toBe(3);
  });
});
