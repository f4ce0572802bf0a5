import { redact } from '@braid/core';

/**
 * Where a command's results go. stdout carries the result (text, or exactly one JSON document
 * with --json); stderr carries progress, notes and errors. Colour only on a TTY, never with
 * NO_COLOR. Everything written is passed through redact(): no password reaches a terminal.
 */
export class Output {
  readonly json: boolean;
  readonly color: boolean;
  readonly stderrTTY: boolean;
  private readonly secrets: string[] = [];

  constructor(opts: { json: boolean }) {
    this.json = opts.json;
    this.stderrTTY = Boolean(process.stderr.isTTY);
    this.color = Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'] && !opts.json;
  }

  /** A secret (a password) that must never be printed, even outside a URL. */
  addSecret(secret: string | undefined): void {
    if (secret && secret.length >= 3) this.secrets.push(secret);
  }

  clean(text: string): string {
    let out = redact(text);
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }

  /** A line of the command's text result (stdout). Ignored in --json mode. */
  print(line = ''): void {
    if (this.json) return;
    process.stdout.write(this.clean(line) + '\n');
  }

  /** The command's single JSON document (stdout). */
  result(doc: unknown): void {
    process.stdout.write(this.clean(JSON.stringify(doc, null, 2)) + '\n');
  }

  /**
   * The command's single JSON document on one line, for documents that can hold thousands of
   * items (lint findings; like ESLint's json formatter). V8's JSON.stringify has no fast path
   * with indentation: for 5,000 findings, 45 ms indented against 12 ms compact.
   */
  resultCompact(doc: unknown): void {
    process.stdout.write(this.clean(JSON.stringify(doc)) + '\n');
  }

  /** A note, progress or warning for the human (stderr). */
  note(line: string): void {
    process.stderr.write(this.clean(line) + '\n');
  }

  /** Bold/colour helpers that degrade to plain text. */
  style(kind: 'bold' | 'red' | 'green' | 'yellow' | 'dim' | 'cyan', text: string): string {
    if (!this.color) return text;
    const codes: Record<typeof kind, [number, number]> = {
      bold: [1, 22],
      red: [31, 39],
      green: [32, 39],
      yellow: [33, 39],
      dim: [2, 22],
      cyan: [36, 39],
    };
    const [a, b] = codes[kind];
    return `\u001b[${a}m${text}\u001b[${b}m`;
  }
}
