// Loads a dataset by name (src/data) and splits it for training: the official training split
// minus a stratified, seeded validation part; the official test split for the final score.
import { loadDataset } from '../data/load';
import { validationSplit } from '../data/splits';
import { subset, type ImageSet } from '../data/types';
import type { TrainSplits } from './loop';

export interface TrainingData {
  name: string;
  shape: { channels: number; height: number; width: number };
  classes: number;
  splits: TrainSplits & { train: ImageSet; validation?: ImageSet; test: ImageSet };
}

/** validation: a count of images, or a fraction of the training split when < 1 (0: none). */
export async function loadTrainingData(
  name: string,
  opts: { validation: number; seed: number; dataDir?: string },
): Promise<TrainingData> {
  const ds = await loadDataset(name, opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
  const n = ds.train.count;
  const size = opts.validation < 1 ? Math.round(opts.validation * n) : opts.validation;
  if (size >= n) throw new RangeError(`validation ${opts.validation} leaves no training images (of ${n})`);
  let train = ds.train;
  let validation: ImageSet | undefined;
  if (size > 0) {
    const split = validationSplit(ds.train.labels, size, opts.seed);
    train = subset(ds.train, split.train);
    validation = subset(ds.train, split.validation);
  }
  return {
    name: ds.name,
    shape: { channels: ds.shape[0], height: ds.shape[1], width: ds.shape[2] },
    classes: ds.classNames.length,
    splits: { train, validation, test: ds.test },
  };
}
