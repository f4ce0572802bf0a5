/**
 * The lint engine: analyses migrations in order and runs every rule with its context.
 * Pure apart from the parser, which must be loaded first (`await loadParser()`, or use `lint()`).
 */
import { a, b, o, s, strings } from './ast';
import { analyzeFile, type AnalyzedFile, type AnalyzedStatement } from './analyze';
import { qname } from './footprint';
import { typeText } from './locks';
import { loadParser, type AstNode } from './parser';
import {
  RULES,
  type MigrationFiles,
  type MigrationRule,
  type Rule,
  type Severity,
  type StatementContext,
  type StatementRule,
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
}

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
  return /set_config\s*\(\s*'lock_timeout'/i.test(st.text);
}

/** NOT NULL-equivalent CHECK constraints: conname -> {table, column}. */
function notNullCheck(con: AstNode | undefined): string | undefined {
  const nt = o(o(con, 'raw_expr'), 'NullTest');
  if (!nt || s(nt, 'nulltesttype') !== 'IS_NOT_NULL') return undefined;
  const fields = strings(a(o(o(nt, 'arg'), 'ColumnRef'), 'fields'));
  return fields[fields.length - 1];
}

export function analyzeMigration(
  m: MigrationInput,
  pgVersion: number,
  columnTypes: Map<string, Map<string, string>>,
  functionBodies = true,
): AnalyzedMigration {
  const dir = m.dir ?? `.migrations/${m.id}`;
  const opts = { pgVersion, columnTypes, functionBodies };
  const up = m.up !== undefined ? analyzeFile(`${dir}/up.sql`, m.up, opts) : undefined;
  const down = m.down !== undefined ? analyzeFile(`${dir}/down.sql`, m.down, opts) : undefined;
  const verify = m.verify !== undefined ? analyzeFile(`${dir}/verify.sql`, m.verify, opts) : undefined;
  const out: AnalyzedMigration = { id: m.id, dir, transactional: !up?.directives.has('no-transaction') };
  if (up) out.up = up;
  if (down) out.down = down;
  if (verify) out.verify = verify;
  return out;
}

/** Records column types declared by a statement (for ALTER COLUMN TYPE rewrite decisions). */
function recordTypes(st: AnalyzedStatement, types: Map<string, Map<string, string>>): void {
  const put = (table: string, col: string, type: string) => {
    let m = types.get(table);
    if (!m) types.set(table, (m = new Map<string, string>()));
    m.set(col, type);
  };
  const cs = body(st, 'CreateStmt');
  if (cs) {
    const t = relName(st, o(cs, 'relation'));
    for (const el of a(cs, 'tableElts')) {
      const col = o(el, 'ColumnDef');
      if (col) put(t, s(col, 'colname') ?? '', typeText(o(col, 'typeName')));
    }
  }
  for (const c of alterCmds(st)) {
    const col = o(o(c.cmd, 'def'), 'ColumnDef');
    if (c.subtype === 'AT_AddColumn' && col)
      put(c.table, s(col, 'colname') ?? '', typeText(o(col, 'typeName')));
    if (c.subtype === 'AT_AlterColumnType' && col)
      put(c.table, s(c.cmd, 'name') ?? '', typeText(o(col, 'typeName')));
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
 * Lints migrations (in apply order). Requires the parser to be loaded. Findings are sorted by
 * file, line, column, rule; suppressed findings are included with `suppressed` set.
 */
export function lintMigrations(migrations: MigrationInput[], options: LintOptions = {}): Finding[] {
  const pgVersion = options.pgVersion ?? 15;
  const unprotected = new Set(options.unprotected ?? []);
  const only = options.only ? new Set(options.only) : undefined;
  const disabled = new Set(options.disable ?? []);
  const rules = RULES.filter((r) => !disabled.has(r.id));
  const statementRules = rules.filter((r): r is StatementRule => r.scope === 'statement');
  // the statement rules that apply to a statement kind (same order as RULES)
  const rulesByKind = new Map<string, StatementRule[]>();
  const rulesFor = (kind: string): StatementRule[] => {
    let list = rulesByKind.get(kind);
    if (!list) {
      list = statementRules.filter((r) => !r.kinds || r.kinds.includes(kind));
      rulesByKind.set(kind, list);
    }
    return list;
  };
  const migrationRules = rules.filter((r): r is MigrationRule => r.scope === 'migration');
  const columnTypes = new Map<string, Map<string, string>>();
  const branchNew = new Set<string>(); // created by unprotected migrations so far
  const findings: Finding[] = [];

  for (const input of migrations) {
    const m = analyzeMigration(input, pgVersion, columnTypes, false);
    const report = !only || only.has(m.id);
    const local = new Set<string>();
    const notNullChecks = new Set<string>(); // validated: table.column
    const pendingChecks = new Map<string, string>(); // table.conname -> column (NOT VALID)
    const up = m.up;
    // one context per migration; lockTimeoutSet is updated between statements (rules read it
    // synchronously, so this is the same as a fresh context per statement)
    const ctx: StatementContext | undefined = up && {
      pgVersion,
      transactional: m.transactional,
      isNew: (t) => local.has(t) || branchNew.has(t),
      lockTimeoutSet: false,
      hasNotNullCheck: (t, c) => notNullChecks.has(`${t}.${c}`),
      file: up,
    };
    for (const st of up?.statements ?? []) {
      if (report && ctx) {
        for (const rule of rulesFor(st.kind)) {
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
      recordTypes(st, columnTypes);
    }
    if (unprotected.has(m.id)) for (const t of local) branchNew.add(t);
    if (!report) continue;
    for (const rule of migrationRules) {
      for (const f of rule.check(m, { pgVersion })) {
        const file = [m.up, m.down, m.verify].find((x) => x?.path === f.file);
        const st = statementAt(file, f.line);
        findings.push(make(rule, m.id, file, st, f.message ?? rule.message, f.line, f.column, f.file));
      }
    }
  }
  findings.sort((x, y) =>
    x.file < y.file
      ? -1
      : x.file > y.file
        ? 1
        : x.line - y.line || x.column - y.column || (x.rule < y.rule ? -1 : x.rule > y.rule ? 1 : 0),
  );
  return findings;
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
