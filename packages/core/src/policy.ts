/**
 * What a promotion needs (pure): given an environment's policy, the pending migrations with their
 * lint risk, their approvals (git notes) and whether `braid test` passed for the manifest hash,
 * the list of blockers — each naming the migration and what is missing.
 */
import type { EnvironmentPolicy, RiskLevel } from './config';

export interface Approval {
  /** The migration id approved. */
  id: string;
  /** The migration's content hash when approved (`sha256:…`). */
  hash: string;
  approverName: string;
  approverEmail: string;
  /** ISO-8601 timestamp. */
  at: string;
}

export interface PendingForPolicy {
  id: string;
  /** Current content hash (manifest). */
  hash: string;
  /** Hash of the files on disk, when different from the manifest (an unhashed edit). */
  filesHash?: string;
  /** Counts of unsuppressed lint findings by severity. */
  lintErrors: number;
  lintWarnings: number;
}

export type BlockerCode = 'lint' | 'missing-approval' | 'edited-after-approval' | 'test-required';

export interface Blocker {
  code: BlockerCode;
  id?: string;
  message: string;
}

export interface PolicyStep {
  id: string;
  risk: RiskLevel;
  required: number;
  /** Distinct approvers whose approval matches the current hash. */
  approvedBy: string[];
  /** Approvers whose approval is for an older content hash. */
  staleApprovals: string[];
}

export interface PolicyResult {
  ok: boolean;
  steps: PolicyStep[];
  blockers: Blocker[];
}

/** Lint risk: high with an (unsuppressed) error finding, medium with a warning, else low. */
export function riskOf(m: { lintErrors: number; lintWarnings: number }): RiskLevel {
  if (m.lintErrors > 0) return 'high';
  if (m.lintWarnings > 0) return 'medium';
  return 'low';
}

const who = (a: Approval): string =>
  a.approverEmail ? `${a.approverName} <${a.approverEmail}>` : a.approverName;

/** Approvals valid for a migration: same id, hash equal to the manifest's (and the files'). */
export function validApprovals(m: PendingForPolicy, approvals: readonly Approval[]): Approval[] {
  return approvals.filter((a) => a.id === m.id && a.hash === m.hash && (m.filesHash ?? m.hash) === m.hash);
}

export function evaluatePolicy(
  policy: EnvironmentPolicy,
  pending: readonly PendingForPolicy[],
  approvals: ReadonlyMap<string, readonly Approval[]>,
  test: { manifestHash: string; passed: boolean | undefined },
): PolicyResult {
  const blockers: Blocker[] = [];
  const steps: PolicyStep[] = [];
  for (const m of pending) {
    const risk = riskOf(m);
    const all = approvals.get(m.id) ?? [];
    const valid = validApprovals(m, all);
    const approvedBy = [...new Set(valid.map((a) => a.approverEmail || a.approverName))];
    const validWho = new Set(valid.map(who));
    const staleApprovals = [...new Set(all.filter((a) => !valid.includes(a)).map(who))].filter(
      (w) => !validWho.has(w),
    );
    const required = policy.approvals[risk];
    steps.push({ id: m.id, risk, required, approvedBy, staleApprovals });

    if (policy.lintBlocks !== 'none') {
      const n = m.lintErrors + (policy.lintBlocks === 'warning' ? m.lintWarnings : 0);
      if (n > 0) {
        const what = policy.lintBlocks === 'warning' ? 'lint error(s) or warning(s)' : 'lint error(s)';
        blockers.push({
          code: 'lint',
          id: m.id,
          message: `${m.id}: ${n} ${what} (policy lintBlocks: ${policy.lintBlocks}); fix them or suppress with a reason`,
        });
      }
    }
    if (approvedBy.length < required) {
      const missing = required - approvedBy.length;
      if (staleApprovals.length > 0) {
        blockers.push({
          code: 'edited-after-approval',
          id: m.id,
          message: `${m.id}: edited after approval by ${staleApprovals.join(', ')} (the approved content hash differs from ${m.hash.slice(0, 19)}); ${missing} fresh approval(s) needed for ${risk} risk (braid approve ${m.id})`,
        });
      } else {
        blockers.push({
          code: 'missing-approval',
          id: m.id,
          message: `${m.id}: ${risk} risk needs ${required} approval(s), has ${approvedBy.length}${approvedBy.length > 0 ? ` (${approvedBy.join(', ')})` : ''}; run braid approve ${m.id}`,
        });
      }
    }
  }
  if (policy.requireTest && pending.length > 0 && test.passed !== true) {
    blockers.push({
      code: 'test-required',
      message:
        test.passed === false
          ? `policy requireTest: braid test failed for manifest ${test.manifestHash.slice(0, 19)}; run braid test to see why`
          : `policy requireTest: no passing braid test for manifest ${test.manifestHash.slice(0, 19)}`,
    });
  }
  return { ok: blockers.length === 0, steps, blockers };
}
