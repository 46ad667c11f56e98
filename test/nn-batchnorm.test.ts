// batchNormForward (training and evaluation) and batchNormBackward against float64
// references (the reference backward checked by finite differences), and bad calls.
//
// Tolerances: the kernels reduce and compute in double and round each output once, so outputs
// are within 2 ulps of the float64 reference, plus a floor of 1e-9 of the largest output for
// the double-precision differences (summation order) that cancellation can expose.
import test from 'ava';

import { native, type BatchNormShape } from '../src/native';
import { EPS32, assertClose, bitsEqual, rng, uniform, withSimd } from './nn-helpers';
import * as ref from './reference/nn';

const SHAPES: Array<BatchNormShape & { offset: number }> = [
  { batch: 2, channels: 1, offset: 0 },
  { batch: 3, channels: 3, offset: 0.5, eps: 1e-3 },
  { batch: 17, channels: 5, offset: -2, momentum: 0.3 },
  { batch: 1, channels: 3, spatial: 17, offset: 1 },
  { batch: 2, channels: 3, spatial: 513, offset: 0, eps: 0.1, momentum: 0.01 },
  { batch: 128, channels: 100, offset: 3 },
  { batch: 4, channels: 16, spatial: 784, offset: 0 },
  // mean >> standard deviation: a one-pass float variance would lose every digit here
  { batch: 64, channels: 2, spatial: 3, offset: 1000 },
];

function bound(r: ArrayLike<number>): (i: number) => number {
  let max = 0;
  for (let i = 0; i < r.length; ++i) max = Math.max(max, Math.abs(r[i]));
  return (i) => 2 * EPS32 * Math.abs(r[i]) + 1e-9 * max + 1e-30;
}

function data(seed: number, s: BatchNormShape & { offset: number }) {
  const next = rng(seed);
  const n = s.batch * s.channels * (s.spatial ?? 1);
  const x = uniform(next, n, -2, 2).map((v) => v + s.offset);
  return {
    x,
    gamma: uniform(next, s.channels, 0.5, 2),
    beta: uniform(next, s.channels, -1, 1),
    runningMean: uniform(next, s.channels, -1, 1),
    runningVar: uniform(next, s.channels, 0.5, 2),
    dy: uniform(next, n, -1, 1),
  };
}

function shapeOf(s: BatchNormShape & { offset: number }): BatchNormShape {
  const { offset: _offset, ...shape } = s;
  return shape;
}

test('batchNormForward (training) matches the reference, returns new running statistics', async (t) => {
  let seed = 30;
  for (const s of SHAPES) {
    const d = data(seed++, s);
    const shape = shapeOf(s);
    const copies = [d.x, d.gamma, d.beta, d.runningMean, d.runningVar].map((a) => a.slice());
    const out = await native.batchNormForward({ ...shape, x: d.x, gamma: d.gamma, beta: d.beta, runningMean: d.runningMean, runningVar: d.runningVar, training: true });
    t.deepEqual(Object.keys(out), ['y', 'savedMean', 'savedInvstd', 'runningMean', 'runningVar']);
    const r = ref.batchNormTrain(shape, d.x, d.gamma, d.beta, d.runningMean, d.runningVar);
    const what = JSON.stringify(s);
    for (const key of ['y', 'savedMean', 'savedInvstd', 'runningMean', 'runningVar'] as const) {
      assertClose(t, out[key]!, r[key], bound(r[key]), `${key} ${what}`);
    }
    t.not(out.runningMean, d.runningMean);
    [d.x, d.gamma, d.beta, d.runningMean, d.runningVar].forEach((a, i) => t.true(bitsEqual(a, copies[i]), `input ${i} untouched`));
  }
});

test('batchNormForward (evaluation) matches the reference and returns only y', async (t) => {
  let seed = 40;
  for (const s of [...SHAPES, { batch: 1, channels: 4, offset: 0 }]) {
    const d = data(seed++, s);
    const shape = shapeOf(s);
    const out = await native.batchNormForward({ ...shape, x: d.x, gamma: d.gamma, beta: d.beta, runningMean: d.runningMean, runningVar: d.runningVar, training: false });
    t.deepEqual(Object.keys(out), ['y']);
    const r = ref.batchNormEval(shape, d.x, d.gamma, d.beta, d.runningMean, d.runningVar);
    assertClose(t, out.y, r, bound(r), `y ${JSON.stringify(s)}`);
  }
});

test('batchNormForward: defaults (eps 1e-5, momentum 0.1), momentum 0 and 1', async (t) => {
  const s = { batch: 5, channels: 2, spatial: 3, offset: 0 };
  const d = data(50, s);
  const base = { batch: 5, channels: 2, spatial: 3, x: d.x, gamma: d.gamma, beta: d.beta, runningMean: d.runningMean, runningVar: d.runningVar, training: true };
  const dflt = await native.batchNormForward(base);
  const explicit = await native.batchNormForward({ ...base, eps: 1e-5, momentum: 0.1 });
  for (const k of ['y', 'savedMean', 'savedInvstd', 'runningMean', 'runningVar'] as const) t.true(bitsEqual(dflt[k]!, explicit[k]!), k);
  const frozen = await native.batchNormForward({ ...base, momentum: 0 });
  t.true(bitsEqual(frozen.runningMean!, d.runningMean) && bitsEqual(frozen.runningVar!, d.runningVar));
  const replaced = await native.batchNormForward({ ...base, momentum: 1 });
  t.true(bitsEqual(replaced.runningMean!, replaced.savedMean!), 'momentum 1: running mean = batch mean');
  // running variance = unbiased batch variance = biased * n / (n - 1)
  const r = ref.batchNormTrain(s, d.x, d.gamma, d.beta, d.runningMean, d.runningVar);
  const unbiased = Array.from(r.savedInvstd, (is) => (1 / (is * is) - 1e-5) * (15 / 14));
  assertClose(t, replaced.runningVar!, unbiased, (i) => 1e-5 * unbiased[i], 'unbiased variance');
  // a constant channel normalises to beta
  const c = await native.batchNormForward({ ...base, x: new Float32Array(30).fill(7) });
  assertClose(t, c.y, Array.from({ length: 30 }, (_, i) => d.beta[Math.floor(i / 3) % 2]), () => 1e-6, 'constant input');
});

test('the reference batch-norm backward agrees with finite differences of the reference forward', (t) => {
  for (const s of [SHAPES[1], SHAPES[3], { batch: 4, channels: 2, spatial: 5, offset: 0.3, eps: 0.01 }]) {
    const shape = shapeOf(s);
    const d = data(60, s);
    const x = Float64Array.from(d.x);
    const gamma = Float64Array.from(d.gamma);
    const beta = Float64Array.from(d.beta);
    const r = Float64Array.from(d.dy);
    const loss = () => {
      const y = ref.batchNormTrain(shape, x, gamma, beta, d.runningMean, d.runningVar).y;
      let acc = 0;
      for (let i = 0; i < y.length; ++i) acc += r[i] * y[i];
      return acc;
    };
    const fwd = ref.batchNormTrain(shape, x, gamma, beta, d.runningMean, d.runningVar);
    const g = ref.batchNormBackward(shape, x, r, gamma, fwd.savedMean, fwd.savedInvstd);
    const h = 1e-6;
    let worst = 0;
    for (const [arr, grad] of [[x, g.dx], [gamma, g.dgamma], [beta, g.dbeta]] as const) {
      for (let i = 0; i < arr.length; ++i) {
        const keep = arr[i];
        arr[i] = keep + h;
        const up = loss();
        arr[i] = keep - h;
        const down = loss();
        arr[i] = keep;
        worst = Math.max(worst, Math.abs((up - down) / (2 * h) - grad[i]));
      }
    }
    t.true(worst < 1e-6, `${JSON.stringify(s)}: worst finite-difference error ${worst}`);
  }
});

test('batchNormBackward matches the reference', async (t) => {
  let seed = 70;
  for (const s of SHAPES) {
    const d = data(seed++, s);
    const shape = shapeOf(s);
    const fwd = await native.batchNormForward({ ...shape, x: d.x, gamma: d.gamma, beta: d.beta, runningMean: d.runningMean, runningVar: d.runningVar, training: true });
    const copies = [d.x, d.dy, d.gamma].map((a) => a.slice());
    const out = await native.batchNormBackward({ ...shape, x: d.x, dy: d.dy, gamma: d.gamma, savedMean: fwd.savedMean!, savedInvstd: fwd.savedInvstd! });
    t.deepEqual(Object.keys(out), ['dx', 'dgamma', 'dbeta']);
    const r = ref.batchNormBackward(shape, d.x, d.dy, d.gamma, fwd.savedMean!, fwd.savedInvstd!);
    const what = JSON.stringify(s);
    assertClose(t, out.dx, r.dx, bound(r.dx), `dx ${what}`);
    assertClose(t, out.dgamma, r.dgamma, bound(r.dgamma), `dgamma ${what}`);
    assertClose(t, out.dbeta, r.dbeta, bound(r.dbeta), `dbeta ${what}`);
    [d.x, d.dy, d.gamma].forEach((a, i) => t.true(bitsEqual(a, copies[i])));
    // dx sums to zero over each channel (the mean is subtracted out)
    const sp = s.spatial ?? 1;
    for (let c = 0; c < s.channels; ++c) {
      let sum = 0;
      let mag = 0;
      for (let n = 0; n < s.batch; ++n) for (let i = 0; i < sp; ++i) {
        sum += out.dx[(n * s.channels + c) * sp + i];
        mag += Math.abs(out.dx[(n * s.channels + c) * sp + i]);
      }
      t.true(Math.abs(sum) <= 1e-5 * mag + 1e-30, `sum of dx over channel ${c}: ${sum} (${what})`);
    }
  }
});

// ---- bad calls ----

test('batchNormForward / batchNormBackward reject bad arguments', async (t) => {
  const fwd = native.batchNormForward as unknown as (o: unknown) => Promise<unknown>;
  const bwd = native.batchNormBackward as unknown as (o: unknown) => Promise<unknown>;
  const c3 = () => new Float32Array([1, 1, 1]);
  const ok = { batch: 2, channels: 3, x: new Float32Array(6), gamma: c3(), beta: c3(), runningMean: c3(), runningVar: c3(), training: true };
  await t.notThrowsAsync(fwd(ok));
  const re = (s: string) => new RegExp(`batchNormForward: ${s}`);
  const { training: _training, ...noTraining } = ok;
  t.throws(() => fwd(noTraining), { instanceOf: TypeError, message: re('training is required \\(a boolean\\)') });
  t.throws(() => fwd({ ...ok, training: 1 }), { instanceOf: TypeError, message: re('training must be a boolean') });
  t.throws(() => fwd({ ...ok, batch: 1, x: c3() }), { instanceOf: RangeError, message: re('batch \\* spatial must be at least 2 in training.*got 1 \\* 1') });
  await t.notThrowsAsync(fwd({ ...ok, batch: 1, x: c3(), training: false }), 'one example is fine in evaluation');
  t.throws(() => fwd({ ...ok, eps: 0 }), { instanceOf: RangeError, message: re('eps must be > 0') });
  t.throws(() => fwd({ ...ok, eps: 1e-50 }), { instanceOf: RangeError, message: re('eps must be > 0 \\(as a float32\\)') });
  t.throws(() => fwd({ ...ok, eps: -1 }), { instanceOf: RangeError, message: re('eps must be in') });
  t.throws(() => fwd({ ...ok, eps: NaN }), { instanceOf: RangeError, message: re('eps must be finite') });
  t.throws(() => fwd({ ...ok, momentum: 1.5 }), { instanceOf: RangeError, message: re('momentum must be in \\[0.0+, 1.0+\\], got 1.5') });
  t.throws(() => fwd({ ...ok, momentum: '0.1' }), { instanceOf: TypeError, message: re('momentum must be a number') });
  t.throws(() => fwd({ ...ok, spatial: 0 }), { instanceOf: RangeError, message: re('spatial must be in \\[1, ') });
  t.throws(() => fwd({ ...ok, channels: 0 }), { instanceOf: RangeError, message: re('channels must be in') });
  t.throws(() => fwd({ ...ok, gamma: new Float32Array(2) }), { instanceOf: RangeError, message: re('gamma has length 2, expected 3') });
  t.throws(() => fwd({ ...ok, beta: undefined }), { instanceOf: TypeError, message: re('beta must be a Float32Array') });
  t.throws(() => fwd({ ...ok, runningMean: [0, 0, 0] }), { instanceOf: TypeError, message: re('runningMean must be a Float32Array') });
  t.throws(() => fwd({ ...ok, x: new Float32Array(7) }), { instanceOf: RangeError, message: re('x has length 7, expected 6') });
  t.throws(() => fwd({ ...ok, affine: false }), { instanceOf: TypeError, message: re('unknown option "affine"') });
  t.throws(() => fwd({ ...ok, training: false, runningVar: new Float32Array([1, -1, 1]) }), {
    instanceOf: RangeError,
    message: re('runningVar\\[1\\] = -1.0+ must be >= 0'),
  });
  t.throws(() => fwd({ ...ok, training: false, runningVar: new Float32Array([1, 1, NaN]) }), { instanceOf: RangeError, message: re('runningVar\\[2\\]') });

  const bok = { batch: 2, channels: 3, x: new Float32Array(6), dy: new Float32Array(6), gamma: c3(), savedMean: c3(), savedInvstd: c3() };
  await t.notThrowsAsync(bwd(bok));
  await t.notThrowsAsync(bwd({ ...bok, eps: 1e-3, momentum: 0.5 }), 'the BatchNormShape options are accepted');
  const rb = (s: string) => new RegExp(`batchNormBackward: ${s}`);
  t.throws(() => bwd({ ...bok, savedInvstd: new Float32Array(4) }), { instanceOf: RangeError, message: rb('savedInvstd has length 4, expected 3') });
  t.throws(() => bwd({ ...bok, savedMean: undefined }), { instanceOf: TypeError, message: rb('savedMean must be a Float32Array') });
  t.throws(() => bwd({ ...bok, dy: new Float32Array(5) }), { instanceOf: RangeError, message: rb('dy has length 5, expected 6') });
  t.throws(() => bwd({ ...bok, training: true }), { instanceOf: TypeError, message: rb('unknown option "training"') });
  t.throws(() => bwd({ ...bok, batch: 0 }), { instanceOf: RangeError, message: rb('batch must be in') });
});

// The plane sums run over 16 lanes in AVX-512 or portable code (DENDRITE_CPU_SIMD caps the
// instruction set at run time); both orders are the same, so every output must match bit for bit.
test.serial('batchNormForward / Backward give the same bits with every DENDRITE_CPU_SIMD', async (t) => {
  const run = async () => {
    const out: Float32Array[] = [];
    let seed = 90;
    for (const s of SHAPES) {
      const d = data(seed++, s);
      const shape = shapeOf(s);
      const fwd = await native.batchNormForward({ ...shape, x: d.x, gamma: d.gamma, beta: d.beta, runningMean: d.runningMean.slice(), runningVar: d.runningVar.slice(), training: true });
      const bwd = await native.batchNormBackward({ ...shape, x: d.x, dy: d.dy, gamma: d.gamma, savedMean: fwd.savedMean!, savedInvstd: fwd.savedInvstd! });
      out.push(fwd.y, fwd.savedMean!, fwd.savedInvstd!, bwd.dx, bwd.dgamma, bwd.dbeta);
    }
    return out;
  };
  const best = await withSimd(undefined, run);
  for (const simd of ['avx2', 'scalar']) {
    (await withSimd(simd, run)).forEach((a, i) => t.true(bitsEqual(a, best[i] ?? new Float32Array(1)), `${simd}: output ${i}`));
  }
});
