import {
  checkProject,
  formatFinding,
  hashMigration,
  serializeManifest,
  type CheckInput,
  type Finding,
  type Manifest,
  type MigrationFiles,
} from '@braid/core';

const A = '20261125101500_create_users';
const B = '20261125101600_add_phone';
const C = '20261125101700_add_email';

const FILES: Record<string, MigrationFiles> = {
  [A]: { up: 'create table users (id int);\n', down: 'drop table users;\n' },
  [B]: { up: 'alter table users add phone text;\n', down: 'alter table users drop phone;\n' },
  [C]: {
    up: `-- braid:requires ${A}\nalter table users add email text;\n`,
    down: 'alter table users drop email;\n',
  },
};

function project(ids = [A, B, C], files = FILES): CheckInput {
  const manifest: Manifest = {
    entries: ids.map((id, i) => ({
      id,
      hash: hashMigration(files[id]),
      parents: i === 0 ? [] : [ids[i - 1]],
    })),
  };
  return {
    manifestText: serializeManifest(manifest),
    folders: new Map(Object.entries(files).map(([id, f]) => [id, { files: f }])),
  };
}

const codes = (f: Finding[]) => f.map((x) => x.code);

describe('checkProject', () => {
  it('finds nothing in a consistent project', () => {
    expect(checkProject(project())).toEqual([]);
  });

  it('reports a missing manifest', () => {
    const f = checkProject({ ...project(), manifestText: undefined });
    expect(f[0]).toMatchObject({ code: 'manifest-missing', file: '.migrations/manifest' });
  });

  it('reports manifest syntax errors with their line', () => {
    const p = project();
    const text = p.manifestText!.replace(`${B} sha256:`, `${B} md5:`);
    const f = checkProject({ ...p, manifestText: text });
    expect(f).toContainEqual(
      expect.objectContaining({ code: 'manifest-syntax', file: '.migrations/manifest', line: 3 }),
    );
    expect(formatFinding(f.find((x) => x.code === 'manifest-syntax')!)).toMatch(
      /^\.migrations\/manifest:3: hash "md5:/,
    );
  });

  it('reports a stale header hash on line 1', () => {
    const p = project();
    const lines = p.manifestText!.split('\n');
    const text = [lines[0], lines[1], lines[2], ''].join('\n'); // last line removed by hand
    const f = checkProject({ ...p, manifestText: text });
    expect(codes(f)).toEqual(['manifest-header-hash', 'unlisted-folder']);
    expect(f[0].line).toBe(1);
  });

  it('reports stale per-migration hashes at the manifest line', () => {
    const p = project();
    const folders = new Map(p.folders);
    folders.set(B, { files: { ...FILES[B], up: FILES[B].up + '-- edited\n' } });
    const f = checkProject({ ...p, folders });
    expect(f).toEqual([
      expect.objectContaining({ code: 'stale-hash', file: '.migrations/manifest', line: 3 }),
    ]);
    expect(f[0].message).toMatch(/braid hash/);
  });

  it('reports listed folders that are missing and folders that are not listed', () => {
    const p = project([A, B]);
    const f = checkProject({ ...p, folders: new Map([...p.folders].filter(([id]) => id !== B)) });
    expect(f).toContainEqual(expect.objectContaining({ code: 'missing-folder', line: 3 }));
    expect(f).toContainEqual(expect.objectContaining({ code: 'unlisted-folder', file: `.migrations/${C}/` }));
  });

  it('reports invalid folder names', () => {
    const p = project();
    const folders = new Map(p.folders);
    folders.set('2026_add thing', { files: { up: 'select 1;', down: '' } });
    const f = checkProject({ ...p, folders });
    expect(codes(f)).toEqual(['invalid-id', 'unlisted-folder']);
    expect(f[0].file).toBe('.migrations/2026_add thing/');
  });

  it('reports a missing down.sql unless irreversible, and down.sql with irreversible', () => {
    const files = {
      ...FILES,
      [A]: { up: FILES[A].up },
      [B]: { up: '-- braid:irreversible\n' + FILES[B].up },
      [C]: { ...FILES[C], up: '-- braid:irreversible\n' + FILES[C].up },
    };
    const f = checkProject(project([A, B, C], files));
    expect(f).toEqual([
      expect.objectContaining({ code: 'missing-down', file: `.migrations/${A}/down.sql` }),
      expect.objectContaining({ code: 'irreversible-with-down', file: `.migrations/${C}/down.sql` }),
    ]);
  });

  it('reports requires that are unknown or not earlier', () => {
    const files = {
      ...FILES,
      [A]: { ...FILES[A], up: `-- hello\n-- braid:requires ${B}\n` + FILES[A].up },
      [B]: { ...FILES[B], up: `-- braid:requires 20200101000000_gone\n` + FILES[B].up },
    };
    const f = checkProject(project([A, B, C], files));
    expect(f).toEqual([
      expect.objectContaining({ code: 'requires-order', file: `.migrations/${A}/up.sql`, line: 2 }),
      expect.objectContaining({ code: 'unknown-requires', file: `.migrations/${B}/up.sql`, line: 1 }),
    ]);
  });

  it('reports bad and misplaced directives with file and line', () => {
    const files = {
      ...FILES,
      [A]: { ...FILES[A], up: '-- braid:no-transation\n' + FILES[A].up },
      [B]: { ...FILES[B], up: FILES[B].up + '-- braid:no-transaction\n' },
    };
    const f = checkProject(project([A, B, C], files));
    expect(f).toEqual([
      expect.objectContaining({ code: 'invalid-directive', file: `.migrations/${A}/up.sql`, line: 1 }),
      expect.objectContaining({ code: 'misplaced-directive', file: `.migrations/${B}/up.sql`, line: 2 }),
    ]);
    expect(formatFinding(f[0])).toMatch(
      new RegExp(`^\\.migrations/${A}/up\\.sql:1: unknown directive braid:no-transation`),
    );
  });

  it('reports stray entries and folders without up.sql', () => {
    const f = checkProject({ ...project(), strayEntries: ['notes.txt', `${A}/seed.csv`], missingUp: [B] });
    expect(f).toContainEqual(
      expect.objectContaining({ code: 'missing-up', file: `.migrations/${B}/up.sql` }),
    );
    expect(f).toContainEqual(expect.objectContaining({ code: 'stray-entry', file: '.migrations/notes.txt' }));
    expect(f).toContainEqual(
      expect.objectContaining({ code: 'stray-entry', file: `.migrations/${A}/seed.csv` }),
    );
    expect(codes(f)).not.toContain('missing-folder');
  });

  it('reports edits to protected migrations (the git layer supplies their hashes)', () => {
    const p = project();
    const folders = new Map(p.folders);
    folders.set(A, { files: { ...FILES[A], down: 'drop table users cascade;\n' } });
    const f = checkProject({ ...p, folders, protectedHashes: new Map([[A, hashMigration(FILES[A])]]) });
    expect(codes(f)).toEqual(['protected-edited']);
    expect(checkProject({ ...p, protectedHashes: new Map([[A, hashMigration(FILES[A])]]) })).toEqual([]);
  });

  it('formats findings without a line', () => {
    expect(formatFinding({ code: 'x', file: 'a/b', message: 'm' })).toBe('a/b: m');
    expect(formatFinding({ code: 'x', file: 'a/b', line: 3, message: 'm' })).toBe('a/b:3: m');
  });
});
