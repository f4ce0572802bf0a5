/**
 * `braid report A...B`: markdown/JSON snapshots (static, volatile parts normalised), the replayed
 * verdict on a safe and a conflicting pair, and the self-contained HTML (opened in headless
 * Chromium when it is installed; the SVG is always checked structurally).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ReportModel } from '@braid/report';
import { buildScenario, shadowArgs, primaryEngine, type Built } from './helpers/branching';
import { runBraid, runBraidJson } from './helpers/repo';

const BASE = [
  `create table users (id int primary key, name text, age int default 0);
create table roles (name text primary key);`,
];

/** Commit shas, the braid version and the engine are volatile. */
function normalise(s: string): string {
  return s
    .replace(/\b[0-9a-f]{12,40}\b/g, '<sha>')
    .replace(/braid \d+\.\d+\.\d+[\w.+-]*/g, 'braid <version>');
}

let safe: Built;
let conflict: Built;
beforeAll(() => {
  safe = buildScenario({
    base: BASE,
    ours: [[{ up: 'create table a (id int);', down: 'drop table a;' }]],
    theirs: [
      [
        { up: 'create table b (id int);', down: 'drop table b;' },
        {
          up: "set lock_timeout = '5s';\nalter table users add column email text not null;",
          down: "set lock_timeout = '5s';\nalter table users drop column email;",
        },
      ],
    ],
  });
  conflict = buildScenario({
    base: BASE,
    ours: [['alter table users add column nickname text;']],
    theirs: [['alter table users add column nickname int;']],
  });
});
afterAll(() => {
  safe?.repo.cleanup();
  conflict?.repo.cleanup();
});

describe('braid report', () => {
  test('static markdown: verdict first, sides, hazards, mermaid DAG (snapshot)', async () => {
    const r = await runBraid(['report', 'main...feature', '--static'], { cwd: safe.repo.dir });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('# ⚠️ braid: UNPROVEN (static analysis only)');
    expect(r.stdout).toContain('```mermaid');
    expect(r.stdout).toContain('m0 --> m1');
    // The NOT NULL column added without a default is a lint hazard on theirs.
    expect(r.stdout).toMatch(/Hazards \(lint\)[\s\S]*users/);
    expect(normalise(r.stdout)).toMatchSnapshot();
  });

  test('static JSON: the report model (snapshot)', async () => {
    const r = await runBraid(['report', 'main...feature', '--static', '--format', 'json'], {
      cwd: safe.repo.dir,
    });
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout) as ReportModel;
    expect(m.version).toBe(1);
    expect(m.dag.map((n) => n.side)).toEqual(['base', 'ours', 'theirs', 'theirs']);
    expect(m.dag[1].parents).toEqual([safe.baseIds[0]]);
    expect(m.dag[3].parents).toEqual([safe.theirsIds[0]]);
    expect(normalise(r.stdout)).toMatchSnapshot();
  });

  test('replayed: safe pair is SAFE with the merged order, exit 0', async () => {
    const r = await runBraid(['report', 'main', 'feature', ...shadowArgs(primaryEngine())], {
      cwd: safe.repo.dir,
    });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^# ✅ braid: SAFE \(replayed on (PGlite|PostgreSQL) \d+\)$/);
    for (const id of [...safe.oursIds, ...safe.theirsIds]) expect(r.stdout).toContain(`\`${id}\``);
    expect(r.stdout).toContain('+ table public.b');
  });

  test('replayed: conflicting pair is CONFLICT naming the column, exit 1; --json wraps the markdown', async () => {
    const r = await runBraidJson<{ verdict: string; report: string }>(
      ['report', 'main...feature', '--format', 'md', ...shadowArgs(primaryEngine())],
      { cwd: conflict.repo.dir },
    );
    expect(r.code).toBe(1);
    expect(r.json.verdict).toBe('conflict');
    expect(r.json.report.split('\n')[0]).toContain('CONFLICT');
    expect(r.json.report).toContain('column public.users.nickname added on both sides');
    expect(r.json.report).toContain('## Why it conflicts');
    expect(r.json.report).toContain('None: the two sides do not merge as they are.');
  });

  test('HTML: self-contained file with the DAG as inline SVG; headless Chromium renders it', async () => {
    const out = join(safe.repo.dir, 'out', 'report.html');
    const r = await runBraid(['report', 'main...feature', '--static', '--format', 'html', '--out', out], {
      cwd: safe.repo.dir,
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('wrote');
    const html = readFileSync(out, 'utf8');
    // Structural checks (always run).
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|\bsrc=|href="http/i);
    const svg = /<svg[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    const nodes = [...svg.matchAll(/<g class="node (base|ours|theirs)" data-id="([^"]+)"/g)];
    expect(nodes.map((n) => n[2])).toEqual([...safe.baseIds, ...safe.oursIds, ...safe.theirsIds]);
    const edges = [...svg.matchAll(/data-from="([^"]+)" data-to="([^"]+)"/g)].map((e) => `${e[1]}>${e[2]}`);
    expect(edges.sort()).toEqual(
      [
        `${safe.baseIds[0]}>${safe.oursIds[0]}`,
        `${safe.baseIds[0]}>${safe.theirsIds[0]}`,
        `${safe.theirsIds[0]}>${safe.theirsIds[1]}`,
      ].sort(),
    );
    // Every node lies inside the viewBox.
    const [, w, h] = /viewBox="0 0 (\d+) (\d+)"/.exec(svg)!.map(Number);
    for (const m of svg.matchAll(/<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)"/g)) {
      expect(Number(m[1]) + Number(m[3])).toBeLessThanOrEqual(w);
      expect(Number(m[2]) + Number(m[4])).toBeLessThanOrEqual(h);
    }
    const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
    if (chromium) {
      const shot = join(safe.repo.dir, 'out', 'report.png');
      spawnSync(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          `--screenshot=${shot}`,
          '--window-size=1200,900',
          `file://${out}`,
        ],
        { timeout: 60_000 },
      );
      expect(existsSync(shot)).toBe(true);
      expect(statSync(shot).size).toBeGreaterThan(1000);
    }
  });

  test('a bad --format or a lone ref is a usage error (exit 2)', async () => {
    const r = await runBraid(['report', 'main...feature', '--format', 'pdf'], { cwd: safe.repo.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--format pdf');
    const bad = await runBraid(['report', 'main'], { cwd: safe.repo.dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('braid report: give a range');
  });
});
