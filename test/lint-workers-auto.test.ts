/**
 * How many lint workers `braid lint` starts on its own (no BRAID_LINT_WORKERS): one per core that
 * is idle besides the main thread's, by the instant count of runnable tasks. The rule lives in
 * bin/early.js (which prestarts workers before the bundle loads); lint-run.ts loads it from there
 * when early.js did not decide. Both entry points are checked here.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { autoLintWorkers, busyOthers } from '../packages/cli/src/lint-run';
import { REPO_ROOT } from './helpers/repo';

const early = createRequire(__filename)(join(REPO_ROOT, 'packages', 'cli', 'bin', 'early.js')) as {
  autoLintWorkers: (cores: number, busy: number) => number;
  busyOthers: () => number;
};

describe('automatic lint worker count', () => {
  test.each([
    // cores, other runnable tasks, workers
    [1, 0, 0],
    [2, 0, 1],
    [2, 1, 0], // the other core is busy: no worker
    [2, 5, 0],
    [4, 0, 3],
    [4, 1, 2],
    [4, 2, 1],
    [8, 0, 3], // at most 3
    [8, 4, 3],
    [8, 6, 1],
  ])('%i cores, %i busy -> %i', (cores, busy, want) => {
    expect(autoLintWorkers(cores, busy)).toBe(want);
    expect(early.autoLintWorkers(cores, busy)).toBe(want);
  });

  test('the running count of /proc/loadavg, less this process', () => {
    expect(busyOthers('0.52 0.58 0.59 1/467 12345\n')).toBe(0);
    expect(busyOthers('3.90 2.10 1.00 4/512 99\n')).toBe(3);
    expect(busyOthers('garbage')).toBe(0);
    expect(busyOthers('')).toBe(0);
  });

  test('both read the live count the same way (a whole number, 0 off Linux)', () => {
    const a = busyOthers();
    const b = early.busyOthers();
    expect(Number.isInteger(a) && a >= 0).toBe(true);
    expect(Number.isInteger(b) && b >= 0).toBe(true);
  });
});
