// mnist-10k for the training tests (src/data caches it per process).
import { DatasetError } from '../../src/data/errors';
import { loadDataset, locateDataset } from '../../src/data/load';
import type { DatasetSpec } from '../../src/data/registry';
import type { ImageSetLike } from '../../src/train/dataset';

export async function mnist10k(): Promise<{ train: ImageSetLike; test: ImageSetLike }> {
  const d = await loadDataset('mnist-10k');
  return { train: d.train, test: d.test };
}

/** Why a dataset's files are not here (the loader's message), or undefined when they are. */
export function datasetMissing(spec: DatasetSpec): string | undefined {
  try {
    locateDataset(spec);
    return undefined;
  } catch (err) {
    if (err instanceof DatasetError) return err.message;
    throw err;
  }
}
