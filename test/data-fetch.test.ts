// `data fetch` end to end against a loopback HTTP server serving files in the real formats (never
// the real hosts): success, checksum mismatch, a cut connection resumed with a Range request,
// HTTP errors, redirects, a stalled server, and the atomic .part -> final rename.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

import { DatasetError, type DownloadProgress, downloadFile, fetchDataset, loadDataset, mirrorUrls } from '../src/data';
import { MNIST } from '../src/data/registry';
import { cifarTarGz, smallCifar, smallCifarSpec, smallIdx, smallIdxSpec, startServer, tmpDir } from './data-fixtures';

const small = smallIdx(40, 10, 7);
const spec = smallIdxSpec(small);
const files: Record<string, Buffer> = {
  'train-images-idx3-ubyte.gz': small.trainImages,
  'train-labels-idx1-ubyte.gz': small.trainLabels,
  't10k-images-idx3-ubyte.gz': small.testImages,
  't10k-labels-idx1-ubyte.gz': small.testLabels,
};
const base = { systemDirs: false as const, env: {}, timeoutMs: 2000, retries: 2, retryDelayMs: 10 };

function routesFor(prefix: string): Record<string, { body: Buffer }> {
  return Object.fromEntries(Object.entries(files).map(([n, body]) => [`${prefix}/${n}`, { body }]));
}

function listing(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

test('mirror URLs: official list, override with /<name>/<file>, {name}/{file} templates, env variable', (t) => {
  t.deepEqual(mirrorUrls(MNIST, 'x.gz', { env: {} }), [
    'https://ossci-datasets.s3.amazonaws.com/mnist/x.gz',
    'https://storage.googleapis.com/cvdf-datasets/mnist/x.gz',
    'https://yann.lecun.com/exdb/mnist/x.gz',
  ]);
  t.deepEqual(mirrorUrls(MNIST, 'x.gz', { mirror: 'http://127.0.0.1:9/a/, https://h/{name}-{file}' }), ['http://127.0.0.1:9/a/mnist/x.gz', 'https://h/mnist-x.gz']);
  t.deepEqual(mirrorUrls(MNIST, 'x.gz', { env: { DENDRITE_DATA_MIRROR: 'http://localhost:1' } }), ['http://localhost:1/mnist/x.gz']);
});

test('fetch downloads, verifies and renames; the dataset then loads; a second fetch downloads nothing', async (t) => {
  const server = await startServer(routesFor('/mnist'));
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-ok');
  const progress: DownloadProgress[] = [];
  const r = await fetchDataset('mnist', { ...base, dataDir: dir, spec, mirror: server.base, onProgress: (p) => progress.push(p) });
  t.is(r.dir, path.join(dir, 'mnist'));
  t.deepEqual(r.files.map((f) => f.status), ['downloaded', 'downloaded', 'downloaded', 'downloaded']);
  t.deepEqual(listing(path.join(dir, 'mnist')), Object.keys(files).sort());
  for (const [n, b] of Object.entries(files)) t.deepEqual(fs.readFileSync(path.join(dir, 'mnist', n)), b);
  const done = progress.filter((p) => p.done);
  t.is(done.length, 4);
  t.true(done.every((p) => p.received === p.total));
  const ds = await loadDataset('mnist', { ...base, dataDir: dir, spec, cache: false });
  t.deepEqual(ds.train.images, small.train.pixels);
  const n = server.requests.length;
  const again = await fetchDataset('mnist', { ...base, dataDir: dir, spec, mirror: server.base });
  t.is(again.alreadyAt, path.join(dir, 'mnist'));
  t.is(server.requests.length, n);
});

test('wrong checksum: rejected, nothing left under the final name or as .part, the next mirror is tried', async (t) => {
  const bad = Buffer.from(small.trainLabels);
  bad[bad.length - 9] ^= 0xff; // still the right size
  const server = await startServer({ ...routesFor('/good/mnist'), '/bad/mnist/train-labels-idx1-ubyte.gz': { body: bad } });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-sum');
  const dest = path.join(dir, 'train-labels-idx1-ubyte.gz');
  const err = await t.throwsAsync(downloadFile([`${server.base}/bad/mnist/train-labels-idx1-ubyte.gz`], dest, spec.files.trainLabels, base), { instanceOf: DatasetError });
  t.is(err!.code, 'download');
  t.is(err!.file, dest);
  t.regex(err!.message, /checksum mismatch/);
  t.deepEqual(listing(dir), []);
  // With a good second mirror the file arrives from it.
  const v = await downloadFile(
    [`${server.base}/bad/mnist/train-labels-idx1-ubyte.gz`, `${server.base}/good/mnist/train-labels-idx1-ubyte.gz`],
    dest,
    spec.files.trainLabels,
    base,
  );
  t.true(v.ok);
  t.deepEqual(fs.readFileSync(dest), small.trainLabels);
  t.deepEqual(listing(dir), ['train-labels-idx1-ubyte.gz']);
});

test('connection cut mid-file: the fetch resumes with a Range request and the result verifies', async (t) => {
  const name = 'train-images-idx3-ubyte.gz';
  const routes = routesFor('/mnist');
  const cutAt = Math.floor(files[name].length / 3);
  const server = await startServer({ ...routes, [`/mnist/${name}`]: { body: files[name], cutAfter: cutAt, cuts: 1 } });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-cut');
  const r = await fetchDataset('mnist', { ...base, dataDir: dir, spec, mirror: server.base });
  t.is(r.files.length, 4);
  const reqs = server.requests.filter((q) => q.path === `/mnist/${name}`);
  t.is(reqs.length, 2);
  t.is(reqs[0].range, undefined);
  t.is(reqs[1].range, `bytes=${cutAt}-`);
  t.deepEqual(fs.readFileSync(path.join(dir, 'mnist', name)), files[name]);
});

test('an interrupted fetch leaves only a .part (never the final name); a later fetch resumes it with Range', async (t) => {
  const name = 't10k-images-idx3-ubyte.gz';
  const cutAt = 1000;
  const server = await startServer({ [`/mnist/${name}`]: { body: files[name], cutAfter: cutAt, cuts: 1 } });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-int');
  const dest = path.join(dir, name);
  const err = await t.throwsAsync(downloadFile([`${server.base}/mnist/${name}`], dest, spec.files.testImages, { ...base, retries: 0 }), { instanceOf: DatasetError });
  t.regex(err!.message, /connection (lost|closed) after/);
  t.regex(err!.message, /partial download is kept/);
  t.deepEqual(listing(dir), [`${name}.part`]);
  t.is(fs.statSync(dest + '.part').size, cutAt);
  await downloadFile([`${server.base}/mnist/${name}`], dest, spec.files.testImages, base);
  t.is(server.requests[1].range, `bytes=${cutAt}-`);
  t.deepEqual(fs.readFileSync(dest), files[name]);
  t.deepEqual(listing(dir), [name]);
});

test('a stale .part with wrong bytes is discarded after the checksum fails and the file is fetched whole', async (t) => {
  const name = 'train-images-idx3-ubyte.gz';
  const server = await startServer({ [`/mnist/${name}`]: { body: files[name] } });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-stale');
  const dest = path.join(dir, name);
  fs.writeFileSync(dest + '.part', Buffer.alloc(100, 0xaa));
  const v = await downloadFile([`${server.base}/mnist/${name}`], dest, spec.files.trainImages, base);
  t.true(v.ok);
  t.deepEqual(server.requests.map((q) => q.range), ['bytes=100-', undefined]);
  t.deepEqual(fs.readFileSync(dest), files[name]);
});

test('a server that ignores Range gets a full download (no duplicated bytes)', async (t) => {
  const name = 'train-labels-idx1-ubyte.gz';
  const server = await startServer({ [`/mnist/${name}`]: { body: files[name], ignoreRange: true, cutAfter: 500, cuts: 1 } });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-norange');
  const dest = path.join(dir, name);
  await downloadFile([`${server.base}/mnist/${name}`], dest, spec.files.trainLabels, base);
  t.deepEqual(fs.readFileSync(dest), files[name]);
});

test('HTTP 404 and 500 move on to the next mirror; a redirect is followed', async (t) => {
  const server = await startServer({
    ...routesFor('/real/mnist'),
    '/e500/mnist/train-labels-idx1-ubyte.gz': { status: 500 },
    '/moved/mnist/train-labels-idx1-ubyte.gz': { redirect: '/real/mnist/train-labels-idx1-ubyte.gz' },
  });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-http');
  const dest = path.join(dir, 'train-labels-idx1-ubyte.gz');
  const lines: string[] = [];
  await downloadFile(
    [`${server.base}/nothing/x.gz`, `${server.base}/e500/mnist/train-labels-idx1-ubyte.gz`, `${server.base}/moved/mnist/train-labels-idx1-ubyte.gz`],
    dest,
    spec.files.trainLabels,
    { ...base, log: (l) => lines.push(l) },
  );
  t.deepEqual(fs.readFileSync(dest), small.trainLabels);
  t.true(lines.some((l) => /HTTP 404/.test(l)));
  t.true(lines.some((l) => /HTTP 500/.test(l)));
  t.true(lines.some((l) => /redirected to .*\/real\/mnist\/train-labels/.test(l)));
  // All mirrors failing: one error naming each URL and its failure.
  const err = await t.throwsAsync(downloadFile([`${server.base}/nothing/a`, `${server.base}/e500/mnist/train-labels-idx1-ubyte.gz`], path.join(dir, 'other.gz'), spec.files.trainLabels, base), {
    instanceOf: DatasetError,
  });
  t.regex(err!.message, /\/nothing\/a: HTTP 404[\s\S]*\/e500\/mnist\/train-labels-idx1-ubyte.gz: HTTP 500/);
  t.false(fs.existsSync(path.join(dir, 'other.gz')));
});

test('a stalled server times out; with no retries left the fetch fails without a final file', async (t) => {
  const name = 'train-images-idx3-ubyte.gz';
  const server = await startServer({ [`/mnist/${name}`]: { body: files[name], stallAfter: 200 } });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-stall');
  const dest = path.join(dir, name);
  const t0 = Date.now();
  // 1.5 s, not less: under the sanitizer run (ASan preloaded into Node) the other tests of this
  // file can hold the event loop for a few hundred ms, and the stall timer must not fire before
  // the first 200 bytes reach the .part file (the retry then resumes from them).
  const err = await t.throwsAsync(downloadFile([`${server.base}/mnist/${name}`], dest, spec.files.trainImages, { ...base, timeoutMs: 1500, retries: 1 }), { instanceOf: DatasetError });
  // Each try got its 200 bytes, then nothing: under the minimum rate for the window.
  t.regex(err!.message, /too slow: 200 bytes in 1.5 s, under the minimum of 1024 bytes\/s/);
  t.true(Date.now() - t0 < 10000);
  t.is(server.requests.length, 2);
  t.is(server.requests[1].range, 'bytes=200-');
  t.false(fs.existsSync(dest));
});

test('a server offering the wrong size is refused before downloading', async (t) => {
  const name = 'train-labels-idx1-ubyte.gz';
  const server = await startServer({ [`/mnist/${name}`]: { body: Buffer.concat([files[name], Buffer.alloc(10)]) } });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-size');
  const err = await t.throwsAsync(downloadFile([`${server.base}/mnist/${name}`], path.join(dir, name), spec.files.trainLabels, base), { instanceOf: DatasetError });
  t.regex(err!.message, new RegExp(`server offers ${files[name].length + 10} bytes, expected ${files[name].length}`));
  t.deepEqual(listing(dir), []);
});

test('plain http is refused except on loopback', async (t) => {
  const dir = tmpDir('fetch-http-refused');
  const err = await t.throwsAsync(downloadFile(['http://example.invalid/x.gz'], path.join(dir, 'x.gz'), spec.files.trainLabels, base), { instanceOf: DatasetError });
  t.regex(err!.message, /plain http refused \(HTTPS only/);
});

test('fetch cifar10: downloads cifar-10-binary.tar.gz, verifies it, extracts the official layout; the loader reads it', async (t) => {
  const c = smallCifar(3);
  const tgz = cifarTarGz(c);
  const cspec = smallCifarSpec(3, tgz);
  const cut = Math.floor(tgz.length / 2);
  const server = await startServer({ '/cifar10/cifar-10-binary.tar.gz': { body: tgz, cutAfter: cut, cuts: 1 } });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-cifar');
  const r = await fetchDataset('cifar10', { ...base, dataDir: dir, spec: cspec, mirror: server.base });
  t.deepEqual(r.files.map((f) => f.status), ['downloaded', 'extracted', 'extracted', 'extracted', 'extracted', 'extracted', 'extracted', 'extracted']);
  t.is(server.requests[1].range, `bytes=${cut}-`);
  t.deepEqual(listing(path.join(dir, 'cifar10')), ['cifar-10-batches-bin', 'cifar-10-binary.tar.gz']);
  const ds = await loadDataset('cifar10', { ...base, dataDir: dir, spec: cspec, cache: false });
  t.is(ds.train.count, 15);
  t.deepEqual(Array.from(ds.test.labels), c.testLabels);
  // Already there: no request.
  const n = server.requests.length;
  const again = await fetchDataset('cifar10', { ...base, dataDir: dir, spec: cspec, mirror: server.base });
  t.truthy(again.alreadyAt);
  t.is(server.requests.length, n);
});

test('fetch cifar10 with a wrong archive checksum extracts nothing', async (t) => {
  const c = smallCifar(2);
  const tgz = cifarTarGz(c);
  const cspec = smallCifarSpec(2, tgz);
  const bad = Buffer.from(tgz);
  bad[bad.length - 5] ^= 1;
  const server = await startServer({ '/cifar10/cifar-10-binary.tar.gz': { body: bad } });
  t.teardown(() => server.close());
  const dir = tmpDir('fetch-cifar-bad');
  await t.throwsAsync(fetchDataset('cifar10', { ...base, dataDir: dir, spec: cspec, mirror: server.base }), { instanceOf: DatasetError, message: /checksum mismatch/ });
  t.deepEqual(listing(path.join(dir, 'cifar10')), []);
});

test('fetch of the embedded mnist-10k does nothing and reports where it is', async (t) => {
  const r = await fetchDataset('mnist-10k', { env: {} });
  t.truthy(r.alreadyAt);
  t.true(r.files.every((f) => f.status === 'present'));
});
