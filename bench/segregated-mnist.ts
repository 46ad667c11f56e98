// `npm run bench -- segregated-mnist [--epochs 20] [--seed 1] [--data-dir D] [--out file.json]`:
// the paper's Fig 6B run — 784-500-10, spiking, online, learning rates 0.21/0.21 — on full MNIST
// (60,000 training / 10,000 test images), printing the test error after every epoch beside the
// paper's 4.1 % after 60 epochs. A long run (minutes per epoch), not a speed test.
import fs from 'node:fs';

import { loadDataset } from '../src/data';
import { SegregatedNetwork } from '../src/models/segregated';

export const description = "the paper's 784-500-10 spiking run on full MNIST: test error per epoch (Fig 6B)";

export async function run(args: string[]): Promise<void> {
  let epochs = 20;
  let seed = 1;
  let dataDir: string | undefined;
  let out: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const value = args[i + 1];
    switch (args[i]) {
      case '--epochs': epochs = Number(value); i++; break;
      case '--seed': seed = Number(value); i++; break;
      case '--data-dir': dataDir = value; i++; break;
      case '--out': out = value; i++; break;
      default: throw new RangeError(`segregated-mnist: unknown option "${args[i]}"`);
    }
  }
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`segregated-mnist: --epochs must be a positive integer`);

  const data = await loadDataset('mnist', dataDir ? { dataDir } : {});
  const net = new SegregatedNetwork({ layers: [500, 10], mode: 'spiking', seed });
  console.log(`784-500-10 spiking, online, learning rates 0.21/0.21, seed ${seed}, ` +
    `${data.train.count} training / ${data.test.count} test images from ${data.files[0]}`);
  console.log('epoch  train error %  test error %  loss      examples/s  seconds');
  const rows: object[] = [];
  for (let e = 1; e <= epochs; e++) {
    const [m] = await net.train(data.train, { epochs: 1, learningRates: [0.21, 0.21], testSet: data.test });
    rows.push(m);
    const percentWrong = (accuracy: number) => (100 * (1 - accuracy)).toFixed(2);
    console.log(`${String(m.epoch).padStart(5)}  ${percentWrong(m.trainAccuracy).padStart(13)}  ${percentWrong(m.testAccuracy!).padStart(12)}  ` +
      `${m.trainLoss.toExponential(3).padStart(8)}  ${m.examplesPerSecond.toFixed(0).padStart(10)}  ${m.seconds.toFixed(1).padStart(7)}`);
    if (out) fs.writeFileSync(out, JSON.stringify({ seed, epochs: rows }, null, 2));
  }
  console.log("paper (Fig 6B): 4.1 % test error after 60 epochs");
}
