// In-memory form of a dataset: uint8 pixels stored once (N x C x H x W, row-major), uint8 labels.
import { SLICE_BYTES, tick } from '../slices';

export interface ImageSet {
  /** N * C * H * W pixels, 0..255, image n at offset n * C * H * W, channel planes in order. */
  readonly images: Uint8Array;
  /** N labels, each < classNames.length. */
  readonly labels: Uint8Array;
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly classNames: readonly string[];
}

/** The official split of a dataset, as loaded. */
export interface Dataset {
  /** Registry name: "mnist", "fashion-mnist", "cifar10", "mnist-10k". */
  readonly name: string;
  readonly train: ImageSet;
  readonly test: ImageSet;
  readonly classNames: readonly string[];
  /** (channels, height, width). */
  readonly shape: readonly [number, number, number];
  /** The files the data was read from. */
  readonly files: readonly string[];
}

export function imageSize(set: Pick<ImageSet, 'channels' | 'height' | 'width'>): number {
  return set.channels * set.height * set.width;
}

export function makeImageSet(
  images: Uint8Array,
  labels: Uint8Array,
  shape: readonly [number, number, number],
  classNames: readonly string[],
): ImageSet {
  const [channels, height, width] = shape;
  const size = channels * height * width;
  if (images.length !== labels.length * size) {
    throw new RangeError(`makeImageSet: ${images.length} pixels for ${labels.length} labels of ${channels}x${height}x${width}`);
  }
  return { images, labels, count: labels.length, channels, height, width, classNames };
}

/** Copies the given images (in the given order) into a new set. */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const out = emptyLike(set, indices.length);
  copyImages(set, indices, out, 0, indices.length);
  return out;
}

/** subset() a slice at a time, the event loop free in between: for the large sets a job starts with. */
export async function subsetInSlices(set: ImageSet, indices: ArrayLike<number>): Promise<ImageSet> {
  const out = emptyLike(set, indices.length);
  const perSlice = Math.max(1, Math.floor(SLICE_BYTES / imageSize(set)));
  for (let k = 0; k < indices.length; k += perSlice) {
    await tick();
    copyImages(set, indices, out, k, Math.min(indices.length, k + perSlice));
  }
  return out;
}

/** A set of `count` images to be filled in whole (not zeroed first). */
function emptyLike(set: ImageSet, count: number): ImageSet {
  const images = Buffer.allocUnsafeSlow(count * imageSize(set));
  return makeImageSet(new Uint8Array(images.buffer, 0, images.length), new Uint8Array(count), [set.channels, set.height, set.width], set.classNames);
}

/**
 * Copies images indices[from..to) of `set` to positions from..to of `out`. A run of consecutive
 * indices is one Buffer.copy (a split's training indices mostly are; a view per image took about 5
 * times as long as one copy per image for 8,000 MNIST digits here).
 */
function copyImages(set: ImageSet, indices: ArrayLike<number>, out: ImageSet, from: number, to: number): void {
  const size = imageSize(set);
  const src = Buffer.from(set.images.buffer, set.images.byteOffset, set.images.length);
  for (let k = from; k < to; ) {
    const first = indices[k];
    let end = k; // the run is indices[k..end)
    do {
      const i = indices[end];
      if (!(Number.isInteger(i) && i >= 0 && i < set.count)) throw new RangeError(`subset: index ${i} out of range [0, ${set.count})`);
      out.labels[end] = set.labels[i];
      end++;
    } while (end < to && indices[end] === first + (end - k));
    src.copy(out.images, k * size, first * size, (first + end - k) * size);
    k = end;
  }
}

/** Concatenates sets of one shape (Lange's pooled protocol: train + test as one pool). */
export function concatSets(...sets: ImageSet[]): ImageSet {
  if (sets.length === 0) throw new RangeError('concatSets: no sets');
  const first = sets[0];
  const size = imageSize(first);
  let n = 0;
  for (const s of sets) {
    if (s.channels !== first.channels || s.height !== first.height || s.width !== first.width) {
      throw new RangeError('concatSets: the sets differ in shape');
    }
    n += s.count;
  }
  const images = new Uint8Array(n * size);
  const labels = new Uint8Array(n);
  let at = 0;
  for (const s of sets) {
    images.set(s.images, at * size);
    labels.set(s.labels, at);
    at += s.count;
  }
  return makeImageSet(images, labels, [first.channels, first.height, first.width], first.classNames);
}

/** Number of images per class. */
export function classCounts(set: Pick<ImageSet, 'labels' | 'classNames'>): number[] {
  const counts = new Array<number>(set.classNames.length).fill(0);
  for (let i = 0; i < set.labels.length; i++) counts[set.labels[i]]++;
  return counts;
}
