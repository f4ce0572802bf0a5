'use strict';
// Runs first in every braid process (dist/braid.js), before any bundle loads (about 0.1 s of a
// process). It names the bundle for the command: `braid lint` loads dist/braid-lint.js, the CLI
// with that command only; everything else loads dist/braid-main.js. And `braid lint` boots its
// worker threads here, so that they have loaded the SQL parser by the time the lint starts;
// packages/cli/src/lint-run.ts adopts them (or stops them, for a short history). Only `lint` as
// the first argument qualifies: `braid --json lint` takes the general path, with the same result.
// Every other command runs with WebAssembly compiled by V8's baseline compiler only (below).
const path = require('node:path');

const PRESTARTED = Symbol.for('braid.lint.prestarted');

const AUTO_WORKERS = Symbol.for('braid.lint.autoWorkers');

/**
 * Other tasks runnable on the machine right now (Linux: the running count of /proc/loadavg, less
 * this process), 0 where that is unknown. An instant count, not the load average: a benchmark or
 * a CI step that runs braid back to back keeps the 1-minute average up without competing.
 */
function busyOthers(loadavgText) {
  let text = loadavgText;
  if (text === undefined) {
    try {
      text = require('node:fs').readFileSync('/proc/loadavg', 'latin1');
    } catch {
      return 0;
    }
  }
  const m = /^\S+ \S+ \S+ (\d+)\//.exec(text);
  return m ? Math.max(0, Number(m[1]) - 1) : 0;
}

/**
 * Lint workers for a long history (pure): one per core that is idle besides this thread's, at
 * most 3. A worker on a busy core only competes: on a 2-core machine running other jobs, Lemmy's
 * 342 migrations took 1.05 s with one worker and 0.50 s without (CPU 0.60 s and 0.40 s).
 */
function autoLintWorkers(cores, busy) {
  return Math.min(3, Math.max(0, cores - 1 - busy));
}

/** Worker count: BRAID_LINT_WORKERS when it is a whole number, else autoLintWorkers (recorded for lint-run.ts). */
function lintWorkers() {
  const v = process.env.BRAID_LINT_WORKERS;
  if (v !== undefined && v !== '') return /^\d+$/.test(v) ? Math.min(Number(v), 16) : 0;
  const n = autoLintWorkers(require('node:os').availableParallelism(), busyOthers());
  globalThis[AUTO_WORKERS] = n;
  return n;
}

/**
 * A launcher of braid's (bin/braid, a hook, the merge driver, braid itself) started Node without
 * NODE_EXTRA_CA_CERTS, which Node 20 parses whole at start-up (≈35 ms), and named the file in
 * BRAID_EXTRA_CA_CERTS: put it back for the processes braid starts, and leave the file name to
 * packages/pg/src/tls.ts, which trusts it on TLS connections to PostgreSQL.
 */
function adoptDeferredCa() {
  const file = process.env.BRAID_EXTRA_CA_CERTS;
  if (file === undefined) return;
  delete process.env.BRAID_EXTRA_CA_CERTS;
  if (file === '') return;
  process.env.NODE_EXTRA_CA_CERTS = file;
  globalThis[Symbol.for('braid.tls.deferredExtraCa')] = file;
}

/**
 * The V8 settings of every braid process, set on every run (--help included) so that the
 * bundles' code caches, which V8 ties to the flags they were made under, stay valid whichever
 * way braid was started. bin/braid passes them to Node, which saves loading node:v8 here.
 * - --liftoff-only: PGlite is WebAssembly; V8's baseline compiler only. Optimizing its hot
 *   functions on background threads costs more than it saves in a process that lives seconds
 *   (a PGlite `braid status` 1.07 s -> 0.72 s; `braid demo` 36 s -> 28 s and 39 -> 23 s of CPU;
 *   a cold 300-migration PGlite replay 5.1 s -> 4.4 s).
 * - --min-semi-space-size=16 (MB): a young generation that starts large instead of growing from
 *   1 MB through a collection each time; a short command then collects never or once (a
 *   100-table `braid schema inspect`: five scavenges, about 5 ms, to none). Only effective from
 *   the command line; set here too for the flags' sake.
 */
const V8_FLAGS = ['--liftoff-only', '--min-semi-space-size=16'];

function setV8Flags() {
  // for the braid processes this one starts (packages/cli/src/self.ts)
  globalThis[Symbol.for('braid.v8Flags')] = V8_FLAGS;
  const missing = V8_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missing.length === 0) return;
  const v8 = require('node:v8');
  for (const f of missing) v8.setFlagsFromString(f);
}

/**
 * Starts what `argv`'s command can start now; returns the file name of the bundle to run, or
 * null when the command is done (a replayed `braid check`: process.exitCode is set).
 */
function prestart(argv, distDir) {
  adoptDeferredCa();
  if (argv[0] === 'check' || argv[0] === 'diff') {
    // the last passing check (or this diff --static), printed again when nothing it read has
    // changed (the pre-commit hook's usual case): no CLI bundle, no git process
    const code = replay(argv[0], argv.slice(1), distDir);
    if (code !== undefined) {
      process.exitCode = code;
      return null;
    }
  }
  setV8Flags();
  // `braid lint --stats-from URL` reads a database: the full CLI (the lint bundle has no client)
  const stats = argv.some((a) => a === '--stats-from' || a.startsWith('--stats-from='));
  if (argv[0] !== 'lint' || stats) {
    // `braid schema` (an introspection, a diff): the CLI with that command only, as for lint
    return argv[0] === 'schema' ? 'braid-schema.js' : 'braid-main.js';
  }
  // The V8 settings of a lint (packages/cli/src/commands/lint.ts says why), set while this
  // process runs no JavaScript but this file, for every `braid lint` (--help too): the workers
  // boot under them, and the lint bundle's code cache, which V8 ties to the flags it was made
  // under, stays valid from one run to the next. One more: no helper threads for young-generation
  // collections, which on two cores only compete with the lint's own threads (2,000 migrations:
  // about 4 % faster, median of 21 runs).
  const v8 = require('node:v8');
  v8.setFlagsFromString('--interrupt-budget=1000000');
  v8.setFlagsFromString('--no-parallel-scavenge');
  // BRAID_LINT_WORKERS set: as many as it says, whatever the history (so does lint-run.ts)
  const explicit = Boolean(process.env.BRAID_LINT_WORKERS);
  const n =
    argv.includes('--help') || argv.includes('-h') || (!explicit && shortHistory()) ? 0 : lintWorkers();
  if (n > 0) startLintWorkers(n, distDir);
  return 'braid-lint.js';
}

/**
 * The project in the working directory has a manifest too short for workers to pay off (each
 * line takes at least 90 bytes, so under 20 KB means under 230 migrations, and lint-run.ts uses
 * workers from 256 on). Not found there (a subdirectory, --cwd): workers start, and the lint
 * stops them if it does not need them.
 */
function shortHistory() {
  try {
    return require('node:fs').statSync(path.join('.migrations', 'manifest')).size < 20 * 1024;
  } catch {
    return false;
  }
}

/** dist/braid-check.js's replay of `command`; undefined when it cannot replay (or the bundle is missing). */
function replay(command, args, distDir) {
  let mod;
  try {
    mod = require(path.join(distDir, 'braid-check.js'));
  } catch {
    return undefined;
  }
  return mod.replay(command, args);
}

function startLintWorkers(n, distDir) {
  const { Worker } = require('node:worker_threads');
  const file = path.join(distDir, 'lint-worker.js');
  const workers = [];
  for (let k = 0; k < n; k++) {
    // A small young generation (2 MB semi-spaces instead of up to 16 MB): a lint allocates
    // short-lived parse trees, and touching fresh memory costs more here than scavenging
    // often (measured: about 5 % faster overall).
    const w = new Worker(file, { resourceLimits: { maxYoungGenerationSizeMb: 6 } });
    w.unref(); // never keeps the process alive on its own
    w.on('error', () => undefined); // lint-run.ts sees it exit and does without it
    workers.push(w);
  }
  globalThis[PRESTARTED] = workers;
}

module.exports = { prestart, PRESTARTED, AUTO_WORKERS, autoLintWorkers, busyOthers };
