// sgdUpdate / adamUpdate against PyTorch's update formulas applied by hand in float32
// (test/reference/nn.ts: sgdStep, adamStep), over several steps, and bad calls.
//
// Tolerance: the reference rounds to float32 after every operation as the kernels do, so the
// only differences come from the bias corrections (pow in double, which may differ by an ulp
// between libm and V8) and from a compiler contracting a*b+c into an FMA on some targets:
// 4 ulps of |param| per step (plus 1e-30). On x86-64, whose baseline instruction set has no
// FMA, the kernels must match the reference bit for bit.
import test from 'ava';

import { native } from '../src/native';
import { EPS32, assertClose, bitsEqual, rng, uniform, withSimd } from './nn-helpers';
import * as ref from './reference/nn';

const close = (steps: number, r: ArrayLike<number>) => (i: number) => 4 * steps * EPS32 * Math.abs(r[i]) + 1e-30;
const exact = process.arch === 'x64';

test('sgdUpdate follows torch.optim.SGD over several steps', async (t) => {
  const next = rng(80);
  const cases = [
    { lr: 0.1 },
    { lr: 0.05, weightDecay: 0.01 },
    { lr: 0.01, momentum: 0.9 },
    { lr: 0.02, momentum: 0.5, weightDecay: 1e-3 },
    { lr: 0.5, momentum: 1 },
  ];
  for (const n of [1, 3, 17, 513, 40000]) {
    for (const o of cases) {
      const param = uniform(next, n);
      const velocity = o.momentum ? new Float32Array(n) : undefined;
      const p = param.slice();
      const v = velocity?.slice();
      for (let step = 1; step <= 5; ++step) {
        const grad = uniform(next, n, -2, 2);
        const g0 = grad.slice();
        const res = await native.sgdUpdate({ param, grad, ...(velocity ? { velocity } : {}), ...o });
        t.is(res, undefined);
        ref.sgdStep(p, grad, v, o);
        t.true(bitsEqual(grad, g0), 'grad untouched');
        assertClose(t, param, p, close(step, p), `param n=${n} ${JSON.stringify(o)} step ${step}`);
        if (velocity) assertClose(t, velocity, v!, close(step, v!), `velocity n=${n} step ${step}`);
        if (exact) t.true(bitsEqual(param, p) && (!velocity || bitsEqual(velocity, v!)), `bit-exact n=${n} step ${step}`);
      }
    }
  }
});

test('sgdUpdate: a zero velocity makes the first momentum step v = g (PyTorch buffer init)', async (t) => {
  const param = new Float32Array([1, -2, 3]);
  const grad = new Float32Array([0.5, 0.25, -1]);
  const velocity = new Float32Array(3);
  await native.sgdUpdate({ param, grad, velocity, lr: 0.5, momentum: 0.9, weightDecay: 0.5 });
  // g = grad + 0.5 * p = [1, -0.75, 0.5];  v = g;  p -= 0.5 * v
  t.deepEqual(Array.from(velocity), [1, -0.75, 0.5]);
  t.deepEqual(Array.from(param), [0.5, -1.625, 2.75]);
  // momentum 0: a velocity given is left alone
  const untouched = new Float32Array([7, 7, 7]);
  await native.sgdUpdate({ param, grad, velocity: untouched, lr: 1 });
  t.deepEqual(Array.from(untouched), [7, 7, 7]);
  t.deepEqual(Array.from(param), [0, -1.875, 3.75]);
  // a view updates only its own elements of the underlying buffer
  const buf = new Float32Array([1, 2, 3, 4, 5, 6]);
  await native.sgdUpdate({ param: buf.subarray(2, 4), grad: new Float32Array([1, 1]), lr: 0.5 });
  t.deepEqual(Array.from(buf), [1, 2, 2.5, 3.5, 5, 6]);
  // empty arrays are fine
  t.is(await native.sgdUpdate({ param: new Float32Array(0), grad: new Float32Array(0), lr: 1 }), undefined);
});

// Every instruction set (DENDRITE_CPU_SIMD) must give the reference's bits.
for (const simd of ['avx512', 'avx2', 'scalar']) {
  test.serial(`adamUpdate follows torch.optim.Adam over several steps (DENDRITE_CPU_SIMD=${simd})`, async (t) => {
    await withSimd(simd, async () => {
      const next = rng(81);
      const cases = [
        {},
        { lr: 0.01, weightDecay: 0.1 },
        { lr: 3e-4, beta1: 0.8, beta2: 0.99, eps: 1e-6 },
        { lr: 0.1, beta1: 0.3, beta2: 0.5 }, // 1 - beta1 >= 0.5: the other branch of lerp
        { lr: 0.001, beta1: 0, beta2: 0 },
      ];
      for (const n of [1, 3, 17, 513, 40000, 40013]) {
        for (const o of cases) {
          const param = uniform(next, n);
          const m = new Float32Array(n);
          const v = new Float32Array(n);
          const [pr, mr, vr] = [param.slice(), m.slice(), v.slice()];
          for (let step = 1; step <= 6; ++step) {
            const grad = uniform(next, n, -1, 1);
            const res = await native.adamUpdate({ param, grad, m, v, step, ...o });
            t.is(res, undefined);
            ref.adamStep(pr, grad, mr, vr, { step, ...o });
            const what = `n=${n} ${JSON.stringify(o)} step ${step}`;
            assertClose(t, m, mr, close(step, mr), `m ${what}`);
            assertClose(t, v, vr, close(step, vr), `v ${what}`);
            assertClose(t, param, pr, close(step, pr), `param ${what}`);
            if (exact) t.true(bitsEqual(param, pr) && bitsEqual(m, mr) && bitsEqual(v, vr), `bit-exact ${what}`);
          }
        }
      }
    });
  });
}

test('adamUpdate: the first step moves each parameter by about lr; late steps have no bias correction', async (t) => {
  const param = new Float32Array([1, 1, 1, 1]);
  const grad = new Float32Array([0.5, -3, 1e-3, 100]);
  await native.adamUpdate({ param, grad, m: new Float32Array(4), v: new Float32Array(4), step: 1, lr: 0.01 });
  // m_hat = g, v_hat = g^2: p -= lr * g / (|g| + eps)
  for (let i = 0; i < 4; ++i) t.true(Math.abs(param[i] - (1 - 0.01 * Math.sign(grad[i]))) < 1e-6, `${param[i]}`);
  const p = new Float32Array([2]);
  const m = new Float32Array([0.3]);
  const v = new Float32Array([0.04]);
  const [pr, mr, vr] = [p.slice(), m.slice(), v.slice()];
  await native.adamUpdate({ param: p, grad: new Float32Array([0.1]), m, v, step: 100000 });
  ref.adamStep(pr, [0.1], mr, vr, { step: 100000 });
  assertClose(t, p, pr, close(1, pr), 'step 100000');
});

// ---- bad calls ----

test('sgdUpdate rejects bad arguments', (t) => {
  const f = native.sgdUpdate as unknown as (o: unknown) => unknown;
  const param = new Float32Array(4);
  const grad = new Float32Array(4);
  const re = (s: string) => new RegExp(`sgdUpdate: ${s}`);
  t.throws(() => f({ param, grad }), { instanceOf: TypeError, message: re('lr is required') });
  t.throws(() => f({ param, grad, lr: NaN }), { instanceOf: RangeError, message: re('lr must be finite, got NaN') });
  t.throws(() => f({ param, grad, lr: Infinity }), { instanceOf: RangeError, message: re('lr must be finite') });
  t.throws(() => f({ param, grad, lr: -0.1 }), { instanceOf: RangeError, message: re('lr must be in \\[0') });
  t.throws(() => f({ param, grad, lr: '0.1' }), { instanceOf: TypeError, message: re('lr must be a number') });
  t.throws(() => f({ param, grad, lr: 0.1, momentum: 0.9 }), { instanceOf: TypeError, message: re('velocity is required when momentum != 0') });
  t.throws(() => f({ param, grad, lr: 0.1, momentum: -0.5, velocity: new Float32Array(4) }), { instanceOf: RangeError, message: re('momentum must be in') });
  t.throws(() => f({ param, grad, lr: 0.1, momentum: 1.5, velocity: new Float32Array(4) }), { instanceOf: RangeError, message: re('momentum must be in') });
  t.throws(() => f({ param, grad, lr: 0.1, weightDecay: -1 }), { instanceOf: RangeError, message: re('weightDecay must be in') });
  t.throws(() => f({ param, grad, lr: 0.1, momentum: 0.9, velocity: new Float32Array(3) }), { instanceOf: RangeError, message: re('velocity has length 3, expected 4') });
  t.throws(() => f({ param, grad: new Float32Array(3), lr: 0.1 }), { instanceOf: RangeError, message: re('grad has length 3, expected 4') });
  t.throws(() => f({ param: [0, 0], grad, lr: 0.1 }), { instanceOf: TypeError, message: re('param must be a Float32Array') });
  t.throws(() => f({ param, grad: new Float64Array(4), lr: 0.1 }), { instanceOf: TypeError, message: re('grad must be a Float32Array') });
  t.throws(() => f({ param, grad, lr: 0.1, momentum: 0.9, velocity: param }), { instanceOf: RangeError, message: re('param shares memory with velocity') });
  const buf = new Float32Array(6);
  t.throws(() => f({ param: buf.subarray(0, 4), grad: buf.subarray(2, 6), lr: 0.1 }), { instanceOf: RangeError, message: re('param shares memory with grad') });
  t.throws(() => f({ param, grad, lr: 0.1, nesterov: true }), { instanceOf: TypeError, message: re('unknown option "nesterov"') });
  t.throws(() => f({ param, grad, lr: 0.1, threads: 0 }), { instanceOf: RangeError, message: re('threads must be in') });
  t.deepEqual(Array.from(param), [0, 0, 0, 0], 'nothing was updated by the rejected calls');
});

test('adamUpdate rejects bad arguments', (t) => {
  const f = native.adamUpdate as unknown as (o: unknown) => unknown;
  const n4 = () => new Float32Array(4);
  const ok = { param: n4(), grad: n4(), m: n4(), v: n4(), step: 1 };
  const re = (s: string) => new RegExp(`adamUpdate: ${s}`);
  const { step: _step, ...noStep } = ok;
  t.throws(() => f(noStep), { instanceOf: TypeError, message: re('step is required') });
  t.throws(() => f({ ...ok, step: 0 }), { instanceOf: RangeError, message: re('step must be in \\[1, ') });
  t.throws(() => f({ ...ok, step: 1.5 }), { instanceOf: RangeError, message: re('step must be an integer') });
  t.throws(() => f({ ...ok, lr: NaN }), { instanceOf: RangeError, message: re('lr must be finite, got NaN') });
  t.throws(() => f({ ...ok, lr: -1 }), { instanceOf: RangeError, message: re('lr must be in') });
  t.throws(() => f({ ...ok, beta1: 1 }), { instanceOf: RangeError, message: re('beta1 must be in \\[0, 1\\)') });
  t.throws(() => f({ ...ok, beta1: -0.1 }), { instanceOf: RangeError, message: re('beta1 must be in') });
  t.throws(() => f({ ...ok, beta2: 0.99999999 }), { instanceOf: RangeError, message: re('beta2 must be in \\[0, 1\\) \\(as a float32\\)') });
  t.throws(() => f({ ...ok, eps: -1e-8 }), { instanceOf: RangeError, message: re('eps must be in') });
  t.throws(() => f({ ...ok, weightDecay: NaN }), { instanceOf: RangeError, message: re('weightDecay must be finite') });
  t.throws(() => f({ ...ok, m: undefined }), { instanceOf: TypeError, message: re('m must be a Float32Array') });
  t.throws(() => f({ ...ok, v: new Float32Array(5) }), { instanceOf: RangeError, message: re('v has length 5, expected 4') });
  t.throws(() => f({ ...ok, v: ok.m }), { instanceOf: RangeError, message: re('m shares memory with v') });
  t.throws(() => f({ ...ok, grad: ok.param }), { instanceOf: RangeError, message: re('param shares memory with grad') });
  t.throws(() => f({ ...ok, amsgrad: true }), { instanceOf: TypeError, message: re('unknown option "amsgrad"') });
  t.throws(() => f({ ...ok, device: 'tpu' }), { instanceOf: RangeError, message: /device "tpu" is not valid/ });
});
