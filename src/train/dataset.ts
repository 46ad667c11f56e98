// The dataset shape the training code needs: src/data's ImageSet without the class names.
import { subset, type ImageSet } from '../data/types';

/** N uint8 images (N x C x H x W, row-major) with uint8 labels. */
export type ImageSetLike = Pick<ImageSet, 'images' | 'labels' | 'count' | 'channels' | 'height' | 'width'>;

/** The images at `indices` (in that order) as a new set. */
export function subsetOf(set: ImageSetLike, indices: ArrayLike<number>): ImageSetLike {
  return subset({ ...set, classNames: [] }, indices);
}
