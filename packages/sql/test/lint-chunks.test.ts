import {
  ExactState,
  lintChunk,
  Linter,
  lintMigrations,
  loadParser,
  mergeChunk,
  sortFindings,
  type Finding,
  type LintOptions,
  type MigrationInput,
} from '@braid/sql';

beforeAll(async () => {
  await loadParser();
});

// A history whose findings depend on earlier migrations in both ways the engine carries state:
// column types (ALTER TYPE is binary-compatible or not depending on the declared type) and
// tables created by unprotected migrations (new, so locking them is no hazard).
const HISTORY: MigrationInput[] = [
  ['CREATE TABLE t (id bigint PRIMARY KEY, c varchar(10), d text)', 'DROP TABLE t'],
  ['CREATE TABLE u (id bigint PRIMARY KEY, n int)', 'DROP TABLE u'],
  ["SET lock_timeout = '1s';\nALTER TABLE t ALTER COLUMN c TYPE varchar(20)", 'SELECT 1'],
  ['CREATE INDEX u_n ON u (n)', 'DROP INDEX u_n'],
  ["SET lock_timeout = '1s';\nALTER TABLE u ALTER COLUMN n TYPE bigint", 'SELECT 1'],
  ['CREATE TABLE v (id bigint PRIMARY KEY, s varchar(5))', 'DROP TABLE v'],
  ["SET lock_timeout = '1s';\nALTER TABLE t ALTER COLUMN c TYPE varchar(40)", 'SELECT 1'],
  [
    "SET lock_timeout = '1s';\nALTER TABLE v ALTER COLUMN s TYPE text;\nALTER TABLE t ALTER COLUMN d TYPE varchar(3)",
    'SELECT 1',
  ],
  ['CREATE INDEX v_s ON v (s);\nALTER TABLE u ADD COLUMN k text', 'DROP INDEX v_s'],
  ["SET lock_timeout = '1s';\nALTER TABLE v ALTER COLUMN s TYPE varchar(9)", 'SELECT 1'],
  ['ALTER TABLE w RENAME TO w2;\nCREATE INDEX t_c ON t (c)', 'SELECT 1'],
  ["SET lock_timeout = '1s';\nALTER TABLE u ALTER COLUMN k TYPE varchar(3)", 'SELECT 1'],
].map(([up, down], i) => ({ id: `${String(i).padStart(2, '0')}_m`, up, down }));

const OPTIONS: Array<[string, LintOptions]> = [
  ['all protected', {}],
  // the tables of 01 and 05 are new on this branch: later index creations on them are no hazard
  ['a branch from 01', { unprotected: HISTORY.slice(1).map((m) => m.id) }],
  [
    'a branch from 05, only its migrations reported',
    {
      unprotected: HISTORY.slice(5).map((m) => m.id),
      only: HISTORY.slice(5).map((m) => m.id),
    },
  ],
];

/** A lint split into chunks of `size`: the first `exact` chunks sequentially, the rest speculatively. */
function chunked(
  options: LintOptions,
  size: number,
  exact: number,
): { findings: Finding[]; relints: number } {
  const linter = new Linter(options);
  const state = new ExactState();
  const findings: Finding[] = [];
  let relints = 0;
  const reload = (index: number): MigrationInput => {
    relints++;
    return HISTORY[index];
  };
  for (let start = 0, n = 0; start < HISTORY.length; start += size, n++) {
    const inputs = HISTORY.slice(start, start + size);
    if (n < exact) {
      for (const m of inputs) findings.push(...linter.lintOne(m, state));
    } else {
      // through JSON: the chunk crosses a thread boundary as plain data
      const chunk = JSON.parse(JSON.stringify(lintChunk(linter, inputs, start))) as ReturnType<
        typeof lintChunk
      >;
      findings.push(...mergeChunk(linter, state, chunk, reload));
    }
  }
  return { findings: sortFindings(findings), relints };
}

describe('linting in chunks (parallel lint) gives exactly the sequential findings', () => {
  for (const [name, options] of OPTIONS) {
    test(name, () => {
      const expected = lintMigrations(HISTORY, options);
      expect(expected.length).toBeGreaterThan(5);
      let relints = 0;
      for (let size = 1; size <= HISTORY.length; size++) {
        const chunks = Math.ceil(HISTORY.length / size);
        for (let exact = 0; exact <= chunks; exact++) {
          const got = chunked(options, size, exact);
          expect({ size, exact, findings: got.findings }).toEqual({ size, exact, findings: expected });
          relints += got.relints;
        }
      }
      // the history makes speculation wrong somewhere: the merge really re-lints
      expect(relints).toBeGreaterThan(0);
    });
  }

  test('the carried state decides findings (without it, chunks would differ)', () => {
    const seq = lintMigrations(HISTORY);
    const linter = new Linter();
    const naive = sortFindings(HISTORY.flatMap((m, i) => lintChunk(linter, [m], i).findings[0]));
    expect(naive).not.toEqual(seq);
  });

  test('a chunk whose guesses were right is not linted again', () => {
    const linter = new Linter();
    const state = new ExactState();
    // 00..01 exactly, then 03 alone: it only touches u, whose types it does not ask about
    for (const m of HISTORY.slice(0, 3)) linter.lintOne(m, state);
    const chunk = lintChunk(linter, [HISTORY[3]], 3);
    let reloaded = 0;
    mergeChunk(linter, state, chunk, (i) => {
      reloaded++;
      return HISTORY[i];
    });
    expect(reloaded).toBe(0);
  });
});
