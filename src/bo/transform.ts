// The map between parameter sets, points of the unit cube the optimiser moves in, and the
// kernel's inputs (docs/bo.md "Input transform").
//
// Every parameter owns one unit-cube column u in [0, 1]:
//   float        value = G^-1(G(low) + u (G(high) - G(low))), G = log for log-scaled ones, else identity
//   int          the same map over [low - 1/2, high + 1/2], rounded: every integer gets an equal
//                share of the column (an equal share of log space when log-scaled)
//   bool         u >= 1/2
//   categorical  choice floor(u k) of the k choices
// The kernel sees features computed from u *after* the rounding: the float itself (u), the
// integer's position in [G(low), G(high)], 0/1, and a one-hot vector of k columns. The surrogate is
// therefore flat between integers and across a category's share of its column: integers and
// categories are handled inside the kernel's input transform, never rounded after the suggestion.
// An inactive parameter's features are all 1/2, whatever its column holds: points where it does
// not apply are identical in those dimensions, and the kernel (a function of features only) stays
// positive definite.
import type { Params, ParamSpec, Space } from './space';

/** The value given to every feature of an inactive parameter. */
export const INACTIVE_FEATURE = 0.5;

export interface Transform {
  readonly space: Space;
  /** Unit-cube columns: one per parameter, in `space.names` order. */
  readonly dims: number;
  /** Kernel input columns. */
  readonly featureDims: number;
  /** Column j moves feature featureOf[j] continuously with slope slope[j]; -1 where the kernel is flat in it. */
  readonly featureOf: Int32Array;
  readonly slope: Float64Array;
  /** Whether column j is discrete (int, bool, categorical): it is searched by moves, not gradients. */
  readonly discrete: readonly boolean[];
  /** Whether the space has conditions (else every parameter is always active). */
  readonly conditional: boolean;
  decode(u: ArrayLike<number>): Params;
  encode(params: Readonly<Params>): Float64Array;
  /** Writes the kernel features of u into out[offset .. offset + featureDims). */
  features(u: ArrayLike<number>, out: Float64Array, offset?: number): void;
  /** Which columns apply at u. */
  active(u: ArrayLike<number>): boolean[];
  /** The other values a discrete column can move to from uj (neighbouring integers, other choices). */
  moves(j: number, uj: number): number[];
}

interface Column {
  name: string;
  spec: ParamSpec;
  feature: number;
  width: number;
  /** Scale map G and the ends of the column in G units. */
  g: (x: number) => number;
  gInv: (x: number) => number;
  lo: number;
  hi: number;
}

const identity = (x: number): number => x;
const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : Number.isNaN(x) ? 0.5 : x);

/** Our transform: log scales, integers and categories inside the kernel, conditions honoured. */
export class CubeTransform implements Transform {
  readonly dims: number;
  readonly featureDims: number;
  readonly featureOf: Int32Array;
  readonly slope: Float64Array;
  readonly discrete: boolean[];
  readonly conditional: boolean;
  private readonly cols: Column[];

  constructor(readonly space: Space) {
    this.cols = [];
    let feature = 0;
    for (const name of space.names) {
      const spec = space.params[name];
      const log = (spec.type === 'float' || spec.type === 'int') && spec.log === true;
      const g = log ? Math.log : identity;
      const gInv = log ? Math.exp : identity;
      let lo = 0;
      let hi = 1;
      if (spec.type === 'float') [lo, hi] = [g(spec.low), g(spec.high)];
      if (spec.type === 'int') [lo, hi] = [g(spec.low - 0.5), g(spec.high + 0.5)];
      const width = spec.type === 'categorical' ? spec.choices.length : 1;
      this.cols.push({ name, spec, feature, width, g, gInv, lo, hi });
      feature += width;
    }
    this.dims = this.cols.length;
    this.featureDims = feature;
    this.featureOf = Int32Array.from(this.cols, (c) => (c.spec.type === 'float' ? c.feature : -1));
    this.slope = Float64Array.from(this.cols, (c) => (c.spec.type === 'float' ? 1 : 0));
    this.discrete = this.cols.map((c) => c.spec.type !== 'float');
    this.conditional = this.cols.some((c) => c.spec.condition !== undefined);
  }

  /** The typed value of column j at uj (whether or not it is active). */
  private value(j: number, uj: number): number | string | boolean {
    const c = this.cols[j];
    const u = clamp01(uj);
    switch (c.spec.type) {
      case 'float': {
        if (u === 0) return c.spec.low;
        if (u === 1) return c.spec.high;
        const v = c.gInv(c.lo + u * (c.hi - c.lo));
        return Math.min(c.spec.high, Math.max(c.spec.low, v));
      }
      case 'int': {
        const v = Math.round(c.gInv(c.lo + u * (c.hi - c.lo)));
        return Math.min(c.spec.high, Math.max(c.spec.low, v));
      }
      case 'bool':
        return u >= 0.5;
      case 'categorical': {
        const k = c.spec.choices.length;
        return c.spec.choices[Math.min(k - 1, Math.floor(u * k))];
      }
    }
  }

  decode(u: ArrayLike<number>): Params {
    const out: Params = {};
    for (let j = 0; j < this.dims; j++) {
      const name = this.cols[j].name;
      // Parents come first, so their values are in `out` when a child is decided.
      if (this.conditional && !this.space.isActive(name, out)) continue;
      out[name] = this.value(j, u[j]);
    }
    return out;
  }

  active(u: ArrayLike<number>): boolean[] {
    if (!this.conditional) return this.cols.map(() => true);
    const p = this.decode(u);
    return this.cols.map((c) => p[c.name] !== undefined);
  }

  encode(params: Readonly<Params>): Float64Array {
    const why = this.space.invalid(params);
    if (why) throw new RangeError(`space: ${why}`);
    const u = new Float64Array(this.dims);
    for (let j = 0; j < this.dims; j++) {
      const c = this.cols[j];
      const v = params[c.name];
      if (v === undefined) {
        u[j] = 0.5;
        continue;
      }
      switch (c.spec.type) {
        case 'float':
        case 'int':
          u[j] = clamp01((c.g(v as number) - c.lo) / (c.hi - c.lo));
          break;
        case 'bool':
          u[j] = v ? 0.75 : 0.25;
          break;
        case 'categorical':
          u[j] = (c.spec.choices.indexOf(v) + 0.5) / c.spec.choices.length;
          break;
      }
    }
    return u;
  }

  features(u: ArrayLike<number>, out: Float64Array, offset = 0): void {
    const active = this.conditional ? this.active(u) : undefined;
    for (let j = 0; j < this.dims; j++) {
      const c = this.cols[j];
      const at = offset + c.feature;
      if (active && !active[j]) {
        for (let w = 0; w < c.width; w++) out[at + w] = INACTIVE_FEATURE;
        continue;
      }
      switch (c.spec.type) {
        case 'float':
          out[at] = clamp01(u[j]);
          break;
        case 'int': {
          const v = this.value(j, u[j]) as number;
          out[at] = (c.g(v) - c.g(c.spec.low)) / (c.g(c.spec.high) - c.g(c.spec.low));
          break;
        }
        case 'bool':
          out[at] = clamp01(u[j]) >= 0.5 ? 1 : 0;
          break;
        case 'categorical': {
          const k = c.width;
          const idx = Math.min(k - 1, Math.floor(clamp01(u[j]) * k));
          for (let w = 0; w < k; w++) out[at + w] = w === idx ? 1 : 0;
          break;
        }
      }
    }
  }

  moves(j: number, uj: number): number[] {
    const c = this.cols[j];
    switch (c.spec.type) {
      case 'float':
        return [];
      case 'int': {
        const v = this.value(j, uj) as number;
        const centre = (x: number): number => (c.g(x) - c.lo) / (c.hi - c.lo);
        const out: number[] = [];
        if (v > c.spec.low) out.push(clamp01(centre(v - 1)));
        if (v < c.spec.high) out.push(clamp01(centre(v + 1)));
        return out;
      }
      case 'bool':
        return [uj >= 0.5 ? 0.25 : 0.75];
      case 'categorical': {
        const k = c.width;
        const idx = Math.min(k - 1, Math.floor(clamp01(uj) * k));
        const out: number[] = [];
        for (let i = 0; i < k; i++) if (i !== idx) out.push((i + 0.5) / k);
        return out;
      }
    }
  }
}

/**
 * Lange's setting (bayesian-optimization 1.0 as used in his reproduction), for comparison only:
 * the kernel sees raw values on a linear scale (log flags ignored), integers and categories are
 * continuous to the kernel and the acquisition and only rounded when decoded, booleans are a raw
 * 0..1 number, and conditions are ignored (every parameter is searched and returned).
 */
export class RawTransform implements Transform {
  readonly dims: number;
  readonly featureDims: number;
  readonly featureOf: Int32Array;
  readonly slope: Float64Array;
  readonly discrete: boolean[];
  readonly conditional = false;
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;

  constructor(readonly space: Space) {
    const specs = space.names.map((n) => space.params[n]);
    this.dims = specs.length;
    this.featureDims = specs.length;
    this.lo = Float64Array.from(specs, (s) => (s.type === 'float' || s.type === 'int' ? s.low : 0));
    this.hi = Float64Array.from(specs, (s) =>
      s.type === 'float' || s.type === 'int' ? s.high : s.type === 'bool' ? 1 : s.choices.length - 1);
    this.featureOf = Int32Array.from(specs, (_, j) => j);
    this.slope = Float64Array.from(specs, (_, j) => this.hi[j] - this.lo[j]);
    this.discrete = specs.map(() => false);
  }

  decode(u: ArrayLike<number>): Params {
    const out: Params = {};
    this.space.names.forEach((name, j) => {
      const spec = this.space.params[name];
      const x = this.lo[j] + clamp01(u[j]) * (this.hi[j] - this.lo[j]);
      out[name] = spec.type === 'float' ? x : spec.type === 'int' ? Math.round(x) : spec.type === 'bool' ? x >= 0.5 : spec.choices[Math.round(x)];
    });
    return out;
  }

  encode(params: Readonly<Params>): Float64Array {
    return Float64Array.from(this.space.names, (name, j) => {
      const spec = this.space.params[name];
      const v = params[name];
      if (v === undefined) return 0.5; // inactive in a conditional space: Lange's has no such notion
      const x = spec.type === 'bool' ? (v ? 1 : 0) : spec.type === 'categorical' ? spec.choices.indexOf(v) : (v as number);
      return clamp01((x - this.lo[j]) / (this.hi[j] - this.lo[j]));
    });
  }

  features(u: ArrayLike<number>, out: Float64Array, offset = 0): void {
    for (let j = 0; j < this.dims; j++) out[offset + j] = this.lo[j] + clamp01(u[j]) * (this.hi[j] - this.lo[j]);
  }

  active(): boolean[] {
    return this.space.names.map(() => true);
  }

  moves(): number[] {
    return [];
  }
}
