// TypeScript reference of native/common/philox.h: Philox4x32-10 with 32-bit integer arithmetic
// and the distributions with the same sequence of IEEE double operations (JS numbers, which are
// never fused), so that every value must match the addon's bit for bit.

export type Block = [number, number, number, number];

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two unsigned 32-bit words (exact in doubles). */
export function mulhi32(a: number, b: number): number {
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const t = a * bl; // < 2^48, exact
  const u = a * bh; // < 2^48, exact
  // a*b = u*2^16 + t = uh*2^32 + (ul*2^16 + t) with u = uh*2^16 + ul
  const uh = Math.floor(u / 65536);
  const ul = u - uh * 65536;
  return (uh + Math.floor((ul * 65536 + t) / 4294967296)) >>> 0;
}

export function philox4x32_10(ctr: Block, key0: number, key1: number): Block {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0);
  let k0 = key0 >>> 0;
  let k1 = key1 >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

const MASK64 = (1n << 64n) - 1n;

export interface Stream {
  k0: number;
  k1: number;
  streamLo: number;
  offset: bigint;
}

export function makeStream(seed: number | bigint, stream: number | bigint = 0, offset: number | bigint = 0): Stream {
  const s = BigInt(seed) & MASK64;
  const st = BigInt(stream) & MASK64;
  const streamHi = Number(st >> 32n);
  return {
    k0: Number(s & 0xffffffffn),
    k1: (Number(s >> 32n) ^ Math.imul(streamHi, 0x9e3779b9)) >>> 0,
    streamLo: Number(st & 0xffffffffn),
    offset: BigInt(offset) & MASK64,
  };
}

export function blockAt(s: Stream, i: number, round = 0): Block {
  const index = (s.offset + BigInt(i)) & MASK64;
  return philox4x32_10([Number(index & 0xffffffffn), Number(index >> 32n), s.streamLo, round], s.k0, s.k1);
}

// ---- IEEE double helpers ----
const buf = new DataView(new ArrayBuffer(8));
function hiWord(x: number): number {
  buf.setFloat64(0, x, true);
  return buf.getUint32(4, true);
}
function loWord(x: number): number {
  buf.setFloat64(0, x, true);
  return buf.getUint32(0, true);
}
function fromWords(hi: number, lo: number): number {
  buf.setUint32(4, hi >>> 0, true);
  buf.setUint32(0, lo >>> 0, true);
  return buf.getFloat64(0, true);
}
function pow2(k: number): number {
  return fromWords((k + 1023) << 20, 0);
}

const LN2_HI = 0.6931471805598903;
const LN2_LO = 5.497923018708371e-14;
const INV_LN2 = 1.4426950408889634;
const SQRT2 = 1.4142135623730951;
const PI_OVER_2P31 = 1.4629180792671596e-9;
const HALF_LOG_2PI = 0.9189385332046728;

export function log(x: number): number {
  if (!(x > 0)) return x === 0 ? -Infinity : NaN;
  if (x === Infinity) return x;
  let e = 0;
  if (x < 2.2250738585072014e-308) {
    x = x * 18014398509481984.0;
    e = -54;
  }
  const hi = hiWord(x);
  e += ((hi >>> 20) & 0x7ff) - 1023;
  let m = fromWords((hi & 0xfffff) | 0x3ff00000, loWord(x));
  if (m > SQRT2) {
    m = m * 0.5;
    e += 1;
  }
  const f = m - 1.0;
  const s = f / (2.0 + f);
  const z = s * s;
  let r = 0.047619047619047616;
  r = r * z + 0.05263157894736842;
  r = r * z + 0.058823529411764705;
  r = r * z + 0.06666666666666667;
  r = r * z + 0.07692307692307693;
  r = r * z + 0.09090909090909091;
  r = r * z + 0.1111111111111111;
  r = r * z + 0.14285714285714285;
  r = r * z + 0.2;
  r = r * z + 0.3333333333333333;
  const t = s + s;
  const logM = t + t * (z * r);
  return e * LN2_HI + (logM + e * LN2_LO);
}

export function exp(x: number): number {
  if (x !== x) return x;
  if (x > 709.782712893384) return Infinity;
  if (x < -745.1332191019412) return 0;
  const kd = Math.floor(x * INV_LN2 + 0.5);
  const r = x - kd * LN2_HI - kd * LN2_LO;
  let p = 1.6059043836821613e-10;
  p = p * r + 2.08767569878681e-9;
  p = p * r + 2.505210838544172e-8;
  p = p * r + 2.755731922398589e-7;
  p = p * r + 2.7557319223985893e-6;
  p = p * r + 2.48015873015873e-5;
  p = p * r + 0.0001984126984126984;
  p = p * r + 0.001388888888888889;
  p = p * r + 0.008333333333333333;
  p = p * r + 0.041666666666666664;
  p = p * r + 0.16666666666666666;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const k = kd;
  if (k >= -1022 && k <= 1023) return p * pow2(k);
  const k1 = Math.trunc(k / 2);
  return p * pow2(k1) * pow2(k - k1);
}

export function cos2pi(w: number): number {
  const j = ((w + 0x20000000) >>> 30) & 3; // (w + 2^29 mod 2^32) >> 30
  const r = (w - j * 0x40000000) | 0;
  const a = r * PI_OVER_2P31;
  const z = a * a;
  if ((j & 1) === 0) {
    let c = 4.779477332387385e-14;
    c = c * z + -1.1470745597729725e-11;
    c = c * z + 2.08767569878681e-9;
    c = c * z + -2.755731922398589e-7;
    c = c * z + 2.48015873015873e-5;
    c = c * z + -0.001388888888888889;
    c = c * z + 0.041666666666666664;
    c = c * z + -0.5;
    const cosA = 1.0 + z * c;
    return j === 0 ? cosA : -cosA;
  }
  let s = -7.647163731819816e-13;
  s = s * z + 1.6059043836821613e-10;
  s = s * z + -2.505210838544172e-8;
  s = s * z + 2.7557319223985893e-6;
  s = s * z + -0.0001984126984126984;
  s = s * z + 0.008333333333333333;
  s = s * z + -0.16666666666666666;
  const sinA = a + a * (z * s);
  return j === 1 ? -sinA : sinA;
}

export function logFactorial(k: number): number {
  if (k < 10) {
    let f = 1;
    for (let j = 2; j <= k; j++) f *= j;
    return log(f);
  }
  const x = k + 1;
  const w = 1 / x;
  const w2 = w * w;
  let c = 0.0008417508417508417;
  c = 0.0005952380952380953 - w2 * c;
  c = 0.0007936507936507937 - w2 * c;
  c = 0.002777777777777778 - w2 * c;
  c = 0.08333333333333333 - w2 * c;
  return (x - 0.5) * log(x) - x + HALF_LOG_2PI + w * c;
}

// ---- uniform bits ----
export function u53(a: number, b: number): number {
  return ((a >>> 5) * 67108864 + (b >>> 6)) * 1.1102230246251565e-16;
}
export function u53Open0(a: number, b: number): number {
  return ((a >>> 5) * 67108864 + (b >>> 6) + 1) * 1.1102230246251565e-16;
}

function floatBelow(h: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = h;
  if (h > 0) u[0] -= 1;
  else if (h === 0) u[0] = 0x80000001;
  else u[0] += 1;
  return f[0];
}

// ---- distributions ----
export function uniformAt(s: Stream, i: number, low: number, high: number): number {
  const b = blockAt(s, i);
  const u = (b[0] >>> 8) * 5.960464477539063e-8;
  const lo = Math.fround(low);
  const hi = Math.fround(high);
  const x = Math.fround(lo + (hi - lo) * u);
  return x < hi ? x : floatBelow(hi);
}

export function standardNormal(b: Block): number {
  const u1 = u53Open0(b[0], b[1]);
  return Math.sqrt(-2.0 * log(u1)) * cos2pi(b[2]);
}

export function normalAt(s: Stream, i: number, mean: number, std: number): number {
  const z = standardNormal(blockAt(s, i));
  return Math.fround(Math.fround(mean) + Math.fround(std) * z);
}

export function bernoulliAt(s: Stream, i: number, p: number): number {
  const b = blockAt(s, i);
  return u53(b[0], b[1]) < Math.fround(p) ? 1 : 0;
}

export const POISSON_MAX_RATE = 1e9;

// Poisson(lam) by inversion: the least k with u < F(k), F summed in double.
export function poissonInversion(u: number, lam: number): number {
  let p = exp(-lam);
  let F = p;
  let k = 0;
  while (u >= F) {
    k += 1;
    p = p * (lam / k);
    const next = F + p;
    if (next === F) break;
    F = next;
  }
  return k;
}

export function poissonAt(s: Stream, i: number, rate: number): number {
  let lam = Math.fround(rate);
  if (!(lam > 0)) return 0;
  if (lam > POISSON_MAX_RATE) lam = POISSON_MAX_RATE;
  if (lam < 10) {
    const b = blockAt(s, i);
    return poissonInversion(u53(b[0], b[1]), lam);
  }
  const slam = Math.sqrt(lam);
  const logLam = log(lam);
  const pb = 0.931 + 2.53 * slam;
  const pa = -0.059 + 0.02483 * pb;
  const logInvAlpha = log(1.1239 + 1.1328 / (pb - 3.4));
  const vr = 0.9277 - 3.6224 / (pb - 2.0);
  for (let round = 0; round < 1000; round++) {
    const b = blockAt(s, i, round);
    const U = u53(b[0], b[1]) - 0.5;
    const V = u53Open0(b[2], b[3]);
    const us = 0.5 - (U < 0 ? -U : U);
    const k = Math.floor(((2.0 * pa) / us + pb) * U + lam + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    const lhs = log(V) + logInvAlpha - log(pa / (us * us) + pb);
    const rhs = -lam + k * logLam - logFactorial(k);
    if (lhs <= rhs && k <= 2147483647) return k;
  }
  return Math.floor(lam);
}

export function waldAt(s: Stream, i: number, mean: number, shape: number): number {
  const b = blockAt(s, i);
  const nu = standardNormal(b);
  const mu = Math.fround(mean);
  const lambda = Math.fround(shape);
  const Y = mu * (nu * nu);
  let x = mu;
  if (Y > 0) {
    const fourLambdaY = 4.0 * lambda * Y;
    const S = Math.sqrt(fourLambdaY + Y * Y);
    const sy = S + Y;
    x = (mu * fourLambdaY) / (sy * sy);
  }
  const z = b[3] * 2.3283064365386963e-10;
  const w = z <= mu / (mu + x) ? x : mu * (mu / x);
  return Math.fround(w);
}

// The spike count of element e (native/common/segregated_step.h, spike_count): Poisson(rate) by
// inversion of one 32-bit uniform u = (x + 1/2) 2^-32, x = word (e >> 4) & 3 of block
// 16 (e >> 6) + (e & 15); rates from 10 up take poissonAt's method on blocks offset by 2^62.
export function spikeCount(s: Stream, e: number, rate: number): number {
  const lam = Math.fround(rate);
  if (!(lam > 0)) return 0;
  if (lam >= 10) return poissonAt({ ...s, offset: (s.offset + (1n << 62n)) & MASK64 }, e, rate);
  const b = blockAt(s, Math.floor(e / 64) * 16 + (e % 16));
  return poissonInversion((b[Math.floor(e / 16) % 4] + 0.5) * 2 ** -32, lam);
}
