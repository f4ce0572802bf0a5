/**
 * The schema `braid` is reserved on the databases braid migrates: it holds braid's registry
 * (braid.applied, braid.history, braid.audit, ...), and drift checks leave it out.
 *
 * - mentionsRegistrySchema: a cheap text pattern (qualified names `braid.x`, CREATE/ALTER/DROP
 *   SCHEMA braid, a search_path naming it) that comments and strings can also match. Replays use
 *   it to replay such a history bare (shadow.ts), where a false positive only costs that.
 * - refuseRegistrySchema: applyUp refuses, before anything is applied, a pending migration that
 *   creates, alters, drops, renames or writes objects there (reading is allowed). The SQL parser
 *   loads only for a file the pattern matches, and the parse decides.
 */
import { FindingsError } from '@braid/core';
import { analyzeFile, loadParser, qname, type Footprint, type ObjectRef } from '@braid/sql';
import type { SourceMigration } from './apply';

const REGISTRY_SCHEMA_RE =
  /(^|[^\w$"])"?braid"?\s*\.\s*["a-z_]|\bschema\s+(if\s+(not\s+)?exists\s+)?"?braid"?(?![\w$])|search_path\b[^;]*\bbraid\b/i;

/** Whether SQL text names the schema `braid` (see the module comment). */
export function mentionsRegistrySchema(sql: string): boolean {
  return REGISTRY_SCHEMA_RE.test(sql);
}

const REGISTRY_SCHEMA = 'braid';

const inRegistry = (o: ObjectRef): boolean =>
  o.schema === REGISTRY_SCHEMA || (o.kind === 'schema' && o.name === REGISTRY_SCHEMA);

/** "creates braid.t", "writes braid.applied", ... for what a statement does in the schema. */
function uses(f: Footprint): string[] {
  const out: string[] = [];
  for (const o of f.creates.filter(inRegistry)) out.push(`creates ${qname(o)}`);
  for (const a of f.alters.filter((x) => inRegistry(x.object))) out.push(`alters ${qname(a.object)}`);
  for (const o of f.drops.filter(inRegistry)) out.push(`drops ${qname(o)}`);
  for (const r of f.renames.filter((x) => inRegistry(x.from) || inRegistry(x.to)))
    out.push(`renames ${qname(r.from)} to ${qname(r.to)}`);
  for (const o of f.writes.filter(inRegistry)) out.push(`writes ${qname(o)}`);
  return out;
}

/** Where each pending migration uses the registry schema: `<dir>/<id>/up.sql:LINE: creates braid.t`. */
export async function registrySchemaUses(
  pending: readonly SourceMigration[],
  dirLabel: string,
): Promise<string[]> {
  const found: string[] = [];
  for (const m of pending) {
    for (const [file, text] of [
      ['up.sql', m.files.up],
      ['verify.sql', m.files.verify],
    ] as const) {
      if (text === undefined || !mentionsRegistrySchema(text)) continue;
      await loadParser();
      const path = `${dirLabel}/${m.id}/${file}`;
      for (const st of analyzeFile(path, text).statements) {
        for (const u of uses(st.footprint)) found.push(`${path}:${st.line}: ${u}`);
      }
    }
  }
  return found;
}

/** Refuses (exit 1; applyUp calls it before anything runs) pending migrations that use the schema. */
export async function refuseRegistrySchema(
  pending: readonly SourceMigration[],
  dirLabel: string,
): Promise<void> {
  const found = await registrySchemaUses(pending, dirLabel);
  if (found.length === 0) return;
  throw new FindingsError(
    'registry-schema',
    `refused, nothing applied: the schema "braid" is reserved for braid's registry on the databases it migrates, and ${found.length === 1 ? 'a pending migration uses it' : 'pending migrations use it'} (${found.slice(0, 3).join('; ')}${found.length > 3 ? '; …' : ''}); rename that schema in the migrations`,
    { data: { uses: found } },
  );
}
