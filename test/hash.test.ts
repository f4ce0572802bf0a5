import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hashMigration, parseManifest } from '@braid/core';
import { createGitRepo, runBraid, runBraidJson, type TempRepo } from './helpers/repo';

describe('braid hash', () => {
  let repo: TempRepo;
  let a: string;
  let b: string;
  const file = () => join(repo.dir, '.migrations/manifest');

  beforeEach(async () => {
    repo = createGitRepo();
    await runBraid(['init'], { cwd: repo.dir });
    a = (await runBraidJson<{ id: string }>(['new', 'a'], { cwd: repo.dir })).json.id;
    b = (await runBraidJson<{ id: string }>(['new', 'b'], { cwd: repo.dir })).json.id;
  });
  afterEach(() => repo.cleanup());

  it('rewrites the hashes of edited migrations and says which', async () => {
    const up = 'create table t (id int);\n';
    writeFileSync(join(repo.dir, '.migrations', b, 'up.sql'), up);
    writeFileSync(join(repo.dir, '.migrations', b, 'down.sql'), 'drop table t;\n');
    expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(1);

    const r = await runBraid(['hash'], { cwd: repo.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`rehashed \\.migrations/${b}/ \\(sha256:[0-9a-f]{12} → sha256:[0-9a-f]{12}\\)`),
    );
    expect(r.stdout).not.toContain(a);
    const m = parseManifest(readFileSync(file(), 'utf8'));
    expect(m.headerHashOk).toBe(true);
    expect(m.manifest.entries[1].hash).toBe(hashMigration({ up, down: 'drop table t;\n' }));
    expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(0);

    const again = await runBraidJson(['hash'], { cwd: repo.dir });
    expect(again.code).toBe(0);
    expect(again.json).toEqual({ changed: [], headerRefreshed: false, written: false, unlisted: [] });

    mkdirSync(join(repo.dir, '.migrations', '20200101000000_by_hand'));
    const noted = await runBraid(['hash'], { cwd: repo.dir });
    expect(noted.code).toBe(0);
    expect(noted.stderr).toContain('.migrations/20200101000000_by_hand/ is not listed');
  });

  it('--json lists the changes; a removed down.sql changes the hash', async () => {
    rmSync(join(repo.dir, '.migrations', a, 'down.sql'));
    const r = await runBraidJson<{ changed: { id: string; from: string; to: string }[] }>(['hash'], {
      cwd: repo.dir,
    });
    expect(r.code).toBe(0);
    expect(r.json.changed.map((c) => c.id)).toEqual([a]);
    expect(r.json.changed[0].from).not.toBe(r.json.changed[0].to);
  });

  it('refreshes a stale header hash', async () => {
    const text = readFileSync(file(), 'utf8');
    writeFileSync(
      file(),
      text.replace(/^braid-manifest 1 sha256:[0-9a-f]{64}/, `braid-manifest 1 sha256:${'1'.repeat(64)}`),
    );
    const r = await runBraid(['hash'], { cwd: repo.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('refreshed the header hash');
    expect(readFileSync(file(), 'utf8')).toBe(text);
  });

  it('fails with exit 2 when a listed folder is missing or the manifest is malformed', async () => {
    rmSync(join(repo.dir, '.migrations', a), { recursive: true });
    const before = readFileSync(file(), 'utf8');
    const r = await runBraid(['hash'], { cwd: repo.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`.migrations/${a}/ does not exist`);
    writeFileSync(file(), before.replace(' -\n', ' \n'));
    const r2 = await runBraidJson(['hash'], { cwd: repo.dir });
    expect(r2.code).toBe(2);
    expect(r2.json).toMatchObject({ error: 'invalid-manifest', line: 2 });
    expect(readFileSync(file(), 'utf8')).toBe(before.replace(' -\n', ' \n'));
  });

  it('refuses to rehash a migration already on the protected branch (exit 1, nothing written)', async () => {
    repo.commit('two migrations');
    repo.git('checkout', '-q', '-b', 'feature');
    writeFileSync(join(repo.dir, '.migrations', a, 'up.sql'), 'create table sneaky (id int);\n');
    writeFileSync(join(repo.dir, '.migrations', b, 'up.sql'), 'create table fine (id int);\n');
    const before = readFileSync(file(), 'utf8');
    const r = await runBraid(['hash'], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`refusing to rehash ${a} \\(on main\\), ${b} \\(on main\\)`));
    expect(readFileSync(file(), 'utf8')).toBe(before);

    // A migration created on the feature branch may be rehashed freely.
    const c = (await runBraidJson<{ id: string }>(['new', 'c'], { cwd: repo.dir })).json.id;
    repo.git('checkout', '-q', '--', `.migrations/${a}`, `.migrations/${b}`);
    writeFileSync(join(repo.dir, '.migrations', c, 'up.sql'), 'select 1;\n');
    const r2 = await runBraidJson<{ changed: { id: string }[] }>(['hash'], { cwd: repo.dir });
    expect(r2.code).toBe(0);
    expect(r2.json.changed.map((x) => x.id)).toEqual([c]);
  });
});
