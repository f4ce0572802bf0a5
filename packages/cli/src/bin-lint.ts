// The entry of dist/braid-lint.js, the bundle `braid lint` runs (bin/early.js picks it): the same
// CLI with the lint command only, so that a lint of a long history does not first load and
// initialise every other command (about 25 ms of each run).
import { lintCommand } from './commands/lint';
import { runCli } from './cli';

runCli([lintCommand]);
