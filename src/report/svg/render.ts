// A figure description (./spec.ts) to a standalone SVG document: panels (one view, facets, or
// views stacked), their scales (shared or independent), axes, marks and legends, laid out on a grid.
// Pure and deterministic: the same chart gives the same bytes.
import { applyFilters, distinct } from './data';
import { el, esc } from './format';
import { axisSize, drawAxis, drawLegend, legendSize, type AxisSpec, type Legend } from './guides';
import { drawLayer, isField, prepareLayer, titleOf, type PreparedLayer } from './marks';
import { blues, pointScale, quantDomain, quantScale, TABLEAU10, type Scale } from './scale';
import type { Chart, CountDef, Datum, FacetField, FieldDef, LayerSpec, ViewSpec } from './spec';

const PAD = 5, GAP = 20, HEADER = 16, SIZE = 200, STEP = 20;
/** Vega-Lite's default dash patterns for a strokeDash field. */
const DASHES = [[1, 0], [4, 2], [2, 1], [1, 1], [1, 2, 4, 2]];

interface Panel {
  view: ViewSpec;
  layers: PreparedLayer[];
  /** Facet labels above the panel: column labels centred, row labels at the left. */
  headers: Array<{ text: string; anchor: 'middle' | 'start' }>;
  row: number;
  col: number;
}

const layersOf = (v: ViewSpec): readonly LayerSpec[] => ('layer' in v ? v.layer : [v]);

const ascending = (a: unknown, b: unknown): number =>
  (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0);

function panelsOf(chart: Chart): Panel[] {
  const values = chart.data.values;
  const make = (view: ViewSpec, rows: readonly Datum[], headers: Panel['headers'], row: number, col: number): Panel =>
    ({ view, headers, row, col, layers: layersOf(view).map((l) => prepareLayer(l, applyFilters(rows, l.transform))) });
  if ('vconcat' in chart) return chart.vconcat.map((v, i) => make(v, values, [], i, 0));
  if (!('facet' in chart)) return [make(chart, values, [], 0, 0)];
  const f = chart.facet;
  const cats = (ff: FacetField) => (ff.sort ? [...ff.sort] : distinct(values.map((d) => d[ff.field])));
  // no data: one empty panel, so the figure still shows its axes
  if (values.length === 0) return [make(chart.spec, [], [], 0, 0)];
  if ('field' in f) {
    const vs = cats(f), cols = chart.columns ?? vs.length;
    return vs.map((v, i) => make(chart.spec, values.filter((d) => d[f.field] === v), [{ text: String(v), anchor: 'middle' }], Math.floor(i / cols), i % cols));
  }
  const rows = f.row ? cats(f.row) : [undefined], cols = f.column ? cats(f.column) : [undefined];
  return rows.flatMap((r, i) => cols.map((c, j) => make(chart.spec,
    values.filter((d) => (!f.row || d[f.row.field] === r) && (!f.column || d[f.column.field] === c)),
    [...(f.column && i === 0 ? [{ text: String(c), anchor: 'middle' as const }] : []), ...(f.row ? [{ text: String(r), anchor: 'start' as const }] : [])], i, j)));
}

/** The first field a panel's layers put on x or y (it gives the axis and scale settings). */
function channelDef(p: Panel, ch: 'x' | 'y'): FieldDef | CountDef | undefined {
  for (const l of p.layers) {
    const e = l.spec.encoding[ch];
    if (e && !('value' in e)) return e;
  }
  return undefined;
}

/** The domain of x or y over panels that share the scale: categories, or [min, max]. */
function domainOf(group: readonly Panel[], ch: 'x' | 'y', def: FieldDef | CountDef): unknown[] {
  const vals: unknown[] = [];
  for (const p of group) {
    for (const l of p.layers) {
      const e = l.spec.encoding[ch];
      if (!e || 'value' in e) continue;
      for (const it of l.items) vals.push(...[it[ch], ch === 'x' ? it.x2 : it.y2].filter((v) => v !== undefined));
    }
  }
  const field = isField(def) ? def : undefined;
  if (def.type === 'nominal') return field?.scale?.domain ? [...field.scale.domain] : field?.sort === null ? distinct(vals) : distinct(vals).sort(ascending);
  if (field?.scale?.domain) return field.scale.domain.map(Number);
  return quantDomain(vals as number[], { kind: field?.scale?.type ?? 'linear', zero: field?.scale?.zero ?? (ch === 'y' && !field?.bin), nice: true });
}

function colorScale(panels: readonly Panel[]): { map(v: unknown): string; legend?: Legend } {
  const layers = panels.flatMap((p) => p.layers).filter((l) => l.spec.encoding.color);
  if (layers.length === 0) return { map: () => TABLEAU10[0] };
  const def = layers[0].spec.encoding.color!;
  const vals = layers.flatMap((l) => l.items.map((it) => it.d[def.field]));
  if (def.type === 'quantitative') {
    const nums = vals.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    const lo = Math.min(...nums), hi = Math.max(...nums);
    return { map: (v) => blues(hi > lo ? ((v as number) - lo) / (hi - lo) : 0.5),
      legend: nums.length && def.legend !== null ? { kind: 'gradient', title: titleOf(def), domain: [lo, hi], format: def.axis?.format } : undefined };
  }
  const domain = def.scale?.domain ? [...def.scale.domain] : distinct(vals).sort(ascending);
  const map = (v: unknown) => TABLEAU10[Math.max(0, domain.indexOf(v as string)) % TABLEAU10.length];
  const m = layers[0].spec.mark;
  const symbol = m.type === 'line' ? (m.point ? 'circle' : 'stroke') : m.type === 'rule' ? 'stroke' : m.type === 'point' && !m.filled ? 'hollow' : 'circle';
  return { map, legend: domain.length && def.legend !== null ? { kind: 'symbols', title: titleOf(def), symbol, entries: domain.map((v) => ({ label: String(v), color: map(v) })) } : undefined };
}

function dashScale(panels: readonly Panel[]): { map(v: unknown): readonly number[] | undefined; legend?: Legend } {
  const layers = panels.flatMap((p) => p.layers).filter((l) => l.spec.encoding.strokeDash);
  if (layers.length === 0) return { map: () => undefined };
  const def = layers[0].spec.encoding.strokeDash!;
  const domain = def.scale?.domain ? [...def.scale.domain] : distinct(layers.flatMap((l) => l.items.map((it) => it.d[def.field]))).sort(ascending);
  const range = def.scale?.range ?? DASHES;
  const map = (v: unknown) => range[Math.max(0, domain.indexOf(v as string)) % range.length];
  return { map, legend: domain.length && def.legend !== null ? { kind: 'symbols', title: titleOf(def), symbol: 'stroke',
    entries: domain.map((v) => ({ label: String(v), color: '#000', dash: map(v).join(',') })) } : undefined };
}

/** Renders a chart to an SVG document (a string). */
export function renderSvg(chart: Chart): string {
  const panels = panelsOf(chart);
  const stacked = 'vconcat' in chart;
  // Scales: per panel where independent (always for stacked views), else one domain for all.
  const domains = new Map<Panel, { x?: unknown[]; y?: unknown[] }>(panels.map((p) => [p, {}]));
  for (const ch of ['x', 'y'] as const) {
    const groups = stacked || chart.resolve?.scale[ch] === 'independent' ? panels.map((p) => [p]) : [panels];
    for (const g of groups) {
      const def = g.map((p) => channelDef(p, ch)).find((d) => d !== undefined);
      const dom = def && domainOf(g, ch, def);
      for (const p of g) domains.get(p)![ch] = dom;
    }
  }
  const color = colorScale(panels), dash = dashScale(panels);

  const laid = panels.map((p) => {
    const xd = channelDef(p, 'x'), yd = channelDef(p, 'y');
    const { x: xdom = [0, 1], y: ydom = [0, 1] } = domains.get(p)!;
    const width = p.view.width ?? (xd?.type === 'nominal' ? STEP * Math.max(1, xdom.length) : SIZE);
    const height = p.view.height ?? (yd?.type === 'nominal' ? STEP * Math.max(1, ydom.length) : SIZE);
    const scale = (def: FieldDef | CountDef | undefined, dom: unknown[], r: [number, number]): Scale => (def?.type === 'nominal'
      ? pointScale(dom, r) : quantScale((isField(def) && def.scale?.type) || 'linear', dom as [number, number], r));
    const x = scale(xd, xdom, [0, width]), y = scale(yd, ydom, yd?.type === 'nominal' ? [0, height] : [height, 0]);
    const axis = (def: FieldDef | CountDef | undefined, sc: Scale, ch: 'x' | 'y', showTitle: boolean): AxisSpec | undefined => {
      if (!def || (isField(def) && def.axis === null)) return undefined;
      const a = isField(def) ? def.axis ?? undefined : undefined;
      const title = isField(def) ? (def.title === null ? undefined : def.title ?? def.field) : def.title ?? 'count';
      return { scale: sc, orient: ch === 'y' ? 'left' : a?.orient ?? 'bottom', length: ch === 'x' ? width : height, across: ch === 'x' ? height : width,
        title: showTitle ? title : undefined, format: a?.format, minStep: a?.tickMinStep ?? (isField(def) ? undefined : 1) };
    };
    // The x title once per column, under its lowest panel (every stacked view has its own x).
    const lowest = stacked || !panels.some((q) => q.col === p.col && q.row > p.row);
    const xa = axis(xd, x, 'x', lowest), ya = axis(yd, y, 'y', true);
    const top = p.headers.length * HEADER + (xa?.orient === 'top' ? axisSize(xa) : 0);
    return { p, x, y, width, height, xa, ya, left: ya ? axisSize(ya) : 0, top, bottom: xa?.orient === 'bottom' ? axisSize(xa) : 0 };
  });

  // Grid: one left margin and panel width for all columns; each row as tall as its tallest panel.
  const left = Math.max(0, ...laid.map((l) => l.left)), width = Math.max(...laid.map((l) => l.width));
  const nrows = Math.max(...panels.map((p) => p.row)) + 1, ncols = Math.max(...panels.map((p) => p.col)) + 1;
  const rowOf = (r: number, f: (l: (typeof laid)[number]) => number) => Math.max(0, ...laid.filter((l) => l.p.row === r).map(f));
  const rowY: number[] = [PAD];
  for (let r = 0; r < nrows; r++) rowY.push(rowY[r] + rowOf(r, (l) => l.top) + rowOf(r, (l) => l.height) + rowOf(r, (l) => l.bottom) + GAP);
  const stride = left + width + GAP;
  const gridRight = PAD + ncols * stride - GAP + 15; // room for the last tick label

  const body = laid.map((l) => {
    const ox = PAD + l.p.col * stride + left, oy = rowY[l.p.row] + rowOf(l.p.row, (q) => q.top);
    const above = l.xa?.orient === 'top' ? axisSize(l.xa) : 0;
    const headers = l.p.headers.map((h, i) => el('text', { x: h.anchor === 'middle' ? l.width / 2 : 0, y: -above - (l.p.headers.length - 1 - i) * HEADER - 5,
      'text-anchor': h.anchor, 'font-size': '11px', fill: '#000' }, esc(h.text)));
    const xa = l.xa && drawAxis(l.xa), ya = l.ya && drawAxis(l.ya);
    const ctx = { x: l.x, y: l.y, width: l.width, height: l.height, color: color.map, dash: dash.map };
    return el('g', { class: 'panel', transform: `translate(${ox},${oy})` }, [
      headers.length ? el('g', { class: 'role-header' }, headers.join('')) : '',
      el('rect', { class: 'background', width: l.width, height: l.height, fill: 'none', stroke: '#ddd' }),
      xa?.grid ?? '', ya?.grid ?? '',
      ...l.p.layers.map((layer) => drawLayer(layer, ctx)),
      xa?.axis ?? '', ya?.axis ?? '',
    ].join(''));
  });

  const legends = [color.legend, dash.legend].filter((g): g is Legend => g !== undefined);
  let ly = PAD, legendWidth = 0;
  const lx = gridRight + 10;
  const legendSvg = legends.map((g, i) => {
    const s = legendSize(g), out = drawLegend(g, lx, ly, `gradient-${i}`);
    ly += s.height + 10;
    legendWidth = Math.max(legendWidth, s.width);
    return out;
  });
  const W = Math.ceil((legends.length ? lx + legendWidth : gridRight) + PAD), H = Math.ceil(Math.max(rowY[nrows] - GAP, ly) + PAD);
  return `<svg xmlns="http://www.w3.org/2000/svg" class="marks" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`
    + `<rect width="${W}" height="${H}" fill="white"/>${body.join('')}${legendSvg.join('')}</svg>`;
}
