import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGitRepo, runBraid, runBraidJson, type TempRepo } from './helpers/repo';

interface CheckJson {
  ok: boolean;
  findings: { code: string; file: string; message: string }[];
}

/** Declared schema: schema/*.sql is the desired state; check --schema and new --from-schema. */
describe('declared schema', () => {
  let repo: TempRepo;
  beforeEach(async () => {
    repo = createGitRepo();
    await runBraid(['init'], { cwd: repo.dir });
    const id = (await runBraidJson<{ id: string }>(['new', 'users'], { cwd: repo.dir })).json.id;
    writeFileSync(
      join(repo.dir, '.migrations', id, 'up.sql'),
      'create table users (id bigint primary key, email text);\n',
    );
    writeFileSync(join(repo.dir, '.migrations', id, 'down.sql'), 'drop table users;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    mkdirSync(join(repo.dir, 'schema'));
    writeFileSync(
      join(repo.dir, 'schema', 'app.sql'),
      'create table users (id bigint primary key, email text not null, nickname text);\n' +
        'create index users_email_idx on users (email);\n' +
        'create table teams (id bigint primary key, name text);\n',
    );
  });
  afterEach(() => repo.cleanup());

  it('check --schema reports declared drift by object, new --from-schema writes the migration that closes it', async () => {
    const drift = await runBraidJson<CheckJson>(['check', '--schema'], { cwd: repo.dir });
    expect(drift.code).toBe(1);
    const messages = drift.json.findings.filter((f) => f.code === 'declared-drift').map((f) => f.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^table public\.teams declared in schema\/ but not created/),
        expect.stringMatching(/^table public\.users differs: columns\.email\.notNull, columns\.nickname/),
        expect.stringMatching(/^index public\.users_email_idx declared/),
      ]),
    );
    // Without --schema, check does not look at schema/ (no shadow database needed).
    expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(0);

    const made = await runBraidJson<{ id: string; path: string }>(['new', 'close the gap', '--from-schema'], {
      cwd: repo.dir,
    });
    expect(made.code).toBe(0);
    const up = readFileSync(join(repo.dir, made.json.path, 'up.sql'), 'utf8');
    expect(up).toMatch(/CREATE TABLE "public"\."teams"/);
    expect(up).toMatch(/CREATE INDEX CONCURRENTLY users_email_idx/);
    expect(up).toMatch(/^-- braid:no-transaction/);
    const down = readFileSync(join(repo.dir, made.json.path, 'down.sql'), 'utf8');
    expect(down).toMatch(/DROP TABLE "public"\."teams"/);

    const clean = await runBraidJson<CheckJson>(['check', '--schema'], { cwd: repo.dir });
    expect(clean.json.findings).toEqual([]);
    expect(clean.code).toBe(0);
    const again = await runBraidJson<{ id: string | null }>(['new', 'again', '--from-schema'], {
      cwd: repo.dir,
    });
    expect(again.code).toBe(0);
    expect(again.json.id).toBeNull();
    // The generated migration round-trips.
    expect((await runBraid(['test', '--all'], { cwd: repo.dir })).code).toBe(0);
  });

  it('refuses with exit 2 naming schema/ when no SQL file declares anything', async () => {
    rmSync(join(repo.dir, 'schema', 'app.sql'));
    const r = await runBraid(['check', '--schema'], { cwd: repo.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/schema\/: no \.sql files declare the desired schema/);
    const none = await runBraid(['new', 'x', '--from-schema'], { cwd: repo.dir });
    expect(none.code).toBe(2);
    expect(readFileSync(join(repo.dir, '.migrations', 'manifest'), 'utf8')).not.toMatch(/_x /);
  });
});
