// Divergence: a run whose numbers blow up stops with a DivergenceError, saving nothing of the
// diverged state; a checkpoint is not resumed on other training data.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { runExperiment, type ExperimentEvent } from '../src/experiment/run';
import { resolveSpec } from '../src/experiment/spec';
import { loadCheckpoint } from '../src/train/checkpoint';
import { subsetOf } from '../src/train/dataset';
import { DivergenceError, train } from '../src/train/loop';
import type { ChunkRequest, ChunkResult, EvalResult, ModelState, TrainableModel } from '../src/train/model';
import { mnist10k } from './helpers/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-diverge-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A model whose loss turns NaN at the given example count (everything else is plain bookkeeping). */
class Exploding implements TrainableModel {
  readonly kind = 'exploding';
  readonly batchSize = 10;
  seen = 0;
  constructor(private readonly nanAt: number) {}
  describe() { return { kind: this.kind }; }
  async trainEpochChunk(req: ChunkRequest): Promise<ChunkResult> {
    this.seen += req.count;
    return { examples: req.count, lossSum: this.seen > this.nanAt ? NaN : req.count, correct: req.count / 2 };
  }
  async evaluate(): Promise<EvalResult> { return { count: 1, correct: 1, accuracy: 1, loss: 1 }; }
  async exportState(): Promise<ModelState> { return { meta: { seen: this.seen }, arrays: { w: new Float32Array([this.seen]) } }; }
  async importState(s: ModelState): Promise<void> { this.seen = s.meta.seen as number; }
}

test('a NaN loss stops training with a DivergenceError; the checkpoint keeps the last good epoch', async (t) => {
  const d = await mnist10k();
  const trainSet = subsetOf(d.train, Array.from({ length: 100 }, (_, i) => i));
  const ck = path.join(tmp, 'nan.ckpt');
  const err = await t.throwsAsync(train(new Exploding(250), { train: trainSet }, { epochs: 5, chunkSize: 20, checkpoint: ck }), { instanceOf: DivergenceError });
  t.regex(err!.message, /the training loss became NaN in epoch 3 \(examples 40\.\.60\).*nan\.ckpt holds epoch 2, the last good state/);
  const saved = await loadCheckpoint(ck);
  t.is((saved.meta.model as { seen: number }).seen, 200, 'the checkpoint is the end of epoch 2, not the diverged state');
});

test('an exploded MLP (accuracy at chance, loss far above uninformed) stops; a merely poor one does not', async (t) => {
  const err = await t.throwsAsync(runExperiment({ model: 'mlp', options: { optimizer: 'sgd', lr: 1e4, layers: [32, 10] }, epochs: 3, threads: 1, test: false }),
    { instanceOf: DivergenceError });
  t.regex(err!.message, /after epoch 1 the training accuracy is at chance .* over 10 times that of uninformed predictions/);
  const ok = await runExperiment({ model: 'mlp', options: { optimizer: 'sgd', lr: 0.01, layers: [32, 10] }, epochs: 1, threads: 1, test: false });
  t.is(ok.epochs.length, 1);
});

test('a checkpoint is not resumed on other training data (another fold of the same size)', async (t) => {
  const ck = path.join(tmp, 'fold.ckpt');
  const spec = { model: 'mlp' as const, options: { layers: [16, 10] }, epochs: 1, folds: 4, test: false, threads: 1, checkpoint: ck };
  await runExperiment({ ...spec, fold: 0 });
  await t.throwsAsync(runExperiment({ ...spec, fold: 1, epochs: 2, resume: true }), { message: /written for other training data \(mnist-10k sha256 [0-9a-f]+, fold 0 of 4.*this run has .*fold 1 of 4/ });
  const resumed = await runExperiment({ ...spec, fold: 0, epochs: 2, resume: true });
  t.deepEqual(resumed.resumed, { epoch: 1, position: 0 });
  // Unless the user says so: the run reports and records what differs.
  t.throws(() => resolveSpec({ ...spec, fold: 1, resumeOtherData: true }), { message: /resumeOtherData applies only with resume/ });
  const events: ExperimentEvent[] = [];
  const other = await runExperiment({ ...spec, fold: 1, epochs: 3, resume: true, resumeOtherData: true }, { onEvent: (e) => events.push(e) });
  t.like(other.resumed, { epoch: 2, position: 0 });
  t.is(other.resumed!.otherData!.length, 1);
  t.like(other.resumed!.otherData![0], { what: 'data' });
  t.regex(String(other.resumed!.otherData![0].checkpoint), /fold 0 of 4/);
  t.regex(String(other.resumed!.otherData![0].run), /fold 1 of 4/);
  t.deepEqual(events.filter((e) => e.type === 'resumeOtherData').length, 1);
  t.true(other.spec.resumeOtherData);
  t.is(other.epochs.length, 3);
  t.true(other.final.validationAccuracy! > 0.5, `validation accuracy ${other.final.validationAccuracy}`);
});
