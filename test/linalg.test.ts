// gemm, gemv and ger against float64 references, their determinism, and argument checking.
//
// Tolerance: each result may differ from the float64 reference by at most
//   tol(k) * (|alpha| * sum_p |a_ip * b_pj| + |beta * c_ij|),  tol(k) = 1e-5 * sqrt(k),
// where k is the length of the reduction. The worst-case float32 summation error in any
// order is about k * 2^-24 times the same sum, which stays below tol(k) for k < 28,000 (all
// sizes here); typical errors are far smaller.
import test from 'ava';

import { native } from '../src/native';
import { withSimd } from './nn-helpers';
import { gemmRef, gemvRef, gerRef, randomArray, rng, worstError } from './reference/linalg';

const tol = (k: number) => 1e-5 * Math.sqrt(Math.max(k, 1));
const bits = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
const sameBits = (x: Float32Array, y: Float32Array) => x.length === y.length && bits(x).equals(bits(y));

interface GemmCase {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  withC: boolean;
}

function makeGemm(c: GemmCase, seed: number) {
  const next = rng(seed);
  const a = randomArray(c.m * c.k, next);
  const b = randomArray(c.k * c.n, next);
  const cArr = c.withC ? randomArray(c.m * c.n, next) : undefined;
  // With beta == 0, C must not be read: poison it.
  if (cArr && c.beta === 0) cArr.fill(NaN);
  return { a, b, c: cArr, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB, alpha: c.alpha, beta: c.beta };
}

// [m, k, n]: awkward sizes around the micro-tiles (AVX-512 8 x 48, AVX2 6 x 16) and the model shapes.
const shapes: Array<[number, number, number]> = [
  [1, 1, 1], [3, 3, 3], [17, 17, 17], [1, 784, 500], [100, 784, 500], [33, 1, 65], [65, 1, 33],
  [513, 3, 17], [3, 17, 513], [17, 513, 3], [9, 49, 47], [7, 100, 97], [500, 17, 1], [49, 320, 50],
];
const scalars: Array<{ alpha: number; beta: number; withC: boolean }> = [
  { alpha: 1, beta: 0, withC: false },
  { alpha: -0.5, beta: 0, withC: true },
  { alpha: 1.5, beta: 1, withC: true },
  { alpha: 0.25, beta: -2, withC: true },
];

for (const [m, k, n] of shapes) {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      test(`gemm ${m}x${k}x${n} transA=${transA} transB=${transB} matches the reference`, async (t) => {
        let seed = m * 1_000_003 + k * 1009 + n * 17 + (transA ? 2 : 0) + (transB ? 1 : 0);
        for (const s of scalars) {
          const o = makeGemm({ m, n, k, transA, transB, ...s }, seed++);
          const aCopy = o.a.slice(), bCopy = o.b.slice(), cCopy = o.c?.slice();
          const got = await native.gemm(o);
          t.is(got.length, m * n);
          const w = worstError(got, gemmRef(o), tol(k));
          t.true(w.ratio <= 1, `alpha=${s.alpha} beta=${s.beta}: error ratio ${w.ratio} at ${w.index}`);
          // Inputs are untouched.
          t.true(sameBits(o.a, aCopy) && sameBits(o.b, bCopy));
          if (o.c) t.true(sameBits(o.c, cCopy!));
        }
      });
    }
  }
}

test('gemm 513x513x513, every transpose combination', async (t) => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const o = makeGemm({ m: 513, n: 513, k: 513, transA, transB, alpha: 0.75, beta: 0.5, withC: true }, 513);
      const w = worstError(await native.gemm(o), gemmRef(o), tol(513));
      t.true(w.ratio <= 1, `transA=${transA} transB=${transB}: error ratio ${w.ratio} at ${w.index}`);
    }
  }
});

test('gemm: beta == 0 ignores NaN and Infinity in c, and a missing beta means 0', async (t) => {
  const next = rng(7);
  const a = randomArray(5 * 4, next), b = randomArray(4 * 6, next);
  const c = new Float32Array(30).fill(NaN);
  c[3] = Infinity;
  const plain = await native.gemm({ a, b, m: 5, n: 6, k: 4 });
  t.true(plain.every(Number.isFinite));
  t.true(sameBits(await native.gemm({ a, b, c, m: 5, n: 6, k: 4, beta: 0 }), plain));
  t.true(sameBits(await native.gemm({ a, b, c, m: 5, n: 6, k: 4 }), plain));
  // Without c, beta has nothing to scale.
  t.true(sameBits(await native.gemm({ a, b, m: 5, n: 6, k: 4, beta: 3 }), plain));
});

test('gemm: alpha = 0 gives beta * c', async (t) => {
  const next = rng(8);
  const o = { a: randomArray(12, next), b: randomArray(12, next), c: randomArray(9, next), m: 3, n: 3, k: 4 };
  const got = await native.gemm({ ...o, alpha: 0, beta: 2 });
  t.deepEqual(Array.from(got), Array.from(o.c, (v) => Math.fround(2 * v)));
});

// ---- determinism ----

const detShapes: Array<[number, number, number, boolean, boolean]> = [
  [513, 700, 517, false, false], // several K blocks, 2-D split
  [100, 784, 500, false, true], // the model's batch shape
  [1, 784, 500, false, false], // matrix-vector route
  [500, 784, 1, true, false],
  [1000, 300, 40, false, true], // one N panel: threads split M instead
  [64, 60, 3000, true, true],
];

for (const [m, k, n, transA, transB] of detShapes) {
  test(`gemm ${m}x${k}x${n} is bit-identical for 1, 2 and 3 threads and from run to run`, async (t) => {
    const o = makeGemm({ m, n, k, transA, transB, alpha: 1.25, beta: 0.5, withC: true }, m + n + k);
    const one = await native.gemm({ ...o, threads: 1 });
    const two = await native.gemm({ ...o, threads: 2 });
    const three = await native.gemm({ ...o, threads: 3 });
    const again = await native.gemm({ ...o, threads: 2 });
    t.true(sameBits(one, two), 'threads 1 vs 2');
    t.true(sameBits(one, three), 'threads 1 vs 3');
    t.true(sameBits(two, again), 'run to run');
    t.true(worstError(one, gemmRef(o), tol(k)).ratio <= 1);
  });
}

test('gemv and ger are bit-identical for 1, 2 and 3 threads', async (t) => {
  const next = rng(11);
  for (const [rows, cols] of [[500, 784], [784, 500], [1000, 1000], [3, 4097]]) {
    const a = randomArray(rows * cols, next);
    for (const trans of [false, true]) {
      const x = randomArray(trans ? rows : cols, next), y = randomArray(trans ? cols : rows, next);
      const runs = await Promise.all([1, 2, 3, 2].map((threads) =>
        native.gemv({ a, x, y, rows, cols, trans, alpha: 0.5, beta: -1, threads })));
      t.true(runs.every((r) => sameBits(r, runs[0])), `gemv ${rows}x${cols} trans=${trans}`);
    }
    const x = randomArray(rows, next), y = randomArray(cols, next);
    const runs = await Promise.all([1, 2, 3, 2].map((threads) => native.ger({ a, x, y, rows, cols, alpha: 0.3, threads })));
    t.true(runs.every((r) => sameBits(r, runs[0])), `ger ${rows}x${cols}`);
  }
});

// ---- every kernel family (AVX-512, AVX2+FMA, portable), selected through DENDRITE_CPU_SIMD ----

for (const simd of ['avx2', 'scalar']) {
  test.serial(`gemm, gemv and ger with DENDRITE_CPU_SIMD=${simd}: correct and thread-independent`, async (t) => {
    await withSimd(simd, async () => {
      let seed = simd.length * 101;
      for (const [m, k, n] of [[17, 33, 65], [100, 784, 500], [1, 784, 500], [65, 1, 33], [7, 300, 3]]) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const o = makeGemm({ m, n, k, transA, transB, alpha: 1.5, beta: 0.5, withC: true }, seed++);
            const one = await native.gemm({ ...o, threads: 1 });
            const two = await native.gemm({ ...o, threads: 2 });
            t.true(sameBits(one, two), `${m}x${k}x${n} ${transA} ${transB} threads`);
            const w = worstError(one, gemmRef(o), tol(k));
            t.true(w.ratio <= 1, `${m}x${k}x${n} ${transA} ${transB}: ratio ${w.ratio}`);
          }
        }
      }
      const next = rng(seed);
      for (const [rows, cols] of [[1, 1], [17, 3], [129, 70]]) {
        const a = randomArray(rows * cols, next);
        for (const trans of [false, true]) {
          const o = { a, x: randomArray(trans ? rows : cols, next), y: randomArray(trans ? cols : rows, next),
            rows, cols, trans, alpha: 2, beta: 0.5 };
          t.true(worstError(await native.gemv(o), gemvRef(o), tol(trans ? rows : cols)).ratio <= 1);
        }
        const g = { a, x: randomArray(rows, next), y: randomArray(cols, next), rows, cols, alpha: -1 };
        t.true(worstError(await native.ger(g), gerRef(g), 1e-6).ratio <= 1);
      }
    });
  });
}

// ---- off the main thread (serial: concurrent tests compute references on the main thread) ----

test.serial('a large gemm runs off the main thread: timers keep firing while it is awaited', async (t) => {
  const n = 2048;
  const next = rng(2048);
  const a = randomArray(n * n, next), b = randomArray(n * n, next);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    // One thread, 17 GFLOP: tens of milliseconds at least, during which the event loop must run.
    const pending = native.gemm({ a, b, m: n, n, k: n, threads: 1 });
    t.is(ticks, 0);
    const c = await pending;
    t.log(`${ticks} timer ticks during the call`);
    t.true(ticks >= 3, `only ${ticks} timer ticks during the call`);
    // Spot-check a few entries.
    for (const [i, j] of [[0, 0], [n - 1, n - 1], [1234, 77]]) {
      let s = 0, mag = 0;
      for (let p = 0; p < n; p++) {
        s += a[i * n + p] * b[p * n + j];
        mag += Math.abs(a[i * n + p] * b[p * n + j]);
      }
      t.true(Math.abs(c[i * n + j] - s) <= tol(n) * mag);
    }
  } finally {
    clearInterval(timer);
  }
});

// ---- gemv and ger ----

const gemvShapes: Array<[number, number]> = [[1, 1], [3, 17], [17, 3], [500, 784], [784, 500], [513, 1], [1, 513], [65, 129]];
for (const [rows, cols] of gemvShapes) {
  for (const trans of [false, true]) {
    test(`gemv ${rows}x${cols} trans=${trans} matches the reference`, async (t) => {
      const next = rng(rows * 31 + cols + (trans ? 7 : 0));
      const a = randomArray(rows * cols, next);
      const x = randomArray(trans ? rows : cols, next);
      const outLen = trans ? cols : rows;
      const k = trans ? rows : cols;
      for (const s of [
        { alpha: 1, beta: 0, y: undefined },
        { alpha: -2, beta: 0, y: new Float32Array(outLen).fill(NaN) },
        { alpha: 0.5, beta: 1.5, y: randomArray(outLen, next) },
      ]) {
        const o = { a, x, rows, cols, trans, alpha: s.alpha, beta: s.beta, ...(s.y ? { y: s.y } : {}) };
        const yCopy = s.y?.slice(), aCopy = a.slice(), xCopy = x.slice();
        const got = await native.gemv(o);
        t.is(got.length, outLen);
        const w = worstError(got, gemvRef(o), tol(k));
        t.true(w.ratio <= 1, `alpha=${s.alpha} beta=${s.beta}: ratio ${w.ratio} at ${w.index}`);
        t.true(sameBits(a, aCopy) && sameBits(x, xCopy));
        if (s.y) t.true(sameBits(s.y, yCopy!));
      }
    });
  }
}

test('gemv without y ignores beta', async (t) => {
  const next = rng(5);
  const o = { a: randomArray(12, next), x: randomArray(4, next), rows: 3, cols: 4 };
  t.true(sameBits(await native.gemv({ ...o, beta: 5 }), await native.gemv(o)));
});

for (const [rows, cols] of [[1, 1], [3, 17], [17, 3], [500, 784], [513, 33]]) {
  test(`ger ${rows}x${cols} returns a new array a + alpha x y^T`, async (t) => {
    const next = rng(rows * 7 + cols);
    const o = { a: randomArray(rows * cols, next), x: randomArray(rows, next), y: randomArray(cols, next), rows, cols,
      alpha: -0.75 };
    const aCopy = o.a.slice();
    const got = await native.ger(o);
    t.not(got, o.a);
    t.is(got.length, rows * cols);
    t.true(sameBits(o.a, aCopy), 'a is not modified');
    // One product and one fused add per element: a few float32 ulps.
    const w = worstError(got, gerRef(o), 1e-6);
    t.true(w.ratio <= 1, `ratio ${w.ratio} at ${w.index}`);
    const unit = await native.ger({ ...o, alpha: undefined });
    t.true(worstError(unit, gerRef({ ...o, alpha: 1 }), 1e-6).ratio <= 1, 'alpha defaults to 1');
  });
}

// ---- argument checking ----

type Bad = [string, () => unknown, typeof TypeError | typeof RangeError, RegExp];

const f = (n: number) => new Float32Array(n);
const gemmOk = () => ({ a: f(6), b: f(12), m: 2, n: 4, k: 3 });
const gemvOk = () => ({ a: f(6), x: f(3), rows: 2, cols: 3 });
const gerOk = () => ({ a: f(6), x: f(2), y: f(3), rows: 2, cols: 3 });
// Calls with deliberately wrong arguments, typed loosely on purpose.
const call = (fn: 'gemm' | 'gemv' | 'ger', ...args: unknown[]) => () =>
  (native[fn] as unknown as (...a: unknown[]) => unknown)(...args);

const badCalls: Bad[] = [];
for (const fn of ['gemm', 'gemv', 'ger'] as const) {
  const ok = fn === 'gemm' ? gemmOk : fn === 'gemv' ? gemvOk : gerOk;
  const dims = fn === 'gemm' ? ['m', 'n', 'k'] : ['rows', 'cols'];
  badCalls.push(
    [`${fn}()`, call(fn), TypeError, new RegExp(`^${fn}: expected one options object`)],
    [`${fn}(5)`, call(fn, 5), TypeError, /expected one options object/],
    [`${fn}(array)`, call(fn, [1, 2]), TypeError, /expected one options object/],
    [`${fn}(typed array)`, call(fn, f(3)), TypeError, /expected one options object/],
    [`${fn}(a, extra)`, call(fn, ok(), {}), TypeError, /expected one options object/],
    [`${fn} unknown option`, call(fn, { ...ok(), bogus: 1 }), TypeError, new RegExp(`^${fn}: unknown option "bogus"`)],
    [`${fn} a Float64Array`, call(fn, { ...ok(), a: new Float64Array(6) }), TypeError, new RegExp(`^${fn}: a must be a Float32Array`)],
    [`${fn} a plain array`, call(fn, { ...ok(), a: [0, 0, 0, 0, 0, 0] }), TypeError, /a must be a Float32Array/],
    [`${fn} a missing`, call(fn, { ...ok(), a: undefined }), TypeError, /a must be a Float32Array/],
    [`${fn} a too long`, call(fn, { ...ok(), a: f(7) }), RangeError, new RegExp(`^${fn}: a has length 7, expected 6`)],
    [`${fn} a too short`, call(fn, { ...ok(), a: f(5) }), RangeError, /a has length 5, expected 6/],
    [`${fn} alpha NaN`, call(fn, { ...ok(), alpha: NaN }), RangeError, new RegExp(`^${fn}: alpha must be finite`)],
    [`${fn} alpha Infinity`, call(fn, { ...ok(), alpha: Infinity }), RangeError, /alpha must be finite/],
    [`${fn} alpha string`, call(fn, { ...ok(), alpha: '1' }), TypeError, /alpha must be a number/],
    [`${fn} alpha beyond float32`, call(fn, { ...ok(), alpha: 1e39 }), RangeError, /alpha/],
    [`${fn} device gpu`, call(fn, { ...ok(), device: 'gpu' }), RangeError, /device "gpu" is not valid/],
    [`${fn} device cuda:x`, call(fn, { ...ok(), device: 'cuda:x' }), RangeError, /device "cuda:x" is not valid/],
    [`${fn} device number`, call(fn, { ...ok(), device: 0 }), TypeError, /device must be a string/],
    [`${fn} threads 0`, call(fn, { ...ok(), threads: 0 }), RangeError, new RegExp(`^${fn}: threads must be in \\[1, 1024\\]`)],
    [`${fn} threads -2`, call(fn, { ...ok(), threads: -2 }), RangeError, /threads must be in/],
    [`${fn} threads 1.5`, call(fn, { ...ok(), threads: 1.5 }), RangeError, /threads must be an integer/],
    [`${fn} threads NaN`, call(fn, { ...ok(), threads: NaN }), RangeError, /threads must be an integer/],
    [`${fn} threads string`, call(fn, { ...ok(), threads: '2' }), TypeError, /threads must be an integer/],
  );
  for (const d of dims) {
    badCalls.push(
      [`${fn} ${d} missing`, call(fn, { ...ok(), [d]: undefined }), TypeError, new RegExp(`^${fn}: ${d} is required`)],
      [`${fn} ${d} 0`, call(fn, { ...ok(), [d]: 0 }), RangeError, new RegExp(`^${fn}: ${d} must be in \\[1, `)],
      [`${fn} ${d} negative`, call(fn, { ...ok(), [d]: -3 }), RangeError, new RegExp(`${d} must be in`)],
      [`${fn} ${d} fractional`, call(fn, { ...ok(), [d]: 2.5 }), RangeError, new RegExp(`${d} must be an integer, got 2.5`)],
      [`${fn} ${d} NaN`, call(fn, { ...ok(), [d]: NaN }), RangeError, new RegExp(`${d} must be an integer, got NaN`)],
      [`${fn} ${d} Infinity`, call(fn, { ...ok(), [d]: Infinity }), RangeError, new RegExp(`${d} must be an integer, got Infinity`)],
      [`${fn} ${d} string`, call(fn, { ...ok(), [d]: '2' }), TypeError, new RegExp(`${d} must be an integer, got a string`)],
      [`${fn} ${d} huge`, call(fn, { ...ok(), [d]: 2 ** 40 }), RangeError, new RegExp(`${d} must be in`)],
    );
  }
}
badCalls.push(
  ['gemm b Int32Array', call('gemm', { ...gemmOk(), b: new Int32Array(12) }), TypeError, /^gemm: b must be a Float32Array/],
  ['gemm b missing', call('gemm', { ...gemmOk(), b: undefined }), TypeError, /^gemm: b must be a Float32Array/],
  ['gemm b wrong length', call('gemm', { ...gemmOk(), b: f(11) }), RangeError, /^gemm: b has length 11, expected 12/],
  ['gemm c wrong length', call('gemm', { ...gemmOk(), c: f(7) }), RangeError, /^gemm: c has length 7, expected 8/],
  ['gemm c Uint8Array', call('gemm', { ...gemmOk(), c: new Uint8Array(8) }), TypeError, /^gemm: c must be a Float32Array/],
  ['gemm beta NaN', call('gemm', { ...gemmOk(), c: f(8), beta: NaN }), RangeError, /^gemm: beta must be finite/],
  ['gemm beta -Infinity', call('gemm', { ...gemmOk(), beta: -Infinity }), RangeError, /^gemm: beta must be finite/],
  ['gemm transA number', call('gemm', { ...gemmOk(), transA: 1 }), TypeError, /^gemm: transA must be a boolean/],
  ['gemm transB string', call('gemm', { ...gemmOk(), transB: 'yes' }), TypeError, /^gemm: transB must be a boolean/],
  ['gemm m*k too large', call('gemm', { ...gemmOk(), m: 2 ** 31, k: 2 ** 31 }), RangeError, /^gemm: a \(m\*k\) is too large/],
  ['gemv x wrong length', call('gemv', { ...gemvOk(), x: f(2) }), RangeError, /^gemv: x has length 2, expected 3/],
  ['gemv x wrong length (trans)', call('gemv', { ...gemvOk(), trans: true }), RangeError, /^gemv: x has length 3, expected 2/],
  ['gemv x Float64Array', call('gemv', { ...gemvOk(), x: new Float64Array(3) }), TypeError, /^gemv: x must be a Float32Array/],
  ['gemv y wrong length', call('gemv', { ...gemvOk(), y: f(3) }), RangeError, /^gemv: y has length 3, expected 2/],
  ['gemv y wrong length (trans)', call('gemv', { ...gemvOk(), x: f(2), y: f(2), trans: true }), RangeError, /^gemv: y has length 2, expected 3/],
  ['gemv y Int32Array', call('gemv', { ...gemvOk(), y: new Int32Array(2) }), TypeError, /^gemv: y must be a Float32Array/],
  ['gemv beta NaN', call('gemv', { ...gemvOk(), y: f(2), beta: NaN }), RangeError, /^gemv: beta must be finite/],
  ['gemv trans string', call('gemv', { ...gemvOk(), trans: 'true' }), TypeError, /^gemv: trans must be a boolean/],
  ['gemv unknown option beta2', call('gemv', { ...gemvOk(), transA: true }), TypeError, /^gemv: unknown option "transA"/],
  ['ger x wrong length', call('ger', { ...gerOk(), x: f(3) }), RangeError, /^ger: x has length 3, expected 2/],
  ['ger y wrong length', call('ger', { ...gerOk(), y: f(2) }), RangeError, /^ger: y has length 2, expected 3/],
  ['ger y missing', call('ger', { ...gerOk(), y: undefined }), TypeError, /^ger: y must be a Float32Array/],
  ['ger x Float64Array', call('ger', { ...gerOk(), x: new Float64Array(2) }), TypeError, /^ger: x must be a Float32Array/],
  ['ger beta is not an option', call('ger', { ...gerOk(), beta: 1 }), TypeError, /^ger: unknown option "beta"/],
);

test('bad calls to gemm, gemv and ger throw TypeError or RangeError naming the argument', (t) => {
  for (const [name, fn, type, message] of badCalls) {
    const err = t.throws(fn, { instanceOf: type, message }, name);
    // A RangeError is also not a plain TypeError and vice versa.
    if (err) t.true(err instanceof type, name);
  }
  t.true(badCalls.length > 100);
});

test('the valid base calls of the argument tests succeed', async (t) => {
  t.is((await native.gemm(gemmOk())).length, 8);
  t.is((await native.gemv(gemvOk())).length, 2);
  t.is((await native.ger(gerOk())).length, 6);
});

// A call small enough to run at once on the calling thread reads its inputs where they are, not
// copied (bindings/linalg.cpp, float32_input): every option is read first, so a getter that detaches an
// input's buffer leaves a zero-length array, refused like any wrong length, before any storage
// is read; a large call copies its inputs, so detaching afterwards cannot reach the copy.
test('gemm, gemv: an option getter that detaches an input array is refused (RangeError), never read', (t) => {
  const detach = (a: Float32Array) => structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  for (const big of [false, true]) {
    const n = big ? 400 : 20;  // 2 n^3 operations: 64e6 is queued, 16e3 runs at once
    const a = randomArray(n * n, rng(1)), b = randomArray(n * n, rng(2));
    const gemmOpts = { a, m: n, n, k: n, get b() { detach(a); return b; } };
    t.throws(() => native.gemm(gemmOpts), { instanceOf: RangeError, message: /^gemm: a has length 0, expected/ }, `gemm ${n}`);
    const w = randomArray(n * n, rng(3)), x = randomArray(n, rng(4));
    const gemvOpts = { a: w, rows: n, cols: n, get x() { detach(w); return x; } };
    t.throws(() => native.gemv(gemvOpts), { instanceOf: RangeError, message: /^gemv: a has length 0, expected/ }, `gemv ${n}`);
  }
});
