// A CommonJS consumer of the packed package (run by test/consumers.test.ts in a scratch project):
// the root, both sub-paths and package.json by require(); trains an MLP through the training loop
// and a segregated-dendrite network, evaluates, saves and reloads both, and runs one kernel.
'use strict';
const assert = require('node:assert/strict');
const path = require('node:path');

const db = require('dendrite-bench');
const { gemm, setDefaultThreads } = require('dendrite-bench/kernels');
const data = require('dendrite-bench/data');
const pkg = require('dendrite-bench/package.json');

const range = (n) => Array.from({ length: n }, (_, i) => i);
const accuracy = (predictions, labels) => predictions.filter((p, i) => p === labels[i]).length / labels.length;

async function main() {
  const out = process.argv[2];
  // What left the root lives on the sub-paths; nothing else of the package can be reached.
  for (const name of ['loadDataset', 'listDatasets', 'createMlp', 'train', 'SegregatedNetwork', 'devices']) {
    assert.equal(typeof db[name], 'function', `root: ${name}`);
  }
  for (const name of ['gemm', 'conv2dForward', 'TarParser', 'crc32', 'parseIdxImages', 'encodePng']) {
    assert.equal(db[name], undefined, `root must not export ${name}`);
  }
  assert.equal(typeof data.TarParser, 'function');
  assert.equal(typeof data.parseIdxImages, 'function');
  assert.equal(data.loadDataset, db.loadDataset, 'one data module behind both entry points');
  assert.throws(() => require('dendrite-bench/dist/src/kernels.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  assert.equal(typeof require('dendrite-bench/schemas/experiment.schema.json').$schema, 'string', 'the JSON Schemas are exported');

  const ds = await db.loadDataset('mnist-10k');
  assert.equal(ds.train.count, 8000);
  assert.equal(ds.test.count, 2000);
  assert.ok((await db.listDatasets({ verify: false })).some((e) => e.name === 'mnist-10k' && e.present));
  // mnist-10k is sorted by class: take seeded shuffles.
  const trainSet = db.subset(ds.train, db.epochOrder(ds.train.count, 1, 0).subarray(0, 500));
  const testSet = db.subset(ds.test, db.epochOrder(ds.test.count, 1, 0).subarray(0, 200));

  // The MLP baseline through the shared training loop, with a checkpoint, then reloaded.
  const input = { channels: 1, height: 28, width: 28 };
  const mlp = db.createMlp({ input, hidden: [32], batchSize: 10, seed: 1, threads: 1 });
  const ckpt = path.join(out, 'mlp.ckpt');
  const result = await db.train(mlp, { train: trainSet, test: testSet }, { epochs: 1, checkpoint: ckpt });
  assert.equal(result.stopped, 'completed');
  assert.equal(result.test.count, 200);
  assert.ok(result.test.accuracy > 0.3, `MLP test accuracy ${result.test.accuracy} after 500 examples`);
  assert.ok(await db.loadCheckpoint(ckpt), 'the checkpoint reads back');
  // A fresh network resumed from the checkpoint (nothing left to train) scores the same.
  const mlp2 = db.createMlp({ input, hidden: [32], batchSize: 10, seed: 1, threads: 1 });
  const resumed = await db.train(mlp2, { train: trainSet, test: testSet }, { epochs: 1, checkpoint: ckpt, resume: true });
  assert.deepEqual(resumed.test, result.test);

  // The segregated-dendrite network: train, evaluate, save, load, same predictions.
  const net = new db.SegregatedNetwork({ layers: [20, 10], seed: 1, threads: 1 });
  const epochs = await net.train(db.subset(trainSet, range(100)), { epochs: 1 });
  assert.equal(epochs.length, 1);
  const before = await net.evaluate(db.subset(testSet, range(50)), { round: 0 });
  const file = path.join(out, 'segregated.ckpt');
  await net.save(file);
  const after = await (await db.SegregatedNetwork.load(file)).evaluate(db.subset(testSet, range(50)), { round: 0 });
  assert.deepEqual(after.predictions, before.predictions);

  // One kernel from the sub-path.
  setDefaultThreads(1);
  const c = await gemm({ a: Float32Array.of(1, 2, 3, 4), b: Float32Array.of(5, 6, 7, 8), m: 2, n: 2, k: 2 });
  assert.deepEqual(Array.from(c), [19, 22, 43, 50]);

  // Which native file was loaded (the prebuilt one, a local build or DENDRITE_ADDON's).
  const addon = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
  console.log(JSON.stringify({ consumer: 'cjs', version: pkg.version, mlpAccuracy: result.test.accuracy,
    segregatedAccuracy: accuracy(before.predictions, db.subset(testSet, range(50)).labels), addon }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
