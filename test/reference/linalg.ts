// Plain-loop references for gemm, gemv and ger, accumulated in float64. Each result comes with
// `scale`, the sum of the magnitudes of the terms added into that element, which is what the
// float32 rounding error of any summation order is proportional to.

export interface Reference {
  value: Float64Array;
  scale: Float64Array;
}

/** C = alpha * op(A) * op(B) + beta * C, row-major, A m x k (k x m when transA), B k x n (n x k when transB). */
export function gemmRef(o: {
  a: Float32Array; b: Float32Array; c?: Float32Array; m: number; n: number; k: number;
  transA?: boolean; transB?: boolean; alpha?: number; beta?: number;
}): Reference {
  const { a, b, m, n, k } = o;
  const alpha = o.alpha ?? 1;
  const beta = o.c ? (o.beta ?? 0) : 0;
  const value = new Float64Array(m * n);
  const scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let mag = 0;
      for (let p = 0; p < k; p++) {
        const x = o.transA ? a[p * m + i] : a[i * k + p];
        const y = o.transB ? b[j * k + p] : b[p * n + j];
        s += x * y;
        mag += Math.abs(x * y);
      }
      // beta == 0: C is not read (NaN in C is ignored).
      const cTerm = beta === 0 ? 0 : beta * o.c![i * n + j];
      value[i * n + j] = alpha * s + cTerm;
      scale[i * n + j] = Math.abs(alpha) * mag + Math.abs(cTerm);
    }
  }
  return { value, scale };
}

/** y = alpha * op(A) * x + beta * y with A rows x cols (op(A) = A^T when trans). */
export function gemvRef(o: {
  a: Float32Array; x: Float32Array; y?: Float32Array; rows: number; cols: number; trans?: boolean;
  alpha?: number; beta?: number;
}): Reference {
  const { a, x, rows, cols } = o;
  const alpha = o.alpha ?? 1;
  const beta = o.y ? (o.beta ?? 0) : 0;
  const outLen = o.trans ? cols : rows;
  const inLen = o.trans ? rows : cols;
  const value = new Float64Array(outLen);
  const scale = new Float64Array(outLen);
  for (let i = 0; i < outLen; i++) {
    let s = 0;
    let mag = 0;
    for (let p = 0; p < inLen; p++) {
      const t = (o.trans ? a[p * cols + i] : a[i * cols + p]) * x[p];
      s += t;
      mag += Math.abs(t);
    }
    const yTerm = beta === 0 ? 0 : beta * o.y![i];
    value[i] = alpha * s + yTerm;
    scale[i] = Math.abs(alpha) * mag + Math.abs(yTerm);
  }
  return { value, scale };
}

/** A + alpha * x * y^T, A rows x cols. */
export function gerRef(o: { a: Float32Array; x: Float32Array; y: Float32Array; rows: number; cols: number;
  alpha?: number }): Reference {
  const { a, x, y, rows, cols } = o;
  const alpha = o.alpha ?? 1;
  const value = new Float64Array(rows * cols);
  const scale = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const t = alpha * x[i] * y[j];
      value[i * cols + j] = a[i * cols + j] + t;
      scale[i * cols + j] = Math.abs(a[i * cols + j]) + Math.abs(t);
    }
  }
  return { value, scale };
}

/**
 * Largest error of `got` against the reference, in units of the allowed error
 * tol * scale (plus a tiny absolute floor for all-zero rows); <= 1 passes.
 * Also reports the first index that fails or is not finite.
 */
export function worstError(got: Float32Array, ref: Reference, tol: number): { ratio: number; index: number } {
  let ratio = 0;
  let index = -1;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - ref.value[i]);
    const r = err / (tol * ref.scale[i] + 1e-30);
    if (!(r <= ratio)) {
      ratio = Number.isNaN(r) ? Infinity : r;
      index = i;
    }
  }
  return { ratio, index };
}

/** A small seeded generator (mulberry32) so that failures reproduce. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [-1, 1). */
export function randomArray(n: number, next: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * next() - 1;
  return out;
}
