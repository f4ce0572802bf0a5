import path from 'node:path';
import yargs from 'yargs';
import { EXIT_USAGE, isBraidError, redact } from '@braid/core';
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from './runtime';
import { currentOutput, exitState } from './runtime';

declare const BRAID_VERSION: string;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs' CommandModule is invariant in its args; each module checks its own
type AnyCommand = CommandModule<GlobalArgs, any>;

/** A command-line parsing failure reported by yargs (unknown command or option, missing argument). */
class UsageFailure extends Error {}

/**
 * The only place where errors become exit codes and where the process exits. A BraidError
 * prints one line (its message) and exits with its code; anything else is a bug: one line
 * saying so, the stack only with BRAID_DEBUG=1.
 */
async function main(argv: string[], commands: readonly AnyCommand[]): Promise<number> {
  const json = argv.includes('--json');
  const out = currentOutput(json);
  let usageFailure: string | undefined;
  try {
    const parser = yargs(argv)
      .scriptName('braid')
      .parserConfiguration({
        'camel-case-expansion': false,
        'parse-numbers': false,
        'parse-positional-numbers': false,
        'boolean-negation': true,
        'dot-notation': false,
      })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON document on stdout' })
      .option('cwd', {
        type: 'string',
        default: process.cwd(),
        describe: 'run as if started in this directory',
        coerce: (p: string) => path.resolve(p),
      })
      .command(commands as AnyCommand[])
      .demandCommand(1, 'name a command (braid --help lists them)')
      .strict()
      .version(typeof BRAID_VERSION === 'string' ? BRAID_VERSION : '0.0.0-dev')
      .help()
      .wrap(Math.min(110, process.stdout.columns || 100))
      .fail((msg, err) => {
        if (err) throw err;
        usageFailure = msg;
        // Throwing stops yargs here: without it, a command's handler would still run after a
        // validation failure (unknown option, missing argument) and then exit 2 anyway.
        throw new UsageFailure(msg);
      });
    try {
      await parser.parseAsync();
    } catch (e) {
      if (!(e instanceof UsageFailure)) throw e;
    }
    if (usageFailure !== undefined) {
      out.note(`braid: ${usageFailure}`);
      if (json) out.result({ error: 'usage', message: usageFailure, exitCode: EXIT_USAGE });
      return EXIT_USAGE;
    }
    return exitState.code;
  } catch (e) {
    if (isBraidError(e)) {
      out.note(`braid: ${e.message}`);
      if (process.env['BRAID_DEBUG'] === '1' && e.stack) out.note(e.stack);
      if (json) out.result(e.toJSON());
      return e.exitCode;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    out.note(`braid: internal error: ${redact(err.message)} (set BRAID_DEBUG=1 for the stack trace)`);
    if (process.env['BRAID_DEBUG'] === '1' && err.stack) out.note(redact(err.stack));
    if (json) out.result({ error: 'internal', message: redact(err.message), exitCode: 70 });
    return 70;
  }
}

/** Runs the CLI with `commands` on this process's arguments, and sets the exit code. */
export function runCli(commands: readonly AnyCommand[]): void {
  // `braid … | head`: the reader went away. Stop quietly, as a Unix filter does, instead of
  // dying on an unhandled EPIPE with a stack trace. The exit status is the shell's 141 (SIGPIPE).
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(141);
    throw e;
  });
  main(process.argv.slice(2), commands).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`braid: internal error: ${redact(String(e))}\n`);
      process.exitCode = 70;
    },
  );
}
