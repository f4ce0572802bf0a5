/**
 * Issue 13: every importer reproduces its tool's own ordering rule. For each tool a history whose
 * names sort differently in byte order and in the tool's order (test/fixtures/import/mixed.ts):
 * the built CLI imports it in the tool's order, prints the mapping, and `braid up` applies it on
 * a fresh database (which fails in byte order: the first migration by name uses a table a later
 * one creates).
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openExecutor } from '@braid/pg';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createGitRepo, runBraid, runBraidJson, tempDir, type TempRepo } from './helpers/repo';
import { MIXED } from './fixtures/import/mixed';

interface ImportJson {
  tool: string;
  order: { rule: string; differsFromNames: boolean; moved: number };
  migrations: { source: string; id: string; version: string }[];
  warnings: string[];
}

describe('braid import follows each tool’s own order (end to end)', () => {
  let repo: TempRepo;
  let db: TestDatabase | undefined;
  let dbDir: string | undefined;

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

  for (const [tool, h] of Object.entries(MIXED)) {
    it(`${tool}: imported in ${tool}'s order, mapping printed, braid up succeeds where byte order fails`, async () => {
      for (const [p, text] of Object.entries(h.files)) repo.write(`${h.dir}/${p}`, text);

      const json = await runBraidJson<ImportJson>(['import', '--from', tool, h.dir, '--dry-run'], {
        cwd: repo.dir,
      });
      expect(json.code).toBe(0);
      expect(json.json.migrations.map((m) => m.source)).toEqual(h.order);
      expect(json.json.migrations.map((m) => m.id)).toEqual(h.ids);
      // the names' byte order is not the tool's order; dbmate's is (it sorts file names), and
      // there the trap is the numeric order: 2 and 3 would run before 10, which creates the table
      const byName = [...h.order].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      if (tool === 'dbmate') {
        expect(byName).toEqual(h.order);
        const numeric = [...h.order].sort((a, b) => Number(/^\d+/.exec(a)![0]) - Number(/^\d+/.exec(b)![0]));
        expect(numeric).not.toEqual(h.order);
      } else expect(byName).not.toEqual(h.order);
      expect(json.json.order.differsFromNames).toBe(tool !== 'dbmate');

      const imp = await runBraid(['import', '--from', tool, h.dir], { cwd: repo.dir });
      expect(imp.code).toBe(0);
      // the mapping, one line per migration, source -> id, in apply order
      const lines = imp.stdout.trim().split('\n');
      expect(lines.map((l) => l.replace(/ {2}\[.*\]$/, ''))).toEqual(
        h.order.map((s, i) => `${s} -> ${h.ids[i]}`),
      );
      if (tool !== 'dbmate')
        expect(imp.stderr).toMatch(
          new RegExp(`note: ${tool} runs these .* not the order their names sort in`),
        );
      expect(readFileSync(join(repo.dir, '.migrations', 'baseline'), 'utf8')).toContain(`import ${tool}`);

      const check = await runBraid(['check'], { cwd: repo.dir });
      expect(check.stdout).toContain(`ok: ${h.ids.length} migration(s)`);
      expect(check.code).toBe(0);

      dbDir = tempDir('braid-import-order-db-');
      db = await createTestDatabase({ prefix: 'braid_import_order', pglitePath: join(dbDir, 'db') });
      const up = await runBraid(['up', '--db', db.url], { cwd: repo.dir });
      expect(up.stderr).not.toMatch(/error|does not exist/i);
      expect(up.code).toBe(0);
      const ex = await openExecutor(db.url, 'braid-test');
      try {
        await ex.query(h.assert);
      } finally {
        await ex.close();
      }
    });
  }

  it('the byte order of the diesel fixture really fails (what braid did before issue 13)', async () => {
    // Apply the fixture's up.sql files in byte order of their folder names: the dashed 2017 folder
    // sorts before the table it references.
    const h = MIXED['diesel'];
    const folders = [...h.order].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(folders[1]).toBe('2017-08-31-230457_add_emails_table');
    dbDir = tempDir('braid-import-order-db-');
    db = await createTestDatabase({ prefix: 'braid_import_order', pglitePath: join(dbDir, 'db') });
    const ex = await openExecutor(db.url, 'braid-test');
    try {
      await ex.exec(h.files[`${folders[0]}/up.sql`]);
      await expect(ex.exec(h.files[`${folders[1]}/up.sql`])).rejects.toThrow(
        /relation "users" does not exist/,
      );
    } finally {
      await ex.close();
    }
  });
});
