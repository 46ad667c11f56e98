// mnist-10k for the training tests (src/data caches it per process).
import { loadDataset } from '../../src/data/load';
import type { ImageSetLike } from '../../src/train/dataset';

export async function mnist10k(): Promise<{ train: ImageSetLike; test: ImageSetLike }> {
  const d = await loadDataset('mnist-10k');
  return { train: d.train, test: d.test };
}
