import { runBraidJson } from './helpers/repo';

interface DemoJson {
  ok: boolean;
  steps: { act: string; command: string; code: number }[];
}

/** The README's main-job command, run as a user would (embedded database, no server). */
describe('braid demo', () => {
  it('runs every act to the end, with the failures it is meant to show', async () => {
    const r = await runBraidJson<DemoJson>(['demo'], { cwd: process.cwd() });
    expect(r.code).toBe(0);
    expect(r.json.ok).toBe(true);
    const code = (prefix: string): number[] =>
      r.json.steps.filter((s) => s.command.startsWith(prefix)).map((s) => s.code);
    expect(code('braid test')).toEqual([1, 0]); // the broken rollback is caught, then fixed
    expect(code('braid drift')).toEqual([1, 0, 0]); // drift found, captured, clean
    expect(code('git merge --no-edit')).toEqual([0, 1, 0]); // safe merge, stopped conflict, merge after rebase
    expect(r.json.steps.map((s) => s.act)).toEqual(expect.arrayContaining([expect.stringMatching(/^Act 4/)]));
  });
});
