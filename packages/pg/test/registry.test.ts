import fs from 'node:fs';
import path from 'node:path';
import { hashMigration, parseManifest } from '@braid/core';
import { ensureRegistry, openExecutor, readRegistryState, REGISTRY_MIGRATIONS } from '@braid/pg';
import { createTestDatabase } from '../../../test/helpers/db';

const ROOT = path.join(__dirname, '..', '..', '..');

describe('registry migrations embedded in the bundle', () => {
  it('match the top-level .migrations/ folder (run scripts/gen-registry.mjs after editing it)', () => {
    const text = fs.readFileSync(path.join(ROOT, '.migrations', 'manifest'), 'utf8');
    const { manifest, headerHashOk } = parseManifest(text);
    expect(headerHashOk).toBe(true);
    expect(REGISTRY_MIGRATIONS.map((m) => m.id)).toEqual(manifest.entries.map((e) => e.id));
    for (const e of manifest.entries) {
      const dir = path.join(ROOT, '.migrations', e.id);
      const up = fs.readFileSync(path.join(dir, 'up.sql'), 'utf8');
      const downPath = path.join(dir, 'down.sql');
      const down = fs.existsSync(downPath) ? fs.readFileSync(downPath, 'utf8') : undefined;
      const embedded = REGISTRY_MIGRATIONS.find((m) => m.id === e.id)!;
      expect(embedded.up).toBe(up);
      expect(embedded.down).toBe(down);
      expect(hashMigration(down === undefined ? { up } : { up, down })).toBe(e.hash);
    }
  });

  it('the declared schema/registry.sql creates the same tables as the migrations', () => {
    const declared = fs.readFileSync(path.join(ROOT, 'schema', 'registry.sql'), 'utf8');
    const tables = (sql: string) => [...sql.matchAll(/create table (braid\.\w+)/g)].map((m) => m[1]).sort();
    const migrated = REGISTRY_MIGRATIONS.map((m) => m.up).join('\n');
    expect(tables(declared)).toEqual(tables(migrated));
    expect(tables(declared).length).toBeGreaterThanOrEqual(5);
  });
});

describe('ensureRegistry', () => {
  it('creates the registry once, is idempotent, and refuses a registry written by a newer braid', async () => {
    const db = await createTestDatabase();
    const ex = await openExecutor(db.url);
    try {
      expect(await readRegistryState(ex)).toEqual({ exists: false, outdated: true });
      expect(await ensureRegistry(ex, '1.0.0')).toEqual(REGISTRY_MIGRATIONS.map((m) => m.id));
      expect(await ensureRegistry(ex, '1.0.0')).toEqual([]);
      expect(await readRegistryState(ex)).toEqual({ exists: true, outdated: false });
      // history and audit are append-only
      await ex.exec(
        `insert into braid.history (id, checksum, direction, duration_ms, braid_version) values ('x', 'c', 'up', 1, 'v')`,
      );
      await expect(ex.exec(`delete from braid.history`)).rejects.toThrow(/append-only/);
      await ex.exec(
        `insert into braid.registry_migrations (id, braid_version) values ('29991231000000_future', '9.9.9')`,
      );
      await expect(ensureRegistry(ex, '1.0.0')).rejects.toMatchObject({
        code: 'registry-newer',
        exitCode: 3,
      });
    } finally {
      await ex.close();
      await db.drop();
    }
  });

  it('upgrades an older registry (one missing a registry migration)', async () => {
    const db = await createTestDatabase();
    const ex = await openExecutor(db.url);
    try {
      await ensureRegistry(ex, '1.0.0');
      // Simulate a registry from before the last registry migration: drop what it made.
      const last = REGISTRY_MIGRATIONS[REGISTRY_MIGRATIONS.length - 1];
      await ex.exec(last.down ?? '');
      if (REGISTRY_MIGRATIONS.length > 1) {
        await ex.query('delete from braid.registry_migrations where id = $1', [last.id]);
      }
      expect((await readRegistryState(ex)).outdated).toBe(true);
      expect(await ensureRegistry(ex, '1.0.1')).toEqual([last.id]);
      expect(await readRegistryState(ex)).toEqual({ exists: true, outdated: false });
    } finally {
      await ex.close();
      await db.drop();
    }
  });
});
