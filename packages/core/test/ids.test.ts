import { formatTimestamp, isValidId, mintId, normalizeSlug, parseTimestamp, UsageError } from '@braid/core';

describe('normalizeSlug', () => {
  it.each([
    ['add_phone', 'add_phone'],
    ['Add Phone', 'add_phone'],
    ['  add--phone..number  ', 'add_phone_number'],
    ['Créer les utilisateurs', 'creer_les_utilisateurs'],
    ['v1.2-fix', 'v1_2_fix'],
    ['__x__', 'x'],
    ['A\tB', 'a_b'],
  ])('%j -> %j', (input, out) => {
    expect(normalizeSlug(input)).toBe(out);
  });

  it('refuses characters it cannot normalise, naming the argument', () => {
    expect(() => normalizeSlug('add/phone')).toThrow(UsageError);
    expect(() => normalizeSlug('add/phone')).toThrow(/slug "add\/phone": character "\/"/);
    expect(() => normalizeSlug('drop!', { argName: 'name' })).toThrow(/^name "drop!"/);
  });

  it('refuses input with nothing usable', () => {
    expect(() => normalizeSlug('')).toThrow(/nothing usable/);
    expect(() => normalizeSlug(' - . _ ')).toThrow(/nothing usable/);
  });

  it('replaces invalid characters when asked (importers)', () => {
    expect(normalizeSlug('add/phone (v2)!', { replaceInvalid: true })).toBe('add_phone_v2');
    expect(() => normalizeSlug('!!!', { replaceInvalid: true })).toThrow(/nothing usable/);
  });

  it('cuts very long slugs', () => {
    expect(normalizeSlug('a'.repeat(300))).toHaveLength(100);
  });
});

describe('ids and timestamps', () => {
  it('validates ids', () => {
    expect(isValidId('20261125101500_create_users')).toBe(true);
    expect(isValidId('2026112510150_create_users')).toBe(false);
    expect(isValidId('20261125101500_Create')).toBe(false);
    expect(isValidId('20261125101500_')).toBe(false);
    expect(isValidId('20261125101500')).toBe(false);
  });

  it('formats UTC timestamps and parses them back', () => {
    const d = new Date(Date.UTC(2026, 10, 25, 9, 5, 7));
    expect(formatTimestamp(d)).toBe('20261125090507');
    expect(parseTimestamp('20261125090507')?.getTime()).toBe(d.getTime());
    expect(parseTimestamp('20261325090507')).toBeUndefined();
  });
});

describe('mintId', () => {
  const now = new Date(Date.UTC(2026, 10, 25, 10, 15, 0));

  it('uses the current time when free', () => {
    expect(mintId('Create users', now, [])).toBe('20261125101500_create_users');
    expect(mintId('x', now, ['20261125101459_a'])).toBe('20261125101500_x');
  });

  it('gives distinct ids to two migrations in the same second', () => {
    const a = mintId('a', now, []);
    const b = mintId('a', now, [a]);
    const c = mintId('b', now, [a, b]);
    expect(new Set([a, b, c]).size).toBe(3);
    expect([a, b, c]).toEqual(['20261125101500_a', '20261125101501_a', '20261125101502_b']);
  });

  it('never reuses a timestamp taken by another slug and always sorts last', () => {
    expect(mintId('b', now, ['20261125101500_a'])).toBe('20261125101501_b');
    // An existing id from the future (clock skew on another machine): the new one sorts after it.
    expect(mintId('b', now, ['20301231235959_a'])).toBe('20310101000000_b');
  });

  it('copes with existing ids whose timestamp is not a real date', () => {
    expect(mintId('b', now, ['20269999999999_x'])).toBe('20270000000000_b');
  });
});
