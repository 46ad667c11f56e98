// An ES-module consumer of the packed package (run by test/consumers.test.ts in a scratch project):
// named imports of the CommonJS build (found by Node's cjs-module-lexer) from the root and both
// sub-paths; trains, evaluates, saves and reloads, runs one kernel.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

import * as root from 'dendrite-bench';
import {
  SegregatedNetwork, createMlp, epochOrder, listDatasets, loadCheckpoint, loadDataset, subset, train,
} from 'dendrite-bench';
import { gemm } from 'dendrite-bench/kernels';
import { TarParser, loadDataset as loadFromData, parseIdxImages } from 'dendrite-bench/data';
import pkg from 'dendrite-bench/package.json' with { type: 'json' };

const out = process.argv[2];
for (const name of ['gemm', 'TarParser', 'crc32']) assert.equal(root[name], undefined, `root must not export ${name}`);
assert.equal(typeof TarParser, 'function');
assert.equal(typeof parseIdxImages, 'function');
assert.equal(loadFromData, loadDataset);
await assert.rejects(import('dendrite-bench/dist/src/index.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
assert.equal(createRequire(import.meta.url)('dendrite-bench').loadDataset, loadDataset, 'one instance for import and require');

const ds = await loadDataset('mnist-10k');
assert.equal(ds.train.count + ds.test.count, 10000);
assert.ok((await listDatasets({ verify: false })).some((e) => e.name === 'mnist-10k' && e.present));
const trainSet = subset(ds.train, epochOrder(ds.train.count, 1, 0).subarray(0, 500));
const testSet = subset(ds.test, epochOrder(ds.test.count, 1, 0).subarray(0, 200));

const input = { channels: 1, height: 28, width: 28 };
const mlp = createMlp({ input, hidden: [32], batchSize: 10, seed: 1, threads: 1 });
const ckpt = path.join(out, 'mlp.ckpt');
const result = await train(mlp, { train: trainSet, test: testSet }, { epochs: 1, checkpoint: ckpt });
assert.ok(result.test.accuracy > 0.3, `MLP test accuracy ${result.test.accuracy}`);
assert.ok(await loadCheckpoint(ckpt), 'the checkpoint reads back');
const mlp2 = createMlp({ input, hidden: [32], batchSize: 10, seed: 1, threads: 1 });
const resumed = await train(mlp2, { train: trainSet, test: testSet }, { epochs: 1, checkpoint: ckpt, resume: true });
assert.deepEqual(resumed.test, result.test, 'resumed from the checkpoint, the same weights');

const net = new SegregatedNetwork({ layers: [20, 10], seed: 1, threads: 1 });
assert.equal((await net.train(subset(trainSet, epochOrder(100, 1, 0)), { epochs: 1 })).length, 1);
const few = subset(testSet, epochOrder(50, 1, 0));
const before = await net.evaluate(few, { round: 0 });
const file = path.join(out, 'segregated.ckpt');
await net.save(file);
assert.deepEqual((await (await SegregatedNetwork.load(file)).evaluate(few, { round: 0 })).predictions, before.predictions);

const c = await gemm({ a: Float32Array.of(1, 2, 3, 4), b: Float32Array.of(5, 6, 7, 8), m: 2, n: 2, k: 2, threads: 1 });
assert.deepEqual(Array.from(c), [19, 22, 43, 50]);

const segregatedAccuracy = before.predictions.filter((p, i) => p === few.labels[i]).length / few.count;
// Which native file was loaded (CommonJS's module cache, which the package's require() fills).
const addon = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.endsWith('.node'));
console.log(JSON.stringify({ consumer: 'esm', version: pkg.version, mlpAccuracy: result.test.accuracy, segregatedAccuracy, addon }));
