import {
  canonicalText,
  hashMigration,
  makeMigration,
  misplacedDirectives,
  parseDirectives,
  UsageError,
} from '@braid/core';

describe('hashMigration', () => {
  const files = { up: 'create table t (id int);\n', down: 'drop table t;\n' };

  it('is sha256 hex and deterministic', () => {
    expect(hashMigration(files)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(hashMigration({ ...files })).toBe(hashMigration(files));
  });

  it('hashes CRLF, lone CR and a BOM like LF', () => {
    const crlf = { up: files.up.replace(/\n/g, '\r\n'), down: '\uFEFF' + files.down.replace(/\n/g, '\r') };
    expect(hashMigration(crlf)).toBe(hashMigration(files));
    expect(canonicalText('a\r\nb\rc')).toBe('a\nb\nc');
  });

  it('tells an absent file from an empty one', () => {
    expect(hashMigration({ up: 'x' })).not.toBe(hashMigration({ up: 'x', down: '' }));
    expect(hashMigration({ up: 'x', down: '' })).not.toBe(hashMigration({ up: 'x', verify: '' }));
  });

  it('changes with any file and cannot be fooled by moving text between files', () => {
    expect(hashMigration({ ...files, verify: 'select 1;' })).not.toBe(hashMigration(files));
    expect(hashMigration({ up: 'ab', down: 'c' })).not.toBe(hashMigration({ up: 'a', down: 'bc' }));
    expect(hashMigration({ up: 'a', down: 'b' })).not.toBe(hashMigration({ up: 'b', down: 'a' }));
    expect(hashMigration({ ...files, up: files.up + ' ' })).not.toBe(hashMigration(files));
  });
});

describe('parseDirectives', () => {
  const F = '.migrations/20261125101500_x/up.sql';

  function errorOf(sql: string): UsageError {
    try {
      parseDirectives(sql, F);
    } catch (e) {
      if (e instanceof UsageError) return e;
      throw e;
    }
    throw new Error('expected a UsageError');
  }

  it('defaults to nothing', () => {
    expect(parseDirectives('create table t();\n', F)).toEqual({
      noTransaction: false,
      requires: [],
      irreversible: false,
      tickets: [],
      others: [],
    });
  });

  it('reads the leading comment block', () => {
    const sql = [
      '-- add an index without blocking writes',
      '',
      '-- braid:no-transaction',
      '--braid:requires 20261125101400_a, 20261125101300_b',
      '-- braid:requires 20261125101200_c 20261125101400_a',
      '-- braid:ticket  OPS-12 ',
      '-- braid:lock-timeout 10s',
      'create index concurrently i on t (x);',
    ].join('\n');
    const d = parseDirectives(sql, F);
    expect(d.noTransaction).toBe(true);
    expect(d.irreversible).toBe(false);
    expect(d.requires).toEqual(['20261125101400_a', '20261125101300_b', '20261125101200_c']);
    expect(d.tickets).toEqual(['OPS-12']);
    expect(d.others).toEqual([{ name: 'lock-timeout', args: '10s', line: 7 }]);
  });

  it('reads irreversible, with CRLF and upper case names', () => {
    const d = parseDirectives('-- BRAID:Irreversible\r\ndrop table t;\r\n', F);
    expect(d.irreversible).toBe(true);
  });

  it('ignores directive-looking comments after the first statement, and reports them separately', () => {
    const sql = 'create table t();\n-- braid:no-transaction\n';
    expect(parseDirectives(sql, F).noTransaction).toBe(false);
    expect(misplacedDirectives(sql)).toEqual([{ name: 'no-transaction', line: 2 }]);
    expect(misplacedDirectives('-- braid:irreversible\nselect 1;\n')).toEqual([]);
  });

  it('does not take template help text for directives', () => {
    const sql = '-- Directives, e.g.:\n--   -- braid:no-transaction   explanation\nselect 1;\n';
    expect(parseDirectives(sql, F).noTransaction).toBe(false);
  });

  it.each([
    ['-- braid:no-transation\n', 1, /unknown directive braid:no-transation \(known: no-transaction/],
    ['-- x\n-- braid:\n', 2, /unknown directive braid:\(empty\)/],
    ['-- braid:no-transaction yes\n', 1, /takes no arguments/],
    ['-- braid:requires=20261125101400_a\n', 1, /malformed directive "-- braid:requires=20261125101400_a"/],
    ['-- braid:irreversible\n-- braid:irreversible\n', 2, /given twice/],
    ['-- braid:requires\n', 1, /needs at least one migration id/],
    ['\n\n-- braid:requires add_users\n', 3, /"add_users" is not a migration id/],
  ])('rejects %j at line %d', (sql, line, re) => {
    const e = errorOf(sql);
    expect(e.message).toMatch(new RegExp(`^${F.replace(/\./g, '\\.')}:${line}: `));
    expect(e.message).toMatch(re);
    expect(e.exitCode).toBe(2);
  });

  it('makeMigration parses directives and hashes', () => {
    const m = makeMigration('20261125101500_x', { up: '-- braid:irreversible\nselect 1;\n' });
    expect(m.directives.irreversible).toBe(true);
    expect(m.hash).toBe(hashMigration({ up: '-- braid:irreversible\nselect 1;\n' }));
    expect(() => makeMigration('20261125101500_x', { up: '-- braid:nope\n' })).toThrow(
      /^\.migrations\/20261125101500_x\/up\.sql:1: unknown directive/,
    );
  });
});
