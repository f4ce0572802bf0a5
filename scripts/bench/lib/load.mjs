// Background load for the benchmarks: "quiet" (nothing added) or "nice" (one busy loop per core
// at the lowest priority, `nice -n 19`, as a build or a test run in the background of a laptop
// or a shared CI runner). Both braid and its baseline run under the same load in the same run.
// BRAID_BENCH_LOAD=quiet | nice | quiet,nice (the default: both, one table each).
import { spawn } from 'node:child_process';
import os from 'node:os';

export function loadModes() {
  const modes = (process.env.BRAID_BENCH_LOAD ?? 'quiet,nice').split(',').map((s) => s.trim());
  for (const m of modes) {
    if (m !== 'quiet' && m !== 'nice') throw new Error(`BRAID_BENCH_LOAD: unknown mode ${m} (quiet, nice)`);
  }
  return modes;
}

/** Runs `fn` under the given load and returns its result; the load is stopped afterwards. */
export async function underLoad(mode, fn) {
  if (mode === 'quiet') return fn();
  const hogs = os
    .cpus()
    .map(() => spawn('nice', ['-n', '19', process.execPath, '-e', 'for (;;) {}'], { stdio: 'ignore' }));
  // let the scheduler see them before the first measurement
  await new Promise((r) => setTimeout(r, 300));
  try {
    return await fn();
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
  }
}

export function loadLabel(mode) {
  return mode === 'quiet'
    ? `quiet (load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')})`
    : `under nice load (${os.cpus().length} busy loops at nice 19)`;
}
