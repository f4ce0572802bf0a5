/**
 * Fleet rollout, the pure part: the targets file (`{"targets":[{"name","urlEnv"}]}`), the wave
 * specification (`1,10%,rest`), the rollout state (what the local state file holds) and its
 * transitions. No I/O: the CLI reads the files, opens the databases and persists the state.
 */
import { UsageError } from './errors';
import { redact } from './redact';

export interface RolloutTarget {
  /** Letters, digits, `.`, `-`, `_`; unique in the file. */
  name: string;
  /** The environment variable holding the target's connection string (never the string). */
  urlEnv: string;
  /**
   * A query run on the target's database when a rollout starts: its first column lists the
   * tenant schemas, each a target of its own named `<name>#<schema>` (docs/rollout.md).
   */
  tenantsQuery?: string;
}

const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function bad(file: string, key: string, message: string): never {
  throw new UsageError('invalid-targets', `${file}: ${key ? `${key}: ` : ''}${message}`, {
    data: { file, key },
  });
}

function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Line (1-based) of a character offset in text. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}

/**
 * Parses and validates a targets file. Every error is one line naming the file and the key
 * (`targets.json: targets[2].urlEnv: expected a variable name, got string "postgres://…"`),
 * exit 2. Unknown keys are refused; names must be unique.
 */
export function parseTargets(text: string, file = 'targets.json'): RolloutTarget[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const pos = /position (\d+)/.exec(msg);
    const at = pos ? Number(pos[1]) : /end of JSON input/.test(msg) ? text.length : undefined;
    const where = at === undefined ? '' : `line ${lineOf(text, at)}: `;
    bad(file, '', `${where}not valid JSON (${msg.replace(/\s*in JSON at position \d+.*$/, '')})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    bad(file, '', `expected an object {"targets": [...]}, got ${describeJson(doc)}`);
  const root = doc as Record<string, unknown>;
  for (const k of Object.keys(root)) {
    if (k !== 'targets' && k !== '$schema') bad(file, k, 'unknown key (allowed: targets)');
  }
  const list = root['targets'];
  if (list === undefined) bad(file, 'targets', 'missing (an array of {"name", "urlEnv"})');
  if (!Array.isArray(list)) bad(file, 'targets', `expected an array, got ${describeJson(list)}`);
  if (list.length === 0) bad(file, 'targets', 'empty: list at least one target');
  const seen = new Map<string, number>();
  return list.map((t: unknown, i): RolloutTarget => {
    const key = `targets[${i}]`;
    if (t === null || typeof t !== 'object' || Array.isArray(t))
      bad(file, key, `expected an object {"name", "urlEnv"}, got ${describeJson(t)}`);
    const o = t as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (k !== 'name' && k !== 'urlEnv' && k !== 'tenantsQuery')
        bad(file, `${key}.${k}`, 'unknown key (allowed: name, urlEnv, tenantsQuery)');
    }
    const name = o['name'];
    if (name === undefined) bad(file, `${key}.name`, 'missing');
    if (typeof name !== 'string' || !TARGET_NAME.test(name))
      bad(
        file,
        `${key}.name`,
        `expected a name of letters, digits, '.', '-', '_', got ${describeJson(redactValue(name))}`,
      );
    const prev = seen.get(name);
    if (prev !== undefined) bad(file, `${key}.name`, `duplicate name ${name} (also targets[${prev}])`);
    seen.set(name, i);
    const urlEnv = o['urlEnv'];
    if (urlEnv === undefined)
      bad(file, `${key}.urlEnv`, 'missing (the variable holding the connection string)');
    if (typeof urlEnv !== 'string' || !VAR_NAME.test(urlEnv)) {
      const hint =
        typeof urlEnv === 'string' && urlEnv.includes('://')
          ? ' (the name of a variable, not a connection string)'
          : '';
      bad(
        file,
        `${key}.urlEnv`,
        `expected a variable name${hint}, got ${typeof urlEnv === 'string' && urlEnv.includes('://') ? 'a URL' : describeJson(urlEnv)}`,
      );
    }
    const q = o['tenantsQuery'];
    if (q === undefined) return { name, urlEnv };
    if (typeof q !== 'string' || q.trim() === '')
      bad(file, `${key}.tenantsQuery`, `expected a SQL query returning schema names, got ${describeJson(q)}`);
    return { name, urlEnv, tenantsQuery: q };
  });
}

function redactValue(v: unknown): unknown {
  return typeof v === 'string' ? redact(v) : v;
}

export type WaveSpec = { kind: 'count'; n: number } | { kind: 'percent'; p: number } | { kind: 'rest' };

/** Parses `--waves 1,10%,rest`. `rest` may only come last. */
export function parseWaves(spec: string, flag = '--waves'): WaveSpec[] {
  const parts = spec.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === ''))
    throw new UsageError(
      'bad-waves',
      `${flag}: expected a list such as 1,10%,rest, got ${JSON.stringify(spec)}`,
    );
  return parts.map((p, i): WaveSpec => {
    if (p === 'rest') {
      if (i !== parts.length - 1)
        throw new UsageError('bad-waves', `${flag}: 'rest' must be the last wave (got ${spec})`);
      return { kind: 'rest' };
    }
    let m = /^(\d+)%$/.exec(p);
    if (m) {
      const pct = Number(m[1]);
      if (pct < 1 || pct > 100)
        throw new UsageError('bad-waves', `${flag}: wave ${i + 1}: a percentage from 1% to 100%, got ${p}`);
      return { kind: 'percent', p: pct };
    }
    m = /^(\d+)$/.exec(p);
    if (m && Number(m[1]) >= 1) return { kind: 'count', n: Number(m[1]) };
    throw new UsageError(
      'bad-waves',
      `${flag}: wave ${i + 1}: expected a count (1), a percentage (10%) or rest, got ${JSON.stringify(p)}`,
    );
  });
}

/**
 * Splits targets (file order) into waves: a count takes that many, `N%` takes ceil(N% of all
 * targets), `rest` takes everything left. Waves that would be empty are dropped; targets not
 * covered by the list form a final implicit `rest` wave.
 */
export function assignWaves<T>(targets: readonly T[], waves: readonly WaveSpec[]): T[][] {
  const out: T[][] = [];
  let at = 0;
  for (const w of waves) {
    if (at >= targets.length) break;
    const size =
      w.kind === 'rest'
        ? targets.length - at
        : w.kind === 'count'
          ? w.n
          : Math.ceil((w.p * targets.length) / 100);
    const take = targets.slice(at, at + size);
    at += take.length;
    if (take.length > 0) out.push(take);
  }
  if (at < targets.length) out.push(targets.slice(at));
  return out;
}

// ---------------------------------------------------------------------------------------------
// State

export type TargetStatus = 'pending' | 'running' | 'done' | 'failed' | 'rolled-back' | 'paused';
export type RolloutStatus = 'running' | 'paused' | 'failed' | 'done';

export interface TargetFailure {
  /**
   * `migration` (up.sql/verify.sql failed), `health` (a health check), `connect`, `rollback`,
   * `replica` (its replicas did not replay braid's commit within --replica-timeout).
   */
  kind: 'migration' | 'health' | 'connect' | 'rollback' | 'replica' | 'error';
  migration?: string;
  /** One line, redacted. */
  error: string;
  file?: string;
  line?: number;
  sqlstate?: string;
}

export interface HealthResult {
  ok: boolean;
  kind: 'command' | 'sql';
  /** Why it failed (redacted, one line), or what passed. */
  reason?: string;
  at: string;
}

export interface TargetState {
  name: string;
  urlEnv: string;
  /** Index of its wave (0-based). */
  wave: number;
  status: TargetStatus;
  /** Migrations this rollout applied to it, in order (refreshed from its registry). */
  applied: string[];
  failure?: TargetFailure;
  health?: HealthResult;
  /** With --rollback-on-failure: what was rolled back (newest first) and why. */
  rollback?: { ids: string[]; reason: string; pending?: boolean; error?: string };
  /** Why it is paused (a pause request, or another target's failure stopped the wave). */
  note?: string;
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
}

export interface RolloutOptions {
  waves: string;
  concurrency: number;
  continueOnError: boolean;
  healthCheck?: string;
  /** Path of the health SQL file (relative to the project root when it is inside it). */
  healthSql?: string;
  healthTimeoutMs: number;
  rollbackOnFailure: boolean;
  lock: 'advisory' | 'lease';
  lockWaitMs: number;
  lockTimeoutMs: number;
  lockRetries: number;
  /** How long replicas may take to replay braid's commit (absent in older state files: 60 s). */
  replicaTimeoutMs?: number;
  /** When to wait for replicas: after the target (default) or after each migration. */
  replicaWait?: 'target' | 'migration';
}

export interface RolloutState {
  version: 1;
  rolloutId: string;
  createdAt: string;
  updatedAt: string;
  /** The git commit and manifest hash the rollout started from (updated by resume/retry). */
  commit?: string;
  manifestHash: string;
  migrations: number;
  targetsFile: string;
  options: RolloutOptions;
  /** Target names per wave. */
  waves: string[][];
  status: RolloutStatus;
  pauseRequested: boolean;
  targets: TargetState[];
}

/** A rollout id: UTC time plus a random suffix (`r20261125T190012Z-3fa9c1`). */
export function rolloutIdFor(now: Date, random: string): string {
  const t = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `r${t}-${random}`;
}

export function newRolloutState(init: {
  rolloutId: string;
  now: string;
  commit?: string;
  manifestHash: string;
  migrations: number;
  targetsFile: string;
  options: RolloutOptions;
  targets: readonly RolloutTarget[];
}): RolloutState {
  const waves = assignWaves(init.targets, parseWaves(init.options.waves));
  const waveOf = new Map<string, number>();
  waves.forEach((w, i) => w.forEach((t) => waveOf.set(t.name, i)));
  return {
    version: 1,
    rolloutId: init.rolloutId,
    createdAt: init.now,
    updatedAt: init.now,
    ...(init.commit ? { commit: init.commit } : {}),
    manifestHash: init.manifestHash,
    migrations: init.migrations,
    targetsFile: init.targetsFile,
    options: init.options,
    waves: waves.map((w) => w.map((t) => t.name)),
    status: 'running',
    pauseRequested: false,
    targets: init.targets.map((t) => ({
      name: t.name,
      urlEnv: t.urlEnv,
      wave: waveOf.get(t.name) ?? 0,
      status: 'pending',
      applied: [],
      attempts: 0,
    })),
  };
}

const ALLOWED: Record<TargetStatus, readonly TargetStatus[]> = {
  pending: ['running'],
  // running → running: a resume after a crash picks the target up again.
  running: ['running', 'done', 'failed', 'paused'],
  paused: ['running'],
  failed: ['running', 'rolled-back', 'failed'],
  'rolled-back': ['running'],
  done: [],
};

/** Whether a target may move from one status to another. */
export function canTransition(from: TargetStatus, to: TargetStatus): boolean {
  return ALLOWED[from].includes(to);
}

/** Returns a copy of the state with the target changed (throws on an illegal transition: a bug). */
export function transition(
  s: RolloutState,
  name: string,
  to: TargetStatus,
  patch: Partial<Omit<TargetState, 'name' | 'status'>> = {},
  now: string = new Date().toISOString(),
): RolloutState {
  const t = s.targets.find((x) => x.name === name);
  if (!t) throw new Error(`rollout state: no target ${name}`);
  if (t.status !== to && !canTransition(t.status, to))
    throw new Error(`rollout state: ${name} cannot go from ${t.status} to ${to}`);
  const next: TargetState = { ...t, ...patch, status: to };
  if (to === 'running' && t.status !== 'running') {
    next.attempts = t.attempts + 1;
    next.startedAt = now;
    delete next.note;
    delete next.finishedAt;
    if (t.status === 'failed' || t.status === 'rolled-back') {
      delete next.failure;
      delete next.health;
      delete next.rollback;
    }
  }
  if (to === 'done' || to === 'failed' || to === 'rolled-back') next.finishedAt = now;
  if (to === 'done') delete next.failure;
  return { ...s, updatedAt: now, targets: s.targets.map((x) => (x.name === name ? next : x)) };
}

/** Patches a target without changing its status. */
export function patchTarget(
  s: RolloutState,
  name: string,
  patch: Partial<Omit<TargetState, 'name' | 'status'>>,
  now: string = new Date().toISOString(),
): RolloutState {
  return {
    ...s,
    updatedAt: now,
    targets: s.targets.map((x) => (x.name === name ? { ...x, ...patch } : x)),
  };
}

/** A target whose work is finished for this rollout (successfully or not). */
const settledBad = (t: TargetState): boolean => t.status === 'failed' || t.status === 'rolled-back';

export interface WaveCounts {
  wave: number;
  total: number;
  pending: number;
  running: number;
  done: number;
  failed: number;
  paused: number;
}

export function waveCounts(s: RolloutState, wave: number): WaveCounts {
  const ts = s.targets.filter((t) => t.wave === wave);
  return {
    wave,
    total: ts.length,
    pending: ts.filter((t) => t.status === 'pending').length,
    running: ts.filter((t) => t.status === 'running').length,
    done: ts.filter((t) => t.status === 'done').length,
    failed: ts.filter(settledBad).length,
    paused: ts.filter((t) => t.status === 'paused').length,
  };
}

/**
 * What to do next: the first wave not finished and the targets in it to run (pending, paused,
 * and running ones a crash left behind). A wave with a failed target blocks the next one unless
 * continueOnError. `blocked` names the failed targets that stop the rollout.
 */
export function nextWork(
  s: RolloutState,
):
  | { kind: 'run'; wave: number; targets: string[] }
  | { kind: 'done' }
  | { kind: 'blocked'; wave: number; failed: string[] } {
  for (let w = 0; w < s.waves.length; w++) {
    const ts = s.targets.filter((t) => t.wave === w);
    const todo = ts.filter((t) => t.status === 'pending' || t.status === 'paused' || t.status === 'running');
    if (todo.length > 0) return { kind: 'run', wave: w, targets: todo.map((t) => t.name) };
    const failed = ts.filter(settledBad);
    if (failed.length > 0 && !s.options.continueOnError)
      return { kind: 'blocked', wave: w, failed: failed.map((t) => t.name) };
  }
  return { kind: 'done' };
}

/**
 * The rollout's overall status from its targets: `done` when every target is done, `failed` when
 * a failed target stops it (or, with continueOnError, when all ran and some failed), `paused`
 * after a pause request, else `running` (in progress, or interrupted: resume continues it).
 */
export function overallStatus(s: RolloutState): RolloutStatus {
  const work = nextWork(s);
  if (work.kind === 'done') return s.targets.some(settledBad) ? 'failed' : 'done';
  if (work.kind === 'blocked') return 'failed';
  if (s.pauseRequested) return 'paused';
  if (!s.options.continueOnError && s.targets.some(settledBad)) return 'failed';
  return 'running';
}

export interface RolloutSummary {
  rolloutId: string;
  status: RolloutStatus;
  targets: number;
  done: number;
  failed: number;
  rolledBack: number;
  paused: number;
  pending: number;
  running: number;
  waves: WaveCounts[];
}

export function summarize(s: RolloutState): RolloutSummary {
  const c = (st: TargetStatus): number => s.targets.filter((t) => t.status === st).length;
  return {
    rolloutId: s.rolloutId,
    status: s.status,
    targets: s.targets.length,
    done: c('done'),
    failed: c('failed'),
    rolledBack: c('rolled-back'),
    paused: c('paused'),
    pending: c('pending'),
    running: c('running'),
    waves: s.waves.map((_, i) => waveCounts(s, i)),
  };
}

/**
 * Validates a parsed state file (from disk: it may be hand-edited or from another version).
 * Throws UsageError naming the file and key.
 */
export function parseRolloutState(text: string, file: string): RolloutState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(
      'invalid-rollout-state',
      `${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`,
      { data: { file } },
    );
  }
  const o = doc as Partial<RolloutState> | null;
  const need = (ok: boolean, key: string): void => {
    if (!ok)
      throw new UsageError(
        'invalid-rollout-state',
        `${file}: ${key}: missing or invalid (not a rollout state file?)`,
        {
          data: { file, key },
        },
      );
  };
  need(o !== null && typeof o === 'object', '(root)');
  need(o!.version === 1, 'version');
  need(typeof o!.rolloutId === 'string', 'rolloutId');
  need(Array.isArray(o!.waves), 'waves');
  need(Array.isArray(o!.targets), 'targets');
  need(typeof o!.options === 'object' && o!.options !== null, 'options');
  o!.targets!.forEach((t, i) => {
    need(typeof t.name === 'string' && typeof t.urlEnv === 'string', `targets[${i}]`);
    need(
      ['pending', 'running', 'done', 'failed', 'rolled-back', 'paused'].includes(t.status),
      `targets[${i}].status`,
    );
  });
  return o as RolloutState;
}
