import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  type DdlStatement,
  EXIT_FINDINGS,
  EXIT_OK,
  type ExitCode,
  type SchemaDiff,
  type SchemaModel,
  UsageError,
  diffSchemas,
  freshDatabaseModel,
  generateDdl,
  makeMigration,
  parseManifest,
  redact,
  renderDdl,
  renderDiffText,
} from '@braid/core';
import { readProjectAt } from '@braid/git';
import {
  type Executor,
  type SqlFile,
  connectPg,
  introspectUrl,
  openPGlite,
  replaySchema,
  replaySqlFiles,
  introspectWithBraidSchema,
} from '@braid/pg';
import { defineCommand, type Context, type GlobalArgs } from '../runtime';
import { findProject } from '../project';
import { shadowSpec, withShadow, type ShadowArgs } from '../shadow';

interface SchemaArgs extends ShadowArgs {
  action: string;
  from: string;
  to?: string;
  format: 'sql' | 'json' | 'text';
  online: boolean;
  'allow-destructive': boolean;
}

/** Where a schema came from, for output. */
interface Loaded {
  model: SchemaModel;
  /** database | sql | ref */
  kind: 'database' | 'sql' | 'ref';
  label: string;
  detail?: Record<string, unknown>;
}

const quoteQ = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** The .sql files of a folder (recursive, sorted); migration folders contribute only their up.sql. */
export function sqlFilesOf(dir: string, cwd: string): SqlFile[] {
  const all: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.') && e.name !== '.migrations') continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.sql')) all.push(p);
    }
  };
  walk(dir);
  const hasUp = all.some((p) => path.basename(p) === 'up.sql');
  return all
    .filter((p) => !hasUp || path.basename(p) === 'up.sql')
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((p) => ({ label: path.relative(cwd, p) || p, text: fs.readFileSync(p, 'utf8') }));
}

/** Replays SQL on a fresh shadow: PGlite in memory, or a temporary database on --shadow-db. */
export async function replaySql(
  files: SqlFile[],
  args: Partial<ShadowArgs>,
  ctx: Context,
): Promise<SchemaModel> {
  const server = args['shadow-db'];
  if (!server) {
    const ex = await openPGlite();
    try {
      await replaySqlFiles(ex, files);
      return await introspectWithBraidSchema(ex);
    } finally {
      await ex.close();
    }
  }
  const admin = await connectPg(server, 'braid schema');
  const name = `braid_schema_tmp_${randomBytes(6).toString('hex')}`;
  try {
    await admin.exec(`create database ${quoteQ(name)} template template0`);
    let ex: Executor | undefined;
    try {
      const u = new URL(server);
      u.pathname = `/${name}`;
      ex = await connectPg(u.toString(), 'braid schema');
      await replaySqlFiles(ex, files);
      return await introspectWithBraidSchema(ex);
    } finally {
      await ex?.close();
      await admin.exec(`drop database if exists ${quoteQ(name)} with (force)`).catch(() => undefined);
    }
  } finally {
    void ctx;
    await admin.close();
  }
}

/** A source: a database URL, pglite:PATH, a SQL file or folder, or a git ref (its migrations replayed). */
async function loadSource(src: string, arg: string, args: SchemaArgs, ctx: Context): Promise<Loaded> {
  if (/^postgres(ql)?:\/\//i.test(src) || src.startsWith('pglite:')) {
    if (src.startsWith('pglite:') && src !== 'pglite:memory') {
      const dir = path.resolve(ctx.cwd, src.slice('pglite:'.length));
      if (!fs.existsSync(dir))
        throw new UsageError('bad-source', `${arg} ${src}: no such PGlite data directory`);
      src = `pglite:${dir}`;
    }
    return { model: await introspectUrl(src, 'braid schema'), kind: 'database', label: redact(src) };
  }
  const p = path.resolve(ctx.cwd, src);
  if (fs.existsSync(p)) {
    const st = fs.statSync(p);
    const files = st.isDirectory()
      ? sqlFilesOf(p, ctx.cwd)
      : [{ label: src, text: fs.readFileSync(p, 'utf8') }];
    return {
      model: await replaySql(files, args, ctx),
      kind: 'sql',
      label: src,
      detail: { files: files.length },
    };
  }
  // A git ref: the project's migrations at that ref, replayed in manifest order.
  const root = findProject(ctx.cwd);
  let at: Awaited<ReturnType<typeof readProjectAt>>;
  try {
    at = await readProjectAt(root, src);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new UsageError(
      'bad-source',
      `${arg} ${src}: not a database URL, pglite:PATH, SQL file or folder, nor a git ref (${why})`,
    );
  }
  const dirLabel = `${src}:${at.repoDir}`;
  if (!at.exists || at.manifestText === undefined) {
    throw new UsageError(
      'bad-source',
      `${arg} ${src}: not a file, folder, database URL, or a ref with ${at.repoDir}/manifest`,
    );
  }
  const parsed = parseManifest(at.manifestText, `${dirLabel}/manifest`);
  const migrations = parsed.manifest.entries.map((e) => {
    const f = at.folders.get(e.id);
    if (!f) throw new UsageError('missing-up', `${dirLabel}/${e.id}/up.sql does not exist`);
    return makeMigration(e.id, f.files, dirLabel);
  });
  const r = await replaySchema(migrations, shadowSpec(args, ctx, root, { dirLabel }));
  return {
    model: r.model,
    kind: 'ref',
    label: `${src} (${at.commit.slice(0, 12)})`,
    detail: { replay: r.stats },
  };
}

/**
 * `braid schema diff --from SRC --to SRC`: the SQL (or object diff) that turns one schema into
 * another. `braid schema inspect --from SRC`: one schema, as the SQL that creates it, its objects
 * (text) or the normalized model (json).
 */
export const schemaCommand = defineCommand<SchemaArgs>({
  command: 'schema <action>',
  describe:
    'schema diff --from SRC --to SRC: the SQL (or --format json|text object diff) that turns one schema into another; schema inspect --from SRC: one schema (SQL, objects, or the model as json)',
  builder: (y) =>
    withShadow(y)
      .positional('action', {
        choices: ['diff', 'inspect'] as const,
        describe: 'diff two schemas, or inspect one',
        type: 'string',
        demandOption: true,
      })
      .option('from', {
        type: 'string',
        demandOption: true,
        describe: 'source schema: postgres://…, pglite:PATH, a .sql file or folder, or a git ref',
      })
      .option('to', { type: 'string', describe: 'target schema (same kinds as --from); diff only' })
      .option('format', {
        choices: ['sql', 'json', 'text'] as const,
        default: 'sql' as const,
        describe: 'output',
      })
      .option('online', {
        type: 'boolean',
        default: false,
        describe: 'CREATE/DROP INDEX CONCURRENTLY where possible',
      })
      .option('allow-destructive', {
        type: 'boolean',
        default: false,
        describe: 'exit 0 even when statements drop tables, columns or types, or narrow a type',
      }),
  handler: async (args, ctx) => {
    if (args.action === 'inspect' && args.to !== undefined)
      throw new UsageError('bad-args', 'schema inspect takes --from only (--to is for schema diff)');
    if (args.action === 'diff' && args.to === undefined)
      throw new UsageError('bad-args', 'schema diff: missing required argument --to');
    if (args['shadow-db']) {
      try {
        const pw = new URL(args['shadow-db']).password;
        if (pw) ctx.out.addSecret(decodeURIComponent(pw));
      } catch {
        // reported when connecting
      }
    }
    const from = await loadSource(args.from, '--from', args, ctx);
    if (args.to === undefined) return inspect(from, args, ctx);
    // the same source twice (a check that a ref replays to itself, or a cache warm-up): read once
    const to = args.to === args.from ? from : await loadSource(args.to, '--to', args, ctx);
    const diff: SchemaDiff = diffSchemas(from.model, to.model);
    // no object differs: nothing to generate (the SQL only ever changes objects the diff names)
    const statements: DdlStatement[] =
      diff.changes.length === 0 ? [] : generateDdl(from.model, to.model, { online: args.online });
    const destructive = statements.filter((s) => s.destructive);
    const blocked = destructive.length > 0 && !args['allow-destructive'];
    if (args.json || args.format === 'json') {
      ctx.out.result({
        from: { source: from.kind, label: from.label, ...(from.detail ?? {}) },
        to: { source: to.kind, label: to.label, ...(to.detail ?? {}) },
        changes: diff.changes,
        statements,
        destructive: destructive.length,
        sql: renderDdl(statements),
      });
    } else if (args.format === 'text') {
      const lines = renderDiffText(diff);
      if (lines.length === 0) ctx.out.print('no schema differences');
      for (const l of lines) ctx.out.print(l);
    } else {
      const sql = renderDdl(statements);
      if (sql) process.stdout.write(ctx.out.clean(sql));
      else ctx.out.note('braid: no schema differences');
    }
    if (blocked) {
      ctx.out.note(
        `braid: ${destructive.length} destructive statement(s) (${destructive
          .map((s) => s.reason ?? s.sql)
          .slice(0, 3)
          .join('; ')}${destructive.length > 3 ? '; …' : ''}); pass --allow-destructive to accept`,
      );
      return EXIT_FINDINGS;
    }
    return EXIT_OK;
  },
});

/**
 * One schema: json, the normalized model (on one line: it holds every object, and V8 writes
 * that four times faster without indentation); sql, the statements that create it in a new
 * database (freshDatabaseModel: public and PL/pgSQL are there already), in dependency order;
 * text, its objects one per line.
 */
function inspect(src: Loaded, args: SchemaArgs & GlobalArgs, ctx: Context): ExitCode {
  if (args.json || args.format === 'json') {
    ctx.out.resultCompact({ source: src.kind, label: src.label, ...(src.detail ?? {}), model: src.model });
  } else if (args.format === 'text') {
    const lines = renderDiffText(diffSchemas(freshDatabaseModel(), src.model));
    if (lines.length === 0) ctx.out.print('nothing beyond a new database');
    for (const l of lines) ctx.out.print(l);
  } else {
    const sql = renderDdl(generateDdl(freshDatabaseModel(), src.model, { online: args.online }));
    if (sql) process.stdout.write(ctx.out.clean(sql));
    else ctx.out.note('braid: nothing beyond a new database');
  }
  return EXIT_OK;
}
