/**
 * `braid adopt`: take over a database that another tool has been migrating. Reads that tool's
 * own bookkeeping table (Diesel's `__diesel_schema_migrations`, golang-migrate's
 * `schema_migrations (version, dirty)`, dbmate's `schema_migrations`, Flyway's
 * `flyway_schema_history`, sqitch's `sqitch.changes`), matches its versions to the imported
 * migrations through `.migrations/baseline`, and records exactly those as applied in braid's
 * registry, without running them (history rows, and audit rows with direction `adopt`). Refuses,
 * recording nothing, when the tool's table says a migration is dirty or failed, names versions the
 * import does not know, or leaves a gap braid could not fill. `braid up` then applies only what
 * is really pending. Docs: docs/import.md, "Adopting a database".
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  BASELINE_FILE,
  BASELINE_PATH,
  EXIT_FINDINGS,
  IMPORT_TOOLS,
  parseBaseline,
  planAdoption,
  UsageError,
  type AdoptPlan,
  type AdoptRow,
  type AdoptSource,
  type Baseline,
  type ImportTool,
} from '@braid/core';
import {
  ensureRegistry,
  quoteIdent,
  readApplied,
  readRegistryState,
  recordAudit,
  recordHistory,
  withAdvisoryLock,
  withTransaction,
  type Executor,
} from '@braid/pg';
import { defineCommand, withDb, type Context } from '../runtime';
import { braidVersion, gitProvenance, openDb, parseDuration, withLockWait } from '../db';
import { migrationsDir } from '../project';
import { projectMigrations } from './up';

interface AdoptArgs {
  db: string | undefined;
  'lock-wait': string | undefined;
  'dry-run': boolean;
  table: string[] | undefined;
}

/** Where each tool keeps its bookkeeping by default (unqualified: the connection's search_path). */
export const DEFAULT_TABLES: Record<ImportTool, string> = {
  diesel: '__diesel_schema_migrations',
  'golang-migrate': 'schema_migrations',
  dbmate: 'schema_migrations',
  flyway: 'flyway_schema_history',
  sqitch: 'sqitch.changes',
};

/**
 * `schema.table` or `table` → a quoted SQL name. Parts may be "double quoted" (kept as written);
 * unquoted parts fold to lower case, as PostgreSQL folds them.
 */
export function quoteTableName(name: string, argument = '--table'): string {
  const bad = (): UsageError =>
    new UsageError('bad-table', `${argument} ${name}: not a table name (table or schema.table)`, {
      data: { argument },
    });
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    if (name[i] === '"') {
      let j = i + 1;
      let part = '';
      for (;;) {
        if (j >= name.length) throw bad();
        if (name[j] === '"') {
          if (name[j + 1] !== '"') break;
          part += '"';
          j += 2;
        } else part += name[j++];
      }
      if (part === '') throw bad();
      parts.push(part);
      i = j + 1;
    } else {
      const m = /^[^".\s]+/.exec(name.slice(i));
      if (!m) throw bad();
      parts.push(m[0].toLowerCase());
      i += m[0].length;
    }
    if (i === name.length) break;
    if (name[i] !== '.') throw bad();
    i++;
  }
  if (parts.length > 2) throw bad();
  return parts.map(quoteIdent).join('.');
}

/** The --table values: `[tool=]name`; a bare name needs a baseline with one tool. */
function tablesFor(baseline: Baseline, values: readonly string[]): Map<ImportTool, string> {
  const tools = [...new Set(baseline.blocks.map((b) => b.tool))];
  const out = new Map<ImportTool, string>(tools.map((t) => [t, DEFAULT_TABLES[t]]));
  for (const v of values) {
    const eq = v.indexOf('=');
    const tool = eq > 0 ? v.slice(0, eq) : undefined;
    const name = eq > 0 ? v.slice(eq + 1) : v;
    if (tool !== undefined) {
      if (!(IMPORT_TOOLS as readonly string[]).includes(tool) || !out.has(tool as ImportTool))
        throw new UsageError(
          'bad-table',
          `--table ${v}: ${tool} is not a tool this project imported from (${tools.join(', ')})`,
          { data: { argument: '--table' } },
        );
      out.set(tool as ImportTool, name);
    } else if (tools.length === 1) {
      out.set(tools[0], name);
    } else {
      throw new UsageError(
        'bad-table',
        `--table ${v}: this project imported from ${tools.join(' and ')}; say which: --table <tool>=<table>`,
        { data: { argument: '--table' } },
      );
    }
  }
  for (const [, name] of out) quoteTableName(name);
  return out;
}

/** The tool's bookkeeping rows; undefined when the table does not exist. */
async function readRows(ex: Executor, tool: ImportTool, table: string): Promise<AdoptRow[] | undefined> {
  const q = quoteTableName(table);
  const exists = await ex.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [q]);
  if (!exists.rows[0]?.ok) return undefined;
  switch (tool) {
    case 'diesel':
    case 'dbmate': {
      const r = await ex.query<{ version: string }>(`select version::text as version from ${q}`);
      return r.rows.map((x) => ({ version: x.version }));
    }
    case 'golang-migrate': {
      const r = await ex.query<{ version: string; dirty: boolean }>(
        `select version::text as version, dirty from ${q}`,
      );
      return r.rows.map((x) => ({ version: x.version, dirty: Boolean(x.dirty) }));
    }
    case 'flyway': {
      const r = await ex.query<{
        rank: number;
        version: string | null;
        description: string;
        type: string;
        checksum: number | null;
        success: boolean;
      }>(
        `select installed_rank as rank, version, description, type, checksum, success from ${q} order by installed_rank`,
      );
      return r.rows.map((x) => ({
        rank: Number(x.rank),
        version: x.version,
        description: x.description,
        type: x.type,
        checksum: x.checksum === null ? null : Number(x.checksum),
        success: Boolean(x.success),
      }));
    }
    case 'sqitch': {
      const r = await ex.query<{ change: string; project: string; planned_at: string }>(
        `select change, project, to_char(planned_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as planned_at from ${q}`,
      );
      return r.rows.map((x) => ({ change: x.change, project: x.project, plannedAt: x.planned_at }));
    }
  }
}

export const adoptCommand = defineCommand<AdoptArgs>({
  command: 'adopt',
  describe:
    'take over a database another tool migrated: record the imported migrations it applied (read from its own table) as applied, without running them',
  builder: (y) =>
    withLockWait(withDb(y))
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'show what would be recorded; write nothing',
      })
      .option('table', {
        type: 'string',
        array: true,
        describe:
          "the other tool's bookkeeping table when it is not the default ([tool=]table or schema.table; repeatable)",
      }),
  handler: async (args, ctx) => {
    const provenance = gitProvenance(ctx.cwd);
    const { root, migrations } = projectMigrations(ctx.cwd);
    let text: string;
    try {
      text = fs.readFileSync(path.join(migrationsDir(root), BASELINE_FILE), 'utf8');
    } catch {
      throw new UsageError(
        'adopt-no-baseline',
        `${BASELINE_PATH} does not exist: braid adopt matches the migrations \`braid import\` wrote (import the other tool's history first)`,
      );
    }
    const baseline = parseBaseline(text);
    if (baseline.blocks.length === 0)
      throw new UsageError('adopt-no-baseline', `${BASELINE_PATH} lists no imported migrations`);
    const tables = tablesFor(baseline, args.table ?? []);
    const byId = new Map(migrations.map((m) => [m.id, m]));
    for (const b of baseline.blocks)
      for (const e of b.entries)
        if (!byId.has(e.id))
          throw new UsageError(
            'adopt-missing-migration',
            `${BASELINE_PATH}:${e.line}: ${e.id} is not in this branch's manifest (its folder was removed or renamed since the import)`,
            { data: { file: BASELINE_PATH, line: e.line } },
          );
    const { ex, db } = await openDb(args, ctx, root, 'braid adopt');
    try {
      return await withAdvisoryLock(
        ex,
        {
          waitMs: parseDuration(args['lock-wait'], '--lock-wait', 60_000),
          onWait: () => ctx.out.note('braid: waiting for another braid runner to finish'),
        },
        async () => {
          const sources: (AdoptSource & { found: boolean })[] = [];
          for (const block of baseline.blocks) {
            const table = tables.get(block.tool)!;
            const rows = await readRows(ex, block.tool, table);
            sources.push({ block, rows: rows ?? [], table, found: rows !== undefined });
          }
          const missing = sources.filter((s) => !s.found);
          const reg = await readRegistryState(ex);
          const braidApplied = new Set(reg.exists ? (await readApplied(ex)).map((a) => a.id) : []);
          const plan = planAdoption({
            sources,
            manifestIds: migrations.map((m) => m.id),
            braidApplied,
          });
          for (const s of missing)
            plan.problems.unshift({
              code: 'adopt-malformed',
              message: `${s.table} does not exist in ${db.label}: ${s.block.tool} has not migrated this database (\`braid up\` applies everything), or keeps its table elsewhere (--table ${s.block.tool}=<schema.table>)`,
            });
          const ok = plan.problems.length === 0;
          if (ok && !args['dry-run'] && plan.adopt.length > 0) {
            if (reg.outdated || !reg.exists) await ensureRegistry(ex, braidVersion());
            const prov = await provenance;
            await withTransaction(ex, async () => {
              for (const a of plan.adopt) {
                const checksum = byId.get(a.id)!.hash;
                await recordHistory(ex, { id: a.id, checksum, direction: 'up', durationMs: 0 }, prov);
                await recordAudit(
                  ex,
                  {
                    id: a.id,
                    direction: 'adopt',
                    outcome: 'ok',
                    checksum,
                    reason: `adopted: applied by ${a.tool} before braid (${tables.get(a.tool)!} version ${a.version}, ${a.source}); not run by braid`,
                  },
                  prov,
                );
              }
            });
          }
          report(ctx, plan, { database: db.label, dryRun: args['dry-run'], sources, tables });
          return ok ? 0 : EXIT_FINDINGS;
        },
      );
    } finally {
      await ex.close();
    }
  },
});

function report(
  ctx: Context,
  plan: AdoptPlan,
  info: {
    database: string;
    dryRun: boolean;
    sources: (AdoptSource & { found: boolean })[];
    tables: Map<ImportTool, string>;
  },
): void {
  const ok = plan.problems.length === 0;
  if (ctx.out.json) {
    ctx.out.result({
      ok,
      database: info.database,
      dryRun: info.dryRun,
      recorded: ok && !info.dryRun ? plan.adopt.length : 0,
      sources: info.sources.map((s) => ({
        tool: s.block.tool,
        table: s.table,
        found: s.found,
        rows: s.rows.length,
      })),
      adopted: plan.adopt,
      alreadyApplied: plan.already,
      pending: plan.pending,
      problems: plan.problems,
      notes: plan.notes,
    });
    return;
  }
  ctx.out.print(`database: ${info.database}`);
  for (const s of info.sources)
    ctx.out.print(`${s.block.tool}: ${s.table} ${s.found ? `(${s.rows.length} row(s))` : '(not found)'}`);
  for (const n of plan.notes) ctx.out.note(`braid: note: ${n}`);
  if (!ok) {
    for (const p of plan.problems) ctx.out.print(`refused: ${p.message}`);
    ctx.out.note(`braid adopt: ${plan.problems.length} problem(s); nothing recorded`);
    return;
  }
  const verb = info.dryRun ? 'would adopt' : 'adopted';
  for (const a of plan.adopt) ctx.out.print(`${verb} ${a.id}  <- ${a.tool} ${a.version}`);
  const tools = [...new Set(info.sources.map((s) => s.block.tool))].join(', ');
  ctx.out.print(
    `${info.dryRun ? 'dry run: would record' : 'recorded'} ${plan.adopt.length} migration(s) applied by ${tools} as applied (not run)` +
      `${plan.already.length > 0 ? `; ${plan.already.length} already applied in braid` : ''}` +
      `; ${plan.pending.length} pending${plan.pending.length > 0 ? ' (braid up applies them)' : ''}`,
  );
  if (!info.dryRun && plan.adopt.length > 0)
    ctx.out.note(
      `braid: from now on braid's registry (schema braid) is the record; ${tools} no longer updates its table here: stop running ${tools} against this database`,
    );
}
