import type { AnalyzedFile, AnalyzedStatement } from '../analyze';

export type Severity = 'error' | 'warning' | 'info';

export interface RuleDocs {
  problem: string;
  solution: string;
  /** SQL that triggers the rule. */
  bad?: string;
  /** The safe alternative. */
  good?: string;
}

interface RuleBase {
  /** Stable kebab-case id (used in suppressions, output and docs/rules/<id>.md). */
  id: string;
  severity: Severity;
  /** One-line message (the default message of a finding). */
  message: string;
  /** The safe alternative, one or two sentences. */
  help: string;
  docs: RuleDocs;
  /** Squawk/Atlas equivalents, for the docs table. */
  seeAlso?: string[];
}

/** Planner statistics of one table (`braid lint --stats-from`): numbers only, never values. */
export interface TableRows {
  /** Estimated rows: the larger of `pg_class.reltuples` and `pg_stat_user_tables.n_live_tup`. */
  rows: number;
  /** The table's one-column primary key, when it has one. */
  primaryKey?: string;
}

/** What a statement rule knows about its surroundings. */
export interface StatementContext {
  pgVersion: number;
  /** The migration runs in a transaction (no `-- braid:no-transaction`). */
  transactional: boolean;
  /** The table (schema-qualified) was created earlier in this migration or in an unprotected one. */
  isNew(table: string): boolean;
  /** A lock_timeout was set earlier in this file. */
  lockTimeoutSet: boolean;
  /** A validated CHECK (col IS NOT NULL) exists for table.column (seen earlier). */
  hasNotNullCheck(table: string, column: string): boolean;
  /** Known unique indexes (schema-qualified index names). */
  file: AnalyzedFile;
  /**
   * Statistics of an existing table (schema-qualified, unquoted: `public.accounts`), when the
   * lint was given some (`--stats-from`); undefined otherwise.
   */
  tableRows(table: string): TableRows | undefined;
  /** Rows above which an unbatched UPDATE/DELETE/INSERT … SELECT is reported (batch-large-dml). */
  batchRows: number;
}

export interface StatementRule extends RuleBase {
  scope: 'statement';
  /**
   * The statement kinds (parser node types, AnalyzedStatement.kind) the rule can report on: the
   * engine does not call it for other statements. Omit it when the rule looks at every
   * statement (footprints, locks). A test checks that a rule finds nothing outside its kinds.
   */
  kinds?: readonly string[];
  /** Returns messages (or [] / undefined when fine). A string replaces the default message. */
  check(st: AnalyzedStatement, ctx: StatementContext): Array<string | true> | undefined;
}

export interface MigrationFiles {
  id: string;
  up?: AnalyzedFile;
  down?: AnalyzedFile;
  verify?: AnalyzedFile;
  /** Path of the migration folder, for files that do not exist (down.sql missing). */
  dir: string;
}

export interface MigrationFinding {
  file: string;
  line: number;
  column: number;
  message?: string;
}

export interface MigrationRule extends RuleBase {
  scope: 'migration';
  check(m: MigrationFiles, ctx: { pgVersion: number }): MigrationFinding[];
}

export type Rule = StatementRule | MigrationRule;
