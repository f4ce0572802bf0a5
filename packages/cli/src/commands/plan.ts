import { UsageError } from '@braid/core';
import { planUp, readStatus, type Executor } from '@braid/pg';
import { batchability } from '@braid/sql';
import {
  analyzeMigration,
  blocksWrites,
  lint,
  qname,
  type Finding,
  type Footprint,
  type LockLevel,
  type MigrationInput,
} from '@braid/sql';
import { defineCommand, withDb } from '../runtime';
import { openDb } from '../db';
import { projectMigrations } from './up';
import { backupSettings, parseBackupFlag, targetsOf } from '../backup';
import { readConfigIfAny } from '../online';
import { resolveTargets, type SourceMigration } from '@braid/pg';
import type { BackupPolicyName } from '@braid/core';

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** The data at risk of one migration, estimated on the target (in a rolled-back transaction). */
async function dataAtRiskOf(
  ex: Executor,
  m: SourceMigration,
  policy: BackupPolicyName,
): Promise<DataAtRiskPlan[]> {
  const all = await targetsOf(m, 'all');
  if (all.targets.length === 0) return [];
  const chosen = policy === 'off' ? [] : (await targetsOf(m, policy)).targets;
  const backed = new Set(chosen.map((t) => `${t.table.schema}.${t.table.name}`));
  await ex.exec('begin');
  try {
    const { tables } = await resolveTargets(ex, all.targets);
    const found = new Set(tables.map((t) => `${t.schema}.${t.name}`));
    const out: DataAtRiskPlan[] = tables.map((t) => ({
      table: `${t.schema}.${t.name}`,
      scope: t.scope,
      ...(t.scope === 'columns' ? { columns: t.columns.filter((c) => !t.key.includes(c)) } : {}),
      ...(t.where ? { where: t.where } : {}),
      reasons: t.reasons,
      rows: t.estimate.rows,
      bytes: t.estimate.bytes,
      tableBytes: t.estimate.tableBytes,
      backedUp: backed.has(`${t.schema}.${t.name}`) || (t.via !== undefined && backed.has(t.via)),
      notes: t.notes,
    }));
    // tables a pending migration before it creates: no estimate yet
    for (const t of all.targets) {
      const k = `${t.table.schema}.${t.table.name}`;
      if (t.table.name === '*' || found.has(k)) continue;
      out.push({
        table: k,
        scope: t.scope,
        ...(t.columns ? { columns: t.columns } : {}),
        ...(t.where ? { where: t.where } : {}),
        reasons: t.reasons,
        rows: null,
        bytes: null,
        tableBytes: null,
        backedUp: backed.has(k),
        notes: ['not in the database yet (created by a pending migration)'],
      });
    }
    return out;
  } finally {
    await ex.exec('rollback').catch(() => undefined);
  }
}
import { parsePgVersion } from './lint';

type Risk = 'low' | 'medium' | 'high';
const RISK_ORDER: Risk[] = ['low', 'medium', 'high'];
const maxRisk = (a: Risk, b: Risk): Risk => (RISK_ORDER.indexOf(a) >= RISK_ORDER.indexOf(b) ? a : b);

/** Tables with more (estimated) rows than this make a blocking rewrite/scan high risk. */
export const LARGE_TABLE_ROWS = 100_000;

interface TableInfo {
  object: string;
  lock: LockLevel;
  rewrite: boolean;
  scan: boolean;
  /** pg_class.reltuples of the target (of the index's table for an index); null when unknown. */
  rows: number | null;
  /** Created earlier in this plan (or does not exist on the target). */
  new: boolean;
  reasons: string[];
}

interface StatementPlan {
  line: number;
  column: number;
  sql: string;
  footprint: {
    creates: string[];
    alters: string[];
    drops: string[];
    renames: string[];
    reads: string[];
    writes: string[];
    incomplete: boolean;
  };
  transactional: boolean;
  tables: TableInfo[];
  findings: Array<{ rule: string; severity: string; message: string; suppressed: string | null }>;
  risk: Risk;
  reasons: string[];
  /** Under `-- braid:batch`: the table cut into key ranges and the expected number of batches. */
  batches?: {
    table: string;
    /** Keys per batch; adaptive: the first batch's (braid then sizes each to take about targetMs). */
    size: number;
    adaptive?: { targetMs: number };
    rows: number | null;
    /** rows ÷ size (adaptive: at the first size; the sizes then follow the batches' durations). */
    expected: number | null;
  };
}

/** Data a migration puts at risk (docs/backups.md), with estimates from the target's catalog. */
interface DataAtRiskPlan {
  table: string;
  scope: 'table' | 'columns' | 'rows';
  columns?: string[];
  where?: string[];
  reasons: string[];
  /** Estimated rows copied (reltuples, or the planner's estimate for a WHERE), null when unknown. */
  rows: number | null;
  /** Estimated bytes: pg_total_relation_size for a whole table, column widths × rows, else null. */
  bytes: number | null;
  tableBytes: number | null;
  /** Whether `braid up` backs it up under the policy in effect. */
  backedUp: boolean;
  notes: string[];
}

interface MigrationPlan {
  id: string;
  transactional: boolean;
  risk: Risk;
  dataAtRisk: DataAtRiskPlan[];
  backupPolicy: string;
  statements: StatementPlan[];
  findings: Array<{
    file: string;
    line: number;
    rule: string;
    severity: string;
    message: string;
    suppressed: string | null;
  }>;
}

function footprintJson(f: Footprint): StatementPlan['footprint'] {
  return {
    creates: f.creates.map((r) => `${r.kind} ${qname(r)}`),
    alters: f.alters.map(
      (a) =>
        `${a.object.kind} ${qname(a.object)}: ${a.action}${a.sub ? ` ${a.sub.kind}${a.sub.name ? ` ${a.sub.name}` : ''}` : ''}`,
    ),
    drops: f.drops.map((r) => `${r.kind} ${qname(r)}`),
    renames: f.renames.map((r) => `${r.from.kind} ${qname(r.from)} -> ${qname(r.to)}`),
    reads: f.reads.map((r) => `${r.kind} ${qname(r)}`),
    writes: f.writes.map((r) => `${r.kind} ${qname(r)}`),
    incomplete: f.incomplete,
  };
}

/** Estimated rows per relation (for an index: its table's), from pg_class.reltuples. */
async function rowEstimates(ex: Executor, names: string[]): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>();
  for (const name of names) {
    const dot = name.indexOf('.');
    const schema = name.slice(0, dot);
    const rel = name.slice(dot + 1);
    const r = await ex.query<{
      relkind: string;
      reltuples: string | number;
      table_tuples: string | number | null;
    }>(
      `select c.relkind::text as relkind, c.reltuples::float8 as reltuples, t.reltuples::float8 as table_tuples
         from pg_catalog.pg_class c
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         left join pg_catalog.pg_index i on i.indexrelid = c.oid
         left join pg_catalog.pg_class t on t.oid = i.indrelid
        where n.nspname = $1 and c.relname = $2`,
      [schema, rel],
    );
    const row = r.rows[0];
    if (!row) continue; // does not exist on the target
    const n = Number(row.relkind === 'i' ? (row.table_tuples ?? -1) : row.reltuples);
    out.set(name, n < 0 ? null : Math.round(n));
  }
  return out;
}

function fmtRows(n: number | null): string {
  if (n === null) return 'rows unknown (never analyzed)';
  return `~${n.toLocaleString('en-US')} rows`;
}

/**
 * `braid plan`: what `up` would run, per migration and statement: footprint, locks, rewrites and
 * scans, row estimates of the affected tables on the target, lint findings and a risk rating.
 */
export const planCommand = defineCommand<{
  ids: string[] | undefined;
  to: string | undefined;
  format: string | undefined;
  'pg-version': string | undefined;
  db: string | undefined;
  backup: string | undefined;
}>({
  command: 'plan [ids..]',
  describe: 'preview what up would run: objects touched, locks, rewrites, row counts, risks',
  builder: (y) =>
    withDb(y)
      .positional('ids', {
        type: 'string',
        array: true,
        describe: 'plan these migrations (default: the pending ones)',
      })
      .option('to', { type: 'string', describe: 'stop after this migration id' })
      .option('format', {
        type: 'string',
        choices: ['text', 'md', 'json'],
        describe: 'output format (default text; --json = json)',
      })
      .option('pg-version', {
        type: 'string',
        describe: "PostgreSQL major version for the lock rules (default: the target's)",
      })
      .option('backup', {
        type: 'string',
        describe: 'the backup policy to show (off, destructive, all); default: braid.json backup.policy',
      }),
  handler: async (args, ctx) => {
    const format = args.format ?? (args.json ? 'json' : 'text');
    const { root, migrations, dependsOn } = projectMigrations(ctx.cwd);
    const flag = parseBackupFlag(args.backup);
    const backup = backupSettings(root, readConfigIfAny(root), flag ? { flag } : {});
    const { ex, db } = await openDb(args, ctx, root, 'braid plan');
    let doc: { target: string; engine: string; pgVersion: number; migrations: MigrationPlan[]; risk: Risk };
    try {
      const pgVersion = parsePgVersion(args['pg-version']) ?? Math.floor(ex.serverVersionNum / 10000);
      let ids: string[];
      if (args.ids && args.ids.length) {
        const known = new Set(migrations.map((m) => m.id));
        for (const id of args.ids) {
          if (!known.has(id))
            throw new UsageError('unknown-migration', `${id}: no such migration in .migrations/manifest`, {
              data: { argument: id },
            });
        }
        ids = migrations.map((m) => m.id).filter((id) => args.ids!.includes(id));
      } else {
        const status = await readStatus(ex, migrations);
        ids = planUp(migrations, status, { dependsOn, ...(args.to ? { to: args.to } : {}) }).steps.map(
          (s) => s.id,
        );
      }
      const inputs: MigrationInput[] = migrations.map((m) => {
        const i: MigrationInput = { id: m.id, dir: `.migrations/${m.id}`, up: m.files.up };
        if (m.files.down !== undefined) i.down = m.files.down;
        if (m.files.verify !== undefined) i.verify = m.files.verify;
        return i;
      });
      // pending migrations are not deployed: what they create is new for the ones after them
      const findings = await lint(inputs, { pgVersion, only: ids, unprotected: ids });
      const plans: MigrationPlan[] = [];
      const created = new Set<string>();
      const types = new Map<string, Map<string, string>>();
      for (const id of ids) {
        const input = inputs.find((m) => m.id === id)!;
        const am = analyzeMigration(input, pgVersion, types);
        const stmts = am.up?.statements ?? [];
        const names = [...new Set(stmts.flatMap((s) => s.locks.effects.map((e) => e.object)))].filter(
          (n) => !created.has(n),
        );
        const rows = await rowEstimates(ex, names);
        const mine = findings.filter((f) => f.migration === id);
        const statements: StatementPlan[] = [];
        for (const st of stmts) {
          const sf = mine.filter(
            (f: Finding) =>
              f.file.endsWith('/up.sql') && f.statementLine === st.line && f.statementColumn === st.col,
          );
          let risk: Risk = 'low';
          const reasons: string[] = [];
          const tables: TableInfo[] = st.locks.effects.map((e) => {
            const isNew = created.has(e.object) || !rows.has(e.object);
            const n = isNew ? 0 : (rows.get(e.object) ?? null);
            const t: TableInfo = {
              object: e.object,
              lock: e.lock,
              rewrite: e.rewrite,
              scan: e.scan,
              rows: isNew ? 0 : n,
              new: isNew,
              reasons: e.reasons,
            };
            if (!isNew && (e.rewrite || e.scan) && blocksWrites(e.lock)) {
              const big = n === null || n > LARGE_TABLE_ROWS;
              risk = maxRisk(risk, big ? 'high' : 'medium');
              reasons.push(`${e.rewrite ? 'rewrites' : 'scans'} ${e.object} (${fmtRows(n)}) under ${e.lock}`);
            } else if (!isNew && blocksWrites(e.lock)) {
              risk = maxRisk(risk, 'medium');
              reasons.push(
                `${e.lock} lock on ${e.object} (${fmtRows(n)}): brief, but queues behind long transactions`,
              );
            }
            return t;
          });
          for (const f of sf) {
            if (f.suppressed !== undefined) continue;
            const destructive = [
              'drop-table',
              'drop-column',
              'drop-schema',
              'drop-database',
              'truncate',
              'dml-without-where',
            ].includes(f.rule);
            risk = maxRisk(
              risk,
              destructive || f.rule === 'concurrently-in-transaction'
                ? 'high'
                : f.severity === 'error'
                  ? 'medium'
                  : risk,
            );
            reasons.push(`${f.rule}: ${f.message}`);
          }
          const batchDir = migrations.find((x) => x.id === id)?.directives.batch;
          let batches: StatementPlan['batches'];
          const bt = batchDir ? batchability(st.text) : undefined;
          if (batchDir && bt?.ok) {
            const tname = `${bt.statement.table.schema ?? 'public'}.${bt.statement.table.name}`;
            const known = created.has(tname) ? new Map([[tname, 0]]) : await rowEstimates(ex, [tname]);
            const n = known.get(tname) ?? null;
            batches = {
              table: tname,
              size: batchDir.size,
              ...(batchDir.adaptive ? { adaptive: { targetMs: batchDir.targetMs } } : {}),
              rows: n,
              expected: n === null ? null : Math.max(1, Math.ceil(n / batchDir.size)),
            };
          }
          for (const c of st.footprint.creates) created.add(qname(c));
          statements.push({
            ...(batches ? { batches } : {}),
            line: st.line,
            column: st.col,
            sql: st.text,
            footprint: footprintJson(st.footprint),
            transactional: st.locks.transactional,
            tables,
            findings: sf.map((f) => ({
              rule: f.rule,
              severity: f.severity,
              message: f.message,
              suppressed: f.suppressed ?? null,
            })),
            risk,
            reasons,
          });
        }
        const other = mine.filter(
          (f) =>
            !statements.some(
              (s) => s.findings.length && f.statementLine === s.line && f.file.endsWith('/up.sql'),
            ),
        );
        plans.push({
          id,
          transactional: am.transactional,
          risk: statements.reduce<Risk>((r, s) => maxRisk(r, s.risk), 'low'),
          backupPolicy: backup.policy,
          dataAtRisk: await dataAtRiskOf(
            ex,
            migrations.find((x) => x.id === id)!,
            backup.policy,
          ),
          statements,
          findings: other.map((f) => ({
            file: f.file,
            line: f.line,
            rule: f.rule,
            severity: f.severity,
            message: f.message,
            suppressed: f.suppressed ?? null,
          })),
        });
      }
      doc = {
        target: db.label,
        engine: ex.engine,
        pgVersion,
        migrations: plans,
        risk: plans.reduce<Risk>((r, m) => maxRisk(r, m.risk), 'low'),
      };
    } finally {
      await ex.close();
    }
    if (format === 'json') {
      ctx.out.result(doc);
      return 0;
    }
    const md = format === 'md';
    const lines: string[] = [];
    if (md)
      lines.push(
        `# braid plan`,
        '',
        `Target: \`${doc.target}\` (${doc.engine}, PostgreSQL ${doc.pgVersion}) — overall risk: **${doc.risk}**`,
        '',
      );
    else
      lines.push(
        `plan for ${doc.target} (${doc.engine}, PostgreSQL ${doc.pgVersion}): ${doc.migrations.length} migration(s), risk ${doc.risk}`,
      );
    if (doc.migrations.length === 0) lines.push(md ? 'Nothing to apply.' : 'nothing to apply');
    for (const m of doc.migrations) {
      if (md)
        lines.push(
          `## ${m.id} — risk: ${m.risk}${m.transactional ? '' : ' (no-transaction)'}`,
          '',
          '| line | statement | locks | rows | risk |',
          '| --- | --- | --- | --- | --- |',
        );
      else lines.push('', `${m.id}  [${m.risk}]${m.transactional ? '' : '  (no-transaction)'}`);
      for (const s of m.statements) {
        const head = s.sql.split('\n')[0].slice(0, 80);
        const locks = s.tables
          .map((t) => `${t.object}: ${t.lock}${t.rewrite ? ', rewrite' : ''}${t.scan ? ', scan' : ''}`)
          .join('; ');
        const rows = s.tables
          .map((t) =>
            t.new
              ? `${t.object}: new`
              : `${t.object}: ${t.rows === null ? '?' : t.rows.toLocaleString('en-US')}`,
          )
          .join('; ');
        if (md) {
          lines.push(
            `| ${s.line} | \`${head.replace(/\|/g, '\\|')}\` | ${locks || '—'} | ${rows || '—'} | ${s.risk}${s.reasons.length ? `: ${s.reasons.join('; ').replace(/\|/g, '\\|')}` : ''} |`,
          );
        } else {
          lines.push(`  ${String(s.line).padStart(4)}  [${s.risk}] ${head}`);
          for (const t of s.tables)
            lines.push(
              `          ${t.object}: ${t.lock}${t.rewrite ? ', rewrites' : ''}${t.scan ? ', scans' : ''}${t.new ? ' (new)' : `, ${fmtRows(t.rows)}`}`,
            );
          for (const r of s.reasons) lines.push(`          - ${r}`);
          if (s.batches)
            lines.push(
              `          batched: ${s.batches.expected === null ? 'an unknown number of' : `~${s.batches.expected.toLocaleString('en-US')}`} batch(es) of ${s.batches.size.toLocaleString('en-US')} keys of ${s.batches.table} (${fmtRows(s.batches.rows)})${s.batches.adaptive ? `; adaptive: sized to take ~${s.batches.adaptive.targetMs} ms each, so fewer when the rows are fast` : ''}`,
            );
        }
      }
      for (const d of m.dataAtRisk) {
        const what = `${d.table} (${d.scope === 'columns' ? `column ${(d.columns ?? []).join(', ')}` : d.scope === 'rows' ? `rows where ${(d.where ?? []).join(' or ')}` : 'whole table'})`;
        const size = `${fmtRows(d.rows)}${d.bytes === null ? '' : `, ~${fmtBytes(d.bytes)}`}`;
        const line = `data at risk: ${what}, ${size}: ${d.backedUp ? 'backed up' : 'not backed up'} (policy ${m.backupPolicy}) — ${d.reasons.join('; ')}`;
        lines.push(md ? `- ${line}` : `  ${line}`);
      }
      for (const f of m.findings)
        lines.push(
          md
            ? `- ${f.severity} \`${f.rule}\` ${f.file}:${f.line}: ${f.message}`
            : `  ${f.file}:${f.line}: ${f.severity} ${f.rule}: ${f.message}`,
        );
      if (md) lines.push('');
    }
    for (const l of lines) ctx.out.print(l);
    return 0;
  },
});
