/**
 * `braid merge-points`: a branch of five commits whose third introduces a collision with the
 * target's new migration. Replayed (server when configured, else PGlite) and static.
 */
import { buildScenario, primaryEngine, shadowArgs, type Built } from './helpers/branching';
import { runBraid, runBraidJson } from './helpers/repo';
import type { MergePointsResult } from '../packages/cli/src/commands/merge-points';

let b: Built;
beforeAll(() => {
  b = buildScenario({
    base: ['create table users (id int primary key, name text);'],
    ours: [['alter table users add column nickname text;']],
    theirs: [
      [{ up: 'create table a (id int);', down: 'drop table a;' }],
      [{ up: 'create table b (id int);', down: 'drop table b;' }],
      [{ up: 'alter table users add column nickname int;', down: 'alter table users drop column nickname;' }],
      [{ up: 'create table c (id int);', down: 'drop table c;' }],
      [{ up: 'create table d (id int);', down: 'drop table d;' }],
    ],
  });
});
afterAll(() => b?.repo.cleanup());

describe('braid merge-points', () => {
  test('replayed: safe, safe, conflict, conflict, conflict; last safe is the second commit', async () => {
    const r = await runBraidJson<MergePointsResult>(
      ['merge-points', 'feature', '--into', 'main', ...shadowArgs(primaryEngine())],
      { cwd: b.repo.dir },
    );
    expect(r.code).toBe(0);
    const j = r.json;
    expect(j.points.map((p) => p.verdict)).toEqual(['safe', 'safe', 'conflict', 'conflict', 'conflict']);
    expect(j.points.map((p) => p.introduced)).toEqual(b.theirsIds.map((id) => [id]));
    expect(j.points[2].reasons.join('\n')).toContain('column public.users.nickname');
    expect(j.lastSafe?.n).toBe(2);
    expect(j.lastSafe?.subject).toContain(b.theirsIds[1]);
    expect(j.intoNew).toEqual(b.oursIds);
    const status = Object.fromEntries(j.migrations.map((m) => [m.id, m.status]));
    expect(status).toEqual({
      [b.theirsIds[0]]: 'commutes',
      [b.theirsIds[1]]: 'commutes',
      [b.theirsIds[2]]: 'conflicts',
      [b.theirsIds[3]]: 'disjoint',
      [b.theirsIds[4]]: 'disjoint',
    });
  });

  test('text output names the last safe point; --static never calls a point safe', async () => {
    const r = await runBraid(['merge-points', 'feature', '--static'], { cwd: b.repo.dir });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^merge points of feature into main .*5 commit\(s\), static analysis only/);
    expect(lines.filter((l) => / unproven /.test(l))).toHaveLength(2);
    expect(lines.filter((l) => / CONFLICT /.test(l))).toHaveLength(3);
    expect(r.stdout).toMatch(/last safe merge point: 2\. [0-9a-f]{12} theirs: /);
    expect(r.stdout).toContain(`${b.theirsIds[2]}: column public.users.nickname added on both sides`);
  });

  test('an unknown branch is an error naming it', async () => {
    const r = await runBraid(['merge-points', 'nope', '--static'], { cwd: b.repo.dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('nope');
  });
});
