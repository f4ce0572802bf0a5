import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadParser, splitLexically, splitStatements } from '@braid/sql';

const fixture = readFileSync(path.join(__dirname, '../../../test/fixtures/sql/split/tricky.sql'), 'utf8');

function summary(sql: string, parsed: boolean) {
  const sts = parsed ? splitStatements(sql) : splitLexically(sql);
  return sts.map((s) => ({
    text: s.text,
    line: s.line,
    col: s.col,
    start: s.start,
    end: s.end,
    leading: s.leadingComments,
  }));
}

describe('splitStatements', () => {
  beforeAll(async () => {
    await loadParser();
  });

  test('tricky corpus: dollar quotes with tags, nested comments, DO, E strings, quoted identifiers', () => {
    const got = summary(fixture, true);
    expect(got.map((s) => [s.line, s.col])).toEqual([
      [3, 1],
      [8, 1],
      [9, 1],
      [10, 1],
      [10, 32],
    ]);
    expect(got[0].text.startsWith('CREATE FUNCTION f()')).toBe(true);
    expect(got[0].text.endsWith('$body$')).toBe(true);
    expect(got[0].leading).toEqual(['-- braid:no-transaction', '/* outer /* nested ; */ still comment ; */']);
    expect(got[1].text).toBe('DO $$ BEGIN PERFORM 1; END $$');
    expect(got[2].text).toBe(`SELECT E'it\\'s; fine', 'o''k;', "we;ird" FROM "t;x"`);
    expect(got[3].text).toBe("INSERT INTO t VALUES ('é;è')");
    expect(got[4].text).toBe('SELECT 2');
    expect(got[3].leading).toEqual(['-- trailing']);
    expect(got[4].leading).toEqual([]);
    // byte offsets: the two accented letters take two bytes each
    const bytes = Buffer.from(fixture, 'utf8');
    for (const s of got) expect(bytes.subarray(s.start, s.end).toString('utf8')).toBe(s.text);
    expect(got[4].start - got[3].start).toBe(Buffer.byteLength("INSERT INTO t VALUES ('é;è');  "));
  });

  test('the lexical fallback gives the same statements as the parser on a file that parses', () => {
    expect(summary(fixture, false)).toEqual(summary(fixture, true));
  });

  test('a file with a syntax error still splits, lexically', () => {
    const sql = 'CREATE TABLE a (id int);\nCREAT TABLE b (x int);\nSELECT 1;';
    const sts = splitStatements(sql);
    expect(sts.map((s) => [s.text, s.line, s.col])).toEqual([
      ['CREATE TABLE a (id int)', 1, 1],
      ['CREAT TABLE b (x int)', 2, 1],
      ['SELECT 1', 3, 1],
    ]);
    expect(sts[0].ast).toBeUndefined();
  });

  test('BEGIN ATOMIC bodies keep their semicolons', () => {
    const sql =
      'CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;\nSELECT 3;';
    for (const parsed of [true, false]) {
      const sts = summary(sql, parsed);
      expect(sts.map((s) => s.line)).toEqual([1, 2]);
      expect(sts[0].text.endsWith('SELECT 2; END')).toBe(true);
    }
  });

  test('comments only and empty files have no statements', () => {
    expect(splitStatements('-- nothing\n/* here */\n')).toEqual([]);
    expect(splitStatements('')).toEqual([]);
  });
});
