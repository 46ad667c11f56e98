// Splits, all deterministic for a seed: the official train/test split is the loaded Dataset; a
// stratified validation split carved from train; stratified k-fold splits (Lange's BO used 3-fold
// CV); and the training order of each epoch, reproducible for (seed, epoch) without replaying
// earlier epochs.
import { STREAM, Xoshiro128ss, shuffleInPlace } from './rng';

export interface IndexSplit {
  /** Indices into the set the split was made from, ascending. */
  train: Uint32Array;
  validation: Uint32Array;
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed ${seed} is not a safe integer`);
}

/** Indices of each class, ascending. */
function byClass(labels: ArrayLike<number>): number[][] {
  const groups: number[][] = [];
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    while (groups.length <= c) groups.push([]);
    groups[c].push(i);
  }
  return groups;
}

/**
 * A stratified validation split: `size` images (a count, or a fraction of the set when < 1) drawn
 * so each class contributes in proportion to its frequency; class shares are rounded by the
 * largest-remainder method so they sum to exactly `size`.
 */
export function validationSplit(labels: ArrayLike<number>, size: number, seed: number): IndexSplit {
  checkSeed(seed);
  const n = labels.length;
  const total = size < 1 ? Math.round(size * n) : size;
  if (!(Number.isInteger(total) && total >= 0 && total <= n)) {
    throw new RangeError(`validationSplit: size ${size} gives ${total} images, not within 0..${n}`);
  }
  const groups = byClass(labels);
  const quota = groups.map((g) => (g.length * total) / n);
  const take = quota.map(Math.floor);
  let left = total - take.reduce((a, b) => a + b, 0);
  // Largest remainder first; ties to the lower class index (stable sort).
  const order = quota.map((q, c) => ({ c, r: q - Math.floor(q) })).sort((a, b) => b.r - a.r);
  for (const { c } of order) {
    if (left === 0) break;
    if (take[c] < groups[c].length) {
      take[c]++;
      left--;
    }
  }
  const rng = new Xoshiro128ss(seed, STREAM.validation);
  const chosen = new Uint8Array(n);
  groups.forEach((g, c) => {
    const perm = shuffleInPlace(Uint32Array.from(g), rng);
    for (let k = 0; k < take[c]; k++) chosen[perm[k]] = 1;
  });
  // Ascending by construction (no sort: MNIST's split took 15-25 ms of the event loop with one).
  const split = { train: new Uint32Array(n - total), validation: new Uint32Array(total) };
  for (let i = 0, t = 0, v = 0; i < n; i++) {
    if (chosen[i]) split.validation[v++] = i;
    else split.train[t++] = i;
  }
  return split;
}

/**
 * Stratified k-fold: each class is shuffled and dealt round-robin to the folds, continuing the
 * deal across classes, so every fold's class counts differ by at most one from the others' and
 * fold sizes differ by at most one. Fold f validates on its own images and trains on the rest.
 */
export function stratifiedKFold(labels: ArrayLike<number>, k: number, seed: number): IndexSplit[] {
  checkSeed(seed);
  if (!(Number.isInteger(k) && k >= 2 && k <= labels.length)) {
    throw new RangeError(`stratifiedKFold: k = ${k}, expected an integer in 2..${labels.length}`);
  }
  const rng = new Xoshiro128ss(seed, STREAM.kfold, k);
  const fold = new Uint32Array(labels.length);
  let deal = 0;
  for (const g of byClass(labels)) {
    const perm = shuffleInPlace(Uint32Array.from(g), rng);
    for (let j = 0; j < perm.length; j++) fold[perm[j]] = deal++ % k;
  }
  const out: IndexSplit[] = [];
  for (let f = 0; f < k; f++) {
    const train: number[] = [];
    const validation: number[] = [];
    for (let i = 0; i < fold.length; i++) (fold[i] === f ? validation : train).push(i);
    out.push({ train: Uint32Array.from(train), validation: Uint32Array.from(validation) });
  }
  return out;
}

/**
 * The training order of one epoch: a seeded Fisher-Yates permutation of `indices` (or of 0..n-1
 * when a count is given). The generator is keyed by (seed, epoch), so any epoch is computed
 * directly.
 */
export function epochOrder(indices: number | ArrayLike<number>, seed: number, epoch: number): Uint32Array {
  checkSeed(seed);
  if (!(Number.isSafeInteger(epoch) && epoch >= 0)) throw new RangeError(`epochOrder: epoch ${epoch} must be a non-negative integer`);
  const order =
    typeof indices === 'number'
      ? Uint32Array.from({ length: indices }, (_, i) => i)
      : Uint32Array.from(indices as ArrayLike<number>);
  return shuffleInPlace(order, new Xoshiro128ss(seed, STREAM.epoch, epoch));
}
