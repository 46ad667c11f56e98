// One abort semantics for every long call: an AbortSignal stops the training loop, a model's
// evaluate, SegregatedNetwork.train/evaluate and runExperiment within one chunk; they reject with an AbortError
// (name "AbortError", code "ABORT_ERR", cause = signal.reason); the loop first saves where it
// stopped, atomically, and a resumed run ends where an uninterrupted one does.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { runExperiment } from '../src/experiment/run';
import { createMlp } from '../src/models/mlp';
import { SegregatedTrainable } from '../src/models/segregated-trainable';
import { loadCheckpoint } from '../src/train/checkpoint';
import { subsetOf, type ImageSetLike } from '../src/train/dataset';
import { train, type TrainEvent } from '../src/train/loop';
import { AbortError, isAbortError } from '../src/train/model';
import { mnist10k } from './helpers/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-abort-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

const input = { channels: 1, height: 28, width: 28 };

async function splits(): Promise<{ train: ImageSetLike; validation: ImageSetLike; test: ImageSetLike }> {
  const d = await mnist10k();
  return {
    train: subsetOf(d.train, Array.from({ length: 400 }, (_, i) => i * 19)),
    validation: subsetOf(d.train, Array.from({ length: 100 }, (_, i) => i * 19 + 5)),
    test: subsetOf(d.test, Array.from({ length: 1200 }, (_, i) => (i * 7) % 2000)),
  };
}

test('an already aborted signal: the loop rejects before training, writes nothing, cause = the reason', async (t) => {
  const s = await splits();
  const file = path.join(tmp, 'none.ckpt');
  const controller = new AbortController();
  controller.abort();
  const err = await t.throwsAsync(train(createMlp({ input, hidden: [8], batchSize: 20, seed: 1 }), s,
    { epochs: 1, checkpoint: file, signal: controller.signal }), { instanceOf: AbortError });
  t.is(err!.name, 'AbortError');
  t.is((err as AbortError).code, 'ABORT_ERR');
  t.is(err!.cause, controller.signal.reason);
  t.is((err!.cause as DOMException).name, 'AbortError', 'abort() without a reason: the platform\'s DOMException');
  t.true(isAbortError(err));
  t.deepEqual([(err as AbortError).epoch, (err as AbortError).position, (err as AbortError).checkpoint], [1, 0, file]);
  t.false(fs.existsSync(file));
});

test('aborted while the test set is scored (between chunks of images): the last epoch\'s checkpoint is kept and resumes to the same result', async (t) => {
  const s = await splits();
  const make = () => new SegregatedTrainable({ layers: [30, 10], mode: 'nonspiking', seed: 3, threads: 1 });
  const want = await train(make(), s, { epochs: 2, seed: 5 });
  const file = path.join(tmp, 'seg.ckpt');
  const controller = new AbortController();
  const events: TrainEvent[] = [];
  const err = await t.throwsAsync(train(make(), s, {
    epochs: 2, seed: 5, checkpoint: file, signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      // The last epoch's checkpoint is written; abort once the test set's first chunk runs.
      if (e.type === 'checkpoint' && e.epoch === 2) setImmediate(() => controller.abort());
    },
  }), { name: 'AbortError', message: /training aborted while scoring the test set/ });
  t.is((err as AbortError).checkpoint, file);
  t.deepEqual(events.slice(-2).map((e) => e.type), ['checkpoint', 'stopped']);
  const ck = await loadCheckpoint(file);
  t.is((ck.meta.loop as { state: { epoch: number } }).state.epoch, 2);
  const again = await train(make(), s, { epochs: 2, seed: 5, checkpoint: file, resume: true });
  t.deepEqual(again.resumed, { epoch: 2, position: 0 });
  t.deepEqual(again.test, want.test, 'the same test round: the aborted scoring used none');
  t.deepEqual(again.epochs, want.epochs.map((e, i) => ({ ...e, trainSeconds: again.epochs[i].trainSeconds,
    examplesPerSecond: again.epochs[i].examplesPerSecond })));
});

test('a model\'s evaluate stops between chunks of images (MLP: 10,000 per chunk)', async (t) => {
  const d = await mnist10k();
  const big = subsetOf(d.train, Array.from({ length: 12000 }, (_, i) => i % 8000));
  const m = createMlp({ input, hidden: [8], batchSize: 20, seed: 1, threads: 1 });
  const whole = await m.evaluate(big);
  const a = await m.evaluate(subsetOf(big, Array.from({ length: 10000 }, (_, i) => i)));
  const b = await m.evaluate(subsetOf(big, Array.from({ length: 2000 }, (_, i) => 10000 + i)));
  t.is(whole.count, 12000);
  t.is(whole.correct, a.correct + b.correct);
  t.true(Math.abs(whole.loss - (a.loss * 10000 + b.loss * 2000) / 12000) < 1e-9);
  const controller = new AbortController();
  const p = m.evaluate(big, { signal: controller.signal });
  setImmediate(() => controller.abort('enough'));
  const err = await t.throwsAsync(p, { instanceOf: AbortError, message: /evaluate aborted/ });
  t.is(err!.cause, 'enough');
  // and the model is free again
  t.is((await m.evaluate(big)).correct, whole.correct);
});

test('runExperiment: aborted after its first epoch it rejects with an AbortError carrying the reason; its checkpoint keeps that epoch', async (t) => {
  const file = path.join(tmp, 'experiment.ckpt');
  const controller = new AbortController();
  const reason = new Error('the user stopped it');
  const err = await t.throwsAsync(runExperiment({ model: 'mlp', options: { layers: [16, 10] }, dataset: 'mnist-10k', epochs: 3, seed: 2,
    chunkSize: 1000, threads: 1, device: 'cpu', checkpoint: file }, {
    signal: controller.signal,
    onEvent: (e) => { if (e.type === 'checkpoint' && e.epoch === 1) controller.abort(reason); },
  }), { instanceOf: AbortError, name: 'AbortError' });
  t.is(err!.cause, reason);
  t.is((err as AbortError).checkpoint, file);
  const ck = await loadCheckpoint(file);
  t.is((ck.meta.loop as { state: { epoch: number } }).state.epoch, 1, 'the finished epoch (and where the second stopped)');
});
