/**
 * `braid changelog [RANGE] [--format md|json] [--group release|date] [--out FILE]`: the human
 * changelog of a range of the manifest (docs/history.md). RANGE is `A..B` (the migrations B's
 * manifest lists and A's does not, in B's manifest order), `A..` (A..HEAD), or one ref (all of
 * its manifest); without RANGE, the working tree's manifest. Per migration: title from the slug,
 * `-- braid:ticket` / `-- braid:reason`, flags, the objects it creates/alters/drops, and the
 * author and date of the commit that added it. Read-only.
 */
import { parseManifest, titleFromId, UsageError, type Migration } from '@braid/core';
import { GitRepo, parseRefRange, repoRelativeDir, runGit } from '@braid/git';
import {
  buildChangelog,
  renderChangelogJson,
  renderChangelogMarkdown,
  type ChangelogEntry,
} from '@braid/report';
import { analyzeFile, loadParser, qname } from '@braid/sql';
import { braidVersion } from '../db';
import { migrationsAt, migrationsInWorkingTree } from '../history';
import { findProject } from '../project';
import { defineCommand } from '../runtime';
import { writeOut } from './report';

interface AddedBy {
  commit: string;
  author: string;
  email: string;
  date: string;
}

/** The commit that first added each `<dir>/<id>/up.sql` reachable from `tip` (one git log). */
export async function addedCommits(repo: GitRepo, dir: string, tip: string): Promise<Map<string, AddedBy>> {
  const r = await runGit(repo.root, [
    'log',
    '--diff-filter=A',
    '--no-renames',
    '--format=%x1e%H%x1f%an%x1f%ae%x1f%aI',
    '--name-only',
    tip,
    '--',
    dir === '' ? '.' : dir,
  ]);
  const out = new Map<string, AddedBy>();
  if (r.code !== 0) return out;
  const prefix = dir === '' ? '' : `${dir}/`;
  // Newest first: a later (older) record overwrites, so the first addition wins.
  for (const rec of r.stdout.toString('utf8').split('\x1e')) {
    const [head, ...files] = rec.split('\n');
    const [commit, author, email, date] = (head ?? '').split('\x1f');
    if (!commit || !date) continue;
    for (const f of files) {
      if (!f.startsWith(prefix) || !f.endsWith('/up.sql')) continue;
      const id = f.slice(prefix.length, -'/up.sql'.length);
      if (id.includes('/')) continue;
      out.set(id, { commit, author: author ?? '', email: email ?? '', date });
    }
  }
  return out;
}

/**
 * Tags ordered by the date of the commit they tag (oldest first; an annotated tag's own date does
 * not count), with the ids their manifest lists (at most the 200 newest tags).
 */
async function releases(repo: GitRepo, dir: string): Promise<Array<{ tag: string; ids: Set<string> }>> {
  const r = await runGit(repo.root, [
    'for-each-ref',
    '--format=%(refname:short)%09%(committerdate:unix)%09%(*committerdate:unix)',
    'refs/tags',
  ]);
  if (r.code !== 0) return [];
  const tags = r.stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [tag, direct, deref] = line.split('\t');
      return { tag: tag ?? '', at: Number(deref || direct || 0) };
    })
    .filter((t) => t.tag !== '')
    .sort((a, b) => a.at - b.at || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0))
    .slice(-200)
    .map((t) => t.tag);
  const out: Array<{ tag: string; ids: Set<string> }> = [];
  for (const tag of tags) {
    const text = await repo
      .readFile(`refs/tags/${tag}`, `${dir === '' ? '' : `${dir}/`}manifest`)
      .catch(() => undefined);
    if (!text) continue;
    try {
      const m = parseManifest(text.toString('utf8'), `${tag}:${dir}/manifest`).manifest;
      out.push({ tag, ids: new Set(m.entries.map((e) => e.id)) });
    } catch {
      // a tag with a broken manifest names no release
    }
  }
  return out;
}

/** The objects up.sql creates, alters (not created by itself) and drops; undefined when it does not parse. */
function objects(m: Migration): Pick<ChangelogEntry, 'creates' | 'alters' | 'drops'> {
  try {
    const f = analyzeFile(`${m.id}/up.sql`, m.files.up, { functionBodies: false });
    if (f.syntaxErrors.length > 0) return {};
    const creates = new Set<string>();
    const alters = new Set<string>();
    const drops = new Set<string>();
    for (const st of f.statements) {
      for (const c of st.footprint.creates) creates.add(`${c.kind} ${qname(c)}`);
      for (const a of st.footprint.alters) alters.add(`${a.object.kind} ${qname(a.object)}`);
      for (const d of st.footprint.drops) drops.add(`${d.kind} ${qname(d)}`);
    }
    for (const c of creates) alters.delete(c);
    return { creates: [...creates], alters: [...alters], drops: [...drops] };
  } catch {
    return {};
  }
}

interface ChangelogArgs {
  range: string | undefined;
  format: string | undefined;
  group: string | undefined;
  out: string | undefined;
}

export const changelogCommand = defineCommand<ChangelogArgs>({
  command: 'changelog [range]',
  describe:
    'the human changelog of a range of the manifest (A..B, one ref, or the working tree): markdown or JSON',
  builder: (y) =>
    y
      .positional('range', {
        type: 'string',
        describe: 'A..B (in B, not in A), A.. (A..HEAD) or one ref; default: the working tree',
      })
      .option('format', { type: 'string', describe: 'md (default) or json' })
      .option('group', { type: 'string', describe: 'release (default: by the first tag listing it) or date' })
      .option('out', { type: 'string', describe: 'write to FILE instead of stdout' }),
  handler: async (args, ctx) => {
    const format = args.format ?? (args.json ? 'json' : 'md');
    if (format !== 'md' && format !== 'json') {
      throw new UsageError('bad-format', `--format ${format}: expected md or json`, {
        data: { argument: '--format' },
      });
    }
    const group = args.group ?? 'release';
    if (group !== 'release' && group !== 'date') {
      throw new UsageError('bad-group', `--group ${group}: expected release or date`, {
        data: { argument: '--group' },
      });
    }
    const root = findProject(ctx.cwd);
    let from: string | undefined;
    let to = 'working tree';
    let rangeLabel = 'working tree';
    if (args.range !== undefined) {
      const r = parseRefRange(args.range);
      if (r?.kind === 'symmetric') {
        throw new UsageError(
          'bad-range',
          `braid changelog: ${JSON.stringify(args.range)}: use A..B (the migrations B lists and A does not)`,
          { data: { argument: 'range' } },
        );
      }
      if (r) {
        from = r.from;
        to = r.to;
        rangeLabel = `${r.from}..${r.to}`;
      } else {
        to = args.range;
        rangeLabel = args.range;
      }
    }
    let repo: GitRepo | undefined;
    try {
      repo = await GitRepo.open(root);
    } catch (e) {
      if (args.range !== undefined) throw e;
    }
    try {
      let migrations: Migration[];
      let dir = '.migrations';
      let tip: string | undefined;
      if (repo) {
        dir = repoRelativeDir(repo, root);
        for (const ref of [from, args.range === undefined ? undefined : to]) {
          if (ref !== undefined) await repo.resolveRef(ref);
        }
        tip = args.range === undefined ? ((await repo.tryResolveRef('HEAD')) ? 'HEAD' : undefined) : to;
      }
      if (args.range === undefined || !repo) {
        migrations = migrationsInWorkingTree(root).migrations;
      } else {
        const toHist = await migrationsAt(repo, root, to);
        const fromIds = new Set(
          from === undefined ? [] : (await migrationsAt(repo, root, from)).manifest.entries.map((e) => e.id),
        );
        migrations = toHist.migrations.filter((m) => !fromIds.has(m.id));
      }
      const added = repo && tip ? await addedCommits(repo, dir, tip) : new Map<string, AddedBy>();
      const rel = repo && group === 'release' ? await releases(repo, dir) : [];
      await loadParser();
      const entries: ChangelogEntry[] = migrations.map((m) => {
        const a = added.get(m.id);
        const release = rel.find((x) => x.ids.has(m.id))?.tag;
        return {
          id: m.id,
          title: titleFromId(m.id),
          tickets: m.directives.tickets,
          ...(m.directives.reason !== undefined ? { reason: m.directives.reason } : {}),
          irreversible: m.directives.irreversible,
          noTransaction: m.directives.noTransaction,
          ...objects(m),
          ...(a ? { commit: a.commit, author: a.author, authorEmail: a.email, date: a.date } : {}),
          ...(release ? { release } : {}),
        };
      });
      const model = buildChangelog({
        range: rangeLabel,
        ...(from !== undefined ? { from } : {}),
        to,
        groupBy: group,
        generator: `braid ${braidVersion()}`,
        entries,
        releases: rel.map((x) => x.tag),
      });
      const text = ctx.out.clean(
        format === 'json' ? renderChangelogJson(model) : renderChangelogMarkdown(model),
      );
      if (args.out) {
        const p = writeOut(ctx.cwd, args.out, text);
        if (args.json) ctx.out.result({ file: p, format, migrations: entries.length });
        else ctx.out.note(`braid: wrote ${p} (${format}, ${entries.length} migration(s))`);
      } else if (args.json && format !== 'json') {
        ctx.out.result({ format, changelog: text });
      } else process.stdout.write(text.endsWith('\n') ? text : text + '\n');
    } finally {
      repo?.close();
    }
  },
});
