/**
 * The rollout runner: waves one after the other, up to `concurrency` targets at a time inside a
 * wave, each target through the same apply engine as `braid up` (its own connection and lock,
 * one transaction per migration), then its health checks, then (on failure, with
 * --rollback-on-failure) the rollback of what this rollout applied to it. The state file is
 * written after every transition; each target's registry stays the source of truth for what is
 * applied (the applied list is re-read from it: `braid.history.rollout_id`).
 */
import { spawn } from 'node:child_process';
import {
  type OnlineSettings,
  BraidError,
  nextWork,
  overallStatus,
  patchTarget,
  summarize,
  transition,
  waveCounts,
  type RolloutState,
  type TargetFailure,
  type TargetState,
} from '@braid/core';
import {
  applyDown,
  applyUp,
  MigrationFailedError,
  openExecutor,
  recordAudit,
  type ApplyOptions,
  type Executor,
  type Provenance,
  type SourceMigration,
} from '@braid/pg';
import type { StateStore } from './store';
import type { Progress } from './progress';
import { targetOnline } from './target-options';
import type { ApplyBackups } from '../backup';
import { afterEachMigration, ReplicaWaitError, waitForReplicas } from './replicas';

export interface RunnerDeps {
  store: StateStore;
  progress: Progress;
  root: string;
  migrations: SourceMigration[];
  dependsOn: Map<string, string[]>;
  /** Git provenance (commit, author, branch, manifest hash) without rollout/target. */
  provenance: Provenance;
  /** Each target's connection string (from its urlEnv; never printed or stored). */
  urls: Map<string, string>;
  healthSqlText?: string;
  /** Scrubs passwords and connection strings from any text kept or printed. */
  clean: (s: string) => string;
  /** The watcher and circuit breaker of each target (docs/online.md). */
  online?: OnlineSettings;
  /** Pre-change backups of each target (docs/backups.md), by the target's label. */
  backup?: (target: string) => ApplyBackups;
}

interface RunFlags {
  /** Set on the first failure (without continueOnError) or a pause: no new target starts. */
  stopping: boolean;
  paused: boolean;
}

const now = (): string => new Date().toISOString();

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 400 ? `${t.slice(0, 397)}...` : t;
}

export class Runner {
  private readonly flags: RunFlags = { stopping: false, paused: false };
  /** retry: the one target asked for runs even while the rollout is paused. */
  private ignorePause = false;

  constructor(private readonly d: RunnerDeps) {}

  private get state(): RolloutState {
    return this.d.store.state;
  }

  private lastSave = 0;

  /** Every transition is written at once (temp file + rename). */
  private set(s: RolloutState): void {
    this.d.store.state = s;
    this.d.store.save();
    this.lastSave = Date.now();
  }

  /**
   * A target's applied list after each migration: written at most every 200 ms (the next
   * transition writes it anyway). The list is informative only: what is applied is always read
   * from the target's registry, so a list a crash left behind is harmless.
   */
  private setSoon(s: RolloutState): void {
    this.d.store.state = s;
    if (Date.now() - this.lastSave >= 200) this.set(s);
  }

  private target(name: string): TargetState {
    const t = this.state.targets.find((x) => x.name === name);
    if (!t) throw new Error(`no target ${name}`);
    return t;
  }

  private shouldStop = (): boolean => {
    if (this.flags.stopping) return true;
    if (!this.ignorePause && this.d.store.pauseRequested()) {
      this.flags.paused = true;
      this.flags.stopping = true;
      return true;
    }
    return false;
  };

  /** Runs (or resumes) the rollout until done, blocked by a failure, or paused. */
  async run(): Promise<RolloutState> {
    await this.finishPendingRollbacks();
    for (;;) {
      if (this.shouldStop()) break;
      const work = nextWork(this.state);
      if (work.kind !== 'run') break;
      const wave = work.wave;
      this.d.progress.event({
        event: 'wave-start',
        rolloutId: this.state.rolloutId,
        wave: wave + 1,
        waves: this.state.waves.length,
        targets: work.targets,
      });
      await this.runWave(wave, work.targets);
      const counts = waveCounts(this.state, wave);
      const waveFailed = counts.failed > 0 && !this.state.options.continueOnError;
      const finished = counts.pending + counts.running + counts.paused === 0;
      this.d.progress.waveEnd(counts, this.state.waves.length);
      if (finished && !waveFailed)
        this.d.progress.event({ event: 'wave-done', wave: wave + 1, ...countsOf(counts) });
      else
        this.d.progress.event({
          event: 'wave-stopped',
          wave: wave + 1,
          reason: this.flags.paused ? 'paused' : 'failure',
          ...countsOf(counts),
        });
      if (!finished || waveFailed) break;
    }
    return this.finish();
  }

  /** Re-runs one target (retry): whatever its status, except done. */
  async retry(name: string): Promise<RolloutState> {
    this.ignorePause = true;
    await this.runTarget(name);
    return this.finish();
  }

  private finish(): RolloutState {
    this.d.store.save(); // refreshes pauseRequested from the marker file
    const status = overallStatus(this.state);
    this.set({ ...this.state, status, updatedAt: now() });
    const sum = summarize(this.state);
    this.d.progress.event({
      event: status === 'paused' ? 'rollout-paused' : 'rollout-done',
      rolloutId: this.state.rolloutId,
      status,
      done: sum.done,
      failed: sum.failed,
      rolledBack: sum.rolledBack,
      paused: sum.paused,
      pending: sum.pending,
      failures: this.state.targets
        .filter((t) => t.status === 'failed' || t.status === 'rolled-back')
        .map((t) => ({ target: t.name, status: t.status, ...(t.failure ?? {}) })),
    });
    return this.state;
  }

  private async runWave(wave: number, names: string[]): Promise<void> {
    const queue = [...names];
    const workers: Promise<void>[] = [];
    const n = Math.max(1, Math.min(this.state.options.concurrency, queue.length));
    for (let i = 0; i < n; i++) {
      workers.push(
        (async () => {
          for (;;) {
            if (this.shouldStop()) return;
            const name = queue.shift();
            if (name === undefined) return;
            await this.runTarget(name);
            this.d.progress.waveTick(waveCounts(this.state, wave), this.state.waves.length);
          }
        })(),
      );
    }
    await Promise.all(workers); // targets that never started stay pending
  }

  /** The engine's online options for one target (target-options.ts). */
  private onlineFor(name: string): ApplyOptions['online'] {
    return this.d.online ? targetOnline(this.d.online, name, this.d.progress, this.d.clean) : undefined;
  }

  private provenanceFor(name: string): Provenance {
    return { ...this.d.provenance, rolloutId: this.state.rolloutId, target: name };
  }

  private async open(name: string): Promise<Executor> {
    const url = this.d.urls.get(name);
    if (url === undefined) throw new Error(`no connection string for ${name}`);
    return openExecutor(url, `braid rollout ${name} (pid ${process.pid})`, {
      lockWaitMs: this.state.options.lockWaitMs,
    });
  }

  /** Applies one target's pending migrations, then its health checks. Never throws. */
  private async runTarget(name: string): Promise<void> {
    const o = this.state.options;
    this.set(transition(this.state, name, 'running', {}, now()));
    this.d.progress.event({ event: 'target-start', target: name, wave: this.target(name).wave + 1 });
    this.d.progress.waveTick(waveCounts(this.state, this.target(name).wave), this.state.waves.length);
    let ex: Executor | undefined;
    try {
      ex = await this.open(name);
    } catch (e) {
      this.fail(name, { kind: 'connect', error: this.d.clean(oneLine(errText(e))) });
      return;
    }
    try {
      const provenance = this.provenanceFor(name);
      let result;
      const backups = this.d.backup?.(ex.label);
      try {
        result = await applyUp(ex, this.d.migrations, {
          provenance,
          dependsOn: this.d.dependsOn,
          lock: o.lock,
          lockWaitMs: o.lockWaitMs,
          lockTimeoutMs: o.lockTimeoutMs,
          lockRetries: o.lockRetries,
          shouldStop: this.shouldStop,
          afterEach: afterEachMigration(o.replicaWait, o.replicaTimeoutMs ?? 60_000),
          ...(this.d.online ? { online: this.onlineFor(name) } : {}),
          ...(backups ? { backup: backups.hooks } : {}),
          onEvent: (e) => {
            if (e.type === 'done' && e.direction === 'up') {
              const t = this.target(name);
              if (!t.applied.includes(e.id))
                this.setSoon(patchTarget(this.state, name, { applied: [...t.applied, e.id] }));
              this.d.progress.event({
                event: 'migration-applied',
                target: name,
                id: e.id,
                ms: Math.round(e.ms),
              });
            } else if (e.type === 'warning') {
              this.d.progress.event({ event: 'warning', target: name, message: this.d.clean(e.message) });
            } else if (e.type === 'retry') {
              this.d.progress.event({
                event: 'lock-retry',
                target: name,
                id: e.id,
                attempt: e.attempt,
                reason: this.d.clean(e.reason),
              });
            }
          },
        });
      } catch (e) {
        await this.refreshApplied(ex, name);
        this.fail(name, failureOf(e, this.d.clean));
        // replicas behind is no reason to undo what they are still replaying
        if (o.rollbackOnFailure && !(e instanceof ReplicaWaitError))
          await this.rollback(ex, name, `migration failed: ${this.target(name).failure!.error}`);
        return;
      }
      await this.refreshApplied(ex, name);
      for (const m of (await backups?.prune(ex)) ?? [])
        this.d.progress.event({ event: 'warning', target: name, message: this.d.clean(m) });
      if (result.stopped) {
        const note = this.flags.paused ? 'paused between migrations' : 'stopped: another target failed';
        this.set(transition(this.state, name, 'paused', { note }, now()));
        this.d.progress.event({
          event: 'target-paused',
          target: name,
          note,
          applied: this.target(name).applied,
        });
        return;
      }
      const rep = await waitForReplicas(ex, o.replicaTimeoutMs ?? 60_000);
      if (!rep.ok) {
        this.fail(name, { kind: 'replica', error: rep.message ?? 'replicas behind' });
        return;
      }
      const healthFailure = await this.health(ex, name);
      if (healthFailure) {
        this.fail(name, { kind: 'health', error: healthFailure });
        if (o.rollbackOnFailure) await this.rollback(ex, name, `health check failed: ${healthFailure}`);
        return;
      }
      this.set(transition(this.state, name, 'done', {}, now()));
      this.d.progress.event({ event: 'target-done', target: name, applied: this.target(name).applied });
    } catch (e) {
      // An error of braid itself or of the connection: the target failed, the rollout goes on.
      this.fail(name, { kind: 'error', error: this.d.clean(oneLine(errText(e))) });
    } finally {
      await ex.close().catch(() => undefined);
    }
  }

  private fail(name: string, failure: TargetFailure): void {
    this.set(transition(this.state, name, 'failed', { failure }, now()));
    if (!this.state.options.continueOnError) this.flags.stopping = true;
    this.d.progress.event({ event: 'target-failed', target: name, ...failure });
  }

  /** The migrations this rollout applied to the target, from its registry (oldest first). */
  private async appliedByRollout(ex: Executor): Promise<string[]> {
    const r = await ex.query<{ id: string }>(
      `select a.id from braid.applied a join braid.history h on h.seq = a.history_seq
        where h.rollout_id = $1 order by a.history_seq`,
      [this.state.rolloutId],
    );
    return r.rows.map((x) => x.id);
  }

  private async refreshApplied(ex: Executor, name: string): Promise<void> {
    try {
      const applied = await this.appliedByRollout(ex);
      this.set(patchTarget(this.state, name, { applied }));
    } catch {
      // no registry yet (it failed before creating it): keep what the state says
    }
  }

  /** Runs the health command and the health SQL; returns why it failed, or undefined. */
  private async health(ex: Executor, name: string): Promise<string | undefined> {
    const o = this.state.options;
    const prov = this.provenanceFor(name);
    const checks: { kind: 'command' | 'sql'; run: () => Promise<string | undefined> }[] = [];
    if (o.healthCheck) checks.push({ kind: 'command', run: () => this.healthCommand(name) });
    if (this.d.healthSqlText !== undefined) {
      const text = this.d.healthSqlText;
      checks.push({ kind: 'sql', run: () => healthSql(ex, text, o.healthTimeoutMs) });
    }
    for (const c of checks) {
      let reason: string | undefined;
      try {
        reason = await c.run();
      } catch (e) {
        reason = `error: ${oneLine(errText(e))}`;
      }
      const label = c.kind === 'command' ? `--health-check` : `--health-sql ${o.healthSql ?? ''}`.trim();
      if (reason !== undefined) {
        reason = this.d.clean(oneLine(`${label}: ${reason}`));
        this.set(patchTarget(this.state, name, { health: { ok: false, kind: c.kind, reason, at: now() } }));
        await recordAudit(
          ex,
          { id: null, direction: 'up', outcome: 'health-failed', reason, error: reason },
          prov,
        );
        this.d.progress.event({ event: 'health-failed', target: name, check: c.kind, reason });
        return reason;
      }
      this.set(
        patchTarget(this.state, name, {
          health: { ok: true, kind: c.kind, reason: `${label} passed`, at: now() },
        }),
      );
      await recordAudit(
        ex,
        { id: null, direction: 'up', outcome: 'health-ok', reason: `${label} passed` },
        prov,
      );
      this.d.progress.event({ event: 'health-ok', target: name, check: c.kind });
    }
    return undefined;
  }

  private healthCommand(name: string): Promise<string | undefined> {
    const o = this.state.options;
    return new Promise((resolve) => {
      const child = spawn('/bin/sh', ['-c', o.healthCheck!], {
        cwd: this.d.root,
        env: { ...process.env, BRAID_TARGET: name, BRAID_ROLLOUT_ID: this.state.rolloutId },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const keep = (d: Buffer): void => {
        out = (out + d.toString('utf8')).slice(-2000);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      const timer = setTimeout(() => child.kill('SIGKILL'), o.healthTimeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        resolve(`cannot run it: ${e.message}`);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) return resolve(undefined);
        const last = out.trim().split('\n').pop() ?? '';
        const why = signal
          ? `killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${o.healthTimeoutMs} ms?)` : ''}`
          : `exited with ${code}`;
        resolve(`${why}${last ? `: ${last}` : ''}`);
      });
    });
  }

  /** Rolls the target back to where this rollout found it (down.sql of what it applied, newest first). */
  private async rollback(ex: Executor, name: string, reason: string): Promise<void> {
    const prov = this.provenanceFor(name);
    this.set(patchTarget(this.state, name, { rollback: { ids: [], reason, pending: true } }));
    try {
      const mine = await this.appliedByRollout(ex).catch(() => [] as string[]);
      const newestFirst = [...mine].reverse();
      if (newestFirst.length > 0) {
        const r = await applyDown(ex, this.d.migrations, {
          provenance: prov,
          steps: newestFirst.length,
          lock: this.state.options.lock,
          lockWaitMs: this.state.options.lockWaitMs,
          lockTimeoutMs: this.state.options.lockTimeoutMs,
          lockRetries: this.state.options.lockRetries,
          // the rollback is watched like the apply: it takes locks on a live database too
          ...(this.d.online ? { online: this.onlineFor(name) } : {}),
        });
        const rolled = r.results.map((x) => x.id);
        if (rolled.join() !== newestFirst.join()) {
          throw new Error(
            `rolled back ${rolled.join(', ')} but this rollout applied ${newestFirst.join(', ')} (another runner applied migrations meanwhile?)`,
          );
        }
      }
      for (const id of newestFirst)
        await recordAudit(ex, { id, direction: 'down', outcome: 'rolled-back', reason }, prov);
      if (newestFirst.length === 0)
        await recordAudit(ex, { id: null, direction: 'down', outcome: 'rolled-back', reason }, prov);
      await this.refreshApplied(ex, name);
      this.set(
        transition(this.state, name, 'rolled-back', { rollback: { ids: newestFirst, reason } }, now()),
      );
      this.d.progress.event({ event: 'target-rolled-back', target: name, rolledBack: newestFirst, reason });
    } catch (e) {
      const error = this.d.clean(oneLine(errText(e)));
      await this.refreshApplied(ex, name);
      this.set(patchTarget(this.state, name, { rollback: { ids: [], reason, error } }));
      this.d.progress.event({ event: 'rollback-failed', target: name, reason, error });
    }
  }

  /** A crash during a rollback-on-failure: finish it before anything else. */
  private async finishPendingRollbacks(): Promise<void> {
    for (const t of this.state.targets) {
      if (t.status !== 'failed' || !t.rollback?.pending) continue;
      let ex: Executor | undefined;
      try {
        ex = await this.open(t.name);
        await this.rollback(ex, t.name, t.rollback.reason);
      } catch (e) {
        this.set(
          patchTarget(this.state, t.name, {
            rollback: { ...t.rollback, pending: true, error: this.d.clean(oneLine(errText(e))) },
          }),
        );
      } finally {
        await ex?.close().catch(() => undefined);
      }
    }
  }
}

function countsOf(c: {
  done: number;
  failed: number;
  running: number;
  pending: number;
  paused: number;
  total: number;
}) {
  return { total: c.total, done: c.done, failed: c.failed, paused: c.paused, pending: c.pending };
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function failureOf(e: unknown, clean: (s: string) => string): TargetFailure {
  if (e instanceof ReplicaWaitError) return { kind: 'replica', error: clean(oneLine(e.message)) };
  if (e instanceof MigrationFailedError) {
    const d = e.data;
    return {
      kind: 'migration',
      ...(typeof d['id'] === 'string' ? { migration: d['id'] } : {}),
      error: clean(oneLine(e.message)),
      ...(typeof d['file'] === 'string' ? { file: d['file'] } : {}),
      ...(typeof d['line'] === 'number' ? { line: d['line'] } : {}),
      ...(typeof d['sqlstate'] === 'string' ? { sqlstate: d['sqlstate'] } : {}),
    };
  }
  const kind = e instanceof BraidError && e.code === 'migration-failed' ? 'migration' : 'error';
  return { kind, error: clean(oneLine(errText(e))) };
}

/** Runs the health SQL: a failure is an error, or a first row whose first column is false/0/null. */
async function healthSql(ex: Executor, text: string, timeoutMs: number): Promise<string | undefined> {
  await ex.exec(`set statement_timeout = '${Math.max(1, Math.round(timeoutMs))}ms'`);
  try {
    const r = await ex.query<Record<string, unknown>>(text);
    const row = Array.isArray(r.rows) ? r.rows[0] : undefined;
    if (row === undefined) return undefined;
    const v = Object.values(row)[0];
    if (v === false || v === null || v === undefined || v === 0 || v === '0' || v === 'f' || v === 'false')
      return `returned ${v === undefined ? 'no column' : JSON.stringify(v)}`;
    return undefined;
  } finally {
    await ex.exec('reset statement_timeout').catch(() => undefined);
  }
}
