/**
 * Follow-on failures (pure). When a migration's up.sql fails, `braid test` (and any replay that
 * goes on) runs the later migrations without it; a later migration that uses what the failed one
 * would have created then fails too. That second failure is a consequence, not a finding of its
 * own: it is labelled with the migration it follows from (`consequenceOf`).
 *
 * The rule: a problem of a later migration is a consequence of a failed migration F when the
 * later migration touches (reads, writes, alters, drops, creates or renames) a relation, type,
 * function or schema that F (or another consequence of F) would have created, altered, dropped or
 * renamed. Columns, constraints and indexes count as their table.
 */
import type { Touch } from './verdict';

/** The table-level key of a touch: `table public.users` for a column of users. */
function keyOf(t: Touch): string {
  return t.parent ?? t.object;
}

const CHANGES = new Set(['create', 'alter', 'drop', 'rename']);

export class ConsequenceTracker {
  /** Object key -> the failed migration whose absence explains it. */
  private readonly missing = new Map<string, string>();

  /** Records that `id` did not apply (its up.sql failed): what it changes is missing. */
  failed(id: string, touches: readonly Touch[], rootOf?: string): void {
    const root = rootOf ?? id;
    for (const t of touches) {
      if (!CHANGES.has(t.action)) continue;
      const k = keyOf(t);
      if (!this.missing.has(k)) this.missing.set(k, root);
    }
  }

  /** The failed migration a problem of a migration with these touches follows from, if any. */
  rootOf(touches: readonly Touch[]): string | undefined {
    for (const t of touches) {
      const root = this.missing.get(keyOf(t)) ?? this.missing.get(t.object);
      if (root) return root;
    }
    return undefined;
  }

  get empty(): boolean {
    return this.missing.size === 0;
  }
}
