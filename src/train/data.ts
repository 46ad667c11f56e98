// Loads a dataset by name (src/data) and splits it for training: the official training split
// minus a stratified, seeded validation part; the official test split for the final score.
import { loadDataset } from '../data/load';
import { stratifiedKFold, validationSplit } from '../data/splits';
import { subsetInSlices, type Dataset, type ImageSet } from '../data/types';
import { hashInSlices } from '../slices';
import type { TrainSplits } from './loop';

export interface TrainingData {
  name: string;
  /** sha256 of the dataset as loaded: training images, labels, then test images, labels. */
  sha256: string;
  shape: { channels: number; height: number; width: number };
  classes: number;
  splits: TrainSplits & { train: ImageSet; validation?: ImageSet; test: ImageSet };
}

/** Digests of loaded datasets (the loader keeps one object per dataset in memory): a study's trials hash MNIST once. */
const digests = new WeakMap<Dataset, Promise<string>>();

function datasetDigest(ds: Dataset): Promise<string> {
  let d = digests.get(ds);
  if (!d) {
    d = hashInSlices([ds.train.images, ds.train.labels, ds.test.images, ds.test.labels], ['sha256']).then((h) => h.sha256);
    digests.set(ds, d);
  }
  return d;
}

/**
 * validation: a count of images, or a fraction of the training split when < 1 (0: none).
 * folds >= 2: stratified k-fold of the training split (folds fixed by the seed); fold `fold`
 * validates and the others train. The official test split is returned untouched either way.
 */
export async function loadTrainingData(
  name: string,
  opts: { validation: number; seed: number; dataDir?: string; folds?: number; fold?: number },
): Promise<TrainingData> {
  const ds = await loadDataset(name, opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
  const n = ds.train.count;
  const size = opts.validation < 1 ? Math.round(opts.validation * n) : opts.validation;
  if (size >= n) throw new RangeError(`validation ${opts.validation} leaves no training images (of ${n})`);
  let train = ds.train;
  let validation: ImageSet | undefined;
  if (opts.folds !== undefined && opts.folds >= 2) {
    const split = stratifiedKFold(ds.train.labels, opts.folds, opts.seed)[opts.fold ?? 0];
    if (split === undefined) throw new RangeError(`fold ${opts.fold} is not one of the ${opts.folds} folds`);
    train = await subsetInSlices(ds.train, split.train);
    validation = await subsetInSlices(ds.train, split.validation);
  } else if (size > 0) {
    const split = validationSplit(ds.train.labels, size, opts.seed);
    train = await subsetInSlices(ds.train, split.train);
    validation = await subsetInSlices(ds.train, split.validation);
  }
  return {
    name: ds.name,
    sha256: await datasetDigest(ds),
    shape: { channels: ds.shape[0], height: ds.shape[1], width: ds.shape[2] },
    classes: ds.classNames.length,
    splits: { train, validation, test: ds.test },
  };
}
