// In-memory form of a dataset: uint8 pixels stored once (N x C x H x W, row-major), uint8 labels.

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
  const size = imageSize(set);
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  // Buffer.copy makes no view per image (set(subarray) took about 5 times as long for 8,000
  // MNIST-sized images here): time the event loop of a service loading a dataset would lose.
  const from = Buffer.from(set.images.buffer, set.images.byteOffset, set.images.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < set.count)) throw new RangeError(`subset: index ${i} out of range [0, ${set.count})`);
    from.copy(images, k * size, i * size, (i + 1) * size);
    labels[k] = set.labels[i];
  }
  return makeImageSet(images, labels, [set.channels, set.height, set.width], set.classNames);
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
