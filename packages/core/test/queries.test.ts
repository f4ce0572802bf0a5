import {
  describeSkipped,
  detectQueryFormat,
  maxParam,
  parseCsv,
  parsePgssExport,
  QueryFileError,
  skipReason,
} from '@braid/core';

describe('pg_stat_statements exports', () => {
  it('tells the format from the content, not the name', () => {
    expect(detectQueryFormat('queryid,calls,total_exec_time,query\n1,2,3,select 1\n')).toBe('pgss-csv');
    expect(detectQueryFormat('\uFEFF"queryid","query"\n')).toBe('pgss-csv');
    expect(detectQueryFormat('  [{"query":"select 1"}]')).toBe('pgss-json');
    expect(detectQueryFormat('{"query":"select 1"}\n{"query":"select 2"}\n')).toBe('pgss-json');
    expect(detectQueryFormat('select a, b from t;\n')).toBe('sql');
    // A header without a query column is not an export.
    expect(detectQueryFormat('a,b,c\n1,2,3\n')).toBe('sql');
  });

  it('parses RFC 4180 CSV: quoted commas, doubled quotes, newlines, CRLF', () => {
    expect(parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",2\n')).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, y', 'say "hi"'] },
      { line: 3, fields: ['multi\nline', '2'] },
    ]);
    expect(() => parseCsv('a\n"open\n')).toThrow(QueryFileError);
    try {
      parseCsv('a\n"open\n');
    } catch (e) {
      expect((e as QueryFileError).line).toBe(2);
    }
  });

  it('finds $n parameters outside strings and comments', () => {
    expect(maxParam('select * from t where a = $1 and b in ($3, $2)')).toBe(3);
    expect(maxParam("select '$5' from t -- $9\nwhere a = $1")).toBe(1);
    expect(maxParam('select 1')).toBe(0);
  });

  it('skips utility statements and braid registry queries', () => {
    expect(skipReason('BEGIN')).toBe('utility');
    expect(skipReason('SET statement_timeout = $1')).toBe('utility');
    expect(skipReason('create index on t (a)')).toBe('utility');
    expect(skipReason('/* app */ select 1')).toBeUndefined();
    expect(skipReason('with x as (select 1) select * from x')).toBeUndefined();
    expect(skipReason('(select 1) union (select 2)')).toBeUndefined();
    expect(skipReason('select * from braid.migrations where id = $1')).toBe('braid-registry');
    expect(skipReason('select * from "braid"."history"')).toBe('braid-registry');
    expect(skipReason('select braid_total from accounts')).toBeUndefined();
    expect(skipReason('   ')).toBe('empty');
  });

  it('orders by total time, keeps the top N, labels by queryid (bigints kept exact)', () => {
    const csv = [
      'queryid,calls,total_exec_time,query',
      '1,1,5,select 1',
      '2,1,50,"select *',
      ' from t where a = $1"',
      '3,1,500,COMMIT',
      '4,1,20,select 4',
      '',
    ].join('\n');
    const r = parsePgssExport(csv, 'f.csv', 2);
    expect(r.format).toBe('pgss-csv');
    expect(r.queries.map((q) => q.label)).toEqual(['queryid 2', 'queryid 4']);
    expect(r.queries[0]).toMatchObject({
      params: 1,
      calls: 1,
      totalMs: 50,
      text: 'select *\n from t where a = $1',
    });
    expect(r.skipped).toEqual([
      { label: 'queryid 3', reason: 'utility' },
      { label: 'queryid 1', reason: 'below-top' },
    ]);
    expect(describeSkipped(r.skipped)).toBe(
      '2 skipped: 1 utility statement (not plannable: BEGIN, SET, DDL, …), 1 query below --queries-top',
    );

    const json = parsePgssExport(
      '[{"queryid": 9223372036854775807, "query": "select $1::int", "calls": 3, "total_exec_time": 1.5},' +
        ' {"query": "select 2", "total_time": 7}]',
      'f.json',
      50,
    );
    expect(json.queries.map((q) => q.label)).toEqual(['f.json:2', 'queryid 9223372036854775807']);
    // JSON lines, the older total_time column, no queryid: labelled by line.
    const lines = parsePgssExport('{"query":"select 1"}\n\n{"query":"select 2;"}\n', 'f.jsonl', 50);
    expect(lines.queries.map((q) => [q.label, q.text])).toEqual([
      ['f.jsonl:1', 'select 1'],
      ['f.jsonl:3', 'select 2'],
    ]);
  });

  it('names the line of a malformed export', () => {
    const bad = (text: string) => {
      try {
        parsePgssExport(text, 'f', 50);
      } catch (e) {
        return e instanceof QueryFileError ? `${e.line ?? '-'}: ${e.message}` : String(e);
      }
      return 'no error';
    };
    expect(bad('queryid,query\n1,select 1,extra\n')).toBe('2: 3 fields where the header has 2');
    expect(bad('[{"queryid": 1}]')).toBe('-: entry 1 has no "query" string');
    expect(bad('{"query":"a"}\n{nope\n')).toMatch(/^2: not valid JSON/);
  });
});
