// Dense symmetric positive-definite algebra for the GP, on row-major Float64Array matrices.
// Sizes are small (a few hundred), so plain loops suffice; the O(n^3) ones are written as dot
// products of contiguous rows with four partial sums, which lets the JIT overlap the additions
// (1.5 to 3x faster than one running sum at n = 200; docs/bo.md "Benchmarks").

/** The sum of u[a + k] * v[b + k] for k in [from, to), with four partial sums. */
export function dot(u: Float64Array, a: number, v: Float64Array, b: number, from: number, to: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = from;
  for (; k + 4 <= to; k += 4) {
    s0 += u[a + k] * v[b + k];
    s1 += u[a + k + 1] * v[b + k + 1];
    s2 += u[a + k + 2] * v[b + k + 2];
    s3 += u[a + k + 3] * v[b + k + 3];
  }
  for (; k < to; k++) s0 += u[a + k] * v[b + k];
  return s0 + s1 + s2 + s3;
}

/**
 * Cholesky factor of the n x n SPD matrix `a` (row-major; only the lower triangle is read):
 * returns L, lower triangular with zeros above the diagonal, such that L L^T = a; or null when a
 * pivot is not positive (the matrix is not numerically positive definite).
 */
export function cholesky(a: Float64Array, n: number, out: Float64Array = new Float64Array(n * n)): Float64Array | null {
  const l = out;
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      const s = a[ri + j] - dot(l, ri, l, rj, 0, j);
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
export function choleskyJitter(a: Float64Array, n: number, out: Float64Array = new Float64Array(n * n)): JitteredCholesky | null {
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
    b[i] = (b[i] - dot(l, ri, b, 0, 0, i)) / l[ri + i];
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

/**
 * The inverse (L L^T)^-1, full symmetric n x n. `work` (n x n) holds (L^-1)^T, upper triangular,
 * so that both stages are dot products of contiguous rows: (L^-1)[i][j] = -(row i of L) . (row j
 * of (L^-1)^T) / L[i][i] over k in [j, i), and (A^-1)[i][j] = (row i) . (row j) of (L^-1)^T over
 * k >= max(i, j).
 */
export function inverseFromChol(l: Float64Array, n: number, out: Float64Array = new Float64Array(n * n), work: Float64Array = new Float64Array(n * n)): Float64Array {
  // Only the upper triangle of work is written and read, so a reused buffer needs no clearing.
  const mt = work;
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    const inv = 1 / l[ri + i];
    mt[ri + i] = inv;
    for (let j = 0; j < i; j++) {
      // Reads mt[j][j .. i-1], all written by earlier rows.
      const rj = j * n;
      mt[rj + i] = -dot(l, ri, mt, rj, j, i) * inv;
    }
  }
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const v = dot(mt, ri, mt, j * n, i, n);
      out[ri + j] = v;
      out[j * n + i] = v;
    }
  }
  return out;
}
