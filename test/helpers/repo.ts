/**
 * End-to-end helpers: real temporary git repositories (see gitrepo.ts: isolated git config,
 * fixed identity and dates) and the built CLI run as a real process.
 *
 *   const repo = createGitRepo();
 *   const r = await runBraid(['init'], { cwd: repo.dir });
 *   expect(r.code).toBe(0);
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { testGitEnv } from './gitrepo';

export { createGitRepo, git, tempDir, wrapRepo, writeMigration, type TempRepo } from './gitrepo';

export const REPO_ROOT = join(__dirname, '..', '..');
/** The bundled CLI that `npm run build` writes. */
export const BRAID_JS = join(REPO_ROOT, 'packages', 'cli', 'dist', 'braid.js');
/** The `braid` command as npm installs it: the launcher that runs BRAID_JS (bin/braid says how). */
export const BRAID_BIN = join(REPO_ROOT, 'packages', 'cli', 'bin', 'braid');

let built = false;
/**
 * Makes sure the bundle exists. `npm test` builds first; a focused `npm run jest -- test/x`
 * after a source change needs `npm run build` (set BRAID_TEST_BUILD=1 to build here every run).
 */
export function ensureBuilt(): void {
  if (built) return;
  if (process.env['BRAID_TEST_BUILD'] === '1' || !existsSync(BRAID_JS)) {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`npm run build failed: ${r.stderr}`);
  }
  built = true;
}

export interface BraidResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  /** Added to (or, with a value of undefined, removed from) the child's environment. */
  env?: Record<string, string | undefined>;
  /** Written to the child's stdin. */
  input?: string;
}

/**
 * The environment braid runs in during tests: isolated git, no colour, no debug stacks, and no
 * database selection inherited from the caller (DATABASE_URL, PG*) unless passed in `env`.
 */
export function braidEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env = testGitEnv({ NO_COLOR: '1' });
  for (const k of Object.keys(env)) {
    if (k === 'DATABASE_URL' || k === 'BRAID_DEBUG' || /^PG[A-Z]+$/.test(k)) delete env[k];
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs `braid ...args` (the launcher, BRAID_BIN) as a process; never rejects on a non-zero exit. */
export function runBraid(args: string[], opts: RunOptions): Promise<BraidResult> {
  ensureBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(BRAID_BIN, args, {
      cwd: opts.cwd,
      env: braidEnv(opts.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** runBraid with --json; parses stdout (throws with the output when it is not one JSON document). */
export async function runBraidJson<T = Record<string, unknown>>(
  args: string[],
  opts: RunOptions,
): Promise<BraidResult & { json: T }> {
  const r = await runBraid([...args, '--json'], opts);
  try {
    return { ...r, json: JSON.parse(r.stdout) as T };
  } catch {
    throw new Error(
      `braid ${args.join(' ')} --json did not print one JSON document:\n${r.stdout}\n${r.stderr}`,
    );
  }
}
