// A compact L-BFGS minimiser with optional box bounds (a projected variant in the spirit of
// L-BFGS-B): variables at a bound whose gradient pushes outward are held, the two-loop recursion
// runs on the free ones, and a backtracking Armijo search walks the projected path. Used for the
// GP's hyperparameters (log space) and for refining acquisition maxima inside the unit cube.

export interface MinimizeOptions {
  /** Lower and upper bounds (equal bounds fix a variable); absent: unbounded. */
  lower?: ArrayLike<number>;
  upper?: ArrayLike<number>;
  /** Iterations (default 100). */
  maxIter?: number;
  /** Correction pairs kept (default 8). */
  memory?: number;
  /** Stop when every free gradient component is at most this (default 1e-6). */
  gtol?: number;
  /** Stop when an iteration lowers f by at most ftol * max(1, |f|) (default 1e-10)... */
  ftol?: number;
  /** ... or by at most fatol (default 0). */
  fatol?: number;
}

export interface MinimizeResult {
  x: Float64Array;
  f: number;
  iterations: number;
  evaluations: number;
  /** Why it stopped. */
  reason: 'gradient' | 'progress' | 'iterations' | 'line search' | 'not finite';
}

/**
 * Minimises f from x0. `fg(x, g)` returns f(x) and writes its gradient into g; a non-finite value
 * counts as a failed step (the line search backs off), so f may refuse regions by returning Infinity.
 */
export function minimize(
  fg: (x: Float64Array, g: Float64Array) => number,
  x0: ArrayLike<number>,
  options: MinimizeOptions = {},
): MinimizeResult {
  const n = x0.length;
  const lo = options.lower ? Float64Array.from(options.lower) : new Float64Array(n).fill(-Infinity);
  const hi = options.upper ? Float64Array.from(options.upper) : new Float64Array(n).fill(Infinity);
  const maxIter = options.maxIter ?? 100;
  const m = options.memory ?? 8;
  const gtol = options.gtol ?? 1e-6;
  const ftol = options.ftol ?? 1e-10;
  const fatol = options.fatol ?? 0;
  const project = (v: Float64Array): Float64Array => {
    for (let i = 0; i < n; i++) v[i] = v[i] < lo[i] ? lo[i] : v[i] > hi[i] ? hi[i] : v[i];
    return v;
  };

  let x = project(Float64Array.from(x0));
  let g = new Float64Array(n);
  let f = fg(x, g);
  let evaluations = 1;
  if (!Number.isFinite(f)) return { x, f, iterations: 0, evaluations, reason: 'not finite' };

  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const free = new Uint8Array(n);
  const d = new Float64Array(n);
  const alpha = new Float64Array(m);
  const dot = (a: Float64Array, b: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < n; i++) if (free[i]) s += a[i] * b[i];
    return s;
  };
  let iterations = 0;
  let reason: MinimizeResult['reason'] = 'iterations';

  for (; iterations < maxIter; iterations++) {
    let pg = 0;
    for (let i = 0; i < n; i++) {
      const held = lo[i] === hi[i] || (x[i] <= lo[i] && g[i] > 0) || (x[i] >= hi[i] && g[i] < 0);
      free[i] = held ? 0 : 1;
      if (!held) pg = Math.max(pg, Math.abs(g[i]));
    }
    if (pg <= gtol) {
      reason = 'gradient';
      break;
    }
    // Two-loop recursion on the free variables: d = -H g.
    for (let i = 0; i < n; i++) d[i] = free[i] ? g[i] : 0;
    const k = S.length;
    const rho = new Float64Array(k);
    for (let j = k - 1; j >= 0; j--) {
      rho[j] = 1 / dot(Y[j], S[j]);
      alpha[j] = rho[j] * dot(S[j], d);
      if (!Number.isFinite(rho[j]) || !Number.isFinite(alpha[j])) {
        alpha[j] = 0;
        rho[j] = 0;
        continue;
      }
      for (let i = 0; i < n; i++) if (free[i]) d[i] -= alpha[j] * Y[j][i];
    }
    if (k > 0) {
      const yy = dot(Y[k - 1], Y[k - 1]);
      const gamma = yy > 0 ? dot(S[k - 1], Y[k - 1]) / yy : 1;
      if (Number.isFinite(gamma) && gamma > 0) for (let i = 0; i < n; i++) d[i] *= gamma;
    }
    for (let j = 0; j < k; j++) {
      const beta = rho[j] * dot(Y[j], d);
      for (let i = 0; i < n; i++) if (free[i]) d[i] += S[j][i] * (alpha[j] - beta);
    }
    for (let i = 0; i < n; i++) d[i] = free[i] ? -d[i] : 0;
    let slope = dot(g, d);
    let t = 1;
    if (!(slope < 0) || k === 0) {
      // No usable curvature yet (or not a descent direction): steepest descent, first step
      // scaled so that no variable moves by more than 1.
      if (k > 0) {
        S.length = 0;
        Y.length = 0;
      }
      for (let i = 0; i < n; i++) d[i] = free[i] ? -g[i] : 0;
      slope = dot(g, d);
      t = 1 / Math.max(1, pg);
    }
    // Backtracking along the projected path x(t) = P(x + t d) with the Armijo condition.
    const xn = new Float64Array(n);
    const gn = new Float64Array(n);
    let fn = Infinity;
    let accepted = false;
    for (let ls = 0; ls < 40; ls++) {
      let moved = false;
      for (let i = 0; i < n; i++) {
        xn[i] = x[i] + t * d[i];
        xn[i] = xn[i] < lo[i] ? lo[i] : xn[i] > hi[i] ? hi[i] : xn[i];
        if (xn[i] !== x[i]) moved = true;
      }
      if (!moved) break;
      fn = fg(xn, gn);
      evaluations++;
      let decrease = 0;
      for (let i = 0; i < n; i++) decrease += g[i] * (xn[i] - x[i]);
      if (Number.isFinite(fn) && fn <= f + 1e-4 * decrease) {
        accepted = true;
        break;
      }
      t *= ls === 0 && Number.isFinite(fn) ? Math.max(0.1, Math.min(0.5, (-slope * t) / (2 * (fn - f - slope * t)))) : 0.5;
    }
    if (!accepted) {
      reason = 'line search';
      break;
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    let sy = 0;
    let ss = 0;
    let yy = 0;
    for (let i = 0; i < n; i++) {
      s[i] = xn[i] - x[i];
      y[i] = gn[i] - g[i];
      sy += s[i] * y[i];
      ss += s[i] * s[i];
      yy += y[i] * y[i];
    }
    // Keep the pair only with positive curvature, so that H stays positive definite.
    if (sy > 1e-10 * Math.sqrt(ss * yy)) {
      S.push(s);
      Y.push(y);
      if (S.length > m) {
        S.shift();
        Y.shift();
      }
    }
    const progress = f - fn;
    x = Float64Array.from(xn);
    g = Float64Array.from(gn);
    f = fn;
    if (progress <= Math.max(fatol, ftol * Math.max(1, Math.abs(f)))) {
      iterations++;
      reason = 'progress';
      break;
    }
  }
  return { x, f, iterations, evaluations, reason };
}
