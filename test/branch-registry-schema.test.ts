/**
 * Projects whose migrations use the schema `braid` (braid's own repository: its migrations are
 * braid's registry). The shadow cannot hold braid's registry there too, so such histories are
 * replayed without it and the `braid` schema is part of their model: `braid check --schema`,
 * `braid diff` and the merge driver see those objects.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildScenario, shadowArgs, primaryEngine } from './helpers/branching';
import { createGitRepo, git, REPO_ROOT, runBraid, runBraidJson } from './helpers/repo';

const engine = primaryEngine();

test("braid's own repository: braid check --schema passes, and finds drift in schema/", async () => {
  const repo = createGitRepo();
  try {
    cpSync(join(REPO_ROOT, '.migrations'), join(repo.dir, '.migrations'), { recursive: true });
    cpSync(join(REPO_ROOT, 'schema'), join(repo.dir, 'schema'), { recursive: true });
    git(repo.dir, ['add', '-A']);
    git(repo.dir, ['commit', '-q', '--no-verify', '-m', 'braid']);
    const ok = await runBraid(['check', '--schema', ...shadowArgs(engine)], { cwd: repo.dir });
    expect({ code: ok.code, out: ok.stdout, err: ok.stderr }).toEqual({
      code: 0,
      out: expect.stringMatching(/^ok:/),
      err: '',
    });
    const declared = readFileSync(join(repo.dir, 'schema', 'registry.sql'), 'utf8');
    repo.write(
      'schema/registry.sql',
      declared.replace(
        'create table braid.registry_migrations (',
        'create table braid.registry_migrations (\n  extra int,',
      ),
    );
    const drift = await runBraid(['check', '--schema', ...shadowArgs(engine)], { cwd: repo.dir });
    expect(drift.code).toBe(1);
    expect(drift.stdout + drift.stderr).toMatch(/table braid\.registry_migrations differs: columns\.extra/);
  } finally {
    repo.cleanup();
  }
});

interface VerdictJson {
  verdict: string;
  ours: { diffText?: string[] };
  theirs: { diffText?: string[] };
  reasons: string[];
}

test('a project with its own schema named braid: diff sees its objects, and a collision in it is a conflict', async () => {
  const b = buildScenario({
    base: [`create schema braid;\ncreate table braid.things (id int primary key, name text);`],
    ours: [["alter table braid.things alter column name set default 'a';"]],
    theirs: [['create table braid.others (id int);']],
  });
  try {
    const r = await runBraidJson<VerdictJson>(['diff', 'main', 'feature', ...shadowArgs(engine)], {
      cwd: b.repo.dir,
    });
    expect(r.code).toBe(0);
    expect(r.json.verdict).toBe('safe');
    expect(r.json.ours.diffText?.[0]).toBe('~ table braid.things');
    expect(r.json.theirs.diffText).toEqual(['+ table braid.others']);
  } finally {
    b.repo.cleanup();
  }
  // The replay (not only the static footprints) sees both sides changing one table in braid.
  const c = buildScenario({
    base: [`create schema braid;\ncreate table braid.things (id int primary key, name text);`],
    ours: [["alter table braid.things alter column name set default 'a';"]],
    theirs: [["do $$ begin execute 'alter table braid.things alter column name set default ''b'''; end $$;"]],
  });
  try {
    const r = await runBraidJson<VerdictJson>(['diff', 'main', 'feature', ...shadowArgs(engine)], {
      cwd: c.repo.dir,
    });
    expect(r.code).toBe(1);
    expect(r.json.reasons.join('\n')).toMatch(/table braid\.things: .*changed on both sides \(object diff\)/);
  } finally {
    c.repo.cleanup();
  }
});

test('braid up on a target: a migration that clashes with the registry fails with a note naming the reserved schema', async () => {
  const b = buildScenario({
    base: [
      'create schema if not exists braid;\ncreate table braid.registry_migrations (id text primary key);',
    ],
    ours: [],
    theirs: [],
  });
  try {
    const r = await runBraid(['up'], { cwd: b.repo.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${b.baseIds[0]}/up.sql:2:1: relation "registry_migrations" already exists`);
    expect(r.stderr).toMatch(/braid: the schema "braid" is reserved: it holds braid's registry/);
    // A failure that has nothing to do with it gets no such note.
    const c = buildScenario({
      base: ['create table t (id int);\ncreate table t (id int);'],
      ours: [],
      theirs: [],
    });
    try {
      const r2 = await runBraid(['up'], { cwd: c.repo.dir });
      expect(r2.code).toBe(1);
      expect(r2.stderr).not.toMatch(/reserved/);
    } finally {
      c.repo.cleanup();
    }
  } finally {
    b.repo.cleanup();
  }
});
