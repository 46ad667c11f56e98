// Seeded PRNG, shuffles, validation and k-fold splits, epoch orders, float batches.
import test, { type ExecutionContext } from 'ava';

import { Xoshiro128ss, epochOrder, fillBatch, fillLabels, fillOneHot, makeImageSet, shuffleInPlace, stratifiedKFold, subset, validationSplit, type ImageSet } from '../src/data';
import { subsetInSlices } from '../src/data/types';
import { splitmix64 } from '../src/data/rng';
import { xoshiro128ssRef } from './reference/xoshiro';

test('xoshiro128** matches the reference algorithm (known answers for state 1,2,3,4, and random states)', (t) => {
  const g = Xoshiro128ss.fromState(1, 2, 3, 4);
  const got = Array.from({ length: 1000 }, () => g.nextU32());
  t.deepEqual(got.slice(0, 2), [11520, 0]); // worked by hand from the C code
  t.deepEqual(got, xoshiro128ssRef([1, 2, 3, 4], 1000));
  for (const st of [
    [0xffffffff, 0x80000000, 0x12345678, 0x9abcdef0],
    [0, 0, 0, 1],
  ] as [number, number, number, number][]) {
    const h = Xoshiro128ss.fromState(...st);
    t.deepEqual(Array.from({ length: 200 }, () => h.nextU32()), xoshiro128ssRef(st, 200));
  }
  t.throws(() => Xoshiro128ss.fromState(0, 0, 0, 0), { instanceOf: RangeError });
});

test('SplitMix64 known answer (seed 0 -> 0xe220a8397b1dcdaf)', (t) => {
  t.is(splitmix64(0n)[1], 0xe220a8397b1dcdafn);
});

test('seeding: same keys give the same stream, different keys different streams', (t) => {
  const a = new Xoshiro128ss(42, 1, 0);
  const b = new Xoshiro128ss(42, 1, 0);
  const c = new Xoshiro128ss(42, 1, 1);
  const d = new Xoshiro128ss(43, 1, 0);
  const take = (g: Xoshiro128ss): number[] => Array.from({ length: 8 }, () => g.nextU32());
  const [ta, tb, tc, td] = [take(a), take(b), take(c), take(d)];
  t.deepEqual(ta, tb);
  t.notDeepEqual(ta, tc);
  t.notDeepEqual(ta, td);
  t.throws(() => new Xoshiro128ss(0.5), { instanceOf: RangeError });
});

test('below(n) is uniform (chi-square over 10 bins, 100k draws) and in range', (t) => {
  const g = new Xoshiro128ss(7);
  const bins = new Array(10).fill(0);
  let outside = 0;
  for (let i = 0; i < 100000; i++) {
    const v = g.below(10);
    if (Number.isInteger(v) && v >= 0 && v < 10) bins[v]++;
    else outside++;
  }
  t.is(outside, 0);
  const chi2 = bins.reduce((a, o) => a + (o - 10000) ** 2 / 10000, 0);
  t.true(chi2 < 27.9, `chi2 ${chi2}`); // p = 0.001 critical value, 9 degrees of freedom
  t.is(g.below(1), 0);
  t.throws(() => g.below(0), { instanceOf: RangeError });
});

test('Fisher-Yates: a permutation; all 6 orders of 3 items about equally likely', (t) => {
  const g = new Xoshiro128ss(11);
  const counts = new Map<string, number>();
  for (let i = 0; i < 60000; i++) {
    const k = Array.from(shuffleInPlace(Uint32Array.of(0, 1, 2), g)).join('');
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  t.is(counts.size, 6);
  for (const n of counts.values()) t.true(Math.abs(n - 10000) < 500, String(n)); // > 5 sigma
});

test('epochOrder: a permutation, reproducible per (seed, epoch) without replaying, different across epochs and seeds', (t) => {
  const e5 = epochOrder(1000, 3, 5);
  t.deepEqual(Array.from(e5).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  // Computing epochs 0..4 first changes nothing.
  for (let e = 0; e < 5; e++) epochOrder(1000, 3, e);
  t.deepEqual(epochOrder(1000, 3, 5), e5);
  t.notDeepEqual(epochOrder(1000, 3, 6), e5);
  t.notDeepEqual(epochOrder(1000, 4, 5), e5);
  // Over a subset of indices.
  const sub = Uint32Array.of(10, 20, 30, 40, 50);
  const o = epochOrder(sub, 1, 0);
  t.deepEqual(Array.from(o).sort((a, b) => a - b), [10, 20, 30, 40, 50]);
  t.deepEqual(Array.from(sub), [10, 20, 30, 40, 50]); // input untouched
  t.throws(() => epochOrder(5, 1, -1), { instanceOf: RangeError });
});

// 1000 labels with unequal classes: class c has 50 + 10c images, in a scrambled order.
const labels = (() => {
  const l: number[] = [];
  for (let c = 0; c < 10; c++) for (let k = 0; k < 50 + 10 * c; k++) l.push(c);
  return Uint8Array.from(shuffleInPlace(Uint32Array.from(l), new Xoshiro128ss(99)));
})();
const total = labels.length; // 950

function countBy(idx: Uint32Array): number[] {
  const c = new Array(10).fill(0);
  idx.forEach((i) => c[labels[i]]++);
  return c;
}

test('validationSplit: stratified, exact size, disjoint cover, deterministic per seed', (t) => {
  const s = validationSplit(labels, 0.2, 5);
  t.is(s.validation.length, 190);
  t.is(s.train.length, total - 190);
  const all = [...s.train, ...s.validation].sort((a, b) => a - b);
  t.deepEqual(all, Array.from({ length: total }, (_, i) => i));
  const v = countBy(s.validation);
  for (let c = 0; c < 10; c++) t.true(Math.abs(v[c] - (0.2 * (50 + 10 * c))) <= 1, `class ${c}: ${v[c]}`);
  t.deepEqual(validationSplit(labels, 0.2, 5), s);
  t.notDeepEqual(validationSplit(labels, 0.2, 6).validation, s.validation);
  t.is(validationSplit(labels, 123, 5).validation.length, 123);
  t.true(s.validation.every((x, i) => i === 0 || s.validation[i - 1] < x));
  t.throws(() => validationSplit(labels, 2000, 1), { instanceOf: RangeError });
});

test('stratifiedKFold: k disjoint folds covering everything, balanced per class, deterministic per seed', (t) => {
  for (const k of [3, 5]) {
    const folds = stratifiedKFold(labels, k, 1);
    t.is(folds.length, k);
    const seen = new Uint8Array(total);
    for (const f of folds) {
      t.is(f.train.length + f.validation.length, total);
      f.validation.forEach((i) => seen[i]++);
      const inVal = new Set(f.validation);
      t.true(f.train.every((i) => !inVal.has(i)));
    }
    t.true(seen.every((n) => n === 1));
    const sizes = folds.map((f) => f.validation.length);
    t.true(Math.max(...sizes) - Math.min(...sizes) <= 1, String(sizes));
    for (let c = 0; c < 10; c++) {
      const per = folds.map((f) => countBy(f.validation)[c]);
      t.true(Math.max(...per) - Math.min(...per) <= 1, `k=${k} class ${c}: ${per}`);
    }
    t.deepEqual(stratifiedKFold(labels, k, 1), folds);
    t.notDeepEqual(stratifiedKFold(labels, k, 2)[0].validation, folds[0].validation);
  }
  t.throws(() => stratifiedKFold(labels, 1, 0), { instanceOf: RangeError });
});

test('fillBatch: float32 p/255 in C x H x W order for the given indices; fillLabels and fillOneHot', (t) => {
  const images = Uint8Array.from({ length: 4 * 2 * 3 * 2 }, (_, i) => (i * 37) % 256);
  const set = makeImageSet(images, Uint8Array.of(3, 0, 2, 1), [2, 3, 2], ['a', 'b', 'c', 'd']);
  const b = fillBatch(set, [2, 0]);
  t.is(b.length, 24);
  for (let j = 0; j < 12; j++) {
    t.is(b[j], Math.fround(images[24 + j] / 255));
    t.is(b[12 + j], Math.fround(images[j] / 255));
  }
  t.is(fillBatch(makeImageSet(Uint8Array.of(0, 255), Uint8Array.of(0, 0), [1, 1, 1], ['x']), [1, 0])[0], 1);
  const out = new Float32Array(40).fill(-1);
  fillBatch(set, [3], out);
  t.is(out[12], -1); // only the first image's slots written
  t.deepEqual(Array.from(fillLabels(set, [1, 3])), [0, 1]);
  t.deepEqual(Array.from(fillOneHot(set, [0, 2])), [0, 0, 0, 1, 0, 0, 1, 0]);
  t.throws(() => fillBatch(set, [4]), { instanceOf: RangeError });
  t.throws(() => fillBatch(set, [0, 1], new Float32Array(20)), { instanceOf: RangeError });
});

test('pinned values: seeded streams and orders stay the same across versions (results must be reproducible)', (t) => {
  const g = new Xoshiro128ss(1);
  t.deepEqual([g.nextU32(), g.nextU32()], [346308877, 1199887151]);
  t.deepEqual(Array.from(epochOrder(10, 0, 0)), [3, 9, 2, 7, 1, 4, 6, 0, 8, 5]);
  t.deepEqual(Array.from(epochOrder(10, 0, 1)), [9, 2, 6, 1, 8, 3, 0, 4, 5, 7]);
  t.deepEqual(Array.from(epochOrder(10, 12345, 7)), [6, 8, 1, 9, 7, 0, 5, 3, 4, 2]);
  const alt = Uint8Array.from({ length: 20 }, (_, i) => i % 2);
  t.deepEqual(Array.from(validationSplit(alt, 0.25, 1).validation), [4, 5, 12, 15, 16]);
});

/** Checks that `got` holds the images and labels of `set` at `order`, one by one. */
function checkSubset(t: ExecutionContext, set: ImageSet, order: number[], got: ImageSet): void {
  const size = set.channels * set.height * set.width;
  t.is(got.count, order.length);
  t.deepEqual([got.channels, got.height, got.width], [set.channels, set.height, set.width]);
  t.is(got.images.length, order.length * size);
  order.forEach((i, k) => {
    t.true(Buffer.from(got.images.subarray(k * size, (k + 1) * size)).equals(set.images.subarray(i * size, (i + 1) * size)), `image ${k}`);
    t.is(got.labels[k], set.labels[i], `label ${k}`);
  });
}

test('subset copies the chosen images and labels in the given order, from a set whose pixels are a view into a larger buffer', (t) => {
  const size = 2 * 3 * 4;
  const count = 7;
  // The pixels start 16 bytes into their buffer, as a parsed IDX file's do.
  const backing = new Uint8Array(16 + count * size + 5);
  for (let i = 0; i < backing.length; i++) backing[i] = (i * 37) & 255;
  const images = backing.subarray(16, 16 + count * size);
  const labels = Uint8Array.from({ length: count }, (_, i) => (i * 3) % 10);
  const set = makeImageSet(images, labels, [2, 3, 4], ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  // Runs of consecutive indices are copied whole: a run, a repeat, a run ending the list.
  for (const order of [[6, 0, 3, 3, 5], [0, 1, 2, 3, 3, 4, 2, 5, 6], [4, 5, 6]]) checkSubset(t, set, order, subset(set, order));
  t.is(subset(set, []).count, 0);
  for (const bad of [-1, count, 1.5, NaN]) t.throws(() => subset(set, [0, bad]), { instanceOf: RangeError, message: /subset: index .* out of range \[0, 7\)/ });
});

test('subsetInSlices copies what subset copies, a slice at a time, with runs across the slices\' ends', async (t) => {
  // 192 KiB images: 5 to a 1 MiB slice.
  const [c, h, w] = [3, 256, 256];
  const count = 23;
  const images = new Uint8Array(count * c * h * w);
  for (let i = 0; i < images.length; i++) images[i] = (i * 2654435761) >>> 27;
  const set = makeImageSet(images, Uint8Array.from({ length: count }, (_, i) => i % 10), [c, h, w], ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const order = [...Array.from({ length: 12 }, (_, i) => i + 2), 22, 0, 0, 1, ...Array.from({ length: 9 }, (_, i) => 21 - i)];
  const sliced = await subsetInSlices(set, order);
  checkSubset(t, set, order, sliced);
  t.true(Buffer.from(sliced.images).equals(subset(set, order).images));
  t.is((await subsetInSlices(set, [])).count, 0);
  await t.throwsAsync(subsetInSlices(set, [...order, count]), { instanceOf: RangeError, message: /subset: index 23 out of range \[0, 23\)/ });
});
