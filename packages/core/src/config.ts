/**
 * braid.json (the repository root): environments, each with the variable holding its connection
 * string (never the string itself), the branch allowed to deploy to it, and its promotion policy.
 * Pure: parse and validate text; every error names the key path, e.g.
 * `braid.json: environments.prod.urlEnv: expected a string`.
 */
import { UsageError } from './errors';
import { parseOnlineConfig, type OnlineLayer } from './online';

export const CONFIG_FILE = 'braid.json';

export type LintBlocks = 'error' | 'warning' | 'none';
export type RiskLevel = 'high' | 'medium' | 'low';
export const RISK_LEVELS: readonly RiskLevel[] = ['high', 'medium', 'low'];

export interface EnvironmentPolicy {
  /** Lint severity that blocks a promotion: `error` (default), `warning` (and errors), `none`. */
  lintBlocks: LintBlocks;
  /** Whether `braid test` must have passed for the exact manifest hash (default false). */
  requireTest: boolean;
  /** Approvals required per risk level of a pending migration (default 0 each). */
  approvals: Record<RiskLevel, number>;
}

export interface EnvironmentConfig {
  name: string;
  /** Name of the environment variable holding the connection string. */
  urlEnv: string;
  /** The branch allowed to deploy here: HEAD must be on it or merged into it. */
  branch: string;
  policy: EnvironmentPolicy;
  /** The watcher and circuit breaker for this environment (over the top-level `online`). */
  online?: OnlineLayer;
  /** Pre-change backups for this environment: its policy (over the top-level `backup.policy`). */
  backupPolicy?: BackupPolicyName;
}

export type BackupPolicyName = 'off' | 'destructive' | 'all';
const BACKUP_POLICY_NAMES: readonly BackupPolicyName[] = ['off', 'destructive', 'all'];

/** braid.json `backup` (docs/backups.md). */
export interface BackupConfig {
  /** off (default), destructive (dropped/retyped columns, dropped/truncated tables), all (+ UPDATE/DELETE). */
  policy: BackupPolicyName;
  /** Where archives go: a local folder (default) or the `braid_backup` schema of the target. */
  store: 'local' | 'server';
  /** The local folder (relative to the repository root); default `<git-dir>/braid/backups`. */
  dir?: string;
  /** A file holding the key (relative to the repository root); else BRAID_BACKUP_KEY. */
  keyFile?: string;
  /** A role with SELECT on the affected tables: the copy runs under SET LOCAL ROLE. */
  role?: string;
  retention: { keep?: number; maxAgeDays?: number; maxBytes?: number };
}

export interface BraidConfig {
  environments: Map<string, EnvironmentConfig>;
  /** Extra protected refs (optional). */
  protected?: string[];
  /** The watcher and circuit breaker of up, promote and rollout (docs/online.md). */
  online?: OnlineLayer;
  /** braid rollout: the variable holding the control database's URL (docs/rollout.md). */
  rollout?: { controlEnv: string };
  /** Pre-change backups of up, promote and rollout (docs/backups.md). */
  backup?: BackupConfig;
}

export const DEFAULT_POLICY: EnvironmentPolicy = {
  lintBlocks: 'error',
  requireTest: false,
  approvals: { high: 0, medium: 0, low: 0 },
};

const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Json = unknown;

function fail(file: string, keyPath: string, message: string): never {
  throw new UsageError('invalid-config', `${file}: ${keyPath ? `${keyPath}: ` : ''}${message}`, {
    data: { file, key: keyPath },
  });
}

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(file: string, keyPath: string, v: Json, allowed: readonly string[]): Record<string, Json> {
  if (!isObject(v)) fail(file, keyPath, `expected an object, got ${describe(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      fail(
        file,
        keyPath ? `${keyPath}.${k}` : k,
        `unknown key (allowed${keyPath ? ` in ${keyPath}` : ''}: ${allowed.join(', ')})`,
      );
    }
  }
  return v;
}

function str(file: string, keyPath: string, v: Json): string {
  if (typeof v !== 'string') fail(file, keyPath, `expected a string, got ${describe(v)}`);
  if (v.trim() === '') fail(file, keyPath, 'expected a non-empty string');
  return v;
}

function parsePolicy(file: string, keyPath: string, v: Json): EnvironmentPolicy {
  const o = object(file, keyPath, v, ['lintBlocks', 'requireTest', 'approvals']);
  const policy: EnvironmentPolicy = {
    lintBlocks: DEFAULT_POLICY.lintBlocks,
    requireTest: DEFAULT_POLICY.requireTest,
    approvals: { ...DEFAULT_POLICY.approvals },
  };
  if (o['lintBlocks'] !== undefined) {
    const lb = o['lintBlocks'];
    if (lb !== 'error' && lb !== 'warning' && lb !== 'none') {
      fail(file, `${keyPath}.lintBlocks`, `expected "error", "warning" or "none", got ${describe(lb)}`);
    }
    policy.lintBlocks = lb;
  }
  if (o['requireTest'] !== undefined) {
    if (typeof o['requireTest'] !== 'boolean') {
      fail(file, `${keyPath}.requireTest`, `expected true or false, got ${describe(o['requireTest'])}`);
    }
    policy.requireTest = o['requireTest'];
  }
  if (o['approvals'] !== undefined) {
    const ap = object(file, `${keyPath}.approvals`, o['approvals'], RISK_LEVELS);
    for (const level of RISK_LEVELS) {
      const n = ap[level];
      if (n === undefined) continue;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
        fail(file, `${keyPath}.approvals.${level}`, `expected a whole number ≥ 0, got ${describe(n)}`);
      }
      policy.approvals[level] = n;
    }
  }
  return policy;
}

/** Parses and validates braid.json text. Throws UsageError (exit 2) naming the key path. */
export function parseConfig(text: string, file: string = CONFIG_FILE): BraidConfig {
  let raw: Json;
  try {
    raw = JSON.parse(text) as Json;
  } catch (e) {
    fail(file, '', `not valid JSON (${(e as Error).message})`);
  }
  const root = object(file, '', raw, ['$schema', 'environments', 'protected', 'online', 'rollout', 'backup']);
  if (root['$schema'] !== undefined) str(file, '$schema', root['$schema']);
  const environments = new Map<string, EnvironmentConfig>();
  const envs =
    root['environments'] ?? (root['backup'] !== undefined || root['rollout'] !== undefined ? {} : undefined);
  if (envs === undefined) fail(file, 'environments', 'missing (an object of environments)');
  if (!isObject(envs)) fail(file, 'environments', `expected an object, got ${describe(envs)}`);
  for (const [name, v] of Object.entries(envs)) {
    const kp = `environments.${name}`;
    if (!ENV_NAME.test(name)) {
      fail(
        file,
        kp,
        'an environment name uses letters, digits, "-" and "_" and starts with a letter or digit',
      );
    }
    const o = object(file, kp, v, ['urlEnv', 'branch', 'policy', 'online', 'backup']);
    if (o['urlEnv'] === undefined)
      fail(file, `${kp}.urlEnv`, 'missing (the name of the variable holding the URL)');
    const urlEnv = str(file, `${kp}.urlEnv`, o['urlEnv']);
    if (!VAR_NAME.test(urlEnv)) {
      fail(
        file,
        `${kp}.urlEnv`,
        `expected the name of an environment variable (e.g. PROD_DATABASE_URL), not ${/:\/\//.test(urlEnv) ? 'a connection string' : JSON.stringify(urlEnv)}`,
      );
    }
    if (o['branch'] === undefined) fail(file, `${kp}.branch`, 'missing (the branch allowed to deploy here)');
    const branch = str(file, `${kp}.branch`, o['branch']);
    const policy =
      o['policy'] === undefined ? defaultPolicy() : parsePolicy(file, `${kp}.policy`, o['policy']);
    const env: EnvironmentConfig = { name, urlEnv, branch, policy };
    if (o['online'] !== undefined) env.online = parseOnlineConfig(o['online'], file, `${kp}.online`);
    if (o['backup'] !== undefined) {
      const bo = object(file, `${kp}.backup`, o['backup'], ['policy']);
      if (bo['policy'] !== undefined)
        env.backupPolicy = backupPolicyOf(file, `${kp}.backup.policy`, bo['policy']);
    }
    environments.set(name, env);
  }
  const config: BraidConfig = { environments };
  if (root['protected'] !== undefined) {
    const p = root['protected'];
    if (!Array.isArray(p)) fail(file, 'protected', `expected an array of ref names, got ${describe(p)}`);
    config.protected = p.map((x, i) => str(file, `protected[${i}]`, x as Json));
  }
  if (root['online'] !== undefined) config.online = parseOnlineConfig(root['online'], file, 'online');
  if (root['rollout'] !== undefined) {
    const r = object(file, 'rollout', root['rollout'], ['controlEnv']);
    if (r['controlEnv'] === undefined)
      fail(file, 'rollout.controlEnv', 'missing (the variable holding the control database URL)');
    const controlEnv = str(file, 'rollout.controlEnv', r['controlEnv']);
    if (!VAR_NAME.test(controlEnv))
      fail(
        file,
        'rollout.controlEnv',
        `expected the name of an environment variable, not ${/:\/\//.test(controlEnv) ? 'a connection string' : JSON.stringify(controlEnv)}`,
      );
    config.rollout = { controlEnv };
  }
  if (root['backup'] !== undefined) config.backup = parseBackupConfig(file, root['backup']);
  return config;
}

function backupPolicyOf(file: string, keyPath: string, v: Json): BackupPolicyName {
  if (typeof v !== 'string' || !(BACKUP_POLICY_NAMES as readonly string[]).includes(v))
    fail(file, keyPath, `expected "off", "destructive" or "all", got ${describe(v)}`);
  return v as BackupPolicyName;
}

function wholeNumber(file: string, keyPath: string, v: Json, min: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || !Number.isInteger(v))
    fail(file, keyPath, `expected a whole number ≥ ${min}, got ${describe(v)}`);
  return v;
}

function parseBackupConfig(file: string, v: Json): BackupConfig {
  const o = object(file, 'backup', v, ['policy', 'store', 'dir', 'keyFile', 'role', 'retention']);
  const out: BackupConfig = { policy: 'off', store: 'local', retention: {} };
  if (o['policy'] !== undefined) out.policy = backupPolicyOf(file, 'backup.policy', o['policy']);
  if (o['store'] !== undefined) {
    if (o['store'] !== 'local' && o['store'] !== 'server')
      fail(file, 'backup.store', `expected "local" or "server", got ${describe(o['store'])}`);
    out.store = o['store'];
  }
  if (o['dir'] !== undefined) out.dir = str(file, 'backup.dir', o['dir']);
  if (o['keyFile'] !== undefined) out.keyFile = str(file, 'backup.keyFile', o['keyFile']);
  if (o['role'] !== undefined) out.role = str(file, 'backup.role', o['role']);
  if (o['retention'] !== undefined) {
    const r = object(file, 'backup.retention', o['retention'], ['keep', 'maxAgeDays', 'maxSizeMB']);
    if (r['keep'] !== undefined)
      out.retention.keep = wholeNumber(file, 'backup.retention.keep', r['keep'], 1);
    if (r['maxAgeDays'] !== undefined)
      out.retention.maxAgeDays = wholeNumber(file, 'backup.retention.maxAgeDays', r['maxAgeDays'], 0);
    if (r['maxSizeMB'] !== undefined)
      out.retention.maxBytes =
        wholeNumber(file, 'backup.retention.maxSizeMB', r['maxSizeMB'], 1) * 1024 * 1024;
  }
  return out;
}

/** A fresh copy of the default policy. */
export function defaultPolicy(): EnvironmentPolicy {
  return { ...DEFAULT_POLICY, approvals: { ...DEFAULT_POLICY.approvals } };
}

/** The named environment or UsageError listing the configured ones. */
export function environmentOf(
  config: BraidConfig,
  name: string,
  file: string = CONFIG_FILE,
): EnvironmentConfig {
  const env = config.environments.get(name);
  if (!env) {
    const known = [...config.environments.keys()];
    throw new UsageError(
      'unknown-environment',
      `environment "${name}" is not defined in ${file} (${known.length > 0 ? `defined: ${known.join(', ')}` : 'none defined'})`,
      { data: { environment: name, known } },
    );
  }
  return env;
}
