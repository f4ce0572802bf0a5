import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGitRepo, runBraid, runBraidJson, type TempRepo } from './helpers/repo';

interface CheckJson {
  ok: boolean;
  findings: { code: string; file: string; line?: number; message: string }[];
}

describe('braid check', () => {
  let repo: TempRepo;
  let a: string;
  let b: string;
  const mig = (id: string, f: string) => join(repo.dir, '.migrations', id, f);

  beforeEach(async () => {
    repo = createGitRepo();
    await runBraid(['init'], { cwd: repo.dir });
    a = (await runBraidJson<{ id: string }>(['new', 'create users'], { cwd: repo.dir })).json.id;
    b = (await runBraidJson<{ id: string }>(['new', 'add phone'], { cwd: repo.dir })).json.id;
  });
  afterEach(() => repo.cleanup());

  it('passes a consistent project (exit 0), also from a subdirectory and with --cwd', async () => {
    const r = await runBraid(['check'], { cwd: repo.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok: 2 migration(s)');
    mkdirSync(join(repo.dir, 'src'));
    expect((await runBraid(['check'], { cwd: join(repo.dir, 'src') })).code).toBe(0);
    const j = await runBraidJson<CheckJson>(['check', '--cwd', repo.dir], { cwd: '/' });
    expect(j.code).toBe(0);
    expect(j.json).toMatchObject({ ok: true, findings: [] });
  });

  it('prints one `file:line: message` per finding and exits 1', async () => {
    writeFileSync(mig(a, 'up.sql'), '-- braid:no-transation\ncreate table users (id int);\n');
    rmSync(mig(b, 'down.sql'));
    writeFileSync(join(repo.dir, '.migrations', 'notes.txt'), 'hi\n');
    const r = await runBraid(['check'], { cwd: repo.dir });
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toEqual([
      `.migrations/${a}/up.sql:1: unknown directive braid:no-transation (known: no-transaction, requires, irreversible, ignore, ticket, reason, batch, timeout, lock-timeout, destructive)`,
      `.migrations/${b}/down.sql: down.sql is missing (write the rollback, or mark up.sql \`-- braid:irreversible\`)`,
      expect.stringMatching(
        new RegExp(`^\\.migrations/manifest:2: the files of ${a} changed since it was hashed`),
      ),
      expect.stringMatching(
        new RegExp(`^\\.migrations/manifest:3: the files of ${b} changed since it was hashed`),
      ),
      expect.stringMatching(/^\.migrations\/notes\.txt: unexpected entry/),
      // lint of the unshared migration: its up.sql now creates a table, its down.sql is empty
      expect.stringMatching(
        new RegExp(`^\\.migrations/${a}/down\\.sql:1: down\\.sql is empty.*\\[missing-down\\]`),
      ),
    ]);
    expect(r.stderr).toContain('6 finding(s)');
  });

  it('--json prints the findings as one document', async () => {
    writeFileSync(
      mig(b, 'up.sql'),
      `-- braid:irreversible\n-- braid:requires 20200101000000_gone\nselect 1;\n`,
    );
    const r = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.findings.map((f) => f.code).sort()).toEqual(
      ['irreversible-with-down', 'stale-hash', 'unknown-requires'].sort(),
    );
    expect(r.json.findings.find((f) => f.code === 'unknown-requires')).toMatchObject({
      file: `.migrations/${b}/up.sql`,
      line: 2,
    });
  });

  it('finds unlisted and missing folders and a hand-edited manifest', async () => {
    const manifest = join(repo.dir, '.migrations/manifest');
    const lines = readFileSync(manifest, 'utf8').split('\n');
    writeFileSync(manifest, [lines[0], lines[1], ''].join('\n')); // b's line removed by hand
    mkdirSync(join(repo.dir, '.migrations', '20200101000000_ghost'));
    const r = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.json.findings.map((f) => [f.code, f.file])).toEqual([
      ['manifest-header-hash', '.migrations/manifest'],
      ['missing-up', '.migrations/20200101000000_ghost/up.sql'],
      ['unlisted-folder', '.migrations/20200101000000_ghost/'],
      ['unlisted-folder', `.migrations/${b}/`],
    ]);
  });

  it('reports a corrupt manifest as a finding with its line; exits 2 without a project', async () => {
    writeFileSync(join(repo.dir, '.migrations/manifest'), '<<<<<<< HEAD\n');
    const r = await runBraid(['check'], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^\.migrations\/manifest:1: unresolved git merge conflict marker/);

    const bare = createGitRepo();
    try {
      const r2 = await runBraidJson(['check'], { cwd: bare.dir });
      expect(r2.code).toBe(2);
      expect(r2.json).toMatchObject({ error: 'no-project', exitCode: 2 });
    } finally {
      bare.cleanup();
    }
  });

  it('accepts CRLF checkouts (the hash normalises line endings)', async () => {
    for (const id of [a, b]) {
      for (const f of ['up.sql', 'down.sql']) {
        writeFileSync(mig(id, f), readFileSync(mig(id, f), 'utf8').replace(/\n/g, '\r\n'));
      }
    }
    const manifest = join(repo.dir, '.migrations/manifest');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/\n/g, '\r\n'));
    const r = await runBraid(['check'], { cwd: repo.dir });
    expect(r.stdout + r.stderr).toContain('ok: 2');
    expect(r.code).toBe(0);
  });

  it('reports an edit to a migration already on main (protected), not a stale hash', async () => {
    repo.commit('two migrations');
    repo.git('checkout', '-q', '-b', 'feature');
    writeFileSync(mig(a, 'down.sql'), readFileSync(mig(a, 'down.sql'), 'utf8') + 'drop table users;\n');
    const r = await runBraidJson<CheckJson & { protectedRefs: string[] }>(['check'], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.json.protectedRefs).toEqual(['main']);
    expect(r.json.findings.map((f) => [f.code, f.file])).toEqual([
      ['protected-edited', `.migrations/${a}/down.sql`],
    ]);
    const t = await runBraid(['check'], { cwd: repo.dir });
    expect(t.stdout).toMatch(new RegExp(`^\\.migrations/${a}/down\\.sql:\\d+: `));
  });

  it('reports odd entries inside migration folders and ignores dot files', async () => {
    writeFileSync(mig(a, 'seed.csv'), '1,2\n');
    mkdirSync(join(repo.dir, '.migrations', b, 'sub'));
    writeFileSync(join(repo.dir, '.migrations', '.gitkeep'), '');
    writeFileSync(mig(a, '.DS_Store'), '');
    const r = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.json.findings.map((f) => [f.code, f.file])).toEqual([
      ['stray-entry', `.migrations/${a}/seed.csv`],
      ['stray-entry', `.migrations/${b}/sub/`],
    ]);
  });
});
