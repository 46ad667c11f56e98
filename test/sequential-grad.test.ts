// Gradients of the native sequential network, layer type by layer type, against central finite
// differences of a float64 reference forward pass (test/reference/sequential.ts); feedback
// alignment and direct feedback alignment against a float64 reference of their update rules.
//
// Tolerance: per tensor, |g - g_ref| <= 1e-5 * max_k |g_ref[k]| + 2e-7. The native pass runs in
// float32 (unit roundoff 6e-8); each gradient entry is a sum of at most a few hundred products
// through at most a dozen layers, so its error stays near 1e-6 of the tensor's largest entry
// (observed: at most 1.5e-7 absolute on these cases); the float64 finite differences
// (h = 1e-5) are exact to ~1e-10. The forward losses must agree to 1e-5 relative.
import test, { type ExecutionContext } from 'ava';

import { nativeClasses, type SequentialLayer, type SequentialTensorInfo } from '../src/native';
import { rng } from './nn-helpers';
import { denseGradient, forward, numericGradient, pixels, type RefNet } from './reference/sequential';

interface Case {
  name: string;
  net: RefNet;
  batch: number;
}

const CASES: Case[] = [
  {
    name: 'linear + relu (2 hidden layers)',
    net: { input: { channels: 1, height: 3, width: 4 }, classes: 3, layers: [
      { type: 'flatten' }, { type: 'linear', outFeatures: 6 }, { type: 'relu' }, { type: 'linear', outFeatures: 5 },
      { type: 'relu' }, { type: 'linear', outFeatures: 3 }] },
    batch: 4,
  },
  {
    name: 'linear without bias, batch 1',
    net: { input: { channels: 2, height: 1, width: 3 }, classes: 2, layers: [
      { type: 'flatten' }, { type: 'linear', outFeatures: 5, bias: false }, { type: 'relu' },
      { type: 'linear', outFeatures: 2, bias: false }] },
    batch: 1,
  },
  {
    name: 'dense batchNorm',
    net: { input: { channels: 1, height: 2, width: 3 }, classes: 3, layers: [
      { type: 'flatten' }, { type: 'linear', outFeatures: 6 }, { type: 'batchNorm' }, { type: 'relu' },
      { type: 'linear', outFeatures: 3 }] },
    batch: 5,
  },
  {
    name: 'conv2d pad 1 + batchNorm + relu + maxPool2x2 + linear',
    net: { input: { channels: 2, height: 6, width: 6 }, classes: 4, layers: [
      { type: 'conv2d', outChannels: 3, kernel: 3, pad: 1 }, { type: 'batchNorm' }, { type: 'relu' }, { type: 'maxPool2x2' },
      { type: 'flatten' }, { type: 'linear', outFeatures: 4 }] },
    batch: 3,
  },
  {
    name: 'conv2d stride 2, 3x1 kernel, no bias; conv2d 2x2; maxPool2x2',
    net: { input: { channels: 1, height: 7, width: 5 }, classes: 3, layers: [
      { type: 'conv2d', outChannels: 2, kernelH: 3, kernelW: 1, stride: 2, bias: false }, { type: 'relu' },
      { type: 'conv2d', outChannels: 3, kernel: 2 }, { type: 'maxPool2x2' }, { type: 'flatten' },
      { type: 'linear', outFeatures: 3 }] },
    batch: 2,
  },
  {
    // The pooled gradients are the loss gradient itself here (no layer above the pool).
    name: 'conv2d + relu + maxPool2x2 as the output (flatten to the logits)',
    net: { input: { channels: 1, height: 6, width: 4 }, classes: 12, layers: [
      { type: 'conv2d', outChannels: 2, kernel: 3, pad: 1 }, { type: 'relu' }, { type: 'maxPool2x2' },
      { type: 'flatten' }] },
    batch: 3,
  },
  {
    name: "Lange's CNN, small: two conv-BN-ReLU-pool blocks (k5 p2, k3 p1) + linear",
    net: { input: { channels: 1, height: 8, width: 8 }, classes: 10, layers: [
      { type: 'conv2d', outChannels: 4, kernel: 5, pad: 2 }, { type: 'batchNorm' }, { type: 'relu' }, { type: 'maxPool2x2' },
      { type: 'conv2d', outChannels: 6, kernel: 3, pad: 1 }, { type: 'batchNorm' }, { type: 'relu' }, { type: 'maxPool2x2' },
      { type: 'flatten' }, { type: 'linear', outFeatures: 10 }] },
    batch: 4,
  },
];

function data(net: RefNet, count: number, seed: number) {
  const next = rng(seed);
  const size = net.input.channels * net.input.height * net.input.width;
  const images = Uint8Array.from({ length: count * size }, () => Math.floor(next() * 256));
  const labels = Uint8Array.from({ length: count }, () => Math.floor(next() * net.classes));
  return { images, labels, size };
}

function makeNet(net: RefNet, batch: number, feedback: 'backprop' | 'fa' | 'dfa' = 'backprop', seed = 3) {
  return new nativeClasses.Sequential({ ...net, batchSize: batch, seed, feedback });
}

/** Moves batch-norm gamma and beta away from 1 and 0 so their gradients are exercised. */
function perturbBatchNorm(s: Float32Array, tensors: SequentialTensorInfo[], seed: number): void {
  const next = rng(seed);
  for (const t of tensors) {
    if (t.kind !== 'gamma' && t.kind !== 'beta') continue;
    for (let i = 0; i < t.size; i++) s[t.offset + i] += 0.5 * (next() - 0.5);
  }
}

function compare(t: ExecutionContext, got: Float32Array, want: Float64Array, tensors: SequentialTensorInfo[], what: string): void {
  for (const ts of tensors.filter((x) => x.group === 'params')) {
    let max = 0;
    for (let i = 0; i < ts.size; i++) max = Math.max(max, Math.abs(want[ts.offset + i]));
    const tol = 1e-5 * max + 2e-7;
    let worst = 0;
    let at = -1;
    for (let i = 0; i < ts.size; i++) {
      const err = Math.abs(got[ts.offset + i] - want[ts.offset + i]);
      if (!(err <= worst)) {
        worst = err;
        at = i;
      }
    }
    t.true(worst <= tol, `${what}: layer ${ts.layer} ${ts.kind}[${at}]: got ${got[ts.offset + at]}, ` +
      `reference ${want[ts.offset + at]} (error ${worst.toExponential(2)} > ${tol.toExponential(2)})`);
  }
}

for (const c of CASES) {
  test(`gradients match finite differences: ${c.name}`, async (t) => {
    const net = makeNet(c.net, c.batch);
    const info = net.info();
    const state = net.getState();
    perturbBatchNorm(state.params, info.tensors, 11);
    net.setState(state);
    const { images, labels, size } = data(c.net, c.batch + 2, 5);
    // Use examples 2.. so that the order matters.
    const order = Int32Array.from({ length: c.batch }, (_, k) => k + 2);
    const r = await net.gradients({ images, labels, order });
    const params = Float64Array.from(state.params);
    const x = pixels(images, order, size);
    const lab = Array.from(order, (i) => labels[i]);
    const ref = forward(c.net, info.tensors, params, x, lab);
    t.true(Math.abs(r.loss - ref.loss) <= 1e-5 * Math.max(1, ref.loss), `loss ${r.loss} vs reference ${ref.loss}`);
    const fd = numericGradient(c.net, info.tensors, params, x, lab);
    compare(t, r.grads, fd, info.tensors, c.name);
    // Nothing changed: the same call gives the same values bit for bit, and the state is intact.
    const again = await net.gradients({ images, labels, order });
    t.deepEqual(again.grads, r.grads);
    t.deepEqual(net.getState(), state);
    net.dispose();
  });
}

const DEEP: RefNet = {
  input: { channels: 1, height: 4, width: 4 }, classes: 4, layers: [
    { type: 'flatten' }, { type: 'linear', outFeatures: 7 }, { type: 'relu' }, { type: 'linear', outFeatures: 6 },
    { type: 'relu' }, { type: 'linear', outFeatures: 5 }, { type: 'relu' }, { type: 'linear', outFeatures: 4 }],
};

for (const mode of ['fa', 'dfa'] as const) {
  test(`${mode}: updates match the float64 reference of the rule (3 hidden layers)`, async (t) => {
    const net = makeNet(DEEP, 6, mode);
    const info = net.info();
    const state = net.getState();
    // Feedback matrices: one per linear layer above the first, FA shaped like W, DFA classes x in.
    const fbLayers = info.tensors.filter((x) => x.group === 'feedback');
    t.deepEqual(fbLayers.map((x) => x.layer), [3, 5, 7]);
    t.deepEqual(fbLayers.map((x) => x.shape), mode === 'fa' ? [[6, 7], [5, 6], [4, 5]] : [[4, 7], [4, 6], [4, 5]]);
    const { images, labels, size } = data(DEEP, 6, 9);
    const order = Int32Array.from({ length: 6 }, (_, k) => 5 - k);
    const r = await net.gradients({ images, labels, order });
    const x = pixels(images, order, size);
    const lab = Array.from(order, (i) => labels[i]);
    const want = denseGradient(DEEP, info.tensors, Float64Array.from(state.params), Float64Array.from(state.feedback), mode, x, lab);
    compare(t, r.grads, want, info.tensors, mode);
    // ... and differ from the true gradient (the feedback is random).
    const bp = denseGradient(DEEP, info.tensors, Float64Array.from(state.params), Float64Array.from(state.feedback), 'backprop', x, lab);
    const first = info.tensors.find((x) => x.layer === 1 && x.kind === 'weight')!;
    let diff = 0;
    for (let i = 0; i < first.size; i++) diff = Math.max(diff, Math.abs(bp[first.offset + i] - r.grads[first.offset + i]));
    t.true(diff > 1e-4, 'the first layer update differs from backprop');
    net.dispose();
  });
}

test('fa with feedback = W gives exactly the backprop gradients; dfa equals fa with one hidden layer', async (t) => {
  const bp = makeNet(DEEP, 6, 'backprop');
  const fa = makeNet(DEEP, 6, 'fa');
  const s = fa.getState();
  t.deepEqual(s.params, bp.getState().params, 'the same seed gives the same forward weights');
  const info = fa.info();
  for (const ft of info.tensors.filter((x) => x.group === 'feedback')) {
    const wt = info.tensors.find((x) => x.group === 'params' && x.layer === ft.layer && x.kind === 'weight')!;
    s.feedback.set(s.params.subarray(wt.offset, wt.offset + wt.size), ft.offset);
  }
  fa.setState(s);
  const { images, labels } = data(DEEP, 6, 2);
  const a = await bp.gradients({ images, labels });
  const b = await fa.gradients({ images, labels });
  t.deepEqual(b.grads, a.grads);

  const ONE: RefNet = { input: DEEP.input, classes: 4, layers: [
    { type: 'flatten' }, { type: 'linear', outFeatures: 9 }, { type: 'relu' }, { type: 'linear', outFeatures: 4 }] };
  const fa1 = makeNet(ONE, 6, 'fa', 8);
  const dfa1 = makeNet(ONE, 6, 'dfa', 8);
  t.deepEqual(dfa1.getState(), fa1.getState(), 'same seed: same weights and feedback');
  t.deepEqual((await dfa1.gradients({ images, labels })).grads, (await fa1.gradients({ images, labels })).grads);
});

test('alignment: FA angle between W and B, DFA angle between W_L...W_j and B; 0 degrees when B = W', (t) => {
  const fa = makeNet(DEEP, 6, 'fa');
  const s = fa.getState();
  const info = fa.info();
  const W = (layer: number) => {
    const wt = info.tensors.find((x) => x.group === 'params' && x.layer === layer && x.kind === 'weight')!;
    return { data: s.params.subarray(wt.offset, wt.offset + wt.size), rows: wt.shape[0], cols: wt.shape[1] };
  };
  const B = (layer: number) => {
    const ft = info.tensors.find((x) => x.group === 'feedback' && x.layer === layer)!;
    return s.feedback.subarray(ft.offset, ft.offset + ft.size);
  };
  const angle = (f: ArrayLike<number>, g: ArrayLike<number>) => {
    let dot = 0;
    let nf = 0;
    let ng = 0;
    for (let i = 0; i < f.length; i++) {
      dot += f[i] * g[i];
      nf += f[i] * f[i];
      ng += g[i] * g[i];
    }
    return { deg: (Math.acos(dot / Math.sqrt(nf * ng)) * 180) / Math.PI, nf: Math.sqrt(nf), ng: Math.sqrt(ng) };
  };
  const al = fa.alignment();
  t.deepEqual(al.map((a) => a.layer), [3, 5, 7]);
  for (const a of al) {
    const r = angle(W(a.layer).data, B(a.layer));
    t.true(Math.abs(a.angleDeg - r.deg) < 1e-9 && Math.abs(a.normForward - r.nf) < 1e-9 && Math.abs(a.normFeedback - r.ng) < 1e-9);
    t.true(a.angleDeg > 60 && a.angleDeg < 120, `random matrices are nearly orthogonal (${a.angleDeg})`);
  }
  // B = W: angle 0
  s.feedback.set(W(5).data, info.tensors.find((x) => x.group === 'feedback' && x.layer === 5)!.offset);
  fa.setState(s);
  t.true(fa.alignment()[1].angleDeg < 1e-3);

  const dfa = makeNet(DEEP, 6, 'dfa');
  const d = dfa.getState();
  const di = dfa.info();
  const w = (layer: number) => {
    const wt = di.tensors.find((x) => x.group === 'params' && x.layer === layer && x.kind === 'weight')!;
    return { data: d.params.subarray(wt.offset, wt.offset + wt.size), rows: wt.shape[0], cols: wt.shape[1] };
  };
  // M_j = W_7 W_5 ... W_j
  const matmul = (a: { data: ArrayLike<number>; rows: number; cols: number }, b: { data: ArrayLike<number>; rows: number; cols: number }) => {
    const out = new Float64Array(a.rows * b.cols);
    for (let i = 0; i < a.rows; i++) for (let k = 0; k < a.cols; k++) for (let j = 0; j < b.cols; j++) out[i * b.cols + j] += a.data[i * a.cols + k] * b.data[k * b.cols + j];
    return { data: out, rows: a.rows, cols: b.cols };
  };
  const m7 = w(7);
  const m5 = matmul(m7, w(5));
  const m3 = matmul(m5, w(3));
  const fbOf = (layer: number) => {
    const ft = di.tensors.find((x) => x.group === 'feedback' && x.layer === layer)!;
    return d.feedback.subarray(ft.offset, ft.offset + ft.size);
  };
  const got = dfa.alignment();
  for (const [layer, m] of [[3, m3], [5, m5], [7, m7]] as const) {
    const r = angle(m.data, fbOf(layer));
    const a = got.find((x) => x.layer === layer)!;
    t.true(Math.abs(a.angleDeg - r.deg) < 1e-6, `dfa layer ${layer}: ${a.angleDeg} vs ${r.deg}`);
    t.true(Math.abs(a.normForward - r.nf) < 1e-6 * r.nf);
  }
  t.deepEqual(makeNet(DEEP, 2).alignment(), [], 'backprop has no feedback matrices');
});

test('relu_backward kernel via a relu layer: zero gradient where the activation is not positive', async (t) => {
  // A relu before any weights needs no input gradient; one between two linear layers does.
  const net: RefNet = { input: { channels: 1, height: 1, width: 4 }, classes: 2, layers: [
    { type: 'flatten' }, { type: 'linear', outFeatures: 3 }, { type: 'relu' }, { type: 'linear', outFeatures: 2 }] };
  const n = makeNet(net, 2);
  const s = n.getState();
  // First layer: weights 0, biases (-1, 0, 1): hidden = relu(b) = (0, 0, 1).
  s.params.fill(0, 0, 12);
  s.params.set([-1, 0, 1], 12);
  s.params.set([1, 2, 3, 4, 5, 6], 15);
  n.setState(s);
  const r = await n.gradients({ images: new Uint8Array(8).fill(255), labels: Uint8Array.from([0, 1]) });
  // Only hidden unit 2 passes gradient: first-layer bias gradient (0, 0, g).
  t.is(r.grads[12], 0);
  t.is(r.grads[13], 0);
  t.not(r.grads[14], 0);
});

export type { SequentialLayer };
