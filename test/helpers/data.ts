// mnist-10k for the training tests, loaded once per test file.
import { loadMnist10k, type ImageSetLike } from '../../src/train/dataset';

let cache: { train: ImageSetLike; test: ImageSetLike } | undefined;

export function mnist10k(): { train: ImageSetLike; test: ImageSetLike } {
  cache ??= loadMnist10k();
  return cache;
}
