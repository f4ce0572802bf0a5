/**
 * The rollout targets file (`{"targets":[{"name","urlEnv"}]}`), shared by `braid rollout` and
 * `braid history --targets`: read and validated once, each target's connection string taken
 * from its variable (never from the file) and its password registered with the output scrubber.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError, parseTargets, splitTenant, type RolloutTarget } from '@braid/core';
import { openExecutor } from '@braid/pg';
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
    const where = `${file}: target ${t.name}`;
    const db = resolveDb(v, ctx.cwd, root);
    ctx.out.addSecret(v);
    for (const s of db.secrets) ctx.out.addSecret(s);
    // a tenant target: `<name>#<schema>` (expanded from tenantsQuery) or a variable holding URL#schema
    const fromName = t.name.includes('#') ? t.name.slice(t.name.indexOf('#') + 1) : undefined;
    const split = splitTenant(db.url, where);
    const schema = fromName ?? split.schema;
    if (schema !== undefined) splitTenant(`x#${schema}`, where); // validates
    urls.set(t.name, schema === undefined ? split.url : `${split.url}#${schema}`);
  }
  return urls;
}

/**
 * Expands the targets with a `tenantsQuery`: the query runs on the target's database and each
 * schema in its first column becomes a target `<name>#<schema>` (same variable). Targets
 * without one are kept as they are. Runs before anything is applied.
 */
export async function expandTenants(
  targets: readonly RolloutTarget[],
  urls: Map<string, string>,
  file: string,
): Promise<{ targets: RolloutTarget[]; urls: Map<string, string> }> {
  const out: RolloutTarget[] = [];
  const outUrls = new Map(urls);
  for (const t of targets) {
    if (t.tenantsQuery === undefined) {
      out.push(t);
      continue;
    }
    const base = splitTenant(urls.get(t.name)!).url;
    const ex = await openExecutor(base, 'braid rollout (tenants)');
    let schemas: string[];
    try {
      const r = await ex.query<Record<string, unknown>>(t.tenantsQuery);
      schemas = r.rows.map((row) => String(Object.values(row)[0]));
    } catch (e) {
      throw new UsageError(
        'bad-tenants-query',
        `${file}: target ${t.name}: tenantsQuery failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    } finally {
      await ex.close();
    }
    outUrls.delete(t.name);
    for (const schema of schemas) {
      splitTenant(`x#${schema}`, `${file}: target ${t.name}: tenantsQuery`);
      const name = `${t.name}#${schema}`;
      out.push({ name, urlEnv: t.urlEnv });
      outUrls.set(name, `${base}#${schema}`);
    }
  }
  const seen = new Set<string>();
  for (const t of out) {
    if (seen.has(t.name))
      throw new UsageError(
        'duplicate-target',
        `${file}: target ${t.name} is listed twice (after tenantsQuery)`,
      );
    seen.add(t.name);
  }
  if (out.length === 0) throw new UsageError('no-targets', `${file}: the tenants queries returned no schema`);
  return { targets: out, urls: outUrls };
}
