/**
 * Issue 13, point 2: `braid check` (and the pre-commit hook) pass right after `braid import`,
 * uncommitted and committed, although the imported history has lint errors; `braid lint` still
 * reports them, marked baseline; a migration added after the import is still blocked, and cannot
 * be slipped into the baseline.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase } from './helpers/db';
import { createGitRepo, runBraid, runBraidJson, tempDir, type TempRepo } from './helpers/repo';
import { MIXED } from './fixtures/import/mixed';

interface CheckJson {
  ok: boolean;
  linted: number;
  baseline?: { file: string; migrations: number; added: number };
  findings: { code: string; file: string; line?: number; id?: string }[];
}
interface LintJson {
  findings: { rule: string; severity: string; migration: string; baseline: string | null }[];
  summary: { error: number; baseline: number };
}

const h = MIXED['diesel'];
const HISTORIC_ERROR = '20170923182408_move_tokens_to_emails_table';

function commitFails(repo: TempRepo, message: string): string {
  try {
    repo.git('commit', '-q', '-m', message);
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    expect(err.status).toBe(1);
    return `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
  throw new Error('the commit was not refused');
}

describe('the imported history is a baseline: check passes, lint reports, new work is still blocked', () => {
  let repo: TempRepo;

  beforeEach(async () => {
    repo = createGitRepo();
    repo.write('README.md', '# app\n');
    repo.commit('initial'); // main (protected) has no migrations
    repo.git('checkout', '-q', '-b', 'adopt-braid');
    for (const [p, text] of Object.entries(h.files)) repo.write(`${h.dir}/${p}`, text);
    const imp = await runBraid(['import', '--from', 'diesel', h.dir], { cwd: repo.dir });
    expect(imp.code).toBe(0);
  });
  afterEach(() => repo.cleanup());

  it('check passes uncommitted and committed, with the hook installed; lint reports the history as baseline', async () => {
    // the history has a lint error: without the baseline, check fails on it
    const baseline = readFileSync(join(repo.dir, '.migrations', 'baseline'), 'utf8');
    writeFileSync(join(repo.dir, '.migrations', 'baseline'), 'braid-baseline 1\n');
    const without = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(without.code).toBe(1);
    expect(without.json.findings.map((f) => [f.code, f.id])).toEqual([['lint-missing-down', HISTORIC_ERROR]]);
    writeFileSync(join(repo.dir, '.migrations', 'baseline'), baseline);

    const uncommitted = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(uncommitted.json.findings).toEqual([]);
    expect(uncommitted.json.baseline).toEqual({
      file: '.migrations/baseline',
      migrations: h.ids.length,
      added: h.ids.length,
    });
    expect(uncommitted.json.linted).toBe(0);
    expect(uncommitted.code).toBe(0);
    const text = await runBraid(['check'], { cwd: repo.dir });
    expect(text.stderr).toContain(
      `${h.ids.length} migration(s) imported from diesel are new in .migrations/baseline`,
    );

    expect((await runBraid(['install'], { cwd: repo.dir })).code).toBe(0);
    repo.git('add', '-A');
    repo.git('commit', '-q', '-m', 'import the diesel history'); // the pre-commit hook runs braid check
    expect(repo.git('log', '-1', '--format=%s').trim()).toBe('import the diesel history');

    const committed = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(committed.code).toBe(0);
    expect(committed.json.baseline).toMatchObject({ migrations: h.ids.length, added: 0 });

    const lint = await runBraidJson<LintJson>(['lint'], { cwd: repo.dir });
    expect(lint.code).toBe(0);
    const historic = lint.json.findings.filter(
      (f) => f.migration === HISTORIC_ERROR && f.severity === 'error',
    );
    expect(historic.map((f) => [f.rule, f.baseline])).toEqual([['missing-down', 'diesel']]);
    expect(lint.json.summary.error).toBe(0);
    expect(lint.json.summary.baseline).toBeGreaterThan(0);
    const lintText = await runBraid(['lint'], { cwd: repo.dir });
    expect(lintText.stdout).toContain(
      `.migrations/${HISTORIC_ERROR}/down.sql:1:1: baseline error missing-down:`,
    );
    expect(lintText.code).toBe(0);
  });

  it('a new migration after the import is blocked by its lint errors, and cannot join the baseline', async () => {
    await runBraid(['install'], { cwd: repo.dir });
    repo.git('add', '-A');
    repo.git('commit', '-q', '-m', 'import the diesel history');

    const id = (await runBraidJson<{ id: string }>(['new', 'index names'], { cwd: repo.dir })).json.id;
    writeFileSync(join(repo.dir, '.migrations', id, 'up.sql'), 'CREATE INDEX users_name ON users (name);\n');
    writeFileSync(join(repo.dir, '.migrations', id, 'down.sql'), 'DROP INDEX users_name;\n');
    await runBraid(['hash'], { cwd: repo.dir });
    const blocked = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(blocked.code).toBe(1);
    expect(blocked.json.findings.map((f) => [f.code, f.id])).toEqual([
      ['lint-require-concurrent-index-creation', id],
    ]);
    repo.git('add', '-A');
    expect(commitFails(repo, 'new index')).toContain('require-concurrent-index-creation');
    expect((await runBraid(['lint', id], { cwd: repo.dir })).code).toBe(1);

    // listing it in the baseline does not help: not written by braid import (a block of its own) …
    const base = join(repo.dir, '.migrations', 'baseline');
    const committedBaseline = readFileSync(base, 'utf8');
    writeFileSync(base, `${committedBaseline}import diesel\n${id} 1 - x\n`);
    const listed = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(listed.json.findings.map((f) => f.code)).toEqual([
      'baseline-not-imported',
      'lint-require-concurrent-index-creation',
    ]);
    expect((await runBraid(['lint', id], { cwd: repo.dir })).code).toBe(1);
    // … nor added to the committed import block, even with a forged importer comment
    const up = join(repo.dir, '.migrations', id, 'up.sql');
    writeFileSync(up, `-- Imported by braid from diesel: migrations/x/up.sql\n\n${readFileSync(up, 'utf8')}`);
    await runBraid(['hash'], { cwd: repo.dir });
    writeFileSync(base, `${committedBaseline}${id} 1 - x\n`);
    const appended = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(appended.json.findings.map((f) => f.code)).toEqual([
      'baseline-grown',
      'lint-require-concurrent-index-creation',
    ]);
    repo.git('add', '-A');
    expect(commitFails(repo, 'sneak it in')).toContain('already committed');
    // A forged new block for an uncommitted migration is what a fresh import looks like: accepted,
    // but never silently (check announces it; the baseline's diff is in the review).
    writeFileSync(base, `${committedBaseline}import diesel\n${id} 1 - x\n`);
    const forged = await runBraid(['check'], { cwd: repo.dir });
    expect(forged.stderr).toContain('1 migration(s) imported from diesel are new in .migrations/baseline');

    // once the migration is committed outside the baseline, no block can claim it
    writeFileSync(base, committedBaseline);
    repo.git('add', '-A');
    repo.git('commit', '-q', '--no-verify', '-m', 'bypass the hook');
    writeFileSync(base, `${committedBaseline}import diesel\n${id} 1 - x\n`);
    const later = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(later.json.findings.map((f) => f.code)).toEqual([
      'baseline-grown',
      'lint-require-concurrent-index-creation',
    ]);
  });

  it('a shared baseline is never rewritten', async () => {
    repo.git('add', '-A');
    repo.git('commit', '-q', '-m', 'import');
    repo.git('checkout', '-q', 'main');
    repo.git('merge', '-q', '--ff-only', 'adopt-braid');
    repo.git('checkout', '-q', '-b', 'later');
    const base = join(repo.dir, '.migrations', 'baseline');
    writeFileSync(
      base,
      readFileSync(base, 'utf8').replace(/^(\d{14}_add_emails_table \S+ - ).*$/m, '$1renamed'),
    );
    const r = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.json.findings.map((f) => f.code)).toEqual(['baseline-changed']);
  });

  it('braid promote does not count the baseline against its lint policy (a fresh environment gets the history)', async () => {
    repo.write(
      'braid.json',
      JSON.stringify({
        environments: {
          prod: { urlEnv: 'PROD_DATABASE_URL', branch: 'main', policy: { lintBlocks: 'error' } },
        },
      }),
    );
    repo.commit('import and braid.json');
    repo.git('checkout', '-q', 'main');
    repo.git('merge', '-q', '--ff-only', 'adopt-braid');
    const db = await createTestDatabase({
      prefix: 'braid_import_promote',
      pglitePath: join(tempDir('braid-promote-'), 'db'),
    });
    try {
      const run = () =>
        runBraidJson<{ blockers?: { code: string; id?: string }[] }>(['promote', 'prod', '--dry-run'], {
          cwd: repo.dir,
          env: { PROD_DATABASE_URL: db.url },
        });
      const ok = await run();
      expect(ok.code).toBe(0);
      writeFileSync(join(repo.dir, '.migrations', 'baseline'), 'braid-baseline 1\n');
      repo.commit('no baseline');
      const blocked = await run();
      expect(blocked.code).toBe(1);
      expect(JSON.stringify(blocked.json)).toContain(HISTORIC_ERROR);
    } finally {
      await db.drop();
    }
  });

  it('import --append adds a block of its own; check still passes, committed or not', async () => {
    repo.commit('import diesel');
    const f = MIXED['flyway'];
    for (const [p, text] of Object.entries(f.files)) repo.write(`${f.dir}/${p}`, text);
    const imp = await runBraid(['import', '--from', 'flyway', f.dir, '--append'], { cwd: repo.dir });
    expect(imp.code).toBe(0);
    const text = readFileSync(join(repo.dir, '.migrations', 'baseline'), 'utf8');
    expect(text.match(/^import \S+$/gm)).toEqual(['import diesel', 'import flyway']);
    const check = await runBraidJson<CheckJson>(['check'], { cwd: repo.dir });
    expect(check.json.findings).toEqual([]);
    expect(check.json.baseline).toMatchObject({
      migrations: h.ids.length + f.ids.length,
      added: f.ids.length,
    });
    repo.commit('import flyway');
    expect((await runBraid(['check'], { cwd: repo.dir })).code).toBe(0);
  });
});
