/**
 * Branch scenarios for the verdict and merge-driver tests: a real git repository with a base
 * history on `main`, then `theirs` commits on branch `feature` and `ours` commits on `main`
 * (each commit a list of migrations, written with core's serializer), the driver installed by
 * `braid install`, and `git merge feature` run for real.
 */
import { hashMigration, serializeManifest, type ManifestEntry } from '@braid/core';
import { serverUrl } from './db';
import { createGitRepo, git, runBraid, writeMigration, type BraidResult, type TempRepo } from './repo';

/** A migration: its up.sql (down.sql is a no-op unless given). */
export type Mig = string | { up: string; down?: string };
/** One commit: its migrations. */
export type Commit = Mig[];

export interface Scenario {
  base: Mig[];
  ours: Commit[];
  theirs: Commit[];
}

export interface Built {
  repo: TempRepo;
  baseIds: string[];
  oursIds: string[];
  theirsIds: string[];
}

let seq = 0;
/** Ids in creation order; the minute part keeps them unique across scenarios in one process. */
function nextId(slug: string): string {
  seq++;
  const hh = String(10 + Math.floor(seq / 3600)).padStart(2, '0');
  const mm = String(Math.floor(seq / 60) % 60).padStart(2, '0');
  const ss = String(seq % 60).padStart(2, '0');
  return `20261125${hh}${mm}${ss}_${slug}`;
}

function files(m: Mig): { up: string; down: string } {
  return typeof m === 'string' ? { up: m, down: 'select 1;\n' } : { up: m.up, down: m.down ?? 'select 1;\n' };
}

function addCommit(repo: TempRepo, entries: ManifestEntry[], migs: Mig[], slug: string): string[] {
  const ids: string[] = [];
  for (const m of migs) {
    const id = nextId(slug);
    const f = files(m);
    writeMigration(repo, id, f);
    const last = entries[entries.length - 1];
    entries.push({ id, hash: hashMigration(f), parents: last ? [last.id] : [] });
    ids.push(id);
  }
  repo.write('.migrations/manifest', serializeManifest({ entries }));
  repo.commit(`${slug}: ${ids.join(', ')}`);
  return ids;
}

/**
 * Builds the scenario. Theirs is written first (so its ids are older: the merged manifest lists
 * theirs' new migrations before ours'), unless `oursFirst`.
 */
export function buildScenario(s: Scenario, opts: { oursFirst?: boolean } = {}): Built {
  const repo = createGitRepo();
  const base: ManifestEntry[] = [];
  const baseIds = s.base.length > 0 ? addCommit(repo, base, s.base, 'base') : [];
  if (s.base.length === 0) {
    repo.write('.migrations/manifest', serializeManifest({ entries: [] }));
    repo.commit('init');
  }
  const oursEntries = [...base];
  const theirsEntries = [...base];
  const oursIds: string[] = [];
  const theirsIds: string[] = [];
  const doTheirs = () => {
    git(repo.dir, ['checkout', '-q', '-b', 'feature']);
    for (const c of s.theirs) theirsIds.push(...addCommit(repo, theirsEntries, c, 'theirs'));
    git(repo.dir, ['checkout', '-q', 'main']);
  };
  const doOurs = () => {
    for (const c of s.ours) oursIds.push(...addCommit(repo, oursEntries, c, 'ours'));
  };
  if (opts.oursFirst) {
    git(repo.dir, ['branch', 'feature']);
    doOurs();
    git(repo.dir, ['checkout', '-q', 'feature']);
    for (const c of s.theirs) theirsIds.push(...addCommit(repo, theirsEntries, c, 'theirs'));
    git(repo.dir, ['checkout', '-q', 'main']);
  } else {
    doTheirs();
    doOurs();
  }
  return { repo, baseIds, oursIds, theirsIds };
}

/** Shadow arguments for the engine under test. */
export function shadowArgs(engine: 'pglite' | 'postgres'): string[] {
  const url = serverUrl();
  return engine === 'postgres' && url ? ['--shadow-db', url] : [];
}

/** The engine most tests replay on: the server when configured (fast), else PGlite. */
export function primaryEngine(): 'pglite' | 'postgres' {
  return serverUrl() ? 'postgres' : 'pglite';
}

/** `braid install` (driver + hooks) with the engine's shadow. */
export async function install(repo: TempRepo, engine: 'pglite' | 'postgres'): Promise<BraidResult> {
  const r = await runBraid(['install', ...shadowArgs(engine)], { cwd: repo.dir });
  if (r.code !== 0) throw new Error(`braid install failed: ${r.stdout}\n${r.stderr}`);
  git(repo.dir, ['add', '.gitattributes']);
  git(repo.dir, ['commit', '-q', '--no-verify', '-m', 'braid install']);
  return r;
}

/** Runs git (never throws): the code and both streams. */
export function gitRun(cwd: string, args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = git(cwd, args);
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? 1, stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? '') };
  }
}
