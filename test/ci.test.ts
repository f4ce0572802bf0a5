/**
 * `braid ci --base <ref>` on a checked-out pull-request branch: the markdown report (stdout or
 * --report FILE), GitHub Actions annotations when GITHUB_ACTIONS is set, exit 1 on conflict.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildScenario, primaryEngine, shadowArgs, type Built } from './helpers/branching';
import { git, runBraid } from './helpers/repo';

const BASE = [`create table users (id int primary key, name text);`];

let safe: Built;
let conflict: Built;
beforeAll(() => {
  safe = buildScenario({
    base: BASE,
    ours: [[{ up: 'create table a (id int);', down: 'drop table a;' }]],
    theirs: [[{ up: 'create table b (id int);', down: 'drop table b;' }]],
  });
  conflict = buildScenario({
    base: BASE,
    ours: [['alter table users add column nickname text;']],
    theirs: [['select 1;', "set lock_timeout = '1s';\nalter table users add column nickname int not null;"]],
  });
  // CI checks out the pull request's branch.
  git(safe.repo.dir, ['checkout', '-q', 'feature']);
  git(conflict.repo.dir, ['checkout', '-q', 'feature']);
});
afterAll(() => {
  safe?.repo.cleanup();
  conflict?.repo.cleanup();
});

describe('braid ci', () => {
  test('safe pull request: markdown report on stdout, no annotations outside GitHub, exit 0', async () => {
    const r = await runBraid(['ci', '--base', 'main', ...shadowArgs(primaryEngine())], {
      cwd: safe.repo.dir,
      env: { GITHUB_ACTIONS: undefined },
    });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^# ✅ braid: SAFE/);
    expect(r.stdout).toContain('Merge of **HEAD** into **main**');
    expect(r.stdout).not.toContain('::error');
  });

  test('conflicting pull request: annotations at the branch statement, report file, exit 1', async () => {
    const file = join(conflict.repo.dir, 'braid-report.md');
    const r = await runBraid(
      ['ci', '--base', 'main', '--report', 'braid-report.md', ...shadowArgs(primaryEngine())],
      { cwd: conflict.repo.dir, env: { GITHUB_ACTIONS: 'true' } },
    );
    expect(r.code).toBe(1);
    const theirs = conflict.theirsIds[1];
    expect(r.stdout).toContain(
      `::error file=.migrations/${theirs}/up.sql,line=2::braid: column public.users.nickname added on both sides`,
    );
    // The lint error of the branch's migration is annotated too.
    expect(r.stdout).toContain(
      `::error file=.migrations/${theirs}/up.sql,line=2::add-column-not-null-no-default`,
    );
    expect(r.stdout).toContain('braid ci: verdict conflict');
    const md = readFileSync(file, 'utf8');
    expect(md.split('\n')[0]).toMatch(/^# ❌ braid: CONFLICT/);
    expect(md).toContain('## Why it conflicts');
    expect(md).toContain('```mermaid');
  });

  test('--json: one document with the verdict and the model; no annotations mixed in', async () => {
    const r = await runBraid(['ci', '--base', 'main', '--static', '--json'], {
      cwd: conflict.repo.dir,
      env: { GITHUB_ACTIONS: 'true' },
    });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { verdict: string; report: { dag: unknown[] } };
    expect(doc.verdict).toBe('conflict');
    expect(doc.report.dag).toHaveLength(4);
  });
});
