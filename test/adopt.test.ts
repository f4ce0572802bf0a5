/**
 * `braid adopt` (issue 13, the adopter's first hour): a database another tool migrated is taken
 * over without re-running anything. For each tool: its migrations are run in its own order, its
 * bookkeeping rows written the way it writes them (test/fixtures/import/mixed.ts), then the built
 * CLI imports the history, adopts the database, and `braid status` / `braid up` agree.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openExecutor } from '@braid/pg';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createGitRepo, runBraid, runBraidJson, tempDir, type TempRepo } from './helpers/repo';
import { MIXED, type MixedHistory } from './fixtures/import/mixed';

interface AdoptJson {
  ok: boolean;
  dryRun: boolean;
  recorded: number;
  adopted: { id: string; tool: string; version: string; source: string }[];
  pending: string[];
  alreadyApplied: string[];
  problems: { code: string; message: string }[];
}
interface StatusJson {
  applied: { id: string; state: string }[];
  pending: { id: string }[];
}

/** Runs the first `n` migrations as the tool does (in its order, its transactions) and records them its way. */
async function runAsTheTool(url: string, h: MixedHistory, n: number): Promise<void> {
  const ex = await openExecutor(url, 'the other tool');
  try {
    for (const u of h.ups.slice(0, n)) await ex.exec(u.transaction ? `begin;\n${u.sql}\n;commit;` : u.sql);
    await ex.exec(h.record(n));
  } finally {
    await ex.close();
  }
}

async function run(url: string, sql: string): Promise<void> {
  const ex = await openExecutor(url, 'braid-test');
  try {
    await ex.exec(sql);
  } finally {
    await ex.close();
  }
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const ex = await openExecutor(url, 'braid-test');
  try {
    return (await ex.query<T & Record<string, unknown>>(sql)).rows;
  } finally {
    await ex.close();
  }
}

describe('braid adopt (end to end)', () => {
  let repo: TempRepo;
  let db: TestDatabase | undefined;
  let dbDir: string | undefined;

  async function setUp(tool: string): Promise<{ h: MixedHistory; url: string }> {
    const h = MIXED[tool];
    for (const [p, text] of Object.entries(h.files)) repo.write(`${h.dir}/${p}`, text);
    expect((await runBraid(['import', '--from', tool, h.dir], { cwd: repo.dir })).code).toBe(0);
    repo.commit(`import ${tool}`);
    dbDir = tempDir('braid-adopt-db-');
    db = await createTestDatabase({ prefix: 'braid_adopt', pglitePath: join(dbDir, 'db') });
    return { h, url: db.url };
  }

  beforeEach(() => {
    repo = createGitRepo();
  });
  afterEach(async () => {
    repo.cleanup();
    if (db) await db.drop();
    db = undefined;
    if (dbDir) rmSync(dbDir, { recursive: true, force: true });
    dbDir = undefined;
  });

  for (const tool of Object.keys(MIXED)) {
    it(`${tool}: a database ${tool} fully migrated is adopted; status shows all applied, up does nothing, a new migration applies`, async () => {
      const { h, url } = await setUp(tool);
      await runAsTheTool(url, h, h.ups.length);

      const dry = await runBraidJson<AdoptJson>(['adopt', '--db', url, '--dry-run'], { cwd: repo.dir });
      expect(dry.code).toBe(0);
      expect(dry.json.adopted.map((a) => a.id)).toEqual(h.ids);
      expect(dry.json.recorded).toBe(0);
      const before = await runBraidJson<StatusJson>(['status', '--db', url], { cwd: repo.dir });
      expect(before.json.applied).toEqual([]);

      const adopt = await runBraid(['adopt', '--db', url], { cwd: repo.dir });
      expect(adopt.code).toBe(0);
      expect(adopt.stdout).toContain(
        `recorded ${h.ids.length} migration(s) applied by ${tool} as applied (not run); 0 pending`,
      );
      expect(adopt.stdout).toContain(`adopted ${h.ids[0]}  <- ${tool} `);

      const status = await runBraidJson<StatusJson>(['status', '--db', url], { cwd: repo.dir });
      expect(status.json.applied.map((a) => [a.id, a.state])).toEqual(h.ids.map((id) => [id, 'ok']));
      expect(status.json.pending).toEqual([]);
      const up = await runBraid(['up', '--db', url], { cwd: repo.dir });
      expect(up.code).toBe(0);
      expect(up.stdout).toContain('nothing to apply: up to date');

      const audit = await query<{ direction: string; outcome: string; reason: string }>(
        url,
        'select direction, outcome, reason from braid.audit order by seq',
      );
      expect(audit).toHaveLength(h.ids.length);
      expect(audit[0]).toMatchObject({ direction: 'adopt', outcome: 'ok' });
      expect(audit[0].reason).toContain(`applied by ${tool} before braid`);

      // adopting again records nothing
      const again = await runBraidJson<AdoptJson>(['adopt', '--db', url], { cwd: repo.dir });
      expect(again.json.adopted).toEqual([]);
      expect(again.json.alreadyApplied).toEqual(h.ids);

      const id = (await runBraidJson<{ id: string }>(['new', 'after adoption'], { cwd: repo.dir })).json.id;
      writeFileSync(join(repo.dir, '.migrations', id, 'up.sql'), 'create table after_adoption (id int);\n');
      writeFileSync(join(repo.dir, '.migrations', id, 'down.sql'), 'drop table after_adoption;\n');
      await runBraid(['hash'], { cwd: repo.dir });
      const next = await runBraid(['up', '--db', url], { cwd: repo.dir });
      expect(next.code).toBe(0);
      expect(next.stdout).toContain(`applied ${id}`);
      expect(next.stdout).toContain('1 migration applied');
      await run(url, `${h.assert}; select * from after_adoption`);
    });
  }

  it('diesel ran all but the last: adopt records those, braid up applies exactly the rest', async () => {
    const { h, url } = await setUp('diesel');
    await runAsTheTool(url, h, h.ups.length - 1);
    const adopt = await runBraidJson<AdoptJson>(['adopt', '--db', url], { cwd: repo.dir });
    expect(adopt.code).toBe(0);
    expect(adopt.json.adopted.map((a) => a.id)).toEqual(h.ids.slice(0, -1));
    expect(adopt.json.pending).toEqual(h.ids.slice(-1));
    const up = await runBraid(['up', '--db', url], { cwd: repo.dir });
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`applied ${h.ids[h.ids.length - 1]}`);
    expect(up.stdout).toContain('1 migration applied');
  });

  it('refuses, recording nothing: a dirty golang-migrate version, unknown versions, a gap, no table', async () => {
    const { h, url } = await setUp('golang-migrate');
    await runAsTheTool(url, h, 2);
    await run(url, 'update schema_migrations set dirty = true');
    const dirty = await runBraidJson<AdoptJson>(['adopt', '--db', url], { cwd: repo.dir });
    expect(dirty.code).toBe(1);
    expect(dirty.json.problems.map((p) => p.code)).toEqual(['adopt-dirty']);
    expect(dirty.json.problems[0].message).toContain('migrate force');
    const text = await runBraid(['adopt', '--db', url], { cwd: repo.dir });
    expect(text.stdout).toMatch(/^refused: schema_migrations says version 2 is dirty/m);
    expect(text.stderr).toContain('nothing recorded');
    expect(await query(url, "select to_regclass('braid.applied') as t")).toEqual([{ t: null }]);

    await run(url, 'update schema_migrations set dirty = false, version = 77');
    const unknown = await runBraidJson<AdoptJson>(['adopt', '--db', url], { cwd: repo.dir });
    expect(unknown.code).toBe(1);
    expect(unknown.json.problems.map((p) => p.code)).toEqual(['adopt-unknown-version']);
    expect(unknown.json.problems[0].message).toContain('77');

    await run(url, 'drop table schema_migrations');
    const none = await runBraidJson<AdoptJson>(['adopt', '--db', url], { cwd: repo.dir });
    expect(none.code).toBe(1);
    expect(none.json.problems[0].message).toMatch(
      /^schema_migrations does not exist in .*: golang-migrate has not migrated this database/,
    );
    expect(await query(url, "select to_regclass('braid.applied') as t")).toEqual([{ t: null }]);
  });

  it('diesel applied a migration out of order: the gap is refused with the command that fills it', async () => {
    const { h, url } = await setUp('diesel');
    await runAsTheTool(url, h, 4);
    await run(url, "delete from __diesel_schema_migrations where version = '20170304182614'");
    const r = await runBraidJson<AdoptJson>(['adopt', '--db', url], { cwd: repo.dir });
    expect(r.code).toBe(1);
    expect(r.json.problems.map((p) => p.code)).toEqual(['adopt-gap']);
    expect(r.json.problems[0].message).toContain('diesel migration run');
  });

  it('--table names a bookkeeping table in another schema; bad --table values are usage errors', async () => {
    const { h, url } = await setUp('dbmate');
    await runAsTheTool(url, h, h.ups.length);
    await run(url, 'create schema "Ops"; alter table schema_migrations set schema "Ops"');
    const missing = await runBraid(['adopt', '--db', url], { cwd: repo.dir });
    expect(missing.code).toBe(1);
    const ok = await runBraidJson<AdoptJson>(
      ['adopt', '--db', url, '--table', 'dbmate="Ops".schema_migrations'],
      {
        cwd: repo.dir,
      },
    );
    expect(ok.code).toBe(0);
    expect(ok.json.recorded).toBe(h.ids.length);
    const bad = await runBraid(['adopt', '--db', url, '--table', 'flyway=x'], { cwd: repo.dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      '--table flyway=x: flyway is not a tool this project imported from (dbmate)',
    );
    const worse = await runBraid(['adopt', '--db', url, '--table', 'a.b.c'], { cwd: repo.dir });
    expect(worse.code).toBe(2);
  });

  it('a project without an import baseline is refused with exit 2', async () => {
    await runBraid(['init'], { cwd: repo.dir });
    const r = await runBraid(['adopt', '--db', 'pglite:memory'], { cwd: repo.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('.migrations/baseline does not exist');
  });
});
