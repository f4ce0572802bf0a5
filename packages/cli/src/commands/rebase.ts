import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  FindingsError,
  hashMigration,
  heads,
  idSlug,
  idTimestamp,
  isFailing,
  makeMigration,
  mintId,
  MIGRATIONS_DIR,
  parseTimestamp,
  serializeManifest,
  UsageError,
  type ManifestEntry,
  type Migration,
  type MigrationFiles,
} from '@braid/core';
import { GitRepo } from '@braid/git';
import { openTestShadow, replaySchema, runRoundTrips } from '@braid/pg';
import { migrationsAt } from '../history';
import { findProject } from '../project';
import { defineCommand } from '../runtime';
import { shadowSpec, withShadow, type ShadowArgs } from '../shadow';

interface RebaseArgs extends ShadowArgs {
  onto: string;
  'dry-run': boolean | undefined;
}

export interface MovedMigration {
  from: string;
  to: string;
  renamed: boolean;
  parents: string[];
  /** Files whose `-- braid:requires` lines were rewritten. */
  rewritten: string[];
}

export interface RebaseResult {
  onto: string;
  ontoCommit: string;
  moved: MovedMigration[];
  /** Migrations of the target that the working tree did not have (written from the target). */
  broughtIn: string[];
  replayed: number;
  roundTrips: number;
  engine: string;
  written: boolean;
  next: string[];
}

/** Rewrites ids inside `-- braid:requires` lines only. */
export function rewriteRequires(text: string, renames: ReadonlyMap<string, string>): string {
  return text.replace(/^([ \t]*--[ \t]*braid:requires\b)(.*)$/gm, (_all, head: string, rest: string) => {
    return head + rest.replace(/\b\d{14}_[a-z0-9_]+\b/g, (id) => renames.get(id) ?? id);
  });
}

function gitStatusPorcelain(cwd: string, dir: string): string {
  return execFileSync('git', ['status', '--porcelain', '--untracked-files=all', '--', dir], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * `braid rebase --onto <ref>`: moves this branch's new migrations (those not in ref's manifest)
 * after ref's head. Ids whose timestamps would not sort after ref's (and earlier moved ones) get a
 * new timestamp (slug kept, folder renamed, `-- braid:requires` references rewritten); parents
 * are rewritten (ref's heads for what hung off the old base); the manifest becomes ref's plus the
 * moved entries. The whole result is replayed on a shadow and every moved migration
 * round-tripped (up, verify, down, up) BEFORE anything is written; nothing is written on failure.
 */
export const rebaseCommand = defineCommand<RebaseArgs>({
  command: 'rebase',
  describe: "move this branch's new migrations after <ref>'s head (new ids, parents, manifest), proven first",
  builder: (y) =>
    withShadow(
      y
        .option('onto', { type: 'string', demandOption: true, describe: 'the target ref (e.g. main)' })
        .option('dry-run', { type: 'boolean', describe: 'check everything, write nothing' }),
    ),
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const migDirAbs = path.join(root, MIGRATIONS_DIR);
    const dirty = gitStatusPorcelain(root, migDirAbs).trim();
    if (dirty) {
      throw new UsageError(
        'dirty-migrations',
        `braid rebase: ${MIGRATIONS_DIR}/ has uncommitted changes (${dirty.split('\n')[0].trim()}${dirty.includes('\n') ? ', …' : ''}): commit or discard them first`,
        { data: { path: migDirAbs } },
      );
    }
    const repo = await GitRepo.open(root);
    let onto, mine;
    try {
      [onto, mine] = await Promise.all([
        migrationsAt(repo, root, args.onto),
        migrationsAt(repo, root, 'HEAD'),
      ]);
    } finally {
      repo.close();
    }
    const ontoBy = new Map(onto.manifest.entries.map((e) => [e.id, e] as const));
    const mineBy = new Map(mine.migrations.map((m) => [m.id, m] as const));
    const movedEntries: ManifestEntry[] = [];
    for (const e of mine.manifest.entries) {
      const o = ontoBy.get(e.id);
      if (!o) movedEntries.push(e);
      else if (o.hash !== e.hash) {
        throw new UsageError(
          'rebase-edited',
          `braid rebase: ${MIGRATIONS_DIR}/${e.id} differs from its version at ${args.onto}: a rebase moves new migrations only (make the edit a new migration, or take ${args.onto}'s version)`,
          { data: { id: e.id } },
        );
      }
    }
    const ontoCommit = onto.commit ?? args.onto;
    if (movedEntries.length === 0) {
      const res: RebaseResult = {
        onto: args.onto,
        ontoCommit,
        moved: [],
        broughtIn: [],
        replayed: 0,
        roundTrips: 0,
        engine: 'none',
        written: false,
        next: [],
      };
      if (args.json) ctx.out.result(res);
      else
        ctx.out.print(`braid rebase: nothing to move: every migration of HEAD is in ${args.onto}'s manifest`);
      return 0;
    }

    // New ids: each moved id must sort after everything before it.
    const existing = new Set(onto.manifest.entries.map((e) => e.id));
    const newest = () => [...existing].map(idTimestamp).sort().pop() ?? '';
    const renames = new Map<string, string>();
    for (const e of movedEntries) {
      let to = e.id;
      if (idTimestamp(e.id) <= newest()) {
        const when = parseTimestamp(idTimestamp(e.id)) ?? new Date(0);
        to = mintId(idSlug(e.id), when, existing);
      }
      existing.add(to);
      if (to !== e.id) renames.set(e.id, to);
    }
    const ontoHeads = heads(onto.manifest);
    const movedIds = new Set(movedEntries.map((e) => e.id));
    const moved: MovedMigration[] = [];
    const newMigrations: Migration[] = [];
    const newEntries: ManifestEntry[] = [];
    for (const e of movedEntries) {
      const src = mineBy.get(e.id)!;
      const to = renames.get(e.id) ?? e.id;
      const files: MigrationFiles = { up: rewriteRequires(src.files.up, renames) };
      if (src.files.down !== undefined) files.down = rewriteRequires(src.files.down, renames);
      if (src.files.verify !== undefined) files.verify = rewriteRequires(src.files.verify, renames);
      const rewritten = (['up', 'down', 'verify'] as const)
        .filter((k) => src.files[k] !== undefined && files[k] !== src.files[k])
        .map((k) => `${k}.sql`);
      const parents: string[] = [];
      for (const p of e.parents) {
        const mapped = movedIds.has(p) ? [renames.get(p) ?? p] : ontoHeads;
        for (const x of mapped) if (!parents.includes(x)) parents.push(x);
      }
      if (e.parents.length === 0) for (const x of ontoHeads) if (!parents.includes(x)) parents.push(x);
      const m = makeMigration(to, files, `${args.onto}+rebase:${MIGRATIONS_DIR}`);
      newMigrations.push(m);
      newEntries.push({ id: to, hash: hashMigration(files), parents });
      moved.push({ from: e.id, to, renamed: to !== e.id, parents, rewritten });
    }
    const manifest = { entries: [...onto.manifest.entries, ...newEntries] };
    const all = [...onto.migrations, ...newMigrations];

    // Prove it before writing anything.
    const spec = shadowSpec(args, ctx, root, { dirLabel: `${MIGRATIONS_DIR} (rebased onto ${args.onto})` });
    if (ctx.out.stderrTTY) ctx.out.note(`braid: replaying ${all.length} migration(s)`);
    let engine = spec.serverUrl ? 'postgres' : 'pglite';
    try {
      const r = await replaySchema(all, spec);
      engine = `${r.stats.engine} ${Math.floor(r.stats.serverVersionNum / 10000)}`;
    } catch (e) {
      if (e instanceof FindingsError) {
        throw new FindingsError(
          'rebase-replay-failed',
          `braid rebase: nothing written: the rebased history does not replay: ${e.message}`,
        );
      }
      throw e;
    }
    if (ctx.out.stderrTTY) ctx.out.note(`braid: round-tripping ${newMigrations.length} moved migration(s)`);
    const sh = await openTestShadow(spec.serverUrl);
    let failures: string[] = [];
    let tested = 0;
    try {
      const run = await runRoundTrips(sh.ex, all, new Set(newMigrations.map((m) => m.id)), {
        dirLabel: MIGRATIONS_DIR,
        impact: false,
      });
      tested = run.results.length;
      failures = run.results
        .filter((x) => isFailing(x.status))
        .map((x) => {
          const from = moved.find((mv) => mv.to === x.id)?.from ?? x.id;
          const name = from === x.id ? x.id : `${from} (moved as ${x.id})`;
          return `${name}: ${x.status}${x.problems[0] ? ` (${x.problems[0].message})` : ''}`;
        });
    } finally {
      await sh.close();
    }
    if (failures.length > 0) {
      throw new FindingsError(
        'rebase-roundtrip-failed',
        `braid rebase: nothing written: the round trip of ${failures.length} moved migration(s) fails after the move: ${failures.join('; ')}`,
        { data: { failures } },
      );
    }

    // Write: the target's missing folders, the moved folders (renamed), the manifest.
    const broughtIn = onto.migrations
      .filter((m) => !fs.existsSync(path.join(migDirAbs, m.id)))
      .map((m) => m.id);
    const writeFolder = (id: string, files: MigrationFiles) => {
      const d = path.join(migDirAbs, id);
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, 'up.sql'), files.up);
      for (const k of ['down', 'verify'] as const) {
        const p = path.join(d, `${k}.sql`);
        if (files[k] !== undefined) fs.writeFileSync(p, files[k]);
        else fs.rmSync(p, { force: true });
      }
    };
    if (!args['dry-run']) {
      for (const m of onto.migrations) if (broughtIn.includes(m.id)) writeFolder(m.id, m.files);
      for (const [i, mv] of moved.entries()) {
        writeFolder(mv.to, newMigrations[i].files);
        if (mv.renamed) fs.rmSync(path.join(migDirAbs, mv.from), { recursive: true, force: true });
      }
      fs.writeFileSync(path.join(migDirAbs, 'manifest'), serializeManifest(manifest));
    }
    const rel = path.relative(ctx.cwd, migDirAbs) || MIGRATIONS_DIR;
    const next = [
      `git add -A -- ${rel}`,
      `git commit -m "braid rebase --onto ${args.onto}: ${moved.length} migration(s) moved after ${ontoHeads.join(', ') || 'the root'}"`,
      `git merge ${args.onto}`,
    ];
    const res: RebaseResult = {
      onto: args.onto,
      ontoCommit,
      moved,
      broughtIn,
      replayed: all.length,
      roundTrips: tested,
      engine,
      written: !args['dry-run'],
      next,
    };
    if (args.json) {
      ctx.out.result(res);
      return 0;
    }
    ctx.out.print(`braid rebase --onto ${args.onto} (${ontoCommit.slice(0, 12)}):`);
    for (const mv of moved) {
      ctx.out.print(
        `  ${mv.renamed ? `${mv.from} -> ${mv.to}` : `${mv.to} (id kept)`}; parents ${mv.parents.join(', ') || '-'}${mv.rewritten.length ? `; braid:requires rewritten in ${mv.rewritten.join(', ')}` : ''}`,
      );
    }
    if (broughtIn.length)
      ctx.out.print(`  ${broughtIn.length} migration(s) of ${args.onto} written into the working tree`);
    ctx.out.print(
      `  proven: the rebased history replays (${all.length} migration(s) on ${engine}); round trip (up, verify, down, up) ok for ${tested} moved migration(s)`,
    );
    if (args['dry-run']) {
      ctx.out.print('  dry run: nothing written');
      return 0;
    }
    ctx.out.print(`  wrote ${rel}/manifest and ${moved.length} migration folder(s)`);
    ctx.out.print('next:');
    for (const l of next) ctx.out.print(`  ${l}`);
    return 0;
  },
});
