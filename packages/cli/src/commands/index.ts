import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../runtime';
import { demoCommand } from './demo';
import { initCommand } from './init';
import { newCommand } from './new';
import { hashCommand } from './hash';
import { checkCommand } from './check';
import { upCommand } from './up';
import { downCommand } from './down';
import { statusCommand } from './status';
import { importCommand } from './import';
import { adoptCommand } from './adopt';
import { driftCommand } from './drift';
import { diffCommand } from './diff';
import { mergeDriverCommand } from './merge-driver';
import { installCommand } from './install';
import { uninstallCommand } from './uninstall';
import { postCheckoutCommand } from './post-checkout';
import { schemaCommand } from './schema';
import { testCommand } from './test';
import { setTableRowsReader } from './lint';
import { loadTableRows } from '../stats-from';

// `braid lint --stats-from` runs in this bundle (bin/early.js), which has the PostgreSQL client.
setTableRowsReader(loadTableRows);
import { approveCommand } from './approve';
import { promoteCommand } from './promote';
import { reportCommand } from './report';
import { ciCommand } from './ci';
import { mergePointsCommand } from './merge-points';
import { lintCommand } from './lint';
import { planCommand } from './plan';
import { rebaseCommand } from './rebase';
import { historyCommand } from './history';
import { changelogCommand } from './changelog';
import { rolloutCommand } from './rollout';
import { backupCommand } from './backup';

// One line per command; each command lives in its own file (commands/<name>.ts).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs' CommandModule is invariant in its args; each module checks its own
type AnyCommand = CommandModule<GlobalArgs, any>;

export const commands: AnyCommand[] = [
  initCommand,
  newCommand,
  hashCommand,
  checkCommand,
  demoCommand,
  upCommand,
  downCommand,
  backupCommand,
  statusCommand,
  importCommand,
  adoptCommand,
  driftCommand,
  schemaCommand,
  diffCommand,
  mergeDriverCommand,
  installCommand,
  uninstallCommand,
  postCheckoutCommand,
  testCommand,
  reportCommand,
  ciCommand,
  mergePointsCommand,
  lintCommand,
  planCommand,
  rebaseCommand,
  approveCommand,
  promoteCommand,
  rolloutCommand,
  historyCommand,
  changelogCommand,
];
