/**
 * `.migrations/baseline` for the commands that lint (lint, promote): which migrations are imported
 * history whose findings are reported as baseline and never fail. The structural rules apply
 * (listed in the manifest, in order, written by braid import); the git rules (committed outside
 * the baseline, a rewritten shared baseline) are `braid check`'s, which refuses such a baseline.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BASELINE_FILE, checkBaseline, isBraidError, type BaselineCheck } from '@braid/core';
import { migrationsDir } from './project';

/** The baseline check without git, or undefined when the project has no baseline. */
export function readBaselineCheck(root: string, manifestIds: readonly string[]): BaselineCheck | undefined {
  const dir = migrationsDir(root);
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, BASELINE_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return checkBaseline({
      text,
      manifestIds,
      upOf: (id) => {
        try {
          return fs.readFileSync(path.join(dir, id, 'up.sql'), 'utf8');
        } catch {
          return undefined;
        }
      },
    });
  } catch (e) {
    if (isBraidError(e)) return undefined;
    throw e;
  }
}

/** Marks the findings of baselined migrations (`finding.baseline = tool`); returns how many. */
export function markBaseline<F extends { migration: string; baseline?: string }>(
  findings: F[],
  check: BaselineCheck | undefined,
): number {
  if (!check) return 0;
  let n = 0;
  for (const f of findings) {
    const b = check.accepted.get(f.migration);
    if (b) {
      f.baseline = b.tool;
      n++;
    }
  }
  return n;
}
