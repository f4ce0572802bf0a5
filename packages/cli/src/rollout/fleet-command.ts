/**
 * `braid rollout … --control URL`: the rollout lives in a control database. Starting one writes
 * its plan, waves and targets there and returns; `braid rollout worker` processes (any number,
 * any machines) run it; `status`, `pause`, `resume` and `retry <target>` work from any machine.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import {
  EXIT_OK,
  UsageError,
  assignWaves,
  fleetStatus,
  parseWaves,
  rolloutIdFor,
  serverKeyOf,
} from '@braid/core';
import type { Context } from '../runtime';
import { braidVersion, gitProvenance, parseCount, parseDuration } from '../db';
import { readConfigIfAny } from '../online';
import { findProject } from '../project';
import { projectMigrations } from '../commands/up';
import { expandTenants, readTargetsFile, resolveTargetUrls } from '../targets';
import { Control, type ControlRollout } from './control';
import { runWorker } from './worker';
import { rolloutBackup, rolloutOnline } from './target-options';
import type { RolloutArgs } from '../commands/rollout';
import { parseReplicaWait } from './replicas';
import type { OnlineArgs } from '../online';

/** The flags of `braid rollout` that a control-database rollout reads. */
type FleetArgs = Pick<
  RolloutArgs,
  | 'action'
  | 'target'
  | 'targets'
  | 'waves'
  | 'concurrency'
  | 'continue-on-error'
  | 'lock'
  | 'lock-wait'
  | 'lock-timeout'
  | 'lock-retries'
  | 'control'
  | 'rollout'
  | 'server-concurrency'
  | 'lease-ttl'
  | 'replica-timeout'
  | 'replica-wait'
> &
  OnlineArgs;

/** --control, else braid.json's rollout.controlEnv (its variable must then be set). */
export function controlUrlOf(args: FleetArgs, ctx: Context): string | undefined {
  let url = args.control;
  if (url === undefined) {
    let root: string;
    try {
      root = findProject(ctx.cwd);
    } catch {
      return undefined;
    }
    const env = readConfigIfAny(root)?.rollout?.controlEnv;
    if (env === undefined) return undefined;
    url = process.env[env];
    if (url === undefined || url.trim() === '')
      throw new UsageError(
        'control-url-unset',
        `the variable ${env} (braid.json: rollout.controlEnv) is not set; export the control database URL`,
      );
  }
  if (!/^postgres(ql)?:\/\//i.test(url))
    throw new UsageError('bad-control-url', '--control: expected a postgres:// URL of the control database');
  try {
    const pw = new URL(url).password;
    if (pw) ctx.out.addSecret(decodeURIComponent(pw));
  } catch {
    // not parseable: connecting reports it
  }
  return url;
}

const who = (what: string): string => `braid rollout ${what} (pid ${process.pid})`;

async function loadRollout(c: Control, id: string | undefined): Promise<ControlRollout> {
  const r = await c.rollout(id);
  if (!r)
    throw new UsageError(
      'no-rollout',
      id === undefined
        ? `no rollout in the control database ${c.label} (start one with braid rollout --control URL --targets FILE)`
        : `no rollout ${id} in the control database ${c.label}`,
    );
  return r;
}

export async function fleet(args: FleetArgs, ctx: Context, url: string): Promise<number> {
  const creating = args.action === undefined;
  const control = await Control.open(
    url,
    who(args.action ?? 'start'),
    creating || args.action === 'worker',
    braidVersion(),
  );
  try {
    switch (args.action) {
      case undefined:
        return await start(args, ctx, control);
      case 'worker':
        return await worker(args, ctx, control, url);
      case 'status':
        return await status(args, ctx, control);
      case 'pause':
      case 'resume': {
        const r = await loadRollout(control, args.rollout);
        await control.setPaused(r.id, args.action === 'pause');
        if (ctx.out.json) ctx.out.result({ rolloutId: r.id, paused: args.action === 'pause' });
        else
          ctx.out.print(
            args.action === 'pause'
              ? `rollout ${r.id} paused: every worker stops between migrations within one heartbeat; braid rollout resume --control … continues it`
              : `rollout ${r.id} resumed: running workers continue; start workers if none is running`,
          );
        return EXIT_OK;
      }
      case 'retry': {
        if (args.target === undefined)
          throw new UsageError('missing-target', 'braid rollout retry: name the target to retry');
        const r = await loadRollout(control, args.rollout);
        const was = await control.requeue(r.id, args.target);
        if (was === undefined)
          throw new UsageError(
            'unknown-target',
            `braid rollout retry: no target ${args.target} in rollout ${r.id}`,
          );
        if (was === 'done')
          throw new UsageError(
            'target-done',
            `braid rollout retry: ${args.target} is already done in rollout ${r.id}`,
          );
        if (ctx.out.json) ctx.out.result({ rolloutId: r.id, target: args.target, was, status: 'pending' });
        else ctx.out.print(`${args.target}: ${was} → pending; a worker picks it up`);
        return EXIT_OK;
      }
      default:
        throw new UsageError('unknown-action', `braid rollout: unknown action ${args.action}`);
    }
  } finally {
    await control.close();
  }
}

async function start(args: FleetArgs, ctx: Context, control: Control): Promise<number> {
  if (args.targets === undefined)
    throw new UsageError(
      'missing-targets',
      'braid rollout: --targets FILE is required (a JSON file listing the targets)',
    );
  const env = projectMigrations(ctx.cwd);
  const listed = readTargetsFile(ctx.cwd, args.targets);
  const waves = args.waves ?? 'rest';
  const specs = parseWaves(waves);
  const { targets, urls } = await expandTenants(
    listed,
    resolveTargetUrls(ctx, env.root, listed, args.targets),
    args.targets,
  );
  const serverConcurrency =
    args['server-concurrency'] === undefined
      ? undefined
      : parseCount(args['server-concurrency'], '--server-concurrency', 1, 1);
  const options: ControlRollout['options'] = {
    waves,
    continueOnError: args['continue-on-error'],
    ...(serverConcurrency === undefined ? {} : { serverConcurrency }),
    leaseTtlMs: parseDuration(args['lease-ttl'], '--lease-ttl', 15_000),
    lock: args.lock === 'lease' ? 'lease' : 'advisory',
    lockWaitMs: parseDuration(args['lock-wait'], '--lock-wait', 60_000),
    lockTimeoutMs: parseDuration(args['lock-timeout'], '--lock-timeout', 5_000),
    lockRetries: parseCount(args['lock-retries'], '--lock-retries', 3),
    replicaTimeoutMs: parseDuration(args['replica-timeout'], '--replica-timeout', 60_000),
    replicaWait: parseReplicaWait(args['replica-wait']),
  };
  const assigned = assignWaves(targets, specs);
  const rows = assigned.flatMap((w, i) =>
    w.map((t) => ({ name: t.name, wave: i, urlEnv: t.urlEnv, server: serverKeyOf(urls.get(t.name)!) })),
  );
  const base = await gitProvenance(env.root);
  const id = rolloutIdFor(new Date(), randomBytes(3).toString('hex'));
  const rollout: ControlRollout = {
    id,
    commit: base.gitCommit ?? null,
    manifestHash: env.manifestHash,
    migrations: env.migrations.length,
    options,
    waves: assigned.length,
    paused: false,
    targetsFile: path.relative(env.root, path.resolve(ctx.cwd, args.targets)) || args.targets,
  };
  await control.createRollout(rollout, rows);
  if (ctx.out.json)
    ctx.out.result({
      rolloutId: id,
      control: control.label,
      targets: rows.length,
      waves: assigned.length,
      migrations: env.migrations.length,
    });
  else
    ctx.out.print(
      `rollout ${id} created in ${control.label}: ${rows.length} targets, ${assigned.length} waves, ${env.migrations.length} migrations; run braid rollout worker --control … on any machine`,
    );
  return EXIT_OK;
}

async function worker(args: FleetArgs, ctx: Context, control: Control, url: string): Promise<number> {
  const r = await loadRollout(control, args.rollout);
  const env = projectMigrations(ctx.cwd);
  if (env.manifestHash !== r.manifestHash)
    throw new UsageError(
      'manifest-differs',
      `braid rollout worker: this checkout's .migrations/manifest (${env.manifestHash.slice(0, 19)}…) is not the one rollout ${r.id} was planned from (${r.manifestHash.slice(0, 19)}…): check out commit ${r.commit ?? '(unknown)'}`,
    );
  const base = await gitProvenance(env.root);
  const backup = rolloutBackup(env.root, base.gitCommit);
  return runWorker(
    {
      ctx,
      root: env.root,
      controlUrl: url,
      rolloutId: r.id,
      migrations: env.migrations,
      dependsOn: env.dependsOn,
      manifestHash: env.manifestHash,
      provenance: { ...base, manifestHash: env.manifestHash },
      concurrency: parseCount(args.concurrency, '--concurrency', 1, 1),
      braidVersion: braidVersion(),
      online: rolloutOnline(args, env.root),
      ...(backup ? { backup } : {}),
    },
    control,
    r,
  );
}

async function status(args: FleetArgs, ctx: Context, control: Control): Promise<number> {
  const r = await loadRollout(control, args.rollout);
  const waves = await control.waveCounts(r);
  const st = fleetStatus(waves, control.flags(r));
  const targets = await control.targets(r.id);
  if (ctx.out.json) {
    ctx.out.result({
      rolloutId: r.id,
      control: control.label,
      ...r,
      status: st,
      waves,
      targets,
    });
    return EXIT_OK;
  }
  ctx.out.print(`rollout ${r.id}: ${st}${r.paused ? ' (paused)' : ''} — control ${control.label}`);
  ctx.out.print(
    `commit ${r.commit?.slice(0, 12) ?? '(none)'}, ${r.migrations} migrations, ${targets.length} targets from ${r.targetsFile}, waves ${r.options.waves}`,
  );
  for (const w of waves)
    ctx.out.print(
      `wave ${w.wave + 1}/${waves.length}: ${w.done}/${w.total} done, ${w.running} running, ${w.expired} lease expired, ${w.failed} failed, ${w.paused} paused, ${w.pending} pending`,
    );
  for (const t of targets) {
    if (t['status'] === 'failed')
      ctx.out.print(
        `  ${String(t['name'])}: failed: ${String((t['failure'] as { error?: string } | null)?.error ?? '')}`,
      );
  }
  return EXIT_OK;
}
