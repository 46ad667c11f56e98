// The statistics marks draw from rows: groups, mean and sd, quartiles, bins.
import type { Datum, Filter } from './spec';

export function applyFilters(rows: readonly Datum[], filters: readonly Filter[] = []): Datum[] {
  return rows.filter((d) => filters.every(({ filter: f }) => d[f.field] === f.equal));
}

/** Rows grouped by a key, groups in order of first appearance. */
export function groupBy<T>(rows: readonly T[], key: (r: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const g = groups.get(k);
    if (g) g.push(r); else groups.set(k, [r]);
  }
  return [...groups.values()];
}

/** Distinct values in order of first appearance. */
export function distinct(values: readonly unknown[]): unknown[] {
  return [...new Set(values)];
}

export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Sample standard deviation; 0 for fewer than two values (a band of no width). */
export function sd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** The p-quantile of sorted values, interpolated linearly (R-7, as d3 and Vega compute it). */
export function quantile(sorted: readonly number[], p: number): number {
  const h = (sorted.length - 1) * p, i = Math.floor(h);
  return i + 1 < sorted.length ? sorted[i] + (h - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

export interface BoxStats {
  q1: number;
  median: number;
  q3: number;
  /** Whisker ends: the furthest values within `k` IQRs of the box. */
  lo: number;
  hi: number;
  outliers: number[];
}

export function boxStats(values: readonly number[], k: number): BoxStats {
  const s = [...values].sort((a, b) => a - b);
  const q1 = quantile(s, 0.25), median = quantile(s, 0.5), q3 = quantile(s, 0.75);
  const inside = s.filter((v) => v >= q1 - k * (q3 - q1) && v <= q3 + k * (q3 - q1));
  return { q1, median, q3, lo: inside[0], hi: inside[inside.length - 1], outliers: s.filter((v) => !inside.includes(v)) };
}

/**
 * Vega's bin rule: a step of 1, 2 or 5 times a power of ten giving at most `maxbins` bins over
 * [lo, hi], the ends moved out to multiples of it.
 */
export function binning(lo: number, hi: number, maxbins: number): { start: number; stop: number; step: number } {
  const span = hi - lo || Math.abs(lo) || 1;
  let step = 10 ** (Math.round(Math.log10(span)) - Math.ceil(Math.log10(maxbins)));
  while (Math.ceil(span / step) > maxbins) step *= 10;
  for (const div of [5, 2]) if (span / (step / div) <= maxbins) step /= div;
  const eps = 10 ** (-(Math.log(step) >= 0 ? 0 : Math.trunc(-Math.log10(step)) + 1) - 1);
  const v = Math.floor(lo / step + eps) * step;
  const start = r12(lo < v ? v - step : v);
  const stop = r12(Math.ceil(hi / step) * step);
  return { start, stop: stop === start ? r12(start + step) : stop, step };
}

/** The start of the bin holding v (the last bin holds `stop`), rounded to the step's digits. */
export function binOf(v: number, b: { start: number; stop: number; step: number }): number {
  const x = Math.max(b.start, Math.min(v, b.stop - b.step));
  return r12(b.start + b.step * Math.floor(1e-14 + (x - b.start) / b.step));
}

/** Without the float noise of sums of steps (0.30000000000000004 -> 0.3). */
const r12 = (x: number): number => Number(x.toPrecision(12));
