// Shared helpers of the nn-*.test.ts files: seeded random data and tolerance checks.
import type { ExecutionContext } from 'ava';

/** float32 unit roundoff (2^-24). */
export const EPS32 = 2 ** -24;

/** A seeded uniform generator (mulberry32): the same data on every run. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

export function uniform(next: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; ++i) a[i] = lo + (hi - lo) * next();
  return a;
}

export function integers(next: () => number, n: number, below: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; ++i) a[i] = Math.floor(next() * below);
  return a;
}

export function abs(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, Math.abs);
}

/**
 * Checks |got[i] - ref[i]| <= bound(i) for every i (and equal lengths), reporting the worst
 * offenders. bound receives the index and returns the allowed absolute error.
 */
export function assertClose(
  t: ExecutionContext,
  got: ArrayLike<number>,
  ref: ArrayLike<number>,
  bound: (i: number) => number,
  what: string,
): void {
  t.is(got.length, ref.length, `${what}: length`);
  const bad: string[] = [];
  let worst = 0;
  for (let i = 0; i < ref.length; ++i) {
    const err = Math.abs(got[i] - ref[i]);
    const b = bound(i);
    if (!(err <= b) && !(Number.isNaN(got[i]) && Number.isNaN(ref[i]))) {
      if (bad.length < 5) bad.push(`[${i}] got ${got[i]} expected ${ref[i]} (err ${err.toExponential(2)} > ${b.toExponential(2)})`);
      worst++;
    }
  }
  t.is(worst, 0, `${what}: ${worst} of ${ref.length} outside tolerance\n  ${bad.join('\n  ')}`);
}

/** Bound for a sum of `terms` float32 products whose absolute values sum to mag[i]
 *  (the classic recursive-summation bound, valid for any order): (terms + 2) * eps * mag. */
export function sumBound(terms: number, mag: ArrayLike<number>, floor = 1e-30): (i: number) => number {
  return (i) => (terms + 2) * EPS32 * mag[i] + floor;
}

/** Relative bound: ulps float32 roundings of |ref| (plus an absolute floor). */
export function relBound(ref: ArrayLike<number>, ulps: number, floor = 1e-30): (i: number) => number {
  return (i) => ulps * EPS32 * Math.abs(ref[i]) + floor;
}

export function bitsEqual(a: Float32Array | Int32Array, b: Float32Array | Int32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; ++i) if (ua[i] !== ub[i]) return false;
  return true;
}

// Runs fn with DENDRITE_CPU_SIMD set to simd (undefined: unset, the processor's best), and puts
// the variable back afterwards. Only for serial tests: the native kernels read it at every call.
export async function withSimd<T>(simd: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.DENDRITE_CPU_SIMD;
  if (simd === undefined) delete process.env.DENDRITE_CPU_SIMD;
  else process.env.DENDRITE_CPU_SIMD = simd;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.DENDRITE_CPU_SIMD;
    else process.env.DENDRITE_CPU_SIMD = saved;
  }
}
