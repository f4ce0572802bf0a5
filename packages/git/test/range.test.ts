import { classifyChanges, normalizeRepoPath, parseRefRange, parseTree } from '@braid/git';

describe('parseRefRange', () => {
  test('symmetric and plain ranges, empty sides are HEAD', () => {
    expect(parseRefRange('main...feature')).toEqual({ from: 'main', to: 'feature', kind: 'symmetric' });
    expect(parseRefRange('origin/main..HEAD~2')).toEqual({
      from: 'origin/main',
      to: 'HEAD~2',
      kind: 'range',
    });
    expect(parseRefRange('...feature')).toEqual({ from: 'HEAD', to: 'feature', kind: 'symmetric' });
    expect(parseRefRange('main..')).toEqual({ from: 'main', to: 'HEAD', kind: 'range' });
  });
  test('a single ref is not a range', () => {
    expect(parseRefRange('main')).toBeUndefined();
    expect(parseRefRange('v1.2.3')).toBeUndefined();
  });
});

describe('normalizeRepoPath', () => {
  test('normalises separators and dots, refuses to leave the repository', () => {
    expect(normalizeRepoPath('./.migrations/')).toBe('.migrations');
    expect(normalizeRepoPath('db\\migrations//x')).toBe('db/migrations/x');
    expect(normalizeRepoPath('')).toBe('');
    expect(() => normalizeRepoPath('../elsewhere')).toThrow(/inside the repository/);
  });
});

describe('parseTree', () => {
  test('reads modes, names and ids from a raw tree', () => {
    const oid = Buffer.alloc(20, 0xab);
    const raw = Buffer.concat([
      Buffer.from('100644 up.sql\0'),
      oid,
      Buffer.from('40000 sub\0'),
      oid,
      Buffer.from('120000 link\0'),
      oid,
    ]);
    expect(parseTree(raw, 20)).toEqual([
      { mode: '100644', type: 'blob', name: 'up.sql', oid: 'ab'.repeat(20) },
      { mode: '040000', type: 'tree', name: 'sub', oid: 'ab'.repeat(20) },
      { mode: '120000', type: 'symlink', name: 'link', oid: 'ab'.repeat(20) },
    ]);
    expect(() => parseTree(Buffer.from('100644 x\0abc'), 20)).toThrow(/malformed tree/);
  });
});

describe('classifyChanges', () => {
  const z = '0'.repeat(40);
  const o = '1'.repeat(40);
  test('folder-level added/changed/removed, manifest, files', () => {
    const c = classifyChanges(
      [
        { meta: `:040000 040000 ${o} ${o} M`, path: '.migrations' },
        { meta: `:000000 040000 ${z} ${o} A`, path: '.migrations/2_b' },
        { meta: `:000000 100644 ${z} ${o} A`, path: '.migrations/2_b/up.sql' },
        { meta: `:040000 040000 ${o} ${o} M`, path: '.migrations/1_a' },
        { meta: `:100644 100644 ${o} ${o} M`, path: '.migrations/1_a/down.sql' },
        { meta: `:040000 000000 ${o} ${z} D`, path: '.migrations/0_x' },
        { meta: `:100644 100644 ${o} ${o} M`, path: '.migrations/manifest' },
        { meta: `:100644 100644 ${o} ${o} M`, path: 'README' },
      ],
      '.migrations',
    );
    expect(c.added).toEqual(['2_b']);
    expect(c.changed).toEqual(['1_a']);
    expect(c.removed).toEqual(['0_x']);
    expect(c.manifestChanged).toBe(true);
    expect(c.files.map((f) => `${f.status} ${f.path}`)).toEqual([
      'A .migrations/2_b/up.sql',
      'M .migrations/1_a/down.sql',
      'M .migrations/manifest',
    ]);
  });
});
