import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ID_RE, parseManifest } from '@braid/core';
import { createGitRepo, runBraid, runBraidJson, type TempRepo } from './helpers/repo';

function manifest(repo: TempRepo) {
  return parseManifest(readFileSync(join(repo.dir, '.migrations/manifest'), 'utf8'));
}

describe('braid new', () => {
  let repo: TempRepo;
  beforeEach(async () => {
    repo = createGitRepo();
    expect((await runBraid(['init'], { cwd: repo.dir })).code).toBe(0);
  });
  afterEach(() => repo.cleanup());

  it('creates up/down templates, lists the migration and prints its path', async () => {
    const r = await runBraid(['new', 'Create Users'], { cwd: repo.dir });
    expect(r.code).toBe(0);
    const path = r.stdout.trim();
    expect(path).toMatch(/^\.migrations\/\d{14}_create_users$/);
    const id = path.split('/')[1];
    expect(readdirSync(join(repo.dir, path)).sort()).toEqual(['down.sql', 'up.sql']);
    expect(readFileSync(join(repo.dir, path, 'up.sql'), 'utf8')).toContain('braid:no-transaction');
    const m = manifest(repo);
    expect(m.headerHashOk).toBe(true);
    expect(m.manifest.entries).toEqual([expect.objectContaining({ id, parents: [] })]);
    // The templates are a valid migration: check passes right away.
    const c = await runBraid(['check'], { cwd: repo.dir });
    expect(c.stdout + c.stderr).toContain('ok: 1 migration');
    expect(c.code).toBe(0);
  });

  it('--json prints {id, path}; the new migration has the heads as parents', async () => {
    const a = await runBraidJson<{ id: string; path: string }>(['new', 'a'], { cwd: repo.dir });
    const b = await runBraidJson<{ id: string; path: string; parents: string[] }>(['new', 'b'], {
      cwd: repo.dir,
    });
    expect(a.code).toBe(0);
    expect(a.json.id).toMatch(ID_RE);
    expect(a.json.path).toBe(`.migrations/${a.json.id}`);
    expect(b.json.parents).toEqual([a.json.id]);
    expect(manifest(repo).manifest.entries.map((e) => e.parents)).toEqual([[], [a.json.id]]);
  });

  it('gives distinct, increasing ids to many `new` in the same second', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await runBraidJson<{ id: string }>(['new', 'same'], { cwd: repo.dir });
      expect(r.code).toBe(0);
      ids.push(r.json.id);
    }
    expect(new Set(ids).size).toBe(4);
    expect([...ids].sort()).toEqual(ids);
    expect(manifest(repo).manifest.entries.map((e) => e.id)).toEqual(ids);
  });

  it('joins several words and normalises them; paths are relative to the working directory', async () => {
    mkdirSync(join(repo.dir, 'app'));
    const r = await runBraidJson<{ id: string; path: string }>(['new', 'add', 'phone-Number'], {
      cwd: join(repo.dir, 'app'),
    });
    expect(r.code).toBe(0);
    expect(r.json.id).toMatch(/^\d{14}_add_phone_number$/);
    expect(resolve(repo.dir, 'app', r.json.path)).toBe(join(repo.dir, '.migrations', r.json.id));
  });

  it('refuses a slug that cannot be normalised (exit 2, names the argument)', async () => {
    const r = await runBraid(['new', 'drop/users'], { cwd: repo.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^braid: slug "drop\/users": character "\/" is not allowed/);
    expect(manifest(repo).manifest.entries).toEqual([]);
    const j = await runBraidJson(['new', '---'], { cwd: repo.dir });
    expect(j.code).toBe(2);
    expect(j.json).toMatchObject({ error: 'invalid-slug', exitCode: 2 });
  });

  it('refuses without a project, and with a corrupt or stale manifest (nothing written)', async () => {
    const bare = createGitRepo();
    try {
      const r = await runBraid(['new', 'x'], { cwd: bare.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/braid init/);
    } finally {
      bare.cleanup();
    }
    const file = join(repo.dir, '.migrations/manifest');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good + 'garbage\n');
    const r1 = await runBraid(['new', 'x'], { cwd: repo.dir });
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(
      /^braid: \.migrations\/manifest:2: expected "<id> sha256:<hex> <parents or ->"/,
    );
    writeFileSync(file, good.replace(/sha256:[0-9a-f]{64}/, `sha256:${'0'.repeat(64)}`));
    const r2 = await runBraid(['new', 'x'], { cwd: repo.dir });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/manifest:1: the header hash does not match/);
    expect(readdirSync(join(repo.dir, '.migrations'))).toEqual(['manifest']);
  });

  it('concurrent `braid new` processes never lose a manifest line or share an id', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        runBraidJson<{ id: string }>(['new', `par ${i}`], { cwd: repo.dir }),
      ),
    );
    for (const r of results) expect(r.code).toBe(0);
    const ids = results.map((r) => r.json.id);
    expect(new Set(ids).size).toBe(6);
    const m = manifest(repo);
    expect(m.headerHashOk).toBe(true);
    expect(m.manifest.entries.map((e) => e.id).sort()).toEqual([...ids].sort());
    // Each was created on the heads of the one before: one chain, one head.
    expect(m.manifest.entries.filter((e) => e.parents.length === 0)).toHaveLength(1);
    expect(readdirSync(join(repo.dir, '.migrations')).sort()).toEqual([...ids, 'manifest'].sort());
    expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(0);
  });

  it('takes over a lock left by a process that died', async () => {
    writeFileSync(join(repo.dir, '.migrations', '.lock'), '999999999\n');
    const r = await runBraid(['new', 'after crash'], { cwd: repo.dir });
    expect(r.code).toBe(0);
    expect(readdirSync(join(repo.dir, '.migrations'))).not.toContain('.lock');
    expect(manifest(repo).manifest.entries).toHaveLength(1);
  });
});
