// MNIST-format (IDX) loading on small files written in the exact official format, and every
// bad-input case: each error must name the file and what is wrong, and nothing is cached from it.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import test from 'ava';

import { DatasetError, type DatasetErrorCode, clearDatasetCache, loadDataset } from '../src/data';
import { encodeIdxImages, encodeIdxLabels, parseIdxImages, parseIdxLabels } from '../src/data/idx';
import { MNIST } from '../src/data/registry';
import { idxImages, idxLabels, pattern, smallIdx, smallIdxSpec, tmpDir, writeIdx } from './data-fixtures';

const small = smallIdx(30, 12);
const spec = smallIdxSpec(small);
const noSystem = { systemDirs: false as const, env: {} };

/** A data dir holding mnist/ with the small files, optionally with one file replaced. */
function dataDir(replace?: { file: string; bytes: Buffer }, specOverride = spec): string {
  const dir = tmpDir('idx');
  writeIdx(path.join(dir, 'mnist'), small, specOverride);
  if (replace) fs.writeFileSync(path.join(dir, 'mnist', replace.file), replace.bytes);
  return dir;
}

test('small MNIST-format files load with shape, class names, pixels and labels intact', async (t) => {
  const ds = await loadDataset('mnist', { dataDir: dataDir(), spec, cache: false, ...noSystem });
  t.deepEqual(ds.shape, [1, 28, 28]);
  t.deepEqual(ds.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  t.is(ds.train.count, 30);
  t.is(ds.test.count, 12);
  t.is(ds.train.channels, 1);
  t.is(ds.train.height, 28);
  t.is(ds.train.width, 28);
  t.true(ds.train.images instanceof Uint8Array);
  t.deepEqual(Array.from(ds.train.labels), small.train.labels);
  t.deepEqual(Array.from(ds.test.labels), small.test.labels);
  t.deepEqual(ds.train.images, small.train.pixels);
  t.deepEqual(ds.test.images, small.test.pixels);
});

test('uncompressed IDX files (official names without .gz) load the same', async (t) => {
  const dir = tmpDir('idx-raw');
  const m = path.join(dir, 'mnist');
  fs.mkdirSync(m);
  fs.writeFileSync(path.join(m, 'train-images-idx3-ubyte'), small.raw.trainImages);
  fs.writeFileSync(path.join(m, 'train-labels-idx1-ubyte'), small.raw.trainLabels);
  fs.writeFileSync(path.join(m, 't10k-images-idx3-ubyte'), small.raw.testImages);
  fs.writeFileSync(path.join(m, 't10k-labels-idx1-ubyte.gz'), small.testLabels); // mixed is fine
  const ds = await loadDataset('mnist', { dataDir: dir, spec, cache: false, ...noSystem });
  t.deepEqual(ds.train.images, small.train.pixels);
  t.deepEqual(Array.from(ds.test.labels), small.test.labels);
});

test('DENDRITE_DATA_DIR is used when no dataDir option is given, and the option wins over it', async (t) => {
  const dir = dataDir();
  const ds = await loadDataset('mnist', { spec, cache: false, systemDirs: false, env: { DENDRITE_DATA_DIR: dir } });
  t.is(ds.train.count, 30);
  await t.throwsAsync(loadDataset('mnist', { dataDir: tmpDir('empty'), spec, cache: false, systemDirs: false, env: { DENDRITE_DATA_DIR: dir } }), {
    instanceOf: DatasetError,
  });
});

// Serial: other tests here clear the cache.
test.serial('loads started together share one load; the loaded set is kept until the cache is cleared', async (t) => {
  const opts = { dataDir: dataDir(), spec, ...noSystem };
  const [a, b] = await Promise.all([loadDataset('mnist', opts), loadDataset('mnist', opts)]);
  t.is(a, b);
  t.is(await loadDataset('mnist', opts), a);
  const pending = loadDataset('mnist', { ...opts, cache: false });
  t.not(await pending, a);
  clearDatasetCache();
  const c = await loadDataset('mnist', opts);
  t.not(c, a);
  t.deepEqual(c.train.images, a.train.images);
});

async function expectError(
  t: import('ava').ExecutionContext,
  dir: string,
  file: string,
  code: DatasetErrorCode,
  message: RegExp,
  s = spec,
): Promise<DatasetError> {
  const err = await t.throwsAsync(loadDataset('mnist', { dataDir: dir, spec: s, ...noSystem }), { instanceOf: DatasetError });
  t.is(err!.code, code, err!.message);
  t.is(err!.file, path.join(dir, 'mnist', file));
  t.true(err!.message.startsWith(path.join(dir, 'mnist', file) + ': '), err!.message);
  t.regex(err!.message, message);
  return err!;
}

test('missing file: names it and says how to get it', async (t) => {
  const dir = dataDir();
  fs.rmSync(path.join(dir, 'mnist', 't10k-labels-idx1-ubyte.gz'));
  await expectError(t, dir, 't10k-labels-idx1-ubyte.gz', 'missing', /file not found.*dendrite-bench data fetch mnist/);
});

test('missing dataset folder entirely: names the first expected file', async (t) => {
  const dir = tmpDir('none');
  await expectError(t, dir, 'train-images-idx3-ubyte.gz', 'missing', /dendrite-bench data fetch mnist/);
});

test('wrong magic number (labels file where images belong)', async (t) => {
  const dir = dataDir({ file: 'train-images-idx3-ubyte.gz', bytes: small.trainLabels });
  await expectError(t, dir, 'train-images-idx3-ubyte.gz', 'magic', /wrong magic number 0x00000801 \(an IDX label file\), expected 0x00000803/);
});

test('wrong magic number (not IDX at all)', async (t) => {
  const dir = dataDir({ file: 't10k-labels-idx1-ubyte.gz', bytes: zlib.gzipSync(Buffer.from('<html>403 Forbidden</html>')) });
  await expectError(t, dir, 't10k-labels-idx1-ubyte.gz', 'magic', /wrong magic number .*expected 0x00000801/);
});

test('truncated IDX body', async (t) => {
  const cut = small.raw.trainImages.subarray(0, small.raw.trainImages.length - 100);
  const dir = dataDir({ file: 'train-images-idx3-ubyte.gz', bytes: zlib.gzipSync(cut) });
  await expectError(t, dir, 'train-images-idx3-ubyte.gz', 'truncated', /truncated: header says 30 images \(23520 bytes of pixels\), file holds 23420/);
});

test('truncated IDX header', async (t) => {
  const dir = dataDir({ file: 't10k-labels-idx1-ubyte.gz', bytes: zlib.gzipSync(small.raw.testLabels.subarray(0, 6)) });
  await expectError(t, dir, 't10k-labels-idx1-ubyte.gz', 'truncated', /too short/);
});

test('trailing bytes after the declared data', async (t) => {
  const dir = dataDir({ file: 'train-labels-idx1-ubyte.gz', bytes: zlib.gzipSync(Buffer.concat([small.raw.trainLabels, Buffer.from([1, 2])])) });
  await expectError(t, dir, 'train-labels-idx1-ubyte.gz', 'trailing', /2 bytes after the 30 labels/);
});

test('wrong image dimensions', async (t) => {
  const dir = dataDir({ file: 't10k-images-idx3-ubyte.gz', bytes: zlib.gzipSync(idxImages(12, pattern(12 * 32 * 32, 5), 32, 32)) });
  await expectError(t, dir, 't10k-images-idx3-ubyte.gz', 'shape', /images are 32x32, expected 28x28/);
});

test('image and label counts differ', async (t) => {
  const dir = dataDir({ file: 't10k-labels-idx1-ubyte.gz', bytes: zlib.gzipSync(idxLabels(small.test.labels.slice(0, 11))) });
  await expectError(t, dir, 't10k-images-idx3-ubyte.gz', 'count', /image count 12 in header, labels file t10k-labels-idx1-ubyte.gz has 11/);
});

test('count other than the dataset has', async (t) => {
  const s = { ...spec, counts: { train: 31, test: 12 } };
  await expectError(t, dataDir(), 'train-images-idx3-ubyte.gz', 'count', /30 images, expected 31/, s);
});

test('label out of range', async (t) => {
  const labels = [...small.train.labels];
  labels[17] = 10;
  const dir = dataDir({ file: 'train-labels-idx1-ubyte.gz', bytes: zlib.gzipSync(idxLabels(labels)) });
  await expectError(t, dir, 'train-labels-idx1-ubyte.gz', 'label', /label 17 is 10, out of range 0\.\.9/);
});

test('corrupt gzip stream', async (t) => {
  const bad = Buffer.from(small.trainImages);
  for (let i = 20; i < 60; i++) bad[i] ^= 0x5a;
  const dir = dataDir({ file: 'train-images-idx3-ubyte.gz', bytes: bad });
  await expectError(t, dir, 'train-images-idx3-ubyte.gz', 'gzip', /corrupt or truncated gzip stream/);
});

test('truncated gzip stream', async (t) => {
  const dir = dataDir({ file: 'train-images-idx3-ubyte.gz', bytes: small.trainImages.subarray(0, small.trainImages.length - 50) });
  await expectError(t, dir, 'train-images-idx3-ubyte.gz', 'gzip', /corrupt or truncated gzip stream \(unexpected end of file\)/);
});

test('checksum mismatch: well-formed file that is not the expected one', async (t) => {
  const px = Uint8Array.from(small.test.pixels);
  px[500] ^= 1;
  const dir = dataDir({ file: 't10k-images-idx3-ubyte.gz', bytes: zlib.gzipSync(idxImages(12, px)) });
  const err = await expectError(t, dir, 't10k-images-idx3-ubyte.gz', 'checksum', /checksum mismatch/);
  t.regex(err.message, new RegExp(`expected ${small.testImages.length} bytes with sha256 ${spec.files.testImages.download.sha256}`));
  t.regex(err.message, /delete it and run "dendrite-bench data fetch mnist"/);
  // verify: false accepts it (the structure is right).
  const ds = await loadDataset('mnist', { dataDir: dir, spec, verify: false, cache: false, ...noSystem });
  t.is(ds.test.images[500], px[500]);
});

test('the real MNIST checksums reject small files (no spec injected)', async (t) => {
  const dir = dataDir(undefined, MNIST);
  const err = await t.throwsAsync(loadDataset('mnist', { dataDir: dir, cache: false, ...noSystem }), { instanceOf: DatasetError });
  t.is(err!.code, 'count'); // 30 images, expected 60000: caught before the checksum
});

test('a re-compressed copy is accepted by its decompressed checksum', async (t) => {
  const recompressed = zlib.gzipSync(small.raw.trainImages, { level: 1 });
  t.notDeepEqual(recompressed, small.trainImages);
  const dir = dataDir({ file: 'train-images-idx3-ubyte.gz', bytes: recompressed });
  const ds = await loadDataset('mnist', { dataDir: dir, spec, cache: false, ...noSystem });
  t.deepEqual(ds.train.images, small.train.pixels);
});

test('nothing is cached from a bad file; a good load is cached until the file changes', async (t) => {
  clearDatasetCache();
  const labels = [...small.test.labels];
  labels[0] = 200;
  const dir = dataDir({ file: 't10k-labels-idx1-ubyte.gz', bytes: zlib.gzipSync(idxLabels(labels)) });
  const opts = { dataDir: dir, spec, ...noSystem };
  await t.throwsAsync(loadDataset('mnist', opts), { instanceOf: DatasetError, message: /label 0 is 200/ });
  await t.throwsAsync(loadDataset('mnist', opts), { instanceOf: DatasetError, message: /label 0 is 200/ });
  const file = path.join(dir, 'mnist', 't10k-labels-idx1-ubyte.gz');
  fs.writeFileSync(file, small.testLabels);
  const a = await loadDataset('mnist', opts);
  const b = await loadDataset('mnist', opts);
  t.is(a, b); // cached
  // Damage it again (different size): the cache must not hide that.
  fs.writeFileSync(file, zlib.gzipSync(idxLabels(small.test.labels.slice(0, 5))));
  await t.throwsAsync(loadDataset('mnist', opts), { instanceOf: DatasetError, message: /image count 12 in header/ });
});

test('unknown dataset name', async (t) => {
  const err = await t.throwsAsync(loadDataset('imagenet'), { instanceOf: DatasetError });
  t.is(err!.code, 'usage');
  t.regex(err!.message, /unknown dataset "imagenet"; known: mnist-10k, mnist, fashion-mnist, cifar10/);
});

test('encodeIdxImages / encodeIdxLabels write what parseIdxImages / parseIdxLabels read back', (t) => {
  const pixels = pattern(3 * 784, 7);
  const labels = Uint8Array.from([9, 0, 4]);
  const images = encodeIdxImages(pixels, 3, 28, 28);
  t.deepEqual(images, idxImages(3, pixels)); // byte for byte the official layout
  const back = parseIdxImages(images, 'x', { height: 28, width: 28 });
  t.is(back.count, 3);
  t.deepEqual(Buffer.from(back.images), Buffer.from(pixels));
  t.deepEqual(Array.from(parseIdxLabels(encodeIdxLabels(labels), 'y', 10)), [9, 0, 4]);
  // Only the first `count` images of a longer array; fewer pixels than declared is refused.
  t.is(parseIdxImages(encodeIdxImages(pixels, 2, 28, 28), 'z', { height: 28, width: 28 }).count, 2);
  t.throws(() => encodeIdxImages(pixels.subarray(0, 100), 1, 28, 28), { instanceOf: RangeError });
});
