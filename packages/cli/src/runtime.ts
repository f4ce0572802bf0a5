import type { Argv, CommandModule } from 'yargs';
import { EXIT_OK, type ExitCode } from '@braid/core';
import { Output } from './output';

/** Options every command takes (DESIGN §2). */
export interface GlobalArgs {
  json: boolean;
  cwd: string;
}

/** What a command handler receives besides its parsed arguments. */
export interface Context {
  /** Absolute working directory (from --cwd, else process.cwd()). */
  cwd: string;
  out: Output;
}

/** Set by a command handler; read by bin.ts after parsing finishes. */
export const exitState: { code: ExitCode } = { code: EXIT_OK };

/**
 * Declares a command. The handler returns the exit code (0 when it returns nothing); errors
 * are thrown as BraidError and turned into a one-line message and exit code by bin.ts.
 */
export function defineCommand<A extends object>(spec: {
  command: string | string[];
  describe: string;
  builder?: (y: Argv<GlobalArgs>) => Argv<A & GlobalArgs>;
  handler: (args: A & GlobalArgs, ctx: Context) => Promise<ExitCode | void>;
}): CommandModule<GlobalArgs, A & GlobalArgs> {
  return {
    command: spec.command,
    describe: spec.describe,
    builder: (spec.builder ?? ((y: Argv<GlobalArgs>) => y)) as CommandModule<
      GlobalArgs,
      A & GlobalArgs
    >['builder'],
    handler: async (args) => {
      const ctx: Context = { cwd: args.cwd, out: currentOutput(args.json) };
      const code = await spec.handler(args as unknown as A & GlobalArgs, ctx);
      exitState.code = code ?? EXIT_OK;
    },
  };
}

let output: Output | undefined;
export function currentOutput(json: boolean): Output {
  if (!output || output.json !== json) output = new Output({ json });
  return output;
}

/** Adds --db (a command that touches a database). */
export function withDb<T>(y: Argv<T>): Argv<T & { db: string | undefined }> {
  return y.option('db', {
    type: 'string',
    describe:
      'database URL (postgres://…, pglite:PATH, pglite:memory); default: DATABASE_URL, then PG* variables, then the embedded database',
  });
}
