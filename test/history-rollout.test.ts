/**
 * `braid history` after a fleet rollout: `braid rollout --rollback-on-failure` with a health
 * check that fails on one target. History must show that target's health failure, both
 * migrations rolled back with the rollout's reason and id, the other target applied by the same
 * rollout, and the HTML page must carry the reason (escaped) and the charts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HistoryModel } from '@braid/core';
import { makeProject, type Project } from './helpers/cli';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { runBraid, runBraidJson } from './helpers/repo';

let p: Project;
let tmp: string;
const dbs: TestDatabase[] = [];
let env: Record<string, string>;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'braid-history-rollout-'));
  p = makeProject([
    {
      slug: 'create_items',
      up: '-- braid:ticket INV-1\ncreate table items (id int primary key);\n',
      down: 'drop table items;\n',
    },
    {
      slug: 'add_sku',
      up: 'alter table items add column sku text;\n',
      down: 'alter table items drop column sku;\n',
    },
  ]);
  for (const n of ['good', 'bad']) {
    dbs.push(await createTestDatabase({ prefix: 'braid_hist_ro', pglitePath: join(tmp, n) }));
  }
  env = { GOOD_URL: dbs[0].url, BAD_URL: dbs[1].url };
  writeFileSync(
    join(p.repo.dir, 'fleet.json'),
    JSON.stringify({
      targets: [
        { name: 'good', urlEnv: 'GOOD_URL' },
        { name: 'bad', urlEnv: 'BAD_URL' },
      ],
    }),
  );
});

afterAll(async () => {
  for (const d of dbs) await d.drop();
  p?.repo.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('a rollback-on-failure shows with its reason, the health failure and the rollout id', async () => {
  const ro = await runBraid(
    [
      'rollout',
      '--targets',
      'fleet.json',
      '--health-check',
      'test "$BRAID_TARGET" != bad',
      '--rollback-on-failure',
      '--continue-on-error',
    ],
    { cwd: p.repo.dir, env },
  );
  expect(ro.stdout).toContain('target-rolled-back');
  const r = await runBraidJson<HistoryModel>(['history', '--targets', 'fleet.json'], {
    cwd: p.repo.dir,
    env,
  });
  expect(r.code).toBe(0);
  const m = r.json;
  const [m1, m2] = p.ids;
  const t = Object.fromEntries(m.targets.map((x) => [x.name, x]));
  expect(t['good']).toMatchObject({ applied: [m1, m2], ups: 2, downs: 0, failed: 0 });
  expect(t['bad']).toMatchObject({ applied: [], ups: 2, downs: 2, failed: 1, rolledBack: 2 });

  const rolloutIds = new Set(m.applied.map((a) => a.rolloutId));
  expect(rolloutIds.size).toBe(1);
  const [rolloutId] = [...rolloutIds];
  expect(rolloutId).toBeTruthy();
  expect(m.applied.every((a) => a.target === a.targetName)).toBe(true);

  expect(m.failures).toEqual([
    expect.objectContaining({ targetName: 'bad', outcome: 'health-failed', rolloutId }),
  ]);
  expect(m.failures[0].reason).toMatch(/health-check/);
  expect(m.rollbacks.map((x) => [x.targetName, x.id, x.kind, x.rolloutId])).toEqual([
    ['bad', m1, 'rollback-on-failure', rolloutId],
    ['bad', m2, 'rollback-on-failure', rolloutId],
  ]);
  for (const x of m.rollbacks) expect(x.reason).toMatch(/^health check failed: .*exited with 1/);
  expect(m.totals).toMatchObject({
    attempts: 6,
    ok: 6,
    failed: 0,
    healthFailed: 1,
    rolledBack: 2,
    successRate: 1,
  });
  expect(m.days[0]).toMatchObject({ healthFailed: 1, rolledBack: 2 });

  const text = await runBraid(['history', '--targets', 'fleet.json'], { cwd: p.repo.dir, env });
  expect(text.stdout).toContain(
    'Attempts: 6, ok 6, failed 0, health checks failed 1, rolled back 2, success rate 100%',
  );
  expect(text.stdout).toMatch(
    new RegExp(`  bad  ${m2}  rollback on failure: health check failed: .*\\(rollout ${rolloutId}\\)`),
  );

  const out = join(tmp, 'fleet.html');
  const html = await runBraid(['history', '--targets', 'fleet.json', '--format', 'html', '--out', out], {
    cwd: p.repo.dir,
    env,
  });
  expect(html.code).toBe(0);
  const page = readFileSync(out, 'utf8');
  expect(page).toContain('rollback on failure');
  expect(page).toContain('health check failed: --health-check: exited with 1');
  expect(page).toMatch(/<rect class="bar rolled-back" data-day="[\d-]+" data-value="2"/);
  expect(page).toMatch(/<rect class="bar failed" data-day="[\d-]+" data-value="1"/);
  expect([...page.matchAll(/<rect class="bar duration"/g)]).toHaveLength(2);
  expect(existsSync(out)).toBe(true);
});
