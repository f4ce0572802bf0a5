import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { acquireFileLock, openExecutor, PGLITE_CONTRIB, snapshotPath } from '@braid/pg';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'braid-pglite-'));
}

describe('PGlite', () => {
  it('starts new clusters from a cached initdb snapshot keyed by the PGlite version', async () => {
    const cache = tmp();
    const before = process.env['BRAID_CACHE_DIR'];
    process.env['BRAID_CACHE_DIR'] = cache;
    try {
      expect(snapshotPath()).toMatch(/pglite-0\.5\.16-initdb\.tar$/);
      expect(fs.existsSync(snapshotPath())).toBe(false);
      const a = await openExecutor('pglite:memory');
      await a.close();
      expect(fs.statSync(snapshotPath()).size).toBeGreaterThan(1_000_000);
      const dir = path.join(cache, 'db');
      const b = await openExecutor(`pglite:${dir}`);
      await b.exec('create table kept (a int)');
      await b.close();
      const c = await openExecutor(`pglite:${dir}`);
      const r = await c.query<{ ok: boolean }>(`select to_regclass('kept') is not null as ok`);
      expect(r.rows[0]?.ok).toBe(true);
      await c.close();
    } finally {
      if (before === undefined) delete process.env['BRAID_CACHE_DIR'];
      else process.env['BRAID_CACHE_DIR'] = before;
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it('maps CREATE EXTENSION to the contrib modules PGlite ships', async () => {
    const ex = await openExecutor('pglite:memory');
    try {
      for (const name of [
        'pg_trgm',
        'citext',
        'ltree',
        'pgcrypto',
        'uuid-ossp',
        'hstore',
        'btree_gist',
        'cube',
      ]) {
        expect(PGLITE_CONTRIB[name]).toBeDefined();
        await ex.exec(`create extension "${name}"`);
      }
      const r = await ex.query<{ s: number; c: boolean; u: string }>(
        `select similarity('braid', 'brain') as s, 'A'::citext = 'a'::citext as c, uuid_generate_v4()::text as u`,
      );
      expect(r.rows[0]?.s).toBeGreaterThan(0);
      expect(r.rows[0]?.c).toBe(true);
      expect(r.rows[0]?.u).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await ex.close();
    }
  });
});

describe('the data-directory lock file', () => {
  it('is exclusive, names its holder when the wait runs out, and is taken over when stale', async () => {
    const parent = tmp();
    const dir = path.join(parent, 'pglite');
    try {
      await lockFileChecks(dir);
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
});

/** The checks of the lock file test, on `dir` (its parent is removed by the caller). */
async function lockFileChecks(dir: string): Promise<void> {
  const lock = await acquireFileLock(dir, 0, 'first');
  expect(fs.readFileSync(`${dir}.lock`, 'utf8')).toBe(`${process.pid}\nfirst\n`);
  await expect(acquireFileLock(dir, 300, 'second')).rejects.toMatchObject({
    code: 'lock-timeout',
    exitCode: 3,
    message: expect.stringContaining(`in use by pid ${process.pid} (first)`),
  });
  lock.release();
  expect(fs.existsSync(`${dir}.lock`)).toBe(false);

  // a waiter gets the lock once the holder releases it
  const held = await acquireFileLock(dir, 0, 'holder');
  setTimeout(() => held.release(), 200);
  const waited = await acquireFileLock(dir, 10_000, 'waiter');
  expect(fs.readFileSync(`${dir}.lock`, 'utf8')).toContain('waiter');
  waited.release();

  // a lock left by a dead process is stale
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.on('close', r));
  fs.writeFileSync(`${dir}.lock`, `${dead.pid}\nbraid up\n`);
  const taken = await acquireFileLock(dir, 0, 'after-crash');
  expect(fs.readFileSync(`${dir}.lock`, 'utf8')).toContain('after-crash');
  taken.release();
}
