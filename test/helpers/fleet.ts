/**
 * A fleet of databases for the rollout tests: N fresh databases on the server
 * (BRAID_TEST_DATABASE_URL), each reached through a variable named in a targets file, with a
 * grep-able password in every URL (the server trusts local connections: the password is
 * accepted and ignored, and must never be printed or stored by braid).
 */
import { createTestDatabase, serverUrl, type TestDatabase } from './db';
import { connectPg, type Executor } from '@braid/pg';

export const FLEET_PASSWORD = 'Fl33t-S3cret-pw-7d1e';

export interface FleetTarget {
  name: string;
  urlEnv: string;
  /** With the password: what braid receives. */
  url: string;
  /** Without the password: what the test uses to look inside. */
  plainUrl: string;
  db: TestDatabase;
}

export function requireServer(): string {
  const admin = serverUrl();
  if (!admin) {
    throw new Error(
      'the rollout tests need a PostgreSQL server: set BRAID_TEST_DATABASE_URL (CI: postgres://postgres@127.0.0.1:5432/postgres)',
    );
  }
  return admin;
}

/** Creates the databases (a few at a time) named `<prefix><i>`. */
export async function createFleet(prefix: string, n: number): Promise<FleetTarget[]> {
  requireServer();
  const out: FleetTarget[] = [];
  for (let i = 0; i < n; i += 4) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(4, n - i) }, () => createTestDatabase({ prefix: 'braid_rollout' })),
    );
    batch.forEach((db, k) => {
      const idx = i + k + 1;
      const name = `${prefix}${String(idx).padStart(2, '0')}`;
      const u = new URL(db.url);
      u.password = FLEET_PASSWORD;
      out.push({
        name,
        urlEnv: `${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`,
        url: u.toString(),
        plainUrl: db.url,
        db,
      });
    });
  }
  return out;
}

export async function dropFleet(fleet: readonly FleetTarget[]): Promise<void> {
  for (let i = 0; i < fleet.length; i += 4) await Promise.all(fleet.slice(i, i + 4).map((t) => t.db.drop()));
}

export function targetsJson(fleet: readonly FleetTarget[]): string {
  return JSON.stringify({ targets: fleet.map((t) => ({ name: t.name, urlEnv: t.urlEnv })) }, null, 2);
}

export function fleetEnv(fleet: readonly FleetTarget[]): Record<string, string> {
  return Object.fromEntries(fleet.map((t) => [t.urlEnv, t.url]));
}

export async function onTarget<T>(t: FleetTarget, fn: (ex: Executor) => Promise<T>): Promise<T> {
  const ex = await connectPg(t.plainUrl, 'braid-test');
  try {
    return await fn(ex);
  } finally {
    await ex.close();
  }
}

export async function rows<T = Record<string, unknown>>(
  t: FleetTarget,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  return onTarget(t, async (ex) => (await ex.query<T>(sql, params)).rows);
}

/** `up` history rows per migration id (id → count), and whether braid.progress is empty. */
export async function historyOf(
  t: FleetTarget,
): Promise<{ ups: Record<string, number>; applied: string[]; progress: number }> {
  const reg = await rows<{ ok: boolean }>(t, `select to_regclass('braid.history') is not null as ok`);
  if (!reg[0]?.ok) return { ups: {}, applied: [], progress: 0 };
  const h = await rows<{ id: string; n: string }>(
    t,
    `select id, count(*) as n from braid.history where direction = 'up' group by id order by id`,
  );
  const a = await rows<{ id: string }>(t, 'select id from braid.applied order by history_seq');
  const p = await rows<{ n: string }>(t, 'select count(*) as n from braid.progress');
  return {
    ups: Object.fromEntries(h.map((r) => [r.id, Number(r.n)])),
    applied: a.map((r) => r.id),
    progress: Number(p[0]?.n ?? 0),
  };
}

/** Tables and columns of schema public (to compare a schema before and after). */
export async function publicSchema(t: FleetTarget): Promise<string[]> {
  const r = await rows<{ x: string }>(
    t,
    `select table_name || '.' || column_name || ':' || data_type as x from information_schema.columns
      where table_schema = 'public' order by 1`,
  );
  return r.map((x) => x.x);
}

/** JSON events printed by braid rollout (one per stdout line). */
export function events(stdout: string): ({ event: string } & Record<string, unknown>)[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string } & Record<string, unknown>);
}
