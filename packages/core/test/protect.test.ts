import { compareWithProtected, firstDifferingLine, type ProtectedVersion } from '@braid/core';

const ID = '20261125100000_create_users';

function prot(files: ProtectedVersion['files'], ref = 'main'): Map<string, ProtectedVersion> {
  return new Map([[ID, { id: ID, ref, files }]]);
}

describe('firstDifferingLine', () => {
  test('equal texts, and texts equal after CRLF/BOM normalisation', () => {
    expect(firstDifferingLine('a\nb\n', 'a\nb\n')).toBeUndefined();
    expect(firstDifferingLine('a\nb\n', 'a\r\nb\r\n')).toBeUndefined();
    expect(firstDifferingLine('a\n', '\uFEFFa\n')).toBeUndefined();
  });
  test('names the first line that differs', () => {
    expect(firstDifferingLine('a\nb\nc\n', 'a\nB\nc\n')).toBe(2);
    expect(firstDifferingLine('a\nb\nc\n', 'x\nb\nc\n')).toBe(1);
    expect(firstDifferingLine('a\nb\n', 'a\nb\nc\n')).toBe(3);
    expect(firstDifferingLine('a\nb\nc\n', 'a\nb\n')).toBe(3);
    expect(firstDifferingLine('a\n', 'a')).toBe(1);
    expect(firstDifferingLine('', 'x')).toBe(1);
  });
});

describe('compareWithProtected', () => {
  const files = { up: 'create table users (\n  id int\n);\n', down: 'drop table users;\n' };

  test('identical (even with CRLF) gives no finding; unprotected migrations are ignored', () => {
    const working = new Map([
      [ID, { up: files.up.replace(/\n/g, '\r\n'), down: files.down }],
      ['20261125110000_other', { up: 'anything' }],
    ]);
    expect(compareWithProtected(working, prot(files))).toEqual([]);
  });

  test('an edited file is named with its first differing line and the ref', () => {
    const working = new Map([[ID, { up: 'create table users (\n  id bigint\n);\n', down: files.down }]]);
    const f = compareWithProtected(working, prot(files, 'origin/main'));
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      code: 'protected-edited',
      file: `.migrations/${ID}/up.sql`,
      line: 2,
      id: ID,
      ref: 'origin/main',
    });
    expect(f[0].message).toContain(ID);
    expect(f[0].message).toContain('origin/main');
    expect(f[0].message).toContain('"id int"');
    expect(f[0].message).toContain('"id bigint"');
  });

  test('added, removed files and a removed folder', () => {
    const added = compareWithProtected(new Map([[ID, { ...files, verify: 'select 1;' }]]), prot(files));
    expect(added.map((x) => [x.code, x.file])).toEqual([
      ['protected-file-added', `.migrations/${ID}/verify.sql`],
    ]);
    const removed = compareWithProtected(new Map([[ID, { up: files.up }]]), prot(files));
    expect(removed.map((x) => [x.code, x.file])).toEqual([
      ['protected-file-removed', `.migrations/${ID}/down.sql`],
    ]);
    const gone = compareWithProtected(new Map(), prot(files), 'db/migrations');
    expect(gone.map((x) => [x.code, x.file])).toEqual([['protected-removed', `db/migrations/${ID}/`]]);
  });

  test('several files and migrations in a stable order', () => {
    const other = '20261125090000_first';
    const p = new Map<string, ProtectedVersion>([
      [ID, { id: ID, ref: 'main', files }],
      [other, { id: other, ref: 'main', files: { up: 'a\n' } }],
    ]);
    const working = new Map([
      [ID, { up: 'x\n', down: 'y\n' }],
      [other, { up: 'b\n' }],
    ]);
    expect(compareWithProtected(working, p).map((x) => `${x.file}:${x.line}`)).toEqual([
      `.migrations/${other}/up.sql:1`,
      `.migrations/${ID}/up.sql:1`,
      `.migrations/${ID}/down.sql:1`,
    ]);
  });
});
