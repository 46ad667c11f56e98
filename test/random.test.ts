import test from 'ava';

import { DeviceString, native } from '../src/native';
import * as ref from './reference/philox';

// Every draw is checked two ways: bit for bit against the TypeScript reference (same counters,
// same IEEE double operations, so no tolerance), and statistically against the distribution
// (moments within 5 standard errors, chi-square and Kolmogorov-Smirnov tests at p = 0.001).

const cudaAvailable = native.devices().cuda.available;

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) return `index ${i}: ${a[i]} vs ${b[i]}`;
  }
  return '';
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

function variance(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - m) * (a[i] - m);
  return s / (a.length - 1);
}

// Chi-square critical value at upper tail p = 0.001 (Wilson-Hilferty, z = 3.0902).
function chiSquareCritical(df: number): number {
  const z = 3.0902;
  const c = 2 / (9 * df);
  return df * (1 - c + z * Math.sqrt(c)) ** 3;
}

// erfc by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), enough for KS at n = 2e5.
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const r = poly * Math.exp(-z * z);
  return x >= 0 ? r : 2 - r;
}
function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

// Kolmogorov-Smirnov statistic of a sample against a continuous CDF; 1.949/sqrt(n) is the
// critical value at p = 0.001.
function ksStatistic(sample: Float32Array, cdf: (x: number) => number): number {
  const s = Float64Array.from(sample).sort();
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return d;
}

function logFactorial(k: number): number {
  let s = 0;
  for (let j = 2; j <= k; j++) s += Math.log(j);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Philox itself

test('Philox4x32-10 reference matches the Random123 known-answer vectors', (t) => {
  // DEShawResearch/random123 @ 9545ff64, tests/kat_vectors lines 27-29: ctr[4] key[2] -> out[4].
  const kats: Array<[ref.Block, number, number, ref.Block]> = [
    [[0, 0, 0, 0], 0, 0, [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      0xffffffff,
      0xffffffff,
      [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      0xa4093822,
      0x299f31d0,
      [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ],
  ];
  for (const [ctr, k0, k1, expected] of kats) t.deepEqual(ref.philox4x32_10(ctr, k0, k1), expected);
});

test('reference mulhi32 equals the BigInt product', (t) => {
  const words = [0, 1, 2, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xd2511f53, 0xcd9e8d57];
  let x = 12345;
  for (let i = 0; i < 200; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    words.push(x);
  }
  for (const a of words) {
    for (const b of words.slice(0, 40)) {
      t.is(ref.mulhi32(a, b), Number((BigInt(a) * BigInt(b)) >> 32n));
    }
  }
});

test('addon uniforms are the Philox words of the documented counters, bit for bit', async (t) => {
  // uniform on [0, 1) is (x0 >> 8) * 2^-24 of block (offset + i, stream), so this checks the
  // addon's Philox, key and counter layout, including 64-bit wrap of the index and the high
  // half of the stream folded into the key.
  const cases: Array<{ seed: number | bigint; stream?: number | bigint; offset?: number | bigint; n: number }> = [
    { seed: 0, n: 1 },
    { seed: 1, n: 3 },
    { seed: 42, stream: 7, n: 17 },
    { seed: 2 ** 53 - 1, stream: 2 ** 32 - 1, offset: 2 ** 32 - 5, n: 513 },
    { seed: 0xffffffffffffffffn, stream: 0xffffffffffffffffn, offset: 0xfffffffffffffffdn, n: 6 },
    { seed: 123456789123456789n, stream: 2n ** 32n, offset: 1000, n: 1000 },
  ];
  for (const c of cases) {
    const out = await native.randomUniform({ seed: c.seed, stream: c.stream, offset: c.offset, n: c.n });
    const s = ref.makeStream(c.seed, c.stream ?? 0, c.offset ?? 0);
    const expected = new Float32Array(c.n);
    for (let i = 0; i < c.n; i++) expected[i] = (ref.blockAt(s, i)[0] >>> 8) / 2 ** 24;
    const label = JSON.stringify(c, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
    t.is(firstDifference(bits(out), bits(expected)), '', label);
  }
});

// ---------------------------------------------------------------------------------------------
// Every distribution against the reference, bit for bit

test('uniform on [low, high) equals the reference bit for bit', async (t) => {
  const ranges: Array<[number, number]> = [
    [0, 1],
    [-1, 1],
    [1, 2],
    [-3.5, -3.25],
    [1e-30, 2e-30],
    [-3e38, 3e38],
    [16777216, 16777218],
  ];
  for (const [low, high] of ranges) {
    const n = 4000;
    const out = await native.randomUniform({ seed: 9, stream: 3, offset: 5, n, low, high });
    const s = ref.makeStream(9, 3, 5);
    const expected = Float32Array.from({ length: n }, (_, i) => ref.uniformAt(s, i, low, high));
    t.is(firstDifference(bits(out), bits(expected)), '', `[${low}, ${high})`);
    for (const v of out) {
      if (!(v >= Math.fround(low) && v < Math.fround(high))) t.fail(`${v} outside [${low}, ${high})`);
    }
  }
});

test('a uniform that would round up to high stays below it', async (t) => {
  // On [1, 1 + 2^-22) the floats are 1, 1 + 2^-23 and high itself: low + (high - low) u rounds up
  // to high for u > 3/4, and those draws must become 1 + 2^-23, the float below high.
  const low = 1;
  const high = 1 + 2 ** -22;
  const out = await native.randomUniform({ seed: 5, n: 20000, low, high });
  let below = 0;
  for (const v of out) {
    if (v === 1 + 2 ** -23) below++;
    else if (v !== 1) t.fail(`value ${v}`);
  }
  // u in (1/4, 3/4) rounds to the middle float and u >= 3/4 is clamped to it: P = 3/4.
  t.true(Math.abs(below / out.length - 0.75) < 0.02, `${below} of ${out.length}`);
});

test('normal equals the reference bit for bit', async (t) => {
  for (const [m, sd] of [
    [0, 1],
    [3, 0.5],
    [-1e3, 1e-3],
    [2, 0],
  ]) {
    const n = 20000;
    const out = await native.randomNormal({ seed: 77, stream: 1, n, mean: m, std: sd });
    const s = ref.makeStream(77, 1);
    const expected = Float32Array.from({ length: n }, (_, i) => ref.normalAt(s, i, m, sd));
    t.is(firstDifference(bits(out), bits(expected)), '', `mean ${m}, std ${sd}`);
  }
});

test('Bernoulli equals the reference bit for bit', async (t) => {
  const n = 20000;
  const p = Float32Array.from({ length: n }, (_, i) => [0, 1, 1e-9, 0.25, 0.5, 0.999, i / n][i % 7]);
  const out = await native.randomBernoulli({ seed: 3, stream: 2, offset: 11, p });
  const s = ref.makeStream(3, 2, 11);
  const expected = Uint8Array.from({ length: n }, (_, i) => ref.bernoulliAt(s, i, p[i]));
  t.is(firstDifference(out, expected), '');
});

test('Poisson equals the reference bit for bit at small and large rates', async (t) => {
  const rates = [0, 1e-6, 0.05, 0.5, 3, 9.999, 10, 10.5, 20, 100, 1234.5, 1e5, 1e7, 1e9];
  const n = 14000;
  const rate = Float32Array.from({ length: n }, (_, i) => rates[i % rates.length]);
  const out = await native.randomPoisson({ seed: 2024, stream: 9, rate });
  const s = ref.makeStream(2024, 9);
  const expected = Int32Array.from({ length: n }, (_, i) => ref.poissonAt(s, i, rate[i]));
  t.is(firstDifference(out, expected), '');
  for (let i = 0; i < n; i++) if (rate[i] === 0 && out[i] !== 0) t.fail(`rate 0 gave ${out[i]}`);
});

test('Wald equals the reference bit for bit', async (t) => {
  for (const [m, shape] of [
    [1, 1],
    [0.5, 20],
    [3, 0.01],
    [1e-3, 1e3],
  ]) {
    const n = 20000;
    const out = await native.randomWald({ seed: 8, n, mean: m, shape });
    const s = ref.makeStream(8);
    const expected = Float32Array.from({ length: n }, (_, i) => ref.waldAt(s, i, m, shape));
    t.is(firstDifference(bits(out), bits(expected)), '', `mean ${m}, shape ${shape}`);
    for (const v of out) if (!(v > 0 && Number.isFinite(v))) t.fail(`Wald value ${v}`);
  }
});

test('reference log, exp and cos are accurate to a few ulp', (t) => {
  // The distributions' quality rests on these; Math.* is the yardstick here (not bit-exact).
  const ulp = (x: number) => Math.max(Number.EPSILON * Math.abs(x), Number.MIN_VALUE);
  let worst = 0;
  for (let i = 1; i < 20000; i++) {
    const x = i * 1.3e-4 + (i % 7) * 1e-9;
    for (const v of [x, 1 / x, x * 1e100, x * 1e-300, 1 - x / 3]) {
      worst = Math.max(worst, Math.abs(ref.log(v) - Math.log(v)) / ulp(Math.log(v)));
    }
  }
  t.true(worst <= 4, `log: ${worst} ulp`);
  worst = 0;
  for (let i = 0; i < 20000; i++) {
    const x = -745 + (i * 1454.7) / 20000;
    const e = Math.exp(x);
    if (e > 1e-300) worst = Math.max(worst, Math.abs(ref.exp(x) - e) / ulp(e));
  }
  t.true(worst <= 4, `exp: ${worst} ulp`);
  t.is(ref.exp(0), 1);
  t.is(ref.exp(-0), 1);
  let worstAbs = 0;
  for (let w = 0; w < 2 ** 32; w += 65537 * 13) {
    worstAbs = Math.max(worstAbs, Math.abs(ref.cos2pi(w) - Math.cos((2 * Math.PI * w) / 2 ** 32)));
  }
  t.true(worstAbs < 1e-15, `cos: ${worstAbs}`);
  for (const k of [0, 1, 5, 9, 10, 11, 50, 170]) {
    t.true(Math.abs(ref.logFactorial(k) - logFactorial(k)) <= 1e-12 * Math.max(1, logFactorial(k)), `log ${k}!`);
  }
});

// ---------------------------------------------------------------------------------------------
// The distributions, statistically (n = 200000)

const N = 200000;

test('uniform mean and variance, and a KS test', async (t) => {
  const low = -2;
  const high = 3;
  const x = await native.randomUniform({ seed: 11, n: N, low, high });
  const w = high - low;
  const mu = (low + high) / 2;
  const sigma2 = (w * w) / 12;
  const mu4 = w ** 4 / 80;
  t.true(Math.abs(mean(x) - mu) < 5 * Math.sqrt(sigma2 / N), `mean ${mean(x)}`);
  t.true(Math.abs(variance(x) - sigma2) < 5 * Math.sqrt((mu4 - sigma2 * sigma2) / N), `variance ${variance(x)}`);
  const d = ksStatistic(x, (v) => Math.min(1, Math.max(0, (v - low) / w)));
  t.true(d < 1.949 / Math.sqrt(N), `KS D = ${d}`);
});

test('normal mean and variance, and a KS test', async (t) => {
  const m = 1.5;
  const sd = 2;
  const x = await native.randomNormal({ seed: 12, stream: 4, n: N, mean: m, std: sd });
  t.true(Math.abs(mean(x) - m) < 5 * Math.sqrt((sd * sd) / N), `mean ${mean(x)}`);
  // var of the sample variance = 2 sigma^4 / n for a normal
  t.true(Math.abs(variance(x) - sd * sd) < 5 * Math.sqrt((2 * sd ** 4) / N), `variance ${variance(x)}`);
  const d = ksStatistic(x, (v) => normalCdf((v - m) / sd));
  t.true(d < 1.949 / Math.sqrt(N), `KS D = ${d}`);
  // Box-Muller with a 53-bit radius reaches beyond 4 sigma about 13 times in 2e5 draws.
  let tails = 0;
  for (const v of x) if (Math.abs(v - m) > 4 * sd) tails++;
  t.true(tails >= 1 && tails <= 40, `${tails} draws beyond 4 sigma`);
});

test('Wald mean and variance, and a KS test', async (t) => {
  for (const [mu, lambda] of [
    [1, 2],
    [2, 0.5],
  ]) {
    const x = await native.randomWald({ seed: 13, stream: mu, n: N, mean: mu, shape: lambda });
    const sigma2 = mu ** 3 / lambda;
    const mu4 = (15 * mu ** 7) / lambda ** 3 + (3 * mu ** 6) / lambda ** 2; // kappa4 + 3 kappa2^2
    t.true(Math.abs(mean(x) - mu) < 5 * Math.sqrt(sigma2 / N), `mean ${mean(x)} (mu ${mu})`);
    t.true(
      Math.abs(variance(x) - sigma2) < 5 * Math.sqrt((mu4 - sigma2 * sigma2) / N),
      `variance ${variance(x)} (expected ${sigma2})`,
    );
    // F(x) = Phi(sqrt(l/x)(x/mu - 1)) + exp(2l/mu) Phi(-sqrt(l/x)(x/mu + 1))
    const cdf = (v: number) =>
      normalCdf(Math.sqrt(lambda / v) * (v / mu - 1)) +
      Math.exp((2 * lambda) / mu) * normalCdf(-Math.sqrt(lambda / v) * (v / mu + 1));
    const d = ksStatistic(x, cdf);
    t.true(d < 1.949 / Math.sqrt(N), `KS D = ${d} (mu ${mu}, lambda ${lambda})`);
  }
});

test('Bernoulli frequencies', async (t) => {
  const ps = [0, 0.001, 0.1, 0.5, 0.9, 1];
  const per = 50000;
  const p = new Float32Array(ps.length * per);
  ps.forEach((v, j) => p.fill(v, j * per, (j + 1) * per));
  const out = await native.randomBernoulli({ seed: 14, p });
  ps.forEach((v, j) => {
    let ones = 0;
    for (let i = j * per; i < (j + 1) * per; i++) ones += out[i];
    const pf = Math.fround(v);
    if (v === 0 || v === 1) t.is(ones, v * per, `p = ${v}`);
    else t.true(Math.abs(ones / per - pf) < 5 * Math.sqrt((pf * (1 - pf)) / per), `p = ${v}: ${ones / per}`);
  });
  for (const v of out) if (v !== 0 && v !== 1) t.fail(`Bernoulli value ${v}`);
});

for (const rate of [0.05, 0.5, 3, 20, 100]) {
  test(`Poisson(${rate}) passes a chi-square goodness-of-fit test`, async (t) => {
    const rates = new Float32Array(N).fill(rate);
    const out = await native.randomPoisson({ seed: 15, stream: Math.round(rate * 100), rate: rates });
    const lam = Math.fround(rate);
    let maxK = 0;
    for (const k of out) maxK = Math.max(maxK, k);
    const counts = new Float64Array(maxK + 1);
    for (const k of out) counts[k]++;
    const pmf = (k: number) => Math.exp(-lam + k * Math.log(lam) - logFactorial(k));
    // Bins with expected count >= 5: a lower tail [0, lo], single values, and an upper tail [hi, inf).
    const bins: Array<{ observed: number; expected: number }> = [];
    let k = 0;
    let cumulative = 0;
    let observed = 0;
    let expected = 0;
    while (true) {
      const pk = pmf(k);
      observed += k <= maxK ? counts[k] : 0;
      expected += N * pk;
      cumulative += pk;
      k++;
      if (expected >= 5 && N * (1 - cumulative) >= 5) {
        bins.push({ observed, expected });
        observed = 0;
        expected = 0;
      } else if (N * (1 - cumulative) < 5) {
        break;
      }
    }
    // the upper tail from k on, merged with the unfinished bin
    let tailObserved = observed;
    for (let j = k; j <= maxK; j++) tailObserved += counts[j];
    bins.push({ observed: tailObserved, expected: expected + N * (1 - cumulative) });
    let chi2 = 0;
    for (const b of bins) chi2 += (b.observed - b.expected) ** 2 / b.expected;
    const df = bins.length - 1;
    t.true(df >= 2, `${bins.length} bins`);
    const critical = chiSquareCritical(df);
    t.true(chi2 < critical, `chi2 = ${chi2.toFixed(2)} with ${df} df (critical ${critical.toFixed(2)})`);
    t.true(Math.abs(mean(out) - lam) < 5 * Math.sqrt(lam / N), `mean ${mean(out)}`);
  });
}

test('Poisson at very large rates has the right mean and variance', async (t) => {
  for (const rate of [1e4, 1e8]) {
    const n = 50000;
    const out = await native.randomPoisson({ seed: 16, rate: new Float32Array(n).fill(rate) });
    t.true(Math.abs(mean(out) - rate) < 5 * Math.sqrt(rate / n), `rate ${rate}: mean ${mean(out)}`);
    // var of the sample variance ~ 2 rate^2 / n for large rates
    t.true(Math.abs(variance(out) - rate) < 5 * Math.sqrt((2 * rate * rate) / n), `rate ${rate}: var ${variance(out)}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Streams, offsets, threads

interface DrawOptions {
  seed: number | bigint;
  stream?: number | bigint;
  offset?: number;
  n: number;
  threads?: number;
  device?: DeviceString;
}
type Draw = (o: DrawOptions) => Promise<ArrayLike<number>>;

const rateFor = (i: number) => [0.02, 0.7, 4, 15, 300][i % 5];
const draws: Record<string, Draw> = {
  uniform: (o) => native.randomUniform({ ...o, low: -1, high: 4 }),
  normal: (o) => native.randomNormal({ ...o, mean: 1, std: 3 }),
  // p and rate vary with the element's index in the stream, so slices see the same values.
  bernoulli: ({ n, offset = 0, ...o }) =>
    native.randomBernoulli({ ...o, offset, p: Float32Array.from({ length: n }, (_, i) => ((i + offset) % 10) / 10) }),
  poisson: ({ n, offset = 0, ...o }) =>
    native.randomPoisson({ ...o, offset, rate: Float32Array.from({ length: n }, (_, i) => rateFor(i + offset)) }),
  wald: (o) => native.randomWald({ ...o, mean: 1.5, shape: 0.7 }),
};

for (const [name, draw] of Object.entries(draws)) {
  test(`${name}: the same seed and stream give the same values, other streams and seeds others`, async (t) => {
    const n = 5000;
    const a = await draw({ seed: 21, stream: 4, n });
    const b = await draw({ seed: 21, stream: 4, n });
    t.is(firstDifference(a, b), '');
    for (const other of [
      { seed: 21, stream: 5 },
      { seed: 22, stream: 4 },
      { seed: 21, stream: 4n + 2n ** 32n },
    ]) {
      const c = await draw({ ...other, n });
      let same = 0;
      for (let i = 0; i < n; i++) if (a[i] === c[i]) same++;
      // Discrete draws agree by chance (Bernoulli about half the time); continuous ones almost never.
      const limit = name === 'bernoulli' ? 0.75 * n : name === 'poisson' ? 0.6 * n : 5;
      t.true(same < limit, `${JSON.stringify({ ...other, stream: String(other.stream) })}: ${same} equal`);
    }
  });

  test(`${name}: a draw equals the concatenation of its slices`, async (t) => {
    const whole = await draw({ seed: 31, stream: 2, offset: 0, n: 1000 });
    const head = await draw({ seed: 31, stream: 2, offset: 0, n: 400 });
    const tail = await draw({ seed: 31, stream: 2, offset: 400, n: 600 });
    t.is(firstDifference(whole, [...Array.from(head), ...Array.from(tail)]), '');
  });

  test(`${name}: 1 and 2 threads give identical values`, async (t) => {
    const n = 100003;
    const one = await draw({ seed: 41, n, threads: 1 });
    const two = await draw({ seed: 41, n, threads: 2 });
    t.is(firstDifference(one, two), '');
  });

  // Needs a GPU: skipped (and reported as skipped) where CUDA is unavailable.
  (cudaAvailable ? test : test.skip)(`${name}: CUDA gives the CPU's values bit for bit`, async (t) => {
    const n = 300007;
    const cpu = await draw({ seed: 51, stream: 6, offset: 1e6, n });
    const gpu = await draw({ seed: 51, stream: 6, offset: 1e6, n, device: 'cuda' });
    t.is(firstDifference(cpu, gpu), '');
  });
}

test('n = 0 and empty arrays give empty results', async (t) => {
  t.is((await native.randomUniform({ seed: 1, n: 0 })).length, 0);
  t.is((await native.randomNormal({ seed: 1, n: 0 })).length, 0);
  t.is((await native.randomWald({ seed: 1, n: 0, mean: 1, shape: 1 })).length, 0);
  t.is((await native.randomBernoulli({ seed: 1, p: new Float32Array(0) })).length, 0);
  t.is((await native.randomPoisson({ seed: 1, rate: new Float32Array(0) })).length, 0);
});

// ---------------------------------------------------------------------------------------------
// Argument checking

test('bad arguments throw TypeError or RangeError naming the argument', (t) => {
  const call = (fn: keyof typeof native, o: unknown) => () => (native[fn] as (o: unknown) => unknown)(o);
  const typeErrors: Array<[keyof typeof native, unknown, RegExp]> = [
    ['randomUniform', { n: 3 }, /randomUniform: seed is required/],
    ['randomUniform', { seed: '1', n: 3 }, /randomUniform: seed must be/],
    ['randomUniform', { seed: 1, n: '3' }, /randomUniform: n must be/],
    ['randomUniform', { seed: 1, n: 3, low: '0' }, /randomUniform: low must be/],
    ['randomUniform', { seed: 1, n: 3, lo: 0 }, /randomUniform: unknown option "lo"/],
    ['randomNormal', { seed: 1, stream: 'a', n: 3 }, /randomNormal: stream must be/],
    ['randomNormal', { seed: 1, offset: {}, n: 3 }, /randomNormal: offset must be/],
    ['randomBernoulli', { seed: 1, p: new Float64Array(3) }, /randomBernoulli: p must be a Float32Array/],
    ['randomBernoulli', { seed: 1, p: [0.5] }, /randomBernoulli: p must be a Float32Array/],
    ['randomPoisson', { seed: 1 }, /randomPoisson: rate must be a Float32Array/],
    ['randomWald', { seed: 1, n: 3, shape: 1 }, /randomWald: mean is required/],
    ['randomWald', { seed: 1, n: 3, mean: 1, shape: null }, /randomWald: shape must be/],
    ['randomUniform', 5, /randomUniform: expected one options object/],
  ];
  for (const [fn, o, message] of typeErrors) t.throws(call(fn, o), { instanceOf: TypeError, message }, String(message));

  const rangeErrors: Array<[keyof typeof native, unknown, RegExp]> = [
    ['randomUniform', { seed: -1, n: 3 }, /randomUniform: seed must be a non-negative/],
    ['randomUniform', { seed: 1.5, n: 3 }, /randomUniform: seed must be/],
    ['randomUniform', { seed: 2 ** 53, n: 3 }, /randomUniform: seed must be/],
    ['randomUniform', { seed: 2n ** 64n, n: 3 }, /randomUniform: seed must be/],
    ['randomUniform', { seed: -1n, n: 3 }, /randomUniform: seed must be/],
    ['randomUniform', { seed: 1, stream: -2, n: 3 }, /randomUniform: stream must be/],
    ['randomUniform', { seed: 1, offset: NaN, n: 3 }, /randomUniform: offset must be/],
    ['randomUniform', { seed: 1, n: -1 }, /randomUniform: n must be in/],
    ['randomUniform', { seed: 1, n: 2 ** 31 + 1 }, /randomUniform: n must be in/],
    ['randomUniform', { seed: 1, n: 2.5 }, /randomUniform: n must be an integer/],
    ['randomUniform', { seed: 1, n: 3, low: 1, high: 1 }, /randomUniform: high must be greater than low/],
    ['randomUniform', { seed: 1, n: 3, low: 2 }, /randomUniform: high must be greater than low/],
    ['randomUniform', { seed: 1, n: 3, high: Infinity }, /randomUniform: high must be finite/],
    ['randomUniform', { seed: 1, n: 3, low: -1e39 }, /randomUniform: low must be in/],
    ['randomNormal', { seed: 1, n: 3, std: -1 }, /randomNormal: std must be in/],
    ['randomNormal', { seed: 1, n: 3, mean: NaN }, /randomNormal: mean must be finite/],
    ['randomBernoulli', { seed: 1, p: new Float32Array([0.5, 1.5]) }, /randomBernoulli: p\[1\] must be in \[0, 1\], got 1.5/],
    ['randomBernoulli', { seed: 1, p: new Float32Array([0.5, 0, -0.1]) }, /randomBernoulli: p\[2\] must be in \[0, 1\]/],
    ['randomBernoulli', { seed: 1, p: new Float32Array([NaN]) }, /randomBernoulli: p\[0\] must be in \[0, 1\], got NaN/],
    ['randomPoisson', { seed: 1, rate: new Float32Array([1, -1]) }, /randomPoisson: rate\[1\] must be finite and in/],
    ['randomPoisson', { seed: 1, rate: new Float32Array([NaN]) }, /randomPoisson: rate\[0\] must be finite/],
    ['randomPoisson', { seed: 1, rate: new Float32Array([0, 0, Infinity]) }, /randomPoisson: rate\[2\] must be finite/],
    ['randomPoisson', { seed: 1, rate: new Float32Array([2e9]) }, /randomPoisson: rate\[0\] must be finite and in \[0, 1e\+?09\]/],
    ['randomWald', { seed: 1, n: 3, mean: 0, shape: 1 }, /randomWald: mean must be > 0/],
    ['randomWald', { seed: 1, n: 3, mean: 1e-50, shape: 1 }, /randomWald: mean must be > 0/],
    ['randomWald', { seed: 1, n: 3, mean: 1, shape: -2 }, /randomWald: shape must be in/],
    ['randomWald', { seed: 1, n: 3, mean: 1, shape: 0 }, /randomWald: shape must be > 0/],
    ['randomWald', { seed: 1, n: 3, mean: 1, shape: Infinity }, /randomWald: shape must be finite/],
    ['randomNormal', { seed: 1, n: 3, threads: 0 }, /randomNormal: threads must be in/],
  ];
  for (const [fn, o, message] of rangeErrors) t.throws(call(fn, o), { instanceOf: RangeError, message }, String(message));
});

test('seeds given as numbers and as bigints are the same seed', async (t) => {
  const a = await native.randomNormal({ seed: 2 ** 40 + 3, stream: 5, offset: 7, n: 50 });
  const b = await native.randomNormal({ seed: 2n ** 40n + 3n, stream: 5n, offset: 7n, n: 50 });
  t.is(firstDifference(a, b), '');
});
