/**
 * The parser module calls libpg-query's WebAssembly module directly (parser.ts, DirectParser):
 * results, locations (UTF-8 byte offsets) and errors must be what libpg-query's own parseSync
 * gives.
 */
import { loadParser, parsePlpgsql, parseSql } from '../src/parser';

beforeAll(async () => {
  await loadParser();
});

describe('parseSql', () => {
  test('statements with UTF-8 byte locations and lengths', () => {
    const sql = "INSERT INTO t VALUES ('é€😀');\nSELECT 1;";
    const r = parseSql(sql);
    if (!r.ok) throw new Error(r.message);
    expect(r.version).toBeGreaterThanOrEqual(170000);
    expect(r.stmts.map((x) => Object.keys(x.stmt)[0])).toEqual(['InsertStmt', 'SelectStmt']);
    const firstLen = Buffer.byteLength("INSERT INTO t VALUES ('é€😀')");
    expect(r.stmts[0]).toMatchObject({ location: 0, length: firstLen });
    // the second statement starts at its first token, counted in UTF-8 bytes (not characters)
    const selectAt = sql.indexOf('SELECT');
    expect(r.stmts[1].location).toBe(Buffer.byteLength(sql.slice(0, selectAt)));
    expect(r.stmts[1].location).toBeGreaterThan(selectAt);
    const value = JSON.stringify(r.stmts[0].stmt);
    expect(value).toContain('é€😀');
  });

  test('a syntax error: message and 0-based character position', () => {
    const r = parseSql('SELECT 1;\nCREATE TABLEE t (id int);');
    expect(r).toEqual({ ok: false, message: 'syntax error at or near "TABLEE"', position: 17 });
  });

  test('an unterminated string and an empty text fail without throwing', () => {
    const r = parseSql("SELECT 'abc");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/unterminated quoted string/);
    expect(parseSql('')).toEqual({ ok: false, message: 'Query cannot be empty', position: undefined });
  });

  test('a large text round-trips (memory growth keeps results intact)', () => {
    const many = Array.from(
      { length: 3000 },
      (_, i) => `CREATE TABLE t${i} (id bigint, note text DEFAULT 'ü${i}')`,
    );
    const r = parseSql(many.join(';\n') + ';');
    if (!r.ok) throw new Error(r.message);
    expect(r.stmts).toHaveLength(3000);
    expect(JSON.stringify(r.stmts[2999].stmt)).toContain('ü2999');
  });
});

describe('parsePlpgsql', () => {
  test('a PL/pgSQL function body', () => {
    const r = parsePlpgsql('CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;');
    if (!r.ok) throw new Error(r.message);
    expect(Object.keys(r.functions[0])).toEqual(['PLpgSQL_function']);
  });

  test('a body that does not parse is an error', () => {
    const r = parsePlpgsql('CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1 END $$;');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message.length).toBeGreaterThan(0);
  });
});
