import { addMigrations, engines, makeProject, targetDb } from './helpers/cli';
import { ensureBuilt, runBraid } from './helpers/repo';

beforeAll(() => {
  ensureBuilt();
});

interface PlanDoc {
  engine: string;
  pgVersion: number;
  risk: string;
  migrations: Array<{
    id: string;
    risk: string;
    statements: Array<{
      line: number;
      sql: string;
      risk: string;
      reasons: string[];
      footprint: { creates: string[]; alters: string[] };
      tables: Array<{
        object: string;
        lock: string;
        scan: boolean;
        rewrite: boolean;
        rows: number | null;
        new: boolean;
      }>;
      findings: Array<{ rule: string }>;
    }>;
  }>;
}

describe.each(engines())('braid plan on %s', (engine) => {
  test('pending migrations only, with footprint, locks, row estimates, findings and risk', async () => {
    const p = makeProject([
      {
        slug: 'users',
        up: "CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text);\nINSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 2000) g;\nANALYZE users;",
        down: 'DROP TABLE users;',
      },
    ]);
    const t = await targetDb(engine, p);
    try {
      const up = await runBraid(['up', ...t.args], { cwd: p.repo.dir });
      expect(up.code).toBe(0);
      const [id] = addMigrations(p, [
        {
          slug: 'more',
          up: "SET lock_timeout = '5s';\nCREATE TABLE orgs (id bigint PRIMARY KEY);\nCREATE INDEX orgs_id ON orgs (id);\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
          down: 'ALTER TABLE users ALTER COLUMN email DROP NOT NULL;\nDROP TABLE orgs;',
        },
      ]);
      const r = await runBraid(['plan', '--json', ...t.args], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout) as PlanDoc;
      expect(doc.engine).toBe(engine);
      expect(doc.migrations.map((m) => m.id)).toEqual([id]);
      const [, create, index, notNull] = doc.migrations[0].statements;
      expect(create.footprint.creates).toEqual(['table public.orgs']);
      expect(index.tables).toEqual([
        expect.objectContaining({ object: 'public.orgs', lock: 'SHARE', new: true }),
      ]);
      expect(index.risk).toBe('low');
      expect(notNull.tables).toEqual([
        expect.objectContaining({
          object: 'public.users',
          lock: 'ACCESS EXCLUSIVE',
          scan: true,
          rewrite: false,
          rows: 2000,
          new: false,
        }),
      ]);
      expect(notNull.findings.map((f) => f.rule)).toContain('set-not-null-without-check');
      expect(notNull.risk).toBe('medium');
      expect(doc.risk).toBe('medium');

      const md = await runBraid(['plan', '--format', 'md', ...t.args], { cwd: p.repo.dir });
      expect(md.stdout).toContain(`## ${id} — risk: medium`);
      expect(md.stdout).toContain('| line | statement | locks | rows | risk |');
      const text = await runBraid(['plan', ...t.args], { cwd: p.repo.dir });
      expect(text.stdout).toContain('public.users: ACCESS EXCLUSIVE, scans, ~2,000 rows');
    } finally {
      await t.drop();
    }
  });
});
