// Loads a dataset by name and splits it for training: train (minus a validation part), validation,
// test (the official test split).
// TEMPORARY: only mnist-10k, with a seeded (unstratified) validation split, until src/data lands.
import { loadMnist10k, subsetOf, type ImageSetLike } from './dataset';
import { trainingOrder } from './order';
import type { TrainSplits } from './loop';

export interface TrainingData {
  name: string;
  shape: { channels: number; height: number; width: number };
  classes: number;
  splits: TrainSplits & { validation?: ImageSetLike; test: ImageSetLike };
}

export async function loadTrainingData(
  name: string,
  opts: { validation: number; seed: number; dataDir?: string },
): Promise<TrainingData> {
  if (name !== 'mnist-10k') throw new Error(`dataset "${name}" is not available yet (only mnist-10k)`);
  const { train, test } = loadMnist10k();
  const v = opts.validation < 1 ? Math.round(opts.validation * train.count) : opts.validation;
  if (v >= train.count) throw new RangeError(`validation ${opts.validation} leaves no training images (of ${train.count})`);
  const perm = trainingOrder(train.count, opts.seed, 2 ** 31);
  const trainIdx = Array.from(perm.subarray(0, train.count - v)).sort((a, b) => a - b);
  const valIdx = Array.from(perm.subarray(train.count - v)).sort((a, b) => a - b);
  return {
    name,
    shape: { channels: train.channels, height: train.height, width: train.width },
    classes: 10,
    splits: { train: subsetOf(train, trainIdx), validation: v > 0 ? subsetOf(train, valIdx) : undefined, test },
  };
}
