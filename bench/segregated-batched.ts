// `npm run bench -- segregated-batched [--epochs 3] [--seed 1] [--batches 1,8,32] [--threads T]`:
// batched (summed updates of B examples, docs/papers.md §17.3 — a deviation) against online (B = 1, the
// faithful mode) on the embedded mnist-10k (8,000 training / 2,000 test digits):
// 784-500-10, spiking, the paper's learning rates 0.21/0.21, test accuracy after every epoch.
import { SegregatedNetwork } from '../src/models/segregated';
import { loadDataset } from '../src/data';

export const description = 'batched vs online training accuracy per epoch on mnist-10k (784-500-10 spiking)';

export async function run(args: string[]): Promise<void> {
  let epochs = 3;
  let seed = 1;
  let batches = [1, 8, 32];
  let threads: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const value = args[i + 1];
    switch (args[i]) {
      case '--epochs': epochs = Number(value); i++; break;
      case '--seed': seed = Number(value); i++; break;
      case '--batches': batches = String(value).split(',').map(Number); i++; break;
      case '--threads': threads = Number(value); i++; break;
      default: throw new RangeError(`segregated-batched: unknown option "${args[i]}"`);
    }
  }
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError('segregated-batched: --epochs must be a positive integer');
  if (!batches.every((b) => Number.isInteger(b) && b >= 1 && b <= 4096)) {
    throw new RangeError('segregated-batched: --batches must list integers in [1, 4096]');
  }
  const { train, test } = await loadDataset('mnist-10k');
  console.log(`784-500-10 spiking, learning rates 0.21/0.21, seed ${seed}, mnist-10k: ${train.count} training / ` +
    `${test.count} test digits; test accuracy % after each epoch`);
  const head = ['batch', ...Array.from({ length: epochs }, (_, e) => `epoch ${e + 1}`), 'train s/epoch'];
  console.log(head.map((h) => h.padStart(14)).join(''));
  for (const b of batches) {
    const net = new SegregatedNetwork({ layers: [500, 10], mode: 'spiking', seed, batchSize: b, ...(threads ? { threads } : {}) });
    const acc: string[] = [];
    let secs = 0;
    for (let e = 0; e < epochs; e++) {
      const [m] = await net.train(train, { epochs: 1, learningRates: [0.21, 0.21], testSet: test });
      acc.push((100 * m.testAccuracy!).toFixed(2));
      secs += m.seconds;
    }
    console.log([b === 1 ? '1 (online)' : String(b), ...acc, (secs / epochs).toFixed(1)].map((c) => c.padStart(14)).join(''));
  }
}
