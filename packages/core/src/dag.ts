/**
 * DAG helpers over a manifest's parents (and, optionally, `requires` edges). The manifest
 * order is always a topological order (parseManifest enforces that parents come first).
 */
import { ancestors, type Manifest } from './manifest';

export type ExtraEdges = ReadonlyMap<string, readonly string[]>;

/** Whether `a` is an ancestor of `b` (a strict one: never of itself). */
export function isAncestor(manifest: Manifest, a: string, b: string, requires?: ExtraEdges): boolean {
  return ancestors(manifest, b, requires).has(a);
}

/** Every migration that transitively depends on `id` (without `id`), in manifest order. */
export function descendants(manifest: Manifest, id: string, requires?: ExtraEdges): string[] {
  const reached = new Set<string>([id]);
  const out: string[] = [];
  for (const e of manifest.entries) {
    const deps = [...e.parents, ...(requires?.get(e.id) ?? [])];
    if (e.id !== id && deps.some((p) => reached.has(p))) {
      reached.add(e.id);
      out.push(e.id);
    }
  }
  return out;
}

/**
 * Whether two migrations were written without knowledge of each other: neither is an ancestor
 * of the other (they come from concurrent branches).
 */
export function concurrent(manifest: Manifest, a: string, b: string, requires?: ExtraEdges): boolean {
  return a !== b && !isAncestor(manifest, a, b, requires) && !isAncestor(manifest, b, a, requires);
}

/** The parents of each id, as a map (convenience for graph walks and renderings). */
export function parentMap(manifest: Manifest): Map<string, string[]> {
  return new Map(manifest.entries.map((e) => [e.id, [...e.parents]]));
}
