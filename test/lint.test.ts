import { addMigrations, makeProject } from './helpers/cli';
import { ensureBuilt, git, runBraid } from './helpers/repo';

beforeAll(() => {
  ensureBuilt();
});

const HAZARDS = {
  slug: 'hazards',
  up: 'CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text);\nCREATE INDEX users_email ON users (email);\n\n  ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();\n-- braid:ignore drop-table unused since v2\nDROP TABLE legacy;\n',
  down: 'DROP TABLE users;\nALTER TABLE orders DROP COLUMN token;\n',
};

describe('braid lint', () => {
  test('text: file:line:col, the statement with a caret, help; exit 1 on errors, 0 with --fail-on none', async () => {
    const p = makeProject([HAZARDS]);
    const r = await runBraid(['lint'], { cwd: p.repo.dir });
    expect(r.code).toBe(1);
    const id = p.ids[0];
    expect(r.stdout).toContain(`.migrations/${id}/up.sql:4:3: error add-column-volatile-default:`);
    expect(r.stdout).toContain(
      '  4 |   ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();\n    |   ^',
    );
    expect(r.stdout).toContain(`.migrations/${id}/up.sql:6:1: suppressed drop-table: unused since v2`);
    // the index is on a table created in the same migration: not a hazard
    expect(r.stdout).not.toContain('require-concurrent-index-creation');
    expect(r.stdout.replaceAll(id, 'ID')).toMatchSnapshot();
    const none = await runBraid(['lint', '--fail-on', 'none'], { cwd: p.repo.dir });
    expect(none.code).toBe(0);
  });

  test('--json: one document with flat stable keys', async () => {
    const p = makeProject([HAZARDS]);
    const r = await runBraid(['lint', '--json'], { cwd: p.repo.dir });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as {
      findings: Array<Record<string, unknown>>;
      summary: Record<string, number>;
    };
    for (const f of doc.findings) {
      expect(Object.keys(f)).toEqual([
        'file',
        'line',
        'column',
        'rule',
        'severity',
        'message',
        'help',
        'migration',
        'suppressed',
        'baseline',
      ]);
    }
    const vol = doc.findings.find((f) => f.rule === 'add-column-volatile-default')!;
    expect(vol).toMatchObject({ line: 4, column: 3, severity: 'error', suppressed: null, baseline: null });
    expect(doc.summary.suppressed).toBe(1);
    expect(doc.summary.error).toBeGreaterThanOrEqual(1);
  });

  test('--format sarif: SARIF 2.1.0 structure (required properties checked strictly)', async () => {
    const p = makeProject([HAZARDS]);
    const r = await runBraid(['lint', '--format', 'sarif'], { cwd: p.repo.dir });
    const sarif = JSON.parse(r.stdout) as {
      version: string;
      $schema: string;
      runs: Array<{
        tool: { driver: { name: string; rules: Array<{ id: string; shortDescription: { text: string } }> } };
        results: Array<{
          ruleId: string;
          ruleIndex: number;
          level: string;
          message: { text: string };
          locations: Array<{
            physicalLocation: {
              artifactLocation: { uri: string };
              region: { startLine: number; startColumn: number };
            };
          }>;
          suppressions?: Array<{ kind: string; justification: string }>;
        }>;
      }>;
    };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.$schema).toMatch(/sarif-2\.1\.0/);
    expect(sarif.runs).toHaveLength(1);
    const run = sarif.runs[0];
    expect(run.tool.driver.name).toBe('braid');
    const ids = run.tool.driver.rules.map((x) => x.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const res of run.results) {
      expect(['none', 'note', 'warning', 'error']).toContain(res.level);
      expect(typeof res.message.text).toBe('string');
      expect(run.tool.driver.rules[res.ruleIndex].id).toBe(res.ruleId);
      const loc = res.locations[0].physicalLocation;
      expect(loc.artifactLocation.uri).toMatch(/^\.migrations\/.+\.sql$/);
      expect(Number.isInteger(loc.region.startLine) && loc.region.startLine >= 1).toBe(true);
      expect(Number.isInteger(loc.region.startColumn) && loc.region.startColumn >= 1).toBe(true);
      if (res.suppressions)
        expect(res.suppressions[0]).toEqual({ kind: 'inSource', justification: 'unused since v2' });
    }
    expect(run.results.some((x) => x.suppressions)).toBe(true);
  });

  test('--format github and gitlab', async () => {
    const p = makeProject([HAZARDS]);
    const id = p.ids[0];
    const gh = await runBraid(['lint', '--format', 'github'], { cwd: p.repo.dir });
    expect(gh.stdout).toContain(
      `::error file=.migrations/${id}/up.sql,line=4,col=3,title=braid add-column-volatile-default::`,
    );
    expect(gh.stdout).not.toContain('drop-table'); // suppressed
    const gl = await runBraid(['lint', '--format', 'gitlab'], { cwd: p.repo.dir });
    const issues = JSON.parse(gl.stdout) as Array<Record<string, unknown>>;
    expect(issues.find((i) => i['check_name'] === 'add-column-volatile-default')).toMatchObject({
      severity: 'major',
      location: { path: `.migrations/${id}/up.sql`, lines: { begin: 4 } },
    });
    for (const i of issues) expect(String(i['fingerprint'])).toMatch(/^[0-9a-f]{32}$/);
  });

  test('--since REF: only migrations not at REF; tables they create are new for later ones', async () => {
    const p = makeProject([
      { slug: 'base', up: 'CREATE TABLE base (id bigint PRIMARY KEY);', down: 'DROP TABLE base;' },
    ]);
    git(p.repo.dir, ['branch', 'protected']);
    addMigrations(p, [
      {
        slug: 'accounts',
        up: 'CREATE TABLE accounts (id bigint PRIMARY KEY, owner bigint);',
        down: 'DROP TABLE accounts;',
      },
      {
        slug: 'indexes',
        up: 'CREATE INDEX accounts_owner ON accounts (owner);\nCREATE INDEX base_id ON base (id);',
        down: 'DROP INDEX base_id;\nDROP INDEX accounts_owner;',
      },
    ]);
    const r = await runBraid(['lint', '--since', 'protected', '--json'], { cwd: p.repo.dir });
    const doc = JSON.parse(r.stdout) as {
      findings: Array<{ rule: string; line: number; migration: string }>;
    };
    const idx = doc.findings.filter((f) => f.rule === 'require-concurrent-index-creation');
    expect(idx).toEqual([expect.objectContaining({ migration: p.ids[2], line: 2 })]);
    expect(doc.findings.some((f) => f.migration === p.ids[0])).toBe(false);
  });

  test('usage errors exit 2 naming the argument', async () => {
    const p = makeProject([HAZARDS]);
    const bad = await runBraid(['lint', '20990101000000_nope'], { cwd: p.repo.dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('20990101000000_nope');
    const ref = await runBraid(['lint', '--since', 'no-such-ref'], { cwd: p.repo.dir });
    expect(ref.code).toBe(2);
    expect(ref.stderr).toContain('--since no-such-ref');
    const ver = await runBraid(['lint', '--pg-version', 'x'], { cwd: p.repo.dir });
    expect(ver.code).toBe(2);
    const rule = await runBraid(['lint', '--disable', 'no-such-rule'], { cwd: p.repo.dir });
    expect(rule.code).toBe(2);
    expect(rule.stderr).toContain('--disable no-such-rule');
  });

  test('--disable skips rules', async () => {
    const p = makeProject([HAZARDS]);
    const r = await runBraid(
      ['lint', '--json', '--disable=add-column-volatile-default,require-lock-timeout'],
      { cwd: p.repo.dir },
    );
    const doc = JSON.parse(r.stdout) as { findings: Array<{ rule: string }> };
    expect(doc.findings.map((f) => f.rule)).not.toContain('add-column-volatile-default');
    expect(doc.findings.map((f) => f.rule)).not.toContain('require-lock-timeout');
    expect(doc.findings.map((f) => f.rule)).toContain('drop-table');
    expect(r.code).toBe(0);
  });
});
