// Gaussian-process regression with a Matérn-5/2 ARD kernel, standardised outputs, a fitted
// constant prior mean and a fitted noise term; hyperparameters by maximum a posteriori marginal
// likelihood with log-normal priors, several L-BFGS restarts in log space and analytic gradients
// (docs/bo.md "Surrogate").
import { Xoshiro128ss } from '../data/rng';
import { minimize } from './lbfgs';
import { choleskyJitter, dot, inverseFromChol, solveLower, solveLowerT } from './linalg';

const SQRT5 = Math.sqrt(5);
const LOG_2PI = Math.log(2 * Math.PI);

/** A log-normal prior: log of the parameter ~ Normal(loc, scale^2). */
export interface LogNormalPrior {
  loc: number;
  scale: number;
}

export interface GPOptions {
  /** One lengthscale per input dimension (default true); false: one shared (isotropic). */
  ard?: boolean;
  /** Signal variance: fitted (default) or this fixed value (standardised units). */
  signal?: number;
  /** Noise variance: fitted (default) or this fixed value (standardised units). */
  noise?: number;
  /**
   * Priors (default: defaultPriors()). null: plain maximum likelihood.
   */
  priors?: { lengthscale: LogNormalPrior; noise: LogNormalPrior; signal: LogNormalPrior } | null;
  /** Bounds of the lengthscales (default [0.005, 200]: features live in [0, 1]). */
  lengthscaleBounds?: readonly [number, number];
  /** Bounds of the signal variance (default [0.01, 100]). */
  signalBounds?: readonly [number, number];
  /** Bounds of the noise variance (default [1e-6, 1]). */
  noiseBounds?: readonly [number, number];
  /** Outputs standardised to mean 0, variance 1 (default true); false: used as given. */
  standardize?: boolean;
  /**
   * The constant prior mean (standardised units): fitted with the other hyperparameters (default,
   * when standardised), or 0, the mean of the standardised outputs (default when not
   * standardised: the feasibility model's labels have a zero prior mean).
   */
  fitMean?: boolean;
  /** Starting points screened by their marginal likelihood (default 16). */
  starts?: number;
  /** L-BFGS runs from the best of them (default 3). */
  restarts?: number;
  /** L-BFGS iterations per run (default 80). */
  maxIter?: number;
  /** Seed of the random starting points. */
  seed?: number;
}

/** Kernel hyperparameters: k(a, b) = signal * m52(|a - b| / lengthscales); noise on the diagonal. */
export interface Hyperparameters {
  signal: number;
  lengthscales: Float64Array;
  noise: number;
}

/**
 * The default priors, on features in [0, 1] and standardised outputs: lengthscales
 * LogNormal(-0.87, 0.63), the log-normal with the log-moments of Gamma(3, 6) (BoTorch's default
 * before 2024: mode 1/3, little mass above 2, so no dimension is switched off on a few points);
 * noise variance LogNormal(-6, 2) (broad: from noiseless to noisy objectives); signal variance
 * LogNormal(0, 1), centred on the unit variance of standardised outputs. docs/bo.md compares them
 * with the dimension-scaled lengthscale prior of Hvarfner et al. (2024).
 */
export function defaultPriors(): NonNullable<GPOptions['priors']> {
  return {
    lengthscale: { loc: -0.87, scale: 0.63 },
    noise: { loc: -6, scale: 2 },
    signal: { loc: 0, scale: 1 },
  };
}

/** The dimension-scaled lengthscale prior of Hvarfner et al. (2024), BoTorch's default since: LogNormal(sqrt 2 + log(d)/2, sqrt 3). */
export function dimensionScaledPriors(dims: number): NonNullable<GPOptions['priors']> {
  return { ...defaultPriors(), lengthscale: { loc: Math.SQRT2 + 0.5 * Math.log(Math.max(1, dims)), scale: Math.sqrt(3) } };
}

/** Matérn 5/2 correlation at scaled distance r. */
export function matern52(r: number): number {
  return (1 + SQRT5 * r + (5 / 3) * r * r) * Math.exp(-SQRT5 * r);
}

/** Mean and scale that standardise y, computed on y / max|y| so that huge values cannot overflow. */
function standardizer(y: Float64Array): { shift: number; scale: number } {
  let m = 0;
  for (const v of y) m = Math.max(m, Math.abs(v));
  if (!(m > 0) || !Number.isFinite(m)) return { shift: 0, scale: 1 };
  let mean = 0;
  for (const v of y) mean += v / m;
  mean /= y.length;
  let ss = 0;
  for (const v of y) ss += (v / m - mean) ** 2;
  const sd = y.length > 1 ? Math.sqrt(ss / (y.length - 1)) : 0;
  // Constant (or single) outputs: centre only; the scale is then that of the values themselves.
  const unit = sd > 1e-12 ? sd : 1;
  return { shift: mean * m, scale: unit * m };
}

/**
 * The constant prior mean that maximises the likelihood for the current kernel (the generalised
 * least-squares mean), given u = L^-1 y and v = L^-1 1: m = (v . u) / (v . v). Replaces u with
 * L^-1 (y - m) and returns m. Unlike the sample mean, it counts a cluster of correlated points
 * about once, so the many trials an optimiser spends near its best point do not make the
 * unexplored space look as good as that point (docs/bo.md "Surrogate").
 */
function profileMean(u: Float64Array, v: Float64Array): number {
  let vu = 0;
  let vv = 0;
  for (let i = 0; i < u.length; i++) {
    vu += v[i] * u[i];
    vv += v[i] * v[i];
  }
  const m = vu / vv;
  for (let i = 0; i < u.length; i++) u[i] -= m * v[i];
  return m;
}

/** The negative log posterior of the hyperparameters and its gradient; reused across evaluations. */
class Objective {
  readonly pairs: number;
  /**
   * Squared differences per dimension and pair (j < i), dimension-major: d2[d * pairs + q]. The
   * sums over dimensions (distances) and over pairs (gradients) then run over contiguous memory.
   */
  private readonly d2: Float64Array;
  private readonly k: Float64Array;
  /** Per pair: the scaled squared distance while filling, then the gradient weights. */
  private readonly r2: Float64Array;
  private readonly gfac: Float64Array;
  /** L^-1 1, for the fitted constant mean. */
  private readonly ones: Float64Array;
  /** Workspaces of the factor, the inverse and its scratch, reused by every evaluation (n x n each). */
  private readonly l: Float64Array;
  private readonly kinv: Float64Array;
  private readonly work: Float64Array;
  readonly nParams: number;

  constructor(
    private readonly x: Float64Array,
    private readonly n: number,
    private readonly p: number,
    private readonly y: Float64Array,
    private readonly ard: boolean,
    private readonly fixedSignal: number | undefined,
    private readonly fixedNoise: number | undefined,
    private readonly priors: GPOptions['priors'],
    private readonly fitMean: boolean,
  ) {
    this.pairs = (n * (n - 1)) / 2;
    const pairs = this.pairs;
    this.d2 = new Float64Array(pairs * p);
    for (let d = 0, q = 0; d < p; d++) {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < i; j++, q++) {
          const diff = x[i * p + d] - x[j * p + d];
          this.d2[q] = diff * diff;
        }
      }
    }
    this.r2 = new Float64Array(pairs);
    this.ones = new Float64Array(n);
    this.k = new Float64Array(n * n);
    this.l = new Float64Array(n * n);
    this.kinv = new Float64Array(n * n);
    this.work = new Float64Array(n * n);
    this.gfac = new Float64Array(this.pairs);
    this.nParams = (fixedSignal === undefined ? 1 : 0) + (ard ? p : 1) + (fixedNoise === undefined ? 1 : 0);
  }

  /** theta (log signal?, log lengthscales, log noise?) to hyperparameters. */
  unpack(theta: ArrayLike<number>): Hyperparameters {
    let i = 0;
    const signal = this.fixedSignal ?? Math.exp(theta[i++]);
    const lengthscales = new Float64Array(this.p);
    if (this.ard) for (let d = 0; d < this.p; d++) lengthscales[d] = Math.exp(theta[i++]);
    else lengthscales.fill(Math.exp(theta[i++]));
    const noise = this.fixedNoise ?? Math.exp(theta[i++]);
    return { signal, lengthscales, noise };
  }

  pack(h: Hyperparameters): Float64Array {
    const t: number[] = [];
    if (this.fixedSignal === undefined) t.push(Math.log(h.signal));
    if (this.ard) for (let d = 0; d < this.p; d++) t.push(Math.log(h.lengthscales[d]));
    else t.push(Math.log(h.lengthscales[0]));
    if (this.fixedNoise === undefined) t.push(Math.log(h.noise));
    return Float64Array.from(t);
  }

  /** Fills the kernel matrix (with noise) and the lengthscale-gradient factors. */
  private fill(h: Hyperparameters): void {
    const { n, p, pairs, d2, k, gfac, r2: dist } = this;
    dist.fill(0);
    for (let d = 0; d < p; d++) {
      const inv = 1 / (h.lengthscales[d] * h.lengthscales[d]);
      const o = d * pairs;
      for (let q = 0; q < pairs; q++) dist[q] += d2[o + q] * inv;
    }
    const s = h.signal;
    let q = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++, q++) {
        const r2 = dist[q];
        const r = Math.sqrt(r2);
        const e = Math.exp(-SQRT5 * r);
        const kij = s * (1 + SQRT5 * r + (5 / 3) * r2) * e;
        k[i * n + j] = kij;
        k[j * n + i] = kij;
        // d k / d log l_d = s (5/3) (1 + sqrt5 r) e^{-sqrt5 r} (diff_d / l_d)^2
        gfac[q] = s * (5 / 3) * (1 + SQRT5 * r) * e;
      }
      k[i * n + i] = s + h.noise;
    }
  }

  /** -log p(y | theta) - log p(theta); gradient into g when given. Infinity when K cannot be factored. */
  value(theta: ArrayLike<number>, g?: Float64Array): number {
    const { n, p } = this;
    const h = this.unpack(theta);
    this.fill(h);
    const chol = choleskyJitter(this.k, n, this.l);
    if (!chol) return Infinity;
    const l = chol.l;
    const alpha = Float64Array.from(this.y);
    solveLower(l, n, alpha);
    if (this.fitMean) {
      this.ones.fill(1);
      solveLower(l, n, this.ones);
      profileMean(alpha, this.ones);
    }
    let quad = 0;
    for (let i = 0; i < n; i++) quad += alpha[i] * alpha[i];
    solveLowerT(l, n, alpha);
    let logDet = 0;
    for (let i = 0; i < n; i++) logDet += Math.log(l[i * n + i]);
    let f = 0.5 * quad + logDet + 0.5 * n * LOG_2PI;
    if (g) g.fill(0);
    if (g) {
      // d nll / d theta = -1/2 tr((alpha alpha^T - K^-1) dK/dtheta) = -1/2 sum W .* dK. With the
      // fitted mean, alpha = K^-1 (y - m): m is optimal for this theta, so its own change with
      // theta adds nothing to the gradient (d nll / d m = 0).
      const { k, gfac, d2, pairs } = this;
      const kinv = inverseFromChol(l, n, this.kinv, this.work);
      // The per-pair weights replace the distances in r2 (not needed after fill).
      const c = this.r2;
      let sigGrad = 0;
      let q = 0;
      for (let i = 0; i < n; i++) {
        const ri = i * n;
        const ai = alpha[i];
        for (let j = 0; j < i; j++, q++) {
          const w = ai * alpha[j] - kinv[ri + j];
          // Off-diagonal pairs count twice in the trace: -1/2 * 2 = -1.
          sigGrad -= w * k[ri + j];
          c[q] = w * gfac[q];
        }
      }
      const lg = new Float64Array(p);
      for (let d = 0; d < p; d++) lg[d] = -dot(c, 0, d2, d * pairs, 0, pairs);
      let trW = 0;
      for (let i = 0; i < n; i++) trW += alpha[i] * alpha[i] - kinv[i * n + i];
      sigGrad -= 0.5 * trW * h.signal;
      let i = 0;
      if (this.fixedSignal === undefined) g[i++] = sigGrad;
      if (this.ard) {
        for (let d = 0; d < p; d++) g[i++] = lg[d] / (h.lengthscales[d] * h.lengthscales[d]);
      } else {
        let s = 0;
        for (let d = 0; d < p; d++) s += lg[d];
        g[i++] = s / (h.lengthscales[0] * h.lengthscales[0]);
      }
      if (this.fixedNoise === undefined) g[i++] = -0.5 * trW * h.noise;
    }
    if (this.priors) {
      const pr = this.priors;
      const add = (idx: number, value: number, prior: LogNormalPrior): void => {
        const z = (value - prior.loc) / prior.scale;
        f += 0.5 * z * z;
        if (g) g[idx] += z / prior.scale;
      };
      let i = 0;
      if (this.fixedSignal === undefined) add(i, theta[i++], pr.signal);
      const nl = this.ard ? p : 1;
      for (let d = 0; d < nl; d++) add(i, theta[i++], pr.lengthscale);
      if (this.fixedNoise === undefined) add(i, theta[i++], pr.noise);
    }
    return f;
  }
}

/** A Gaussian process conditioned on data with fixed hyperparameters. */
export class GaussianProcess {
  /** Cholesky factor of K + noise I (+ jitter). */
  private readonly l: Float64Array;
  private readonly alpha: Float64Array;
  private readonly inv2: Float64Array;
  /** Jitter that was needed on top of the noise. */
  readonly jitter: number;
  /** The constant prior mean, standardised units: the posterior mean far from the data. */
  readonly priorMean: number;

  private constructor(
    /** Inputs, n x p row-major. */
    readonly x: Float64Array,
    readonly n: number,
    readonly p: number,
    /** Outputs in standardised units. */
    readonly y: Float64Array,
    readonly hyper: Hyperparameters,
    /** Original value = shift + scale * standardised value. */
    readonly shift: number,
    readonly scale: number,
    /** The negative log posterior the hyperparameters reached (NaN when not fitted here). */
    readonly nlp: number,
    /** The constant prior mean (standardised units), or 'fit' for its maximum-likelihood value. */
    mean: number | 'fit',
  ) {
    const { signal, lengthscales, noise } = hyper;
    this.inv2 = Float64Array.from(lengthscales, (l) => 1 / (l * l));
    const k = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) {
        const v = signal * matern52(Math.sqrt(this.dist2(x, i * p, x, j * p)));
        k[i * n + j] = v;
        k[j * n + i] = v;
      }
      k[i * n + i] = signal + noise;
    }
    const chol = choleskyJitter(k, n);
    // The diagonal is at least signal + noise > 0, so only non-finite inputs can fail here.
    if (!chol) throw new RangeError('gp: the kernel matrix cannot be factored (non-finite inputs?)');
    this.l = chol.l;
    this.jitter = chol.jitter;
    this.alpha = Float64Array.from(y);
    if (mean === 'fit') {
      solveLower(this.l, n, this.alpha);
      this.priorMean = profileMean(this.alpha, solveLower(this.l, n, new Float64Array(n).fill(1)));
    } else {
      this.priorMean = mean;
      for (let i = 0; i < n; i++) this.alpha[i] -= mean;
      solveLower(this.l, n, this.alpha);
    }
    solveLowerT(this.l, n, this.alpha);
  }

  private dist2(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number): number {
    let r2 = 0;
    for (let d = 0; d < this.p; d++) {
      const diff = a[ao + d] - b[bo + d];
      r2 += diff * diff * this.inv2[d];
    }
    return r2;
  }

  /**
   * Fits the hyperparameters to (x, y) and conditions on the data. `x` is n x p row-major, every
   * value finite; y finite.
   */
  static fit(x: Float64Array, n: number, p: number, yRaw: ArrayLike<number>, options: GPOptions = {}): GaussianProcess {
    if (n < 1) throw new RangeError('gp: no data');
    if (x.length !== n * p || yRaw.length !== n) throw new RangeError('gp: x must be n x p and y of length n');
    for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new RangeError('gp: non-finite input');
    const y = Float64Array.from(yRaw);
    for (const v of y) if (!Number.isFinite(v)) throw new RangeError('gp: non-finite output');
    const { shift, scale } = options.standardize === false ? { shift: 0, scale: 1 } : standardizer(y);
    for (let i = 0; i < n; i++) y[i] = y[i] / scale - shift / scale;

    const ard = options.ard ?? true;
    const priors = options.priors === undefined ? defaultPriors() : options.priors;
    const [lMin, lMax] = options.lengthscaleBounds ?? [0.005, 200];
    const [sMin, sMax] = options.signalBounds ?? [0.01, 100];
    const [nMin, nMax] = options.noiseBounds ?? [1e-6, 1];
    const fitMean = options.fitMean ?? options.standardize !== false;
    const obj = new Objective(x, n, p, y, ard, options.signal, options.noise, priors, fitMean);
    const nl = ard ? p : 1;
    const lower: number[] = [];
    const upper: number[] = [];
    if (options.signal === undefined) lower.push(Math.log(sMin)), upper.push(Math.log(sMax));
    for (let d = 0; d < nl; d++) lower.push(Math.log(lMin)), upper.push(Math.log(lMax));
    if (options.noise === undefined) lower.push(Math.log(nMin)), upper.push(Math.log(nMax));
    const clampTheta = (t: Float64Array): Float64Array => t.map((v, i) => Math.min(upper[i], Math.max(lower[i], v)));

    // Starting points: lengthscales at a few multiples of each input's spread, the prior's
    // median, and random draws over a broad log range; screened by value, the best refined.
    const spread = new Float64Array(p);
    for (let d = 0; d < p; d++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        lo = Math.min(lo, x[i * p + d]);
        hi = Math.max(hi, x[i * p + d]);
      }
      spread[d] = hi > lo ? hi - lo : 1;
    }
    const maxSpread = Math.max(...spread);
    const rng = new Xoshiro128ss(options.seed ?? 0, 0x69f17, n);
    const start = (ls: (d: number) => number, signal: number, noise: number): Float64Array =>
      clampTheta(obj.pack({ signal, lengthscales: Float64Array.from({ length: p }, (_, d) => ls(d)), noise }));
    const spreadOf = (d: number): number => (ard ? spread[d] : maxSpread);
    const starts: Float64Array[] = [
      start((d) => 0.5 * spreadOf(d), 1, 1e-3),
      start((d) => 0.2 * spreadOf(d), 1, 1e-3),
      start((d) => 2 * spreadOf(d), 1, 1e-2),
    ];
    if (priors) starts.push(start(() => Math.exp(priors.lengthscale.loc), 1, Math.exp(priors.noise.loc)));
    const want = Math.max(starts.length, options.starts ?? 16);
    while (starts.length < want) {
      const u = (): number => rng.nextFloat();
      const shared = Math.log(0.05) + u() * Math.log(100);
      starts.push(start((d) => spreadOf(d) * Math.exp(ard ? Math.log(0.05) + u() * Math.log(100) : shared), Math.exp(-1 + 2 * u()),
        Math.exp(Math.log(1e-5) + u() * Math.log(1e4))));
    }
    const screened = starts.map((t) => ({ t, f: obj.value(t) })).sort((a, b) => (a.f < b.f ? -1 : a.f > b.f ? 1 : 0));
    const grad = (t: Float64Array, g: Float64Array): number => obj.value(t, g);
    const bounds = { lower, upper, gtol: 1e-5, ftol: 1e-9, fatol: 2e-3 };
    // A short L-BFGS run from each of the best starts, then the best of those to convergence:
    // most of the restarts' value at a fraction of their cost.
    const runs = Math.min(options.restarts ?? 3, screened.length);
    let best = screened[0];
    for (let r = 0; r < runs; r++) {
      if (!Number.isFinite(screened[r].f)) break;
      const res = minimize(grad, screened[r].t, { ...bounds, maxIter: runs > 1 ? 10 : (options.maxIter ?? 80) });
      if (res.f < best.f) best = { t: res.x, f: res.f };
    }
    if (runs > 1 && Number.isFinite(best.f)) {
      const res = minimize(grad, best.t, { ...bounds, maxIter: options.maxIter ?? 80 });
      if (res.f <= best.f) best = { t: res.x, f: res.f };
    }
    if (!Number.isFinite(best.f)) {
      // Nothing factored (only possible with pathological inputs): fall back to broad, noisy values.
      best = { t: start((d) => spreadOf(d), 1, nMax), f: NaN };
    }
    return new GaussianProcess(Float64Array.from(x), n, p, y, obj.unpack(best.t), shift, scale, best.f, fitMean ? 'fit' : 0);
  }

  /** A GP on (x, y) with the given hyperparameters and a zero prior mean (y in original units, standardised as `like`). */
  static withHyperparameters(x: Float64Array, n: number, p: number, y: ArrayLike<number>, hyper: Hyperparameters, like?: { shift: number; scale: number }): GaussianProcess {
    const shift = like?.shift ?? 0;
    const scale = like?.scale ?? 1;
    return new GaussianProcess(Float64Array.from(x), n, p, Float64Array.from(y, (v) => (v - shift) / scale), hyper, shift, scale, NaN, 0);
  }

  /** The negative log posterior (value and gradient) at theta, for tests of the gradient. */
  static objective(x: Float64Array, n: number, p: number, y: ArrayLike<number>, options: GPOptions = {}): {
    value: (theta: ArrayLike<number>, g?: Float64Array) => number;
    unpack: (theta: ArrayLike<number>) => Hyperparameters;
    size: number;
  } {
    const priors = options.priors === undefined ? defaultPriors() : options.priors;
    const fitMean = options.fitMean ?? options.standardize !== false;
    const obj = new Objective(x, n, p, Float64Array.from(y), options.ard ?? true, options.signal, options.noise, priors, fitMean);
    return { value: (t, g) => obj.value(t, g), unpack: (t) => obj.unpack(t), size: obj.nParams };
  }

  /**
   * This GP with extra points at fantasised outputs: `lie` (original units) at every one of them
   * (the "constant liar"), or, without it, the GP's own posterior mean there (the "kriging
   * believer": the mean is unchanged, the variance collapses near them).
   */
  believe(points: Float64Array, m: number, lie?: number): GaussianProcess {
    if (m === 0) return this;
    const x = new Float64Array((this.n + m) * this.p);
    x.set(this.x);
    x.set(points.subarray(0, m * this.p), this.n * this.p);
    const y = new Float64Array(this.n + m);
    y.set(this.y);
    const out = { mean: 0, variance: 0 };
    for (let i = 0; i < m; i++) {
      if (lie === undefined) {
        this.predict(points, i * this.p, out);
        y[this.n + i] = out.mean;
      } else {
        y[this.n + i] = (lie - this.shift) / this.scale;
      }
    }
    // The prior mean stays that of the real data, like the other hyperparameters.
    return new GaussianProcess(x, this.n + m, this.p, y, this.hyper, this.shift, this.scale, this.nlp, this.priorMean);
  }

  /** Posterior mean and latent variance (standardised units) at z[offset .. offset + p). */
  predict(z: ArrayLike<number>, offset: number, out: { mean: number; variance: number }, work = new Float64Array(this.n)): void {
    const { n, p, x } = this;
    const s = this.hyper.signal;
    let mean = this.priorMean;
    for (let i = 0; i < n; i++) {
      const ki = s * matern52(Math.sqrt(this.dist2(z, offset, x, i * p)));
      work[i] = ki;
      mean += ki * this.alpha[i];
    }
    solveLower(this.l, n, work);
    let vv = 0;
    for (let i = 0; i < n; i++) vv += work[i] * work[i];
    out.mean = mean;
    out.variance = Math.max(s - vv, 1e-12 * s);
  }

  /**
   * Like predict, and the gradients of the mean and the variance with respect to z (into dMean
   * and dVar, length p). The variance floor makes dVar zero where the floor binds.
   */
  predictGrad(z: ArrayLike<number>, offset: number, out: { mean: number; variance: number }, dMean: Float64Array, dVar: Float64Array): void {
    const { n, p, x } = this;
    const s = this.hyper.signal;
    const kv = new Float64Array(n);
    const g = new Float64Array(n); // d k_i / d r^2 factor: d k_i / d z_d = g_i (z_d - x_id) / l_d^2
    let mean = this.priorMean;
    for (let i = 0; i < n; i++) {
      const r = Math.sqrt(this.dist2(z, offset, x, i * p));
      const e = Math.exp(-SQRT5 * r);
      kv[i] = s * (1 + SQRT5 * r + (5 / 3) * r * r) * e;
      g[i] = -s * (5 / 3) * (1 + SQRT5 * r) * e;
      mean += kv[i] * this.alpha[i];
    }
    const w = Float64Array.from(kv);
    solveLower(this.l, n, w);
    let vv = 0;
    for (let i = 0; i < n; i++) vv += w[i] * w[i];
    solveLowerT(this.l, n, w); // w = K^-1 k
    out.mean = mean;
    const variance = s - vv;
    out.variance = Math.max(variance, 1e-12 * s);
    dMean.fill(0);
    dVar.fill(0);
    const floored = variance < 1e-12 * s;
    for (let i = 0; i < n; i++) {
      const a = g[i] * this.alpha[i];
      const b = floored ? 0 : -2 * g[i] * w[i];
      if (a === 0 && b === 0) continue;
      const o = i * p;
      for (let d = 0; d < p; d++) {
        const t = (z[offset + d] - x[o + d]) * this.inv2[d];
        dMean[d] += a * t;
        dVar[d] += b * t;
      }
    }
  }
}
