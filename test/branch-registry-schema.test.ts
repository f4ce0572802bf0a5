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

test('braid up on a target refuses, before applying anything, pending migrations that put objects in schema braid', async () => {
  const b = buildScenario({
    base: [
      'create table kept (id int);',
      '-- copies braid.history into the table below\ncreate table braid.notes (id int);\ninsert into braid.notes values (1);',
    ],
    ours: [],
    theirs: [],
  });
  try {
    const r = await runBraid(['up'], { cwd: b.repo.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused, nothing applied: the schema "braid" is reserved');
    expect(r.stderr).toContain(`.migrations/${b.baseIds[1]}/up.sql:2: creates braid.notes`);
    expect(r.stderr).toContain(`.migrations/${b.baseIds[1]}/up.sql:3: writes braid.notes`);
    const status = await runBraidJson<{ pending: { id: string }[] }>(['status'], { cwd: b.repo.dir });
    expect(status.json.pending.map((p) => p.id)).toEqual(b.baseIds); // not even the first one was applied
    const dry = await runBraid(['up', '--dry-run'], { cwd: b.repo.dir });
    expect(dry.code).toBe(1);
    expect(dry.stderr).toContain('refused, nothing applied');

    // Naming the schema in a comment or a string, or reading braid's registry, is no use of it.
    const c = buildScenario({
      base: [
        "-- see braid.history for who applied what\ncreate table t (note text default 'braid.x', schema_name text default 'schema braid');",
        'create view applied_count as select count(*) as n from braid.applied;',
      ],
      ours: [],
      theirs: [],
    });
    try {
      const r2 = await runBraid(['up'], { cwd: c.repo.dir });
      expect(r2.stderr).not.toMatch(/reserved/);
      expect(r2.code).toBe(0);
    } finally {
      c.repo.cleanup();
    }
  } finally {
    b.repo.cleanup();
  }
});
