/**
 * braid rollout: apply this branch's migrations to a fleet of databases listed in a targets file,
 * in waves, with a failure policy, health checks and rollback-on-failure; `status`, `pause`,
 * `resume` and `retry <target>` work from the local state file across restarts and kill -9.
 * See docs/rollout.md.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  EXIT_FINDINGS,
  EXIT_OK,
  UsageError,
  newRolloutState,
  parseWaves,
  rolloutIdFor,
  summarize,
  type RolloutOptions,
  type RolloutState,
  type TargetState,
} from '@braid/core';
import { defineCommand, type Context } from '../runtime';
import { findProject } from '../project';
import { projectMigrations } from './up';
import { gitProvenance, parseCount, parseDuration } from '../db';
import { Progress } from '../rollout/progress';
import { expandTenants, readTargetsFile, resolveTargetUrls } from '../targets';
import { Runner } from '../rollout/run';
import { rolloutBackup, rolloutOnline } from '../rollout/target-options';
import { StateStore, currentStateFile, newStateFile } from '../rollout/store';
import { execFileSync } from 'node:child_process';
import type { OnlineSettings } from '@braid/core';
import { withOnlineOptions, type OnlineArgs } from '../online';
import { controlUrlOf, fleet } from '../rollout/fleet-command';
import { parseReplicaWait } from '../rollout/replicas';

export interface RolloutArgs extends OnlineArgs {
  action: string | undefined;
  target: string | undefined;
  targets: string | undefined;
  waves: string | undefined;
  concurrency: string | undefined;
  'continue-on-error': boolean;
  'health-check': string | undefined;
  'health-sql': string | undefined;
  'health-timeout': string | undefined;
  'rollback-on-failure': boolean;
  lock: string;
  'lock-wait': string | undefined;
  'lock-timeout': string | undefined;
  'lock-retries': string | undefined;
  state: string | undefined;
  new: boolean;
  control: string | undefined;
  rollout: string | undefined;
  'server-concurrency': string | undefined;
  'lease-ttl': string | undefined;
  'replica-timeout': string | undefined;
  'replica-wait': string | undefined;
}

function currentBranch(root: string): string | undefined {
  try {
    const b = execFileSync('git', ['rev-parse', '--abbrev-ref', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return b && b !== 'HEAD' ? b : undefined;
  } catch {
    return undefined;
  }
}

function readHealthSql(cwd: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(path.resolve(cwd, file), 'utf8');
  } catch (e) {
    throw new UsageError(
      'bad-health-sql',
      `--health-sql: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

function optionsFrom(args: RolloutArgs): RolloutOptions {
  const waves = args.waves ?? 'rest';
  parseWaves(waves); // validates (exit 2)
  const o: RolloutOptions = {
    waves,
    concurrency: parseCount(args.concurrency, '--concurrency', 4, 1),
    continueOnError: args['continue-on-error'],
    healthTimeoutMs: parseDuration(args['health-timeout'], '--health-timeout', 60_000),
    rollbackOnFailure: args['rollback-on-failure'],
    lock: args.lock === 'lease' ? 'lease' : 'advisory',
    lockWaitMs: parseDuration(args['lock-wait'], '--lock-wait', 60_000),
    lockTimeoutMs: parseDuration(args['lock-timeout'], '--lock-timeout', 5_000),
    lockRetries: parseCount(args['lock-retries'], '--lock-retries', 3),
    replicaTimeoutMs: parseDuration(args['replica-timeout'], '--replica-timeout', 60_000),
    replicaWait: parseReplicaWait(args['replica-wait']),
  };
  if (args['health-check'] !== undefined) {
    if (args['health-check'].trim() === '')
      throw new UsageError('bad-health-check', '--health-check: empty command');
    o.healthCheck = args['health-check'];
  }
  if (args['health-sql'] !== undefined) o.healthSql = args['health-sql'];
  return o;
}

function exitFor(s: RolloutState): number {
  return s.status === 'done' ? EXIT_OK : EXIT_FINDINGS;
}

async function execute(
  ctx: Context,
  store: StateStore,
  env: ReturnType<typeof projectMigrations>,
  urls: Map<string, string>,
  fn: (r: Runner) => Promise<RolloutState>,
  online?: OnlineSettings,
): Promise<RolloutState> {
  const release = store.lock();
  // First Ctrl-C (or SIGTERM): a pause, taking effect between migrations. Second: abort at once
  // (the migration in flight is rolled back by the server; resume picks the target up again).
  let interrupted = false;
  const onSignal = (): void => {
    if (!interrupted) {
      interrupted = true;
      store.requestPause();
      ctx.out.note('braid: pausing after the migrations in flight (interrupt again to abort now)');
      return;
    }
    release();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const s = store.state;
    const healthSqlText = readHealthSql(env.root, s.options.healthSql);
    if (env.manifestHash !== s.manifestHash) {
      store.state = { ...s, manifestHash: env.manifestHash };
    }
    const base = await gitProvenance(env.root);
    if (base.gitCommit) store.state = { ...store.state, commit: base.gitCommit };
    const branch = currentBranch(env.root);
    const backup = rolloutBackup(env.root, base.gitCommit);
    const runner = new Runner({
      store,
      progress: new Progress(ctx.out, ctx.out.json || !process.stdout.isTTY),
      root: env.root,
      migrations: env.migrations,
      dependsOn: env.dependsOn,
      provenance: { ...base, manifestHash: env.manifestHash, ...(branch ? { gitBranch: branch } : {}) },
      urls,
      ...(online ? { online } : {}),
      ...(backup ? { backup } : {}),
      ...(healthSqlText === undefined ? {} : { healthSqlText }),
      clean: (t) => ctx.out.clean(t),
    });
    return await fn(runner);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    release();
  }
}

function printSummary(ctx: Context, s: RolloutState, file: string): void {
  if (ctx.out.json || !process.stdout.isTTY) return; // the events said it all
  const sum = summarize(s);
  ctx.out.print(
    `rollout ${s.rolloutId}: ${s.status} — ${sum.done}/${sum.targets} done, ${sum.failed} failed, ${sum.rolledBack} rolled back, ${sum.paused} paused, ${sum.pending} pending`,
  );
  for (const t of s.targets) {
    if (t.status === 'failed' || t.status === 'rolled-back')
      ctx.out.print(`  ${t.name}: ${t.status}: ${t.failure?.error ?? ''}`);
  }
  ctx.out.print(`state: ${displayPath(ctx.cwd, file)}`);
}

function displayPath(cwd: string, p: string): string {
  const rel = path.relative(cwd, p);
  return rel && !rel.startsWith('..') ? rel : p;
}

async function start(args: RolloutArgs, ctx: Context): Promise<number> {
  if (args.targets === undefined)
    throw new UsageError(
      'missing-targets',
      'braid rollout: --targets FILE is required (a JSON file listing the targets)',
    );
  const env = projectMigrations(ctx.cwd);
  const targetsPath = path.resolve(ctx.cwd, args.targets);
  const listed = readTargetsFile(ctx.cwd, args.targets);
  const options = optionsFrom(args);
  if (options.healthSql !== undefined) {
    readHealthSql(ctx.cwd, options.healthSql);
    options.healthSql = path.resolve(ctx.cwd, options.healthSql);
  }
  const expanded = await expandTenants(
    listed,
    resolveTargetUrls(ctx, env.root, listed, args.targets),
    args.targets,
  );
  const { targets, urls } = expanded;
  if (args.state === undefined && !args.new) {
    let cur: string | undefined;
    try {
      cur = currentStateFile(ctx.cwd, env.root);
    } catch {
      cur = undefined;
    }
    if (cur) {
      const prev = StateStore.load(cur);
      if (prev.state.status === 'running' || prev.state.status === 'paused') {
        throw new UsageError(
          'rollout-unfinished',
          `rollout ${prev.state.rolloutId} is not finished (${prev.state.status}): braid rollout resume continues it, braid rollout status shows it; pass --new to start another`,
          { data: { rolloutId: prev.state.rolloutId } },
        );
      }
    }
  }
  const rolloutId = rolloutIdFor(new Date(), randomBytes(3).toString('hex'));
  const file = newStateFile(ctx.cwd, env.root, rolloutId, args.state);
  if (args.state !== undefined && fs.existsSync(file))
    throw new UsageError(
      'state-exists',
      `--state: ${args.state} already exists (braid rollout resume --state ${args.state} continues it)`,
    );
  const base = await gitProvenance(env.root);
  const state = newRolloutState({
    rolloutId,
    now: new Date().toISOString(),
    ...(base.gitCommit ? { commit: base.gitCommit } : {}),
    manifestHash: env.manifestHash,
    migrations: env.migrations.length,
    targetsFile: path.relative(env.root, targetsPath) || targetsPath,
    options,
    targets,
  });
  const store = StateStore.create(file, state, args.state === undefined);
  const s = await execute(
    ctx,
    store,
    env,
    urls,
    async (runner) => {
      new Progress(ctx.out, ctx.out.json || !process.stdout.isTTY).event({
        event: 'rollout-start',
        rolloutId,
        targets: state.targets.length,
        waves: state.waves.length,
        pending: env.migrations.length,
        stateFile: file,
      });
      return runner.run();
    },
    rolloutOnline(args, env.root),
  );
  printSummary(ctx, s, file);
  return exitFor(s);
}

function loadCurrent(args: RolloutArgs, ctx: Context): { store: StateStore; root: string } {
  const root = findProject(ctx.cwd);
  return { store: StateStore.load(currentStateFile(ctx.cwd, root, args.state)), root };
}

function targetsToRun(s: RolloutState): TargetState[] {
  return s.targets.filter((t) => t.status !== 'done' && t.status !== 'failed' && t.status !== 'rolled-back');
}

async function resume(args: RolloutArgs, ctx: Context): Promise<number> {
  const { store } = loadCurrent(args, ctx);
  const env = projectMigrations(ctx.cwd);
  const pendingRollback = store.state.targets.filter((t) => t.status === 'failed' && t.rollback?.pending);
  const urls = resolveTargetUrls(
    ctx,
    env.root,
    [...targetsToRun(store.state), ...pendingRollback],
    store.state.targetsFile,
  );
  const s = await execute(
    ctx,
    store,
    env,
    urls,
    (r) => {
      // holding the runner lock: a pause meant for a running process is never cleared by us
      store.clearPause();
      store.state = { ...store.state, status: 'running' };
      return r.run();
    },
    rolloutOnline(args, env.root),
  );
  printSummary(ctx, s, store.file);
  return exitFor(s);
}

async function retry(args: RolloutArgs, ctx: Context): Promise<number> {
  if (args.target === undefined)
    throw new UsageError('missing-target', 'braid rollout retry: name the target to retry');
  const { store } = loadCurrent(args, ctx);
  const t = store.state.targets.find((x) => x.name === args.target);
  if (!t) {
    throw new UsageError(
      'unknown-target',
      `braid rollout retry: no target ${args.target} in rollout ${store.state.rolloutId} (targets: ${store.state.targets
        .slice(0, 10)
        .map((x) => x.name)
        .join(', ')}${store.state.targets.length > 10 ? ', …' : ''})`,
    );
  }
  if (t.status === 'done') {
    throw new UsageError(
      'target-done',
      `braid rollout retry: ${t.name} is already done in rollout ${store.state.rolloutId}`,
    );
  }
  const env = projectMigrations(ctx.cwd);
  const urls = resolveTargetUrls(ctx, env.root, [t], store.state.targetsFile);
  const s = await execute(ctx, store, env, urls, (r) => r.retry(t.name), rolloutOnline(args, env.root));
  const after = s.targets.find((x) => x.name === t.name)!;
  if (!ctx.out.json && process.stdout.isTTY)
    ctx.out.print(`${t.name}: ${after.status}${after.failure ? `: ${after.failure.error}` : ''}`);
  return after.status === 'done' ? EXIT_OK : EXIT_FINDINGS;
}

function pause(args: RolloutArgs, ctx: Context): number {
  const { store } = loadCurrent(args, ctx);
  let pid = store.runnerPid();
  if (pid === undefined) {
    // nobody runs it: mark it paused ourselves, holding the runner lock
    try {
      const release = store.lock();
      try {
        store.requestPause();
        if (store.state.status === 'running') store.state = { ...store.state, status: 'paused' };
        store.save();
      } finally {
        release();
      }
    } catch {
      pid = store.runnerPid(); // a runner started meanwhile: the marker below reaches it
    }
  }
  // A running process owns the state file: only the marker is written; it stops between
  // migrations and records the pause itself.
  store.requestPause();
  const msg =
    pid === undefined
      ? `rollout ${store.state.rolloutId} paused (no process is running it); braid rollout resume continues it`
      : `pause requested: rollout ${store.state.rolloutId} (process ${pid}) stops after the migrations in flight; braid rollout resume continues it`;
  if (ctx.out.json)
    ctx.out.result({ rolloutId: store.state.rolloutId, pauseRequested: true, runnerPid: pid ?? null });
  else ctx.out.print(msg);
  return EXIT_OK;
}

function status(args: RolloutArgs, ctx: Context): number {
  const { store } = loadCurrent(args, ctx);
  const s = store.state;
  const pid = store.runnerPid();
  const sum = summarize(s);
  if (ctx.out.json) {
    ctx.out.result({ stateFile: store.file, runnerPid: pid ?? null, summary: sum, ...s });
    return EXIT_OK;
  }
  const where = pid
    ? ` (running in process ${pid})`
    : s.status === 'running'
      ? ' (interrupted: no process is running it; braid rollout resume continues it)'
      : '';
  ctx.out.print(`rollout ${s.rolloutId}: ${s.status}${where}${s.pauseRequested ? ', pause requested' : ''}`);
  ctx.out.print(
    `commit ${s.commit?.slice(0, 12) ?? '(none)'}, ${s.migrations} migrations, ${s.targets.length} targets from ${s.targetsFile}, waves ${s.options.waves}, concurrency ${s.options.concurrency}${s.options.continueOnError ? ', continue-on-error' : ''}${s.options.rollbackOnFailure ? ', rollback-on-failure' : ''}`,
  );
  for (const w of sum.waves) {
    ctx.out.print(
      `wave ${w.wave + 1}/${sum.waves.length}: ${w.done}/${w.total} done, ${w.running} running, ${w.failed} failed, ${w.paused} paused, ${w.pending} pending`,
    );
    for (const t of s.targets.filter((x) => x.wave === w.wave)) {
      const detail =
        t.status === 'failed' || t.status === 'rolled-back'
          ? `${t.failure?.migration ? ` at ${t.failure.migration}` : ''}: ${t.failure?.error ?? ''}${t.rollback?.error ? ` (rollback failed: ${t.rollback.error})` : ''}`
          : t.note
            ? ` (${t.note})`
            : '';
      ctx.out.print(
        `  ${t.name.padEnd(16)} ${t.status.padEnd(11)} ${String(t.applied.length).padStart(3)} applied${detail}`,
      );
    }
  }
  ctx.out.print(`state: ${displayPath(ctx.cwd, store.file)}`);
  return EXIT_OK;
}

export const rolloutCommand = defineCommand<RolloutArgs>({
  command: 'rollout [action] [target]',
  describe:
    'apply the migrations to a fleet of databases in waves (actions: status, pause, resume, retry <target>)',
  builder: (y) =>
    withOnlineOptions(y)
      .positional('action', {
        type: 'string',
        choices: ['status', 'pause', 'resume', 'retry', 'worker'],
        describe: 'none: start a rollout; status | pause | resume | retry <target>',
      })
      .positional('target', { type: 'string', describe: 'retry: the target to re-run' })
      .option('targets', { type: 'string', describe: 'JSON file {"targets":[{"name","urlEnv"}]}' })
      .option('waves', { type: 'string', describe: 'wave sizes, e.g. 1,10%,rest (default: rest, one wave)' })
      .option('concurrency', {
        type: 'string',
        describe: 'targets applied at once within a wave (default 4)',
      })
      .option('continue-on-error', {
        type: 'boolean',
        default: false,
        describe: 'keep going after a target fails; report the failures at the end',
      })
      .option('health-check', {
        type: 'string',
        describe:
          'shell command run after each target (BRAID_TARGET, BRAID_ROLLOUT_ID set); non-zero = failed',
      })
      .option('health-sql', {
        type: 'string',
        describe: 'SQL file run on each target; an error or a first column false/0/null = failed',
      })
      .option('health-timeout', { type: 'string', describe: 'time limit of each health check (default 60s)' })
      .option('rollback-on-failure', {
        type: 'boolean',
        default: false,
        describe: 'roll a failed target back to where this rollout found it',
      })
      .option('lock', {
        type: 'string',
        choices: ['advisory', 'lease'],
        default: 'advisory',
        describe: 'runner lock per target',
      })
      .option('lock-wait', { type: 'string', describe: "how long to wait for a target's lock (default 60s)" })
      .option('lock-timeout', {
        type: 'string',
        describe: 'lock_timeout for each migration’s DDL (default 5s)',
      })
      .option('lock-retries', { type: 'string', describe: 'retries after a lock timeout (default 3)' })
      .option('state', {
        type: 'string',
        describe: 'state file (default .git/braid/rollout/<id>.json and a current pointer)',
      })
      .option('control', {
        type: 'string',
        describe:
          'control database URL: the rollout lives there and braid rollout worker processes on any machine run it (default: braid.json rollout.controlEnv)',
      })
      .option('rollout', { type: 'string', describe: 'with --control: the rollout id (default: the latest)' })
      .option('server-concurrency', {
        type: 'string',
        describe: 'with --control: at most N targets of one server (host:port) at once',
      })
      .option('lease-ttl', {
        type: 'string',
        describe: 'with --control: lease of a claimed target (default 15s)',
      })
      .option('replica-timeout', {
        type: 'string',
        describe: "how long a target's replicas may take to replay braid's commit (default 60s)",
      })
      .option('replica-wait', {
        type: 'string',
        describe:
          "when to wait for a target's replicas: target (after its last migration, before the next wave; default) or migration (after each one)",
      })
      .option('new', {
        type: 'boolean',
        default: false,
        describe: 'start a new rollout even though the current one is not finished',
      }),
  handler: async (args, ctx) => {
    if (args.target !== undefined && args.action !== 'retry')
      throw new UsageError(
        'unexpected-argument',
        `braid rollout ${args.action ?? ''}: unexpected argument ${args.target}`,
      );
    const control = controlUrlOf(args, ctx);
    if (control !== undefined) return (await fleet(args, ctx, control)) as 0 | 1;
    if (args.action === 'worker')
      throw new UsageError(
        'missing-control',
        'braid rollout worker: --control URL is required (or braid.json rollout.controlEnv)',
      );
    switch (args.action) {
      case undefined:
        return (await start(args, ctx)) as 0 | 1;
      case 'status':
        return status(args, ctx) as 0;
      case 'pause':
        return pause(args, ctx) as 0;
      case 'resume':
        return (await resume(args, ctx)) as 0 | 1;
      case 'retry':
        return (await retry(args, ctx)) as 0 | 1;
      default:
        throw new UsageError('unknown-action', `braid rollout: unknown action ${args.action}`);
    }
  },
});
