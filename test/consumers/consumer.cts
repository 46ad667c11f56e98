// A strict TypeScript consumer of the packed package (compiled by test/consumers.test.ts with the
// repository's tsc, once with "moduleResolution": "node16" and run, once type-checked with
// "bundler"). The types come from the exports map's "types" conditions.
import assert from 'node:assert/strict';
import path from 'node:path';

import {
  type CheckpointData, type Dataset, type EvalResult, type ImageSet, type SegregatedOptions, type TrainResult,
  SegregatedNetwork, createMlp, epochOrder, loadCheckpoint, loadDataset, subset, train,
} from 'dendrite-bench';
import { type ExecOptions, gemm } from 'dendrite-bench/kernels';
import { type DatasetSpec, MNIST_10K, TarParser, parseIdxImages } from 'dendrite-bench/data';

async function main(out: string): Promise<void> {
  const spec: DatasetSpec = MNIST_10K;
  assert.equal(spec.name, 'mnist-10k');
  assert.equal(typeof TarParser, 'function');
  assert.equal(typeof parseIdxImages, 'function');

  const ds: Dataset = await loadDataset('mnist-10k');
  const trainSet: ImageSet = subset(ds.train, epochOrder(ds.train.count, 1, 0).subarray(0, 500));
  const testSet: ImageSet = subset(ds.test, epochOrder(ds.test.count, 1, 0).subarray(0, 200));

  const input = { channels: 1, height: 28, width: 28 };
  const mlp = createMlp({ input, hidden: [32], batchSize: 10, seed: 1, threads: 1 });
  const ckpt = path.join(out, 'mlp.ckpt');
  const result: TrainResult = await train(mlp, { train: trainSet, test: testSet }, { epochs: 1, checkpoint: ckpt });
  const test: EvalResult | null = result.test;
  assert.ok(test !== null && test.accuracy > 0.3, `MLP test accuracy ${test?.accuracy}`);
  const saved: CheckpointData = await loadCheckpoint(ckpt);
  assert.ok(saved, 'the checkpoint reads back');
  const mlp2 = createMlp({ input, hidden: [32], batchSize: 10, seed: 1, threads: 1 });
  const resumed = await train(mlp2, { train: trainSet, test: testSet }, { epochs: 1, checkpoint: ckpt, resume: true });
  assert.deepEqual(resumed.test, result.test, 'resumed from the checkpoint, the same weights');

  const options: SegregatedOptions = { layers: [20, 10], seed: 1, threads: 1 };
  const net = new SegregatedNetwork(options);
  assert.equal((await net.train(subset(trainSet, epochOrder(100, 1, 0)), { epochs: 1 })).length, 1);
  const few = subset(testSet, epochOrder(50, 1, 0));
  const before = await net.evaluate(few, { round: 0 });
  const file = path.join(out, 'segregated.ckpt');
  await net.save(file);
  const after = await (await SegregatedNetwork.load(file)).evaluate(few, { round: 0 });
  assert.deepEqual(after.predictions, before.predictions);

  const exec: ExecOptions = { device: 'cpu', threads: 1 };
  const c: Float32Array = await gemm({ a: Float32Array.of(1, 2, 3, 4), b: Float32Array.of(5, 6, 7, 8), m: 2, n: 2, k: 2, ...exec });
  assert.deepEqual(Array.from(c), [19, 22, 43, 50]);

  const predictions: Int32Array = before.predictions;
  const segregatedAccuracy = predictions.filter((p, i) => p === few.labels[i]).length / few.count;
  const addon = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
  console.log(JSON.stringify({ consumer: 'typescript', mlpAccuracy: test.accuracy, segregatedAccuracy, addon }));
}

main(process.argv[2] ?? '.').catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
