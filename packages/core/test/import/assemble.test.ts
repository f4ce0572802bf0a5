import { assignTimestamps, importSlug, isTimestamp, timestampFromVersion } from '@braid/core';

describe('timestamps', () => {
  test('recognises timestamp-shaped versions only when they are real dates', () => {
    expect(timestampFromVersion('2023-01-15-123456')).toBe('20230115123456');
    expect(timestampFromVersion('20230115123456')).toBe('20230115123456');
    expect(timestampFromVersion('2013-12-30T23:49:00Z')).toBe('20131230234900');
    expect(timestampFromVersion('00000000000000')).toBeUndefined();
    expect(timestampFromVersion('20231315123456')).toBeUndefined();
    expect(timestampFromVersion('1')).toBeUndefined();
    expect(timestampFromVersion('1.2.3')).toBeUndefined();
    expect(isTimestamp('20240229000000')).toBe(true);
    expect(isTimestamp('20230229000000')).toBe(false);
  });
  test('synthesises strictly increasing timestamps in source order', () => {
    expect(assignTimestamps([undefined, undefined, undefined])).toEqual([
      '19700101000001',
      '19700101000002',
      '19700101000003',
    ]);
    expect(assignTimestamps([undefined, '20230115123456', '20230115123456', undefined])).toEqual([
      '19700101000001',
      '20230115123456',
      '20230115123457',
      '20230115123458',
    ]);
    // crosses a minute/day boundary correctly
    expect(assignTimestamps([undefined], '20231231235959')).toEqual(['20240101000000']);
    // a derived timestamp that would not sort after `after` is moved past it
    expect(assignTimestamps(['20200101000000', undefined], '20250101000000')).toEqual([
      '20250101000001',
      '20250101000002',
    ]);
  });
});

describe('importSlug', () => {
  test('turns any name into a valid slug', () => {
    expect(importSlug('Create Users Table')).toBe('create_users_table');
    expect(importSlug('add-index.v2 (Café)!')).toBe('add_index_v2_cafe');
    expect(importSlug('日本語')).toBe('migration');
    expect(importSlug('')).toBe('migration');
  });
});
