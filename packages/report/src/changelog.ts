/**
 * `braid changelog`: the human changelog of a range of the manifest (pure model and renderings).
 * The CLI gathers the migrations (in manifest order), their directives and footprints, the
 * commit that added each one and the first release tag whose manifest lists it; this module
 * groups them (by release, newest release first, "Unreleased" on top; or by day) and renders
 * markdown or JSON.
 */
import { titleFromId } from '@braid/core';

export interface ChangelogEntry {
  id: string;
  title: string;
  tickets: string[];
  reason?: string;
  irreversible: boolean;
  noTransaction: boolean;
  /** Footprint summary of up.sql (schema-qualified names); absent when it could not be parsed. */
  creates?: string[];
  alters?: string[];
  drops?: string[];
  /** The commit that added the migration's up.sql (absent: not committed yet). */
  commit?: string;
  author?: string;
  authorEmail?: string;
  /** ISO date of that commit (author date). */
  date?: string;
  /** The first release tag whose manifest lists the migration (absent: unreleased). */
  release?: string;
}

export type ChangelogGroupBy = 'release' | 'date';

export interface ChangelogGroup {
  /** Release tag, `Unreleased`, a day (YYYY-MM-DD) or `Not committed`. */
  title: string;
  entries: ChangelogEntry[];
}

export interface ChangelogModel {
  version: 1;
  /** `v1.0..HEAD`, `HEAD`, or `working tree`. */
  range: string;
  from?: string;
  to: string;
  groupBy: ChangelogGroupBy;
  generator: string;
  /** Every migration of the range, in manifest order. */
  entries: ChangelogEntry[];
  groups: ChangelogGroup[];
}

export interface ChangelogInput {
  range: string;
  from?: string;
  to: string;
  groupBy: ChangelogGroupBy;
  generator: string;
  entries: ChangelogEntry[];
  /** Release tags oldest first (orders the release groups). */
  releases?: readonly string[];
}

export function entryTitle(id: string): string {
  return titleFromId(id);
}

export function buildChangelog(input: ChangelogInput): ChangelogModel {
  const groups = new Map<string, ChangelogEntry[]>();
  const key = (e: ChangelogEntry): string =>
    input.groupBy === 'release'
      ? (e.release ?? 'Unreleased')
      : e.date
        ? e.date.slice(0, 10)
        : 'Not committed';
  for (const e of input.entries) {
    const k = key(e);
    const list = groups.get(k);
    if (list) list.push(e);
    else groups.set(k, [e]);
  }
  const relPos = new Map((input.releases ?? []).map((r, i) => [r, i] as const));
  const rank = (title: string): number => {
    if (title === 'Unreleased' || title === 'Not committed') return Number.POSITIVE_INFINITY;
    return input.groupBy === 'release' ? (relPos.get(title) ?? -1) : 0;
  };
  const ordered = [...groups.entries()]
    .map(([title, entries]) => ({ title, entries }))
    .sort((a, b) => {
      // Newest first: unreleased/uncommitted on top, then later releases / later days.
      const ra = rank(a.title);
      const rb = rank(b.title);
      if (ra !== rb) return rb - ra;
      return a.title < b.title ? 1 : a.title > b.title ? -1 : 0;
    });
  return {
    version: 1,
    range: input.range,
    ...(input.from !== undefined ? { from: input.from } : {}),
    to: input.to,
    groupBy: input.groupBy,
    generator: input.generator,
    entries: input.entries,
    groups: ordered,
  };
}

/** Keeps a one-line text from breaking the markdown around it. */
function inline(s: string): string {
  return s.replace(/\s+/g, ' ').replace(/([\\`*_[\]<>|])/g, '\\$1');
}

function code(s: string): string {
  return '`' + s.replace(/`/g, "'") + '`';
}

export function renderChangelogMarkdown(m: ChangelogModel): string {
  const out: string[] = [];
  out.push(`# Changelog: ${inline(m.range)}`, '');
  if (m.entries.length === 0) {
    out.push('No migrations in this range.', '', `<sub>${inline(m.generator)}</sub>`, '');
    return out.join('\n');
  }
  for (const g of m.groups) {
    out.push(`## ${inline(g.title)}`, '');
    for (const e of g.entries) {
      out.push(`### ${inline(e.title)}`, '');
      const tags = [
        code(e.id),
        ...(e.tickets.length ? [`ticket ${e.tickets.map(inline).join(', ')}`] : []),
        ...(e.irreversible ? ['**irreversible**'] : []),
        ...(e.noTransaction ? ['no-transaction'] : []),
      ];
      out.push(tags.join(' · '), '');
      if (e.reason) out.push(`> ${inline(e.reason)}`, '');
      const objects: string[] = [];
      if (e.creates?.length) objects.push(`- creates: ${e.creates.map(code).join(', ')}`);
      if (e.alters?.length) objects.push(`- alters: ${e.alters.map(code).join(', ')}`);
      if (e.drops?.length) objects.push(`- drops: ${e.drops.map(code).join(', ')}`);
      if (objects.length) out.push(...objects, '');
      out.push(
        e.commit
          ? `Added by ${inline(e.author ?? 'unknown')} on ${e.date?.slice(0, 10) ?? '?'} in ${code(e.commit.slice(0, 12))}.`
          : 'Not committed yet.',
        '',
      );
    }
  }
  out.push(`<sub>${inline(m.generator)}</sub>`, '');
  return out.join('\n');
}

export function renderChangelogJson(m: ChangelogModel): string {
  return JSON.stringify(m, null, 2) + '\n';
}
