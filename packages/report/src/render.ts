/**
 * Renderings of a ReportModel: markdown (GitHub-flavoured, mermaid DAG), a self-contained HTML
 * page (inline CSS and SVG, no script, no network) and JSON.
 */
import type { SideSummary } from '@braid/core';
import { escapeXml, renderMermaid, renderSvg } from './dag';
import { verdictSummary, type Hazard, type ReportModel } from './model';

function icon(m: ReportModel): string {
  return m.verdict.verdict === 'safe' ? '✅' : m.verdict.verdict === 'conflict' ? '❌' : '⚠️';
}

function code(s: string): string {
  return '`' + s.replace(/`/g, "'") + '`';
}

function sideEntries(s: SideSummary): Array<{ id: string; what: string }> {
  return [
    ...s.added.map((id) => ({ id, what: 'new' })),
    ...s.edited.map((id) => ({ id, what: 'edited (it existed at the merge base)' })),
    ...s.removed.map((id) => ({ id, what: 'removed (it existed at the merge base)' })),
  ];
}

function sides(m: ReportModel) {
  const v = m.verdict;
  return [
    { key: 'ours' as const, title: 'Ours', label: v.labels.ours, s: v.ours },
    { key: 'theirs' as const, title: 'Theirs', label: v.labels.theirs, s: v.theirs },
  ];
}

function hazardLine(h: Hazard): string {
  return `${h.file}:${h.line}:${h.column} ${h.severity} ${h.rule}: ${h.message}`;
}

export function renderMarkdown(m: ReportModel): string {
  const v = m.verdict;
  const out: string[] = [];
  out.push(`# ${icon(m)} braid: ${verdictSummary(v)}`, '');
  out.push(
    `Merge of **${v.labels.theirs}** into **${v.labels.ours}** (merge base ${code(v.labels.base)}).`,
    '',
  );
  if (v.reasons.length > 0) {
    out.push(v.verdict === 'conflict' ? '## Why it conflicts' : '## Notes', '');
    for (const r of v.reasons) out.push(`- ${r}`);
    out.push('');
  }
  if (v.advice.length > 0) {
    out.push('## What to do', '');
    for (const a of v.advice) out.push(`- ${a}`);
    out.push('');
  }
  out.push('## Migration DAG', '', '```mermaid', renderMermaid(m.dag, v.labels), '```', '');
  for (const side of sides(m)) {
    out.push(`## ${side.title}: ${side.label}`, '');
    const entries = sideEntries(side.s);
    if (entries.length === 0) out.push('No migration changes.');
    for (const e of entries) out.push(`- ${code(e.id)} (${e.what})`);
    out.push('');
    if (side.s.diffText) {
      out.push('Schema changes:', '', '```diff');
      out.push(...(side.s.diffText.length ? side.s.diffText : ['(no schema change)']), '```', '');
    }
    const hz = m.hazards.filter((h) => h.side === side.key);
    if (hz.length > 0) {
      out.push('Hazards (lint):', '');
      out.push('| severity | rule | where | message |', '| --- | --- | --- | --- |');
      for (const h of hz) {
        out.push(
          `| ${h.severity} | ${code(h.rule)} | ${code(`${h.file}:${h.line}`)} | ${h.message.replace(/\|/g, '\\|')} |`,
        );
      }
      out.push('');
    }
  }
  out.push('## Collisions', '');
  if (v.collisions.length === 0) out.push('None: the static footprints do not overlap.');
  for (const c of v.collisions) {
    const where = [...c.ours.map((t) => `ours ${t.at}`), ...c.theirs.map((t) => `theirs ${t.at}`)];
    out.push(
      `- ${c.severity === 'conflict' ? '**conflict**' : 'note'}: ${c.reason}${where.length ? ` (${where.join(', ')})` : ''}`,
    );
  }
  out.push('');
  if (v.replays.length > 0) {
    out.push('## Replays', '');
    for (const r of v.replays)
      out.push(`- ${r.order.replace(/-/g, ' ')}: ${r.ok ? 'ok' : `failed: ${code(r.error ?? '')}`}`);
    out.push('');
  }
  out.push('## Merged order', '');
  if (v.mergedOrder && v.verdict !== 'conflict') {
    if (v.mergedOrder.length === 0) out.push('Nothing new after the merge base.');
    v.mergedOrder.forEach((id, i) => out.push(`${i + 1}. ${code(id)}`));
  } else out.push('None: the two sides do not merge as they are.');
  out.push('', `<sub>${m.generator}</sub>`, '');
  return out.join('\n');
}

const CSS = `body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#111827}
h1.safe{color:#047857}h1.conflict{color:#b91c1c}h1.unproven{color:#b45309}
code,pre{font-family:ui-monospace,monospace;font-size:.9em}pre{background:#f3f4f6;padding:.75rem;overflow:auto}
table{border-collapse:collapse}td,th{border:1px solid #d1d5db;padding:.25rem .5rem;text-align:left}
.sides{display:flex;gap:2rem}.sides section{flex:1}.conflict-item{color:#b91c1c}.dag{overflow:auto}`;

export function renderHtml(m: ReportModel): string {
  const v = m.verdict;
  const e = escapeXml;
  const out: string[] = [];
  out.push(
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${e(m.title)}</title>`,
    `<style>${CSS}</style></head><body>`,
  );
  out.push(`<h1 class="verdict ${v.verdict}">${icon(m)} ${e(verdictSummary(v))}</h1>`);
  out.push(
    `<p>Merge of <strong>${e(v.labels.theirs)}</strong> into <strong>${e(v.labels.ours)}</strong> (merge base <code>${e(v.labels.base)}</code>).</p>`,
  );
  const list = (title: string, items: string[], cls = '') => {
    if (items.length === 0) return;
    out.push(`<h2>${e(title)}</h2><ul${cls ? ` class="${cls}"` : ''}>`);
    for (const i of items) out.push(`<li>${e(i)}</li>`);
    out.push('</ul>');
  };
  list(v.verdict === 'conflict' ? 'Why it conflicts' : 'Notes', v.reasons, 'reasons');
  list('What to do', v.advice, 'advice');
  out.push('<h2>Migration DAG</h2>', `<div class="dag">${renderSvg(m.dag, v.labels)}</div>`);
  out.push('<div class="sides">');
  for (const side of sides(m)) {
    out.push(`<section class="side ${side.key}"><h2>${e(side.title)}: ${e(side.label)}</h2>`);
    const entries = sideEntries(side.s);
    if (entries.length === 0) out.push('<p>No migration changes.</p>');
    else {
      out.push('<ul>');
      for (const x of entries) out.push(`<li><code>${e(x.id)}</code> (${e(x.what)})</li>`);
      out.push('</ul>');
    }
    if (side.s.diffText) {
      out.push(
        `<h3>Schema changes</h3><pre>${e((side.s.diffText.length ? side.s.diffText : ['(no schema change)']).join('\n'))}</pre>`,
      );
    }
    const hz = m.hazards.filter((h) => h.side === side.key);
    if (hz.length > 0) {
      out.push(
        '<h3>Hazards (lint)</h3><table><tr><th>severity</th><th>rule</th><th>where</th><th>message</th></tr>',
      );
      for (const h of hz)
        out.push(
          `<tr class="${e(h.severity)}"><td>${e(h.severity)}</td><td><code>${e(h.rule)}</code></td><td><code>${e(`${h.file}:${h.line}`)}</code></td><td>${e(h.message)}</td></tr>`,
        );
      out.push('</table>');
    }
    out.push('</section>');
  }
  out.push('</div>');
  out.push('<h2>Collisions</h2>');
  if (v.collisions.length === 0) out.push('<p>None: the static footprints do not overlap.</p>');
  else {
    out.push('<ul class="collisions">');
    for (const c of v.collisions)
      out.push(
        `<li class="${c.severity === 'conflict' ? 'conflict-item' : 'note'}"><strong>${c.severity}</strong>: ${e(c.reason)}</li>`,
      );
    out.push('</ul>');
  }
  list(
    'Replays',
    v.replays.map((r) => `${r.order.replace(/-/g, ' ')}: ${r.ok ? 'ok' : `failed: ${r.error ?? ''}`}`),
  );
  out.push('<h2>Merged order</h2>');
  if (v.mergedOrder && v.verdict !== 'conflict') {
    out.push('<ol class="merged">');
    for (const id of v.mergedOrder) out.push(`<li><code>${e(id)}</code></li>`);
    out.push('</ol>');
  } else out.push('<p>None: the two sides do not merge as they are.</p>');
  out.push(`<footer><small>${e(m.generator)}</small></footer>`, '</body></html>', '');
  return out.join('\n');
}

export function renderJson(m: ReportModel): string {
  return JSON.stringify(m, null, 2) + '\n';
}

export { hazardLine };
