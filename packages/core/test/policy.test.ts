import { defaultPolicy, evaluatePolicy, riskOf, type Approval, type EnvironmentPolicy } from '@braid/core';

const policy = (
  p: Partial<Omit<EnvironmentPolicy, 'approvals'>> & { approvals?: Partial<EnvironmentPolicy['approvals']> },
): EnvironmentPolicy => {
  const d = defaultPolicy();
  return { ...d, ...p, approvals: { ...d.approvals, ...(p.approvals ?? {}) } };
};
const appr = (id: string, hash: string, email: string): Approval => ({
  id,
  hash,
  approverName: email.split('@')[0] ?? email,
  approverEmail: email,
  at: '2026-11-25T17:00:00Z',
});
const test = { manifestHash: 'sha256:m', passed: undefined };

describe('promotion policy', () => {
  it('risk comes from unsuppressed lint findings', () => {
    expect(riskOf({ lintErrors: 1, lintWarnings: 0 })).toBe('high');
    expect(riskOf({ lintErrors: 0, lintWarnings: 3 })).toBe('medium');
    expect(riskOf({ lintErrors: 0, lintWarnings: 0 })).toBe('low');
  });

  it('lintBlocks: error blocks errors only, warning also warnings, none nothing', () => {
    const pending = [
      { id: 'a', hash: 'h', lintErrors: 1, lintWarnings: 0 },
      { id: 'b', hash: 'h', lintErrors: 0, lintWarnings: 1 },
    ];
    const none = new Map<string, Approval[]>();
    expect(evaluatePolicy(policy({}), pending, none, test).blockers.map((b) => [b.code, b.id])).toEqual([
      ['lint', 'a'],
    ]);
    expect(
      evaluatePolicy(policy({ lintBlocks: 'warning' }), pending, none, test).blockers.map((b) => b.id),
    ).toEqual(['a', 'b']);
    expect(evaluatePolicy(policy({ lintBlocks: 'none' }), pending, none, test).ok).toBe(true);
  });

  it('requires approvals by risk level from distinct approvers at the current hash', () => {
    const p = policy({ lintBlocks: 'none', approvals: { high: 2, medium: 1 } });
    const pending = [
      { id: 'hi', hash: 'h1', lintErrors: 1, lintWarnings: 0 },
      { id: 'mid', hash: 'h2', lintErrors: 0, lintWarnings: 2 },
      { id: 'lo', hash: 'h3', lintErrors: 0, lintWarnings: 0 },
    ];
    const approvals = new Map([
      ['hi', [appr('hi', 'h1', 'ann@x'), appr('hi', 'h1', 'ann@x')]],
      ['mid', [appr('mid', 'h2', 'bob@x')]],
    ]);
    const r = evaluatePolicy(p, pending, approvals, test);
    expect(r.ok).toBe(false);
    expect(r.blockers).toEqual([
      {
        code: 'missing-approval',
        id: 'hi',
        message: 'hi: high risk needs 2 approval(s), has 1 (ann@x); run braid approve hi',
      },
    ]);
    expect(r.steps.map((s) => [s.id, s.risk, s.required, s.approvedBy])).toEqual([
      ['hi', 'high', 2, ['ann@x']],
      ['mid', 'medium', 1, ['bob@x']],
      ['lo', 'low', 0, []],
    ]);
    approvals.get('hi')!.push(appr('hi', 'h1', 'cy@x'));
    expect(evaluatePolicy(p, pending, approvals, test).ok).toBe(true);
  });

  it('an approval of an older content hash is stale: edited after approval', () => {
    const p = policy({ approvals: { low: 1 } });
    const r = evaluatePolicy(
      p,
      [{ id: 'a', hash: 'new', lintErrors: 0, lintWarnings: 0 }],
      new Map([['a', [appr('a', 'old', 'ann@x')]]]),
      test,
    );
    expect(r.blockers[0]?.code).toBe('edited-after-approval');
    expect(r.blockers[0]?.message).toMatch(/^a: edited after approval by ann <ann@x>/);
    expect(r.steps[0]?.staleApprovals).toEqual(['ann <ann@x>']);
    // files edited without rehashing: the approval does not count either
    const r2 = evaluatePolicy(
      p,
      [{ id: 'a', hash: 'old', filesHash: 'edited', lintErrors: 0, lintWarnings: 0 }],
      new Map([['a', [appr('a', 'old', 'ann@x')]]]),
      test,
    );
    expect(r2.blockers.map((b) => b.code)).toEqual(['edited-after-approval']);
  });

  it('requireTest blocks without a passing test for the manifest hash, and only when something is pending', () => {
    const p = policy({ requireTest: true });
    const one = [{ id: 'a', hash: 'h', lintErrors: 0, lintWarnings: 0 }];
    expect(evaluatePolicy(p, one, new Map(), test).blockers.map((b) => b.code)).toEqual(['test-required']);
    expect(evaluatePolicy(p, one, new Map(), { manifestHash: 'sha256:m', passed: true }).ok).toBe(true);
    expect(evaluatePolicy(p, [], new Map(), test).ok).toBe(true);
  });
});
