// A small seeded PRNG (xoshiro128**, Blackman & Vigna 2018) with SplitMix64 seeding, and a
// Fisher-Yates shuffle. Streams are keyed: rngFor(seed, stream, epoch) gives the generator of
// one epoch directly, so epoch e of seed s is reproducible without replaying epochs 0..e-1.

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64 step (Steele, Lea & Flood 2014): returns [next state, output]. */
export function splitmix64(state: bigint): [bigint, bigint] {
  const s = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [s, z ^ (z >> 31n)];
}

function toBig(key: number | bigint): bigint {
  if (typeof key === 'bigint') return key & MASK64;
  if (!Number.isSafeInteger(key)) throw new RangeError(`rng key ${key} is not a safe integer`);
  return BigInt.asUintN(64, BigInt(key));
}

export class Xoshiro128ss {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Seeds from any list of integer keys (seed, stream id, epoch, ...), hashed with SplitMix64. */
  constructor(...keys: Array<number | bigint>) {
    let h = 0x6a09e667f3bcc909n;
    for (const k of keys) {
      [, h] = splitmix64(h ^ toBig(k));
    }
    let st = h;
    let a: bigint;
    let b: bigint;
    [st, a] = splitmix64(st);
    [, b] = splitmix64(st);
    this.s0 = Number(a & 0xffffffffn) >>> 0;
    this.s1 = Number(a >> 32n) >>> 0;
    this.s2 = Number(b & 0xffffffffn) >>> 0;
    this.s3 = Number(b >> 32n) >>> 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** A generator with the given raw state (for known-answer tests); not all zero. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Xoshiro128ss {
    if (((s0 | s1 | s2 | s3) >>> 0) === 0) throw new RangeError('xoshiro128**: the all-zero state is not allowed');
    const g = new Xoshiro128ss();
    g.s0 = s0 >>> 0;
    g.s1 = s1 >>> 0;
    g.s2 = s2 >>> 0;
    g.s3 = s3 >>> 0;
    return g;
  }

  /** Next uint32: xoshiro128** (result = rotl(s1 * 5, 7) * 9). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform integer in [0, n), n <= 2^32, without modulo bias (rejects the top partial block). */
  below(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= 0x100000000)) throw new RangeError(`below(${n}): n must be an integer in [1, 2^32]`);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const r = this.nextU32();
      if (r < limit) return r % n;
    }
  }

  /** Uniform double in [0, 1) with 32 random bits. */
  nextFloat(): number {
    return this.nextU32() / 0x100000000;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Stream ids keep the generators of different uses independent for one seed. */
export const STREAM = {
  epoch: 1,
  validation: 2,
  kfold: 3,
  show: 4,
} as const;

/** In-place Fisher-Yates (Durstenfeld) shuffle: every permutation equally likely. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(a: T, rng: Xoshiro128ss): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}
