/**
 * The migration DAG as a diagram: mermaid text for markdown, and an inline SVG (hand-written
 * layered layout: base in the middle column on top, ours on the left, theirs on the right, one
 * row per migration in each side's order; edges from parent to child with an arrow marker).
 */
import type { DagNode, ReportSide } from './model';

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export function renderMermaid(
  nodes: readonly DagNode[],
  labels: { base: string; ours: string; theirs: string },
): string {
  const key = new Map(nodes.map((n, i) => [n.id, `m${i}`] as const));
  const q = (s: string) => s.replace(/"/g, '#quot;');
  const lines = ['flowchart TB'];
  for (const side of ['base', 'ours', 'theirs'] as const) {
    const inSide = nodes.filter((n) => n.side === side);
    if (inSide.length === 0) continue;
    lines.push(`  subgraph side_${side}["${q(`${side}: ${labels[side]}`)}"]`);
    for (const n of inSide) lines.push(`    ${key.get(n.id)}["${q(n.id)}"]`);
    lines.push('  end');
  }
  for (const n of nodes) for (const p of n.parents) lines.push(`  ${key.get(p)} --> ${key.get(n.id)}`);
  lines.push('  classDef ours fill:#dbeafe,stroke:#1d4ed8');
  lines.push('  classDef theirs fill:#fef3c7,stroke:#b45309');
  lines.push('  classDef base fill:#f3f4f6,stroke:#4b5563');
  for (const side of ['base', 'ours', 'theirs'] as const) {
    const ids = nodes.filter((n) => n.side === side).map((n) => key.get(n.id));
    if (ids.length) lines.push(`  class ${ids.join(',')} ${side}`);
  }
  return lines.join('\n');
}

export interface PlacedNode extends DagNode {
  x: number;
  y: number;
}

export const NODE_W = 300;
export const NODE_H = 36;
const COL_GAP = 40;
const ROW_GAP = 28;
const PAD = 20;
const HEADER = 30;

const COLUMN: Record<ReportSide, number> = { ours: 0, base: 1, theirs: 2 };

/** Positions (top-left corners): base rows first, then each side's rows below them. */
export function layoutDag(nodes: readonly DagNode[]): {
  placed: PlacedNode[];
  width: number;
  height: number;
} {
  const baseCount = nodes.filter((n) => n.side === 'base').length;
  const rowInSide: Record<ReportSide, number> = { base: 0, ours: 0, theirs: 0 };
  const placed = nodes.map((n) => {
    const row = n.side === 'base' ? rowInSide.base++ : baseCount + rowInSide[n.side]++;
    return {
      ...n,
      x: PAD + COLUMN[n.side] * (NODE_W + COL_GAP),
      y: PAD + HEADER + row * (NODE_H + ROW_GAP),
    };
  });
  const rows = baseCount + Math.max(rowInSide.ours, rowInSide.theirs);
  return {
    placed,
    width: 2 * PAD + 3 * NODE_W + 2 * COL_GAP,
    height: 2 * PAD + HEADER + Math.max(rows, 1) * (NODE_H + ROW_GAP),
  };
}

const FILL: Record<ReportSide, { fill: string; stroke: string }> = {
  base: { fill: '#f3f4f6', stroke: '#4b5563' },
  ours: { fill: '#dbeafe', stroke: '#1d4ed8' },
  theirs: { fill: '#fef3c7', stroke: '#b45309' },
};

/** A self-contained SVG element (no external references). */
export function renderSvg(
  nodes: readonly DagNode[],
  labels: { base: string; ours: string; theirs: string },
): string {
  const { placed, width, height } = layoutDag(nodes);
  const at = new Map(placed.map((p) => [p.id, p] as const));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="braid-dag" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="migration DAG">`,
    '<defs><marker id="braid-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#374151"/></marker></defs>',
  );
  for (const side of ['ours', 'base', 'theirs'] as const) {
    const x = PAD + COLUMN[side] * (NODE_W + COL_GAP) + NODE_W / 2;
    out.push(
      `<text class="column" x="${x}" y="${PAD + 16}" text-anchor="middle" font-family="sans-serif" font-size="14" font-weight="bold">${escapeXml(`${side}: ${labels[side]}`)}</text>`,
    );
  }
  for (const n of placed) {
    for (const pid of n.parents) {
      const p = at.get(pid);
      if (!p) continue;
      const x1 = p.x + NODE_W / 2;
      const y1 = p.y + NODE_H;
      const x2 = n.x + NODE_W / 2;
      const y2 = n.y;
      const my = (y1 + y2) / 2;
      out.push(
        `<path class="edge" data-from="${escapeXml(pid)}" data-to="${escapeXml(n.id)}" d="M ${x1} ${y1} C ${x1} ${my}, ${x2} ${my}, ${x2} ${y2}" fill="none" stroke="#374151" stroke-width="1.5" marker-end="url(#braid-arrow)"/>`,
      );
    }
  }
  for (const n of placed) {
    const c = FILL[n.side];
    out.push(
      `<g class="node ${n.side}" data-id="${escapeXml(n.id)}"><rect x="${n.x}" y="${n.y}" width="${NODE_W}" height="${NODE_H}" rx="6" fill="${c.fill}" stroke="${c.stroke}"/>` +
        `<text x="${n.x + NODE_W / 2}" y="${n.y + NODE_H / 2 + 4}" text-anchor="middle" font-family="monospace" font-size="12">${escapeXml(n.id)}</text></g>`,
    );
  }
  out.push('</svg>');
  return out.join('\n');
}
