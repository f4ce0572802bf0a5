import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkProtected,
  gitBlobOid,
  gitFolderTreeOid,
  GitRepo,
  protectedMigrations,
  protectedRefs,
} from '@braid/git';
import { createGitRepo, git, tempDir, wrapRepo, writeMigration, type TempRepo } from './helpers/gitrepo';

const A = '20261125100000_create_users';
const B = '20261125100100_add_phone';
const C = '20261125100200_feature_only';

const A_UP = 'create table users (\n  id int primary key,\n  name text\n);\n';
const A_DOWN = 'drop table users;\n';
const B_UP = 'alter table users add phone text;\n';

/** The working tree's migrations as `braid check` reads them from disk. */
function working(entries: [string, { up?: string; down?: string; verify?: string }][]) {
  return new Map(entries);
}

describe('protected history', () => {
  let repo: TempRepo;
  beforeAll(() => {
    repo = createGitRepo();
    writeMigration(repo, A, { up: A_UP, down: A_DOWN });
    repo.commit('users');
    writeMigration(repo, B, { up: B_UP });
    repo.commit('phone');
    repo.git('checkout', '-q', '-b', 'feature');
    writeMigration(repo, C, { up: 'select 1;\n' });
    repo.commit('feature');
  });
  afterAll(() => repo.cleanup());

  test('default protected refs: main (master and origin/HEAD only when they exist)', async () => {
    const g = await GitRepo.open(repo.dir);
    try {
      const r = await protectedRefs(g);
      expect(r.source).toBe('default');
      expect(r.refs.map((x) => x.name)).toEqual(['main']);
      expect(r.refs[0].commit).toBe(repo.git('rev-parse', 'main').trim());
    } finally {
      g.close();
    }
  });

  test('protectedMigrations: the ids and contents reachable from main, not the feature branch', async () => {
    const g = await GitRepo.open(repo.dir);
    try {
      const p = await protectedMigrations(g);
      expect([...p.migrations.keys()].sort()).toEqual([A, B]);
      expect(p.migrations.get(A)).toEqual({ id: A, ref: 'main', files: { up: A_UP, down: A_DOWN } });
      expect(p.migrations.get(B)!.files).toEqual({ up: B_UP });
    } finally {
      g.close();
    }
  });

  test('unchanged files (also with CRLF line ends) give no finding', async () => {
    const res = await checkProtected(
      repo.dir,
      working([
        [A, { up: A_UP.replace(/\n/g, '\r\n'), down: A_DOWN }],
        [B, { up: B_UP }],
        [C, { up: 'select 2; -- edited, not protected\n' }],
      ]),
    );
    expect(res.inGit).toBe(true);
    expect([...res.protectedIds].sort()).toEqual([A, B]);
    expect(res.findings).toEqual([]);
    expect(res.edited.size).toBe(0);
  });

  test('an edit to a protected migration is named with the first differing line', async () => {
    const edited = A_UP.replace('name text', 'name varchar(100)');
    const res = await checkProtected(
      repo.dir,
      working([
        [A, { up: edited, down: A_DOWN }],
        [B, { up: B_UP }],
      ]),
    );
    expect(res.findings).toHaveLength(1);
    expect(res.findings[0]).toMatchObject({
      code: 'protected-edited',
      file: `.migrations/${A}/up.sql`,
      line: 3,
      id: A,
      ref: 'main',
    });
    expect(res.edited.get(A)?.files.up).toBe(A_UP);
  });

  test('accepts the { files } shape of loaded migrations and reports removed folders and files', async () => {
    const res = await checkProtected(repo.dir, new Map([[A, { files: { up: A_UP } }]]));
    expect(res.findings.map((f) => `${f.code} ${f.file}`)).toEqual([
      `protected-file-removed .migrations/${A}/down.sql`,
      `protected-removed .migrations/${B}/`,
    ]);
  });

  test('braid.protected git config: globs, several values, missing values, none', async () => {
    const r = createGitRepo();
    try {
      writeMigration(r, A, { up: A_UP });
      r.commit('a');
      r.git('branch', 'release/1.0');
      r.git('checkout', '-q', '-b', 'wip');
      writeMigration(r, B, { up: B_UP });
      r.commit('b');
      r.git('checkout', '-q', 'main');
      r.git('config', '--add', 'braid.protected', 'release/*');
      r.git('config', '--add', 'braid.protected', 'wip, gone');
      const g = await GitRepo.open(r.dir);
      try {
        const refs = await protectedRefs(g);
        expect(refs.source).toBe('config');
        expect(refs.refs.map((x) => x.name)).toEqual(['release/1.0', 'wip']);
        expect(refs.missing).toEqual(['gone']);
        const p = await protectedMigrations(g);
        expect(p.migrations.get(A)?.ref).toBe('release/1.0');
        expect(p.migrations.get(B)?.ref).toBe('wip');
        r.git('config', '--add', 'braid.protected', 'none');
        expect((await protectedRefs(g)).refs).toEqual([]);
        const res = await checkProtected(r.dir, working([[A, { up: 'changed\n' }]]));
        expect(res.findings).toEqual([]);
      } finally {
        g.close();
      }
    } finally {
      r.cleanup();
    }
  });

  test('BRAID_PROTECTED overrides the config', async () => {
    const before = process.env['BRAID_PROTECTED'];
    process.env['BRAID_PROTECTED'] = 'feature';
    try {
      const res = await checkProtected(repo.dir, working([[C, { up: 'select 3;\n' }]]));
      expect(res.refs.map((r) => [r.name, r.source])).toEqual([['feature', 'env']]);
      expect(res.findings.map((f) => `${f.file}:${f.line}`)).toContain(`.migrations/${C}/up.sql:1`);
    } finally {
      if (before === undefined) delete process.env['BRAID_PROTECTED'];
      else process.env['BRAID_PROTECTED'] = before;
    }
  });

  test("a clone protects origin/HEAD's target, in a worktree too", async () => {
    const upstream = createGitRepo();
    const parent = tempDir();
    try {
      upstream.git('checkout', '-q', '-b', 'trunk');
      writeMigration(upstream, A, { up: A_UP });
      upstream.commit('a on trunk');
      const dir = join(parent, 'clone');
      git(parent, ['clone', '-q', `file://${upstream.dir}`, dir]);
      const clone = wrapRepo(dir);
      clone.git('checkout', '-q', '-b', 'mine');
      const g = await GitRepo.open(dir);
      try {
        const refs = await protectedRefs(g);
        expect(refs.refs.map((x) => [x.name, x.fullName])).toEqual([
          ['origin/trunk', 'refs/remotes/origin/trunk'],
        ]);
      } finally {
        g.close();
      }
      const wt = join(parent, 'wt');
      clone.git('worktree', 'add', '-q', wt, '-b', 'other');
      const res = await checkProtected(wt, working([[A, { up: A_UP.replace('id int', 'id bigint') }]]));
      expect(res.refs.map((r) => r.name)).toEqual(['origin/trunk']);
      expect(res.findings.map((f) => `${f.code} ${f.file}:${f.line} ${f.ref}`)).toEqual([
        `protected-edited .migrations/${A}/up.sql:2 origin/trunk`,
      ]);
    } finally {
      upstream.cleanup();
      wrapRepo(parent).cleanup();
    }
  });

  test('a project in a subdirectory of the repository', async () => {
    const r = createGitRepo();
    try {
      writeMigration(r, A, { up: A_UP }, 'services/db/.migrations');
      r.commit('a in a subdirectory');
      const res = await checkProtected(join(r.dir, 'services/db'), working([[A, { up: 'select 1;\n' }]]));
      expect([...res.protectedIds]).toEqual([A]);
      expect(res.findings.map((f) => `${f.file}:${f.line}`)).toEqual([`.migrations/${A}/up.sql:1`]);
    } finally {
      r.cleanup();
    }
  });

  test('gitFolderTreeOid matches the committed folder tree (sha1 and sha256)', async () => {
    const g = await GitRepo.open(repo.dir);
    try {
      expect(gitFolderTreeOid({ up: A_UP, down: A_DOWN })).toBe(
        repo.git('rev-parse', `main:.migrations/${A}`).trim(),
      );
      expect(gitFolderTreeOid({ up: B_UP })).toBe(repo.git('rev-parse', `main:.migrations/${B}`).trim());
      expect(gitFolderTreeOid({ up: B_UP, verify: 'x' })).not.toBe(
        repo.git('rev-parse', `main:.migrations/${B}`).trim(),
      );
    } finally {
      g.close();
    }
    const d = tempDir();
    git(d, ['init', '-q', '-b', 'main', '--object-format=sha256']);
    const r = wrapRepo(d);
    try {
      writeMigration(r, A, { up: A_UP, down: A_DOWN, verify: 'select 1;\n' });
      r.commit('sha256');
      expect(gitFolderTreeOid({ up: A_UP, down: A_DOWN, verify: 'select 1;\n' }, 'sha256')).toBe(
        r.git('rev-parse', `main:.migrations/${A}`).trim(),
      );
    } finally {
      r.cleanup();
    }
  });

  test('extra files and an executable bit in a protected folder are not edits; an edit next to them is', async () => {
    const r = createGitRepo();
    try {
      writeMigration(r, A, { up: A_UP, down: A_DOWN });
      r.write(`.migrations/${A}/seed.csv`, 'id\n1\n');
      chmodSync(join(r.dir, '.migrations', A, 'up.sql'), 0o755);
      r.commit('with an extra file and an executable up.sql');
      expect(r.git('ls-tree', `HEAD:.migrations/${A}`)).toContain('100755');
      const same = await checkProtected(r.dir, working([[A, { up: A_UP, down: A_DOWN }]]));
      expect(same.findings).toEqual([]);
      const edited = await checkProtected(
        r.dir,
        working([[A, { up: A_UP, down: 'drop table users cascade;\n' }]]),
      );
      expect(edited.findings.map((f) => `${f.file}:${f.line}`)).toEqual([`.migrations/${A}/down.sql:1`]);
    } finally {
      r.cleanup();
    }
  });

  test('outside git nothing is protected', async () => {
    const d = tempDir();
    const res = await checkProtected(d, working([[A, { up: 'x' }]]));
    expect(res).toMatchObject({ inGit: false, findings: [], refs: [] });
  });

  test('gitBlobOid matches git hash-object', () => {
    const d = tempDir();
    const r = wrapRepo(d);
    r.write('f', A_UP);
    git(d, ['init', '-q']);
    expect(gitBlobOid(A_UP)).toBe(git(d, ['hash-object', 'f']).trim());
    const d2 = tempDir();
    git(d2, ['init', '-q', '--object-format=sha256']);
    wrapRepo(d2).write('f', A_UP);
    expect(gitBlobOid(A_UP, 'sha256')).toBe(git(d2, ['hash-object', 'f']).trim());
    wrapRepo(d2).cleanup();
    r.cleanup();
  });
});

describe('protected history on a branch that has not merged main yet', () => {
  test('migrations added to main after the branch left it are not "removed" on the branch', async () => {
    const repo = createGitRepo();
    try {
      writeMigration(repo, A, { up: A_UP, down: A_DOWN });
      repo.commit('users');
      repo.git('checkout', '-q', '-b', 'feature');
      writeMigration(repo, C, { up: 'select 1;\n', down: 'select 1;\n' });
      repo.commit('feature work');
      repo.git('checkout', '-q', 'main');
      writeMigration(repo, B, { up: B_UP, down: 'alter table users drop phone;\n' });
      repo.commit('main moves on');
      repo.git('checkout', '-q', 'feature');

      const onFeature = working([
        [A, { up: A_UP, down: A_DOWN }],
        [C, { up: 'select 1;\n', down: 'select 1;\n' }],
      ]);
      const res = await checkProtected(repo.dir, onFeature);
      expect([...res.protectedIds].sort()).toEqual([A, B]);
      expect(res.findings).toEqual([]);

      // Removing a protected migration the branch does have is still reported.
      const removed = await checkProtected(
        repo.dir,
        working([[C, { up: 'select 1;\n', down: 'select 1;\n' }]]),
      );
      expect(removed.findings.map((f) => `${f.code} ${f.id}`)).toEqual([`protected-removed ${A}`]);
    } finally {
      repo.cleanup();
    }
  });
});
