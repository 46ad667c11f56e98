// Dense symmetric positive-definite algebra for the GP, on row-major Float64Array matrices.
// Sizes are small (a few hundred), so plain loops ordered for contiguous row access suffice.

/**
 * Cholesky factor of the n x n SPD matrix `a` (row-major; only the lower triangle is read):
 * returns L, lower triangular with zeros above the diagonal, such that L L^T = a; or null when a
 * pivot is not positive (the matrix is not numerically positive definite).
 */
export function cholesky(a: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array | null {
  const l = out;
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= l[ri + k] * l[rj + k];
      if (i === j) {
        if (!(s > 0)) return null; // also catches NaN
        l[ri + i] = Math.sqrt(s);
      } else {
        l[ri + j] = s / l[rj + j];
      }
    }
    for (let j = i + 1; j < n; j++) l[ri + j] = 0;
  }
  return l;
}

export interface JitteredCholesky {
  /** The factor of a + jitter * I. */
  l: Float64Array;
  /** What was added to the diagonal (0 when none was needed). */
  jitter: number;
}

/**
 * Cholesky of a + jitter I with the smallest jitter in 0, 1e-10, 1e-9, ... (times the mean
 * diagonal) that factors; null when even 10% of the mean diagonal does not (non-finite input).
 * Duplicate inputs with a tiny noise term make the kernel matrix singular to rounding; a growing
 * jitter keeps the factor usable without distorting well-conditioned cases.
 */
export function choleskyJitter(a: Float64Array, n: number, out = new Float64Array(n * n)): JitteredCholesky | null {
  if (n === 0) return { l: out, jitter: 0 };
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += a[i * n + i];
  meanDiag /= n;
  if (!(meanDiag > 0) || !Number.isFinite(meanDiag)) return null;
  if (cholesky(a, n, out)) return { l: out, jitter: 0 };
  const b = new Float64Array(a);
  for (let e = -10; e <= -1; e++) {
    const jitter = meanDiag * 10 ** e;
    for (let i = 0; i < n; i++) b[i * n + i] = a[i * n + i] + jitter;
    if (cholesky(b, n, out)) return { l: out, jitter };
  }
  return null;
}

/** Solves L x = b in place (L lower triangular, row-major). */
export function solveLower(l: Float64Array, n: number, b: Float64Array): Float64Array {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[ri + k] * b[k];
    b[i] = s / l[ri + i];
  }
  return b;
}

/** Solves L^T x = b in place, reading L (lower triangular) by rows. */
export function solveLowerT(l: Float64Array, n: number, b: Float64Array): Float64Array {
  for (let i = n - 1; i >= 0; i--) {
    const xi = (b[i] /= l[i * n + i]);
    // Column i of L^T is row i of L: subtract its contribution from the rows above.
    const ri = i * n;
    for (let k = 0; k < i; k++) b[k] -= l[ri + k] * xi;
  }
  return b;
}

/** x = (L L^T)^-1 b, a new array. */
export function cholSolve(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const x = Float64Array.from(b);
  solveLower(l, n, x);
  return solveLowerT(l, n, x);
}

/** log det(L L^T) = 2 sum log L_ii. */
export function logDetChol(l: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(l[i * n + i]);
  return 2 * s;
}

/** The inverse (L L^T)^-1, full symmetric n x n. */
export function inverseFromChol(l: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array {
  // M = L^-1 (lower triangular), row by row: M[i][j] = -(sum_{k=j..i-1} L[i][k] M[k][j]) / L[i][i].
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    const d = l[ri + i];
    m[ri + i] = 1 / d;
    for (let k = 0; k < i; k++) {
      const lik = l[ri + k];
      if (lik === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) m[ri + j] -= lik * m[rk + j];
    }
    for (let j = 0; j < i; j++) m[ri + j] /= d;
  }
  // A^-1 = M^T M: (A^-1)[i][j] = sum_k M[k][i] M[k][j], k >= max(i, j); accumulate row k of M at a time.
  out.fill(0);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const mki = m[rk + i];
      if (mki === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) out[ri + j] += mki * m[rk + j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[j * n + i] = out[i * n + j];
  return out;
}
