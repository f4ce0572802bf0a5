/**
 * braid's error taxonomy. Every error a user can meet is a BraidError with a stable `code`,
 * an exit code from the command-line contract (DESIGN §2) and structured `data`. Anything else
 * that escapes to the CLI boundary is an internal error (a bug) and is reported as such.
 *
 * Exit codes: 0 all good; 1 findings (drift, conflict, lint error, failed test);
 * 2 bad input or usage; 3 environment (database unreachable, lock not obtained, git missing).
 */
export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_USAGE = 2;
export const EXIT_ENV = 3;

export type ExitCode = typeof EXIT_OK | typeof EXIT_FINDINGS | typeof EXIT_USAGE | typeof EXIT_ENV;

export interface BraidErrorOptions {
  data?: Record<string, unknown>;
  cause?: unknown;
}

export abstract class BraidError extends Error {
  abstract readonly exitCode: ExitCode;
  readonly code: string;
  readonly data: Record<string, unknown>;

  constructor(code: string, message: string, options: BraidErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.data = options.data ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, exitCode: this.exitCode, ...this.data };
  }
}

/** Bad input or usage: a file, line or argument is wrong. Exit 2. */
export class UsageError extends BraidError {
  readonly exitCode = EXIT_USAGE;
}

/** The environment failed us: database unreachable, lock not obtained, git missing. Exit 3. */
export class EnvironmentError extends BraidError {
  readonly exitCode = EXIT_ENV;
}

/**
 * The command ran and found something the user must act on (a failed migration, drift,
 * a conflict). Exit 1.
 */
export class FindingsError extends BraidError {
  readonly exitCode = EXIT_FINDINGS;
}

export function isBraidError(e: unknown): e is BraidError {
  return e instanceof BraidError;
}
