// Scales: linear and log for quantities (round "nice" domains and ticks, as d3 makes them), point
// scales for categories, and the colour scales (Vega-Lite's tableau10 for categories, its blues
// ramp for quantities, so the figures keep their colours).
import { formatNumber } from './format';

const E10 = Math.sqrt(50), E5 = Math.sqrt(10), E2 = Math.sqrt(2);

/** d3's tickIncrement: a round step for about `count` ticks; negative: the inverse of a step below 1. */
function tickIncrement(lo: number, hi: number, count: number): number {
  const step = (hi - lo) / Math.max(1, count);
  const power = Math.floor(Math.log10(step));
  const error = step / 10 ** power;
  const f = error >= E10 ? 10 : error >= E5 ? 5 : error >= E2 ? 2 : 1;
  return power >= 0 ? f * 10 ** power : -(10 ** -power) / f;
}

/** The tick step for [lo, hi] and about `count` ticks (never below minStep). */
export function tickStep(lo: number, hi: number, count: number, minStep = 0): number {
  const inc = tickIncrement(lo, hi, count);
  return Math.max(minStep, inc < 0 ? -1 / inc : inc);
}

/** Round ticks in [lo, hi], about `count` of them (d3's ticks, computed without drift). */
export function linearTicks(lo: number, hi: number, count: number, minStep = 0): number[] {
  if (!(hi > lo)) return Number.isFinite(lo) ? [lo] : [];
  const inc = tickIncrement(lo, hi, count);
  if (inc > 0 && inc >= minStep) return range(Math.ceil(lo / inc), Math.floor(hi / inc), (i) => i * inc);
  if (inc < 0 && -1 / inc >= minStep) return range(Math.ceil(lo * -inc), Math.floor(hi * -inc), (i) => i / -inc);
  const step = minStep;
  return range(Math.ceil(lo / step), Math.floor(hi / step), (i) => i * step);
}

function range(i0: number, i1: number, f: (i: number) => number): number[] {
  const out: number[] = [];
  for (let i = i0; i <= i1; i++) out.push(f(i) === 0 ? 0 : f(i));
  return out;
}

/** d3's linear nice(): widens [lo, hi] to multiples of the tick step until the step settles. */
export function niceLinear(lo: number, hi: number, count = 10): [number, number] {
  let prev: number | undefined;
  for (let k = 0; k < 10 && hi > lo; k++) {
    const inc = tickIncrement(lo, hi, count);
    if (inc === prev) break;
    if (inc > 0) [lo, hi] = [Math.floor(lo / inc) * inc, Math.ceil(hi / inc) * inc];
    else [lo, hi] = [Math.ceil(lo * inc) / inc, Math.floor(hi * inc) / inc];
    prev = inc;
  }
  return [lo, hi];
}

/** Log ticks: each power of ten in [lo, hi], with 2 and 5 between them when fewer than 3 decades. */
export function logTicks(lo: number, hi: number): number[] {
  const k0 = Math.floor(Math.log10(lo)), k1 = Math.ceil(Math.log10(hi));
  const mult = k1 - k0 < 3 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let k = k0; k <= k1; k++) {
    for (const m of mult) {
      const v = Number((m * 10 ** k).toPrecision(12));
      if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12)) out.push(v);
    }
  }
  return out;
}

/** A position scale: a quantity or a category to pixels. */
export interface Scale {
  kind: 'linear' | 'log' | 'point';
  /** [min, max], or the categories in order. */
  domain: readonly unknown[];
  /** Pixels of domain[0] and domain[end] (y runs upwards: [height, 0]). */
  range: readonly [number, number];
  map(v: unknown): number;
  /** Pixels per category (point scales); 0 for quantities. */
  step: number;
  /** Where to put ticks, with their labels. */
  ticks(count: number, format?: string, minStep?: number): Array<{ value: unknown; label: string }>;
}

export function quantScale(kind: 'linear' | 'log', [d0, d1]: readonly [number, number], r: readonly [number, number]): Scale {
  const f = kind === 'log' ? Math.log10 : (v: number) => v;
  const [f0, f1] = [f(d0), f(d1)];
  const map = (v: unknown): number => {
    const t = f1 === f0 ? 0.5 : (f(v as number) - f0) / (f1 - f0);
    return r[0] + t * (r[1] - r[0]);
  };
  const ticks = (count: number, format?: string, minStep = 0) => {
    if (kind === 'log') return logTicks(d0, d1).map((v) => ({ value: v, label: formatNumber(v, format ?? '') }));
    const vs = linearTicks(d0, d1, count, minStep);
    // d3's default tick format: fixed digits enough for the step, thousands grouped
    const step = vs.length > 1 ? vs[1] - vs[0] : Math.abs(vs[0] ?? 1) || 1;
    const spec = format ?? `,.${Math.max(0, -Math.floor(Math.log10(step) + 1e-9))}f`;
    return vs.map((v) => ({ value: v, label: formatNumber(v, spec) }));
  };
  return { kind, domain: [d0, d1], range: r, map, step: 0, ticks };
}

/** Categories spread evenly, each in the middle of its step (Vega's point scale, padding 0.5). */
export function pointScale(cats: readonly unknown[], r: readonly [number, number]): Scale {
  const step = (r[1] - r[0]) / Math.max(1, cats.length);
  const index = new Map(cats.map((c, i) => [c, i]));
  return {
    kind: 'point', domain: cats, range: r, step: Math.abs(step),
    map: (v) => r[0] + step * ((index.get(v) ?? 0) + 0.5),
    ticks: () => cats.map((c) => ({ value: c, label: String(c) })),
  };
}

/**
 * A quantitative domain from the data: widened to 0 with `zero`, made round with `nice`; a single
 * value gets room around it; no data gives [0, 1] (log: [1, 10]).
 */
export function quantDomain(values: readonly number[], opts: { kind: 'linear' | 'log'; zero: boolean; nice: boolean }): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (opts.kind === 'log') {
    if (!(lo <= hi)) return [1, 10];
    if (lo === hi) [lo, hi] = [lo / 10, hi * 10];
    return opts.nice ? [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))] : [lo, hi];
  }
  if (!(lo <= hi)) [lo, hi] = [0, 1];
  if (opts.zero) [lo, hi] = [Math.min(lo, 0), Math.max(hi, 0)];
  if (lo === hi) [lo, hi] = lo === 0 ? [0, 1] : [lo - Math.abs(lo) / 10, hi + Math.abs(hi) / 10];
  return opts.nice ? niceLinear(lo, hi) : [lo, hi];
}

/** Vega-Lite's default category colours, in its order. */
export const TABLEAU10 = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

// Vega's "blues" scheme, light to dark: its default ramp for a quantitative colour.
const BLUES = 'cfe1f2bed8eca8cee58fc1de74b2d75ba3cf4592c63181bd206fb2125ca40a4a90'.match(/.{6}/g)!
  .map((h) => [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)));

/** The blues ramp at t in [0, 1]. */
export function blues(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (BLUES.length - 1);
  const i = Math.min(BLUES.length - 2, Math.floor(x)), f = x - i;
  const c = BLUES[i].map((a, k) => Math.round(a + f * (BLUES[i + 1][k] - a)));
  return `rgb(${c.join(', ')})`;
}
