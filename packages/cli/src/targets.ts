/**
 * The rollout targets file (`{"targets":[{"name","urlEnv"}]}`), shared by `braid rollout` and
 * `braid history --targets`: read and validated once, each target's connection string taken
 * from its variable (never from the file) and its password registered with the output scrubber.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError, parseTargets } from '@braid/core';
import type { Context } from './runtime';
import { resolveDb } from './db';

/** Reads and validates a targets file (one-line errors naming the file and key, exit 2). */
export function readTargetsFile(cwd: string, file: string): ReturnType<typeof parseTargets> {
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(cwd, file), 'utf8');
  } catch (e) {
    throw new UsageError(
      'bad-targets',
      `--targets: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      { data: { argument: '--targets' } },
    );
  }
  return parseTargets(text, file);
}

/**
 * Reads each target's connection string from its variable (unset or empty → exit 2 naming it,
 * before anything touches a database) and registers its password with the output's scrubber.
 */
export function resolveTargetUrls(
  ctx: Context,
  root: string,
  targets: readonly { name: string; urlEnv: string }[],
  file: string,
): Map<string, string> {
  const urls = new Map<string, string>();
  for (const t of targets) {
    const v = process.env[t.urlEnv];
    if (v === undefined || v.trim() === '') {
      throw new UsageError(
        'target-url-unset',
        `the variable ${t.urlEnv} (${file}: target ${t.name}) is not set; export it with the target's connection string`,
        { data: { variable: t.urlEnv, target: t.name } },
      );
    }
    if (!/^postgres(ql)?:\/\//i.test(v) && !v.startsWith('pglite:')) {
      throw new UsageError(
        'target-url-invalid',
        `the variable ${t.urlEnv} (${file}: target ${t.name}) does not hold a postgres:// or pglite: connection string`,
        { data: { variable: t.urlEnv, target: t.name } },
      );
    }
    const db = resolveDb(v, ctx.cwd, root);
    ctx.out.addSecret(v);
    for (const s of db.secrets) ctx.out.addSecret(s);
    urls.set(t.name, db.url);
  }
  return urls;
}
