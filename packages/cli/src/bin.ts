// The CLI bundle's entry (dist/braid-main.js): every command.
import { commands } from './commands';
import { runCli } from './cli';

runCli(commands);
