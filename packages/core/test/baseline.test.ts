import {
  BASELINE_PREAMBLE,
  checkBaseline,
  importedFrom,
  parseBaseline,
  serializeBaselineBlock,
  UsageError,
  type BaselineCheckInput,
} from '@braid/core';

const A = '20170102131034_create_users';
const B = '20170831230457_add_emails';
const C = '20261201000000_new_work';

const block = serializeBaselineBlock({
  tool: 'diesel',
  entries: [
    { id: A, version: '20170102131034', source: '20170102131034_create_users' },
    { id: B, version: '20170831230457', source: '2017-08-31-230457_add emails' },
  ],
});
const TEXT = BASELINE_PREAMBLE + block;

const imported = (tool: string, sql = 'select 1;') =>
  `-- Imported by braid from ${tool}: migrations/x/up.sql\n\n${sql}\n`;
const ups: Record<string, string> = {
  [A]: imported('diesel'),
  [B]: imported('diesel'),
  [C]: '-- new\nselect 2;\n',
};

function input(over: Partial<BaselineCheckInput> = {}): BaselineCheckInput {
  return { text: TEXT, manifestIds: [A, B, C], upOf: (id) => ups[id], ...over };
}

describe('the baseline file', () => {
  test('round trip: blocks, entries with spaces in the source name, checksums', () => {
    const text =
      TEXT +
      serializeBaselineBlock({
        tool: 'flyway',
        entries: [{ id: C, version: '1.1', checksum: '-12345', source: 'V1_1__with spaces' }],
      });
    const b = parseBaseline(text);
    expect(b.blocks.map((x) => x.tool)).toEqual(['diesel', 'flyway']);
    expect(b.blocks[0].entries[1]).toMatchObject({
      id: B,
      version: '20170831230457',
      source: '2017-08-31-230457_add emails',
    });
    expect(b.blocks[0].entries[1].checksum).toBeUndefined();
    expect(b.blocks[1].entries[0]).toMatchObject({
      checksum: '-12345',
      source: 'V1_1__with spaces',
      line: 9,
    });
    const sq = parseBaseline(
      `braid-baseline 1\nimport sqitch my project\n${A} 2013-12-30T23:49:00Z - users\n`,
    );
    expect(sq.blocks[0]).toMatchObject({ tool: 'sqitch', project: 'my project' });
  });

  test('syntax errors name the line', () => {
    const bad = (t: string) => {
      try {
        parseBaseline(t);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as UsageError).message;
      }
      throw new Error('accepted');
    };
    expect(bad('nope\n')).toBe('.migrations/baseline:1: the first line must be "braid-baseline 1"');
    expect(bad('braid-baseline 2\n')).toMatch(/:1: baseline format 2 is newer than this braid knows/);
    expect(bad(`braid-baseline 1\n${A} 1 - x\n`)).toMatch(
      /:2: an entry before the first "import <tool>" line/,
    );
    expect(bad('braid-baseline 1\nimport liquibase\n')).toMatch(/:2: "import" must name a tool/);
    expect(bad('braid-baseline 1\nimport diesel\nnot-an-id 1 - x\n')).toMatch(
      /:3: not-an-id is not a migration id/,
    );
    expect(bad(`braid-baseline 1\nimport diesel\n${A} 1\n`)).toMatch(/:3: expected "<id> <source version>/);
  });

  test('importedFrom reads the importer comment in the leading comment block only', () => {
    expect(importedFrom(imported('dbmate'))).toBe('dbmate');
    expect(
      importedFrom('-- braid:no-transaction\n-- Imported by braid from flyway: V1__a.sql\n\nselect 1;'),
    ).toBe('flyway');
    expect(importedFrom('select 1;\n-- Imported by braid from diesel: x\n')).toBeUndefined();
  });
});

describe('checkBaseline', () => {
  test('a fresh import (nothing committed yet) is accepted and counts as added', () => {
    const r = checkBaseline(
      input({ git: { headIds: new Set(), protectedIds: new Set(), protectedTexts: [] } }),
    );
    expect(r.findings).toEqual([]);
    expect([...r.accepted.keys()]).toEqual([A, B]);
    expect(r.added).toEqual([A, B]);
  });

  test('once committed, the same baseline is accepted and nothing is new', () => {
    const r = checkBaseline(
      input({
        git: { headText: TEXT, headIds: new Set([A, B]), protectedIds: new Set(), protectedTexts: [] },
      }),
    );
    expect(r.findings).toEqual([]);
    expect(r.accepted.size).toBe(2);
    expect(r.added).toEqual([]);
  });

  test('a migration written by hand cannot be baseline (no importer comment)', () => {
    const r = checkBaseline(input({ text: `${TEXT}${C} 1 - x\n` }));
    expect(r.findings.map((f) => [f.code, f.line, f.id])).toEqual([['baseline-not-imported', 8, C]]);
    expect(r.accepted.has(C)).toBe(false);
    expect(r.accepted.size).toBe(2);
  });

  test('a committed migration cannot join the baseline later, even with a forged importer comment', () => {
    const forged: Record<string, string> = { ...ups, [C]: imported('diesel', 'create index i on t (x);') };
    const git = {
      headText: TEXT,
      headIds: new Set([A, B, C]),
      protectedIds: new Set<string>(),
      protectedTexts: [],
    };
    // appended to the committed block
    const r = checkBaseline(input({ text: `${TEXT}${C} 1 - x\n`, upOf: (id) => forged[id], git }));
    expect(r.findings.map((f) => f.code)).toEqual(['baseline-grown']);
    expect(r.findings[0].message).toMatch(/already committed/);
    // in a block of its own: still committed outside the baseline
    const r2 = checkBaseline(
      input({ text: `${TEXT}import diesel\n${C} 1 - x\n`, upOf: (id) => forged[id], git }),
    );
    expect(r2.findings.map((f) => f.code)).toEqual(['baseline-grown']);
    expect(r2.findings[0].message).toMatch(/committed without being in the baseline/);
    expect(r2.accepted.has(C)).toBe(false);
  });

  test('a shared (protected) baseline is never rewritten; a new block at its end is fine', () => {
    const git = {
      headText: TEXT,
      headIds: new Set([A, B]),
      protectedIds: new Set([A, B]),
      protectedTexts: [{ ref: 'main', text: TEXT }],
    };
    const edited = TEXT.replace('2017-08-31-230457_add emails', 'renamed');
    const r = checkBaseline(input({ text: edited, git }));
    expect(r.findings.map((f) => f.code)).toEqual(['baseline-changed']);
    expect(r.findings[0].message).toContain('git checkout main -- .migrations/baseline');
    expect(r.accepted.size).toBe(0);
    const appended = `${TEXT}import flyway\n${C} 1 123 V1__a\n`;
    const ok = checkBaseline(
      input({ text: appended, upOf: (id) => (id === C ? imported('flyway') : ups[id]), git }),
    );
    expect(ok.findings).toEqual([]);
    expect(ok.added).toEqual([C]);
  });

  test('unknown, duplicate and out-of-order entries are findings', () => {
    const r = checkBaseline(
      input({
        text: `braid-baseline 1\nimport diesel\n${B} 2 - b\n${A} 1 - a\n${B} 2 - b\n20000101000000_gone 0 - g\n`,
      }),
    );
    expect(r.findings.map((f) => [f.code, f.line])).toEqual([
      ['baseline-order', 4],
      ['baseline-duplicate', 5],
      ['baseline-unknown', 6],
    ]);
    expect([...r.accepted.keys()]).toEqual([B]);
  });

  test('a syntax error accepts nothing', () => {
    const r = checkBaseline(input({ text: 'garbage' }));
    expect(r.findings.map((f) => [f.code, f.file, f.line])).toEqual([
      ['baseline-syntax', '.migrations/baseline', 1],
    ]);
    expect(r.accepted.size).toBe(0);
  });
});
