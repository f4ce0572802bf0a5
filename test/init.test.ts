import { readFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createGitRepo, runBraid, runBraidJson, type TempRepo } from './helpers/repo';

const EMPTY_SHA = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('braid init', () => {
  let repo: TempRepo;
  beforeEach(() => {
    repo = createGitRepo();
  });
  afterEach(() => repo.cleanup());

  it('creates .migrations/ with an empty manifest, and is idempotent', async () => {
    const r1 = await runBraid(['init'], { cwd: repo.dir });
    expect(r1.code).toBe(0);
    expect(r1.stdout).toContain('created .migrations/manifest');
    expect(readFileSync(join(repo.dir, '.migrations/manifest'), 'utf8')).toBe(
      `braid-manifest 1 ${EMPTY_SHA}\n`,
    );

    const r2 = await runBraid(['init'], { cwd: repo.dir });
    expect(r2.code).toBe(0);
    expect(r2.stdout).toMatch(/already initialised: \.migrations\/manifest lists 0 migration/);
    expect(readFileSync(join(repo.dir, '.migrations/manifest'), 'utf8')).toBe(
      `braid-manifest 1 ${EMPTY_SHA}\n`,
    );
  });

  it('initialises the git top level when run in a subdirectory', async () => {
    mkdirSync(join(repo.dir, 'src', 'deep'), { recursive: true });
    const r = await runBraidJson(['init'], { cwd: join(repo.dir, 'src', 'deep') });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ created: ['.migrations/', '.migrations/manifest'], migrations: 0 });
    expect(existsSync(join(repo.dir, '.migrations', 'manifest'))).toBe(true);
    expect(existsSync(join(repo.dir, 'src', 'deep', '.migrations'))).toBe(false);
  });

  it('--json reports an existing project without touching it', async () => {
    await runBraid(['init'], { cwd: repo.dir });
    const r = await runBraidJson(['init'], { cwd: repo.dir });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ created: [], alreadyInitialized: true });
    expect(r.stderr).toBe('');
  });

  it('refuses to call a corrupt manifest initialised (exit 2, file:line)', async () => {
    mkdirSync(join(repo.dir, '.migrations'));
    writeFileSync(join(repo.dir, '.migrations/manifest'), 'hello\n');
    const r = await runBraid(['init'], { cwd: repo.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^braid: \.migrations\/manifest:1: expected the header/);
    expect(readFileSync(join(repo.dir, '.migrations/manifest'), 'utf8')).toBe('hello\n');
  });

  it('exits 2 with one line for an unknown command or option', async () => {
    const r = await runBraid(['nope'], { cwd: repo.dir });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/nope/);
    const r2 = await runBraid(['init', '--frobnicate'], { cwd: repo.dir });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/frobnicate/);
    expect(existsSync(join(repo.dir, '.migrations'))).toBe(false);
  });

  it('refuses a --cwd that does not exist instead of creating it', async () => {
    const missing = join(repo.dir, 'no', 'such');
    const r = await runBraid(['init', '--cwd', missing], { cwd: repo.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^braid: --cwd .*no\/such: no such directory/);
    expect(existsSync(join(repo.dir, 'no'))).toBe(false);
  });
});
