// Converting uint8 images to the float32 batches a model consumes: pixel p becomes p / 255.
import { type ImageSet, imageSize } from './types';

const TO_UNIT = new Float32Array(256);
for (let p = 0; p < 256; p++) TO_UNIT[p] = p / 255;

function checkIndex(set: ImageSet, i: number): void {
  if (!(Number.isInteger(i) && i >= 0 && i < set.count)) throw new RangeError(`index ${i} out of range [0, ${set.count})`);
}

/**
 * Fills `out` (length >= indices.length * C*H*W; allocated when omitted) with the images at
 * `indices`, one after another in C x H x W order, as float32 in [0, 1].
 */
export function fillBatch(set: ImageSet, indices: ArrayLike<number>, out?: Float32Array): Float32Array {
  const size = imageSize(set);
  const need = indices.length * size;
  const dst = out ?? new Float32Array(need);
  if (dst.length < need) throw new RangeError(`fillBatch: output holds ${dst.length} floats, ${need} needed`);
  const src = set.images;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    checkIndex(set, i);
    const s = i * size;
    const d = k * size;
    for (let j = 0; j < size; j++) dst[d + j] = TO_UNIT[src[s + j]];
  }
  return dst;
}

/** Labels of the images at `indices`. */
export function fillLabels(set: ImageSet, indices: ArrayLike<number>, out?: Uint8Array): Uint8Array {
  const dst = out ?? new Uint8Array(indices.length);
  if (dst.length < indices.length) throw new RangeError(`fillLabels: output holds ${dst.length}, ${indices.length} needed`);
  for (let k = 0; k < indices.length; k++) {
    checkIndex(set, indices[k]);
    dst[k] = set.labels[indices[k]];
  }
  return dst;
}

/** One-hot targets (batch x classes, row-major) of the images at `indices`. */
export function fillOneHot(set: ImageSet, indices: ArrayLike<number>, out?: Float32Array): Float32Array {
  const classes = set.classNames.length;
  const need = indices.length * classes;
  const dst = out ?? new Float32Array(need);
  if (dst.length < need) throw new RangeError(`fillOneHot: output holds ${dst.length} floats, ${need} needed`);
  dst.fill(0, 0, need);
  for (let k = 0; k < indices.length; k++) {
    checkIndex(set, indices[k]);
    dst[k * classes + set.labels[indices[k]]] = 1;
  }
  return dst;
}
