/**
 * The rollout state file on disk (never committed): `<git-dir>/braid/rollout/<rollout-id>.json`
 * plus a `current` pointer naming the latest rollout, or the file given with --state. Every write
 * goes to a temporary file first and is renamed over the old one, so a reader (or a resume after
 * kill -9) always sees a whole state. Two sidecar files: `<file>.pause` (the pause request, so a
 * runner's own state write can never lose it) and `<file>.lock` (the pid of the process running
 * the rollout; a dead pid's lock is taken over).
 */
import fs from 'node:fs';
import path from 'node:path';
import { EnvironmentError, UsageError, parseRolloutState, type RolloutState } from '@braid/core';
import { gitDir } from '../db';
import { writeFileAtomic } from '../project';

/** The default state directory: `<git-dir>/braid/rollout` (outside git: `<root>/.braid/rollout`). */
export function defaultStateDir(cwd: string, root: string): string {
  const g = gitDir(cwd);
  return g ? path.join(g, 'braid', 'rollout') : path.join(root, '.braid', 'rollout');
}

/** Where a new rollout's state goes. */
export function newStateFile(cwd: string, root: string, rolloutId: string, state?: string): string {
  if (state !== undefined) return path.resolve(cwd, state);
  return path.join(defaultStateDir(cwd, root), `${rolloutId}.json`);
}

/** The state file of the current rollout (--state, else the `current` pointer). */
export function currentStateFile(cwd: string, root: string, state?: string): string {
  if (state !== undefined) {
    const f = path.resolve(cwd, state);
    if (!fs.existsSync(f))
      throw new UsageError('no-rollout', `--state: ${state} does not exist (no rollout was started with it)`);
    return f;
  }
  const dir = defaultStateDir(cwd, root);
  let id: string;
  try {
    id = fs.readFileSync(path.join(dir, 'current'), 'utf8').trim();
  } catch {
    throw new UsageError(
      'no-rollout',
      'no rollout has been started here (start one with braid rollout --targets FILE, or pass --state FILE)',
    );
  }
  const f = path.join(dir, `${id}.json`);
  if (!fs.existsSync(f))
    throw new UsageError('no-rollout', `${path.join(dir, 'current')} names ${id}, but ${f} does not exist`);
  return f;
}

export class StateStore {
  constructor(
    readonly file: string,
    public state: RolloutState,
  ) {}

  static load(file: string): StateStore {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new EnvironmentError('state-unreadable', `cannot read ${file}: ${(e as Error).message}`);
    }
    return new StateStore(file, parseRolloutState(text, file));
  }

  /** Creates the file (and its directory, and with `pointer` the `current` pointer). */
  static create(file: string, state: RolloutState, pointer: boolean): StateStore {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const s = new StateStore(file, state);
    s.save();
    if (pointer) writeFileAtomic(path.join(path.dirname(file), 'current'), `${state.rolloutId}\n`);
    return s;
  }

  get pauseFile(): string {
    return `${this.file}.pause`;
  }

  get lockFile(): string {
    return `${this.file}.lock`;
  }

  /** Whether `braid rollout pause` asked this rollout to stop. */
  pauseRequested(): boolean {
    return fs.existsSync(this.pauseFile);
  }

  requestPause(): void {
    writeFileAtomic(this.pauseFile, `${new Date().toISOString()}\n`);
    this.state = { ...this.state, pauseRequested: true };
  }

  clearPause(): void {
    try {
      fs.unlinkSync(this.pauseFile);
    } catch {
      // not paused
    }
    this.state = { ...this.state, pauseRequested: false };
  }

  /** Writes the state (temp file + rename); the pause flag mirrors the marker file. */
  save(): void {
    this.state = { ...this.state, pauseRequested: this.pauseRequested() };
    writeFileAtomic(this.file, JSON.stringify(this.state, null, 2) + '\n');
  }

  /**
   * Takes the runner lock: one process runs a rollout at a time. A lock left by a dead process
   * (kill -9) is taken over. Returns the release function.
   */
  lock(): () => void {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(this.lockFile, `${process.pid}\n`, { flag: 'wx' });
        return () => {
          try {
            if (fs.readFileSync(this.lockFile, 'utf8').trim() === String(process.pid))
              fs.unlinkSync(this.lockFile);
          } catch {
            // gone already
          }
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number(readOr(this.lockFile, '').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new EnvironmentError(
          'rollout-running',
          `rollout ${this.state.rolloutId} is being run by process ${pid} (braid rollout pause asks it to stop)`,
          { data: { pid } },
        );
      }
      try {
        fs.unlinkSync(this.lockFile); // stale: its process is gone
      } catch {
        // someone else removed it
      }
    }
    throw new EnvironmentError('rollout-running', `cannot take ${this.lockFile}`);
  }

  /** The pid running this rollout now, if any. */
  runnerPid(): number | undefined {
    const pid = Number(readOr(this.lockFile, '').trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  }
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
