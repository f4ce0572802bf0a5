import { lintMigrations, loadParser, ruleById, type Finding, type MigrationInput } from '@braid/sql';

export interface RuleCases {
  /** up.sql texts (or whole migrations) that must not trigger the rule. */
  ok: Array<string | Partial<MigrationInput>>;
  /** up.sql texts (or whole migrations) that must trigger it. */
  error: Array<string | Partial<MigrationInput>>;
  pgVersion?: number;
}

const DOWN = 'SELECT 1;';

export function run(
  input: string | Partial<MigrationInput>,
  pgVersion?: number,
  prior: MigrationInput[] = [],
  unprotected: string[] = [],
): Finding[] {
  const m: MigrationInput =
    typeof input === 'string'
      ? { id: '20260101000000_test', up: input, down: DOWN }
      : { id: '20260101000000_test', ...input };
  return lintMigrations([...prior, m], { ...(pgVersion ? { pgVersion } : {}), unprotected, only: [m.id] });
}

export function ruleSuite(id: string, cases: RuleCases): void {
  describe(`rule ${id}`, () => {
    beforeAll(async () => {
      await loadParser();
    });
    test('is registered with message, help and docs', () => {
      const r = ruleById(id);
      expect(r).toBeDefined();
      expect(r!.message.length).toBeGreaterThan(10);
      expect(r!.help.length).toBeGreaterThan(10);
      expect(r!.docs.problem.length).toBeGreaterThan(10);
      expect(r!.docs.solution.length).toBeGreaterThan(10);
    });
    test.each(cases.ok.map((c) => [typeof c === 'string' ? c : JSON.stringify(c), c] as const))(
      'ok: %s',
      (_label, c) => {
        expect(run(c, cases.pgVersion).filter((f) => f.rule === id)).toEqual([]);
      },
    );
    test.each(cases.error.map((c) => [typeof c === 'string' ? c : JSON.stringify(c), c] as const))(
      'error: %s',
      (_label, c) => {
        const hits = run(c, cases.pgVersion).filter((f) => f.rule === id);
        expect(hits.length).toBeGreaterThan(0);
        for (const h of hits) {
          expect(h.line).toBeGreaterThan(0);
          expect(h.severity).toBe(ruleById(id)!.severity);
          expect(h.suppressed).toBeUndefined();
        }
      },
    );
  });
}
