/**
 * `-- braid:ticket` and `-- braid:reason`: the metadata directives `braid history` and
 * `braid changelog` show. Ticket may repeat (refs accumulate, duplicates collapse); several reason
 * lines join with a space; bad forms are `FILE:LINE: reason` usage errors.
 */
import {
  CORE_DIRECTIVES,
  KNOWN_DIRECTIVES,
  OTHER_DIRECTIVES,
  parseDirectives,
  UsageError,
} from '@braid/core';

const F = '.migrations/20261125101500_add_phone/up.sql';

function errorOf(sql: string): UsageError {
  try {
    parseDirectives(sql, F);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error('expected a UsageError');
}

describe('braid:ticket and braid:reason', () => {
  it('are known directives (the error message lists every one)', () => {
    expect([...KNOWN_DIRECTIVES].sort()).toEqual([...CORE_DIRECTIVES, ...OTHER_DIRECTIVES].sort());
    expect(KNOWN_DIRECTIVES).toContain('ticket');
    expect(KNOWN_DIRECTIVES).toContain('reason');
  });

  it('are absent by default', () => {
    const d = parseDirectives('create table t();\n', F);
    expect(d.tickets).toEqual([]);
    expect(d.reason).toBeUndefined();
  });

  it('collects tickets from repeated lines, split on spaces and commas, without duplicates', () => {
    const sql = [
      '-- braid:ticket OPS-12',
      '-- braid:ticket #42, https://tracker.example.com/browse/OPS-13?focus=1  OPS-12',
      '--BRAID:Ticket OPS-14',
      'alter table t add column phone text;',
    ].join('\n');
    expect(parseDirectives(sql, F).tickets).toEqual([
      'OPS-12',
      '#42',
      'https://tracker.example.com/browse/OPS-13?focus=1',
      'OPS-14',
    ]);
  });

  it('joins several reason lines with one space, in order, whitespace collapsed', () => {
    const sql = [
      '-- a comment that is not a directive',
      '-- braid:reason  Support asked for   phone numbers',
      '-- braid:ticket OPS-12',
      '-- braid:reason on the account page.',
      'alter table t add column phone text;',
    ].join('\r\n');
    const d = parseDirectives(sql, F);
    expect(d.reason).toBe('Support asked for phone numbers on the account page.');
    expect(d.tickets).toEqual(['OPS-12']);
    expect(d.others).toEqual([]);
  });

  it('keeps markup verbatim (renderers escape it)', () => {
    const d = parseDirectives('-- braid:reason <b>bold</b> & "quoted"\nselect 1;\n', F);
    expect(d.reason).toBe('<b>bold</b> & "quoted"');
  });

  it('are not directives after the first statement', () => {
    const d = parseDirectives('select 1;\n-- braid:ticket OPS-1\n-- braid:reason late\n', F);
    expect(d.tickets).toEqual([]);
    expect(d.reason).toBeUndefined();
  });

  it.each([
    ['-- braid:ticket\n', 1, /braid:ticket needs at least one ticket reference/],
    ['-- x\n-- braid:ticket  , ,\n', 2, /braid:ticket needs at least one ticket reference/],
    [`-- braid:ticket ${'X'.repeat(201)}\n`, 1, /is not a ticket reference/],
    ['\n-- braid:reason\n', 2, /braid:reason needs a text/],
    ['-- braid:reason   \n', 1, /braid:reason needs a text/],
    [`-- braid:reason ${'a'.repeat(1500)}\n-- braid:reason ${'b'.repeat(600)}\n`, 2, /longer than 2000/],
    ['-- braid:tickets OPS-1\n', 1, /unknown directive braid:tickets \(known: .*ticket, reason/],
    ['-- braid:reason=because\n', 1, /malformed directive/],
  ])('rejects %j at line %d', (sql, line, re) => {
    const e = errorOf(sql);
    expect(e.message).toMatch(new RegExp(`^${F.replace(/\./g, '\\.')}:${line}: `));
    expect(e.message).toMatch(re);
    expect(e.exitCode).toBe(2);
    expect(e.code).toBe('invalid-directive');
  });
});
