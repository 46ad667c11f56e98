// Axes and legends, in Vega-Lite's look: grey domain lines and ticks, light grid lines on
// quantitative axes, 10 px labels, 11 px titles; legends as symbols (categories) or a gradient.
import { el, esc, formatNumber, textWidth } from './format';
import { blues, linearTicks, type Scale } from './scale';

const AXIS = '#888', GRID = '#ddd', LABEL = 10, TITLE = 11, TICK = 5;

export interface AxisSpec {
  scale: Scale;
  orient: 'left' | 'bottom' | 'top';
  /** Pixels along the axis, and across the plot (for the grid). */
  length: number;
  across: number;
  title?: string;
  format?: string;
  minStep?: number;
}

function ticks(a: AxisSpec): Array<{ at: number; label: string }> {
  return a.scale.ticks(Math.ceil(a.length / 40), a.format, a.minStep).map((t) => ({ at: a.scale.map(t.value), label: t.label }));
}

/** The room an axis takes outside the plot, in pixels. */
export function axisSize(a: AxisSpec): number {
  const labels = a.orient === 'left' ? Math.max(0, ...ticks(a).map((t) => textWidth(t.label, LABEL))) : LABEL + 1;
  return TICK + 2 + labels + (a.title ? TITLE + 6 : 0);
}

/** The grid (drawn under the marks) and the axis of a plot whose top-left corner is (0, 0). */
export function drawAxis(a: AxisSpec): { grid: string; axis: string } {
  const ts = ticks(a), left = a.orient === 'left', sign = a.orient === 'bottom' ? 1 : -1, base = a.orient === 'bottom' ? a.across : 0;
  const line = (at: number, from: number, to: number, stroke: string) =>
    el('line', left ? { x1: from, x2: to, y1: at, y2: at, stroke } : { x1: at, x2: at, y1: from, y2: to, stroke });
  const grid = a.scale.kind === 'point' ? '' : ts.map((t) => line(t.at, 0, a.across, GRID)).join('');
  // Labels that would overlap: every k-th only (Vega's "parity" rule).
  const widest = Math.max(0, ...ts.map((t) => textWidth(t.label, LABEL)));
  const gap = ts.length > 1 ? Math.abs(ts[1].at - ts[0].at) : Infinity;
  const k = Math.max(1, Math.ceil((left ? LABEL + 2 : widest + 4) / gap));
  const labels = ts.filter((_, i) => i % k === 0).map((t) => (left
    ? el('text', { x: -TICK - 2, y: t.at + 3, 'text-anchor': 'end', 'font-size': `${LABEL}px`, fill: '#000' }, esc(t.label))
    : el('text', { x: t.at, y: base + sign * (TICK + 2) + (sign > 0 ? LABEL - 1 : 0), 'text-anchor': 'middle', 'font-size': `${LABEL}px`, fill: '#000' }, esc(t.label))));
  let title = '';
  if (a.title) {
    const off = axisSize(a) - 3;
    title = left
      ? el('text', { transform: `translate(${-off + TITLE - 2},${a.length / 2}) rotate(-90)`, 'text-anchor': 'middle', 'font-size': `${TITLE}px`, fill: '#000' }, esc(a.title))
      : el('text', { x: a.length / 2, y: base + sign * off + (sign > 0 ? 0 : TITLE - 2), 'text-anchor': 'middle', 'font-size': `${TITLE}px`, fill: '#000' }, esc(a.title));
  }
  const kind = a.scale.kind === 'point' ? 'discrete' : a.scale.kind;
  const desc = `${left ? 'Y' : 'X'}-axis${a.title ? ` titled '${a.title}'` : ''} for a ${kind} scale`
    + (ts.length ? ` with values from ${ts[0].label} to ${ts[ts.length - 1].label}` : '');
  const axis = el('g', { class: 'role-axis', role: 'graphics-symbol', 'aria-roledescription': 'axis', 'aria-label': desc },
    [el('line', left ? { x1: 0, x2: 0, y1: 0, y2: a.length, stroke: AXIS } : { x1: 0, x2: a.length, y1: base, y2: base, stroke: AXIS }), ...ts.map((t) => line(t.at, base, base + sign * TICK, AXIS)), ...labels, title].join(''));
  return { grid: grid && el('g', { class: 'role-grid', 'aria-hidden': 'true' }, grid), axis };
}

export type Legend =
  | { kind: 'symbols'; title: string; symbol: 'circle' | 'hollow' | 'stroke'; entries: Array<{ label: string; color: string; dash?: string }> }
  | { kind: 'gradient'; title: string; domain: readonly [number, number]; format?: string };

const ROW = 16, GRADIENT = 120;

export function legendSize(l: Legend): { width: number; height: number } {
  const title = textWidth(l.title, TITLE) + 4;
  if (l.kind === 'gradient') return { width: Math.max(title, 60), height: ROW + GRADIENT + 12 };
  return { width: Math.max(title, 20 + Math.max(...l.entries.map((e) => textWidth(e.label, LABEL)))), height: ROW + ROW * l.entries.length };
}

/** A legend with its top-left corner at (x, y); `id` names its gradient. */
export function drawLegend(l: Legend, x: number, y: number, id: string): string {
  const title = el('text', { x: 0, y: 10, 'font-size': `${TITLE}px`, 'font-weight': 'bold', fill: '#000' }, esc(l.title));
  let body: string, desc: string;
  if (l.kind === 'gradient') {
    const [lo, hi] = l.domain, stops = Array.from({ length: 11 }, (_, i) => i / 10);
    const grad = el('linearGradient', { id, x1: 0, y1: 1, x2: 0, y2: 0 }, stops.map((t) => el('stop', { offset: t, 'stop-color': blues(t) })).join(''));
    const at = (v: number) => ROW + 4 + GRADIENT * (hi > lo ? (hi - v) / (hi - lo) : 0.5);
    const labels = linearTicks(lo, hi, 5).map((v) => el('text', { x: 20, y: at(v) + 3, 'font-size': `${LABEL}px`, fill: '#000' }, esc(formatNumber(v, l.format ?? ''))));
    body = `<defs>${grad}</defs>` + el('rect', { x: 0, y: ROW + 4, width: 14, height: GRADIENT, fill: `url(#${id})` }) + labels.join('');
    desc = `Gradient legend titled '${l.title}' from ${formatNumber(lo, l.format ?? '')} to ${formatNumber(hi, l.format ?? '')}`;
  } else {
    body = l.entries.map((e, i) => {
      const cy = ROW + ROW * i + 7;
      const sym = l.symbol === 'stroke'
        ? el('line', { x1: 0, x2: 14, y1: cy, y2: cy, stroke: e.color, 'stroke-width': 2, 'stroke-dasharray': e.dash })
        : el('circle', { cx: 6, cy, r: 4.5, fill: l.symbol === 'hollow' ? 'none' : e.color, stroke: l.symbol === 'hollow' ? e.color : undefined, 'stroke-width': l.symbol === 'hollow' ? 1.5 : undefined });
      return sym + el('text', { x: 20, y: cy + 3.5, 'font-size': `${LABEL}px`, fill: '#000' }, esc(e.label));
    }).join('');
    desc = `Symbol legend titled '${l.title}' with ${l.entries.length} values: ${l.entries.map((e) => e.label).join(', ')}`;
  }
  return el('g', { class: 'role-legend', role: 'graphics-symbol', 'aria-roledescription': 'legend', 'aria-label': desc, transform: `translate(${x},${y})` }, title + body);
}
