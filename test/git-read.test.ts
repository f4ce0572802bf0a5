import { join } from 'node:path';
import { realpathSync } from 'node:fs';
import { EnvironmentError, UsageError } from '@braid/core';
import { CatFile, GitRepo, readProjectAt } from '@braid/git';
import { createGitRepo, git, tempDir, wrapRepo, writeMigration, type TempRepo } from './helpers/gitrepo';

const A = '20261125100000_create_users';
const B = '20261125100100_add_phone';
const C = '20261125100200_add_index';

function manifest(ids: string[]): string {
  return ['braid-manifest 1 sha256:test', ...ids.map((id) => `${id} sha256:x -`)].join('\n') + '\n';
}

describe('GitRepo: reading history', () => {
  let repo: TempRepo;
  let g: GitRepo;
  let c1: string;
  let c2: string;
  let c3: string;

  beforeAll(async () => {
    repo = createGitRepo();
    writeMigration(repo, A, { up: 'create table users (id int);\n', down: 'drop table users;\n' });
    repo.write('.migrations/manifest', manifest([A]));
    repo.write('README', 'hello\n');
    c1 = repo.commit('create users');
    repo.git('tag', 'v1');
    repo.git('tag', '-a', 'v1-annotated', '-m', 'annotated');
    writeMigration(repo, B, {
      up: 'alter table users add phone text;\n',
      down: 'alter table users drop phone;\n',
      verify: 'select phone from users limit 0;\n',
    });
    repo.write('.migrations/manifest', manifest([A, B]));
    c2 = repo.commit('add phone');
    repo.write(`.migrations/${A}/up.sql`, 'create table users (id int primary key);\n');
    writeMigration(repo, C, { up: 'create index on users (phone);\n' });
    c3 = repo.commit('edit users, add index');
    g = await GitRepo.open(join(repo.dir, '.migrations'));
  });
  afterAll(() => {
    g.close();
    repo.cleanup();
  });

  test('open finds the top level from a subdirectory', () => {
    expect(realpathSync(g.root)).toBe(realpathSync(repo.dir));
    expect(g.objectFormat).toBe('sha1');
  });

  test('open outside a repository is a UsageError naming the directory', async () => {
    const d = tempDir();
    await expect(GitRepo.open(d)).rejects.toThrow(UsageError);
    await expect(GitRepo.open(d)).rejects.toThrow(d);
    await expect(GitRepo.open(join(d, 'nope'))).rejects.toThrow(/no such directory/);
  });

  test('resolveRef: branches, tags, annotated tags, relative refs, full and short shas', async () => {
    expect(await g.resolveRef('main')).toBe(c3);
    expect(await g.resolveRef('HEAD')).toBe(c3);
    expect(await g.resolveRef('HEAD~2')).toBe(c1);
    expect(await g.resolveRef('main^')).toBe(c2);
    expect(await g.resolveRef('v1')).toBe(c1);
    expect(await g.resolveRef('v1-annotated')).toBe(c1);
    expect(await g.resolveRef('refs/tags/v1')).toBe(c1);
    expect(await g.resolveRef(c2)).toBe(c2);
    expect(await g.resolveRef(c2.slice(0, 8))).toBe(c2);
  });

  test('resolveRef: an unknown ref is a UsageError naming it', async () => {
    await expect(g.resolveRef('no-such-branch')).rejects.toThrow(UsageError);
    await expect(g.resolveRef('no-such-branch')).rejects.toThrow(/"no-such-branch"/);
    await expect(g.resolveRef('HEAD~10')).rejects.toThrow(/HEAD~10/);
    await expect(g.resolveRef('')).rejects.toThrow(UsageError);
    await expect(g.resolveRef('a\nb')).rejects.toThrow(UsageError);
  });

  test('readTree and readFile at a ref, without the working tree', async () => {
    repo.write('README', 'changed in the working tree only\n');
    const root = await g.readTree('HEAD');
    expect(root?.map((e) => e.name).sort()).toEqual(['.migrations', 'README']);
    expect(root?.find((e) => e.name === '.migrations')?.type).toBe('tree');
    const mig = await g.readTree('v1', '.migrations');
    expect(mig?.map((e) => e.name).sort()).toEqual([A, 'manifest']);
    expect((await g.readFile('HEAD', 'README'))?.toString()).toBe('hello\n');
    expect((await g.readFile('v1', `.migrations/${A}/up.sql`))?.toString()).toBe(
      'create table users (id int);\n',
    );
    expect((await g.readFile('HEAD', `./.migrations/${A}/up.sql`))?.toString()).toBe(
      'create table users (id int primary key);\n',
    );
    expect(await g.readFile('HEAD', 'nope.txt')).toBeUndefined();
    expect(await g.readFile('HEAD', '.migrations')).toBeUndefined();
    expect(await g.readTree('HEAD', 'README')).toBeUndefined();
    expect(await g.readTree('HEAD', 'nope')).toBeUndefined();
  });

  test('readMigrationsAt reads the manifest and every folder at each ref', async () => {
    const at1 = await g.readMigrationsAt('v1');
    expect(at1.commit).toBe(c1);
    expect(at1.exists).toBe(true);
    expect(at1.manifestText).toBe(manifest([A]));
    expect([...at1.folders.keys()]).toEqual([A]);
    expect(at1.folders.get(A)).toEqual({ up: 'create table users (id int);\n', down: 'drop table users;\n' });

    const at3 = await g.readMigrationsAt('main');
    expect([...at3.folders.keys()].sort()).toEqual([A, B, C]);
    expect(at3.folders.get(A)?.up).toBe('create table users (id int primary key);\n');
    expect(at3.folders.get(B)?.verify).toBe('select phone from users limit 0;\n');
    expect(at3.folders.get(C)).toEqual({ up: 'create index on users (phone);\n' });
    expect(at3.strayEntries).toEqual([]);
  });

  test('readMigrationsAt on a ref without the directory, or with another directory name', async () => {
    const other = createGitRepo();
    try {
      other.write('x', '1');
      other.commit('no migrations');
      const o = await GitRepo.open(other.dir);
      const at = await o.readMigrationsAt('HEAD');
      expect(at.exists).toBe(false);
      expect(at.folders.size).toBe(0);
      expect(at.manifestText).toBeUndefined();
      writeMigration(other, A, { up: 'select 1;\n' }, 'db/migrations');
      other.write('db/migrations/notes.txt', 'stray\n');
      other.write('db/migrations/.gitkeep', '');
      other.commit('custom dir');
      const at2 = await o.readMigrationsAt('HEAD', 'db/migrations/');
      expect([...at2.folders.keys()]).toEqual([A]);
      expect(at2.strayEntries).toEqual(['notes.txt']);
      o.close();
    } finally {
      other.cleanup();
    }
  });

  test('many concurrent reads through the one batch process stay in order', async () => {
    const refs = ['v1', 'HEAD', 'HEAD~1', 'main', 'v1-annotated', 'nope'];
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        g.readFile(refs[i % refs.length], `.migrations/${A}/up.sql`).catch(() => 'err'),
      ),
    );
    results.forEach((r, i) => {
      const ref = refs[i % refs.length];
      if (ref === 'nope') expect(r).toBe('err');
      else if (ref === 'v1' || ref === 'v1-annotated')
        expect(r?.toString()).toBe('create table users (id int);\n');
      else if (ref === 'HEAD~1') expect(r?.toString()).toBe('create table users (id int);\n');
      else expect(r?.toString()).toBe('create table users (id int primary key);\n');
    });
  });

  test('commitsBetween lists commits oldest first with added, changed and removed migrations', async () => {
    const list = await g.commitsBetween('v1', 'main');
    expect(list.map((c) => c.oid)).toEqual([c2, c3]);
    expect(list[0]).toMatchObject({
      subject: 'add phone',
      added: [B],
      changed: [],
      removed: [],
      manifestChanged: true,
    });
    expect(list[1]).toMatchObject({ added: [C], changed: [A], removed: [], manifestChanged: false });
    expect(list[0].author.email).toBe('author@example.com');
    expect(list[0].parents).toEqual([c1]);

    const all = await g.commitsBetween(c3, c3);
    expect(all).toEqual([]);
  });

  test('commitsBetween sees removals, and merges with and without --first-parent', async () => {
    const r = createGitRepo();
    try {
      writeMigration(r, A, { up: 'a;\n' });
      writeMigration(r, B, { up: 'b;\n' });
      const base = r.commit('base');
      r.git('checkout', '-q', '-b', 'feature');
      writeMigration(r, C, { up: 'c;\n' });
      const f1 = r.commit('feature: add C');
      r.git('checkout', '-q', 'main');
      r.remove(`.migrations/${B}`);
      const m1 = r.commit('main: remove B');
      r.git('checkout', '-q', 'feature');
      r.git('merge', '-q', '--no-edit', 'main');
      const merge = r.git('rev-parse', 'HEAD').trim();
      r.write(`.migrations/${A}/down.sql`, 'undo a;\n');
      const f2 = r.commit('feature: add down to A');
      const o = await GitRepo.open(r.dir);
      const all = await o.commitsBetween(base, 'feature');
      expect(all.map((c) => c.oid)).toEqual([f1, m1, merge, f2]);
      expect(all[1]).toMatchObject({ removed: [B], added: [], changed: [] });
      // the merge, compared with its first parent, brings main's removal
      expect(all[2]).toMatchObject({ removed: [B], added: [] });
      expect(all[3]).toMatchObject({ changed: [A], added: [], removed: [] });
      expect(all[3].files).toEqual([
        expect.objectContaining({ path: `.migrations/${A}/down.sql`, status: 'A' }),
      ]);
      const fp = await o.commitsBetween(base, 'feature', { firstParent: true });
      expect(fp.map((c) => c.oid)).toEqual([f1, merge, f2]);
      const d = await o.diffMigrations(base, 'feature');
      expect(d).toMatchObject({ added: [C], changed: [A], removed: [B], manifestChanged: false });
      expect(await o.mergeBase('main', 'feature')).toBe(m1);
      o.close();
    } finally {
      r.cleanup();
    }
  });

  test('mergeBase of diverged branches, and unrelated histories', async () => {
    const r = createGitRepo();
    try {
      r.write('a', '1');
      const base = r.commit('base');
      r.git('checkout', '-q', '-b', 'feature');
      r.write('b', '1');
      r.commit('f');
      r.git('checkout', '-q', 'main');
      r.write('c', '1');
      r.commit('m');
      r.git('checkout', '-q', '--orphan', 'island');
      r.write('d', '1');
      r.commit('island');
      const o = await GitRepo.open(r.dir);
      expect(await o.mergeBase('main', 'feature')).toBe(base);
      const err = await o.mergeBase('main', 'island').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect(String(err)).toMatch(/no common ancestor/);
      await expect(o.mergeBase('main', 'nope')).rejects.toThrow(/"nope"/);
      o.close();
    } finally {
      r.cleanup();
    }
  });
});

describe('GitRepo: packed refs, worktrees, shallow clones', () => {
  let repo: TempRepo;
  let base: string;
  let tip: string;
  beforeAll(() => {
    repo = createGitRepo();
    writeMigration(repo, A, { up: 'create table users (id int);\n', down: 'drop table users;\n' });
    base = repo.commit('base');
    repo.git('checkout', '-q', '-b', 'feature');
    writeMigration(repo, B, { up: 'alter table users add phone text;\n' });
    repo.commit('feature 1');
    writeMigration(repo, C, { up: 'create index on users (phone);\n' });
    tip = repo.commit('feature 2');
    repo.git('checkout', '-q', 'main');
    for (let i = 0; i < 3; i++) {
      repo.write(`file${i}`, `${i}\n`);
      repo.commit(`main ${i}`);
    }
    repo.git('tag', 'release-1', 'feature~1');
  });
  afterAll(() => repo.cleanup());

  test('packed refs and packed objects (pack-refs --all, gc)', async () => {
    repo.git('pack-refs', '--all');
    repo.git('gc', '-q', '--prune=now');
    const g = await GitRepo.open(repo.dir);
    try {
      expect(await g.resolveRef('feature')).toBe(tip);
      expect(await g.resolveRef('refs/heads/feature')).toBe(tip);
      expect(await g.resolveRef('release-1')).toBe(repo.git('rev-parse', 'feature~1').trim());
      const at = await g.readMigrationsAt('feature');
      expect([...at.folders.keys()].sort()).toEqual([A, B, C]);
      expect(await g.mergeBase('main', 'feature')).toBe(base);
    } finally {
      g.close();
    }
  });

  test('inside a git worktree checkout', async () => {
    const wtParent = tempDir();
    const wt = join(wtParent, 'wt');
    repo.git('worktree', 'add', '-q', wt, 'feature');
    const g = await GitRepo.open(join(wt, '.migrations'));
    try {
      expect(realpathSync(g.root)).toBe(realpathSync(wt));
      expect(realpathSync(g.commonDir)).toBe(realpathSync(join(repo.dir, '.git')));
      expect(await g.resolveRef('HEAD')).toBe(tip);
      expect(await g.resolveRef('main')).toBe(repo.git('rev-parse', 'main').trim());
      const at = await g.readMigrationsAt('HEAD');
      expect([...at.folders.keys()].sort()).toEqual([A, B, C]);
      expect(await g.mergeBase('HEAD', 'main')).toBe(base);
      const commits = await g.commitsBetween('main', 'HEAD');
      expect(commits.map((c) => c.added)).toEqual([[B], [C]]);
    } finally {
      g.close();
      repo.git('worktree', 'remove', '--force', wt);
      wrapRepo(wtParent).cleanup();
    }
  });

  test('a shallow clone: reads work, a missing merge base says how to deepen', async () => {
    const parent = tempDir();
    const dir = join(parent, 'clone');
    git(parent, ['clone', '-q', '--depth', '1', '--no-single-branch', `file://${repo.dir}`, dir]);
    const g = await GitRepo.open(dir);
    try {
      expect(await g.isShallow()).toBe(true);
      const at = await g.readMigrationsAt('origin/feature');
      expect([...at.folders.keys()].sort()).toEqual([A, B, C]);
      const err = await g.mergeBase('origin/main', 'origin/feature').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EnvironmentError);
      expect(String((err as Error).message)).toMatch(/shallow/);
      expect(String((err as Error).message)).toMatch(/git fetch --deepen=N/);
      expect(String((err as Error).message)).toMatch(/--unshallow/);
      await expect(g.resolveRef('origin/feature~1')).rejects.toThrow(/shallow/);
      git(dir, ['fetch', '-q', '--unshallow']);
      expect(await g.isShallow()).toBe(false);
      expect(await g.mergeBase('origin/main', 'origin/feature')).toBe(base);
    } finally {
      g.close();
      wrapRepo(parent).cleanup();
    }
  });

  test('a SHA-256 repository', async () => {
    const dir = tempDir();
    git(dir, ['init', '-q', '-b', 'main', '--object-format=sha256', '.']);
    const r = wrapRepo(dir);
    try {
      writeMigration(r, A, { up: 'create table users (id int);\n', down: 'drop table users;\n' });
      const c = r.commit('sha256');
      expect(c).toHaveLength(64);
      const g = await GitRepo.open(dir);
      try {
        expect(g.objectFormat).toBe('sha256');
        expect(await g.resolveRef('main')).toBe(c);
        const at = await g.readMigrationsAt('main');
        expect(at.folders.get(A)).toEqual({
          up: 'create table users (id int);\n',
          down: 'drop table users;\n',
        });
        expect(at.oids.get(A)?.up).toHaveLength(64);
        expect(await g.commitsBetween(c, c)).toEqual([]);
      } finally {
        g.close();
      }
    } finally {
      r.cleanup();
    }
  });

  test('a non-shallow repository reports isShallow false', async () => {
    const g = await GitRepo.open(repo.dir);
    try {
      expect(await g.isShallow()).toBe(false);
    } finally {
      g.close();
    }
  });
});

describe('CatFile, the batch reader', () => {
  let repo: TempRepo;
  const big =
    Array.from({ length: 20000 }, (_, i) => `insert into t values (${i}, 'row ${i}');`).join('\n') + '\n';
  beforeAll(() => {
    repo = createGitRepo();
    repo.write('big.sql', big);
    repo.write('small.sql', 'select 1;\n');
    repo.write('dir with space/file name.sql', 'select 2;\n');
    repo.commit('files');
  });
  afterAll(() => repo.cleanup());

  test.each([
    ['--batch-command --buffer', true],
    ['--batch', false],
  ])(
    '%s: large blobs across chunks, missing objects, paths with spaces, close and reuse',
    async (_label, mode) => {
      const cat = new CatFile(repo.dir, mode);
      try {
        expect(big.length).toBeGreaterThan(200_000);
        const names = [
          'HEAD:big.sql',
          'HEAD:nope',
          'HEAD:small.sql',
          'HEAD:dir with space/file name.sql',
          'HEAD:big.sql',
        ];
        const [a, missing, b, c, d] = await cat.readMany(names);
        expect(a?.type).toBe('blob');
        expect(a?.content.toString()).toBe(big);
        expect(missing).toBeUndefined();
        expect(b?.content.toString()).toBe('select 1;\n');
        expect(c?.content.toString()).toBe('select 2;\n');
        expect(d?.oid).toBe(a?.oid);
        const commit = await cat.read('HEAD');
        expect(commit?.type).toBe('commit');
        expect(commit?.oid).toBe(repo.git('rev-parse', 'HEAD').trim());
        expect((await cat.read('HEAD^{tree}'))?.type).toBe('tree');
        cat.close();
        expect((await cat.read('HEAD:small.sql'))?.content.toString()).toBe('select 1;\n');
        await expect(cat.read('bad\nname')).rejects.toThrow(UsageError);
      } finally {
        cat.close();
      }
    },
  );
});

describe('readProjectAt', () => {
  test('a project in a subdirectory, read at two refs; folders without up.sql listed apart', async () => {
    const r = createGitRepo();
    try {
      writeMigration(r, A, { up: 'a;\n', down: 'undo a;\n' }, 'services/db/.migrations');
      r.write('services/db/.migrations/manifest', manifest([A]));
      r.write(`services/db/.migrations/${B}/down.sql`, 'only a down\n');
      r.commit('one');
      r.git('tag', 'one');
      writeMigration(r, C, { up: 'c;\n', verify: 'check c;\n' }, 'services/db/.migrations');
      r.commit('two');
      const project = join(r.dir, 'services', 'db');
      const one = await readProjectAt(project, 'one');
      expect(one.repoDir).toBe('services/db/.migrations');
      expect(one.manifestText).toBe(manifest([A]));
      expect([...one.folders.keys()]).toEqual([A]);
      expect(one.folders.get(A)).toEqual({ files: { up: 'a;\n', down: 'undo a;\n' } });
      expect(one.missingUp).toEqual([B]);
      const two = await readProjectAt(project, 'HEAD');
      expect(two.folders.get(C)).toEqual({ files: { up: 'c;\n', verify: 'check c;\n' } });
      await expect(readProjectAt(project, 'nope')).rejects.toThrow(/"nope"/);
    } finally {
      r.cleanup();
    }
  });
});
