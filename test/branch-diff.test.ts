/**
 * `braid diff` (text, json, md, --static, ranges) and `braid install` / `uninstall` through the
 * built CLI, in real repositories. Rebase and cherry-pick through the installed driver.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashMigration, parseManifest, serializeManifest } from '@braid/core';
import {
  buildScenario,
  gitRun,
  install,
  primaryEngine,
  shadowArgs,
  type Scenario,
} from './helpers/branching';
import { git, runBraid, runBraidJson, tempDir, wrapRepo } from './helpers/repo';

const BASE = ['create table users (id int primary key, name text);'];
const engine = primaryEngine();

const COMMUTING: Scenario = {
  base: BASE,
  ours: [['alter table users add column phone text;']],
  theirs: [['create table orders (id int, user_id int);']],
};
const COLLIDING: Scenario = {
  base: BASE,
  ours: [['alter table users add column nickname text;']],
  theirs: [['alter table users add column nickname int;']],
};

interface VerdictJson {
  verdict: string;
  static: boolean;
  labels: { base: string; ours: string; theirs: string };
  ours: { added: string[]; diffText?: string[] };
  theirs: { added: string[]; diffText?: string[] };
  collisions: { object: string; severity: string; reason: string }[];
  replays: { order: string; ok: boolean; error?: string }[];
  reasons: string[];
  shadow?: { engine: string; major: number };
  mergedOrder?: string[];
}

describe('braid diff', () => {
  test('commuting pair: safe, per-side schema diffs, both orders replayed, labelled with the engine', async () => {
    const b = buildScenario(COMMUTING);
    try {
      const r = await runBraidJson<VerdictJson>(['diff', 'main', 'feature', ...shadowArgs(engine)], {
        cwd: b.repo.dir,
      });
      expect(r.code).toBe(0);
      const v = r.json;
      expect(v.verdict).toBe('safe');
      expect(v.ours.added).toEqual(b.oursIds);
      expect(v.theirs.added).toEqual(b.theirsIds);
      expect(v.ours.diffText).toEqual(['~ table public.users', expect.stringMatching(/column phone: added/)]);
      expect(v.theirs.diffText).toEqual(['+ table public.orders']);
      expect(v.replays.map((x) => [x.order, x.ok])).toEqual([
        ['ours-then-theirs', true],
        ['theirs-then-ours', true],
      ]);
      expect(v.shadow!.engine).toBe(engine);
      expect(v.shadow!.major).toBeGreaterThanOrEqual(14);
      expect(v.mergedOrder).toEqual([...b.theirsIds, ...b.oursIds]);
      // text rendering
      const t = await runBraid(['diff', 'main...feature', ...shadowArgs(engine)], { cwd: b.repo.dir });
      expect(t.code).toBe(0);
      expect(t.stdout).toMatch(
        /verdict: SAFE \(replayed on (PGlite \(PostgreSQL \d+\)|PostgreSQL \d+ server)\)/,
      );
      expect(t.stdout).toMatch(/collisions: none/);
    } finally {
      b.repo.cleanup();
    }
  });

  test('colliding pair: exit 1, names the object, the failing orders and statements; md report', async () => {
    const b = buildScenario(COLLIDING);
    try {
      const r = await runBraidJson<VerdictJson>(['diff', 'main', 'feature', ...shadowArgs(engine)], {
        cwd: b.repo.dir,
      });
      expect(r.code).toBe(1);
      expect(r.json.verdict).toBe('conflict');
      expect(r.json.reasons.join('\n')).toMatch(/column public\.users\.nickname added on both sides/);
      expect(r.json.replays.every((x) => !x.ok)).toBe(true);
      expect(r.json.replays[0].error).toMatch(
        new RegExp(`${b.theirsIds[0]}/up\\.sql:1:1: column "nickname" of relation "users" already exists`),
      );
      const md = await runBraid(['diff', 'main...feature', '--format', 'md', ...shadowArgs(engine)], {
        cwd: b.repo.dir,
      });
      expect(md.code).toBe(1);
      expect(md.stdout).toMatch(/^# ❌ braid: CONFLICT/);
      expect(md.stdout).toMatch(/## Why it conflicts/);
      expect(md.stdout).toMatch(/## What to do/);
    } finally {
      b.repo.cleanup();
    }
  });

  test('--static: footprints and collisions only, never "safe", no shadow database touched', async () => {
    const b = buildScenario(COMMUTING);
    const c = buildScenario(COLLIDING);
    try {
      const r = await runBraidJson<VerdictJson>(['diff', 'main', 'feature', '--static'], { cwd: b.repo.dir });
      expect(r.code).toBe(0);
      expect(r.json.verdict).toBe('unproven');
      expect(r.json.static).toBe(true);
      expect(r.json.replays).toEqual([]);
      expect(existsSync(join(b.repo.dir, '.git', 'braid', 'shadow'))).toBe(false);
      const s = await runBraidJson<VerdictJson>(['diff', 'main...feature', '--static'], { cwd: c.repo.dir });
      expect(s.code).toBe(1);
      expect(s.json.collisions[0]).toEqual(
        expect.objectContaining({ object: 'column public.users.nickname', severity: 'conflict' }),
      );
      expect(existsSync(join(c.repo.dir, '.git', 'braid', 'shadow'))).toBe(false);
    } finally {
      b.repo.cleanup();
      c.repo.cleanup();
    }
  });

  test('bad input: unknown ref and a lone ref are usage errors (exit 2) naming them', async () => {
    const b = buildScenario(COMMUTING);
    try {
      const r = await runBraid(['diff', 'main', 'nope', '--static'], { cwd: b.repo.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/unknown git ref "nope"/);
      const l = await runBraid(['diff', 'main', '--static'], { cwd: b.repo.dir });
      expect(l.code).toBe(2);
      expect(l.stderr).toMatch(/give two refs/);
    } finally {
      b.repo.cleanup();
    }
  });

  test('an edited base migration on one side is a conflict naming it', async () => {
    const b = buildScenario(COMMUTING);
    try {
      git(b.repo.dir, ['checkout', '-q', 'feature']);
      b.repo.write(
        `.migrations/${b.baseIds[0]}/up.sql`,
        'create table users (id bigint primary key, name text);\n',
      );
      // (braid hash refuses: the migration is on main, protected) so rewrite the manifest by hand
      const mf = join(b.repo.dir, '.migrations', 'manifest');
      const parsed = parseManifest(readFileSync(mf, 'utf8')).manifest;
      parsed.entries[0].hash = hashMigration({
        up: 'create table users (id bigint primary key, name text);\n',
        down: 'select 1;\n',
      });
      writeFileSync(mf, serializeManifest(parsed));
      b.repo.commit('edit base');
      git(b.repo.dir, ['checkout', '-q', 'main']);
      const r = await runBraidJson<VerdictJson>(['diff', 'main', 'feature', '--static'], { cwd: b.repo.dir });
      expect(r.code).toBe(1);
      expect(r.json.reasons.join('\n')).toMatch(
        new RegExp(`manifest: ${b.baseIds[0]} existed at the merge base and was edited by theirs`),
      );
    } finally {
      b.repo.cleanup();
    }
  });
});

test('in a shallow clone without the merge base: exit 3 saying how to deepen', async () => {
  const b = buildScenario(COMMUTING);
  const parent = tempDir();
  try {
    const clone = join(parent, 'clone');
    git(parent, ['clone', '-q', '--depth', '1', '--no-single-branch', `file://${b.repo.dir}`, clone]);
    const r = await runBraid(['diff', 'origin/main', 'origin/feature', '--static'], { cwd: clone });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /no merge base .* shallow clone: fetch more history with `git fetch --deepen=N`/,
    );
    git(clone, ['fetch', '-q', '--unshallow']);
    const ok = await runBraid(['diff', 'origin/main', 'origin/feature', '--static'], { cwd: clone });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/verdict: UNPROVEN \(static analysis only\)/);
  } finally {
    b.repo.cleanup();
    wrapRepo(parent).cleanup();
  }
});

describe('braid install / uninstall', () => {
  test('installs the driver and hooks, chains an existing hook, and uninstall restores exactly', async () => {
    const b = buildScenario(COMMUTING);
    try {
      const hooks = join(b.repo.dir, '.git', 'hooks');
      mkdirSync(hooks, { recursive: true });
      const mine = '#!/bin/sh\necho my-own-pre-commit >&2\n';
      writeFileSync(join(hooks, 'pre-commit'), mine);
      chmodSync(join(hooks, 'pre-commit'), 0o755);
      writeFileSync(join(b.repo.dir, '.gitattributes'), '*.png binary\n');
      git(b.repo.dir, ['config', 'merge.braid.name', 'something else']);
      const configBefore = readFileSync(join(b.repo.dir, '.git', 'config'), 'utf8');

      const r = await runBraid(['install'], { cwd: b.repo.dir });
      expect(r.code).toBe(0);
      expect(readFileSync(join(b.repo.dir, '.gitattributes'), 'utf8')).toBe(
        '*.png binary\n.migrations/manifest merge=braid\n',
      );
      const driver = git(b.repo.dir, ['config', 'merge.braid.driver']).trim();
      expect(driver).toMatch(
        /^BRAID_EXTRA_CA_CERTS="\$\{NODE_EXTRA_CA_CERTS-\}" NODE_EXTRA_CA_CERTS= '.*node[^']*' '--liftoff-only' '--min-semi-space-size=16' '.*braid\.js' merge-driver %O %A %B %P$/,
      );
      expect(readFileSync(join(hooks, 'pre-commit.pre-braid'), 'utf8')).toBe(mine);
      expect(readFileSync(join(hooks, 'pre-commit'), 'utf8')).toMatch(/braid-hook/);
      for (const h of ['pre-merge-commit', 'post-checkout']) expect(existsSync(join(hooks, h))).toBe(true);
      // idempotent
      expect((await runBraid(['install'], { cwd: b.repo.dir })).code).toBe(0);
      expect(existsSync(join(hooks, 'pre-commit.pre-braid.pre-braid'))).toBe(false);

      // the pre-commit hook runs braid check and the chained hook
      b.repo.write('x.txt', 'x\n');
      git(b.repo.dir, ['add', 'x.txt']);
      const c = gitRun(b.repo.dir, ['commit', '-m', 'x']);
      expect(c.code).toBe(0);
      b.repo.write('.migrations/manifest', 'garbage\n');
      git(b.repo.dir, ['add', '.migrations/manifest']);
      const bad = gitRun(b.repo.dir, ['commit', '-m', 'bad manifest']);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/my-own-pre-commit/);
      git(b.repo.dir, ['checkout', 'HEAD', '--', '.migrations/manifest']);

      const u = await runBraid(['uninstall'], { cwd: b.repo.dir });
      expect(u.code).toBe(0);
      expect(readFileSync(join(b.repo.dir, '.gitattributes'), 'utf8')).toBe('*.png binary\n');
      expect(readFileSync(join(hooks, 'pre-commit'), 'utf8')).toBe(mine);
      expect(existsSync(join(hooks, 'pre-commit.pre-braid'))).toBe(false);
      expect(existsSync(join(hooks, 'pre-merge-commit'))).toBe(false);
      expect(existsSync(join(hooks, 'post-checkout'))).toBe(false);
      expect(readFileSync(join(b.repo.dir, '.git', 'config'), 'utf8')).toBe(configBefore);
    } finally {
      b.repo.cleanup();
    }
  });

  test('core.hooksPath is respected; husky is left alone with instructions', async () => {
    const b = buildScenario(COMMUTING);
    try {
      git(b.repo.dir, ['config', 'core.hooksPath', 'githooks']);
      expect((await runBraid(['install'], { cwd: b.repo.dir })).code).toBe(0);
      expect(readFileSync(join(b.repo.dir, 'githooks', 'pre-commit'), 'utf8')).toMatch(/braid-hook/);
      expect(existsSync(join(b.repo.dir, '.git', 'hooks', 'pre-commit'))).toBe(false);
      expect((await runBraid(['uninstall'], { cwd: b.repo.dir })).code).toBe(0);
      expect(existsSync(join(b.repo.dir, 'githooks', 'pre-commit'))).toBe(false);
      expect(existsSync(join(b.repo.dir, '.gitattributes'))).toBe(false);

      mkdirSync(join(b.repo.dir, '.husky'), { recursive: true });
      writeFileSync(join(b.repo.dir, '.husky', 'pre-commit'), 'npm test\n');
      git(b.repo.dir, ['config', 'core.hooksPath', '.husky']);
      const r = await runBraid(['install'], { cwd: b.repo.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/husky manages the hooks.*add `npx braid check` to \.husky\/pre-commit/);
      expect(readFileSync(join(b.repo.dir, '.husky', 'pre-commit'), 'utf8')).toBe('npm test\n');
    } finally {
      b.repo.cleanup();
    }
  });
});

describe('the driver in rebase, cherry-pick and worktree checkouts', () => {
  test('git rebase of a commuting branch goes through the driver', async () => {
    const b = buildScenario(COMMUTING);
    try {
      await install(b.repo, engine);
      git(b.repo.dir, ['checkout', '-q', 'feature']);
      const r = gitRun(b.repo.dir, ['rebase', 'main']);
      expect(`${r.stdout}${r.stderr}\nexit ${r.code}`).toMatch(/\nexit 0$/);
      expect((await runBraid(['check'], { cwd: b.repo.dir })).code).toBe(0);
      const ids = readFileSync(join(b.repo.dir, '.migrations', 'manifest'), 'utf8');
      for (const id of [...b.oursIds, ...b.theirsIds]) expect(ids).toContain(id);
    } finally {
      b.repo.cleanup();
    }
  });

  test('the pre-merge-commit hook refuses a colliding merge that bypassed the driver', async () => {
    const b = buildScenario(COLLIDING);
    try {
      await install(b.repo, engine);
      // a driver that blindly keeps ours: git would commit the merge, the hook must stop it
      const r = gitRun(b.repo.dir, ['-c', 'merge.braid.driver=true', 'merge', '--no-edit', 'feature']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/the merge being committed does not commute/);
      expect(r.stdout + r.stderr).toMatch(/column public\.users\.nickname added on both sides/);
      expect(gitRun(b.repo.dir, ['rev-parse', '-q', '--verify', 'HEAD^2']).code).not.toBe(0);
    } finally {
      b.repo.cleanup();
    }
  });

  test('git cherry-pick of a colliding commit stops with the report', async () => {
    const b = buildScenario(COLLIDING);
    try {
      await install(b.repo, engine);
      const r = gitRun(b.repo.dir, ['cherry-pick', 'feature']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/column public\.users\.nickname added on both sides/);
      expect(existsSync(join(b.repo.dir, '.git', 'braid', 'conflict-main.md'))).toBe(true);
    } finally {
      b.repo.cleanup();
    }
  });

  test('git pull of a commuting branch from another clone (no network) goes through the driver', async () => {
    const b = buildScenario(COMMUTING);
    const parent = tempDir();
    try {
      const clone = join(parent, 'clone');
      git(parent, ['clone', '-q', b.repo.dir, clone]);
      git(clone, ['config', 'user.name', 'Test Author']);
      git(clone, ['config', 'user.email', 'author@example.com']);
      await install(wrapRepo(clone, []), engine);
      const r = gitRun(clone, ['pull', '--no-rebase', '--no-edit', 'origin', 'feature']);
      expect(`${r.stdout}${r.stderr}\nexit ${r.code}`).toMatch(/\nexit 0$/);
      expect(gitRun(clone, ['rev-parse', '-q', '--verify', 'HEAD^2']).code).toBe(0);
      expect((await runBraid(['check'], { cwd: clone })).code).toBe(0);
    } finally {
      b.repo.cleanup();
      wrapRepo(parent).cleanup();
    }
  });

  test('inside a git worktree checkout: merge with the driver', async () => {
    const b = buildScenario(COMMUTING);
    const parent = tempDir();
    try {
      await install(b.repo, engine);
      const wt = join(parent, 'wt');
      git(b.repo.dir, ['worktree', 'add', '-q', '-b', 'wt-branch', wt, 'main']);
      const r = gitRun(wt, ['merge', '--no-edit', 'feature']);
      expect(`${r.stdout}${r.stderr}\nexit ${r.code}`).toMatch(/\nexit 0$/);
      expect((await runBraid(['check'], { cwd: wt })).code).toBe(0);
    } finally {
      b.repo.cleanup();
      wrapRepo(parent).cleanup();
    }
  });
});
