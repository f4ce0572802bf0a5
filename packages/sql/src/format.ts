/**
 * Renderings of lint findings: text (statement + caret), JSON, SARIF 2.1.0, GitHub workflow
 * annotations and GitLab code quality. Pure.
 */
import { createHash } from 'node:crypto';
import type { Finding } from './lint';
import { RULES } from './rules';

export type LintFormat = 'text' | 'json' | 'sarif' | 'github' | 'gitlab';
export const LINT_FORMATS: readonly LintFormat[] = ['text', 'json', 'sarif', 'github', 'gitlab'];

export interface Summary {
  error: number;
  warning: number;
  info: number;
  suppressed: number;
  /** Findings in imported history (`.migrations/baseline`): reported, never failing. */
  baseline: number;
}

/** True when a finding counts (neither suppressed nor in the imported baseline). */
export function isActive(f: Finding): boolean {
  return f.suppressed === undefined && f.baseline === undefined;
}

export function summarize(findings: Finding[]): Summary {
  const s: Summary = { error: 0, warning: 0, info: 0, suppressed: 0, baseline: 0 };
  for (const f of findings) {
    if (f.suppressed !== undefined) s.suppressed++;
    else if (f.baseline !== undefined) s.baseline++;
    else s[f.severity]++;
  }
  return s;
}

/** The stable JSON shape of one finding (flat keys). */
export function findingJson(f: Finding): Record<string, unknown> {
  return {
    file: f.file,
    line: f.line,
    column: f.column,
    rule: f.rule,
    severity: f.severity,
    message: f.message,
    help: f.help,
    migration: f.migration,
    suppressed: f.suppressed ?? null,
    baseline: f.baseline ?? null,
  };
}

export function renderJson(findings: Finding[]): Record<string, unknown> {
  return { findings: findings.map(findingJson), summary: summarize(findings) };
}

/** Text: `file:line:col: severity rule: message`, the source line, a caret, the help. */
export function renderText(findings: Finding[], sources: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  const active = findings.filter(isActive);
  for (const f of active) {
    out.push(`${f.file}:${f.line}:${f.column}: ${f.severity} ${f.rule}: ${f.message}`);
    const text = sources.get(f.file);
    const line = text?.split('\n')[f.line - 1];
    if (line !== undefined && line.trim() !== '') {
      const gutter = String(f.line).length;
      out.push(`  ${String(f.line)} | ${line.replace(/\r$/, '')}`);
      out.push(`  ${' '.repeat(gutter)} | ${line.slice(0, f.column - 1).replace(/[^\t]/g, ' ')}^`);
    }
    out.push(`  help: ${f.help}`);
    out.push('');
  }
  const sup = findings.filter((f) => f.suppressed !== undefined);
  for (const f of sup) out.push(`${f.file}:${f.line}:${f.column}: suppressed ${f.rule}: ${f.suppressed!}`);
  if (sup.length) out.push('');
  const base = findings.filter((f) => f.suppressed === undefined && f.baseline !== undefined);
  for (const f of base)
    out.push(`${f.file}:${f.line}:${f.column}: baseline ${f.severity} ${f.rule}: ${f.message}`);
  if (base.length)
    out.push(
      `  (baseline: migrations imported from ${[...new Set(base.map((f) => f.baseline!))].join(', ')} that already ran; listed in .migrations/baseline, reported but never failing)`,
      '',
    );
  const s = summarize(findings);
  const extra = `${s.suppressed ? `, ${s.suppressed} suppressed` : ''}${s.baseline ? `, ${s.baseline} in the baseline` : ''}`;
  out.push(
    active.length === 0
      ? `no findings${extra ? ` (${extra.slice(2)})` : ''}`
      : `${s.error} error(s), ${s.warning} warning(s)${s.info ? `, ${s.info} info` : ''}${extra}`,
  );
  return out;
}

const SARIF_LEVEL = { error: 'error', warning: 'warning', info: 'note' } as const;

export function renderSarif(findings: Finding[], version: string): Record<string, unknown> {
  const index = new Map(RULES.map((r, i) => [r.id, i]));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'braid',
            version,
            rules: RULES.map((r) => ({
              id: r.id,
              name: r.id,
              shortDescription: { text: r.message },
              fullDescription: { text: r.docs.problem },
              help: { text: `${r.help}\n\n${r.docs.solution}`, markdown: `${r.help}\n\n${r.docs.solution}` },
              defaultConfiguration: { level: SARIF_LEVEL[r.severity] },
              properties: { tags: ['braid', 'postgresql', 'migration'] },
            })),
          },
        },
        columnKind: 'utf16CodeUnits',
        results: findings.map((f) => {
          const res: Record<string, unknown> = {
            ruleId: f.rule,
            ruleIndex: index.get(f.rule) ?? -1,
            level: SARIF_LEVEL[f.severity],
            message: { text: `${f.message}. ${f.help}` },
            locations: [
              {
                physicalLocation: {
                  artifactLocation: { uri: f.file },
                  region: { startLine: f.line, startColumn: f.column },
                },
              },
            ],
            partialFingerprints: { 'braid/v1': fingerprint(f) },
          };
          if (f.suppressed !== undefined)
            res['suppressions'] = [{ kind: 'inSource', justification: f.suppressed }];
          else if (f.baseline !== undefined) {
            res['baselineState'] = 'unchanged';
            res['suppressions'] = [
              {
                kind: 'external',
                justification: `imported from ${f.baseline}: history that already ran (.migrations/baseline)`,
              },
            ];
          }
          return res;
        }),
      },
    ],
  };
}

function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** GitHub Actions workflow commands (one annotation per unsuppressed finding). */
export function renderGithub(findings: Finding[]): string[] {
  const kind = { error: 'error', warning: 'warning', info: 'notice' } as const;
  return findings
    .filter(isActive)
    .map(
      (f) =>
        `::${kind[f.severity]} file=${escapeProperty(f.file)},line=${f.line},col=${f.column},title=${escapeProperty(`braid ${f.rule}`)}::${escapeData(`${f.message}\n${f.help}`)}`,
    );
}

function fingerprint(f: Finding): string {
  return createHash('sha256').update(`${f.rule}\0${f.file}\0${f.message}`).digest('hex').slice(0, 32);
}

/** GitLab code quality report (CodeClimate subset). */
export function renderGitlab(findings: Finding[]): Array<Record<string, unknown>> {
  const sev = { error: 'major', warning: 'minor', info: 'info' } as const;
  return findings.filter(isActive).map((f) => ({
    description: `${f.rule}: ${f.message}`,
    check_name: f.rule,
    fingerprint: fingerprint(f),
    severity: sev[f.severity],
    location: { path: f.file, lines: { begin: f.line } },
  }));
}

/** Exit code policy: findings at or above the threshold (unsuppressed) fail. */
export function failsAt(findings: Finding[], failOn: 'error' | 'warning' | 'none'): boolean {
  if (failOn === 'none') return false;
  return findings.some(
    (f) => isActive(f) && (f.severity === 'error' || (failOn === 'warning' && f.severity === 'warning')),
  );
}
