import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createGitRepo, runBraid, runBraidJson, tempDir, type TempRepo } from './helpers/repo';
import { HISTORIES } from './fixtures/import/histories';

interface ImportJson {
  tool: string;
  migrations: {
    id: string;
    source: string;
    noTransaction: boolean;
    irreversible: boolean;
    requires: string[];
  }[];
  warnings: string[];
}

interface StatusJson {
  applied: { id: string; state: string }[];
  pending: { id: string }[];
}

function writeHistory(repo: TempRepo, tool: string): string {
  const h = HISTORIES[tool];
  for (const [p, text] of Object.entries(h.files)) repo.write(`${h.dir}/${p}`, text);
  return h.dir;
}

describe('braid import (end to end)', () => {
  let repo: TempRepo;
  let db: TestDatabase | undefined;
  let dbDir: string | undefined;

  beforeEach(() => {
    repo = createGitRepo();
  });
  afterEach(async () => {
    repo.cleanup();
    if (db) await db.drop();
    db = undefined;
    if (dbDir) rmSync(dbDir, { recursive: true, force: true });
    dbDir = undefined;
  });

  for (const tool of Object.keys(HISTORIES)) {
    it(`${tool}: import, check, up on a fresh database, status, down`, async () => {
      const h = HISTORIES[tool];
      const dir = writeHistory(repo, tool);

      const imp = await runBraidJson<ImportJson>(['import', '--from', tool, dir], { cwd: repo.dir });
      expect(imp.stderr).toBe('');
      expect(imp.code).toBe(0);
      expect(imp.json.migrations.map((m) => m.id)).toEqual(h.ids);
      expect(imp.json.migrations.filter((m) => m.noTransaction).map((m) => m.id)).toEqual(h.noTransaction);
      for (const id of h.ids) {
        const up = readFileSync(join(repo.dir, '.migrations', id, 'up.sql'), 'utf8');
        expect(up).toContain(`-- Imported by braid from ${tool}: ${h.dir}/`);
        expect(up.startsWith('-- braid:no-transaction\n')).toBe(h.noTransaction.includes(id));
      }
      const manifest = readFileSync(join(repo.dir, '.migrations', 'manifest'), 'utf8').split('\n');
      // a linear history: each migration's parent is the previous one
      expect(manifest[1]).toMatch(new RegExp(`^${h.ids[0]} sha256:[0-9a-f]{64} -$`));
      for (let i = 1; i < h.ids.length; i++)
        expect(manifest[i + 1]).toMatch(new RegExp(`^${h.ids[i]} sha256:[0-9a-f]{64} ${h.ids[i - 1]}$`));

      const check = await runBraid(['check'], { cwd: repo.dir });
      expect(check.stdout + check.stderr).toContain(`ok: ${h.ids.length} migration(s)`);
      expect(check.code).toBe(0);

      db = await createTestDatabase({
        prefix: 'braid_import',
        pglitePath: join(tempDir('braid-import-db-'), 'db'),
      });
      const up = await runBraid(['up', '--db', db.url], { cwd: repo.dir });
      expect(up.stderr).not.toMatch(/error/i);
      expect(up.code).toBe(0);
      const status = await runBraidJson<StatusJson>(['status', '--db', db.url], { cwd: repo.dir });
      expect(status.code).toBe(0);
      expect(status.json.applied.map((a) => a.id)).toEqual(h.ids);
      expect(status.json.pending).toEqual([]);

      const down = await runBraid(['down', '--steps', '1', '--db', db.url], { cwd: repo.dir });
      if (h.lastReversible) {
        expect(down.code).toBe(0);
        const after = await runBraidJson<StatusJson>(['status', '--db', db.url], { cwd: repo.dir });
        expect(after.json.pending.map((p) => p.id)).toEqual([h.ids[h.ids.length - 1]]);
      } else {
        expect(down.code).toBe(2);
        expect(down.stderr).toContain('irreversible');
      }
    });
  }

  it('refuses a non-empty .migrations unless --append, which adds the history after it', async () => {
    await runBraid(['init'], { cwd: repo.dir });
    const first = (await runBraidJson<{ id: string }>(['new', 'existing one'], { cwd: repo.dir })).json.id;
    const dir = writeHistory(repo, 'golang-migrate');
    const refused = await runBraid(['import', '--from', 'golang-migrate', dir], { cwd: repo.dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--append');
    expect(readdirSync(join(repo.dir, '.migrations')).sort()).toEqual([first, 'manifest'].sort());

    const appended = await runBraidJson<ImportJson>(['import', '--from', 'golang-migrate', dir, '--append'], {
      cwd: repo.dir,
    });
    expect(appended.code).toBe(0);
    const ids = appended.json.migrations.map((m) => m.id);
    expect(ids).toHaveLength(4);
    for (const id of ids) expect(id > first).toBe(true);
    const manifest = readFileSync(join(repo.dir, '.migrations', 'manifest'), 'utf8');
    expect(manifest).toContain(`${ids[0]} `);
    expect(manifest.split('\n')[2]).toMatch(new RegExp(` ${first}$`));
    expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(0);
  });

  it('refuses malformed input with exit 2 naming the file, and writes nothing', async () => {
    repo.write('mig/1_a.up.sql', 'select 1;\n');
    repo.write('mig/2_orphan.down.sql', 'select 1;\n');
    const r = await runBraid(['import', '--from', 'golang-migrate', 'mig'], { cwd: repo.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('braid: mig/2_orphan.down.sql: a down migration without an up migration');
    expect(existsSync(join(repo.dir, '.migrations'))).toBe(false);

    repo.write('dup/V1__a.sql', 'select 1;\n');
    repo.write('dup/V1.0__b.sql', 'select 1;\n');
    const d = await runBraidJson(['import', '--from', 'flyway', 'dup'], { cwd: repo.dir });
    expect(d.code).toBe(2);
    expect(d.json).toMatchObject({ error: 'import-invalid-source' });
    expect(existsSync(join(repo.dir, '.migrations'))).toBe(false);

    // a Latin-1 migration would be mangled: refused; a binary file the import does not use is fine
    repo.write('latin/1_a.up.sql', '');
    writeFileSync(
      join(repo.dir, 'latin', '1_a.up.sql'),
      Buffer.from("insert into t values ('caf\xe9');\n", 'latin1'),
    );
    writeFileSync(join(repo.dir, 'latin', 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0xfe]));
    const latin = await runBraid(['import', '--from', 'golang-migrate', 'latin'], { cwd: repo.dir });
    expect(latin.code).toBe(2);
    expect(latin.stderr).toContain('latin/1_a.up.sql: not valid UTF-8');
    expect(existsSync(join(repo.dir, '.migrations'))).toBe(false);
    writeFileSync(join(repo.dir, 'latin', '1_a.up.sql'), "insert into t values ('café');\n");
    const ok = await runBraid(['import', '--from', 'golang-migrate', 'latin', '--dry-run'], {
      cwd: repo.dir,
    });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('logo.png: ignored');

    const tool = await runBraid(['import', '--from', 'liquibase', 'mig'], { cwd: repo.dir });
    expect(tool.code).toBe(2);
    const missing = await runBraid(['import', '--from', 'dbmate', 'nope'], { cwd: repo.dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope: no such directory');
  });

  it('--dry-run lists the migrations and writes nothing; warnings go to stderr', async () => {
    const dir = writeHistory(repo, 'dbmate');
    writeFileSync(join(repo.dir, dir, 'schema.sql'), 'create table users ();\n');
    const r = await runBraid(['import', '--from', 'dbmate', dir, '--dry-run'], { cwd: repo.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      '20240116090000_index users.email -> 20240116090000_index_users_email  [no-transaction]',
    );
    expect(r.stderr).toContain('schema.sql: ignored');
    expect(existsSync(join(repo.dir, '.migrations'))).toBe(false);
  });
});
