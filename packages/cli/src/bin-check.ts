// The replay bundle's entry (dist/braid-check.js): what bin/early.js tries first for `braid
// check` and `braid diff`, without loading the CLI bundle (replay.ts says when it replays).
import path from 'node:path';
import { replayCheck, replayDiff } from './replay';
import { braidVersion } from './statcache';

/** The recorded run's exit code after printing its output again, or undefined (run the command). */
export function replay(command: string, args: readonly string[]): number | undefined {
  const dist = path.dirname(__filename);
  if (command === 'check') return replayCheck(args, dist, braidVersion());
  if (command === 'diff') return replayDiff(args, dist, braidVersion());
  return undefined;
}
