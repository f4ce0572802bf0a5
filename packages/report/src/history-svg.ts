/**
 * The charts of `braid history --format html`, drawn here as inline SVG (no script, no external
 * reference): durations per migration (median bar with a min–max whisker, per-target values in
 * the tooltip), failures and rollbacks per day (grouped bars) and the success rate per day.
 * Every bar is a `<rect class="bar …">` with data attributes, so tests (and Chromium) can find them.
 */
import type { DayStat, DurationStat } from '@braid/core';
import { escapeXml } from './dag';

const e = escapeXml;
const FONT = 'font-family="system-ui,sans-serif" font-size="12"';

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

function svgOpen(cls: string, width: number, height: number, label: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart ${cls}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${e(label)}">`;
}

function emptyChart(cls: string, label: string, message: string): string {
  return [
    svgOpen(cls, 600, 60, label),
    `<text class="empty" x="10" y="35" ${FONT} fill="#6b7280">${e(message)}</text>`,
    '</svg>',
  ].join('\n');
}

/** A "nice" upper bound for an axis (1, 2, 5 × 10^n at or above `v`). */
export function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const LABEL_W = 330;
const PLOT_W = 460;
const ROW_H = 22;
const TOP = 28;

/** Horizontal bars, one row per migration: the median, a whisker from min to max. */
export function durationChartSvg(durations: readonly DurationStat[]): string {
  const label = 'duration per migration (median of the targets, whisker min–max)';
  if (durations.length === 0) return emptyChart('durations', label, 'No migration applied in this history.');
  const max = niceMax(Math.max(...durations.map((d) => d.max)));
  const width = LABEL_W + PLOT_W + 90;
  const height = TOP + durations.length * ROW_H + 30;
  const x = (ms: number) => LABEL_W + (ms / max) * PLOT_W;
  const out: string[] = [svgOpen('durations', width, height, label)];
  out.push(`<text x="${LABEL_W}" y="16" ${FONT} font-weight="bold">${e(label)}</text>`);
  durations.forEach((d, i) => {
    const y = TOP + i * ROW_H;
    const tip = `${d.id}: median ${formatMs(d.median)}, min ${formatMs(d.min)}, max ${formatMs(d.max)}\n${d.perTarget
      .map((p) => `${p.target}: ${formatMs(p.ms)}`)
      .join('\n')}`;
    const w = Math.max(1, x(d.median) - LABEL_W);
    out.push(
      `<g class="row" data-id="${e(d.id)}"><title>${e(tip)}</title>` +
        `<text x="${LABEL_W - 6}" y="${y + 15}" text-anchor="end" font-family="monospace" font-size="11">${e(d.id)}</text>` +
        `<rect class="bar duration" data-id="${e(d.id)}" data-ms="${d.median}" x="${LABEL_W}" y="${y + 4}" width="${w.toFixed(1)}" height="${ROW_H - 8}" fill="#60a5fa"/>` +
        (d.max > d.min
          ? `<line class="whisker" x1="${x(d.min).toFixed(1)}" x2="${x(d.max).toFixed(1)}" y1="${y + ROW_H / 2}" y2="${y + ROW_H / 2}" stroke="#1e3a8a" stroke-width="1.5"/>`
          : '') +
        `<text x="${(x(d.max) + 6).toFixed(1)}" y="${y + 15}" ${FONT}>${e(formatMs(d.median))}</text></g>`,
    );
  });
  const axisY = TOP + durations.length * ROW_H + 4;
  out.push(
    `<line x1="${LABEL_W}" x2="${LABEL_W + PLOT_W}" y1="${axisY}" y2="${axisY}" stroke="#9ca3af"/>`,
    `<text x="${LABEL_W}" y="${axisY + 16}" ${FONT} fill="#6b7280">0</text>`,
    `<text x="${LABEL_W + PLOT_W}" y="${axisY + 16}" text-anchor="end" ${FONT} fill="#6b7280">${e(formatMs(max))}</text>`,
    '</svg>',
  );
  return out.join('\n');
}

interface Series {
  key: string;
  label: string;
  color: string;
  value: (d: DayStat) => number;
}

const COL_W = 56;
const PLOT_H = 160;

/** Vertical grouped bars per day. `max` fixes the scale (e.g. 1 for a rate). */
function dayBarsSvg(
  cls: string,
  label: string,
  days: readonly DayStat[],
  series: readonly Series[],
  opts: { max?: number; format: (v: number) => string },
): string {
  const max = opts.max ?? niceMax(Math.max(1, ...days.flatMap((d) => series.map((s) => s.value(d)))));
  const left = 50;
  const top = 30;
  const width = left + Math.max(days.length, 3) * COL_W + 230;
  const height = top + PLOT_H + 40;
  const barW = Math.min(20, (COL_W - 12) / series.length);
  const out: string[] = [svgOpen(cls, width, height, label)];
  out.push(`<text x="${left}" y="16" ${FONT} font-weight="bold">${e(label)}</text>`);
  const base = top + PLOT_H;
  out.push(
    `<line x1="${left}" x2="${left + days.length * COL_W}" y1="${base}" y2="${base}" stroke="#9ca3af"/>`,
    `<text x="${left - 6}" y="${base}" text-anchor="end" ${FONT} fill="#6b7280">0</text>`,
    `<text x="${left - 6}" y="${top + 10}" text-anchor="end" ${FONT} fill="#6b7280">${e(opts.format(max))}</text>`,
  );
  days.forEach((d, i) => {
    const x0 = left + i * COL_W + 6;
    out.push(`<g class="day" data-day="${e(d.day)}">`);
    series.forEach((s, j) => {
      const v = s.value(d);
      const h = (v / max) * PLOT_H;
      const x = x0 + j * barW;
      out.push(
        `<rect class="bar ${s.key}" data-day="${e(d.day)}" data-value="${v}" x="${x.toFixed(1)}" y="${(base - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${e(`${d.day} ${s.label}: ${opts.format(v)}`)}</title></rect>`,
      );
    });
    out.push(
      `<text x="${x0 + (series.length * barW) / 2}" y="${base + 16}" text-anchor="middle" ${FONT}>${e(d.day.slice(5))}</text>`,
      '</g>',
    );
  });
  const lx = left + Math.max(days.length, 3) * COL_W + 16;
  series.forEach((s, j) => {
    out.push(
      `<rect class="legend ${s.key}" x="${lx}" y="${top + j * 18}" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${lx + 18}" y="${top + j * 18 + 11}" ${FONT}>${e(s.label)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

export function failuresChartSvg(days: readonly DayStat[]): string {
  const label = 'failures and rollbacks per day (UTC)';
  if (days.length === 0) return emptyChart('failures', label, 'No attempt recorded in this history.');
  return dayBarsSvg(
    'failures',
    label,
    days,
    [
      {
        key: 'failed',
        label: 'failed (+ health checks)',
        color: '#dc2626',
        value: (d) => d.failed + d.healthFailed,
      },
      { key: 'rolled-back', label: 'rolled back', color: '#d97706', value: (d) => d.rolledBack },
    ],
    { format: (v) => String(Math.round(v)) },
  );
}

export function successChartSvg(days: readonly DayStat[]): string {
  const label = 'success rate per day (ok / attempts, UTC)';
  const withAttempts = days.filter((d) => d.attempts > 0);
  if (withAttempts.length === 0) return emptyChart('success', label, 'No attempt recorded in this history.');
  return dayBarsSvg(
    'success',
    label,
    withAttempts,
    [{ key: 'success-rate', label: 'success rate', color: '#059669', value: (d) => d.successRate ?? 0 }],
    { max: 1, format: (v) => `${Math.round(v * 100)}%` },
  );
}
