/**
 * Helpers for the apply-engine end-to-end tests: a temp git repository holding a braid project
 * with given migrations (manifest written with core's serializer), and the databases to run
 * against — the server (BRAID_TEST_DATABASE_URL, a fresh database per call) and the embedded
 * PGlite database (no --db: braid's default, persisted in the repository's git directory).
 */
import path from 'node:path';
import { hashMigration, serializeManifest, type ManifestEntry } from '@braid/core';
import { openExecutor, type Executor } from '@braid/pg';
import { createTestDatabase, serverUrl } from './db';
import { createGitRepo, writeMigration, type TempRepo } from './repo';

export interface MigSpec {
  slug: string;
  up: string;
  down?: string;
  verify?: string;
}

export interface Project {
  repo: TempRepo;
  ids: string[];
  entries: ManifestEntry[];
}

let seq = 0;
function nextId(slug: string): string {
  seq++;
  return `2026010110${String(Math.floor(seq / 60) % 60).padStart(2, '0')}${String(seq % 60).padStart(2, '0')}_${slug}`;
}

function filesOf(m: MigSpec): { up: string; down?: string; verify?: string } {
  return {
    up: m.up,
    ...(m.down === undefined ? {} : { down: m.down }),
    ...(m.verify === undefined ? {} : { verify: m.verify }),
  };
}

/** Adds migrations to the project (files + manifest) and commits. */
export function addMigrations(p: Project, migs: MigSpec[]): string[] {
  const added: string[] = [];
  for (const m of migs) {
    const id = nextId(m.slug);
    writeMigration(p.repo, id, filesOf(m));
    const parents = p.ids.length > 0 ? [p.ids[p.ids.length - 1]] : [];
    p.entries.push({ id, hash: hashMigration(filesOf(m)), parents });
    p.ids.push(id);
    added.push(id);
  }
  p.repo.write('.migrations/manifest', serializeManifest({ entries: p.entries }));
  p.repo.commit(`add ${added.join(', ')}`);
  return added;
}

export function makeProject(migs: MigSpec[]): Project {
  const repo = createGitRepo();
  const p: Project = { repo, ids: [], entries: [] };
  repo.write('.migrations/manifest', serializeManifest({ entries: [] }));
  if (migs.length > 0) addMigrations(p, migs);
  else repo.commit('init');
  return p;
}

/** Rewrites a migration's file (without rehashing the manifest: an edit after apply). */
export function editFile(p: Project, id: string, file: string, text: string): void {
  p.repo.write(path.join('.migrations', id, file), text);
}

export interface TargetDb {
  engine: 'postgres' | 'pglite';
  /** Arguments that select it (none for the embedded database). */
  args: string[];
  /** Opens a direct session to inspect it (close it before running braid on PGlite). */
  open(): Promise<Executor>;
  drop(): Promise<void>;
}

/** The engines every apply test runs on: the server when configured, and always PGlite. */
export function engines(): ('postgres' | 'pglite')[] {
  return serverUrl() ? ['postgres', 'pglite'] : ['pglite'];
}

export async function targetDb(engine: 'postgres' | 'pglite', p: Project): Promise<TargetDb> {
  if (engine === 'pglite') {
    const dir = path.join(p.repo.dir, '.git', 'braid', 'pglite');
    return {
      engine,
      args: [],
      open: () => openExecutor(`pglite:${dir}`),
      drop: async () => {},
    };
  }
  const db = await createTestDatabase({ prefix: 'braid_apply' });
  return { engine, args: ['--db', db.url], open: () => openExecutor(db.url), drop: () => db.drop() };
}

/** Runs fn on a direct session to the target, closing it afterwards. */
export async function inspect<T>(t: TargetDb, fn: (ex: Executor) => Promise<T>): Promise<T> {
  const ex = await t.open();
  try {
    return await fn(ex);
  } finally {
    await ex.close();
  }
}

export async function tableExists(t: TargetDb, name: string): Promise<boolean> {
  return inspect(t, async (ex) => {
    const r = await ex.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [name]);
    return Boolean(r.rows[0]?.ok);
  });
}
