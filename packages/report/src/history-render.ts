/**
 * Renderings of a HistoryModel (`braid history`): plain text for the terminal, JSON, and one
 * self-contained HTML page (inline CSS and SVG charts, no script, no network). Every value from a
 * database or a migration file is escaped; the model never holds a connection string.
 */
import type { HistoryModel, MigrationMeta, TargetSummary } from '@braid/core';
import { escapeXml } from './dag';
import { durationChartSvg, failuresChartSvg, formatMs, successChartSvg } from './history-svg';

export function formatRate(r: number | null): string {
  return r === null ? '-' : `${Math.round(r * 1000) / 10}%`;
}

/** "2026-11-25T10:00:01.234Z" → "2026-11-25 10:00:01". */
export function shortTime(at: string): string {
  return at.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

function who(x: { dbRole?: string; gitAuthorName?: string; gitAuthorEmail?: string }): string {
  const git = x.gitAuthorName ? `${x.gitAuthorName}${x.gitAuthorEmail ? ` <${x.gitAuthorEmail}>` : ''}` : '';
  return [x.dbRole ? `role ${x.dbRole}` : '', git].filter(Boolean).join(', ') || '-';
}

function origin(x: {
  gitCommit?: string;
  gitBranch?: string;
  environment?: string;
  rolloutId?: string;
}): string {
  return (
    [
      x.gitCommit ? `commit ${x.gitCommit.slice(0, 12)}` : '',
      x.gitBranch ? `branch ${x.gitBranch}` : '',
      x.environment ? `env ${x.environment}` : '',
      x.rolloutId ? `rollout ${x.rolloutId}` : '',
    ]
      .filter(Boolean)
      .join(', ') || '-'
  );
}

function metaText(m: MigrationMeta | undefined): string {
  if (!m) return '';
  const parts = [
    m.tickets.length ? `ticket ${m.tickets.join(', ')}` : '',
    m.reason ? `reason: ${m.reason}` : '',
  ];
  return parts.filter(Boolean).join('; ');
}

function targetState(t: TargetSummary): string {
  if (!t.reachable) return `UNREACHABLE: ${t.error ?? 'unknown error'}`;
  if (t.registryVersion === 0) return 'no braid registry (nothing applied by braid)';
  return `registry v${t.registryVersion}, ${t.applied.length} applied now, ${t.ups} up, ${t.downs} down, ${t.failed} failed, ${t.rolledBack} rolled back`;
}

export function renderHistoryText(m: HistoryModel): string {
  const out: string[] = [];
  const filters = [
    m.filters.since ? `since ${m.filters.since}` : '',
    m.filters.limit !== undefined ? `last ${m.filters.limit} per target` : '',
  ].filter(Boolean);
  out.push(`${m.title}${filters.length ? ` (${filters.join(', ')})` : ''}`);
  out.push('');
  out.push('Targets:');
  for (const t of m.targets)
    out.push(`  ${t.name}${t.name === t.database ? '' : ` (${t.database})`}: ${targetState(t)}`);
  out.push('');
  out.push(
    `Attempts: ${m.totals.attempts}, ok ${m.totals.ok}, failed ${m.totals.failed}${m.totals.healthFailed ? `, health checks failed ${m.totals.healthFailed}` : ''}, rolled back ${m.totals.rolledBack}, success rate ${formatRate(m.totals.successRate)}`,
  );
  if (m.failures.length > 0) {
    out.push('', 'Failures:');
    for (const f of m.failures) {
      out.push(
        `  ${shortTime(f.at)}  ${f.targetName}  ${f.id ?? '-'} (${f.direction}) ${f.outcome}${f.sqlstate ? ` [${f.sqlstate}]` : ''}${f.durationMs !== undefined ? ` after ${formatMs(f.durationMs)}` : ''}`,
      );
      if (f.error) out.push(`      error: ${f.error}`);
      if (f.reason && f.reason !== f.error) out.push(`      reason: ${f.reason}`);
      if (f.statement) out.push(`      statement: ${f.statement}`);
      out.push(`      by ${who(f)}; ${origin(f)}`);
    }
  }
  if (m.rollbacks.length > 0) {
    out.push('', 'Rollbacks:');
    for (const r of m.rollbacks) {
      out.push(
        `  ${shortTime(r.at)}  ${r.targetName}  ${r.id ?? '-'}  ${r.kind === 'down' ? 'braid down' : 'rollback on failure'}${r.reason ? `: ${r.reason}` : ''}${r.rolloutId ? ` (rollout ${r.rolloutId})` : ''}; by ${who(r)}`,
      );
    }
  }
  if (m.applied.length > 0) {
    out.push('', 'Applied (newest first):');
    for (const a of m.applied) {
      const meta = metaText(m.migrations[a.id]);
      out.push(
        `  ${shortTime(a.at)}  ${a.targetName}  ${a.direction.padEnd(4)} ${a.id}  ${formatMs(a.durationMs)}  by ${who(a)}; ${origin(a)}${meta ? `; ${meta}` : ''}`,
      );
    }
  }
  if (m.watch.length > 0) {
    out.push('', 'Watched while migrating (newest first):');
    for (const w of m.watch) {
      const lag = w.maxReplicaLagMs === null ? '' : ` · lag ${formatMs(w.maxReplicaLagMs)}`;
      const lat = w.maxLatencyRatio === null ? '' : ` · latency ×${w.maxLatencyRatio.toFixed(2)}`;
      const rows =
        w.rows === null ? '' : ` · ${w.rows} rows${w.batches !== null ? ` in ${w.batches} batches` : ''}`;
      const unit = w.statement === null ? 'migration' : `statement ${w.statement}`;
      if (w.outcome === 'throttled') {
        // a wait before a batch (or a retry) while the server was unhealthy: nothing of braid ran
        const before = w.batches !== null ? ` before batch ${w.batches + 1}` : '';
        out.push(
          `  ${shortTime(w.at)}  ${w.targetName}  ${w.id} ${unit}: throttled for ${formatMs(w.elapsedMs)}${before}${w.rows === null ? '' : ` (${w.rows} rows done)`}${lag}${lat}`,
        );
        if (w.breach) out.push(`      reason: ${w.breach}`);
        continue;
      }
      out.push(
        `  ${shortTime(w.at)}  ${w.targetName}  ${w.id} ${unit}: ${w.outcome} (attempt ${w.attempt}) in ${formatMs(w.elapsedMs)}${rows} · blocked ${w.maxBlocked} (longest ${formatMs(w.longestBlockMs)})${w.ownLockWaitMs > 0 ? ` · waited ${formatMs(w.ownLockWaitMs)} for a lock` : ''}${lag}${lat}`,
      );
      if (w.breach) out.push(`      breaker: ${w.breach}`);
    }
  }
  if (m.days.length > 0) {
    out.push('', 'Per day (UTC):');
    out.push('  day         attempts  ok  failed  health failed  rolled back  success');
    for (const d of m.days) {
      out.push(
        `  ${d.day}  ${String(d.attempts).padStart(8)}  ${String(d.ok).padStart(2)}  ${String(d.failed).padStart(6)}  ${String(d.healthFailed).padStart(13)}  ${String(d.rolledBack).padStart(11)}  ${formatRate(d.successRate).padStart(7)}`,
      );
    }
  }
  if (m.durations.length > 0) {
    out.push('', 'Durations (latest up per target):');
    for (const d of m.durations) {
      out.push(
        `  ${d.id}  median ${formatMs(d.median)}${d.perTarget.length > 1 ? `, min ${formatMs(d.min)}, max ${formatMs(d.max)} over ${d.perTarget.length} targets` : ''}`,
      );
    }
  }
  out.push('', m.generator);
  return out.join('\n') + '\n';
}

export function renderHistoryJson(m: HistoryModel): string {
  return JSON.stringify(m, null, 2) + '\n';
}

const CSS = `body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#111827}
code{font-family:ui-monospace,monospace;font-size:.9em}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #d1d5db;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{white-space:nowrap}td{overflow-wrap:break-word}td code{white-space:pre-wrap;overflow-wrap:anywhere}
th{background:#f3f4f6}tr.unreachable td{color:#b91c1c}.failed{color:#b91c1c}.num{text-align:right}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}.chart{max-width:100%;height:auto}
.summary{font-size:1.1em}.muted{color:#6b7280}`;

export function renderHistoryHtml(m: HistoryModel): string {
  const e = escapeXml;
  const out: string[] = [];
  const c = (s: string | undefined) => (s ? `<code>${e(s)}</code>` : '');
  const td = (s: string, cls = '') => `<td${cls ? ` class="${cls}"` : ''}>${s}</td>`;
  out.push(
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${e(m.title)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${e(m.title)}</h1>`,
  );
  const filters = [
    m.filters.since ? `since ${m.filters.since}` : '',
    m.filters.limit !== undefined ? `the last ${m.filters.limit} rows per target` : '',
  ].filter(Boolean);
  if (filters.length) out.push(`<p class="muted">Showing ${e(filters.join(', '))}.</p>`);
  out.push(
    `<p class="summary">${m.totals.attempts} attempts, ${m.totals.ok} ok, ${m.totals.failed > 0 ? `<span class="failed">${m.totals.failed} failed</span>` : '0 failed'}, ${m.totals.healthFailed} failed health checks, ${m.totals.rolledBack} rolled back; success rate ${e(formatRate(m.totals.successRate))}.</p>`,
  );

  out.push(
    '<h2>Targets</h2><table class="targets"><tr><th>target</th><th>database</th><th>state</th><th>registry</th><th>applied now</th><th>up</th><th>down</th><th>failed</th><th>rolled back</th><th>last activity</th></tr>',
  );
  for (const t of m.targets) {
    out.push(
      `<tr class="${t.reachable ? 'reachable' : 'unreachable'}">${td(e(t.name))}${td(c(t.database))}${td(
        t.reachable ? (t.registryVersion ? 'ok' : 'no braid registry') : `unreachable: ${e(t.error ?? '')}`,
      )}${td(t.registryVersion ? `v${t.registryVersion}` : '-')}${td(String(t.applied.length), 'num')}${td(String(t.ups), 'num')}${td(String(t.downs), 'num')}${td(String(t.failed), 'num')}${td(String(t.rolledBack), 'num')}${td(t.lastAt ? e(shortTime(t.lastAt)) : '-')}</tr>`,
    );
  }
  out.push('</table>');

  out.push('<h2>Charts</h2><div class="charts">');
  out.push(`<figure>${durationChartSvg(m.durations)}</figure>`);
  out.push(`<figure>${failuresChartSvg(m.days)}</figure>`);
  out.push(`<figure>${successChartSvg(m.days)}</figure>`);
  out.push('</div>');

  out.push('<h2>Failures</h2>');
  if (m.failures.length === 0) out.push('<p>None.</p>');
  else {
    out.push(
      '<table class="failures"><tr><th>when (UTC)</th><th>target</th><th>migration</th><th>direction</th><th>outcome</th><th>error</th><th>statement</th><th>by</th><th>from</th></tr>',
    );
    for (const f of m.failures) {
      out.push(
        `<tr>${td(e(shortTime(f.at)))}${td(e(f.targetName))}${td(c(f.id))}${td(e(f.direction))}${td(e(f.outcome), 'failed')}${td(
          `${e(f.error ?? '')}${f.sqlstate ? ` <code>${e(f.sqlstate)}</code>` : ''}${f.reason && f.reason !== f.error ? `<br>reason: ${e(f.reason)}` : ''}`,
        )}${td(c(f.statement))}${td(e(who(f)))}${td(e(origin(f)))}</tr>`,
      );
    }
    out.push('</table>');
  }

  out.push('<h2>Rollbacks</h2>');
  if (m.rollbacks.length === 0) out.push('<p>None.</p>');
  else {
    out.push(
      '<table class="rollbacks"><tr><th>when (UTC)</th><th>target</th><th>migration</th><th>how</th><th>reason</th><th>by</th></tr>',
    );
    for (const r of m.rollbacks) {
      out.push(
        `<tr>${td(e(shortTime(r.at)))}${td(e(r.targetName))}${td(c(r.id))}${td(r.kind === 'down' ? 'braid down' : 'rollback on failure')}${td(e(r.reason ?? ''))}${td(e(who(r)))}</tr>`,
      );
    }
    out.push('</table>');
  }

  out.push('<h2>Applied</h2>');
  if (m.applied.length === 0) out.push('<p>Nothing applied.</p>');
  else {
    out.push(
      '<table class="applied"><tr><th>when (UTC)</th><th>target</th><th>direction</th><th>migration</th><th>ticket</th><th>took</th><th>by</th><th>from</th></tr>',
    );
    for (const a of m.applied) {
      const meta = m.migrations[a.id];
      out.push(
        `<tr class="${e(a.direction)}">${td(e(shortTime(a.at)))}${td(e(a.targetName))}${td(e(a.direction))}${td(c(a.id))}${td(e(meta?.tickets.join(', ') ?? ''))}${td(e(formatMs(a.durationMs)), 'num')}${td(e(who(a)))}${td(e(origin(a)))}</tr>`,
      );
    }
    out.push('</table>');
  }

  out.push('<h2>Watched while migrating</h2>');
  if (m.watch.length === 0) out.push('<p>No watched statements.</p>');
  else {
    // breaker trips per statement (target, migration, direction, statement), over every row shown
    const key = (w: (typeof m.watch)[number]) =>
      `${w.targetName}\u0000${w.id}\u0000${w.direction}\u0000${w.statement ?? ''}`;
    const trips = new Map<string, number>();
    for (const w of m.watch) if (w.outcome === 'tripped') trips.set(key(w), (trips.get(key(w)) ?? 0) + 1);
    out.push(
      '<table class="watch"><tr><th>when (UTC)</th><th>target</th><th>migration</th><th>statement</th><th>outcome</th><th>attempt</th><th>took</th><th>rows</th><th>batches</th><th>blocked sessions</th><th>longest block</th><th>own lock wait</th><th>replica lag</th><th>latency ratio</th><th>trips</th><th>breaker</th></tr>',
    );
    for (const w of m.watch) {
      const bad = w.outcome !== 'ok';
      out.push(
        `<tr class="${e(w.outcome)}">${td(e(shortTime(w.at)))}${td(e(w.targetName))}${td(c(w.id))}${td(w.statement === null ? 'migration' : String(w.statement), 'num')}${td(e(w.outcome), bad ? 'failed' : '')}${td(String(w.attempt), 'num')}${td(e(formatMs(w.elapsedMs)), 'num')}${td(w.rows === null ? '-' : String(w.rows), 'num')}${td(w.batches === null ? '-' : String(w.batches), 'num')}${td(String(w.maxBlocked), 'num')}${td(e(formatMs(w.longestBlockMs)), 'num')}${td(e(formatMs(w.ownLockWaitMs)), 'num')}${td(w.maxReplicaLagMs === null ? '-' : e(formatMs(w.maxReplicaLagMs)), 'num')}${td(w.maxLatencyRatio === null ? '-' : `×${w.maxLatencyRatio.toFixed(2)}`, 'num')}${td(String(trips.get(key(w)) ?? 0), 'num')}${td(e(w.breach ?? ''))}</tr>`,
      );
    }
    out.push('</table>');
  }

  out.push('<h2>Per day (UTC)</h2>');
  if (m.days.length === 0) out.push('<p>No attempts.</p>');
  else {
    out.push(
      '<table class="days"><tr><th>day</th><th>attempts</th><th>ok</th><th>failed</th><th>health checks failed</th><th>rolled back</th><th>success rate</th></tr>',
    );
    for (const d of m.days) {
      out.push(
        `<tr>${td(e(d.day))}${td(String(d.attempts), 'num')}${td(String(d.ok), 'num')}${td(String(d.failed), 'num')}${td(String(d.healthFailed), 'num')}${td(String(d.rolledBack), 'num')}${td(e(formatRate(d.successRate)), 'num')}</tr>`,
      );
    }
    out.push('</table>');
  }

  const metas = Object.values(m.migrations);
  if (metas.length > 0) {
    out.push(
      '<h2>Migrations</h2><table class="migrations"><tr><th>migration</th><th>title</th><th>ticket</th><th>reason</th><th>flags</th></tr>',
    );
    for (const x of metas) {
      const flags = [x.irreversible ? 'irreversible' : '', x.noTransaction ? 'no-transaction' : ''].filter(
        Boolean,
      );
      out.push(
        `<tr>${td(c(x.id))}${td(e(x.title))}${td(e(x.tickets.join(', ')))}${td(e(x.reason ?? ''))}${td(e(flags.join(', ')))}</tr>`,
      );
    }
    out.push('</table>');
  }
  out.push(`<footer><small>${e(m.generator)}</small></footer>`, '</body></html>', '');
  return out.join('\n');
}
