import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGitRepo, runBraid, runBraidJson, type TempRepo } from './helpers/repo';

interface CheckJson {
  ok: boolean;
  linted: number;
  findings: { code: string; file: string; line?: number; message: string; id?: string }[];
}

/** `braid check` lints the migrations that are not on a protected branch yet. */
describe('braid check runs lint on unprotected migrations', () => {
  let repo: TempRepo;
  let users: string;
  let idx: string;
  const write = (id: string, f: string, text: string): void =>
    writeFileSync(join(repo.dir, '.migrations', id, f), text);

  beforeEach(async () => {
    repo = createGitRepo();
    await runBraid(['init'], { cwd: repo.dir });
    users = (await runBraidJson<{ id: string }>(['new', 'create users'], { cwd: repo.dir })).json.id;
    write(users, 'up.sql', 'create table users (id bigint primary key, email text);\n');
    write(users, 'down.sql', 'drop table users;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    repo.commit('users on main'); // main is protected: users is shared history now
    repo.git('checkout', '-q', '-b', 'feature');
    idx = (await runBraidJson<{ id: string }>(['new', 'email index'], { cwd: repo.dir })).json.id;
    write(idx, 'down.sql', 'drop index users_email_idx;\n');
  });
  afterEach(() => repo.cleanup());

  it('fails on an error-severity hazard against a shared table, naming file, line and rule', async () => {
    write(idx, 'up.sql', '-- an index on a busy table\ncreate index users_email_idx on users (email);\n');
    await runBraid(['hash'], { cwd: repo.dir });
    const r = await runBraid(['check'], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`.migrations/${idx}/up.sql:2:`);
    expect(r.stdout).toContain('[require-concurrent-index-creation]');
    const j = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(j.json.linted).toBe(1); // only the unprotected migration
    expect(j.json.findings.map((f) => f.code)).toEqual(['lint-require-concurrent-index-creation']);
    // --no-lint skips it (the structural checks still run).
    expect((await runBraid(['check', '--no-lint'], { cwd: repo.dir })).code).toBe(0);
  });

  it('accepts the hazard when suppressed with a reason, and the safe form without one', async () => {
    write(
      idx,
      'up.sql',
      '-- braid:ignore require-concurrent-index-creation users is tiny\ncreate index users_email_idx on users (email);\n',
    );
    await runBraid(['hash'], { cwd: repo.dir });
    expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(0);

    write(
      idx,
      'up.sql',
      '-- braid:no-transaction\ncreate index concurrently users_email_idx on users (email);\n',
    );
    write(idx, 'down.sql', 'drop index concurrently users_email_idx;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    const ok = await runBraid(['check'], { cwd: repo.dir });
    expect(ok.stdout + ok.stderr).not.toContain('require-concurrent-index-creation');
    expect(ok.code).toBe(0);
  });
});
