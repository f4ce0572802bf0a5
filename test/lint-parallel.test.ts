/**
 * `braid lint` on worker threads (packages/cli/src/lint-run.ts): the same findings, text and
 * errors as a lint on one thread, whichever thread lints which chunk. The knobs force the
 * split: BRAID_LINT_CHUNK=3 cuts the history into chunks of three migrations and
 * BRAID_LINT_MAIN_CHUNKS=1 leaves all but the first chunk to the worker, so that nearly every
 * cross-migration question (column types, tables new on the branch) crosses a chunk boundary.
 */
import { rmSync } from 'node:fs';
import { addMigrations, makeProject, type MigSpec } from './helpers/cli';
import { git, runBraid } from './helpers/repo';

const ONE_THREAD = { BRAID_LINT_WORKERS: '0' };
const WORKER = { BRAID_LINT_WORKERS: '1', BRAID_LINT_CHUNK: '3', BRAID_LINT_MAIN_CHUNKS: '1' };

/** Tables created early and altered much later: the ALTER TYPE verdicts need the early types. */
function history(n: number): MigSpec[] {
  const migs: MigSpec[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 5) {
      case 0:
        migs.push({
          slug: `t${i}`,
          up: `CREATE TABLE t${i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, c varchar(10), n int);`,
          down: `DROP TABLE t${i};`,
        });
        break;
      case 1: // binary-compatible only when varchar(10) is known: a finding iff the type is unknown
        migs.push({
          slug: `widen${i}`,
          up: `SET lock_timeout = '1s';\nALTER TABLE t${i - 1} ALTER COLUMN c TYPE varchar(20);`,
          down: `SET lock_timeout = '1s';\nALTER TABLE t${i - 1} ALTER COLUMN c TYPE varchar(10);`,
        });
        break;
      case 2:
        migs.push({
          slug: `idx${i}`,
          up: `CREATE INDEX t${i - 2}_n ON t${i - 2} (n);\n-- braid:ignore require-lock-timeout owned by the batch job\nALTER TABLE t${i - 2} ADD COLUMN note text;`,
          down: `DROP INDEX t${i - 2}_n;\nALTER TABLE t${i - 2} DROP COLUMN note;`,
        });
        break;
      case 3: // far back: a table created three chunks earlier
        migs.push({
          slug: `far${i}`,
          up: `SET lock_timeout = '1s';\nALTER TABLE t${Math.max(0, i - 13 - ((i - 13) % 5))} ALTER COLUMN c TYPE varchar(30);\nALTER TABLE t${i - 3} ALTER COLUMN n TYPE bigint;`,
          down: 'SELECT 1;',
        });
        break;
      default:
        migs.push({ slug: `rename${i}`, up: `ALTER TABLE t${i - 4} RENAME COLUMN n TO n${i};`, down: '' });
    }
  }
  return migs;
}

interface LintDoc {
  findings: Array<Record<string, unknown>>;
  stats: { workers: number; prestarted: number; mainChunks: number; workerChunks: number; relinted: number };
}

async function lintJson(dir: string, env: Record<string, string>, args: string[] = []) {
  const r = await runBraid(['lint', '--json', '--fail-on', 'none', ...args], { cwd: dir, env });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as LintDoc;
}

describe('braid lint on worker threads', () => {
  test('JSON and text: exactly the findings of one thread', async () => {
    const p = makeProject(history(40));
    const one = await lintJson(p.repo.dir, ONE_THREAD);
    const par = await lintJson(p.repo.dir, WORKER);
    expect(one.stats).toMatchObject({ workers: 0, workerChunks: 0 });
    expect(par.stats).toMatchObject({ workers: 1, prestarted: 1 });
    expect(par.stats.workerChunks).toBeGreaterThan(5);
    // speculation was wrong somewhere (a type declared in an earlier chunk) and mended
    expect(par.stats.relinted).toBeGreaterThan(0);
    expect(one.findings.length).toBeGreaterThan(20);
    expect(par.findings).toEqual(one.findings);
    // `braid lint` first boots its workers before the CLI loads (bin/early.js); with an option
    // before the command, the lint starts them itself: the same findings either way
    const late = await runBraid(['--json', 'lint', '--fail-on', 'none'], { cwd: p.repo.dir, env: WORKER });
    const lateDoc = JSON.parse(late.stdout) as LintDoc;
    expect(lateDoc.stats).toMatchObject({ workers: 1, prestarted: 0 });
    expect(lateDoc.stats.workerChunks).toBeGreaterThan(5);
    expect(lateDoc.findings).toEqual(one.findings);
    // the early varchar(10) is known: widening it is no rewrite, whichever thread linted it
    expect(one.findings.filter((f) => f['rule'] === 'column-type-change' && f['line'] === 2).length).toBe(0);

    const text1 = await runBraid(['lint', '--fail-on', 'none'], { cwd: p.repo.dir, env: ONE_THREAD });
    const textN = await runBraid(['lint', '--fail-on', 'none'], { cwd: p.repo.dir, env: WORKER });
    expect(textN.stdout).toBe(text1.stdout);
    expect(textN.stdout).toContain('^'); // source lines of the worker's files came back
  });

  test('--since: tables new on the branch stay new across chunks', async () => {
    const p = makeProject(history(10));
    git(p.repo.dir, ['branch', 'protected']);
    addMigrations(p, history(30).slice(10));
    const one = await lintJson(p.repo.dir, ONE_THREAD, ['--since', 'protected']);
    const par = await lintJson(p.repo.dir, WORKER, ['--since', 'protected']);
    expect(par.stats.workerChunks).toBeGreaterThan(0);
    expect(par.findings).toEqual(one.findings);
    expect(one.findings.every((f) => !p.ids.slice(0, 10).includes(String(f['migration'])))).toBe(true);
  });

  test('a missing folder: the same error as one thread, the earliest one first', async () => {
    const p = makeProject(history(30));
    rmSync(`${p.repo.dir}/.migrations/${p.ids[25]}`, { recursive: true });
    const one = await runBraid(['lint'], { cwd: p.repo.dir, env: ONE_THREAD });
    const par = await runBraid(['lint'], { cwd: p.repo.dir, env: WORKER });
    expect(one.code).toBe(2);
    expect(par.code).toBe(2);
    expect(one.stderr).toContain(`.migrations/${p.ids[25]}/ does not exist`);
    expect(par.stderr).toBe(one.stderr);
    expect(par.stdout).toBe('');

    // a second, earlier one (in a chunk the worker lints after the later one): still the earlier
    rmSync(`${p.repo.dir}/.migrations/${p.ids[7]}/up.sql`);
    const one2 = await runBraid(['lint'], { cwd: p.repo.dir, env: ONE_THREAD });
    const par2 = await runBraid(['lint'], { cwd: p.repo.dir, env: WORKER });
    expect(one2.stderr).toContain(`.migrations/${p.ids[7]}/up.sql does not exist`);
    expect(par2.stderr).toBe(one2.stderr);
    expect(par2.code).toBe(2);
  });

  test('a bad worker setting is a usage error naming the variable', async () => {
    const p = makeProject(history(3));
    const r = await runBraid(['lint'], { cwd: p.repo.dir, env: { BRAID_LINT_WORKERS: 'many' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BRAID_LINT_WORKERS=many');
  });
});
