import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../runtime';
import { demoCommand } from './demo';

// One line per command; each command lives in its own file (commands/<name>.ts).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs' CommandModule is invariant in its args; each module checks its own
type AnyCommand = CommandModule<GlobalArgs, any>;

export const commands: AnyCommand[] = [demoCommand];
