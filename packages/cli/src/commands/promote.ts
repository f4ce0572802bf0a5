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
import { loadProject, type Project } from '../project';
import {
  gitProvenance,
  lockOptions,
  parseCount,
  parseDuration,
  resolveDb,
  withApplyOptions,
  type ResolvedDb,
} from '../db';
import { eventPrinter, projectMigrations, reportMigrationFailure } from './up';

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

/** The environment's applied history must be a prefix of this manifest. */
function checkPrefix(env: string, project: Project, applied: string[], unknown: string[]): void {
  if (unknown.length > 0) {
    throw new PromoteRefused(
      'history-diverged',
      `promote ${env}: the database has migrations this branch does not know: ${unknown.join(', ')} (applied from another branch); merge that branch first`,
    );
  }
  const order = project.manifest.entries.map((e) => e.id);
  const appliedSet = new Set(applied);
  const k = appliedSet.size;
  const prefix = new Set(order.slice(0, k));
  const skipped = order.slice(0, k).filter((id) => !appliedSet.has(id));
  if (skipped.length > 0 || applied.some((id) => !prefix.has(id))) {
    const ahead = applied.filter((id) => !prefix.has(id));
    throw new PromoteRefused(
      'history-not-prefix',
      `promote ${env}: the database's history is not a prefix of this manifest: ${ahead.join(', ')} applied but ${skipped.join(', ')} (earlier in the manifest) not; check with braid diff that they commute, then apply with braid up`,
    );
  }
}

interface PromoteReport {
  environment: string;
  branch: string;
  commit: string;
  manifestHash: string;
  database: string;
  plan: Plan;
  policy: PolicyResult;
  dryRun: boolean;
  result?: ApplyResult;
}

export const promoteCommand = defineCommand<{
  env: string;
  'dry-run': boolean;
  'lock-wait': string | undefined;
  'lock-timeout': string | undefined;
  'lock-retries': string | undefined;
  'allow-edited': boolean;
  lock: string;
  'lease-ttl': string | undefined;
}>({
  command: 'promote <env>',
  describe: 'apply this branch’s pending migrations to an environment of braid.json, enforcing its policy',
  builder: (y) =>
    withApplyOptions(
      y
        .positional('env', { type: 'string', demandOption: true, describe: 'environment name (braid.json)' })
        .option('dry-run', {
          type: 'boolean',
          default: false,
          describe: 'run every check and show the plan; apply nothing',
        }),
    ),
  handler: async (args, ctx) => {
    const { root, migrations, dependsOn } = projectMigrations(ctx.cwd);
    const project = loadProject(root);
    const config = readConfig(root);
    const env = environmentOf(config, args.env);
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
      checkPrefix(
        env.name,
        project,
        status.applied.map((a) => a.id),
        status.unknown,
      );
      const plan = planUp(migrations, status, { dependsOn });

      // Policy: lint risk of each pending migration, approvals (git notes), test.
      const pendingIds = plan.steps.map((s) => s.id);
      const findings = await lint(
        migrations.map((m) => ({ id: m.id, ...m.files })),
        { only: pendingIds, unprotected: pendingIds, pgVersion: Math.floor(ex.serverVersionNum / 10000) },
      );
      const manifestHashOf = new Map(project.manifest.entries.map((e) => [e.id, e.hash]));
      const pending: PendingForPolicy[] = plan.steps.map((s) => {
        const mine = findings.filter((f) => f.migration === s.id && f.suppressed === undefined);
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
      const base = gitProvenance(root);
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
        ...lockOptions(args),
      });
      report.result = result;
      if (ctx.out.json) {
        ctx.out.result({ ok: true, ...report });
      } else {
        for (const s of result.results) ctx.out.print(`applied ${s.id} (${s.ms.toFixed(0)} ms)`);
        ctx.out.print(
          `promoted ${result.results.length} migration(s) to ${env.name} from ${where.branch} @ ${where.head.slice(0, 12)}`,
        );
      }
      return 0;
    } catch (e) {
      if (e instanceof MigrationFailedError) return reportMigrationFailure(ctx, e);
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
    const child = spawn(process.execPath, [script, 'test', ...ids, '--cwd', root], {
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
