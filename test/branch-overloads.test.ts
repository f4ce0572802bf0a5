/**
 * Function overloads are different objects: `braid diff --static` keys functions by signature,
 * so two branches adding different overloads of one name do not collide statically, while the
 * same overload (spelled `int` and `integer`) or a call by name against a new overload does.
 */
import { buildScenario, type Scenario } from './helpers/branching';
import { runBraidJson } from './helpers/repo';

interface VerdictJson {
  verdict: string;
  collisions: { object: string; severity: string; reason: string }[];
}

const BASE = ['create table users (id int primary key, name text);'];

async function staticDiff(s: Scenario): Promise<{ code: number; json: VerdictJson }> {
  const b = buildScenario(s);
  try {
    const r = await runBraidJson<VerdictJson>(['diff', 'main', 'feature', '--static'], { cwd: b.repo.dir });
    return { code: r.code, json: r.json };
  } finally {
    b.repo.cleanup();
  }
}

test('two new overloads of one name: no static collision (unproven, exit 0)', async () => {
  const r = await staticDiff({
    base: BASE,
    ours: [['create function pick(a int) returns int language sql as $$ select a $$;']],
    theirs: [['create function pick(a text) returns text language sql as $$ select a $$;']],
  });
  expect(r.code).toBe(0);
  expect(r.json.verdict).toBe('unproven');
  expect(r.json.collisions).toEqual([]);
});

test('the same overload written int and integer (and an OUT argument): a static conflict naming the signature', async () => {
  const r = await staticDiff({
    base: BASE,
    ours: [['create function pick(a int) returns int language sql as $$ select a $$;']],
    theirs: [['create function pick(b integer, out c text) language sql as $$ select $1::text $$;']],
  });
  expect(r.code).toBe(1);
  expect(r.json.collisions).toEqual([
    expect.objectContaining({ object: 'function public.pick(integer)', severity: 'conflict' }),
  ]);
});

test('DROP FUNCTION without arguments collides with every overload the other side changes', async () => {
  const r = await staticDiff({
    base: [...BASE, 'create function pick(a int) returns int language sql as $$ select a $$;'],
    ours: [['drop function pick;']],
    theirs: [
      [
        "comment on function pick(int) is 'x';",
        'create function pick(a text) returns text language sql as $$ select a $$;',
      ],
    ],
  });
  expect(r.code).toBe(1);
  expect(r.json.collisions.map((c) => c.reason).join('\n')).toMatch(
    /function public\.pick\(text\) changed on both sides: ours dropped/,
  );
});
