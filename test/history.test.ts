/**
 * `braid history`: three databases (server databases when BRAID_TEST_DATABASE_URL is set, PGlite
 * directories otherwise) given a small history by `braid up` / `braid down` (one rollback, one
 * failing migration), plus an unreachable target; then `--targets FILE` in json, text and html
 * (self-contained, inline SVG charts; opened in headless Chromium when /usr/bin/chromium exists),
 * password redaction, the exit codes, --since/--limit, and an old (v1) registry read without
 * being upgraded.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HistoryModel } from '@braid/core';
import { openExecutor, REGISTRY_MIGRATIONS } from '@braid/pg';
import { addMigrations, makeProject, type Project } from './helpers/cli';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { decodePng } from './helpers/png';
import { runBraid, runBraidJson, type BraidResult } from './helpers/repo';

/** A password anyone can grep for: it must never reach any output. */
const PW = 'GrepMe-hist-PW-4711';
const NAMES = ['tenant-a', 'tenant-b', 'tenant-c'];

let p: Project;
let tmp: string;
const dbs: TestDatabase[] = [];
let urls: string[] = [];
let env: Record<string, string>;
let targetsFile: string;
let ids: string[];
const outputs: string[] = [];

function withPassword(url: string): string {
  if (!url.startsWith('postgres')) return url;
  const u = new URL(url);
  u.password = PW;
  return u.toString();
}

async function braid(args: string[], extraEnv: Record<string, string> = {}): Promise<BraidResult> {
  const r = await runBraid(args, { cwd: p.repo.dir, env: { ...env, ...extraEnv } });
  outputs.push(r.stdout, r.stderr);
  return r;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'braid-history-'));
  p = makeProject([
    {
      slug: 'create_users',
      up: '-- braid:ticket OPS-1\n-- braid:reason Accounts need <users> & "roles".\ncreate table users (id int primary key);\n',
      down: 'drop table users;\n',
    },
    {
      slug: 'add_phone',
      up: 'alter table users add column phone text;\n',
      down: 'alter table users drop column phone;\n',
    },
  ]);
  for (let i = 0; i < 3; i++) {
    dbs.push(await createTestDatabase({ prefix: 'braid_hist', pglitePath: join(tmp, `db${i}`) }));
  }
  urls = dbs.map((d) => withPassword(d.url));
  env = {
    TENANT_A_URL: urls[0],
    TENANT_B_URL: urls[1],
    TENANT_C_URL: urls[2],
    TENANT_GONE_URL: `postgres://braid:${PW}@127.0.0.1:1/nowhere`,
  };
  for (const u of urls) expect((await braid(['up', '--db', u])).code).toBe(0);
  expect((await braid(['down', '--db', urls[1]])).code).toBe(0);
  addMigrations(p, [{ slug: 'add_bad', up: 'alter table nope add column x int;\n', down: 'select 1;\n' }]);
  const failed = await braid(['up', '--db', urls[2]]);
  expect(failed.code).toBe(1);
  ids = [...p.ids];
  targetsFile = join(p.repo.dir, 'targets.json');
  writeFileSync(
    targetsFile,
    JSON.stringify({
      targets: [
        { name: 'tenant-a', urlEnv: 'TENANT_A_URL' },
        { name: 'tenant-b', urlEnv: 'TENANT_B_URL' },
        { name: 'tenant-c', urlEnv: 'TENANT_C_URL' },
        { name: 'tenant-gone', urlEnv: 'TENANT_GONE_URL' },
      ],
    }),
  );
  outputs.length = 0; // only braid history's own outputs are checked for secrets
});

afterAll(async () => {
  for (const d of dbs) await d.drop();
  p?.repo.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('braid history --targets', () => {
  test('json: per-target rows, the failure, the rollback, the unreachable target, ticket and reason', async () => {
    const r = await runBraidJson<HistoryModel>(['history', '--targets', 'targets.json'], {
      cwd: p.repo.dir,
      env,
    });
    outputs.push(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    const m = r.json;
    const [m1, m2, m3] = ids;
    const t = Object.fromEntries(m.targets.map((x) => [x.name, x]));
    expect(m.targets.map((x) => x.name)).toEqual([...NAMES, 'tenant-gone']);
    expect(t['tenant-a']).toMatchObject({
      reachable: true,
      registryVersion: 6,
      applied: [m1, m2],
      ups: 2,
      downs: 0,
    });
    expect(t['tenant-b']).toMatchObject({ applied: [m1], ups: 2, downs: 1, rolledBack: 1, failed: 0 });
    expect(t['tenant-c']).toMatchObject({ applied: [m1, m2], ups: 2, failed: 1 });
    expect(t['tenant-gone']).toMatchObject({ reachable: false, database: '127.0.0.1:1/nowhere' });
    expect(t['tenant-gone'].error).toMatch(/cannot connect/);
    // Never a connection string: the database label has no user and no password.
    for (const x of m.targets) expect(x.database).not.toMatch(/@|:\/\//);

    expect(m.failures).toHaveLength(1);
    expect(m.failures[0]).toMatchObject({
      targetName: 'tenant-c',
      id: m3,
      outcome: 'failed',
      sqlstate: '42P01',
    });
    expect(m.failures[0].error).toContain('relation "nope" does not exist');
    expect(m.failures[0].statement).toContain('alter table nope');
    expect(m.rollbacks).toEqual([expect.objectContaining({ targetName: 'tenant-b', id: m2, kind: 'down' })]);

    expect(m.applied).toHaveLength(7);
    const byTarget = (name: string) =>
      m.applied.filter((a) => a.targetName === name).map((a) => `${a.direction} ${a.id}`);
    expect(byTarget('tenant-b').reverse()).toEqual([`up ${m1}`, `up ${m2}`, `down ${m2}`]);
    for (const a of m.applied) {
      expect(a.dbRole).toBeTruthy();
      expect(a.gitAuthorName).toBe('Test Author');
      expect(a.gitCommit).toMatch(/^[0-9a-f]{40}$/);
    }
    expect(m.totals).toMatchObject({ attempts: 8, ok: 7, failed: 1, rolledBack: 1 });
    expect(m.days).toHaveLength(1);
    expect(m.days[0]).toMatchObject({ attempts: 8, ok: 7, failed: 1, rolledBack: 1 });
    expect(m.days[0].successRate).toBeCloseTo(7 / 8);
    expect(m.durations.map((d) => d.id)).toEqual([m1, m2]);
    expect(m.durations[0].perTarget.map((x) => x.target).sort()).toEqual(NAMES);

    expect(m.migrations[m1]).toEqual({
      id: m1,
      title: 'Create users',
      tickets: ['OPS-1'],
      reason: 'Accounts need <users> & "roles".',
      irreversible: false,
      noTransaction: false,
    });
    expect(m.migrations[m3]?.title).toBe('Add bad');
  });

  test('text: targets, failure with its error, rollback, per day, ticket', async () => {
    const r = await braid(['history', '--targets', targetsFile]);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^braid history\n/);
    expect(out).toMatch(
      /\n {2}tenant-a \([^)]+\): registry v6, 2 applied now, 2 up, 0 down, 0 failed, 0 rolled back\n/,
    );
    expect(out).toMatch(
      /\n {2}tenant-b \([^)]+\): registry v6, 1 applied now, 2 up, 1 down, 0 failed, 1 rolled back\n/,
    );
    expect(out).toMatch(
      /tenant-gone \(127\.0\.0\.1:1\/nowhere\): UNREACHABLE: cannot connect to 127\.0\.0\.1:1\/nowhere: /,
    );
    expect(out).toMatch(/tenant-gone \(127\.0\.0\.1:1\/nowhere\): UNREACHABLE: cannot connect/);
    expect(out).toContain('Attempts: 8, ok 7, failed 1, rolled back 1, success rate 87.5%');
    expect(out).toMatch(
      new RegExp(`Failures:\\n  \\S+ \\S+  tenant-c  ${ids[2]} \\(up\\) failed \\[42P01\\]`),
    );
    expect(out).toContain('error: .migrations/');
    expect(out).toContain('relation "nope" does not exist');
    expect(out).toMatch(
      new RegExp(`Rollbacks:\\n  \\S+ \\S+  tenant-b  ${ids[1]}  braid down; by role \\S+, Test Author`),
    );
    expect(out).toContain(`${ids[0]}  `);
    expect(out).toContain('ticket OPS-1; reason: Accounts need <users> & "roles".');
    expect(out).toMatch(
      /Per day \(UTC\):\n {2}day +attempts +ok +failed +health failed +rolled back +success\n {2}\d{4}-\d{2}-\d{2} +8 +7 +1 +0 +1 +87\.5%/,
    );
    expect(r.stderr).toContain('braid: tenant-gone: unreachable: cannot connect');
  });

  test('html: one self-contained page with inline SVG charts, escaped; Chromium draws them', async () => {
    const out = join(tmp, 'out', 'history.html');
    const r = await braid(['history', '--targets', targetsFile, '--format', 'html', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('wrote');
    const html = readFileSync(out, 'utf8');
    outputs.push(html);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    // No network: no script, no stylesheet link, no src, no external href.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|href=|url\(/i);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:/);
    const svgs = [...html.matchAll(/<svg[^>]*class="chart (\w+)"[\s\S]*?<\/svg>/g)];
    expect(svgs.map((s) => s[1])).toEqual(['durations', 'failures', 'success']);
    const durationBars = [...html.matchAll(/<rect class="bar duration" data-id="([^"]+)" data-ms="(\d+)"/g)];
    expect(durationBars.map((b) => b[1])).toEqual([ids[0], ids[1]]);
    expect(html).toMatch(/<rect class="bar failed" data-day="[\d-]+" data-value="1"/);
    expect(html).toMatch(/<rect class="bar rolled-back" data-day="[\d-]+" data-value="1"/);
    expect(html).toMatch(/<rect class="bar success-rate" data-day="[\d-]+" data-value="0\.875"/);
    // Escaped: the reason's markup is text, never markup.
    expect(html).toContain('Accounts need &lt;users&gt; &amp; &quot;roles&quot;.');
    expect(html).not.toContain('<users>');
    expect(html).toContain('tenant-gone');
    expect(html).toContain('unreachable');

    const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((c) => existsSync(c));
    if (chromium) {
      const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
      const dom = spawnSync(chromium, [...flags, '--dump-dom', `file://${out}`], {
        encoding: 'utf8',
        timeout: 90_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      expect(dom.stdout).toContain('<svg');
      expect([...dom.stdout.matchAll(/<rect class="bar duration"/g)]).toHaveLength(2);
      expect(dom.stdout).toMatch(/class="chart failures"/);
      const shot = join(tmp, 'out', 'history.png');
      spawnSync(chromium, [...flags, `--screenshot=${shot}`, '--window-size=1300,1100', `file://${out}`], {
        timeout: 90_000,
      });
      expect(existsSync(shot)).toBe(true);
      // The charts are drawn: the screenshot holds pixels of the duration bars' and the failure bars' colours.
      const png = decodePng(readFileSync(shot));
      expect(png.count(0x60, 0xa5, 0xfa)).toBeGreaterThan(200);
      expect(png.count(0xdc, 0x26, 0x26)).toBeGreaterThan(50);
    }
  });

  test('--since and --limit narrow the rows read', async () => {
    const future = await runBraidJson<HistoryModel>(
      ['history', '--targets', targetsFile, '--since', '2999-01-01'],
      {
        cwd: p.repo.dir,
        env,
      },
    );
    expect(future.code).toBe(0);
    expect(future.json.applied).toEqual([]);
    expect(future.json.failures).toEqual([]);
    expect(future.json.filters.since).toBe('2999-01-01T00:00:00.000Z');
    const past = await runBraidJson<HistoryModel>(
      ['history', '--targets', targetsFile, '--since', '2000-01-01'],
      {
        cwd: p.repo.dir,
        env,
      },
    );
    expect(past.json.applied).toHaveLength(7);
    const last = await runBraidJson<HistoryModel>(['history', '--targets', targetsFile, '--limit', '1'], {
      cwd: p.repo.dir,
      env,
    });
    expect(last.code).toBe(0);
    const perTarget = NAMES.map((n) => last.json.applied.filter((a) => a.targetName === n).length);
    expect(perTarget).toEqual([1, 1, 1]);
    expect(last.json.applied.find((a) => a.targetName === 'tenant-b')?.direction).toBe('down');
    const bad = await braid(['history', '--targets', targetsFile, '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since: expected a date');
    const badLimit = await braid(['history', '--targets', targetsFile, '--limit', '0']);
    expect(badLimit.code).toBe(2);
  });

  test('exit codes: unset variable and bad files are usage errors (2); nothing reachable is 3', async () => {
    const unset = await runBraid(['history', '--targets', targetsFile], {
      cwd: p.repo.dir,
      env: { ...env, TENANT_B_URL: undefined },
    });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/the variable TENANT_B_URL \(.*: target tenant-b\) is not set/);
    expect(unset.stdout).toBe('');

    writeFileSync(join(tmp, 'bad.json'), '{"targets":[{"name":"x","urlEnv":"postgres://u@h/db"}]}');
    const badFile = await braid(['history', '--targets', join(tmp, 'bad.json')]);
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toMatch(/bad\.json: targets\[0\]\.urlEnv: /);
    const missing = await braid(['history', '--targets', join(tmp, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--targets: cannot read .*nope\.json \(ENOENT\)/);
    const both = await braid(['history', '--targets', targetsFile, '--db', urls[0]]);
    expect(both.code).toBe(2);
    const fmt = await braid(['history', '--db', urls[0], '--format', 'pdf']);
    expect(fmt.code).toBe(2);
    expect(fmt.stderr).toContain('--format pdf');

    writeFileSync(
      join(tmp, 'gone.json'),
      JSON.stringify({ targets: [{ name: 'gone', urlEnv: 'TENANT_GONE_URL' }] }),
    );
    const none = await braid(['history', '--targets', join(tmp, 'gone.json'), '--format', 'json']);
    expect(none.code).toBe(3);
    expect(JSON.parse(none.stdout).targets[0]).toMatchObject({ name: 'gone', reachable: false });
    const oneDb = await braid(['history', '--db', env['TENANT_GONE_URL']]);
    expect(oneDb.code).toBe(3);
    expect(oneDb.stderr.trim().split('\n')).toHaveLength(1);
    expect(oneDb.stderr).toContain('cannot connect');
  });

  test('--db: one database; its password never appears in any output', async () => {
    const r = await braid(['history', '--db', urls[2], '--format', 'json']);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout) as HistoryModel;
    expect(m.targets).toHaveLength(1);
    expect(m.targets[0].failed).toBe(1);
    const all = outputs.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(all).not.toContain(PW);
    // Not even a redacted connection string: databases are named host:port/db.
    expect(all).not.toMatch(/postgres(ql)?:\/\//);
  });
});

describe('braid history on an old registry', () => {
  test('a v1 registry is read with the columns it has, and is not upgraded', async () => {
    const d = await createTestDatabase({ prefix: 'braid_hist_v1', pglitePath: join(tmp, 'v1') });
    try {
      const ex = await openExecutor(d.url);
      try {
        await ex.exec(REGISTRY_MIGRATIONS[0].up);
        await ex.query('insert into braid.registry_migrations (id, braid_version) values ($1, $2)', [
          REGISTRY_MIGRATIONS[0].id,
          '0.0.1',
        ]);
        await ex.exec(`insert into braid.history (id, checksum, direction, duration_ms, braid_version, git_author_name)
                         values ('20260101000000_old', 'sha256:x', 'up', 42, '0.0.1', 'Old Timer');
                       insert into braid.applied (id, checksum, history_seq) values ('20260101000000_old', 'sha256:x', 1);
                       insert into braid.audit (id, direction, outcome, duration_ms, braid_version)
                         values ('20260101000000_old', 'up', 'ok', 42, '0.0.1');`);
      } finally {
        await ex.close();
      }
      const r = await runBraidJson<HistoryModel>(['history', '--db', d.url], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      expect(r.json.targets[0]).toMatchObject({
        registryVersion: 1,
        applied: ['20260101000000_old'],
        ups: 1,
      });
      expect(r.json.applied[0]).toMatchObject({
        id: '20260101000000_old',
        durationMs: 42,
        gitAuthorName: 'Old Timer',
      });
      expect(r.json.applied[0]).not.toHaveProperty('rolloutId');
      expect(r.json.totals).toMatchObject({ attempts: 1, ok: 1 });
      const ex2 = await openExecutor(d.url);
      try {
        const n = await ex2.query<{ n: string }>('select count(*)::text as n from braid.registry_migrations');
        expect(n.rows[0]?.n).toBe('1');
      } finally {
        await ex2.close();
      }
    } finally {
      await d.drop();
    }
  });

  test('a database without a registry, and a missing embedded database, show nothing and create nothing', async () => {
    const d = await createTestDatabase({ prefix: 'braid_hist_empty', pglitePath: join(tmp, 'empty') });
    try {
      const r = await runBraidJson<HistoryModel>(['history', '--db', d.url], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      expect(r.json.targets[0]).toMatchObject({ reachable: true, registryVersion: 0, applied: [] });
      const ex = await openExecutor(d.url);
      try {
        const s = await ex.query<{ ok: boolean }>(`select to_regnamespace('braid') is null as ok`);
        expect(s.rows[0]?.ok).toBe(true);
      } finally {
        await ex.close();
      }
    } finally {
      await d.drop();
    }
    const fresh = makeProject([]);
    try {
      const r = await runBraid(['history'], { cwd: fresh.repo.dir });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('no braid registry');
      expect(existsSync(join(fresh.repo.dir, '.git', 'braid', 'pglite'))).toBe(false);
    } finally {
      fresh.repo.cleanup();
    }
  });
});
