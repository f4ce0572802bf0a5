/**
 * `braid changelog` on a real git repository with two release tags (one annotated, one
 * lightweight), a commit after the last tag and an uncommitted migration: ranges, grouping by
 * release and by date, ticket/reason/flags, footprints, the adding commit, and usage errors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashMigration, serializeManifest } from '@braid/core';
import type { ChangelogModel } from '@braid/report';
import { addMigrations, makeProject, type Project } from './helpers/cli';
import { runBraid, runBraidJson, writeMigration } from './helpers/repo';

let p: Project;
let v10: string[];
let v11: string[];
let after: string[];
let uncommitted: string;
let commitOf: Record<string, string>;

beforeAll(() => {
  p = makeProject([
    {
      slug: 'create_users',
      up: '-- braid:ticket OPS-1\n-- braid:reason Accounts.\ncreate table users (id int primary key, phone text);\n',
      down: 'drop table users;\n',
    },
    { slug: 'create_legacy', up: 'create table legacy (id int);\n', down: 'drop table legacy;\n' },
  ]);
  v10 = [...p.ids];
  p.repo.git('tag', '-a', 'v1.0', '-m', 'release 1.0');
  const c10 = p.repo.git('rev-parse', 'HEAD').trim();
  v11 = addMigrations(p, [
    {
      slug: 'drop_legacy',
      up: '-- braid:irreversible\n-- braid:ticket OPS-2\n-- braid:ticket #7, OPS-2\n-- braid:reason Legacy table\n-- braid:reason is unused.\ndrop table legacy;\n',
    },
    {
      slug: 'index_phone',
      up: '-- braid:no-transaction\ncreate index concurrently users_phone on users (phone);\n',
      down: 'drop index concurrently users_phone;\n',
    },
  ]);
  const c11 = p.repo.git('rev-parse', 'HEAD').trim();
  p.repo.git('tag', 'v1.1');
  after = addMigrations(p, [
    {
      slug: 'add_email',
      up: 'alter table users add column email text;\n',
      down: 'alter table users drop column email;\n',
    },
  ]);
  const cAfter = p.repo.git('rev-parse', 'HEAD').trim();
  commitOf = Object.fromEntries([
    ...v10.map((id) => [id, c10]),
    ...v11.map((id) => [id, c11]),
    ...after.map((id) => [id, cAfter]),
  ]);
  // A migration on disk, in the manifest, not committed.
  uncommitted = '20270101000000_wip_thing';
  const files = {
    up: '-- braid:reason <b>bold</b> *star* | pipe\ncreate view v as select 1;\n',
    down: 'drop view v;\n',
  };
  writeMigration(p.repo, uncommitted, files);
  p.entries.push({ id: uncommitted, hash: hashMigration(files), parents: [p.ids[p.ids.length - 1]] });
  p.repo.write('.migrations/manifest', serializeManifest({ entries: p.entries }));
});

afterAll(() => p?.repo.cleanup());

describe('braid changelog', () => {
  test('A..B (json): the migrations B lists and A does not, with tickets, reason, flags, objects, commit', async () => {
    const r = await runBraidJson<ChangelogModel>(['changelog', 'v1.0..v1.1'], { cwd: p.repo.dir });
    expect(r.code).toBe(0);
    const m = r.json;
    expect(m).toMatchObject({ range: 'v1.0..v1.1', from: 'v1.0', to: 'v1.1', groupBy: 'release' });
    expect(m.entries.map((e) => e.id)).toEqual(v11);
    const [drop, index] = m.entries;
    expect(drop).toMatchObject({
      title: 'Drop legacy',
      tickets: ['OPS-2', '#7'],
      reason: 'Legacy table is unused.',
      irreversible: true,
      noTransaction: false,
      drops: ['table public.legacy'],
      creates: [],
      release: 'v1.1',
      author: 'Test Author',
      authorEmail: 'author@example.com',
      commit: commitOf[v11[0]],
    });
    expect(drop.date).toMatch(/^2026-11-25T\d\d:\d\d:00\+00:00$/);
    expect(index).toMatchObject({
      noTransaction: true,
      irreversible: false,
      creates: ['index public.users_phone'],
    });
    expect(m.groups.map((g) => [g.title, g.entries.map((e) => e.id)])).toEqual([['v1.1', v11]]);
  });

  test('A..HEAD (markdown): unreleased on top, then the release; headings, flags, reason, objects, author', async () => {
    const r = await runBraid(['changelog', 'v1.0..HEAD'], { cwd: p.repo.dir });
    expect(r.code).toBe(0);
    const md = r.stdout;
    expect(md.startsWith('# Changelog: v1.0..HEAD\n')).toBe(true);
    const unreleased = md.indexOf('## Unreleased');
    const rel = md.indexOf('## v1.1');
    expect(unreleased).toBeGreaterThan(0);
    expect(rel).toBeGreaterThan(unreleased);
    expect(md.indexOf('### Add email')).toBeGreaterThan(unreleased);
    expect(md.indexOf('### Add email')).toBeLessThan(rel);
    expect(md).toContain(`\`${v11[0]}\` · ticket OPS-2, #7 · **irreversible**`);
    expect(md).toContain(`\`${v11[1]}\` · no-transaction`);
    expect(md).toContain('> Legacy table is unused.');
    expect(md).toContain('- drops: `table public.legacy`');
    expect(md).toContain('- alters: `table public.users`');
    expect(md).toContain(`Added by Test Author on 2026-11-25 in \`${commitOf[after[0]].slice(0, 12)}\`.`);
    expect(md).not.toContain('Create users');
    expect(md).not.toContain(uncommitted);
    const short = await runBraid(['changelog', 'v1.0..'], { cwd: p.repo.dir });
    expect(short.stdout.replace('v1.0..HEAD', '')).toBe(md.replace('v1.0..HEAD', ''));
  });

  test('no range: the working tree, uncommitted migrations included and escaped', async () => {
    const out = join(p.repo.dir, 'out', 'CHANGELOG.md');
    const r = await runBraid(['changelog', '--out', out], { cwd: p.repo.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('wrote');
    const md = readFileSync(out, 'utf8');
    expect(md.startsWith('# Changelog: working tree\n')).toBe(true);
    const titles = [...md.matchAll(/^## (.+)$/gm)].map((x) => x[1]);
    expect(titles).toEqual(['Unreleased', 'v1.1', 'v1.0']);
    expect(md).toContain('### Wip thing');
    expect(md).toContain('Not committed yet.');
    expect(md).toContain('> \\<b\\>bold\\</b\\> \\*star\\* \\| pipe');
    expect(md).toContain('`20270101000000_wip_thing`\n');
    expect(md).toContain('### Create users');
    expect(md).toContain(`\`${v10[0]}\` · ticket OPS-1`);
    expect(md).toContain('> Accounts.');
    expect(md).toContain(`Added by Test Author on 2026-11-25 in \`${commitOf[v10[0]].slice(0, 12)}\`.`);
  });

  test('one ref, grouped by date', async () => {
    const r = await runBraidJson<ChangelogModel>(['changelog', 'v1.1', '--group', 'date'], {
      cwd: p.repo.dir,
    });
    expect(r.code).toBe(0);
    expect(r.json.entries.map((e) => e.id)).toEqual([...v10, ...v11]);
    expect(r.json.groups.map((g) => g.title)).toEqual(['2026-11-25']);
    const md = await runBraid(['changelog', 'v1.1', '--group', 'date', '--format', 'md'], {
      cwd: p.repo.dir,
    });
    expect(md.stdout).toContain('## 2026-11-25\n');
  });

  test('usage errors (exit 2): symmetric range, unknown ref, bad format, bad group', async () => {
    const sym = await runBraid(['changelog', 'v1.0...HEAD'], { cwd: p.repo.dir });
    expect(sym.code).toBe(2);
    expect(sym.stderr).toContain('use A..B');
    const unknown = await runBraid(['changelog', 'nope..HEAD'], { cwd: p.repo.dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown git ref "nope"');
    const fmt = await runBraid(['changelog', '--format', 'html'], { cwd: p.repo.dir });
    expect(fmt.code).toBe(2);
    expect(fmt.stderr).toContain('--format html: expected md or json');
    const grp = await runBraid(['changelog', '--group', 'week'], { cwd: p.repo.dir });
    expect(grp.code).toBe(2);
    expect(grp.stderr).toContain('--group week');
  });
});

describe('bad metadata directives', () => {
  test('braid check reports FILE:LINE, changelog refuses (exit 2), history still reads', async () => {
    const q = makeProject([
      {
        slug: 'bad_ticket',
        up: '-- braid:reason Fine.\n-- braid:ticket\ncreate table t (id int);\n',
        down: 'drop table t;\n',
      },
    ]);
    try {
      const file = `.migrations/${q.ids[0]}/up.sql`;
      const check = await runBraid(['check'], { cwd: q.repo.dir });
      expect(check.code).toBe(1);
      expect(check.stdout).toContain(`${file}:2: braid:ticket needs at least one ticket reference`);
      const cl = await runBraid(['changelog'], { cwd: q.repo.dir });
      expect(cl.code).toBe(2);
      expect(cl.stderr).toContain(`${file}:2: braid:ticket needs at least one ticket reference`);
      expect(cl.stdout).toBe('');
      const hist = await runBraid(['history'], { cwd: q.repo.dir });
      expect(hist.code).toBe(0);
      expect(hist.stdout).toContain('no braid registry');
    } finally {
      q.repo.cleanup();
    }
  });
});
