// Marks: a layer's rows become items (a row, or an aggregate: a mean, a band, a bin, a box), and
// items become SVG. Each layer is drawn as <g class="mark-TYPE role-mark"> holding one element per
// data mark, with role="graphics-symbol", an aria-roledescription ('point', 'line mark', ...) and an
// aria-label of its values ('field title: value' pairs joined by '; '), as Vega writes them.
import { binning, binOf, boxStats, groupBy, mean, sd, type BoxStats } from './data';
import { el, esc, formatNumber, px, type Attrs } from './format';
import type { Scale } from './scale';
import type { Datum, Encoding, FieldDef, LayerSpec } from './spec';

export interface Item {
  /** The row it draws, or the aggregate's row (the group's first row with the aggregate value). */
  d: Datum;
  x?: unknown;
  x2?: number;
  y?: unknown;
  y2?: number;
  box?: BoxStats;
  label: string;
}

export interface PreparedLayer {
  spec: LayerSpec;
  items: Item[];
}

export const isField = (c: unknown): c is FieldDef => typeof c === 'object' && c !== null && 'field' in c && 'type' in c;

/** The name a field has in labels: its title, else (also when the title is null) the field. */
export const titleOf = (f: FieldDef): string => f.title ?? f.field;

/** A value as labels show it: quantities in the axis format (default 12 significant digits). */
export const formatValue = (f: FieldDef, v: unknown): string =>
  f.type === 'quantitative' && typeof v === 'number' ? formatNumber(v, f.axis?.format ?? '') : String(v);

function label(enc: Encoding, d: Datum, over: { x?: string; y?: string } = {}): string {
  const parts: string[] = [];
  const add = (s: string) => { if (!parts.includes(s)) parts.push(s); };
  const { x, y } = enc;
  if (isField(x)) add(`${titleOf(x)}: ${over.x ?? formatValue(x, d[x.field])}`);
  if (enc.x2) add(`${enc.x2.field}: ${isField(x) ? formatValue(x, d[enc.x2.field]) : String(d[enc.x2.field])}`);
  if (isField(y)) add(`${titleOf(y)}: ${over.y ?? formatValue(y, d[y.field])}`);
  else if (y && 'aggregate' in y) add(`${y.title ?? 'count'}: ${over.y}`);
  for (const c of [enc.color, enc.strokeDash]) if (c) add(`${titleOf(c)}: ${formatValue(c, d[c.field])}`);
  if (enc.detail) add(`${enc.detail.field}: ${String(d[enc.detail.field])}`);
  if (enc.text) add(`${enc.text.field}: ${String(d[enc.text.field])}`);
  return parts.join('; ');
}

/** Rows whose positions can be drawn: quantities finite (positive on a log scale), categories present. */
function drawable(enc: Encoding, d: Datum): boolean {
  const ok = (f: FieldDef | undefined, v: unknown) => !f || (f.type === 'nominal' ? v !== undefined && v !== null
    : typeof v === 'number' && Number.isFinite(v) && (f.scale?.type !== 'log' || v > 0));
  const x = isField(enc.x) ? enc.x : undefined, y = isField(enc.y) ? enc.y : undefined;
  return ok(x, x && d[x.field]) && ok(y, y && d[y.field]) && (!enc.x2 || ok(x, d[enc.x2.field]));
}

/** What separates one line (or band) from another: colour, dash and detail values. */
function seriesKey(enc: Encoding, d: Datum): string {
  return JSON.stringify([enc.color, enc.strokeDash, enc.detail].map((c) => (c ? d[c.field] : null)));
}

export function prepareLayer(spec: LayerSpec, rows: readonly Datum[]): PreparedLayer {
  const enc = spec.encoding, { mark } = spec;
  const x = isField(enc.x) ? enc.x : undefined, y = isField(enc.y) ? enc.y : undefined;
  if (mark.type === 'bar' && !x?.bin) throw new Error('bar: needs a binned x field (bars are histograms here)');
  if (mark.type === 'rect' && !enc.x2) throw new Error('rect: needs x and x2 fields');
  const data = rows.filter((d) => drawable(enc, d));
  const num = (d: Datum, f: FieldDef) => d[f.field] as number;
  const items = (): Item[] => {
    if (mark.type === 'boxplot') {
      if (!x || x.type !== 'quantitative' || !y || y.type !== 'nominal') throw new Error('boxplot: needs a quantitative x and a nominal y field');
      return groupBy(data, (d) => JSON.stringify([d[y.field], enc.color && d[enc.color.field]])).map((g) => {
        const box = boxStats(g.map((d) => num(d, x)), typeof mark.extent === 'number' ? mark.extent : 1.5);
        const f = (v: number) => formatValue(x, v);
        return { d: g[0], x: Math.min(box.lo, ...box.outliers), x2: Math.max(box.hi, ...box.outliers), y: g[0][y.field], box,
          label: label({ y, color: enc.color }, g[0]) + `; ${titleOf(x)}: min ${f(box.lo)}, Q1 ${f(box.q1)}, median ${f(box.median)}, Q3 ${f(box.q3)}, max ${f(box.hi)}` };
      });
    }
    if (mark.type === 'bar' && x?.bin) {
      const xs = data.map((d) => num(d, x));
      if (xs.length === 0) return [];
      const b = binning(Math.min(...xs), Math.max(...xs), x.bin.maxbins);
      return groupBy(data, (d) => JSON.stringify([binOf(num(d, x), b), enc.color && d[enc.color.field]])).map((g) => {
        const b0 = binOf(num(g[0], x), b), b1 = Number((b0 + b.step).toPrecision(12));
        return { d: g[0], x: b0, x2: b1, y: g.length, y2: 0,
          label: label(enc, g[0], { x: `${formatValue(x, b0)} – ${formatValue(x, b1)}`, y: String(g.length) }) };
      });
    }
    if (y && (mark.type === 'errorband' || y.aggregate === 'mean')) {
      if (!x) throw new Error(`${mark.type}: needs an x field to aggregate over`);
      return groupBy(data, (d) => `${String(d[x.field])}\0${seriesKey(enc, d)}`).map((g) => {
        const vs = g.map((d) => num(d, y)), m = mean(vs);
        const d = { ...g[0], [y.field]: m };
        if (mark.type !== 'errorband') return { d, x: d[x.field], y: m, label: label(enc, d) };
        const s = sd(vs);
        return { d, x: d[x.field], y: m - s, y2: m + s, label: label(enc, d, { y: `${formatValue(y, m - s)} – ${formatValue(y, m + s)}` }) };
      });
    }
    return data.map((d) => ({ d, x: x && d[x.field], x2: enc.x2 && (d[enc.x2.field] as number), y: y && d[y.field], label: label(enc, d) }));
  };
  return { spec, items: items() };
}

export interface DrawContext {
  x: Scale;
  y: Scale;
  width: number;
  height: number;
  color(v: unknown): string;
  dash(v: unknown): readonly number[] | undefined;
}

const DEFAULT_COLOR = '#4c78a8';

function group(type: string, content: string[], hidden = false): string {
  return `<g class="mark-${type} role-mark"${hidden ? ' aria-hidden="true"' : ` role="graphics-object" aria-roledescription="${type} mark container"`}>${content.join('')}</g>`;
}

/** One data mark: its label, role and role description first (the order Vega writes them in). */
const symbol = (tag: string, it: Item, role: string, attrs: Attrs, content?: string): string =>
  el(tag, { 'aria-label': it.label, role: 'graphics-symbol', 'aria-roledescription': role, ...attrs }, content);

/** The SVG of one prepared layer in a panel. */
export function drawLayer(p: PreparedLayer, c: DrawContext): string {
  const { mark, encoding: enc } = p.spec;
  const colorOf = (it: Item, fallback = DEFAULT_COLOR) => (enc.color ? c.color(it.d[enc.color.field]) : mark.color ?? fallback);
  const dashOf = (it: Item) => {
    const d = enc.strokeDash ? c.dash(it.d[enc.strokeDash.field]) : mark.strokeDash;
    return d && d.join(',') !== '1,0' ? d.join(',') : undefined;
  };
  const X = (it: Item) => (enc.x && 'value' in enc.x ? enc.x.value : c.x.map(it.x));
  const Y = (it: Item) => (enc.y && 'value' in enc.y ? enc.y.value : c.y.map(it.y));
  const opacity = mark.opacity;

  switch (mark.type) {
    case 'line': {
      const lines = groupBy(p.items, (it) => seriesKey(enc, it.d)).map((s) => {
        const pts = s.map((it) => [X(it), Y(it)] as const).sort((a, b) => a[0] - b[0]);
        const path = mark.interpolate === 'step-after'
          ? `M${px(pts[0][0])},${px(pts[0][1])}` + pts.slice(1).map(([x, y]) => `H${px(x)}V${px(y)}`).join('') + (pts.length > 1 ? '' : 'Z')
          : `M${pts.map(([x, y]) => `${px(x)},${px(y)}`).join('L')}${pts.length > 1 ? '' : 'Z'}`;
        const first = s.reduce((a, it) => (X(it) < X(a) ? it : a));
        return symbol('path', first, 'line mark', { d: path, fill: 'none', stroke: colorOf(first), 'stroke-width': mark.strokeWidth ?? 2,
          'stroke-dasharray': dashOf(first), opacity });
      });
      const points = mark.point ? [group('symbol', p.items.map((it) => symbol('circle', it, 'point',
        { cx: X(it), cy: Y(it), r: Math.sqrt(mark.size ?? 30) / 2, fill: colorOf(it) })))] : [];
      return [group('line', lines), ...points].join('');
    }
    case 'point':
      return group('symbol', p.items.map((it) => {
        const fill = mark.filled ? colorOf(it) : 'none', stroke = mark.filled ? undefined : colorOf(it);
        const s = Math.sqrt(mark.size ?? 30), style = { fill, stroke, 'stroke-width': stroke && 2, opacity };
        return mark.shape === 'square'
          ? symbol('rect', it, 'point', { x: X(it) - s / 2, y: Y(it) - s / 2, width: s, height: s, ...style })
          : symbol('circle', it, 'point', { cx: X(it), cy: Y(it), r: s / 2, ...style });
      }));
    case 'rule':
      return group('rule', p.items.map((it) => {
        const horizontal = enc.y !== undefined && enc.x === undefined;
        const at = horizontal ? Y(it) : X(it);
        return symbol('line', it, 'rule mark', { ...(horizontal ? { x1: 0, x2: c.width, y1: at, y2: at } : { x1: at, x2: at, y1: 0, y2: c.height }),
          stroke: colorOf(it, 'black'), 'stroke-width': mark.strokeWidth ?? 1, 'stroke-dasharray': dashOf(it), opacity });
      }));
    case 'text': {
      const size = mark.fontSize ?? 11, anchor = { left: 'start', right: 'end', center: 'middle' }[mark.align ?? 'center'];
      return group('text', p.items.map((it) => symbol('text', it, 'text mark', { x: X(it) + (mark.dx ?? 0), y: Y(it) + (mark.dy ?? 0) + 0.3 * size,
        'text-anchor': anchor, 'font-size': `${size}px`, fill: colorOf(it, 'black'), opacity },
      esc(enc.text ? it.d[enc.text.field] ?? '' : ''))));
    }
    case 'rect':
    case 'bar':
      return group('rect', p.items.map((it) => {
        const [a, b] = [c.x.map(it.x), c.x.map(it.x2)].sort((u, v) => u - v);
        const gap = mark.type === 'bar' ? Math.min(0.5, (b - a) / 4) : 0; // a pixel between bars
        const [top, bottom] = it.y === undefined ? [0, c.height] : [c.y.map(it.y), c.y.map(it.y2 ?? 0)].sort((u, v) => u - v);
        return symbol('rect', it, mark.type === 'bar' ? 'bar' : 'rect mark', { x: a + gap, y: top, width: b - a - 2 * gap, height: bottom - top,
          fill: colorOf(it), opacity });
      }));
    case 'errorband':
      return group('area', groupBy(p.items, (it) => seriesKey(enc, it.d)).map((s) => {
        const pts = [...s].sort((a, b) => X(a) - X(b));
        const upper = pts.map((it) => `${px(X(it))},${px(c.y.map(it.y2))}`), lower = pts.map((it) => `${px(X(it))},${px(Y(it))}`).reverse();
        return symbol('path', pts[0], 'errorband', { d: `M${[...upper, ...lower].join('L')}Z`, fill: colorOf(s[0]), opacity: opacity ?? 0.3 });
      }));
    case 'boxplot': {
      const t = Math.min(14, c.y.step * 0.8);
      const parts = p.items.map((it) => {
        const b = it.box!, yc = Y(it), col = colorOf(it);
        const whiskers = [[b.lo, b.q1], [b.q3, b.hi]].map(([u, v]) => el('line', { x1: c.x.map(u), x2: c.x.map(v), y1: yc, y2: yc, stroke: '#333' })).join('');
        const [a, z] = [c.x.map(b.q1), c.x.map(b.q3)].sort((u, v) => u - v);
        const box = symbol('rect', it, 'box', { x: a, y: yc - t / 2, width: Math.max(1, z - a), height: t, fill: col })
          + el('line', { x1: c.x.map(b.median), x2: c.x.map(b.median), y1: yc - t / 2, y2: yc + t / 2, stroke: 'white', 'stroke-width': 1.5 });
        const outliers = b.outliers.map((v) => symbol('circle', { ...it, label: `${it.label.split(';')[0]}; ${titleOf(enc.x as FieldDef)}: ${formatValue(enc.x as FieldDef, v)}` },
          'point', { cx: c.x.map(v), cy: yc, r: Math.sqrt(30) / 2, fill: 'none', stroke: col, 'stroke-width': 1.5 }));
        return { whiskers, box, outliers: outliers.join('') };
      });
      return group('rule', parts.map((q) => q.whiskers), true) + group('rect', parts.map((q) => q.box)) + group('symbol', parts.map((q) => q.outliers));
    }
  }
}
