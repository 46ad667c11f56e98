// Sobol low-discrepancy points in [0, 1)^d, d <= 40, in Gray-code order (Joe & Kuo 2008), with
// an optional seeded scramble: a random linear matrix scramble plus a digital shift (Matousek
// 1998; the "LMS + shift" that scipy.stats.qmc.Sobol also uses). Scrambling keeps the net
// structure (each 2^m block of points is stratified) while removing the unscrambled sequence's
// zero first point and its alignment with the grid.
import { Xoshiro128ss } from '../data/rng';

/**
 * Joe & Kuo's direction numbers (file new-joe-kuo-6.21201) for dimensions 2..40: the degree s of
 * the primitive polynomial, its coefficients a (the middle bits) and the initial m_1..m_s.
 * Dimension 1 is the van der Corput sequence (all m = 1).
 */
const JOE_KUO: ReadonlyArray<readonly [number, number, readonly number[]]> = [
  [1, 0, [1]],
  [2, 1, [1, 3]],
  [3, 1, [1, 3, 1]],
  [3, 2, [1, 1, 1]],
  [4, 1, [1, 1, 3, 3]],
  [4, 4, [1, 3, 5, 13]],
  [5, 2, [1, 1, 5, 5, 17]],
  [5, 4, [1, 1, 5, 5, 5]],
  [5, 7, [1, 1, 7, 11, 19]],
  [5, 11, [1, 1, 5, 1, 1]],
  [5, 13, [1, 1, 1, 3, 11]],
  [5, 14, [1, 3, 5, 5, 31]],
  [6, 1, [1, 3, 3, 9, 7, 49]],
  [6, 13, [1, 1, 1, 15, 21, 21]],
  [6, 16, [1, 3, 1, 13, 27, 49]],
  [6, 19, [1, 1, 1, 15, 7, 5]],
  [6, 22, [1, 3, 1, 15, 13, 25]],
  [6, 25, [1, 1, 5, 5, 19, 61]],
  [7, 1, [1, 3, 7, 11, 23, 15, 103]],
  [7, 4, [1, 3, 7, 13, 13, 15, 69]],
  [7, 7, [1, 1, 3, 13, 7, 35, 63]],
  [7, 8, [1, 3, 5, 9, 1, 25, 53]],
  [7, 14, [1, 3, 1, 13, 9, 35, 107]],
  [7, 19, [1, 3, 1, 5, 27, 61, 31]],
  [7, 21, [1, 1, 5, 11, 19, 41, 61]],
  [7, 28, [1, 3, 5, 3, 3, 13, 69]],
  [7, 31, [1, 1, 7, 13, 1, 19, 1]],
  [7, 32, [1, 3, 7, 5, 13, 19, 59]],
  [7, 37, [1, 1, 3, 9, 25, 29, 41]],
  [7, 41, [1, 3, 5, 13, 23, 1, 55]],
  [7, 42, [1, 3, 7, 3, 13, 59, 17]],
  [7, 50, [1, 3, 1, 3, 5, 53, 69]],
  [7, 55, [1, 1, 5, 5, 23, 33, 13]],
  [7, 56, [1, 1, 7, 7, 1, 61, 123]],
  [7, 59, [1, 1, 7, 9, 13, 61, 49]],
  [7, 62, [1, 3, 3, 5, 3, 55, 33]],
  [8, 14, [1, 3, 1, 15, 31, 13, 49, 245]],
  [8, 21, [1, 3, 5, 15, 31, 59, 63, 97]],
  [8, 22, [1, 3, 1, 11, 11, 11, 77, 249]],
];

/** The largest dimension with direction numbers here. */
export const SOBOL_MAX_DIMENSION = JOE_KUO.length + 1;

const BITS = 32;
const TWO32 = 2 ** 32;

/** The 32 direction numbers v_1..v_32 of dimension `dim` (0-based), as 32-bit fractions. */
function directions(dim: number): Uint32Array {
  const v = new Uint32Array(BITS);
  if (dim === 0) {
    for (let i = 0; i < BITS; i++) v[i] = 2 ** (BITS - 1 - i);
    return v;
  }
  const [s, a, m] = JOE_KUO[dim - 1];
  for (let i = 0; i < Math.min(s, BITS); i++) v[i] = (m[i] * 2 ** (BITS - 1 - i)) >>> 0;
  for (let i = s; i < BITS; i++) {
    let x = v[i - s] ^ (v[i - s] >>> s);
    for (let k = 1; k < s; k++) if ((a >>> (s - 1 - k)) & 1) x ^= v[i - k];
    v[i] = x >>> 0;
  }
  return v;
}

function parity(x: number): number {
  x ^= x >>> 16;
  x ^= x >>> 8;
  x ^= x >>> 4;
  x ^= x >>> 2;
  x ^= x >>> 1;
  return x & 1;
}

export interface SobolOptions {
  /** Scramble with this seed's linear matrix scramble and digital shift (default true). */
  scramble?: boolean;
  /** Seed of the scramble (default 0). */
  seed?: number;
}

/** A d-dimensional Sobol sequence; `next()` returns its points in order, from index 0. */
export class Sobol {
  readonly dimension: number;
  private readonly v: Uint32Array[];
  private readonly x: Uint32Array;
  private readonly shift: Uint32Array;
  private count = 0;

  constructor(dimension: number, options: SobolOptions = {}) {
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > SOBOL_MAX_DIMENSION) {
      throw new RangeError(`Sobol dimension must be an integer in [1, ${SOBOL_MAX_DIMENSION}], got ${dimension}`);
    }
    this.dimension = dimension;
    this.v = Array.from({ length: dimension }, (_, d) => directions(d));
    this.x = new Uint32Array(dimension);
    this.shift = new Uint32Array(dimension);
    if (options.scramble ?? true) {
      const rng = new Xoshiro128ss(options.seed ?? 0, 0x50b01);
      for (let d = 0; d < dimension; d++) {
        // Output digit r (r = 0 is the 1/2 bit) = parity(v & row r): row r has the diagonal bit
        // and random bits for the more significant digits 0..r-1 (a lower-triangular matrix).
        const rows = new Uint32Array(BITS);
        for (let r = 0; r < BITS; r++) {
          const above = r === 0 ? 0 : (rng.nextU32() >>> (BITS - r)) << (BITS - r);
          rows[r] = (above | (2 ** (BITS - 1 - r))) >>> 0;
        }
        const vd = this.v[d];
        for (let j = 0; j < BITS; j++) {
          let y = 0;
          for (let r = 0; r < BITS; r++) if (parity(vd[j] & rows[r])) y |= 2 ** (BITS - 1 - r);
          vd[j] = y >>> 0;
        }
        this.shift[d] = rng.nextU32();
      }
      this.x.set(this.shift);
    }
  }

  /** The index of the point the next call returns. */
  get index(): number {
    return this.count;
  }

  /** The next point (a new array of `dimension` numbers in [0, 1)). */
  next(out = new Float64Array(this.dimension)): Float64Array {
    if (this.count >= TWO32) throw new RangeError('Sobol sequence exhausted (2^32 points)');
    if (this.count > 0) {
      // Gray code: point i differs from point i-1 by direction c, the lowest zero bit of i-1.
      let c = 0;
      let i = this.count - 1;
      while (i & 1) {
        i = Math.floor(i / 2);
        c++;
      }
      for (let d = 0; d < this.dimension; d++) this.x[d] = (this.x[d] ^ this.v[d][c]) >>> 0;
    }
    for (let d = 0; d < this.dimension; d++) out[d] = this.x[d] / TWO32;
    this.count++;
    return out;
  }

  /** Advances past n points. */
  skip(n: number): this {
    for (let i = 0; i < n; i++) this.next();
    return this;
  }

  /** The next n points as rows of an n x dimension row-major array. */
  take(n: number): Float64Array {
    const out = new Float64Array(n * this.dimension);
    const row = new Float64Array(this.dimension);
    for (let i = 0; i < n; i++) out.set(this.next(row), i * this.dimension);
    return out;
  }
}
