// conv2dForward / conv2dBackward / maxPool2x2Forward / maxPool2x2Backward against float64
// references (the reference backward itself checked by finite differences), and bad calls.
//
// Tolerances: an output that sums `terms` float32 products is within (terms + 2) * 2^-24 times
// the sum of the absolute values of those products (the recursive-summation bound, valid for
// any order and blocking). Those magnitudes come from the same reference run on |x|, |w|, |dy|.
// Pooling only selects and copies values, so it must match exactly.
import test from 'ava';

import { native, type ConvShape } from '../src/native';
import { EPS32, abs, assertClose, bitsEqual, integers, rng, sumBound, uniform, withSimd } from './nn-helpers';
import * as ref from './reference/nn';

const GEOMETRIES: ConvShape[] = [
  { batch: 1, inChannels: 1, inH: 1, inW: 1, outChannels: 1, kernelH: 1, kernelW: 1 },
  { batch: 2, inChannels: 3, inH: 5, inW: 7, outChannels: 4, kernelH: 3, kernelW: 3, pad: 1 },
  { batch: 3, inChannels: 2, inH: 17, inW: 17, outChannels: 3, kernelH: 5, kernelW: 5, stride: 2, pad: 2 },
  { batch: 1, inChannels: 1, inH: 3, inW: 3, outChannels: 1, kernelH: 3, kernelW: 1, stride: 3 },
  { batch: 2, inChannels: 3, inH: 9, inW: 8, outChannels: 2, kernelH: 3, kernelW: 2, stride: 2, pad: 1 },
  { batch: 3, inChannels: 5, inH: 4, inW: 6, outChannels: 7, kernelH: 1, kernelW: 1 },
  { batch: 2, inChannels: 3, inH: 5, inW: 5, outChannels: 2, kernelH: 1, kernelW: 1, stride: 2 },
  { batch: 1, inChannels: 2, inH: 3, inW: 4, outChannels: 2, kernelH: 2, kernelW: 2, pad: 3 },
  { batch: 2, inChannels: 1, inH: 3, inW: 3, outChannels: 2, kernelH: 5, kernelW: 5, pad: 1 },
  { batch: 17, inChannels: 2, inH: 6, inW: 5, outChannels: 3, kernelH: 3, kernelW: 3, pad: 1, stride: 1 },
  { batch: 33, inChannels: 1, inH: 4, inW: 4, outChannels: 2, kernelH: 2, kernelW: 3, stride: 2 },
  // realistic: MNIST first and second layers
  { batch: 4, inChannels: 1, inH: 28, inW: 28, outChannels: 16, kernelH: 5, kernelW: 5, pad: 2 },
  { batch: 2, inChannels: 16, inH: 14, inW: 14, outChannels: 32, kernelH: 5, kernelW: 5, pad: 2 },
  { batch: 2, inChannels: 8, inH: 28, inW: 28, outChannels: 8, kernelH: 3, kernelW: 3, stride: 2, pad: 1 },
];

function sizes(g: ConvShape) {
  const { outH, outW } = ref.convOut(g);
  return {
    outH,
    outW,
    nx: g.batch * g.inChannels * g.inH * g.inW,
    nw: g.outChannels * g.inChannels * g.kernelH * g.kernelW,
    ny: g.batch * g.outChannels * outH * outW,
  };
}

function describe(g: ConvShape): string {
  return `${g.batch}x${g.inChannels}x${g.inH}x${g.inW} -> ${g.outChannels} k${g.kernelH}x${g.kernelW} s${g.stride ?? 1} p${g.pad ?? 0}`;
}

test('conv2dForward matches the reference', async (t) => {
  const next = rng(10);
  for (const g of GEOMETRIES) {
    const { ny, nx, nw, outH, outW } = sizes(g);
    const x = uniform(next, nx);
    const w = uniform(next, nw);
    const bias = uniform(next, g.outChannels);
    const xs = x.slice();
    const ws = w.slice();
    for (const withBias of [false, true]) {
      const y = await native.conv2dForward({ ...g, x, w, ...(withBias ? { bias } : {}) });
      t.is(y.length, ny, describe(g));
      t.true(outH >= 1 && outW >= 1);
      const r = ref.conv2dForward(g, x, w, withBias ? bias : undefined);
      const mag = ref.conv2dForward(g, abs(x), abs(w), withBias ? abs(bias) : undefined);
      assertClose(t, y, r, sumBound(g.inChannels * g.kernelH * g.kernelW + 1, mag), `forward ${describe(g)} bias=${withBias}`);
    }
    t.true(bitsEqual(x, xs) && bitsEqual(w, ws), 'inputs untouched');
  }
});

test('conv2dForward of a known case (padding, stride 2)', async (t) => {
  const x = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = new Float32Array([1, 0, 0, 1]);
  const g = { batch: 1, inChannels: 1, inH: 3, inW: 3, outChannels: 1, kernelH: 2, kernelW: 2, stride: 2, pad: 1 };
  t.deepEqual(Array.from(await native.conv2dForward({ ...g, x, w })), [1, 3, 7, 14]);
  t.deepEqual(Array.from(await native.conv2dForward({ ...g, x, w, bias: new Float32Array([0.5]) })), [1.5, 3.5, 7.5, 14.5]);
});

test('the reference conv backward agrees with finite differences of the reference forward', (t) => {
  const next = rng(11);
  for (const g of [GEOMETRIES[2], GEOMETRIES[4], GEOMETRIES[7], GEOMETRIES[10]]) {
    const { nx, nw, ny } = sizes(g);
    const x = Float64Array.from(uniform(next, nx));
    const w = Float64Array.from(uniform(next, nw));
    const b = Float64Array.from(uniform(next, g.outChannels));
    const r = Float64Array.from(uniform(next, ny));
    // L = sum(r * y); dL/dx = backward(dy = r).dx, and likewise for w and b
    const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => {
      const y = ref.conv2dForward(g, xx, ww, bb);
      let s = 0;
      for (let i = 0; i < y.length; ++i) s += r[i] * y[i];
      return s;
    };
    const grads = ref.conv2dBackward(g, x, w, r);
    const h = 1e-3;
    const fd = (arr: Float64Array, i: number) => {
      const keep = arr[i];
      arr[i] = keep + h;
      const up = loss(x, w, b);
      arr[i] = keep - h;
      const down = loss(x, w, b);
      arr[i] = keep;
      return (up - down) / (2 * h);
    };
    let worst = 0;
    for (const [arr, grad] of [[x, grads.dx], [w, grads.dw], [b, grads.db]] as const) {
      for (let i = 0; i < arr.length; ++i) worst = Math.max(worst, Math.abs(fd(arr, i) - grad[i]));
    }
    t.true(worst < 1e-8, `${describe(g)}: worst finite-difference error ${worst}`);
  }
});

test('conv2dBackward matches the reference backward', async (t) => {
  const next = rng(12);
  for (const g of GEOMETRIES) {
    const { nx, nw, ny, outH, outW } = sizes(g);
    const x = uniform(next, nx);
    const w = uniform(next, nw);
    const dy = uniform(next, ny);
    const copies = [x.slice(), w.slice(), dy.slice()];
    const out = await native.conv2dBackward({ ...g, x, w, dy });
    t.deepEqual(Object.keys(out).sort(), ['db', 'dw', 'dx']);
    const r = ref.conv2dBackward(g, x, w, dy);
    const mag = ref.conv2dBackward(g, abs(x), abs(w), abs(dy));
    const d = describe(g);
    assertClose(t, out.dx!, r.dx, sumBound(g.outChannels * g.kernelH * g.kernelW, mag.dx), `dx ${d}`);
    // dW sums batch * outH * outW products (the batch in chunks added in order: + chunks)
    assertClose(t, out.dw, r.dw, sumBound(g.batch * outH * outW + 32, mag.dw), `dw ${d}`);
    assertClose(t, out.db!, r.db, (i) => EPS32 * Math.abs(r.db[i]) + 1e-12 * mag.db[i], `db ${d}`);
    t.true(bitsEqual(x, copies[0]) && bitsEqual(w, copies[1]) && bitsEqual(dy, copies[2]), 'inputs untouched');

    // Leaving out dx and db changes nothing else.
    const dwOnly = await native.conv2dBackward({ ...g, x, w, dy, inputGrad: false, biasGrad: false });
    t.deepEqual(Object.keys(dwOnly), ['dw']);
    t.true(bitsEqual(dwOnly.dw, out.dw), `dw alone is identical ${d}`);
    const noDb = await native.conv2dBackward({ ...g, x, w, dy, biasGrad: false, inputGrad: true });
    t.deepEqual(Object.keys(noDb).sort(), ['dw', 'dx']);
    t.true(bitsEqual(noDb.dx!, out.dx!));
  }
});

test('conv2dBackward agrees with finite differences of conv2dForward (float32)', async (t) => {
  const g: ConvShape = { batch: 2, inChannels: 2, inH: 5, inW: 6, outChannels: 3, kernelH: 3, kernelW: 2, stride: 2, pad: 1 };
  const next = rng(13);
  const { nx, nw, ny } = sizes(g);
  const x = uniform(next, nx);
  const w = uniform(next, nw);
  const r = uniform(next, ny);
  const { dx, dw } = await native.conv2dBackward({ ...g, x, w, dy: r });
  // L(x) = sum r * y is linear in x, so a float32 central difference with step 0.5 is exact up to rounding.
  const loss = async (xx: Float32Array, ww: Float32Array) => {
    const y = await native.conv2dForward({ ...g, x: xx, w: ww });
    let s = 0;
    for (let i = 0; i < y.length; ++i) s += r[i] * y[i];
    return s;
  };
  for (const [arr, grad, name] of [[x, dx!, 'dx'], [w, dw, 'dw']] as const) {
    for (let i = 0; i < arr.length; i += 3) {
      const keep = arr[i];
      arr[i] = keep + 0.5;
      const up = await loss(x, w);
      arr[i] = keep - 0.5;
      const down = await loss(x, w);
      arr[i] = keep;
      t.true(Math.abs(up - down - grad[i]) < 1e-4, `${name}[${i}]: ${up - down} vs ${grad[i]}`);
    }
  }
});

// ---- pooling ----

const POOLS = [
  { batch: 1, channels: 1, inH: 2, inW: 2 },
  { batch: 2, channels: 3, inH: 5, inW: 7 },
  { batch: 1, channels: 1, inH: 3, inW: 3 },
  { batch: 1, channels: 2, inH: 2, inW: 9 },
  { batch: 2, channels: 2, inH: 17, inW: 16 },
  { batch: 3, channels: 16, inH: 28, inW: 28 },
  { batch: 8, channels: 32, inH: 15, inW: 15 },
];

test('maxPool2x2Forward / Backward match the reference exactly', async (t) => {
  const next = rng(20);
  for (const g of POOLS) {
    const n = g.batch * g.channels * g.inH * g.inW;
    // Continuous values, and small integers to force ties (the first in row-major order wins).
    for (const x of [uniform(next, n), Float32Array.from(integers(next, n, 3))]) {
      const xs = x.slice();
      const out = await native.maxPool2x2Forward({ ...g, x });
      const r = ref.maxPoolForward(g, x);
      t.deepEqual(Object.keys(out), ['y', 'argmax']);
      t.true(out.argmax instanceof Int32Array);
      t.deepEqual(Array.from(out.y), Array.from(r.y), `y ${JSON.stringify(g)}`);
      t.deepEqual(Array.from(out.argmax), Array.from(r.argmax), `argmax ${JSON.stringify(g)}`);
      const dy = uniform(next, out.y.length);
      const dx = await native.maxPool2x2Backward({ ...g, dy, argmax: out.argmax });
      t.is(dx.length, n);
      t.deepEqual(Array.from(dx), Array.from(ref.maxPoolBackward(g, dy, r.argmax)), `dx ${JSON.stringify(g)}`);
      t.true(bitsEqual(x, xs));
    }
  }
});

test('maxPool2x2 ties pick the first element, odd edges are dropped, NaN propagates', async (t) => {
  const g = { batch: 1, channels: 1, inH: 3, inW: 5 };
  // rows: [7 7 1 2 9] [7 7 2 1 9] [9 9 9 9 9]: the last row and column are dropped (floor)
  const x = new Float32Array([7, 7, 1, 2, 9, 7, 7, 2, 1, 9, 9, 9, 9, 9, 9]);
  const out = await native.maxPool2x2Forward({ ...g, x });
  t.deepEqual(Array.from(out.y), [7, 2]);
  t.deepEqual(Array.from(out.argmax), [0, 3]);
  const dx = await native.maxPool2x2Backward({ ...g, dy: new Float32Array([1.5, -2]), argmax: out.argmax });
  t.deepEqual(Array.from(dx), [1.5, 0, 0, -2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const nan = await native.maxPool2x2Forward({ batch: 1, channels: 1, inH: 2, inW: 2, x: new Float32Array([1, NaN, 5, NaN]) });
  t.true(Number.isNaN(nan.y[0]));
  t.is(nan.argmax[0], 1);
});

// The AVX-512 paths (implicit-GEMM packing, pooling rows) and the portable ones must agree bit
// for bit: DENDRITE_CPU_SIMD caps the instruction set at run time. Convolutions are compared
// with AVX2 (the portable packing, and GEMM micro-kernels with FMA like AVX-512's); the scalar
// GEMM rounds without FMA, so only pooling must match there too. dx and dW may come from
// AVX-512's direct kernels (stride 1), so they are compared to rounding.
test.serial('conv2d and maxPool2x2 give the same bits with every DENDRITE_CPU_SIMD', async (t) => {
  const next = rng(23);
  const convs = [GEOMETRIES[1], GEOMETRIES[9], GEOMETRIES[11], GEOMETRIES[12]];
  const inputs = convs.map((g) => {
    const n = sizes(g);
    return { g, x: uniform(next, n.nx), w: uniform(next, n.nw), bias: uniform(next, g.outChannels), dy: uniform(next, n.ny) };
  });
  const pool = { batch: 3, channels: 5, inH: 30, inW: 37 };
  const px = uniform(next, pool.batch * pool.channels * pool.inH * pool.inW);
  for (let i = 0; i < px.length; i += 7) px[i] = i % 3 === 0 ? NaN : px[i - 1] ?? 0; // NaNs and ties
  const run = async () => {
    const out: Float32Array[] = [];
    for (const { g, x, w, bias, dy } of inputs) {
      out.push(await native.conv2dForward({ ...g, x, w, bias }));
      const b = await native.conv2dBackward({ ...g, x, w, dy });
      out.push(b.dx ?? new Float32Array(0), b.dw, b.db ?? new Float32Array(0));
    }
    const p = await native.maxPool2x2Forward({ ...pool, x: px });
    const pdx = await native.maxPool2x2Backward({ ...pool, dy: p.y.map((v) => (Number.isNaN(v) ? 0.5 : -v)), argmax: p.argmax });
    out.push(pdx, p.y, new Float32Array(p.argmax.buffer));
    return out;
  };
  const best = await withSimd(undefined, run);
  for (const simd of ['avx2', 'scalar']) {
    const other = await withSimd(simd, run);
    const first = simd === 'avx2' ? 0 : other.length - 3;
    for (let i = first; i < other.length; ++i) {
      const a = other[i] ?? new Float32Array(0), b = best[i] ?? new Float32Array(1);
      if (i < other.length - 3 && (i % 4 === 1 || i % 4 === 2)) {
        // dx and dW: AVX-512 computes them directly (stride 1), in another summation order than
        // the GEMMs of the other paths, so they agree to rounding only.
        const scale = Math.max(...Array.from(b, Math.abs));
        t.true(a.length === b.length && a.every((v, j) => Math.abs(v - (b[j] ?? NaN)) <= 1e-5 * scale), `${simd}: dW ${i}`);
      } else {
        t.true(bitsEqual(a, b), `${simd}: output ${i}`);
      }
    }
  }
});

// ---- bad calls ----

const G: ConvShape = { batch: 2, inChannels: 1, inH: 3, inW: 4, outChannels: 2, kernelH: 3, kernelW: 3, pad: 1 };
const X = new Float32Array(24);
const W = new Float32Array(18);
const DY = new Float32Array(2 * 2 * 3 * 4);

test('conv2dForward / conv2dBackward reject bad geometry and arrays', async (t) => {
  const fwd = native.conv2dForward as unknown as (o: unknown) => unknown;
  const bwd = native.conv2dBackward as unknown as (o: unknown) => unknown;
  for (const [fn, name, extra] of [[fwd, 'conv2dForward', {}], [bwd, 'conv2dBackward', { dy: DY }]] as const) {
    const ok = { ...G, x: X, w: W, ...extra };
    const re = (s: string) => new RegExp(`${name}: ${s}`);
    await t.notThrowsAsync(fn(ok) as Promise<unknown>, 'the unchanged call works');
    t.throws(() => fn({ ...ok, kernelH: 6 }), {
      instanceOf: RangeError,
      message: re('kernelH \\(6\\) is larger than the padded input height inH \\+ 2 \\* pad = 3 \\+ 2 \\* 1 = 5'),
    });
    t.throws(() => fn({ ...ok, kernelW: 7, pad: 1 }), { instanceOf: RangeError, message: re('kernelW \\(7\\) is larger than the padded input width') });
    t.throws(() => fn({ ...ok, inChannels: 0 }), { instanceOf: RangeError, message: re('inChannels must be in \\[1, ') });
    t.throws(() => fn({ ...ok, outChannels: 0 }), { instanceOf: RangeError, message: re('outChannels must be in') });
    t.throws(() => fn({ ...ok, stride: 0 }), { instanceOf: RangeError, message: re('stride must be in \\[1, .*got 0') });
    t.throws(() => fn({ ...ok, pad: -1 }), { instanceOf: RangeError, message: re('pad must be in \\[0, ') });
    t.throws(() => fn({ ...ok, batch: 0 }), { instanceOf: RangeError, message: re('batch must be in') });
    t.throws(() => fn({ ...ok, inH: 1.5 }), { instanceOf: RangeError, message: re('inH must be an integer') });
    t.throws(() => fn({ ...ok, kernelW: undefined }), { instanceOf: TypeError, message: re('kernelW is required') });
    t.throws(() => fn({ ...ok, stride: '2' }), { instanceOf: TypeError, message: re('stride must be an integer') });
    t.throws(() => fn({ ...ok, x: new Float32Array(23) }), { instanceOf: RangeError, message: re('x has length 23, expected 24') });
    t.throws(() => fn({ ...ok, w: new Float32Array(9) }), { instanceOf: RangeError, message: re('w has length 9, expected 18') });
    t.throws(() => fn({ ...ok, w: new Float64Array(18) }), { instanceOf: TypeError, message: re('w must be a Float32Array') });
    t.throws(() => fn({ ...ok, x: null }), { instanceOf: TypeError, message: re('x must be a Float32Array') });
    t.throws(() => fn({ ...ok, dilation: 2 }), { instanceOf: TypeError, message: re('unknown option "dilation"') });
    t.throws(() => fn({ ...ok, batch: 2 ** 31, inH: 2 ** 20, inW: 2 ** 20 }), { instanceOf: RangeError, message: /too large/ });
  }
  t.throws(() => fwd({ ...G, x: X, w: W, bias: new Float32Array(3) }), { instanceOf: RangeError, message: /conv2dForward: bias has length 3, expected 2/ });
  t.throws(() => fwd({ ...G, x: X, w: W, bias: [0, 0] }), { instanceOf: TypeError, message: /bias must be a Float32Array/ });
  t.throws(() => fwd({ ...G, x: X, w: W, dy: DY }), { instanceOf: TypeError, message: /conv2dForward: unknown option "dy"/ });
  t.throws(() => bwd({ ...G, x: X, w: W }), { instanceOf: TypeError, message: /conv2dBackward: dy must be a Float32Array/ });
  t.throws(() => bwd({ ...G, x: X, w: W, dy: new Float32Array(10) }), { instanceOf: RangeError, message: /dy has length 10, expected 48/ });
  t.throws(() => bwd({ ...G, x: X, w: W, dy: DY, inputGrad: 1 }), { instanceOf: TypeError, message: /inputGrad must be a boolean/ });
  t.throws(() => bwd({ ...G, x: X, w: W, dy: DY, biasGrad: 'no' }), { instanceOf: TypeError, message: /biasGrad must be a boolean/ });
  t.throws(() => bwd({ ...G, x: X, w: W, dy: DY, bias: new Float32Array(2) }), { instanceOf: TypeError, message: /unknown option "bias"/ });
});

test('maxPool2x2Forward / Backward reject bad arguments', async (t) => {
  const fwd = native.maxPool2x2Forward as unknown as (o: unknown) => unknown;
  const bwd = native.maxPool2x2Backward as unknown as (o: unknown) => unknown;
  const g = { batch: 1, channels: 2, inH: 4, inW: 5 };
  const x = new Float32Array(40);
  t.throws(() => fwd({ ...g, inH: 1, x: new Float32Array(10) }), { instanceOf: RangeError, message: /maxPool2x2Forward: inH must be in \[2, .*got 1/ });
  t.throws(() => fwd({ ...g, inW: 0, x }), { instanceOf: RangeError, message: /inW must be in \[2, / });
  t.throws(() => fwd({ ...g, channels: 0, x }), { instanceOf: RangeError, message: /channels must be in/ });
  t.throws(() => fwd({ ...g, x: new Float32Array(39) }), { instanceOf: RangeError, message: /x has length 39, expected 40/ });
  t.throws(() => fwd({ ...g }), { instanceOf: TypeError, message: /x must be a Float32Array/ });
  t.throws(() => fwd({ ...g, x, stride: 2 }), { instanceOf: TypeError, message: /unknown option "stride"/ });
  t.throws(() => fwd({ ...g, inH: 2 ** 16, inW: 2 ** 16, x }), { instanceOf: RangeError, message: /inH \* inW = 4294967296 exceeds the int32 range/ });
  // 2 planes of 2x2 outputs
  const dy = new Float32Array(8);
  const argmax = new Int32Array([0, 2, 10, 12, 0, 3, 11, 13]);
  await t.notThrowsAsync(bwd({ ...g, dy, argmax }) as Promise<unknown>, 'valid argmax');
  t.throws(() => bwd({ ...g, dy, argmax: new Int32Array([0, 2, 10, 0, 0, 3, 11, 13]) }), {
    instanceOf: RangeError,
    message: /maxPool2x2Backward: argmax\[3\] = 0 is not an index of its 2x2 window \(rows 2-3, columns 2-3 of a 4x5 plane\)/,
  });
  t.throws(() => bwd({ ...g, dy, argmax: new Int32Array([-1, 2, 10, 12, 0, 3, 11, 13]) }), { instanceOf: RangeError, message: /argmax\[0\] = -1/ });
  t.throws(() => bwd({ ...g, dy, argmax: new Int32Array([0, 2, 10, 12, 0, 3, 11, 20]) }), { instanceOf: RangeError, message: /argmax\[7\] = 20/ });
  // column 4 is dropped by the floor: index 4 belongs to no window
  t.throws(() => bwd({ ...g, dy, argmax: new Int32Array([0, 4, 10, 12, 0, 3, 11, 13]) }), { instanceOf: RangeError, message: /argmax\[1\] = 4/ });
  t.throws(() => bwd({ ...g, dy, argmax: Float32Array.from(argmax) }), { instanceOf: TypeError, message: /argmax must be an Int32Array/ });
  t.throws(() => bwd({ ...g, dy, argmax: argmax.subarray(1) }), { instanceOf: RangeError, message: /argmax has length 7, expected 8/ });
  t.throws(() => bwd({ ...g, dy: new Float32Array(9), argmax }), { instanceOf: RangeError, message: /dy has length 9, expected 8/ });
});
