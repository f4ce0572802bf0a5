import { UsageError } from '@braid/core';
import { loadParser, splitStatements } from '@braid/sql';
import type { Executor } from '../executor';

/** A SQL file to replay: a label for messages (a path as the user wrote it) and its text. */
export interface SqlFile {
  label: string;
  text: string;
}

/**
 * Replays SQL files, in order, statement by statement (each in its own implicit transaction,
 * as psql does), so that a failure names the file, line and statement:
 * `schema/users.sql:12: relation "x" does not exist (create index …)`. Exit 2 (bad input).
 */
export async function replaySqlFiles(ex: Executor, files: readonly SqlFile[]): Promise<number> {
  await loadParser().catch(() => undefined);
  let n = 0;
  for (const f of files) {
    for (const st of splitStatements(f.text)) {
      if (!st.text.trim()) continue;
      try {
        await ex.exec(st.text);
        n++;
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        const first = st.text.replace(/\s+/g, ' ').slice(0, 60);
        throw new UsageError(
          'replay-failed',
          `${f.label}:${st.line}: ${msg} (in: ${first}${st.text.length > 60 ? '…' : ''})`,
          {
            data: { file: f.label, line: st.line },
          },
        );
      }
    }
  }
  return n;
}
