/**
 * The lint engine: analyses migrations in order and runs every rule with its context.
 * Pure apart from the parser, which must be loaded first (`await loadParser()`, or use `lint()`).
 */
import { a, b, o, s, strings } from './ast';
import { analyzeFile, type AnalyzedFile, type AnalyzedStatement } from './analyze';
import { qname } from './footprint';
import { typeText, type ColumnTypeLookup } from './locks';
import { loadParser, type AstNode } from './parser';
import {
  RULES,
  type MigrationFiles,
  type MigrationRule,
  type Rule,
  type Severity,
  type StatementContext,
  type StatementRule,
  type TableRows,
} from './rules';
import { alterCmds, body, relName } from './rules/util';

export interface MigrationInput {
  id: string;
  /** Folder shown in findings (default `.migrations/<id>`). */
  dir?: string;
  up?: string;
  down?: string;
  verify?: string;
}

export interface LintOptions {
  /** Target major version (default 15). */
  pgVersion?: number;
  /**
   * Ids of migrations that are not on the protected branch yet. Objects they create count as
   * new for later migrations (locking a table nobody uses yet is not a hazard). Objects created
   * earlier in the same migration always count as new.
   */
  unprotected?: Iterable<string>;
  /** Only these migrations produce findings (the others only provide context). Default: all. */
  only?: Iterable<string>;
  /** Rule ids to skip. */
  disable?: Iterable<string>;
  /**
   * Planner statistics of existing tables (`braid lint --stats-from`), keyed by schema-qualified
   * unquoted name (`public.accounts`). Plain data: the lint reads no database.
   */
  tables?: Record<string, TableRows>;
  /** batch-large-dml reports tables with more rows than this (default 100000). */
  batchRows?: number;
}

/** Default of LintOptions.batchRows. */
export const DEFAULT_BATCH_ROWS = 100_000;

/** One finding. The first seven keys are the stable JSON contract. */
export interface Finding {
  file: string;
  line: number;
  column: number;
  rule: string;
  severity: Severity;
  message: string;
  help: string;
  migration: string;
  /** The suppression's reason when a `braid:ignore` comment covers this finding. */
  suppressed?: string;
  /**
   * The tool the migration was imported from, when `.migrations/baseline` lists it: history that
   * already ran, reported but never failing (set by the CLI; docs/import.md).
   */
  baseline?: string;
  /** The statement's text (for the caret display). */
  statement?: string;
  /** 1-based line/column where the statement starts (for the caret display). */
  statementLine?: number;
  statementColumn?: number;
}

/** Objects whose creation makes them new (locking them is not a hazard) for later statements. */
const LOCAL_KINDS = new Set(['table', 'index', 'view', 'materialized view', 'sequence']);

export interface AnalyzedMigration extends MigrationFiles {
  transactional: boolean;
}

function setLockTimeout(st: AnalyzedStatement): boolean {
  const v = body(st, 'VariableSetStmt');
  if (v && (s(v, 'name') ?? '').toLowerCase() === 'lock_timeout' && s(v, 'kind') === 'VAR_SET_VALUE')
    return true;
  // the pattern only where it can match (it runs on every statement)
  return /lock_timeout/i.test(st.text) && /set_config\s*\(\s*'lock_timeout'/i.test(st.text);
}

/** NOT NULL-equivalent CHECK constraints: conname -> {table, column}. */
function notNullCheck(con: AstNode | undefined): string | undefined {
  const nt = o(o(con, 'raw_expr'), 'NullTest');
  if (!nt || s(nt, 'nulltesttype') !== 'IS_NOT_NULL') return undefined;
  const fields = strings(a(o(o(nt, 'arg'), 'ColumnRef'), 'fields'));
  return fields[fields.length - 1];
}

/**
 * Analyses one migration's files. `columnTypes` answers for columns declared by earlier
 * migrations (a Map of table -> column -> type, or a lookup function).
 */
export function analyzeMigration(
  m: MigrationInput,
  pgVersion: number,
  columnTypes: Map<string, Map<string, string>> | ColumnTypeLookup,
  functionBodies = true,
  reads = true,
): AnalyzedMigration {
  const dir = m.dir ?? `.migrations/${m.id}`;
  const columnType: ColumnTypeLookup =
    typeof columnTypes === 'function' ? columnTypes : (t, c) => columnTypes.get(t)?.get(c);
  const opts = { pgVersion, columnType, functionBodies, reads };
  const up = m.up !== undefined ? analyzeFile(`${dir}/up.sql`, m.up, opts) : undefined;
  const down = m.down !== undefined ? analyzeFile(`${dir}/down.sql`, m.down, opts) : undefined;
  // verify-asserts-nothing asks whether verify.sql reads anything: its reads are always collected
  const verify =
    m.verify !== undefined ? analyzeFile(`${dir}/verify.sql`, m.verify, { ...opts, reads: true }) : undefined;
  const out: AnalyzedMigration = { id: m.id, dir, transactional: !up?.directives.has('no-transaction') };
  if (up) out.up = up;
  if (down) out.down = down;
  if (verify) out.verify = verify;
  return out;
}

/** Records column types declared by a statement (for ALTER COLUMN TYPE rewrite decisions). */
function recordTypes(st: AnalyzedStatement, state: CarriedState): void {
  const cs = body(st, 'CreateStmt');
  if (cs) {
    const t = relName(st, o(cs, 'relation'));
    for (const el of a(cs, 'tableElts')) {
      const col = o(el, 'ColumnDef');
      if (col) state.setColumnType(t, s(col, 'colname') ?? '', typeText(o(col, 'typeName')));
    }
  }
  for (const c of alterCmds(st)) {
    const col = o(o(c.cmd, 'def'), 'ColumnDef');
    if (c.subtype === 'AT_AddColumn' && col)
      state.setColumnType(c.table, s(col, 'colname') ?? '', typeText(o(col, 'typeName')));
    if (c.subtype === 'AT_AlterColumnType' && col)
      state.setColumnType(c.table, s(c.cmd, 'name') ?? '', typeText(o(col, 'typeName')));
  }
}

function suppressionFor(
  file: AnalyzedFile | undefined,
  st: AnalyzedStatement | undefined,
  rule: string,
): string | undefined {
  if (!file) return undefined;
  for (const sup of [...(st?.suppressions ?? []), ...file.fileSuppressions]) {
    if (sup.reason && (sup.rules.includes(rule) || sup.rules.includes('all'))) return sup.reason;
  }
  return undefined;
}

function statementAt(file: AnalyzedFile | undefined, line: number): AnalyzedStatement | undefined {
  if (!file) return undefined;
  let found: AnalyzedStatement | undefined;
  for (const st of file.statements) if (st.line <= line) found = st;
  return found;
}

/**
 * What linting a migration needs from the migrations before it: the column types they declared
 * (ALTER TYPE rewrite decisions) and the tables that unprotected migrations created (new, so
 * locking them is not a hazard). Everything else a lint looks at is in the migration itself.
 */
export interface CarriedState {
  columnType(table: string, column: string): string | undefined;
  setColumnType(table: string, column: string, type: string): void;
  isBranchNew(table: string): boolean;
  addBranchNew(table: string): void;
}

/** The carried state of a lint that has seen every earlier migration. */
export class ExactState implements CarriedState {
  private readonly types = new Map<string, Map<string, string>>();
  private readonly branchNew = new Set<string>();

  columnType(table: string, column: string): string | undefined {
    return this.types.get(table)?.get(column);
  }

  setColumnType(table: string, column: string, type: string): void {
    let cols = this.types.get(table);
    if (!cols) this.types.set(table, (cols = new Map<string, string>()));
    cols.set(column, type);
  }

  isBranchNew(table: string): boolean {
    return this.branchNew.has(table);
  }

  addBranchNew(table: string): void {
    this.branchNew.add(table);
  }

  /** Applies writes logged by a SpeculativeState, in their order. */
  apply(writes: readonly StateWrite[]): void {
    for (const w of writes) {
      if (w.length === 4) this.setColumnType(w[1], w[2], w[3]);
      else this.addBranchNew(w[1]);
    }
  }
}

/** A question to the carried state, by the migration at `index` (apply order): a column type or a branch-new table. */
export type StateRead = [index: number, table: string, column: string] | [index: number, table: string];
/** A change to the carried state, by the migration at `index`: a column type or a branch-new table. */
export type StateWrite =
  [index: number, table: string, column: string, type: string] | [index: number, table: string];

/**
 * The carried state of a lint that starts in the middle of the history without knowing what came
 * before it (a chunk linted on another thread). It answers from what the chunk itself declared
 * (which is newer than anything earlier, so right) and logs every question it could not answer:
 * the answer "unknown" is a guess that mergeChunk checks against the exact state.
 */
export class SpeculativeState implements CarriedState {
  /** Index (apply order) of the migration being linted. */
  index = 0;
  readonly reads: StateRead[] = [];
  readonly writes: StateWrite[] = [];
  private readonly own = new ExactState();

  columnType(table: string, column: string): string | undefined {
    const t = this.own.columnType(table, column);
    if (t === undefined) this.reads.push([this.index, table, column]);
    return t;
  }

  setColumnType(table: string, column: string, type: string): void {
    this.own.setColumnType(table, column, type);
    this.writes.push([this.index, table, column, type]);
  }

  isBranchNew(table: string): boolean {
    if (this.own.isBranchNew(table)) return true;
    this.reads.push([this.index, table]);
    return false;
  }

  addBranchNew(table: string): void {
    this.own.addBranchNew(table);
    this.writes.push([this.index, table]);
  }
}

/** Reads through `layers` (first answer wins); writes go to a scratch layer of its own. */
class LayeredState implements CarriedState {
  private readonly scratch = new ExactState();
  constructor(private readonly layers: readonly CarriedState[]) {}

  columnType(table: string, column: string): string | undefined {
    for (const l of [this.scratch, ...this.layers]) {
      const t = l.columnType(table, column);
      if (t !== undefined) return t;
    }
    return undefined;
  }

  setColumnType(table: string, column: string, type: string): void {
    this.scratch.setColumnType(table, column, type);
  }

  isBranchNew(table: string): boolean {
    return this.scratch.isBranchNew(table) || this.layers.some((l) => l.isBranchNew(table));
  }

  addBranchNew(table: string): void {
    this.scratch.addBranchNew(table);
  }
}

/**
 * The lint engine: rules, options and per-migration context. `lintOne` lints one migration given
 * the state the migrations before it carried; sequential callers pass one ExactState through all
 * migrations in apply order (lintMigrations).
 */
export class Linter {
  private readonly pgVersion: number;
  private readonly unprotected: Set<string>;
  private readonly only: Set<string> | undefined;
  private readonly tables: Map<string, TableRows>;
  private readonly batchRows: number;
  private readonly migrationRules: MigrationRule[];
  private readonly statementRules: StatementRule[];
  // the statement rules that apply to a statement kind (same order as RULES)
  private readonly rulesByKind = new Map<string, StatementRule[]>();

  constructor(options: LintOptions = {}) {
    this.pgVersion = options.pgVersion ?? 15;
    this.unprotected = new Set(options.unprotected ?? []);
    this.only = options.only ? new Set(options.only) : undefined;
    this.tables = new Map(Object.entries(options.tables ?? {}));
    this.batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
    const disabled = new Set(options.disable ?? []);
    const rules = RULES.filter((r) => !disabled.has(r.id));
    this.statementRules = rules.filter((r): r is StatementRule => r.scope === 'statement');
    this.migrationRules = rules.filter((r): r is MigrationRule => r.scope === 'migration');
  }

  private rulesFor(kind: string): StatementRule[] {
    let list = this.rulesByKind.get(kind);
    if (!list) {
      list = this.statementRules.filter((r) => !r.kinds || r.kinds.includes(kind));
      this.rulesByKind.set(kind, list);
    }
    return list;
  }

  /** Lints one migration after the ones before it went through `state` (which it updates). Unsorted. */
  lintOne(input: MigrationInput, state: CarriedState): Finding[] {
    const pgVersion = this.pgVersion;
    const findings: Finding[] = [];
    // no function bodies, no reads of up.sql and down.sql: no rule looks at them (FootprintOptions)
    const m = analyzeMigration(input, pgVersion, (t, c) => state.columnType(t, c), false, false);
    const report = !this.only || this.only.has(m.id);
    const local = new Set<string>();
    const notNullChecks = new Set<string>(); // validated: table.column
    const pendingChecks = new Map<string, string>(); // table.conname -> column (NOT VALID)
    const up = m.up;
    // one context per migration; lockTimeoutSet is updated between statements (rules read it
    // synchronously, so this is the same as a fresh context per statement)
    const ctx: StatementContext | undefined = up && {
      pgVersion,
      transactional: m.transactional,
      isNew: (t) => local.has(t) || state.isBranchNew(t),
      lockTimeoutSet: false,
      hasNotNullCheck: (t, c) => notNullChecks.has(`${t}.${c}`),
      file: up,
      tableRows: (t) => this.tables.get(t),
      batchRows: this.batchRows,
    };
    for (const st of up?.statements ?? []) {
      if (report && ctx) {
        for (const rule of this.rulesFor(st.kind)) {
          const res = rule.check(st, ctx);
          if (res === undefined) continue;
          for (const r of res)
            findings.push(
              make(rule, m.id, up, st, typeof r === 'string' ? r : rule.message, st.line, st.col),
            );
        }
      }
      // context after the statement
      if (setLockTimeout(st) && ctx) ctx.lockTimeoutSet = true;
      for (const c of st.footprint.creates) {
        if (LOCAL_KINDS.has(c.kind)) local.add(qname(c));
      }
      for (const r of st.footprint.renames) if (local.has(qname(r.from))) local.add(qname(r.to));
      for (const c of alterCmds(st)) {
        const con = o(o(c.cmd, 'def'), 'Constraint');
        if (c.subtype === 'AT_AddConstraint' && s(con, 'contype') === 'CONSTR_CHECK') {
          const col = notNullCheck(con);
          if (col) {
            if (b(con, 'skip_validation')) pendingChecks.set(`${c.table}.${s(con, 'conname') ?? ''}`, col);
            else notNullChecks.add(`${c.table}.${col}`);
          }
        }
        if (c.subtype === 'AT_ValidateConstraint') {
          const col = pendingChecks.get(`${c.table}.${s(c.cmd, 'name') ?? ''}`);
          if (col) notNullChecks.add(`${c.table}.${col}`);
        }
      }
      recordTypes(st, state);
    }
    if (this.unprotected.has(m.id)) for (const t of local) state.addBranchNew(t);
    if (!report) return findings;
    for (const rule of this.migrationRules) {
      for (const f of rule.check(m, { pgVersion })) {
        const file = [m.up, m.down, m.verify].find((x) => x?.path === f.file);
        const st = statementAt(file, f.line);
        findings.push(make(rule, m.id, file, st, f.message ?? rule.message, f.line, f.column, f.file));
      }
    }
    return findings;
  }
}

/** Sorts findings by file, line, column, rule (in place). */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort((x, y) =>
    x.file < y.file
      ? -1
      : x.file > y.file
        ? 1
        : x.line - y.line || x.column - y.column || (x.rule < y.rule ? -1 : x.rule > y.rule ? 1 : 0),
  );
}

/**
 * Lints migrations (in apply order). Requires the parser to be loaded. Findings are sorted by
 * file, line, column, rule; suppressed findings are included with `suppressed` set.
 */
export function lintMigrations(migrations: MigrationInput[], options: LintOptions = {}): Finding[] {
  const linter = new Linter(options);
  const state = new ExactState();
  const findings: Finding[] = [];
  for (const input of migrations) for (const f of linter.lintOne(input, state)) findings.push(f);
  return sortFindings(findings);
}

/** A run of consecutive migrations linted without knowing the ones before it (lintChunk). */
export interface ChunkResult {
  /** Index (apply order) of the chunk's first migration. */
  start: number;
  /** Findings of each migration of the chunk, in order (unsorted within). */
  findings: Finding[][];
  /** The questions the chunk's own migrations could not answer (see SpeculativeState). */
  reads: StateRead[];
  /** What the chunk's migrations add to the carried state, in order. */
  writes: StateWrite[];
}

/**
 * Lints `inputs`, the migrations at `start`, `start + 1`, … of the history, as if nothing came
 * before them, and logs what would have to be known about the earlier migrations to be sure.
 * The result is plain data (it crosses threads); mergeChunk turns it into exact findings.
 */
export function lintChunk(linter: Linter, inputs: readonly MigrationInput[], start: number): ChunkResult {
  const state = new SpeculativeState();
  const findings = inputs.map((input, i) => {
    state.index = start + i;
    return linter.lintOne(input, state);
  });
  return { start, findings, reads: state.reads, writes: state.writes };
}

/**
 * Folds a chunk linted by lintChunk into `state`, the exact state of every migration before the
 * chunk, and returns the chunk's findings exactly as a sequential lint would give them. A
 * migration whose guess was wrong (it asked about a column type or a branch-new table that the
 * earlier migrations do know) is linted again with the exact state at its place (`reload` gives
 * its files back); the others keep their findings, since nothing else they depend on comes
 * from outside the chunk. Leaves `state` as after the chunk's last migration.
 */
export function mergeChunk(
  linter: Linter,
  state: ExactState,
  chunk: ChunkResult,
  reload: (index: number) => MigrationInput,
): Finding[] {
  const wrong = new Set<number>();
  for (const r of chunk.reads) {
    if (wrong.has(r[0])) continue;
    const known = r.length === 3 ? state.columnType(r[1], r[2]) !== undefined : state.isBranchNew(r[1]);
    if (known) wrong.add(r[0]);
  }
  const out: Finding[] = [];
  // the chunk's own writes before the migration being merged (only needed for a re-lint)
  const before = new ExactState();
  let w = 0;
  for (let i = 0; i < chunk.findings.length; i++) {
    const index = chunk.start + i;
    if (wrong.has(index)) {
      while (w < chunk.writes.length && chunk.writes[w][0] < index) before.apply([chunk.writes[w++]]);
      for (const f of linter.lintOne(reload(index), new LayeredState([before, state]))) out.push(f);
    } else {
      for (const f of chunk.findings[i]) out.push(f);
    }
  }
  state.apply(chunk.writes);
  return out;
}

function make(
  rule: Rule,
  migration: string,
  file: AnalyzedFile | undefined,
  st: AnalyzedStatement | undefined,
  message: string,
  line: number,
  column: number,
  path?: string,
): Finding {
  const f: Finding = {
    file: path ?? file?.path ?? '',
    line,
    column,
    rule: rule.id,
    severity: rule.severity,
    message,
    help: rule.help,
    migration,
  };
  // a suppression never hides the finding about a suppression without reason, nor syntax errors
  const reason = rule.id === 'ignore-without-reason' ? undefined : suppressionFor(file, st, rule.id);
  if (reason !== undefined) f.suppressed = reason;
  if (st) {
    f.statement = st.text;
    f.statementLine = st.line;
    f.statementColumn = st.col;
  }
  return f;
}

/** Loads the parser, then lints. */
export async function lint(migrations: MigrationInput[], options: LintOptions = {}): Promise<Finding[]> {
  await loadParser();
  return lintMigrations(migrations, options);
}
