// Gzip bombs: 1 MB .gz files that expand to 1 GiB, far more than their IDX header or the registry
// allow, in every path that decompresses: training loads, `data verify` / `data list`, and fetch.
// Each is refused with an error naming the file, and the process's peak memory does not jump
// (before: the whole 1 GiB was allocated, sized by the lying ISIZE trailer). The real MNIST
// registry entry is used: its files are large enough (47 MB decompressed) that a 1 MB bomb passes
// the check on the stored size, which smaller specs would apply first. Serial, so that each
// peak-memory reading is that test's own.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import test from 'ava';

import { DatasetError, MNIST, downloadFile, listDatasets, loadDataset, verifyDataset } from '../src/data';
import { gunzipIfNeeded } from '../src/data/idx';
import { gzipBomb, idxImages, pattern, smallIdx, smallIdxSpec, startServer, tmpDir, writeIdx } from './data-fixtures';

const small = smallIdx(30, 12, 3);
const spec = smallIdxSpec(small);
const noSystem = { systemDirs: false as const, env: {} };
const GiB = 1024 * 1024 * 1024;
/** Loose on purpose: the bombs expand to 1 GiB; the caps are 1584 bytes and 47 MB (plus 64 KiB and one zlib chunk). */
const MAX_PEAK_GROWTH = 256 * 1024 * 1024;

/** A 1 GiB bomb whose IDX header declares 2 images (1584 bytes). */
const lyingSmall = gzipBomb(idxImages(2, pattern(0, 1)), GiB);
/** A 1 GiB bomb whose IDX header declares 70,000 images (55 MB), more than MNIST's 60,000 (47 MB). */
const lyingLarge = gzipBomb(idxImages(70000, pattern(0, 1)), GiB);

/** Runs `fn` and fails when the process's peak resident memory grew by more than MAX_PEAK_GROWTH. */
async function withinMemory<T>(t: import('ava').ExecutionContext, fn: () => Promise<T>): Promise<T> {
  const before = process.resourceUsage().maxRSS * 1024;
  const out = await fn();
  const growth = process.resourceUsage().maxRSS * 1024 - before;
  t.true(growth < MAX_PEAK_GROWTH, `peak memory grew by ${Math.round(growth / 1048576)} MiB`);
  return out;
}

function dataDirWith(file: string, bytes: Buffer): { dir: string; file: string } {
  const dir = tmpDir('bomb');
  writeIdx(path.join(dir, 'mnist'), small); // the other files: small, well-formed, not MNIST's
  fs.writeFileSync(path.join(dir, 'mnist', file), bytes);
  return { dir, file: path.join(dir, 'mnist', file) };
}

test.serial('the bombs are small files', (t) => {
  t.true(lyingSmall.length < 2 * 1024 * 1024, `${lyingSmall.length} bytes`);
  t.is(lyingSmall.readUInt32LE(lyingSmall.length - 4), 0xfffffff0); // ISIZE claims 4 GiB
});

test.serial('loading: a bomb past its IDX header is refused ("trailing"), naming the file, without the memory', async (t) => {
  const { dir, file } = dataDirWith('train-images-idx3-ubyte.gz', lyingSmall);
  const err = await withinMemory(t, () => t.throwsAsync(loadDataset('mnist', { dataDir: dir, cache: false, ...noSystem }), { instanceOf: DatasetError }));
  t.is(err!.code, 'trailing');
  t.is(err!.file, file);
  t.regex(err!.message, /^.*train-images-idx3-ubyte\.gz: gzip stream expands past the 1584 bytes its IDX header declares \(2 x 28 x 28\): refused after \d+ bytes/);
});

test.serial('loading: a bomb whose header declares more than the registry expects is refused at the registry size ("checksum")', async (t) => {
  const { dir, file } = dataDirWith('train-images-idx3-ubyte.gz', lyingLarge);
  const err = await withinMemory(t, () => t.throwsAsync(loadDataset('mnist', { dataDir: dir, verify: false, cache: false, ...noSystem }), { instanceOf: DatasetError }));
  t.is(err!.code, 'checksum');
  t.is(err!.file, file);
  t.regex(err!.message, /gzip stream expands past the 47040016 bytes of the dataset's file; its IDX header declares 54880016 \(70000 x 28 x 28\)/);
});

test.serial('data verify and data list: a bomb is a failed file, with the reason, without the memory', async (t) => {
  const { dir, file } = dataDirWith('t10k-images-idx3-ubyte.gz', lyingSmall);
  const report = await withinMemory(t, () => verifyDataset('mnist', { dataDir: dir, ...noSystem }));
  t.false(report.ok);
  const bad = report.files.find((f) => f.file === file)!;
  t.false(bad.ok);
  t.regex(bad.how, /^checksum mismatch: file has \d+ bytes \(sha256 [0-9a-f]{64}\); gzip stream expands past the 1584 bytes its IDX header declares/);
  const [entry] = await withinMemory(t, () => listDatasets({ dataDir: dir, specs: [MNIST], ...noSystem }));
  t.false(entry.verified);
  t.regex(entry.detail, /t10k-images-idx3-ubyte\.gz: checksum mismatch: .*gzip stream expands past/);
});

test.serial('fetch: a bomb of the expected download size is rejected by the verification, nothing kept', async (t) => {
  // The spec expects a download of the bomb's size (another checksum), so only the raw rule, which
  // decompresses, can judge it.
  const fspec = { ...MNIST.files.trainImages, download: { size: lyingSmall.length, sha256: '0'.repeat(64) } };
  const server = await startServer({ '/m/x.gz': { body: lyingSmall } });
  t.teardown(() => server.close());
  const dir = tmpDir('bomb-fetch');
  const dest = path.join(dir, 'train-images-idx3-ubyte.gz');
  const err = await withinMemory(t, () => t.throwsAsync(downloadFile([`${server.base}/m/x.gz`], dest, fspec, { timeoutMs: 5000, retries: 0 }), { instanceOf: DatasetError }));
  t.is(err!.code, 'download');
  t.regex(err!.message, new RegExp(`${server.base}/m/x.gz: checksum mismatch: .*gzip stream expands past the 1584 bytes its IDX header declares`));
  t.deepEqual(fs.readdirSync(dir), []);
});

test.serial('without a registry size, the IDX header alone caps the output', async (t) => {
  const err = await withinMemory(t, () => t.throwsAsync(gunzipIfNeeded(lyingSmall, 'bomb.gz', undefined), { instanceOf: DatasetError }));
  t.is(err!.code, 'trailing');
  t.regex(err!.message, /^bomb\.gz: gzip stream expands past the 1584 bytes its IDX header declares/);
});

test.serial('a file on disk far larger than any form of it is not read', async (t) => {
  const big = Buffer.concat([small.raw.trainLabels, Buffer.alloc(1024 * 1024)]);
  const { dir, file } = dataDirWith('train-labels-idx1-ubyte.gz', big);
  const err = await t.throwsAsync(loadDataset('mnist', { dataDir: dir, spec, cache: false, ...noSystem }), { instanceOf: DatasetError });
  t.is(err!.code, 'checksum');
  t.is(err!.file, file);
  const largest = Math.max(small.trainLabels.length, small.raw.trainLabels.length);
  t.regex(err!.message, new RegExp(`${big.length} bytes, far more than the ${largest} this file may hold; not read`));
});

test.serial('honest gzip files still decompress, also as several concatenated members', async (t) => {
  t.deepEqual(await gunzipIfNeeded(small.testImages, 'ok.gz', small.raw.testImages.length), small.raw.testImages);
  const half = small.raw.testImages.length >> 1;
  const members = Buffer.concat([zlib.gzipSync(small.raw.testImages.subarray(0, half)), zlib.gzipSync(small.raw.testImages.subarray(half))]);
  t.deepEqual(await gunzipIfNeeded(members, 'two.gz', small.raw.testImages.length), small.raw.testImages);
});
