// Every nn kernel gives bit-identical results run to run and for any CPU thread count: each
// output is reduced in a fixed order whatever the split of the work. Sizes are chosen to take
// the parallel paths (several images, batch chunks, long rows, many columns).
import test from 'ava';

import { native, type ConvShape } from '../src/native';
import { bitsEqual, integers, rng, uniform } from './nn-helpers';

const THREADS = [1, 2, 3, 4, 7];

type Outputs = Array<Float32Array | Int32Array>;

/** Runs `run` with every thread count, twice with the first, and checks all outputs bit for bit. */
async function sameEverywhere(t: import('ava').ExecutionContext, what: string, run: (threads: number) => Promise<Outputs>) {
  const first = await run(THREADS[0]);
  const again = await run(THREADS[0]);
  t.true(first.every((a, i) => bitsEqual(a, again[i])), `${what}: run to run`);
  for (const threads of THREADS.slice(1)) {
    const out = await run(threads);
    t.is(out.length, first.length);
    t.true(first.every((a, i) => bitsEqual(a, out[i])), `${what}: threads ${threads} vs ${THREADS[0]}`);
  }
}

test('unary, rowSums, colSums, softmaxCrossEntropy are thread-count invariant', async (t) => {
  const next = rng(90);
  const x = uniform(next, 100003, -20, 20);
  for (const op of ['sigmoid', 'sigmoidGrad', 'relu', 'reluGrad', 'scaleShift'] as const) {
    await sameEverywhere(t, op, async (threads) => [await native.unary({ op, x, threads })]);
  }
  for (const [rows, cols] of [[3, 10000], [1000, 100], [5000, 37], [1, 100003]]) {
    const a = uniform(next, rows * cols);
    await sameEverywhere(t, `sums ${rows}x${cols}`, async (threads) => [
      await native.rowSums({ a, rows, cols, threads }),
      await native.colSums({ a, rows, cols, threads }),
    ]);
  }
  const logits = uniform(next, 3000, -8, 8);
  const labels = integers(next, 300, 10);
  await sameEverywhere(t, 'softmaxCrossEntropy', async (threads) => {
    const o = await native.softmaxCrossEntropy({ logits, labels, batch: 300, classes: 10, threads });
    return [o.losses, o.grad, new Float32Array([o.loss])];
  });
});

test('conv2d forward and backward are thread-count invariant', async (t) => {
  const next = rng(91);
  const shapes: ConvShape[] = [
    { batch: 8, inChannels: 1, inH: 28, inW: 28, outChannels: 16, kernelH: 5, kernelW: 5, pad: 2 },
    { batch: 40, inChannels: 3, inH: 9, inW: 9, outChannels: 4, kernelH: 3, kernelW: 3, stride: 2, pad: 1 },
    { batch: 1, inChannels: 4, inH: 12, inW: 12, outChannels: 6, kernelH: 3, kernelW: 3, pad: 1 },
    { batch: 5, inChannels: 6, inH: 7, inW: 7, outChannels: 3, kernelH: 1, kernelW: 1 },
  ];
  for (const g of shapes) {
    const oh = Math.floor((g.inH + 2 * (g.pad ?? 0) - g.kernelH) / (g.stride ?? 1)) + 1;
    const ow = Math.floor((g.inW + 2 * (g.pad ?? 0) - g.kernelW) / (g.stride ?? 1)) + 1;
    const x = uniform(next, g.batch * g.inChannels * g.inH * g.inW);
    const w = uniform(next, g.outChannels * g.inChannels * g.kernelH * g.kernelW);
    const bias = uniform(next, g.outChannels);
    const dy = uniform(next, g.batch * g.outChannels * oh * ow);
    await sameEverywhere(t, `conv ${JSON.stringify(g)}`, async (threads) => {
      const y = await native.conv2dForward({ ...g, x, w, bias, threads });
      const b = await native.conv2dBackward({ ...g, x, w, dy, threads });
      return [y, b.dx!, b.dw, b.db!];
    });
  }
});

test('maxPool2x2 and batch norm are thread-count invariant', async (t) => {
  const next = rng(92);
  const pool = { batch: 8, channels: 16, inH: 29, inW: 28 };
  const x = Float32Array.from(integers(next, 8 * 16 * 29 * 28, 5));
  await sameEverywhere(t, 'maxPool2x2', async (threads) => {
    const f = await native.maxPool2x2Forward({ ...pool, x, threads });
    const dx = await native.maxPool2x2Backward({ ...pool, dy: f.y, argmax: f.argmax, threads });
    return [f.y, f.argmax, dx];
  });
  for (const s of [{ batch: 64, channels: 16, spatial: 196 }, { batch: 256, channels: 100, spatial: 1 }, { batch: 3, channels: 2, spatial: 9000 }]) {
    const n = s.batch * s.channels * s.spatial;
    const bx = uniform(next, n, -3, 5);
    const dy = uniform(next, n);
    const gamma = uniform(next, s.channels, 0.5, 2);
    const beta = uniform(next, s.channels);
    const runningMean = uniform(next, s.channels);
    const runningVar = uniform(next, s.channels, 0.5, 1.5);
    await sameEverywhere(t, `batchNorm ${JSON.stringify(s)}`, async (threads) => {
      const f = await native.batchNormForward({ ...s, x: bx, gamma, beta, runningMean, runningVar, training: true, threads });
      const e = await native.batchNormForward({ ...s, x: bx, gamma, beta, runningMean, runningVar, training: false, threads });
      const b = await native.batchNormBackward({ ...s, x: bx, dy, gamma, savedMean: f.savedMean!, savedInvstd: f.savedInvstd!, threads });
      return [f.y, f.savedMean!, f.savedInvstd!, f.runningMean!, f.runningVar!, e.y, b.dx, b.dgamma, b.dbeta];
    });
  }
});

test('sgdUpdate and adamUpdate are thread-count invariant', async (t) => {
  const next = rng(93);
  const n = 100003;
  const p0 = uniform(next, n);
  const grads = [uniform(next, n), uniform(next, n), uniform(next, n)];
  await sameEverywhere(t, 'sgd', async (threads) => {
    const param = p0.slice();
    const velocity = new Float32Array(n);
    for (const grad of grads) await native.sgdUpdate({ param, grad, velocity, lr: 0.1, momentum: 0.9, weightDecay: 1e-4, threads });
    return [param, velocity];
  });
  await sameEverywhere(t, 'adam', async (threads) => {
    const param = p0.slice();
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    let step = 0;
    for (const grad of grads) await native.adamUpdate({ param, grad, m, v, step: ++step, weightDecay: 0.01, threads });
    return [param, m, v];
  });
});
