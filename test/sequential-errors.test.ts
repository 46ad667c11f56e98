// Bad options, bad geometry and misuse of the native Sequential class and the model builders:
// every one is refused with an error that names the problem.
import test from 'ava';

import { nativeClasses, type SequentialOptions } from '../src/native';
import { cnnGeometry, createCnn } from '../src/models/cnn';
import { createMlp } from '../src/models/mlp';

const MLP: SequentialOptions = {
  input: { channels: 1, height: 4, width: 4 }, classes: 3, batchSize: 4, seed: 1,
  layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 5 }, { type: 'relu' }, { type: 'linear', outFeatures: 3 }],
};

const make = (o: unknown) => () => new nativeClasses.Sequential(o as SequentialOptions);

test('constructor: bad options are TypeErrors / RangeErrors naming the option', (t) => {
  t.throws(() => (nativeClasses.Sequential as unknown as (o: unknown) => unknown)(MLP), { instanceOf: TypeError, message: /without 'new'|new Sequential/ });
  t.throws(make(undefined), { instanceOf: TypeError, message: /expected one options object/ });
  t.throws(make({ ...MLP, colour: 1 }), { instanceOf: TypeError, message: /unknown option "colour"/ });
  t.throws(make({ ...MLP, input: undefined }), { instanceOf: TypeError, message: /input is required/ });
  t.throws(make({ ...MLP, input: { channels: 1, height: 4 } }), { instanceOf: TypeError, message: /input.*width is required/ });
  t.throws(make({ ...MLP, input: { channels: 0, height: 4, width: 4 } }), { instanceOf: RangeError, message: /channels must be in \[1/ });
  t.throws(make({ ...MLP, classes: 1 }), { instanceOf: RangeError, message: /classes must be in \[2/ });
  t.throws(make({ ...MLP, batchSize: 0 }), { instanceOf: RangeError, message: /batchSize/ });
  t.throws(make({ ...MLP, batchSize: 2.5 }), { instanceOf: RangeError, message: /batchSize must be an integer/ });
  t.throws(make({ ...MLP, seed: -1 }), { instanceOf: RangeError, message: /seed/ });
  t.throws(make({ ...MLP, layers: [] }), { instanceOf: RangeError, message: /layers must hold 1 to/ });
  t.throws(make({ ...MLP, layers: 'linear' }), { instanceOf: TypeError, message: /layers must be an array/ });
  t.throws(make({ ...MLP, layers: [{ type: 'dense' }] }), { instanceOf: RangeError, message: /layers\[0\]\.type must be linear, conv2d/ });
  t.throws(make({ ...MLP, layers: [{ outFeatures: 3 }] }), { instanceOf: TypeError, message: /layers\[0\]\.type must be a string/ });
  t.throws(make({ ...MLP, layers: [{ type: 'linear', outFeatures: 0 }] }), { instanceOf: RangeError, message: /layers\[0\]: outFeatures must be in \[1/ });
  t.throws(make({ ...MLP, layers: [{ type: 'linear', outFeatures: 3, size: 2 }] }), { instanceOf: TypeError, message: /layers\[0\]: unknown option "size"/ });
  t.throws(make({ ...MLP, layers: [{ type: 'relu', outFeatures: 3 }] }), { instanceOf: TypeError, message: /unknown option "outFeatures"/ });
  t.throws(make({ ...MLP, layers: [{ type: 'batchNorm', momentum: 2 }] }), { instanceOf: RangeError, message: /momentum must be in \[0/ });
  t.throws(make({ ...MLP, layers: [{ type: 'batchNorm', eps: 0 }] }), { instanceOf: RangeError, message: /eps/ });
  t.throws(make({ ...MLP, feedback: 'hebb' }), { instanceOf: RangeError, message: /feedback must be backprop, fa or dfa/ });
  t.throws(make({ ...MLP, optimizer: { type: 'rmsprop' } }), { instanceOf: TypeError, message: /optimizer.type must be "adam" or "sgd"/ });
  t.throws(make({ ...MLP, optimizer: { type: 'adam', lr: 0 } }), { instanceOf: RangeError, message: /lr must be in/ });
  t.throws(make({ ...MLP, optimizer: { type: 'adam', beta1: 1 } }), { instanceOf: RangeError, message: /beta1/ });
  t.throws(make({ ...MLP, optimizer: { type: 'sgd' } }), { instanceOf: TypeError, message: /lr is required/ });
  t.throws(make({ ...MLP, optimizer: { type: 'sgd', lr: 0.1, nesterov: true } }), { instanceOf: TypeError, message: /unknown option "nesterov"/ });
  t.throws(make({ ...MLP, device: 'tpu' }), { message: /tpu/ });
  t.throws(make({ ...MLP, threads: 0 }), { instanceOf: RangeError, message: /threads/ });
});

test('constructor: bad geometry is rejected before training, naming the layer and the sizes', (t) => {
  const img = { channels: 1, height: 28, width: 28 };
  const conv = (o: Record<string, unknown>) => ({ type: 'conv2d', outChannels: 4, kernel: 5, ...o });
  const tail = [{ type: 'flatten' }, { type: 'linear', outFeatures: 10 }];
  const net = (layers: unknown[], input = img) => make({ input, classes: 10, batchSize: 2, layers: [...layers, ...tail] });
  t.throws(net([conv({ kernel: 7 })], { channels: 1, height: 5, width: 5 }), {
    instanceOf: RangeError, message: 'Sequential: layer 0 (conv2d): kernel 7x7 is larger than its padded input 5x5 (input 5x5, padding 0)',
  });
  t.throws(net([conv({ stride: 2 })]), {
    instanceOf: RangeError, message: /layer 0 \(conv2d\): output height \(28 \+ 2\*0 - 5\) \/ 2 \+ 1 = 12 \+ 1\/2 is not an integer/,
  });
  t.throws(net([conv({ outChannels: 0 })]), { instanceOf: RangeError, message: /layers\[0\]: outChannels must be in \[1/ });
  t.throws(net([conv({ kernel: 0 })]), { instanceOf: RangeError, message: /layers\[0\]: kernel must be in \[1/ });
  t.throws(net([conv({ kernel: 3, pad: 1 }), { type: 'maxPool2x2' }, conv({ kernel: 3, pad: 1 }), { type: 'maxPool2x2' }, { type: 'maxPool2x2' }]), {
    instanceOf: RangeError, message: /layer 4 \(maxPool2x2\): input 7x7 cannot be pooled 2x2 without dropping a row or column \(7\/2 x 7\/2 = 3.5x3.5\)/,
  });
  t.throws(make({ input: img, classes: 10, batchSize: 2, layers: [{ type: 'linear', outFeatures: 10 }] }), {
    instanceOf: RangeError, message: /layer 0 \(linear\): input is 1x28x28, not a vector: add a flatten layer/,
  });
  t.throws(make({ input: img, classes: 10, batchSize: 2, layers: [{ type: 'flatten' }, { type: 'maxPool2x2' }] }), {
    instanceOf: RangeError, message: /layer 1 \(maxPool2x2\): needs an image input/,
  });
  t.throws(make({ input: img, classes: 10, batchSize: 2, layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 7 }] }), {
    instanceOf: RangeError, message: /the last layer gives a flat vector of 7 values per example, expected classes = 10/,
  });
  t.throws(make({ input: img, classes: 10, batchSize: 2, layers: [{ type: 'flatten' }, { type: 'relu' }] }), {
    instanceOf: RangeError, message: /no linear or conv2d layer/,
  });
  t.throws(make({ input: img, classes: 10, batchSize: 2, feedback: 'fa', layers: [conv({}), ...tail] }), {
    instanceOf: RangeError, message: /layer 0 \(conv2d\): feedback alignment is implemented for dense networks only/,
  });
});

test('CNN geometry check of the model builder (docs/papers.md, Lange §4.4), by block', (t) => {
  const mnist = { channels: 1, height: 28, width: 28 };
  t.deepEqual(cnnGeometry(mnist, [16, 32], [5, 5], 1, 2), {
    blocks: [{ conv: [28, 28], pool: [14, 14] }, { conv: [14, 14], pool: [7, 7] }], features: 1568,
  });
  t.is(cnnGeometry({ channels: 3, height: 32, width: 32 }, [16, 32], [5, 5], 1, 2).features, 2048);
  t.throws(() => cnnGeometry(mnist, [16, 32, 8], [5, 5, 5], 1, 2), { instanceOf: RangeError, message: /cnn block 3: conv output height 7 is odd: 2x2 pooling would give 3.5/ });
  t.throws(() => cnnGeometry(mnist, [16], [4], 3, 0), { instanceOf: RangeError, message: /cnn block 1: conv output height \(28 - 4 \+ 2\*0\)\/3 \+ 1 = 9.00 is not an integer|is odd/ });
  t.throws(() => cnnGeometry(mnist, [16], [5], 2, 0), { instanceOf: RangeError, message: /\(28 - 5 \+ 2\*0\)\/2 \+ 1 = 12.50 is not an integer/ });
  t.throws(() => cnnGeometry({ channels: 1, height: 4, width: 4 }, [2], [7], 1, 1), { instanceOf: RangeError, message: /kernel 7 is larger than the padded input height 4 \+ 2\*1 = 6/ });
  t.throws(() => cnnGeometry(mnist, [0], [5], 1, 2), { instanceOf: RangeError, message: /block 1 channels must be an integer >= 1/ });
  t.throws(() => cnnGeometry(mnist, [4, 4], [5], 1, 2), { instanceOf: RangeError, message: /2 blocks but 1 kernel sizes/ });
  t.throws(() => createCnn({ input: mnist, channels: [16, 32, 8], kernels: 5 }), { instanceOf: RangeError, message: /block 3/ });
  t.throws(() => createMlp({ input: mnist, hidden: [10, 0] }), { instanceOf: RangeError, message: /hidden layer 2 width must be a positive integer/ });
  t.throws(() => createMlp({ input: mnist, hidden: [10], feedback: 'xx' as 'fa' }), { instanceOf: RangeError, message: /feedback must be/ });
});

test('trainChunk / evaluate / gradients: bad data arguments are refused before anything runs', async (t) => {
  const net = new nativeClasses.Sequential(MLP);
  const before = net.getState();
  const images = new Uint8Array(16 * 6);
  const labels = Uint8Array.from([0, 1, 2, 0, 1, 2]);
  const order = Int32Array.from([0, 1, 2, 3, 4, 5]);
  const call = (o: Record<string, unknown>) => () => net.trainChunk({ images, labels, order, ...o } as never);
  t.throws(call({ images: new Float32Array(96) }), { instanceOf: TypeError, message: /images must be a Uint8Array/ });
  t.throws(call({ images: new Uint8Array(95) }), { instanceOf: RangeError, message: /images has length 95, not a multiple of the example size 16/ });
  t.throws(call({ labels: new Uint8Array(5) }), { instanceOf: RangeError, message: /labels has length 5, expected 6/ });
  t.throws(call({ order: undefined }), { instanceOf: TypeError, message: /order must be an Int32Array/ });
  t.throws(call({ order: Int32Array.from([0, 6]) }), { instanceOf: RangeError, message: /order\[1\] = 6 is outside \[0, 6\)/ });
  t.throws(call({ order: Int32Array.from([-1]) }), { instanceOf: RangeError, message: /order\[0\] = -1/ });
  t.throws(call({ labels: Uint8Array.from([0, 1, 2, 3, 0, 0]) }), { instanceOf: RangeError, message: /labels\[3\] = 3 is outside \[0, classes\) = \[0, 3\)/ });
  t.throws(call({ start: 7 }), { instanceOf: RangeError, message: /start must be in \[0, 6\]/ });
  t.throws(call({ start: 2, count: 5 }), { instanceOf: RangeError, message: /count must be in \[0, 4\]/ });
  t.throws(call({ shuffle: true }), { instanceOf: TypeError, message: /unknown option "shuffle"/ });
  t.throws(() => net.evaluate({ images, labels, predictions: 1 } as never), { instanceOf: TypeError, message: /predictions must be a boolean/ });
  t.throws(() => net.gradients({ images, labels, count: 5 }), { instanceOf: RangeError, message: /count must be in \[1, batchSize = 4\]/ });
  t.deepEqual(net.getState(), before, 'nothing changed');
  // Labels outside the classes are refused in evaluation too.
  t.throws(() => net.evaluate({ images, labels: Uint8Array.from([0, 1, 2, 9, 0, 0]) }), { instanceOf: RangeError, message: /labels\[3\] = 9/ });
  // An empty chunk is fine.
  const r = await net.trainChunk({ images, labels, order, count: 0 });
  t.is(r.examples, 0);
});

test('one call at a time per network; the object stays alive while a call runs; dispose', async (t) => {
  const net = new nativeClasses.Sequential(MLP);
  const images = new Uint8Array(16 * 64).map((_, i) => i % 251);
  const labels = new Uint8Array(64).map((_, i) => i % 3);
  const order = Int32Array.from({ length: 64 }, (_, i) => i);
  const p = net.trainChunk({ images, labels, order });
  t.true(net.busy);
  t.throws(() => net.trainChunk({ images, labels, order }), { message: /another call on this network is still running/ });
  t.throws(() => net.evaluate({ images, labels }), { message: /still running/ });
  t.throws(() => net.getState(), { message: /still running/ });
  t.throws(() => net.dispose(), { message: /still running/ });
  const r = await p;
  t.is(r.examples, 64);
  t.is(r.batchSize.length, 16);
  t.is(r.step, 16);
  t.false(net.busy);
  await net.evaluate({ images, labels });
  net.dispose();
  t.throws(() => net.getState(), { message: /disposed/ });
  t.throws(() => net.trainChunk({ images, labels, order }), { message: /disposed/ });
  // A network whose only reference is dropped while it trains still finishes.
  const done = new nativeClasses.Sequential(MLP).trainChunk({ images, labels, order });
  if (global.gc) global.gc();
  t.is((await done).examples, 64);
});

test('setState: wrong lengths and types are refused; dense batch-norm refuses single-example batches', async (t) => {
  const net = new nativeClasses.Sequential(MLP);
  const s = net.getState();
  t.throws(() => net.setState({ ...s, params: new Float32Array(3) }), { instanceOf: RangeError, message: /params has length 3, expected/ });
  t.throws(() => net.setState({ ...s, moment2: new Float32Array(0) }), { instanceOf: RangeError, message: /moment2 has length 0/ });
  t.throws(() => net.setState({ ...s, step: -1 }), { instanceOf: RangeError, message: /step/ });
  t.throws(() => net.setState({ ...s, params: Array.from(s.params) as never }), { instanceOf: TypeError, message: /params must be a Float32Array/ });
  const sgd = new nativeClasses.Sequential({ ...MLP, optimizer: { type: 'sgd', lr: 0.1 } });
  t.is(sgd.getState().moment1.length, 0, 'plain SGD keeps no state');
  const bn = new nativeClasses.Sequential({
    ...MLP, layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 5 }, { type: 'batchNorm' }, { type: 'linear', outFeatures: 3 }],
  });
  const before = bn.getState();
  const images = new Uint8Array(16 * 5);
  const labels = new Uint8Array(5);
  await t.throwsAsync(bn.trainChunk({ images, labels, order: Int32Array.from([0, 1, 2, 3, 4]) }), {
    instanceOf: RangeError, message: /layer 2 \(batchNorm\): a mini-batch of 1 example/,
  });
  t.deepEqual(bn.getState(), before, 'refused before any update');
});
