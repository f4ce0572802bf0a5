/**
 * locateMergeSides as a real merge driver sees it: git runs a driver script (the git package
 * bundled with esbuild) for `.migrations/manifest` during merge, pull, rebase and cherry-pick,
 * and the script records which commits it found for theirs, ours and the base.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { createGitRepo, git, tempDir, wrapRepo, type TempRepo } from './helpers/gitrepo';

interface Found {
  theirs?: string;
  ours?: string;
  base?: string;
  source?: string;
  label?: string;
  oursVerified?: boolean;
}

const ROOT = join(__dirname, '..');
let work: string;
let driver: string;

beforeAll(async () => {
  work = tempDir('braid-driver-');
  const bundle = join(work, 'git.cjs');
  await build({
    entryPoints: [join(ROOT, 'packages/git/src/index.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    logLevel: 'error',
  });
  driver = join(work, 'driver.cjs');
  writeFileSync(
    driver,
    `const fs = require('node:fs');
const { GitRepo, locateMergeSides } = require(${JSON.stringify(bundle)});
const [O, A, B, P] = process.argv.slice(2);
(async () => {
  const repo = await GitRepo.open(process.cwd());
  const sides = await locateMergeSides(repo, { path: P, base: fs.readFileSync(O), ours: fs.readFileSync(A), theirs: fs.readFileSync(B) });
  repo.close();
  fs.appendFileSync(process.env.BRAID_TEST_DRIVER_LOG, JSON.stringify(sides ?? {}) + '\\n');
  // union merge, so that the operation goes on
  const a = fs.readFileSync(A, 'utf8').split('\\n').filter(Boolean);
  for (const l of fs.readFileSync(B, 'utf8').split('\\n').filter(Boolean)) if (!a.includes(l)) a.push(l);
  fs.writeFileSync(A, a.join('\\n') + '\\n');
})().catch((e) => { console.error(e); process.exit(2); });
`,
  );
});
afterAll(() => wrapRepo(work).cleanup());

function setup(): { repo: TempRepo; log: string; env: Record<string, string> } {
  const repo = createGitRepo();
  repo.write('.gitattributes', '.migrations/manifest merge=braidtest\n');
  repo.git(
    'config',
    'merge.braidtest.driver',
    `${JSON.stringify(process.execPath)} ${JSON.stringify(driver)} %O %A %B %P`,
  );
  repo.write('.migrations/manifest', 'base\n');
  repo.commit('base');
  const log = join(repo.dir, '.git', 'driver.log');
  return { repo, log, env: { BRAID_TEST_DRIVER_LOG: log } };
}

function entries(log: string): Found[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Found);
}

function branches(repo: TempRepo) {
  const base = repo.git('rev-parse', 'HEAD').trim();
  repo.git('checkout', '-q', '-b', 'feature');
  repo.write('.migrations/manifest', 'base\nf1\n');
  const f1 = repo.commit('f1');
  repo.write('.migrations/manifest', 'base\nf1\nf2\n');
  const f2 = repo.commit('f2');
  repo.git('checkout', '-q', 'main');
  repo.write('.migrations/manifest', 'base\nm1\n');
  const m1 = repo.commit('m1');
  return { base, f1, f2, m1 };
}

describe('locateMergeSides inside a real merge driver', () => {
  test('git merge: theirs from GITHEAD_<oid>, base is the merge base', () => {
    const { repo, log, env } = setup();
    try {
      const { base, f2, m1 } = branches(repo);
      git(repo.dir, ['merge', '-q', '--no-edit', 'feature'], env);
      const found = entries(log);
      expect(found).toEqual([
        { ours: m1, theirs: f2, base, source: 'GITHEAD', label: 'feature', oursVerified: true },
      ]);
      expect(readFileSync(join(repo.dir, '.migrations/manifest'), 'utf8')).toBe('base\nm1\nf1\nf2\n');
    } finally {
      repo.cleanup();
    }
  });

  test('git rebase: each picked commit from rebase-merge/done, base is its parent', () => {
    const { repo, log, env } = setup();
    try {
      const { f1, f2 } = branches(repo);
      repo.git('checkout', '-q', 'feature');
      git(repo.dir, ['rebase', '-q', 'main'], env);
      const found = entries(log);
      expect(found.map((f) => [f.theirs, f.source, f.base])).toEqual([
        [f1, 'rebase', repo.git('rev-parse', `${f1}^`).trim()],
        [f2, 'rebase', f1],
      ]);
      expect(found.every((f) => f.oursVerified)).toBe(true);
    } finally {
      repo.cleanup();
    }
  });

  test('git rebase inside a worktree: its own git dir holds rebase-merge/', () => {
    const { repo, env } = setup();
    const parent = tempDir();
    try {
      const { f1, f2 } = branches(repo);
      const wt = join(parent, 'wt');
      repo.git('worktree', 'add', '-q', wt, 'feature');
      const log = join(parent, 'wt.log');
      git(wt, ['rebase', '-q', 'main'], { ...env, BRAID_TEST_DRIVER_LOG: log });
      expect(entries(log).map((f) => [f.theirs, f.source])).toEqual([
        [f1, 'rebase'],
        [f2, 'rebase'],
      ]);
    } finally {
      repo.cleanup();
      wrapRepo(parent).cleanup();
    }
  });

  test('git cherry-pick of one commit: found in the object database', () => {
    const { repo, log, env } = setup();
    try {
      const { f1, f2 } = branches(repo);
      git(repo.dir, ['cherry-pick', f2], env);
      expect(entries(log)).toEqual([
        expect.objectContaining({ theirs: f2, base: f1, source: 'object-db', oursVerified: true }),
      ]);
    } finally {
      repo.cleanup();
    }
  });

  test('git cherry-pick of several commits: the sequencer names the current one', () => {
    const { repo, log, env } = setup();
    try {
      const { f1, f2 } = branches(repo);
      git(repo.dir, ['cherry-pick', f1, f2], env);
      const found = entries(log);
      expect(found.map((f) => [f.theirs, f.source, f.base])).toEqual([
        [f1, 'sequencer', repo.git('rev-parse', `${f1}^`).trim()],
        [f2, 'sequencer', f1],
      ]);
    } finally {
      repo.cleanup();
    }
  });

  test('git pull from a clone: GITHEAD names the fetched commit', () => {
    const { repo: upstream } = setup();
    const parent = tempDir();
    try {
      const { f2 } = branches(upstream);
      upstream.git('checkout', '-q', 'feature');
      const dir = join(parent, 'clone');
      git(parent, ['clone', '-q', '-b', 'main', `file://${upstream.dir}`, dir]);
      const clone = wrapRepo(dir, []);
      clone.git(
        'config',
        'merge.braidtest.driver',
        `${JSON.stringify(process.execPath)} ${JSON.stringify(driver)} %O %A %B %P`,
      );
      clone.git('config', 'pull.rebase', 'false');
      const log = join(parent, 'pull.log');
      git(dir, ['pull', '-q', '--no-edit', 'origin', 'feature'], { BRAID_TEST_DRIVER_LOG: log });
      expect(entries(log)).toEqual([expect.objectContaining({ theirs: f2, source: 'GITHEAD' })]);
    } finally {
      upstream.cleanup();
      wrapRepo(parent).cleanup();
    }
  });
});
