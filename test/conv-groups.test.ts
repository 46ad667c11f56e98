// The CPU convolution works on groups of images (several images' im2col matrices side by side,
// one GEMM per group, dW summed over group partials): batches with many groups and a partial
// last group, against the float64 reference, and bit-identical for 1 and 2 threads.
// Tolerances as in nn-conv.test.ts: the recursive-summation bound (terms + 2) * 2^-24 * sum|products|,
// with dW's terms = batch * outH * outW plus one addition per group partial.
import test from 'ava';

import { native, type ConvShape } from '../src/native';
import { EPS32, abs, assertClose, bitsEqual, rng, sumBound, uniform } from './nn-helpers';
import * as ref from './reference/nn';

const SHAPES: ConvShape[] = [
  // Lange's CNN, second layer: groups of 5 images, 37 = 7 * 5 + 2
  { batch: 37, inChannels: 16, inH: 14, inW: 14, outChannels: 32, kernelH: 5, kernelW: 5, pad: 2 },
  // first layer on CIFAR-shaped input: groups of 2, 23 = 11 * 2 + 1
  { batch: 23, inChannels: 3, inH: 32, inW: 32, outChannels: 16, kernelH: 5, kernelW: 5, pad: 2 },
  // stride 2 (the general im2col path) with many small images per group (76: 301 = 3 * 76 + 73)
  { batch: 301, inChannels: 2, inH: 9, inW: 9, outChannels: 3, kernelH: 3, kernelW: 3, stride: 2 },
  // 1x1 kernels: the images are their own im2col (one image per group)
  { batch: 9, inChannels: 5, inH: 6, inW: 7, outChannels: 4, kernelH: 1, kernelW: 1 },
];

for (const g of SHAPES) {
  const name = `${g.batch}x${g.inChannels}x${g.inH}x${g.inW} -> ${g.outChannels} k${g.kernelH} s${g.stride ?? 1} p${g.pad ?? 0}`;
  test(`grouped conv2d forward and backward match the reference: ${name}`, async (t) => {
    const next = rng(g.batch);
    const { outH, outW } = ref.convOut(g);
    const x = uniform(next, g.batch * g.inChannels * g.inH * g.inW);
    const w = uniform(next, g.outChannels * g.inChannels * g.kernelH * g.kernelW);
    const bias = uniform(next, g.outChannels);
    const dy = uniform(next, g.batch * g.outChannels * outH * outW);
    const y1 = await native.conv2dForward({ ...g, x, w, bias, threads: 1 });
    const y2 = await native.conv2dForward({ ...g, x, w, bias, threads: 2 });
    t.true(bitsEqual(y1, y2), 'forward: 1 and 2 threads agree bit for bit');
    const terms = g.inChannels * g.kernelH * g.kernelW + 1;
    assertClose(t, y2, ref.conv2dForward(g, x, w, bias), sumBound(terms, ref.conv2dForward(g, abs(x), abs(w), abs(bias))), 'forward');
    const b1 = await native.conv2dBackward({ ...g, x, w, dy, threads: 1 });
    const b2 = await native.conv2dBackward({ ...g, x, w, dy, threads: 2 });
    t.true(bitsEqual(b1.dw, b2.dw) && bitsEqual(b1.dx!, b2.dx!) && bitsEqual(b1.db!, b2.db!), 'backward: 1 and 2 threads agree');
    const r = ref.conv2dBackward(g, x, w, dy);
    const mag = ref.conv2dBackward(g, abs(x), abs(w), abs(dy));
    assertClose(t, b2.dx!, r.dx, sumBound(g.outChannels * g.kernelH * g.kernelW, mag.dx), 'dx');
    assertClose(t, b2.dw, r.dw, sumBound(g.batch * outH * outW + g.batch, mag.dw), 'dw');
    assertClose(t, b2.db!, r.db, (i) => EPS32 * Math.abs(r.db[i]) + 1e-12 * mag.db[i], 'db');
    const dwOnly = await native.conv2dBackward({ ...g, x, w, dy, inputGrad: false, biasGrad: false, threads: 2 });
    t.true(bitsEqual(dwOnly.dw, b2.dw), 'dw without dx is identical');
  });
}
