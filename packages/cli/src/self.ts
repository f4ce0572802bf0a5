/**
 * Starting braid again (a child braid, a git hook, the merge driver) the way bin/braid does:
 * Node with braid's V8 flags and without NODE_EXTRA_CA_CERTS, the file named in BRAID_EXTRA_CA_CERTS instead (bin/braid
 * and packages/pg/src/tls.ts say why).
 */

/**
 * Node's options for a child braid process: the V8 flags bin/braid passes (bin/early.js names
 * them), so that the child neither loads node:v8 to set them nor starts with the small young
 * generation a flag set at run time cannot change.
 */
export function braidNodeArgs(opts: { replay?: boolean } = {}): string[] {
  const flags = (globalThis as Record<symbol, unknown>)[Symbol.for('braid.v8Flags')];
  const all = Array.isArray(flags) ? flags.filter((f): f is string => typeof f === 'string') : [];
  return opts.replay ? all.filter((f) => !f.startsWith(REPLAY_SKIPS)) : all;
}

/**
 * Left out for a command that is usually replayed (`braid check` in the pre-commit hook,
 * replay.ts): reserving the large young generation costs Node's start-up ≈ 25 ms (0.110 -> 0.138 s
 * on a slow day), a replay allocates next to nothing, and when the command does run, bin/early.js
 * sets the flag at run time, which keeps the code cache valid (the heap then keeps Node's default
 * young generation, which a short check hardly notices). bin/braid does the same for check and diff.
 */
const REPLAY_SKIPS = '--min-semi-space-size=';

/** `env` for a child braid process: NODE_EXTRA_CA_CERTS handed over in BRAID_EXTRA_CA_CERTS. */
export function braidChildEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const file = env['NODE_EXTRA_CA_CERTS'];
  if (!file) return env;
  const out: NodeJS.ProcessEnv = { ...env, BRAID_EXTRA_CA_CERTS: file };
  delete out['NODE_EXTRA_CA_CERTS'];
  return out;
}

/** The same hand-over in a shell command line (a hook, git's merge driver), before `command`. */
export function shellWithDeferredCa(command: string): string {
  return `BRAID_EXTRA_CA_CERTS="\${NODE_EXTRA_CA_CERTS-}" NODE_EXTRA_CA_CERTS= ${command}`;
}
