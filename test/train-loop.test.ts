// The shared training loop: learning curve, checkpoints and exact resume (after an epoch and
// after an abort in the middle of one), damaged or mismatched checkpoints, the result file,
// determinism of the native network (same seed, any thread count), and a free event loop.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { createMlp } from '../src/models/mlp';
import { createCnn } from '../src/models/cnn';
import { SegregatedTrainable } from '../src/models/segregated-trainable';
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint } from '../src/train/checkpoint';
import { AbortError } from '../src/train/model';
import { subsetOf, type ImageSetLike } from '../src/train/dataset';
import { train, type TrainEvent } from '../src/train/loop';
import { trainingOrder } from '../src/train/order';
import { mnist10k } from './helpers/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-loop-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function small(): Promise<{ train: ImageSetLike; validation: ImageSetLike; test: ImageSetLike }> {
  const d = await mnist10k();
  return {
    train: subsetOf(d.train, Array.from({ length: 1000 }, (_, i) => i * 7)),
    validation: subsetOf(d.train, Array.from({ length: 200 }, (_, i) => i * 7 + 3)),
    test: subsetOf(d.test, Array.from({ length: 300 }, (_, i) => i * 5)),
  };
}

const input = { channels: 1, height: 28, width: 28 };
const mlp = (seed = 4) => createMlp({ input, hidden: [32], batchSize: 64, seed, threads: 2 });

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

test('the learning curve has a point every N examples and at each epoch end; the result file is written', async (t) => {
  const splits = await small();
  const events: TrainEvent[] = [];
  const resultFile = path.join(tmp, 'result.json');
  const r = await train(mlp(), splits, { epochs: 2, seed: 1, logEvery: 300, onEvent: (e) => events.push(e), resultFile });
  // 300 rounds up to 320 (5 batches of 64); the 1000-example epoch gives points at 320, 640, 960, 1000.
  t.deepEqual(r.curve.map((p) => p.examples), [320, 640, 960, 1000, 1320, 1640, 1960, 2000]);
  t.true(r.curve.every((p) => p.validationAccuracy !== undefined && p.trainAccuracy >= 0 && p.trainAccuracy <= 1));
  t.is(r.epochs.length, 2);
  t.is(r.epochs[1].examples, 1000);
  t.true(r.test !== null && r.test.count === 300);
  t.true(r.timing.examplesPerSecond > 0 && r.timing.trainExamples === 2000);
  t.is(r.stopped, 'completed');
  t.deepEqual(JSON.parse(fs.readFileSync(resultFile, 'utf8')), JSON.parse(JSON.stringify(r)));
  t.deepEqual([...new Set(events.map((e) => e.type))].sort(), ['done', 'epoch', 'point', 'progress', 'start', 'test']);
  // The epoch's training loss is the example-weighted mean of its points'.
  const pts = r.curve.slice(0, 4);
  const weights = [320, 320, 320, 40];
  const mean = pts.reduce((s, p, i) => s + p.trainLoss * weights[i], 0) / 1000;
  t.true(Math.abs(mean - r.epochs[0].trainLoss) < 1e-9);
});

test('resume from an epoch checkpoint and from an abort mid-epoch reproduce an uninterrupted run bit for bit', async (t) => {
  const splits = await small();
  const full = mlp();
  const a = await train(full, splits, { epochs: 3, seed: 2, logEvery: 256 });
  const want = full.native.getState();

  // Stop after epoch 1 (checkpoint written at its end), resume in a fresh process-like model.
  const ck1 = path.join(tmp, 'epoch.ckpt');
  await train(mlp(), splits, { epochs: 1, seed: 2, logEvery: 256, checkpoint: ck1 });
  const resumed = mlp();
  const b = await train(resumed, splits, { epochs: 3, seed: 2, logEvery: 256, checkpoint: ck1, resume: true });
  t.deepEqual(b.resumed, { epoch: 1, position: 0 });
  t.true(bytes(resumed.native.getState().params).equals(bytes(want.params)));
  t.true(bytes(resumed.native.getState().moment2).equals(bytes(want.moment2)));
  t.deepEqual(b.curve, a.curve, 'the learning curve continues where it stopped');
  t.deepEqual(b.test, a.test);

  // Abort in the middle of epoch 2: a checkpoint with the position is written, then the call
  // rejects with an AbortError that says where it stopped (cause: the signal's reason).
  const ck2 = path.join(tmp, 'abort.ckpt');
  const controller = new AbortController();
  const reason = new Error('enough');
  const events: TrainEvent[] = [];
  const err = await t.throwsAsync(train(mlp(), splits, {
    epochs: 3, seed: 2, logEvery: 256, checkpoint: ck2, signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'progress' && e.epoch === 2 && e.position >= 512) controller.abort(reason);
    },
  }), { instanceOf: AbortError, name: 'AbortError', message: /training aborted in epoch 2 at example 512 of 1000/ });
  t.is(err?.cause, reason);
  t.is((err as AbortError).code, 'ABORT_ERR');
  t.deepEqual([(err as AbortError).epoch, (err as AbortError).position, (err as AbortError).checkpoint], [2, 512, ck2]);
  t.deepEqual(events.slice(-2).map((e) => e.type), ['stopped', 'checkpoint']);
  t.false(events.some((e) => e.type === 'test' || e.type === 'done'));
  const meta = (await loadCheckpoint(ck2)).meta as { kind: string; loop: { state: { epoch: number; position: number } } };
  t.is(meta.kind, 'mlp');
  t.deepEqual([meta.loop.state.epoch, meta.loop.state.position], [1, 512]);
  const again = mlp();
  const c = await train(again, splits, { epochs: 3, seed: 2, logEvery: 256, checkpoint: ck2, resume: true });
  t.deepEqual(c.resumed, { epoch: 1, position: 512 });
  t.true(bytes(again.native.getState().params).equals(bytes(want.params)));
  t.deepEqual(c.curve, a.curve);
  t.deepEqual(c.epochs.map((e) => e.trainLoss), a.epochs.map((e) => e.trainLoss));
});

test('checkpoints: damage, another model, another seed or data are refused', async (t) => {
  const splits = await small();
  const file = path.join(tmp, 'check.ckpt');
  await train(mlp(), splits, { epochs: 1, seed: 3, checkpoint: file });
  const buf = fs.readFileSync(file);
  const damaged = Buffer.from(buf);
  damaged[damaged.length - 5] ^= 1;
  t.throws(() => decodeCheckpoint(damaged, 'x.ckpt'), { message: /x.ckpt: not a valid safetensors file \(integrity check failed/ });
  t.throws(() => decodeCheckpoint(buf.subarray(0, 20), 'x.ckpt'), { message: /runs past the end .* \(truncated\?\)/ });
  t.throws(() => decodeCheckpoint(buf.subarray(0, buf.length - 4), 'x.ckpt'), { message: /run past the .* data bytes \(truncated\?\)/ });
  t.throws(() => decodeCheckpoint(Buffer.from('hello world, not a checkpoint'), 'x.ckpt'), { message: /x.ckpt: not a valid safetensors file/ });
  await t.throwsAsync(loadCheckpoint(path.join(tmp, 'missing.ckpt')), { code: 'ENOENT' });
  const roundTrip = decodeCheckpoint(encodeCheckpoint({ meta: { a: 1 }, arrays: { f: Float32Array.from([1.5, -2]), i: Int32Array.from([7]), u: Uint8Array.from([1, 2, 3]) } }));
  t.deepEqual(roundTrip, { meta: { a: 1 }, arrays: { f: Float32Array.from([1.5, -2]), i: Int32Array.from([7]), u: Uint8Array.from([1, 2, 3]) } });

  await t.throwsAsync(train(createMlp({ input, hidden: [33], batchSize: 64, seed: 4 }), splits, { epochs: 2, seed: 3, checkpoint: file, resume: true }),
    { message: /the checkpoint holds another model/ });
  await t.throwsAsync(train(mlp(), splits, { epochs: 2, seed: 9, checkpoint: file, resume: true }), { message: /written with seed 3, this run has seed 9/ });
  await t.throwsAsync(train(mlp(), { ...splits, train: subsetOf(splits.train, [0, 1, 2]) }, { epochs: 2, seed: 3, checkpoint: file, resume: true }),
    { message: /written for 1000 training examples, this run has 3/ });
  // resumeOtherData continues all the same, says so and records it; another model stays refused.
  await t.throwsAsync(train(createMlp({ input, hidden: [33], batchSize: 64, seed: 4 }), splits,
    { epochs: 2, seed: 3, checkpoint: file, resume: true, resumeOtherData: true }), { message: /the checkpoint holds another model/ });
  const fewer = subsetOf(splits.train, Array.from({ length: 500 }, (_, i) => i));
  const events: TrainEvent[] = [];
  const other = await train(mlp(), { ...splits, train: fewer }, {
    epochs: 2, seed: 9, checkpoint: file, resume: true, resumeOtherData: true, dataId: 'first 500', onEvent: (e) => events.push(e),
  });
  const differences = [{ what: 'seed', checkpoint: 3, run: 9 }, { what: 'training examples', checkpoint: 1000, run: 500 }];
  t.deepEqual(other.resumed, { epoch: 1, position: 0, otherData: differences });
  t.deepEqual(events.filter((e) => e.type === 'resumeOtherData'), [{ type: 'resumeOtherData', checkpoint: file, differences }]);
  t.deepEqual(other.epochs.map((e) => e.examples), [1000, 500], 'epoch 1 from the checkpoint, epoch 2 on the new data');
  // The checkpoint's weights were taken: better than one epoch of the new data from scratch.
  const fresh = await train(mlp(), { ...splits, train: fewer }, { epochs: 1, seed: 9 });
  t.true(other.test!.accuracy > fresh.test!.accuracy + 0.05, `resumed ${other.test!.accuracy}, from scratch ${fresh.test!.accuracy}`);
  // Its checkpoint now describes the new run: resuming it with that run's settings needs no override.
  const again = await train(mlp(), { ...splits, train: fewer }, { epochs: 3, seed: 9, checkpoint: file, resume: true, dataId: 'first 500' });
  t.deepEqual(again.resumed, { epoch: 2, position: 0 });
  await t.throwsAsync(train(mlp(), { ...splits, train: fewer }, { epochs: 3, seed: 9, checkpoint: file, resume: true, dataId: 'other 500' }),
    { message: /written for other training data \(first 500\); this run has other 500 \(resumeOtherData, --resume-other-data/ });
  // Stopped mid-epoch past the end of the new, shorter data: that epoch ends at once.
  const mid = path.join(tmp, 'mid.ckpt');
  const controller = new AbortController();
  await t.throwsAsync(train(mlp(), splits, { epochs: 2, seed: 3, chunkSize: 640, checkpoint: mid, signal: controller.signal,
    onEvent: (e) => { if (e.type === 'progress' && e.position === 640) controller.abort(); } }), { instanceOf: AbortError });
  const shorter = await train(mlp(), { ...splits, train: fewer }, { epochs: 2, seed: 3, checkpoint: mid, resume: true, resumeOtherData: true });
  t.like(shorter.resumed, { epoch: 0, position: 500 });
  t.deepEqual(shorter.epochs.map((e) => e.examples), [640, 500]);
  // No file yet: resume starts from scratch.
  const r = await train(mlp(), splits, { epochs: 1, seed: 3, checkpoint: path.join(tmp, 'new.ckpt'), resume: true });
  t.is(r.resumed, null);
  await t.throwsAsync(train(mlp(), splits, { epochs: -1 }), { message: /epochs must be an integer >= 0/ });
});

test('same seed: bit-identical weights after training, for 1 or 2 threads; another seed differs', async (t) => {
  const d = await small();
  const order = trainingOrder(d.train.count, 0, 0);
  const run = async (seed: number, threads: number, kind: 'mlp' | 'cnn') => {
    const m = kind === 'mlp'
      ? createMlp({ input, hidden: [64], batchSize: 50, seed, threads })
      : createCnn({ input, channels: [4, 8], kernels: [3, 3], padding: 1, batchSize: 50, seed, threads });
    await m.trainEpochChunk({ data: d.train, order, start: 0, count: 400, epoch: 0 });
    return m.native.getState();
  };
  for (const kind of ['mlp', 'cnn'] as const) {
    const a = await run(7, 1, kind);
    const b = await run(7, 2, kind);
    const c = await run(7, 2, kind);
    t.true(bytes(a.params).equals(bytes(b.params)), `${kind}: 1 vs 2 threads`);
    t.true(bytes(b.params).equals(bytes(c.params)), `${kind}: run to run`);
    t.true(bytes(a.buffers).equals(bytes(c.buffers)), `${kind}: running statistics`);
    const other = await run(8, 2, kind);
    t.false(bytes(other.params).equals(bytes(a.params)), `${kind}: another seed`);
  }
});

test('initialisation: PyTorch default bounds U(-1/sqrt(fan_in), 1/sqrt(fan_in)); batch-norm gamma 1, beta 0', (t) => {
  const m = createCnn({ input, channels: [16, 32], kernels: 5, seed: 1 });
  const info = m.native.info();
  const s = m.native.getState();
  const fanIn: Record<number, number> = { 0: 25, 4: 400, 9: 1568 };
  for (const ts of info.tensors) {
    const v = (ts.group === 'params' ? s.params : s.buffers).subarray(ts.offset, ts.offset + ts.size);
    if (ts.kind === 'weight' || ts.kind === 'bias') {
      const bound = 1 / Math.sqrt(fanIn[ts.layer]);
      let max = 0;
      let sum = 0;
      let sq = 0;
      for (const x of v) {
        max = Math.max(max, Math.abs(x));
        sum += x;
        sq += x * x;
      }
      t.true(max <= bound, `layer ${ts.layer} ${ts.kind} within the bound`);
      if (v.length >= 400) {
        // mean 0 and variance bound^2 / 3, within 5 standard errors
        t.true(Math.abs(sum / v.length) < (5 * bound) / Math.sqrt(3 * v.length), `layer ${ts.layer} mean`);
        t.true(Math.abs(sq / v.length / (bound * bound / 3) - 1) < 5 * Math.sqrt(0.8 / v.length), `layer ${ts.layer} variance`);
      }
    } else if (ts.kind === 'gamma' || ts.kind === 'runningVar') {
      t.true(v.every((x) => x === 1));
    } else {
      t.true(v.every((x) => x === 0));
    }
  }
});

// Serial: other tests of this file do synchronous work on the main thread (data, checkpoints).
test.serial('training runs off the main thread: timers fire while a chunk trains', async (t) => {
  const d = await mnist10k();
  const m = createMlp({ input, hidden: [500], batchSize: 100, seed: 1 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const order = trainingOrder(d.train.count, 0, 0);
  const t0 = Date.now();
  await m.trainEpochChunk({ data: d.train, order, start: 0, count: 8000, epoch: 0 });
  clearInterval(timer);
  t.log(`chunk of 8000 took ${Date.now() - t0} ms, ${ticks} timer ticks`);
  t.true(ticks >= 5);
});

test('the segregated-dendrite network through the same loop: resume mid-epoch reproduces an uninterrupted run', async (t) => {
  const splits = await small();
  const make = () => new SegregatedTrainable({ layers: [50, 10], mode: 'nonspiking', seed: 5, threads: 1 });
  const full = make();
  const a = await train(full, splits, { epochs: 2, seed: 6, logEvery: 300 });
  t.is(a.model.kind, 'segregated');
  t.true(a.test!.accuracy > 0.5 && Number.isFinite(a.test!.loss), `test accuracy ${a.test!.accuracy}`);
  const file = path.join(tmp, 'seg.ckpt');
  const controller = new AbortController();
  await t.throwsAsync(train(make(), splits, {
    epochs: 2, seed: 6, logEvery: 300, checkpoint: file, signal: controller.signal,
    onEvent: (e) => {
      if (e.type === 'progress' && e.epoch === 2 && e.position >= 600) controller.abort();
    },
  }), { name: 'AbortError' });
  const resumed = make();
  const b = await train(resumed, splits, { epochs: 2, seed: 6, logEvery: 300, checkpoint: file, resume: true });
  t.deepEqual(b.resumed, { epoch: 1, position: 600 });
  const wa = full.network.native.getWeights();
  const wb = resumed.network.native.getWeights();
  wa.forEach((l, i) => t.true(bytes(l.W).equals(bytes(wb[i].W)) && bytes(l.b).equals(bytes(wb[i].b)), `layer ${i}`));
  t.deepEqual(b.curve, a.curve);
  t.deepEqual(b.test, a.test);
});
