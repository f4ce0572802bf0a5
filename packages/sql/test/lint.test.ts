import { classify, lintMigrations, loadParser, parseSql, type LockInfo } from '@braid/sql';

beforeAll(async () => {
  await loadParser();
});

function locks(sql: string, pgVersion?: number): LockInfo {
  const r = parseSql(sql);
  if (!r.ok) throw new Error(r.message);
  return classify(r.stmts[0].stmt, pgVersion ? { pgVersion } : {});
}
const eff = (sql: string, pg?: number) =>
  locks(sql, pg).effects.map(
    (e) => `${e.object} ${e.lock}${e.rewrite ? ' rewrite' : ''}${e.scan ? ' scan' : ''}`,
  );

describe('lock classification', () => {
  const cases: Array<[string, string[], number?]> = [
    ['CREATE INDEX i ON t (a)', ['public.t SHARE scan'], 15],
    ['CREATE INDEX CONCURRENTLY i ON t (a)', ['public.t SHARE UPDATE EXCLUSIVE scan'], 15],
    ['DROP INDEX i', ['public.i ACCESS EXCLUSIVE'], 15],
    ['ALTER TABLE t ADD COLUMN c int', ['public.t ACCESS EXCLUSIVE'], 15],
    ['ALTER TABLE t ADD COLUMN c int DEFAULT 0', ['public.t ACCESS EXCLUSIVE'], 15],
    ['ALTER TABLE t ADD COLUMN c int DEFAULT 0', ['public.t ACCESS EXCLUSIVE rewrite'], 10],
    ['ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()', ['public.t ACCESS EXCLUSIVE rewrite'], 15],
    ['ALTER TABLE t ALTER COLUMN c TYPE bigint', ['public.t ACCESS EXCLUSIVE rewrite'], 15],
    ['ALTER TABLE t ALTER COLUMN c SET NOT NULL', ['public.t ACCESS EXCLUSIVE scan'], 15],
    [
      'ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES u (id)',
      ['public.t SHARE ROW EXCLUSIVE scan', 'public.u SHARE ROW EXCLUSIVE'],
    ],
    [
      'ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES u (id) NOT VALID',
      ['public.t SHARE ROW EXCLUSIVE', 'public.u SHARE ROW EXCLUSIVE'],
    ],
    ['ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)', ['public.t ACCESS EXCLUSIVE scan'], 15],
    ['ALTER TABLE t VALIDATE CONSTRAINT c', ['public.t SHARE UPDATE EXCLUSIVE scan'], 15],
    ['ALTER TABLE t SET LOGGED', ['public.t ACCESS EXCLUSIVE rewrite'], 15],
    ['ALTER TABLE t SET (fillfactor = 70)', ['public.t SHARE UPDATE EXCLUSIVE'], 15],
    [
      'CREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()',
      ['public.t SHARE ROW EXCLUSIVE'],
    ],
    ['TRUNCATE t', ['public.t ACCESS EXCLUSIVE'], 15],
    ['UPDATE t SET a = 1', ['public.t ROW EXCLUSIVE scan'], 15],
    ['LOCK TABLE t IN SHARE MODE', ['public.t SHARE'], 15],
    ['VACUUM FULL t', ['public.t ACCESS EXCLUSIVE rewrite'], 15],
    ['ALTER INDEX i RENAME TO j', ['public.i SHARE UPDATE EXCLUSIVE'], 15],
    ['ALTER INDEX i RENAME TO j', ['public.i ACCESS EXCLUSIVE'], 11],
  ];
  test.each(cases.map(([sql, expected, pg]) => ({ sql, expected, pg })))(
    '$sql (pg $pg)',
    ({ sql, expected, pg }) => {
      expect(eff(sql, pg)).toEqual(expected);
    },
  );

  test('transaction compatibility', () => {
    expect(locks('CREATE INDEX CONCURRENTLY i ON t (a)').transactional).toBe(false);
    expect(locks('CREATE INDEX i ON t (a)').transactional).toBe(true);
    expect(locks("ALTER TYPE e ADD VALUE 'x'").transactional).toBe(true);
    expect(locks("ALTER TYPE e ADD VALUE 'x'", 11).transactional).toBe(false);
    expect(locks('CREATE DATABASE x').transactional).toBe(false);
  });
});

describe('lint engine', () => {
  test('tables created on the unmerged branch are new for later migrations; protected ones are not', () => {
    const a = {
      id: '1_a',
      up: 'CREATE TABLE accounts (id bigint PRIMARY KEY);',
      down: 'DROP TABLE accounts;',
    };
    const b = {
      id: '2_b',
      up: 'CREATE INDEX accounts_idx ON accounts (id);',
      down: 'DROP INDEX accounts_idx;',
    };
    const branch = lintMigrations([a, b], { unprotected: ['1_a', '2_b'], only: ['2_b'] });
    expect(branch.filter((f) => f.rule === 'require-concurrent-index-creation')).toEqual([]);
    const merged = lintMigrations([a, b], { unprotected: ['2_b'], only: ['2_b'] });
    expect(merged.filter((f) => f.rule === 'require-concurrent-index-creation')).toHaveLength(1);
  });

  test('suppressions with a reason mark findings; file-level suppressions cover the file', () => {
    const up =
      "-- braid:ignore truncate sessions are disposable\nSET lock_timeout = '1s';\n-- braid:ignore drop-table replaced by t2\nDROP TABLE t;\nDROP TABLE u;\nTRUNCATE s;";
    const fs = lintMigrations([{ id: 'x', up, down: 'SELECT 1;' }]);
    const drop = fs.filter((f) => f.rule === 'drop-table');
    expect(drop.map((f) => [f.line, f.suppressed])).toEqual([
      [4, 'replaced by t2'],
      [5, undefined],
    ]);
    expect(fs.find((f) => f.rule === 'truncate')!.suppressed).toBe('sessions are disposable');
  });

  test('findings carry file, line, column, rule, severity, message, help and the statement', () => {
    const fs = lintMigrations([
      {
        id: '20260101_x',
        up: "SET lock_timeout = '1s';\n\n  CREATE INDEX i ON t (a);",
        down: 'DROP INDEX i;',
      },
    ]);
    const f = fs.find((x) => x.rule === 'require-concurrent-index-creation')!;
    expect(f).toMatchObject({
      file: '.migrations/20260101_x/up.sql',
      line: 3,
      column: 3,
      severity: 'error',
      migration: '20260101_x',
      statement: 'CREATE INDEX i ON t (a)',
    });
    expect(f.help).toMatch(/CONCURRENTLY/);
  });

  test('a syntax error points at its line and column, and the other statements are still linted', () => {
    const fs = lintMigrations([
      {
        id: 'x',
        up: 'TRUNCATE a;\nALTER TABLE t ADD COLUMN c int DEFAULT random(;\nTRUNCATE b;',
        down: 'SELECT 1;',
      },
    ]);
    const se = fs.find((f) => f.rule === 'syntax-error')!;
    expect([se.line, se.column]).toEqual([2, 47]);
    expect(fs.filter((f) => f.rule === 'truncate').map((f) => f.line)).toEqual([1, 3]);
  });

  test('directives and suppressions count only at the start of a comment (template examples do not)', () => {
    const header =
      '-- Directives go here, for example:\n--   -- braid:no-transaction   run outside a transaction\n--   -- braid:irreversible\n--   -- braid:ignore truncate example\n';
    const fs = lintMigrations([
      { id: 'x', up: `${header}CREATE INDEX CONCURRENTLY i ON t (a);\nTRUNCATE t;` },
    ]);
    const rules = fs.map((f) => f.rule);
    expect(rules).toContain('concurrently-in-transaction');
    expect(rules).toContain('missing-down');
    expect(fs.find((f) => f.rule === 'truncate')!.suppressed).toBeUndefined();
    const real = lintMigrations([
      {
        id: 'y',
        up: '-- braid:no-transaction\n-- braid:irreversible\nCREATE INDEX CONCURRENTLY i ON t (a);',
      },
    ]);
    expect(real.map((f) => f.rule)).not.toContain('concurrently-in-transaction');
    expect(real.map((f) => f.rule)).not.toContain('missing-down');
  });

  test('a bare braid:ignore (no rule, no reason) is a finding, not a crash', () => {
    const fs = lintMigrations([
      { id: 'z', up: 'SELECT 1;\n-- braid:ignore\nTRUNCATE t;', down: 'SELECT 1;' },
    ]);
    expect(fs.find((f) => f.rule === 'ignore-without-reason')).toMatchObject({ line: 2, column: 1 });
    expect(fs.find((f) => f.rule === 'truncate')!.suppressed).toBeUndefined();
  });
});
