import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  CONFIG_FILE,
  EXIT_FINDINGS,
  UsageError,
  environmentOf,
  evaluatePolicy,
  manifestBodyHash,
  parseConfig,
  versionText,
  type BraidConfig,
  type Blocker,
  type PendingForPolicy,
  type PolicyResult,
} from '@braid/core';
import { readApprovalsFor, runGit } from '@braid/git';
import {
  applyUp,
  MigrationFailedError,
  openExecutor,
  planUp,
  readStatus,
  type ApplyResult,
  type Executor,
  type Plan,
} from '@braid/pg';
import { lint } from '@braid/sql';
import { defineCommand, type Context } from '../runtime';
import { shadowSpec } from '../shadow';
import { braidChildEnv, braidNodeArgs } from '../self';
import { computeVerdict, renderVerdictText } from '../verdict';
import { loadProject, type Project } from '../project';
import { markBaseline, readBaselineCheck } from '../baseline';
import {
  gitProvenance,
  lockOptions,
  parseCount,
  parseDuration,
  resolveDb,
  withApplyOptions,
  type ResolvedDb,
} from '../db';
import { engineLabel, eventPrinter, projectMigrations, reportMigrationFailure } from './up';
import { onlineOptions, onlineSettings, withOnlineOptions, type OnlineArgs } from '../online';
import { applyBackups, backupSettings } from '../backup';

/** Reads and validates braid.json at the project root. */
export function readConfig(root: string): BraidConfig {
  const file = path.join(root, CONFIG_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(
      'no-config',
      `${CONFIG_FILE} does not exist in ${root} (it defines the environments)`,
    );
  }
  return parseConfig(text, CONFIG_FILE);
}

async function git(root: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await runGit(root, args);
  return { code: r.code, out: r.stdout.toString('utf8').trim() };
}

/** HEAD must be on the environment's branch or merged into it. Returns the branch to record. */
async function checkBranch(
  root: string,
  env: string,
  branch: string,
): Promise<{ head: string; branch: string }> {
  const head = await git(root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}']);
  if (head.code !== 0) throw new UsageError('no-commit', 'promote: HEAD has no commit yet');
  let ref = await git(root, ['rev-parse', '--verify', '-q', `refs/heads/${branch}^{commit}`]);
  if (ref.code !== 0) ref = await git(root, ['rev-parse', '--verify', '-q', `${branch}^{commit}`]);
  if (ref.code !== 0) {
    throw new UsageError(
      'unknown-branch',
      `promote ${env}: branch ${branch} (braid.json environments.${env}.branch) does not exist here`,
      {
        data: { branch },
      },
    );
  }
  const anc = await runGit(root, ['merge-base', '--is-ancestor', head.out, ref.out]);
  const current = await git(root, ['rev-parse', '--abbrev-ref', 'HEAD']);
  if (anc.code !== 0) {
    throw new PromoteRefused(
      'wrong-branch',
      `promote ${env}: HEAD (${head.out.slice(0, 12)}${current.out && current.out !== 'HEAD' ? `, branch ${current.out}` : ''}) is not on ${branch} nor merged into it; only ${branch} deploys to ${env}`,
    );
  }
  const dirty = await git(root, ['status', '--porcelain', '--', '.migrations', CONFIG_FILE]);
  if (dirty.out) {
    throw new PromoteRefused(
      'uncommitted-changes',
      `promote ${env}: .migrations/ or ${CONFIG_FILE} has uncommitted changes; commit them (the audit records the commit)`,
    );
  }
  return { head: head.out, branch: current.out && current.out !== 'HEAD' ? current.out : branch };
}

class PromoteRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly blockers: Blocker[] = [],
  ) {
    super(message);
  }
}

/**
 * The environment's applied history must be a prefix of this manifest, or commute with it: the
 * migrations it skipped (pending, earlier in the manifest) and the ones it applied past them
 * must be concurrent in the DAG and the branch verdict (replays in both orders on a shadow,
 * footprints) must say "safe". Returns a note when a commuting history is accepted.
 */
async function checkHistory(
  ctx: Context,
  root: string,
  env: string,
  project: Project,
  applied: string[],
  unknown: string[],
  dependsOn: ReadonlyMap<string, readonly string[]>,
): Promise<string | undefined> {
  if (unknown.length > 0) {
    throw new PromoteRefused(
      'history-diverged',
      `promote ${env}: the database has migrations this branch does not know: ${unknown.join(', ')} (applied from another branch); merge that branch first`,
    );
  }
  const entries = project.manifest.entries;
  const appliedSet = new Set(applied);
  let k = 0;
  while (k < entries.length && appliedSet.has(entries[k].id)) k++;
  const last = Math.max(-1, ...entries.map((e, i) => (appliedSet.has(e.id) ? i : -1)));
  if (last < k) return undefined; // a prefix
  const between = entries.slice(k, last + 1);
  const skipped = between.filter((e) => !appliedSet.has(e.id));
  const ahead = between.filter((e) => appliedSet.has(e.id));
  const what = `${ahead.map((e) => e.id).join(', ')} applied but ${skipped.map((e) => e.id).join(', ')} (earlier in the manifest) not`;
  // a skipped migration that an applied one was written on top of cannot be applied now
  const skippedSet = new Set(skipped.map((e) => e.id));
  const seen = new Set<string>();
  const stack = ahead.map((e) => e.id);
  while (stack.length > 0) {
    const id = stack.pop()!;
    for (const d of dependsOn.get(id) ?? []) {
      if (skippedSet.has(d)) {
        throw new PromoteRefused(
          'history-not-prefix',
          `promote ${env}: the database's history is not a prefix of this manifest: ${what}, and ${id} depends on ${d}; roll back or apply ${d} by hand`,
        );
      }
      if (!seen.has(d)) {
        seen.add(d);
        stack.push(d);
      }
    }
  }
  const ids = (es: typeof entries) => new Set(es.map((e) => e.id));
  const side = (es: typeof entries, label: string) => {
    const keep = ids(es);
    return {
      label,
      manifest: { entries: es.map((e) => ({ ...e, parents: e.parents.filter((x) => keep.has(x)) })) },
      migrations: es.map((e) => project.migrations.get(e.id)!),
    };
  };
  const base = entries.slice(0, k);
  ctx.out.note(
    `braid: ${env}'s history is not a prefix of this manifest (${what}): checking that they commute`,
  );
  const verdict = await computeVerdict({
    base: side(base, 'applied prefix'),
    ours: side([...base, ...skipped], 'pending'),
    theirs: side([...base, ...ahead], env),
    shadow: shadowSpec({}, ctx, root),
  });
  if (verdict.verdict !== 'safe') {
    if (!ctx.out.json) for (const l of renderVerdictText(verdict)) ctx.out.print(l);
    throw new PromoteRefused(
      'history-not-commuting',
      `promote ${env}: the database's history is not a prefix of this manifest (${what}) and they do not provably commute (verdict: ${verdict.verdict}${verdict.reasons[0] ? `: ${verdict.reasons[0]}` : ''})`,
    );
  }
  return `${what}; they commute (verdict safe): applying out of order`;
}

interface PromoteReport {
  environment: string;
  branch: string;
  commit: string;
  manifestHash: string;
  database: string;
  /** `prefix`, or `commutes` when applied out of order after a safe verdict. */
  history: 'prefix' | 'commutes';
  plan: Plan;
  policy: PolicyResult;
  dryRun: boolean;
  result?: ApplyResult;
}

export const promoteCommand = defineCommand<
  OnlineArgs & {
    env: string;
    'dry-run': boolean;
    'lock-wait': string | undefined;
    'lock-timeout': string | undefined;
    'lock-retries': string | undefined;
    'allow-edited': boolean;
    lock: string;
    'lease-ttl': string | undefined;
  }
>({
  command: 'promote <env>',
  describe: 'apply this branch’s pending migrations to an environment of braid.json, enforcing its policy',
  builder: (y) =>
    withOnlineOptions(
      withApplyOptions(
        y
          .positional('env', {
            type: 'string',
            demandOption: true,
            describe: 'environment name (braid.json)',
          })
          .option('dry-run', {
            type: 'boolean',
            default: false,
            describe: 'run every check and show the plan; apply nothing',
          }),
      ),
    ),
  handler: async (args, ctx) => {
    const { root, migrations, dependsOn } = projectMigrations(ctx.cwd);
    const project = loadProject(root);
    const config = readConfig(root);
    const env = environmentOf(config, args.env);
    const online = onlineSettings(args, [config.online, env.online]);
    const backup = backupSettings(root, config, { environment: env.name });
    const manifestHash = manifestBodyHash(project.manifest);
    let ex: Executor | undefined;
    try {
      const where = await checkBranch(root, env.name, env.branch);
      const url = process.env[env.urlEnv];
      if (!url) {
        throw new UsageError(
          'env-url-unset',
          `promote ${env.name}: the variable ${env.urlEnv} (braid.json environments.${env.name}.urlEnv) is not set`,
          { data: { variable: env.urlEnv } },
        );
      }
      const db: ResolvedDb = resolveDb(url, ctx.cwd, root);
      for (const s of db.secrets) ctx.out.addSecret(s);
      ctx.out.addSecret(url);
      ex = await openExecutor(db.url, `braid promote ${env.name} (pid ${process.pid})`, {
        lockWaitMs: parseDuration(args['lock-wait'], '--lock-wait', 60_000),
      });
      const status = await readStatus(ex, migrations);
      const commuted = await checkHistory(
        ctx,
        root,
        env.name,
        project,
        status.applied.map((a) => a.id),
        status.unknown,
        dependsOn,
      );
      if (commuted) ctx.out.note(`braid: ${commuted}`);
      const plan = planUp(migrations, status, { dependsOn });

      // Policy: lint risk of each pending migration, approvals (git notes), test.
      const pendingIds = plan.steps.map((s) => s.id);
      const findings = await lint(
        migrations.map((m) => ({ id: m.id, ...m.files })),
        { only: pendingIds, unprotected: pendingIds, pgVersion: Math.floor(ex.serverVersionNum / 10000) },
      );
      // Imported history (.migrations/baseline) already ran elsewhere: its findings do not count.
      markBaseline(
        findings,
        readBaselineCheck(
          root,
          project.manifest.entries.map((e) => e.id),
        ),
      );
      const manifestHashOf = new Map(project.manifest.entries.map((e) => [e.id, e.hash]));
      const pending: PendingForPolicy[] = plan.steps.map((s) => {
        const mine = findings.filter(
          (f) => f.migration === s.id && f.suppressed === undefined && f.baseline === undefined,
        );
        const hash = manifestHashOf.get(s.id) ?? s.checksum;
        const filesHash = project.migrations.get(s.id)?.hash ?? hash;
        return {
          id: s.id,
          hash,
          ...(filesHash !== hash ? { filesHash } : {}),
          lintErrors: mine.filter((f) => f.severity === 'error').length,
          lintWarnings: mine.filter((f) => f.severity === 'warning').length,
        };
      });
      const approvals = await readApprovalsFor(root, pendingIds);
      const passed =
        env.policy.requireTest && pendingIds.length > 0
          ? await roundTripsPass(ctx, root, pendingIds)
          : undefined;
      const policy = evaluatePolicy(env.policy, pending, approvals, { manifestHash, passed });
      const report: PromoteReport = {
        environment: env.name,
        branch: where.branch,
        commit: where.head,
        manifestHash,
        database: db.label,
        history: commuted ? 'commutes' : 'prefix',
        plan,
        policy,
        dryRun: args['dry-run'],
      };
      printPlan(ctx, report);
      if (!policy.ok) {
        throw new PromoteRefused(
          policy.blockers[0]?.code ?? 'policy',
          `promote ${env.name}: refused by policy (${policy.blockers.length} blocker(s))`,
          policy.blockers,
        );
      }
      if (args['dry-run'] || plan.steps.length === 0) {
        if (ctx.out.json) ctx.out.result({ ok: true, ...report });
        else
          ctx.out.print(
            plan.steps.length === 0 ? `${env.name} is up to date` : `dry run: nothing applied to ${env.name}`,
          );
        return 0;
      }
      const base = await gitProvenance(root);
      const backups = backup.policy === 'off' ? undefined : applyBackups(backup, ex.label, where.head);
      const result = await applyUp(ex, migrations, {
        dependsOn,
        provenance: {
          ...base,
          gitCommit: where.head,
          gitBranch: where.branch,
          manifestHash,
          environment: env.name,
        },
        lockWaitMs: parseDuration(args['lock-wait'], '--lock-wait', 60_000),
        lockTimeoutMs: parseDuration(args['lock-timeout'], '--lock-timeout', 5_000),
        lockRetries: parseCount(args['lock-retries'], '--lock-retries', 3),
        allowEdited: args['allow-edited'],
        onEvent: eventPrinter(ctx),
        online: onlineOptions(ctx, online),
        ...lockOptions(args),
        ...(backups ? { backup: backups.hooks } : {}),
      });
      for (const m of (await backups?.prune(ex)) ?? []) ctx.out.note(`braid: ${m}`);
      report.result = result;
      if (ctx.out.json) {
        ctx.out.result({
          ok: true,
          ...report,
          engine: ex.engine,
          serverVersion: versionText(ex.serverVersionNum),
        });
      } else {
        for (const s of result.results)
          ctx.out.print(`applied ${s.id} (${s.ms.toFixed(0)} ms)${s.note ? ` — ${s.note}` : ''}`);
        ctx.out.print(
          `promoted ${result.results.length} migration(s) to ${env.name} from ${where.branch} @ ${where.head.slice(0, 12)} (${engineLabel(ex)})`,
        );
      }
      return 0;
    } catch (e) {
      if (e instanceof MigrationFailedError) return reportMigrationFailure(ctx, e, ex);
      if (e instanceof PromoteRefused) {
        if (ctx.out.json) {
          ctx.out.result({
            ok: false,
            environment: env.name,
            refused: e.code,
            message: e.message,
            blockers: e.blockers,
          });
        } else {
          for (const b of e.blockers) ctx.out.print(`refused: ${b.message}`);
        }
        ctx.out.note(`braid: ${e.message}`);
        return EXIT_FINDINGS;
      }
      throw e;
    } finally {
      await ex?.close();
    }
  },
});

/**
 * policy.requireTest: runs `braid test <pending ids>` (this very bundle, a child process) on the
 * checked-out manifest — the exact manifest hash being promoted — on the default shadow.
 */
async function roundTripsPass(ctx: Context, root: string, ids: string[]): Promise<boolean> {
  const script = process.argv[1];
  if (!script) return false;
  ctx.out.note(`braid: policy requireTest: running braid test ${ids.join(' ')}`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [...braidNodeArgs(), script, 'test', ...ids, '--cwd', root], {
      env: braidChildEnv(),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', () => resolve(-1));
    child.on('close', (c) => resolve(c ?? -1));
  });
  return code === 0;
}

function printPlan(ctx: Context, r: PromoteReport): void {
  if (ctx.out.json) return;
  ctx.out.print(`promote ${r.environment}: ${r.branch} @ ${r.commit.slice(0, 12)} → ${r.database}`);
  if (r.plan.steps.length === 0) return;
  ctx.out.print(`plan (${r.plan.steps.length} migration(s)):`);
  for (const s of r.policy.steps) {
    const approvals = s.required > 0 ? `, approvals ${s.approvedBy.length}/${s.required}` : '';
    ctx.out.print(`  ${s.id}  risk ${s.risk}${approvals}`);
  }
}
