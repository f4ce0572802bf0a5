/**
 * Rollout progress. With --json, or when stdout is not a terminal: one JSON event per line on
 * stdout (`{"event":"target-start",...}`), passwords scrubbed. On a terminal: a live line per
 * wave on stderr (done/running/failed counts) and the notable events (failures, pauses) as
 * lines of their own.
 */
import type { WaveCounts } from '@braid/core';
import type { Output } from '../output';

export type RolloutEvent = { event: string } & Record<string, unknown>;

export class Progress {
  private liveOpen = false;
  private readonly live: boolean;

  constructor(
    private readonly out: Output,
    readonly events: boolean,
    tty: boolean = Boolean(process.stderr.isTTY),
  ) {
    this.live = !events && tty;
  }

  event(e: RolloutEvent): void {
    if (this.events) {
      process.stdout.write(this.out.clean(JSON.stringify({ ...e, at: new Date().toISOString() })) + '\n');
      return;
    }
    const line = humanLine(e);
    if (line === undefined) return;
    this.closeLive();
    this.out.note(line);
  }

  waveTick(c: WaveCounts, waves: number): void {
    if (!this.live) return;
    process.stderr.write(`\r\u001b[K${waveLine(c, waves)}`);
    this.liveOpen = true;
  }

  waveEnd(c: WaveCounts, waves: number): void {
    if (this.events) return;
    if (this.live) {
      process.stderr.write(`\r\u001b[K${waveLine(c, waves)}\n`);
      this.liveOpen = false;
    } else {
      this.out.note(waveLine(c, waves));
    }
  }

  private closeLive(): void {
    if (this.liveOpen) {
      process.stderr.write('\n');
      this.liveOpen = false;
    }
  }
}

function waveLine(c: WaveCounts, waves: number): string {
  return `wave ${c.wave + 1}/${waves}: ${c.done}/${c.total} done, ${c.running} running, ${c.failed} failed${c.paused ? `, ${c.paused} paused` : ''}${c.pending ? `, ${c.pending} pending` : ''}`;
}

const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

function humanLine(e: RolloutEvent): string | undefined {
  const t = str(e['target']);
  switch (e.event) {
    case 'rollout-start':
      return `braid: rollout ${str(e['rolloutId'])}: ${str(e['targets'])} targets in ${str(e['waves'])} wave(s), ${str(e['pending'])} migrations in the manifest`;
    case 'target-failed':
      return `braid: ${t}: failed${e['migration'] ? ` at ${str(e['migration'])}` : ''}: ${str(e['error'])}`;
    case 'target-rolled-back':
      return `braid: ${t}: rolled back ${(e['rolledBack'] as string[]).join(', ') || '(nothing applied)'}`;
    case 'rollback-failed':
      return `braid: ${t}: rollback failed: ${str(e['error'])}`;
    case 'warning':
      return `braid: ${t}: warning: ${str(e['message'])}`;
    default:
      return undefined;
  }
}
