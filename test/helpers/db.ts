/**
 * The test-database provider (DESIGN §4): BRAID_TEST_DATABASE_URL (a server: each call creates
 * a fresh, uniquely named database there and drops it afterwards), else PGlite in memory.
 * Testcontainers is not used here: no Docker engine answers on this machine (see README).
 */
import { randomBytes } from 'node:crypto';
import { connectPg } from '@braid/pg';

export interface TestDatabase {
  /** A URL braid accepts: postgres://… or pglite:memory / pglite:PATH. */
  url: string;
  engine: 'postgres' | 'pglite';
  drop(): Promise<void>;
}

export function serverUrl(): string | undefined {
  return process.env['BRAID_TEST_DATABASE_URL'] || undefined;
}

/** Creates a fresh database. `pglitePath` is used when no server is configured (else memory). */
export async function createTestDatabase(
  opts: { prefix?: string; pglitePath?: string } = {},
): Promise<TestDatabase> {
  const admin = serverUrl();
  if (!admin) {
    return {
      url: opts.pglitePath ? `pglite:${opts.pglitePath}` : 'pglite:memory',
      engine: 'pglite',
      drop: async () => {},
    };
  }
  const name = `${opts.prefix ?? 'braid_test'}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const ex = await connectPg(admin, 'braid-test');
  try {
    await ex.exec(`create database "${name}"`);
  } finally {
    await ex.close();
  }
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    engine: 'postgres',
    drop: async () => {
      const ex2 = await connectPg(admin, 'braid-test');
      try {
        await ex2.exec(`drop database if exists "${name}" with (force)`);
      } finally {
        await ex2.close();
      }
    },
  };
}
