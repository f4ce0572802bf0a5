import {
  flywayVersionKey,
  parseBaseline,
  planAdoption,
  type AdoptRow,
  type BaselineBlock,
} from '@braid/core';

function block(text: string): BaselineBlock {
  return parseBaseline(`braid-baseline 1\n${text}`).blocks[0];
}

const diesel = block(
  [
    'import diesel',
    '19700101000001_diesel_initial_setup 00000000000000 - 00000000000000_diesel_initial_setup',
    '20170102131034_users 20170102131034 - 20170102131034_users',
    '20170831230457_emails 20170831230457 - 2017-08-31-230457_emails',
    '20180101000000_later 201801010000000000 - 2018-01-01-000000-0000_later',
  ].join('\n'),
);
const ids = diesel.entries.map((e) => e.id);
const plan = (
  b: BaselineBlock,
  rows: AdoptRow[],
  extra: { braidApplied?: string[]; manifestIds?: string[] } = {},
) =>
  planAdoption({
    sources: [{ block: b, rows, table: 't' }],
    manifestIds: extra.manifestIds ?? b.entries.map((e) => e.id),
    braidApplied: new Set(extra.braidApplied ?? []),
  });

describe('planAdoption: diesel (and dbmate: versions as text)', () => {
  test('what diesel recorded is adopted, the rest is pending', () => {
    const p = plan(diesel, [
      { version: '00000000000000' },
      { version: '20170102131034' },
      { version: '20170831230457' },
    ]);
    expect(p.problems).toEqual([]);
    expect(p.adopt.map((a) => a.id)).toEqual(ids.slice(0, 3));
    expect(p.adopt[2]).toEqual({
      id: ids[2],
      tool: 'diesel',
      version: '20170831230457',
      source: '2017-08-31-230457_emails',
    });
    expect(p.pending).toEqual([ids[3]]);
  });

  test('migrations braid already has are not recorded twice', () => {
    const p = plan(
      diesel,
      diesel.entries.map((e) => ({ version: e.version })),
      { braidApplied: ids.slice(0, 2) },
    );
    expect(p.already).toEqual(ids.slice(0, 2));
    expect(p.adopt.map((a) => a.id)).toEqual(ids.slice(2));
  });

  test('versions the import does not know are refused', () => {
    const p = plan(diesel, [{ version: '00000000000000' }, { version: '20990101000000' }]);
    expect(p.problems.map((x) => x.code)).toEqual(['adopt-unknown-version']);
    expect(p.problems[0].message).toContain('20990101000000');
  });

  test('a gap (applied out of order by diesel) is refused, naming the command that fills it', () => {
    const p = plan(diesel, [{ version: '00000000000000' }, { version: '20170831230457' }]);
    expect(p.problems.map((x) => x.code)).toEqual(['adopt-gap']);
    expect(p.problems[0].message).toMatch(
      /^20170102131034_users \(20170102131034_users\) is not applied but 20170831230457_emails/,
    );
    expect(p.problems[0].message).toContain('diesel migration run');
  });

  test('a native braid migration applied after the import makes the imported rest a gap', () => {
    const p = plan(diesel, [{ version: '00000000000000' }], {
      manifestIds: [...ids, '20261201000000_native'],
      braidApplied: ['20261201000000_native'],
    });
    expect(p.problems.map((x) => x.code)).toEqual(['adopt-gap']);
  });
});

describe('planAdoption: golang-migrate (one row: version, dirty)', () => {
  const gm = block(
    [
      'import golang-migrate',
      '19700101000001_a 1 - 1_a',
      '19700101000002_b 2 - 2_b',
      '19700101000003_c 10 - 10_c',
    ].join('\n'),
  );
  test('every version up to the recorded one is applied', () => {
    const p = plan(gm, [{ version: '2', dirty: false }]);
    expect(p.problems).toEqual([]);
    expect(p.adopt.map((a) => a.version)).toEqual(['1', '2']);
    expect(p.pending).toEqual(['19700101000003_c']);
    expect(plan(gm, []).adopt).toEqual([]);
  });
  test('dirty is refused with the way out golang-migrate offers', () => {
    const p = plan(gm, [{ version: '10', dirty: true }]);
    expect(p.problems.map((x) => x.code)).toEqual(['adopt-dirty']);
    expect(p.problems[0].message).toContain('migrate force');
    expect(p.adopt).toEqual([]);
  });
  test('an unknown version and a malformed table are refused', () => {
    expect(plan(gm, [{ version: '5', dirty: false }]).problems.map((x) => x.code)).toEqual([
      'adopt-unknown-version',
    ]);
    expect(
      plan(gm, [
        { version: '1', dirty: false },
        { version: '2', dirty: false },
      ]).problems.map((x) => x.code),
    ).toEqual(['adopt-malformed']);
  });
});

describe('planAdoption: flyway', () => {
  const fw = block(
    [
      'import flyway',
      '19700101000001_a 1 100 V1__a',
      '19700101000002_b 1.1 200 V1_1__b',
      '19700101000003_c 2 300 V2__c',
      '19700101000004_repeatable_view R 400 R__view',
    ].join('\n'),
  );
  const row = (rank: number, version: string | null, over: Partial<AdoptRow> = {}): AdoptRow => ({
    rank,
    version,
    description: 'x',
    type: 'SQL',
    checksum: null,
    success: true,
    ...over,
  });
  test('versions compare numerically; checksums must match; repeatables by description', () => {
    expect(flywayVersionKey('1.0')).toBe('1');
    expect(flywayVersionKey('01.1')).toBe('1.1');
    const p = plan(fw, [
      row(1, null, { type: 'SCHEMA', description: '<< Flyway Schema Creation >>' }),
      row(2, '1.0', { checksum: 100 }),
      row(3, '1.1', { checksum: 200 }),
      row(4, '2', { checksum: 300 }),
      row(5, null, { description: 'view', checksum: 400 }),
    ]);
    expect(p.problems).toEqual([]);
    expect(p.adopt.map((a) => a.id)).toEqual(fw.entries.map((e) => e.id));
  });
  test('a failed row and a checksum that differs are refused', () => {
    const p = plan(fw, [
      row(1, '1', { checksum: 100 }),
      row(2, '1.1', { checksum: 999 }),
      row(3, '2', { success: false }),
    ]);
    expect(p.problems.map((x) => x.code).sort()).toEqual(['adopt-checksum', 'adopt-failed']);
    expect(p.problems.find((x) => x.code === 'adopt-failed')!.message).toContain('flyway repair');
  });
  test('an out-of-order hole (outOfOrder / ignored) is a gap', () => {
    const p = plan(fw, [row(1, '1'), row(2, '2')]);
    expect(p.problems.map((x) => x.code)).toEqual(['adopt-gap']);
    expect(p.problems[0].message).toContain('flyway migrate');
  });
  test('a Flyway baseline row covers the versions below it; an undone version is not applied', () => {
    const p = plan(fw, [row(1, '1.1', { type: 'BASELINE' })]);
    expect(p.adopt.map((a) => a.version)).toEqual(['1', '1.1']);
    expect(p.notes[0]).toMatch(/below the database's Flyway baseline/);
    const u = plan(fw, [row(1, '1'), row(2, '1.1'), row(3, '1.1', { type: 'UNDO_SQL' })]);
    expect(u.adopt.map((a) => a.version)).toEqual(['1']);
  });
  test('a repeatable migration that changed since it ran is left pending (Flyway would re-run it)', () => {
    const p = plan(fw, [
      row(1, '1'),
      row(2, '1.1'),
      row(3, '2'),
      row(4, null, { description: 'view', checksum: 1 }),
    ]);
    expect(p.problems).toEqual([]);
    expect(p.pending).toEqual(['19700101000004_repeatable_view']);
    expect(p.notes[0]).toMatch(/changed since Flyway last ran it/);
  });
});

describe('planAdoption: sqitch (change and planned-at time, this project only)', () => {
  const sq = parseBaseline(
    'braid-baseline 1\nimport sqitch flipr\n20131230234900_users 2013-12-30T23:49:00Z - users\n20140102000000_users 2014-01-02T00:00:00Z - users\n',
  ).blocks[0];
  test('a reworked change is matched by its planned-at time', () => {
    const p = plan(sq, [
      { change: 'users', plannedAt: '2013-12-30T23:49:00Z', project: 'flipr' },
      { change: 'users', plannedAt: '2014-01-02T00:00:00Z', project: 'other' },
    ]);
    expect(p.problems).toEqual([]);
    expect(p.adopt.map((a) => a.id)).toEqual(['20131230234900_users']);
    expect(p.pending).toEqual(['20140102000000_users']);
    expect(p.notes[0]).toMatch(/other sqitch projects/);
  });
});

describe('planAdoption: dbmate', () => {
  const db = block(['import dbmate', '19700101000001_a 001 - 001_a', '19700101000002_b 2 - 2_b'].join('\n'));
  test('versions are compared as dbmate stores them (text)', () => {
    expect(plan(db, [{ version: '001' }]).adopt.map((a) => a.id)).toEqual(['19700101000001_a']);
    expect(plan(db, [{ version: '1' }]).problems.map((x) => x.code)).toEqual(['adopt-unknown-version']);
  });
});
