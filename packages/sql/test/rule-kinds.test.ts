/**
 * Statement rules that declare `kinds` are only called for statements of those kinds (an
 * optimisation of the lint engine). This checks, on a corpus with every statement kind the rules
 * care about and many they do not, that such a rule finds nothing in any statement outside its
 * kinds, and that it does find something inside them (so the corpus exercises it).
 */
import { analyzeFile, type AnalyzedStatement } from '../src/analyze';
import { loadParser } from '../src/parser';
import { RULES, type StatementContext, type StatementRule } from '../src/rules';

beforeAll(async () => {
  await loadParser();
});

const CORPUS = [
  'CREATE TABLE a (id serial PRIMARY KEY, code char(3), at timestamp, n int NOT NULL)',
  'CREATE TABLE b (id int, PRIMARY KEY (id))',
  'ALTER TABLE a ADD COLUMN token uuid DEFAULT gen_random_uuid()',
  'ALTER TABLE a ADD COLUMN k int NOT NULL',
  'ALTER TABLE a ADD COLUMN d int DEFAULT 0',
  'ALTER TABLE a ADD COLUMN s bigserial',
  'ALTER TABLE a ADD COLUMN g int GENERATED ALWAYS AS (n * 2) STORED',
  'ALTER TABLE a ADD COLUMN c2 char(2), ADD COLUMN t2 timestamp',
  'ALTER TABLE a ALTER COLUMN n TYPE bigint',
  'ALTER TABLE a ALTER COLUMN at TYPE timestamp',
  'ALTER TABLE a ALTER COLUMN n SET NOT NULL',
  'ALTER TABLE a ADD CONSTRAINT a_n CHECK (n > 0)',
  'ALTER TABLE a ADD CONSTRAINT a_fk FOREIGN KEY (n) REFERENCES b (id)',
  'ALTER TABLE a ADD CONSTRAINT a_u UNIQUE (n)',
  'ALTER TABLE a ADD PRIMARY KEY (n)',
  'ALTER TABLE a ADD CONSTRAINT a_pk2 PRIMARY KEY USING INDEX a_idx',
  'ALTER TABLE a DROP COLUMN code',
  'ALTER TABLE a RENAME COLUMN n TO m',
  'ALTER TABLE a RENAME TO a2',
  'ALTER TABLE a SET LOGGED',
  'CREATE INDEX a_n ON a (n)',
  'CREATE UNIQUE INDEX CONCURRENTLY a_u2 ON a (n)',
  'DROP INDEX a_n',
  'DROP INDEX CONCURRENTLY a_u2',
  'DROP TABLE b',
  'DROP SCHEMA s CASCADE',
  'DROP DATABASE d',
  'TRUNCATE a',
  'UPDATE a SET n = 1',
  'DELETE FROM a',
  'UPDATE a SET n = 1 WHERE id = 2',
  'BEGIN',
  'COMMIT',
  'SET lock_timeout = 5000',
  "SELECT set_config('lock_timeout', '5s', false)",
  'CREATE VIEW v AS SELECT id FROM a',
  'CREATE MATERIALIZED VIEW mv AS SELECT id FROM a',
  'CREATE TABLE c AS SELECT * FROM a',
  "CREATE TYPE mood AS ENUM ('a')",
  "ALTER TYPE mood ADD VALUE 'b'",
  'CREATE SEQUENCE q',
  'CREATE SCHEMA s',
  'CREATE EXTENSION IF NOT EXISTS pgcrypto',
  "COMMENT ON TABLE a IS 'x'",
  'GRANT SELECT ON a TO public',
  'INSERT INTO a (n) VALUES (1)',
  'REINDEX TABLE a',
  'VACUUM a',
  'CLUSTER a USING a_n',
  'REFRESH MATERIALIZED VIEW mv',
  'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$',
  'DO $$ BEGIN PERFORM 1; END $$',
  'CREATE TRIGGER tr BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f()',
  'ALTER INDEX a_n RENAME TO a_n2',
  'ALTER SEQUENCE q RENAME TO q2',
  'CREATE DOMAIN pos AS int CHECK (VALUE > 0)',
  ...RULES.flatMap((r) => [r.docs.bad, r.docs.good].filter((x): x is string => x !== undefined)),
];

function statements(): AnalyzedStatement[] {
  const out: AnalyzedStatement[] = [];
  for (const [i, sql] of CORPUS.entries()) out.push(...analyzeFile(`c${i}.sql`, sql + ';\n').statements);
  return out;
}

function fires(
  rule: StatementRule,
  st: AnalyzedStatement,
  pgVersion: number,
  transactional: boolean,
): boolean {
  const ctx: StatementContext = {
    pgVersion,
    transactional,
    isNew: () => false,
    lockTimeoutSet: false,
    hasNotNullCheck: () => false,
    file: analyzeFile('x.sql', ''),
    tableRows: () => ({ rows: 1e6, primaryKey: 'id' }),
    batchRows: 100_000,
  };
  return (rule.check(st, ctx) ?? []).length > 0;
}

const scoped = RULES.filter((r): r is StatementRule & { kinds: readonly string[] } => {
  return r.scope === 'statement' && r.kinds !== undefined;
});

describe('statement rules with kinds', () => {
  test('there are some', () => {
    expect(scoped.length).toBeGreaterThanOrEqual(10);
  });

  test.each(scoped.map((r) => [r.id, r] as const))(
    '%s finds nothing outside its kinds, something inside',
    (_id, rule) => {
      const all = statements();
      const kinds = new Set(all.map((st) => st.kind));
      expect(kinds.size).toBeGreaterThan(25); // the corpus covers many statement kinds
      let inside = 0;
      for (const st of all) {
        for (const [v, tx] of [
          [10, true],
          [15, true],
          [15, false],
        ] as const) {
          const hit = fires(rule, st, v, tx);
          if (!rule.kinds.includes(st.kind)) {
            if (hit) throw new Error(`${rule.id} fires on ${st.kind}: ${st.text}`);
          } else if (hit) inside++;
        }
      }
      expect(inside).toBeGreaterThan(0);
    },
  );
});
