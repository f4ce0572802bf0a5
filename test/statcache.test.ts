import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { CachedFolder, scanProject, type ScanResult } from '../packages/cli/src/project';
import { hashMigration, type FolderFacts } from '@braid/core';
import { checkProtected } from '@braid/git';
import {
  decodeEntry,
  encodeEntry,
  findGitDir,
  isClean,
  RACY_SLACK_MS,
  type FolderEntry,
  STAT_CACHE_DIR,
  STAT_CACHE_FILE,
  StatCache,
  statCacheName,
} from '../packages/cli/src/statcache';
import { createGitRepo, runBraid, runBraidJson, tempDir, type TempRepo } from './helpers/repo';

interface CheckJson {
  ok: boolean;
  linted: number;
  findings: { code: string; file: string; line?: number; message: string; id?: string }[];
}

/** The stat cache behind `braid check` (.git/braid/stat-cache.json), in real git repositories. */
describe('stat cache', () => {
  let repo: TempRepo;
  let a: string;
  let b: string;
  const mig = (id: string, f = ''): string => join(repo.dir, '.migrations', id, f);
  const cacheFile = (): string => join(repo.dir, '.git', STAT_CACHE_DIR, STAT_CACHE_FILE);
  /** Scans with the cache (as braid check does) and saves it. */
  const scan = (): ScanResult => {
    const cache = StatCache.load(findGitDir(repo.dir), join(repo.dir, '.migrations'));
    const r = scanProject(repo.dir, { cache })!;
    cache.save();
    return r;
  };
  /** Whether a folder came from the cache (its files are then read lazily). */
  const fromCache = (r: ScanResult, id: string): boolean => r.folders.get(id) instanceof CachedFolder;
  /** Sets a path's times to one second ago, so that its stat data is not racy. */
  const age = (p: string, seconds = 5): void => {
    const t = Date.now() / 1000 - seconds;
    utimesSync(p, t, t);
  };
  const ageAll = (): void => {
    for (const id of [a, b]) {
      for (const f of ['up.sql', 'down.sql']) if (existsSync(mig(id, f))) age(mig(id, f));
      age(mig(id));
    }
  };
  const check = async (): Promise<CheckJson & { code: number }> => {
    const r = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    return { ...r.json, code: r.code };
  };

  beforeEach(async () => {
    repo = createGitRepo();
    await runBraid(['init'], { cwd: repo.dir });
    a = (await runBraidJson<{ id: string }>(['new', 'create users'], { cwd: repo.dir })).json.id;
    b = (await runBraidJson<{ id: string }>(['new', 'add phone'], { cwd: repo.dir })).json.id;
    writeFileSync(mig(a, 'up.sql'), 'create table users (id bigint primary key, email text);\n');
    writeFileSync(mig(a, 'down.sql'), 'drop table users;\n');
    writeFileSync(mig(b, 'up.sql'), 'alter table users add column phone text;\n');
    writeFileSync(mig(b, 'down.sql'), 'alter table users drop column phone;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    ageAll();
    // utimes sets the change time to now: let the clock leave this timestamp tick, so that the
    // fixture's files are not racy for the first scan (not a timing assertion).
    await new Promise((r) => setTimeout(r, 30));
  });
  afterEach(() => repo.cleanup());

  it('is written by braid check in the git dir, and a second scan reads no unchanged folder', async () => {
    expect((await check()).ok).toBe(true);
    expect(existsSync(cacheFile())).toBe(true);
    // written by another build (the bundle; this test runs the sources): not used, rewritten
    const first = scan();
    expect(fromCache(first, a) || fromCache(first, b)).toBe(false);
    const r = scan();
    expect(fromCache(r, a) && fromCache(r, b)).toBe(true);
    // the lazily read files are still the real contents
    expect(r.folders.get(a)!.files.up).toBe('create table users (id bigint primary key, email text);\n');
    expect(r.folders.get(a)!.files.verify).toBeUndefined();
    expect((await check()).ok).toBe(true);
  });

  it('leaves no stamp file behind, also when the command fails, and removes stale ones', async () => {
    const dir = join(repo.dir, '.git', STAT_CACHE_DIR);
    const temps = (): string[] => readdirSync(dir).filter((n) => n.endsWith('.tmp'));
    expect((await check()).ok).toBe(true);
    expect(temps()).toEqual([]);
    // a killed process's stamp file, older than ten minutes, goes at the next write
    const stale = join(dir, `.${STAT_CACHE_FILE}.999999.0badf00d.tmp`);
    writeFileSync(stale, '');
    age(stale, 3600);
    writeFileSync(mig(a, 'up.sql'), 'create table users (id bigint primary key, email text)\n\n');
    expect((await check()).code).toBe(1);
    expect(temps()).toEqual([]);
    // a command that fails after reading a changed folder (no git on PATH: exit 3)
    writeFileSync(mig(a, 'up.sql'), 'create table users (id bigint primary key, email text)\n\n\n');
    const bin = tempDir('braid-nogit-');
    symlinkSync(process.execPath, join(bin, 'node')); // node, and nothing else, on PATH
    const r = await runBraid(['check'], { cwd: repo.dir, env: { PATH: bin } });
    expect(r.stderr).toContain('git is not installed');
    expect(r.code).toBe(3);
    expect(temps()).toEqual([]);
  });

  it('detects an edit that keeps the size and the modification time', async () => {
    expect((await check()).ok).toBe(true);
    const file = mig(a, 'up.sql');
    const before = statSync(file);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('email', 'EMAIL'));
    utimesSync(file, before.atime, before.mtime);
    expect(statSync(file).size).toBe(before.size);
    expect(statSync(file).mtimeMs).toBe(before.mtimeMs);
    const j = await check();
    expect(j.code).toBe(1);
    expect(j.findings.map((f) => [f.code, f.id])).toEqual([['stale-hash', a]]);
  });

  it('never stores racy entries: stat times at or after the stamp are read again next time', () => {
    // a file time in the future is "at or after" any stamp taken now
    const future = Date.now() / 1000 + 3600;
    utimesSync(mig(b, 'up.sql'), future, future);
    scan();
    const r = scan();
    expect(fromCache(r, a)).toBe(true);
    expect(fromCache(r, b)).toBe(false);
    expect(StatCache.load(findGitDir(repo.dir), join(repo.dir, '.migrations')).stored(b)).toBeUndefined();
  });

  it('the racy rule: clean only when both times are strictly before the stamp', () => {
    const stamp = 1_795_633_138_202.5754; // ms, as Node reports file times
    expect(isClean({ mtimeMs: stamp - 1, ctimeMs: stamp - 0.5 }, stamp)).toBe(true);
    expect(isClean({ mtimeMs: stamp, ctimeMs: stamp - 1 }, stamp)).toBe(false);
    expect(isClean({ mtimeMs: stamp - 1, ctimeMs: stamp }, stamp)).toBe(false);
    expect(isClean({ mtimeMs: stamp + 1, ctimeMs: stamp + 1 }, stamp)).toBe(false);
    // within the slack (below the resolution of a double in ms): racy
    expect(isClean({ mtimeMs: stamp - RACY_SLACK_MS / 2, ctimeMs: stamp - 1 }, stamp)).toBe(false);
  });

  it('sees deleted, renamed and added folders and files', async () => {
    expect((await check()).ok).toBe(true);
    // a file added to a cached folder
    writeFileSync(mig(a, 'verify.sql'), 'select 1;\n');
    let j = await check();
    expect(j.findings.map((f) => [f.code, f.id])).toEqual([['stale-hash', a]]);
    rmSync(mig(a, 'verify.sql'));
    // a stray file in a cached folder
    writeFileSync(mig(a, 'notes.txt'), 'hi\n');
    j = await check();
    expect(j.findings.map((f) => f.code)).toEqual(['stray-entry']);
    rmSync(mig(a, 'notes.txt'));
    // down.sql removed from a cached folder
    const down = readFileSync(mig(b, 'down.sql'), 'utf8');
    rmSync(mig(b, 'down.sql'));
    j = await check();
    expect(j.findings.map((f) => f.code).sort()).toEqual(['lint-missing-down', 'missing-down', 'stale-hash']);
    writeFileSync(mig(b, 'down.sql'), down);
    expect((await check()).ok).toBe(true);
    // a folder renamed, then deleted
    renameSync(mig(b), mig(`${b}x`));
    j = await check();
    expect(j.findings.map((f) => f.code).sort()).toEqual(['missing-folder', 'unlisted-folder']);
    rmSync(mig(`${b}x`), { recursive: true });
    j = await check();
    expect(j.findings.map((f) => [f.code, f.id])).toEqual([['missing-folder', b]]);
  });

  it('ignores and rewrites a corrupt cache, and one written for another directory', async () => {
    const header = (): { v: number; dir: string; lint: unknown[] } =>
      JSON.parse(readFileSync(cacheFile(), 'utf8').split('\n')[0]) as {
        v: number;
        dir: string;
        lint: unknown[];
      };
    expect((await check()).ok).toBe(true);
    const version = header().v;
    writeFileSync(cacheFile(), `{"v":${version},"dir":`);
    expect((await check()).ok).toBe(true);
    expect(header().v).toBe(version);
    // from here in-process, on a cache written by this build
    scan();
    expect(fromCache(scan(), a)).toBe(true);
    // a malformed entry line (a bad hash) is not used: the folder is read again
    const lines = readFileSync(cacheFile(), 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith(`${a}\t`));
    const fields = lines[i].split('\t');
    fields[5] = 'not-a-hash';
    lines[i] = fields.join('\t');
    writeFileSync(cacheFile(), lines.join('\n'));
    let r = scan();
    expect(fromCache(r, a)).toBe(false);
    expect(fromCache(r, b)).toBe(true);
    expect(fromCache(scan(), a)).toBe(true);
    // a stored hash that lies (well-formed) is what a corrupt cache could do: stat data guards it,
    // so the lie is only believed for a file whose stat data is unchanged. Change the file:
    const lied = readFileSync(cacheFile(), 'utf8')
      .split('\n')
      .map((l) => (l.startsWith(`${a}\t`) ? l.replace(/\t[0-9a-f]{64}\t/, `\t${'0'.repeat(64)}\t`) : l))
      .join('\n');
    writeFileSync(cacheFile(), lied);
    writeFileSync(mig(a, 'down.sql'), 'drop table if exists users;\n');
    r = scan();
    expect(fromCache(r, a)).toBe(false);
    expect(r.folders.get(a)!.facts!.hash).toBe(
      hashMigration({ up: readFileSync(mig(a, 'up.sql'), 'utf8'), down: 'drop table if exists users;\n' }),
    );
    writeFileSync(mig(a, 'down.sql'), 'drop table users;\n');
    expect((await check()).ok).toBe(true);
    scan();
    // another project's cache (other directory): ignored
    writeFileSync(
      cacheFile(),
      readFileSync(cacheFile(), 'utf8').replace(/"dir":"[^"]*"/, '"dir":"/elsewhere"'),
    );
    expect(fromCache(scan(), a)).toBe(false);
    expect(header().dir).toBe(join(repo.dir, '.migrations'));
  });

  it('encodes every fact of an entry and decodes it back', () => {
    const entry = (facts: FolderFacts): FolderEntry => ({
      d: '1:2:3:4',
      f: { 'up.sql': '5:6:7:8', 'verify.sql': '9:9:9:9' },
      facts,
      trees: { sha1: 'ab'.repeat(20), sha256: 'cd'.repeat(32) },
    });
    const hash = `sha256:${'e'.repeat(64)}`;
    for (const facts of [
      { hash, hasDown: false, misplaced: [], directives: { irreversible: false, requires: [] } },
      {
        hash,
        hasDown: false,
        misplaced: [{ line: 3, name: 'requires' }],
        directives: { irreversible: true, requires: ['x'] },
      },
      {
        hash,
        hasDown: false,
        misplaced: [],
        directiveError: { line: 2, message: 'unknown directive braid:x' },
      },
    ] as FolderFacts[]) {
      const e = entry(facts);
      expect(decodeEntry(encodeEntry('20260101000000_a', e)!)).toEqual(e);
    }
    expect(encodeEntry('bad\tid', entry({ hash, hasDown: false, misplaced: [] }))).toBeUndefined();
    expect(decodeEntry('x\ty')).toBeUndefined();
  });

  it('works without a writable cache directory (same results, nothing stored)', async () => {
    // a file where the cache directory should be: nothing can be written (also as root)
    writeFileSync(join(repo.dir, '.git', STAT_CACHE_DIR), 'in the way\n');
    expect((await check()).ok).toBe(true);
    writeFileSync(mig(a, 'up.sql'), 'create table users (id bigint primary key, email text)\n\n');
    expect((await check()).findings.map((f) => f.code)).toEqual(['stale-hash']);
    expect(readFileSync(join(repo.dir, '.git', STAT_CACHE_DIR), 'utf8')).toBe('in the way\n');
    rmSync(join(repo.dir, '.git', STAT_CACHE_DIR));
    // a read-only git dir (effective when not running as root)
    chmodSync(join(repo.dir, '.git'), 0o555);
    try {
      expect((await check()).findings.map((f) => f.code)).toEqual(['stale-hash']);
    } finally {
      chmodSync(join(repo.dir, '.git'), 0o755);
    }
  });

  it('does not cache a symlinked folder (its target can change behind its stat data)', async () => {
    const real = join(repo.dir, 'elsewhere');
    renameSync(mig(b), real);
    symlinkSync(real, mig(b));
    expect((await check()).ok).toBe(true);
    scan();
    const r = scan();
    expect(fromCache(r, a)).toBe(true);
    expect(fromCache(r, b)).toBe(false);
    writeFileSync(join(real, 'up.sql'), 'alter table users add column phone2 text;\n');
    expect((await check()).findings.map((f) => [f.code, f.id])).toEqual([['stale-hash', b]]);
  });

  it('lives in the worktree git dir of a `git worktree` checkout', async () => {
    repo.commit('two migrations');
    const wt = join(repo.dir, '..', `${repo.dir.split('/').pop()}-wt`);
    repo.git('worktree', 'add', '-q', wt, '-b', 'other');
    try {
      expect(findGitDir(wt)).toBe(join(repo.dir, '.git', 'worktrees', wt.split('/').pop()!));
      const r = await runBraid(['check'], { cwd: wt });
      expect(r.code).toBe(0);
      expect(existsSync(join(findGitDir(wt)!, STAT_CACHE_DIR, STAT_CACHE_FILE))).toBe(true);
    } finally {
      rmSync(wt, { recursive: true, force: true });
    }
  });

  it('checkProtected uses the cached tree ids and reads no file of an unchanged folder', async () => {
    repo.commit('two migrations on main'); // main is protected
    // fill the cache, tree ids included (what braid check does, in-process)
    const cache = StatCache.load(findGitDir(repo.dir), join(repo.dir, '.migrations'));
    const first = scanProject(repo.dir, { cache })!;
    expect((await checkProtected(repo.dir, first.folders)).findings).toEqual([]);
    cache.save();
    const r = scan();
    expect(fromCache(r, a) && fromCache(r, b)).toBe(true);
    // Remove a file after the scan: nothing reads it (the cached tree id stands for it).
    rmSync(mig(a, 'up.sql'));
    const prot = await checkProtected(repo.dir, r.folders);
    expect(prot.protectedIds).toEqual(new Set([a, b]));
    expect(prot.findings).toEqual([]);
    expect((r.folders.get(a) as CachedFolder).isRead).toBe(false);
    expect((r.folders.get(b) as CachedFolder).isRead).toBe(false);
    // the next scan sees the removal
    expect((await check()).findings.map((f) => f.code)).toContain('missing-up');
  });

  it('keeps one cache per project when a repository holds several', async () => {
    const roots = ['services/one', 'services/two'].map((d) => join(repo.dir, d));
    const ids: string[] = [];
    for (const [n, r] of roots.entries()) {
      // its own .migrations/, so that braid does not take the repository's top-level project
      mkdirSync(join(r, '.migrations'), { recursive: true });
      expect((await runBraid(['init'], { cwd: r })).code).toBe(0);
      ids.push((await runBraidJson<{ id: string }>(['new', `project_${n}`], { cwd: r })).json.id);
    }
    for (const r of roots) expect((await runBraid(['check'], { cwd: r })).code).toBe(0);
    for (const r of roots) expect((await runBraid(['check'], { cwd: r })).code).toBe(0);
    const names = readdirSync(join(repo.dir, '.git', STAT_CACHE_DIR)).filter((n) =>
      n.startsWith('stat-cache'),
    );
    expect(names.sort()).toEqual(roots.map((r) => statCacheName(join(r, '.migrations'))).sort());
    expect(names.every((n) => /^stat-cache\.[0-9a-f]{12}\.json$/.test(n))).toBe(true);
    // each project's folders come from its own cache
    roots.forEach((r, i) => {
      const text = readFileSync(
        join(repo.dir, '.git', STAT_CACHE_DIR, statCacheName(join(r, '.migrations'))),
        'utf8',
      );
      expect(text.split('\n').some((l) => l.startsWith(`${ids[i]}\t`))).toBe(true);
      expect(text.split('\n').some((l) => l.startsWith(`${ids[1 - i]}\t`))).toBe(false);
    });
  });

  it('remembers lint results by content and recomputes them after an edit', async () => {
    repo.commit('users on main'); // main is protected
    repo.git('checkout', '-q', '-b', 'feature');
    const idx = (await runBraidJson<{ id: string }>(['new', 'email index'], { cwd: repo.dir })).json.id;
    writeFileSync(mig(idx, 'up.sql'), 'create index users_email_idx on users (email);\n');
    writeFileSync(mig(idx, 'down.sql'), 'drop index users_email_idx;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    const codes = async (): Promise<string[]> => (await check()).findings.map((f) => f.code);
    expect(await codes()).toEqual(['lint-require-concurrent-index-creation']);
    const lintOf = (): unknown[] =>
      (JSON.parse(readFileSync(cacheFile(), 'utf8').split('\n')[0]) as { lint: unknown[] }).lint;
    const cached = lintOf();
    expect(cached).toHaveLength(1);
    expect(await codes()).toEqual(['lint-require-concurrent-index-creation']);
    writeFileSync(mig(idx, 'up.sql'), 'create index concurrently users_email_idx on users (email);\n');
    writeFileSync(mig(idx, 'up.sql'), `-- braid:no-transaction\n${readFileSync(mig(idx, 'up.sql'), 'utf8')}`);
    await runBraid(['hash'], { cwd: repo.dir });
    expect(await codes()).toEqual([]);
    expect(lintOf()).toHaveLength(2);
  });

  it('gives the same findings as a scan without the cache', async () => {
    mkdirSync(mig('not-an-id'));
    writeFileSync(mig('not-an-id', 'up.sql'), 'select 1;\n');
    writeFileSync(
      mig(a, 'up.sql'),
      '-- braid:requires 20990101000000_nope\nselect 1;\n-- braid:irreversible\n',
    );
    expect((await check()).code).toBe(1);
    const cold = (await check()).findings;
    rmSync(cacheFile());
    expect((await check()).findings).toEqual(cold);
    expect((await check()).findings).toEqual(cold);
  });
});
