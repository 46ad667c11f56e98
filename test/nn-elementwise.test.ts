// unary, rowSums, colSums, softmaxCrossEntropy against float64 references, and bad calls.
//
// Tolerances: unary maps are a few float32 roundings (expf <= 1 ulp, then 2-3 operations), so
// 6 ulps of the result (plus 1e-44 below the normal range). Sums and softmax accumulate in
// double and round once, so 1-2 ulps of the result plus double-precision error on the
// magnitude of the terms.
import test from 'ava';

import { native } from '../src/native';
import { EPS32, abs, assertClose, bitsEqual, integers, relBound, rng, uniform } from './nn-helpers';
import * as ref from './reference/nn';

const OPS = ['sigmoid', 'sigmoidGrad', 'relu', 'reluGrad', 'scaleShift'] as const;

test('unary ops match the reference on random inputs of awkward sizes', async (t) => {
  const next = rng(1);
  for (const n of [1, 3, 17, 513, 40000]) {
    const x = uniform(next, n, -12, 12);
    const before = x.slice();
    for (const op of OPS) {
      const scale = Math.fround(-1.7);
      const shift = Math.fround(0.3);
      const opts = op === 'scaleShift' ? { op, x, scale, shift } : { op, x };
      const y = await native.unary(opts);
      t.true(y instanceof Float32Array);
      const r = ref.unary(op, x, scale, shift);
      const bound =
        op === 'scaleShift' ? (i: number) => 2 * EPS32 * (Math.abs(scale * x[i]) + Math.abs(shift)) : relBound(r, 6, 1e-44);
      assertClose(t, y, r, bound, `${op} n=${n}`);
    }
    t.true(bitsEqual(x, before), 'x is not modified');
  }
});

test('scaleShift defaults to scale 1, shift 0; relu and reluGrad are exact', async (t) => {
  const x = new Float32Array([-2, -0.5, 0, 0.25, 3, -0]);
  // -0 * 1 + 0 is +0 in IEEE arithmetic
  t.deepEqual(Array.from(await native.unary({ op: 'scaleShift', x })), [-2, -0.5, 0, 0.25, 3, 0]);
  t.deepEqual(Array.from(await native.unary({ op: 'scaleShift', x, shift: 1 })), [-1, 0.5, 1, 1.25, 4, 1]);
  t.deepEqual(Array.from(await native.unary({ op: 'scaleShift', x, scale: 2 })), [-4, -1, 0, 0.5, 6, 0]);
  t.deepEqual(Array.from(await native.unary({ op: 'relu', x })), [0, 0, 0, 0.25, 3, 0]);
  t.deepEqual(Array.from(await native.unary({ op: 'reluGrad', x })), [0, 0, 0, 1, 1, 0]);
  const nan = await native.unary({ op: 'relu', x: new Float32Array([NaN]) });
  t.true(Number.isNaN(nan[0]), 'relu propagates NaN');
});

test('unary handles empty arrays and views with an offset into a larger buffer', async (t) => {
  t.is((await native.unary({ op: 'sigmoid', x: new Float32Array(0) })).length, 0);
  const buf = uniform(rng(4), 100, -3, 3);
  const view = buf.subarray(7, 7 + 33);
  const y = await native.unary({ op: 'scaleShift', x: view, scale: 2, shift: 1 });
  t.deepEqual(Array.from(y), Array.from(view, (v) => Math.fround(2 * v + 1)));
  const rs = await native.rowSums({ a: buf.subarray(10, 10 + 12), rows: 3, cols: 4 });
  t.deepEqual(Array.from(rs), Array.from(ref.rowSums(buf.subarray(10, 22), 3, 4), Math.fround));
});

test('sigmoid and its gradient are stable and accurate for large |x|', async (t) => {
  const xs = [-Infinity, -1e30, -1000, -103, -100, -88.5, -30, -17, 0, 17, 30, 88.5, 100, 1000, 1e30, Infinity];
  const x = new Float32Array(xs);
  const s = await native.unary({ op: 'sigmoid', x });
  const g = await native.unary({ op: 'sigmoidGrad', x });
  for (let i = 0; i < xs.length; ++i) {
    t.true(s[i] >= 0 && s[i] <= 1, `sigmoid(${xs[i]}) = ${s[i]}`);
    t.true(g[i] >= 0 && g[i] <= 0.25, `sigmoidGrad(${xs[i]}) = ${g[i]}`);
  }
  t.is(s[0], 0);
  t.is(s[xs.length - 1], 1);
  t.is(s[8], 0.5);
  t.is(g[8], 0.25);
  // Where the result is a normal float32, keep relative accuracy (1 - s(x) does not round to 0).
  const r = ref.unary('sigmoidGrad', x);
  assertClose(t, g, r, relBound(r, 6, 1e-44), 'sigmoidGrad');
  t.true(g[12] > 0 && g[12] < 1e-40, 'sigmoidGrad(100) is tiny but not 0');
  t.is(g[11], g[5], 'sigmoidGrad is even');
  const rs = ref.unary('sigmoid', x);
  assertClose(t, s, rs, relBound(rs, 6, 1e-44), 'sigmoid');
});

test('rowSums and colSums match the reference', async (t) => {
  const next = rng(2);
  const shapes: Array<[number, number]> = [
    [1, 1], [1, 17], [3, 5], [17, 3], [513, 7], [7, 5000], [3000, 3], [1, 10000], [10000, 1], [300, 513],
  ];
  for (const [rows, cols] of shapes) {
    const a = uniform(next, rows * cols, -2, 3);
    const before = a.slice();
    const rs = await native.rowSums({ a, rows, cols });
    const cs = await native.colSums({ a, rows, cols });
    const rr = ref.rowSums(a, rows, cols);
    const rc = ref.colSums(a, rows, cols);
    const mr = ref.rowSums(abs(a), rows, cols);
    const mc = ref.colSums(abs(a), rows, cols);
    t.is(rs.length, rows);
    t.is(cs.length, cols);
    assertClose(t, rs, rr, (i) => EPS32 * Math.abs(rr[i]) + 1e-12 * mr[i], `rowSums ${rows}x${cols}`);
    assertClose(t, cs, rc, (i) => EPS32 * Math.abs(rc[i]) + 1e-12 * mc[i], `colSums ${rows}x${cols}`);
    t.true(bitsEqual(a, before));
  }
});

test('rowSums and colSums of a known matrix', async (t) => {
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  t.deepEqual(Array.from(await native.rowSums({ a, rows: 2, cols: 3 })), [6, 15]);
  t.deepEqual(Array.from(await native.colSums({ a, rows: 2, cols: 3 })), [5, 7, 9]);
  // Sums accumulate in double: 2^24 + 1 + 1 - 2^24 is 2 exactly.
  const b = new Float32Array([2 ** 24, 1, 1, -(2 ** 24)]);
  t.deepEqual(Array.from(await native.rowSums({ a: b, rows: 1, cols: 4 })), [2]);
  t.deepEqual(Array.from(await native.colSums({ a: b, rows: 4, cols: 1 })), [2]);
});

test('softmaxCrossEntropy matches the reference', async (t) => {
  const next = rng(3);
  for (const [batch, classes] of [[1, 1], [1, 3], [3, 17], [17, 10], [128, 10], [5, 1000], [1, 513]]) {
    const logits = uniform(next, batch * classes, -6, 6);
    const labels = integers(next, batch, classes);
    const before = logits.slice();
    const r = ref.softmaxCrossEntropy(logits, labels, batch, classes);
    const out = await native.softmaxCrossEntropy({ logits, labels, batch, classes });
    t.deepEqual(Object.keys(out), ['loss', 'losses', 'grad']);
    assertClose(t, out.losses, r.losses, (i) => 2 * EPS32 * Math.abs(r.losses[i]) + 1e-12, `losses ${batch}x${classes}`);
    assertClose(t, out.grad, r.grad, (i) => 2 * EPS32 * Math.abs(r.grad[i]) + 1e-15, `grad ${batch}x${classes}`);
    t.true(Math.abs(out.loss - r.loss) <= 2 * EPS32 * r.loss + 1e-12, `loss ${out.loss} vs ${r.loss}`);
    // loss is the double mean of the returned float32 losses, in index order.
    let s = 0;
    for (const l of out.losses) s += l;
    t.is(out.loss, s / batch);
    t.true(bitsEqual(logits, before));
  }
});

test('softmaxCrossEntropy is stable for huge logits and exact in simple cases', async (t) => {
  const logits = new Float32Array([1000, 0, -1000, 3e38, -3e38, 0, 88, 89, 90]);
  const labels = new Int32Array([1, 0, 2]);
  const out = await native.softmaxCrossEntropy({ logits, labels, batch: 3, classes: 3 });
  const r = ref.softmaxCrossEntropy(logits, labels, 3, 3);
  for (const v of [...out.losses, ...out.grad, out.loss]) t.true(Number.isFinite(v), `${v}`);
  t.is(out.losses[0], 1000);
  t.is(out.losses[1], 0);
  assertClose(t, out.losses, r.losses, (i) => 2 * EPS32 * Math.abs(r.losses[i]) + 1e-12, 'losses');
  assertClose(t, out.grad, r.grad, (i) => 2 * EPS32 * Math.abs(r.grad[i]) + 1e-15, 'grad');
  // uniform logits: loss = log(classes), grad = (1/classes - onehot) / batch
  const u = await native.softmaxCrossEntropy({ logits: new Float32Array(8), labels: new Int32Array([2, 3]), batch: 2, classes: 4 });
  t.is(u.losses[0], Math.fround(Math.log(4)));
  t.deepEqual(Array.from(u.grad), [0.125, 0.125, -0.375, 0.125, 0.125, 0.125, 0.125, -0.375]);
});

// ---- bad calls: each throws synchronously, naming the function and the argument ----

const x4 = new Float32Array(4);

test('unary rejects bad arguments', (t) => {
  const u = native.unary as unknown as (...a: unknown[]) => unknown;
  t.throws(() => u(), { instanceOf: TypeError, message: /unary: expected one options object/ });
  t.throws(() => u(3), { instanceOf: TypeError, message: /unary: expected one options object/ });
  t.throws(() => u({ op: 'relu', x: x4 }, 2), { instanceOf: TypeError, message: /expected one options object/ });
  t.throws(() => u({ op: 'relu', x: x4, sclae: 2 }), { instanceOf: TypeError, message: /unary: unknown option "sclae"/ });
  t.throws(() => u({ x: x4 }), { instanceOf: TypeError, message: /unary: op is required/ });
  t.throws(() => u({ op: 3, x: x4 }), { instanceOf: TypeError, message: /unary: op must be a string/ });
  t.throws(() => u({ op: 'tanh', x: x4 }), { instanceOf: RangeError, message: /unary: op must be one of .*got "tanh"/ });
  t.throws(() => u({ op: 'Sigmoid', x: x4 }), { instanceOf: RangeError, message: /op must be one of/ });
  t.throws(() => u({ op: 'relu' }), { instanceOf: TypeError, message: /unary: x must be a Float32Array/ });
  t.throws(() => u({ op: 'relu', x: new Float64Array(4) }), { instanceOf: TypeError, message: /x must be a Float32Array/ });
  t.throws(() => u({ op: 'relu', x: [1, 2] }), { instanceOf: TypeError, message: /x must be a Float32Array/ });
  t.throws(() => u({ op: 'relu', x: x4, scale: 2 }), { instanceOf: TypeError, message: /scale only applies to op "scaleShift"/ });
  t.throws(() => u({ op: 'sigmoid', x: x4, shift: 1 }), { instanceOf: TypeError, message: /shift only applies/ });
  t.throws(() => u({ op: 'scaleShift', x: x4, scale: NaN }), { instanceOf: RangeError, message: /scale must be finite/ });
  t.throws(() => u({ op: 'scaleShift', x: x4, shift: Infinity }), { instanceOf: RangeError, message: /shift must be finite/ });
  t.throws(() => u({ op: 'scaleShift', x: x4, scale: 1e39 }), { instanceOf: RangeError, message: /scale/ });
  t.throws(() => u({ op: 'scaleShift', x: x4, scale: '2' }), { instanceOf: TypeError, message: /scale must be a number/ });
  t.throws(() => u({ op: 'relu', x: x4, threads: 0 }), { instanceOf: RangeError, message: /threads must be in/ });
  t.throws(() => u({ op: 'relu', x: x4, threads: 1.5 }), { instanceOf: RangeError, message: /threads must be an integer/ });
  t.throws(() => u({ op: 'relu', x: x4, device: 'gpu' }), { instanceOf: RangeError, message: /device "gpu" is not valid/ });
});

test('rowSums / colSums reject bad arguments', (t) => {
  for (const fn of ['rowSums', 'colSums'] as const) {
    const f = native[fn] as unknown as (o: unknown) => unknown;
    const a = new Float32Array(6);
    t.throws(() => f({ a, cols: 3 }), { instanceOf: TypeError, message: new RegExp(`${fn}: rows is required`) });
    t.throws(() => f({ a, rows: 2 }), { instanceOf: TypeError, message: /cols is required/ });
    t.throws(() => f({ a, rows: 0, cols: 3 }), { instanceOf: RangeError, message: /rows must be in \[1, / });
    t.throws(() => f({ a, rows: -2, cols: 3 }), { instanceOf: RangeError, message: /rows must be in/ });
    t.throws(() => f({ a, rows: 2.5, cols: 3 }), { instanceOf: RangeError, message: /rows must be an integer/ });
    t.throws(() => f({ a, rows: 2, cols: '3' }), { instanceOf: TypeError, message: /cols must be an integer/ });
    t.throws(() => f({ a, rows: 2, cols: NaN }), { instanceOf: RangeError, message: /cols must be an integer, got NaN/ });
    t.throws(() => f({ a, rows: 2, cols: 4 }), { instanceOf: RangeError, message: new RegExp(`${fn}: a has length 6, expected 8`) });
    t.throws(() => f({ a: new Int32Array(6), rows: 2, cols: 3 }), { instanceOf: TypeError, message: /a must be a Float32Array/ });
    t.throws(() => f({ rows: 2, cols: 3 }), { instanceOf: TypeError, message: /a must be a Float32Array/ });
    t.throws(() => f({ a, rows: 2, cols: 3, n: 6 }), { instanceOf: TypeError, message: /unknown option "n"/ });
    t.throws(() => f({ a, rows: 2 ** 31, cols: 2 ** 31 }), { instanceOf: RangeError, message: /a \(rows\*cols\) is too large/ });
  }
});

test('softmaxCrossEntropy rejects bad arguments', (t) => {
  const f = native.softmaxCrossEntropy as unknown as (o: unknown) => unknown;
  const logits = new Float32Array(6);
  const ok = { logits, labels: new Int32Array([0, 2]), batch: 2, classes: 3 };
  t.throws(() => f({ ...ok, labels: new Int32Array([0, 3]) }), {
    instanceOf: RangeError,
    message: /softmaxCrossEntropy: labels\[1\] = 3 is outside \[0, classes\) = \[0, 3\)/,
  });
  t.throws(() => f({ ...ok, labels: new Int32Array([-1, 0]) }), { instanceOf: RangeError, message: /labels\[0\] = -1 is outside/ });
  t.throws(() => f({ ...ok, labels: new Float32Array([0, 1]) }), { instanceOf: TypeError, message: /labels must be an Int32Array/ });
  t.throws(() => f({ ...ok, labels: new Uint32Array([0, 1]) }), { instanceOf: TypeError, message: /labels must be an Int32Array/ });
  t.throws(() => f({ ...ok, labels: new Int32Array([0, 1, 2]) }), { instanceOf: RangeError, message: /labels has length 3, expected 2/ });
  t.throws(() => f({ ...ok, logits: new Float32Array(5) }), { instanceOf: RangeError, message: /logits has length 5, expected 6/ });
  t.throws(() => f({ ...ok, classes: 0 }), { instanceOf: RangeError, message: /classes must be in/ });
  t.throws(() => f({ ...ok, batch: undefined }), { instanceOf: TypeError, message: /batch is required/ });
  t.throws(() => f({ ...ok, weights: logits }), { instanceOf: TypeError, message: /unknown option "weights"/ });
});
