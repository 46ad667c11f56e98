// The data commands end to end (spawned), and the PNG writer behind `data show`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

import { DatasetError, crc32, encodePng, gridPng, loadDataset, locateDataset, pickSamples, renderGrid } from '../src/data';
import { FASHION_MNIST, MNIST } from '../src/data/registry';
import { decodePng } from './reference/png';
import { cifarPixel, smallCifar, smallCifarSpec, smallIdx, startServer, tmpDir, writeIdx } from './data-fixtures';

const RUNNER = path.join(__dirname, 'data-cli-runner.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const base = { ...process.env };
  delete base.DENDRITE_DATA_DIR;
  delete base.DENDRITE_DATA_MIRROR;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER, ...args], { env: { ...base, XDG_CACHE_HOME: tmpDir('xdg'), ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function where(spec: typeof MNIST, opts = {}): string | undefined {
  try {
    return locateDataset(spec, opts).dir;
  } catch (err) {
    if (err instanceof DatasetError) return undefined;
    throw err;
  }
}

test('crc32 known answer ("123456789" -> 0xcbf43926)', (t) => {
  t.is(crc32(Buffer.from('123456789')), 0xcbf43926);
});

test('encodePng: gray and RGB images round-trip through an independent decoder (CRCs checked)', (t) => {
  const gray = Uint8Array.from({ length: 7 * 5 }, (_, i) => (i * 29) & 255);
  const g = decodePng(encodePng(7, 5, 1, gray));
  t.deepEqual([g.width, g.height, g.channels], [7, 5, 1]);
  t.deepEqual(g.pixels, gray);
  t.deepEqual(g.chunks, ['IHDR', 'IDAT', 'IEND']);
  const rgb = Uint8Array.from({ length: 3 * 4 * 3 }, (_, i) => (i * 53) & 255);
  const c = decodePng(encodePng(3, 4, 3, rgb));
  t.deepEqual([c.width, c.height, c.channels], [3, 4, 3]);
  t.deepEqual(c.pixels, rgb);
  t.throws(() => encodePng(3, 4, 3, rgb.subarray(1)), { instanceOf: RangeError });
});

test('sample grid of CIFAR images: RGB tiles show pixel (x, y) with the R, G, B planes of that pixel', async (t) => {
  const small = smallCifar(4);
  const dir = tmpDir('show-cifar');
  const root = path.join(dir, 'cifar10', 'cifar-10-batches-bin');
  fs.mkdirSync(root, { recursive: true });
  for (const [n, b] of Object.entries(small.members)) fs.writeFileSync(path.join(root, n), b);
  const ds = await loadDataset('cifar10', { dataDir: dir, spec: smallCifarSpec(4), systemDirs: false, cache: false });
  const rows = pickSamples(ds.train, 2);
  const grid = renderGrid(ds.train, rows, { scale: 2 });
  const png = decodePng(gridPng(grid));
  t.is(png.channels, 3);
  t.is(png.width, grid.width);
  for (let r = 0; r < rows.length; r++) {
    for (let k = 0; k < rows[r].length; k++) {
      const i = rows[r][k];
      t.is(ds.train.labels[i], r); // one row per class
      const { x: ox, y: oy } = grid.origin(r, k);
      for (const [y, x] of [
        [0, 0],
        [0, 31],
        [31, 0],
        [7, 20],
      ]) {
        for (const [dy, dx] of [
          [0, 0],
          [1, 1],
        ]) {
          const o = ((oy + 2 * y + dy) * png.width + ox + 2 * x + dx) * 3;
          t.deepEqual(Array.from(png.pixels.subarray(o, o + 3)), [0, 1, 2].map((c) => cifarPixel(i, c, y, x)), `image ${i} y${y} x${x}`);
        }
      }
    }
  }
});

test('data show mnist-10k --out: a grayscale PNG grid, one row per class, tiles equal the images (scaled 3x)', async (t) => {
  const out = path.join(tmpDir('show'), 'grid.png');
  const r = await cli(['data', 'show', 'mnist-10k', '--out', out, '--per-class', '3', '--split', 'test']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /30 mnist-10k test images, one row per class/);
  const png = decodePng(fs.readFileSync(out));
  t.is(png.channels, 1);
  const ds = await loadDataset('mnist-10k');
  const rows = pickSamples(ds.test, 3);
  const grid = renderGrid(ds.test, rows);
  t.is(grid.scale, 3);
  t.deepEqual([png.width, png.height], [grid.width, grid.height]);
  for (let c = 0; c < 10; c++) {
    const i = rows[c][1];
    const { x: ox, y: oy } = grid.origin(c, 1);
    let diff = 0;
    for (let y = 0; y < 84; y++) for (let x = 0; x < 84; x++) if (png.pixels[(oy + y) * png.width + ox + x] !== ds.test.images[i * 784 + Math.floor(y / 3) * 28 + Math.floor(x / 3)]) diff++;
    t.is(diff, 0, `class ${c}`);
    // The caption strip under the tile has some white (label) pixels.
    let ink = 0;
    for (let y = 84; y < 95; y++) for (let x = 0; x < 84; x++) if (png.pixels[(oy + y) * png.width + ox + x] === 255) ink++;
    t.true(ink > 5, `caption of class ${c}`);
  }
});

test('data show: a seeded sample differs from the first images and is reproducible', async (t) => {
  const dir = tmpDir('show-seed');
  const a = path.join(dir, 'a.png');
  const b = path.join(dir, 'b.png');
  const f = path.join(dir, 'f.png');
  t.is((await cli(['data', 'show', 'mnist-10k', '-o', a, '--seed', '5', '--per-class', '2'])).code, 0);
  t.is((await cli(['data', 'show', 'mnist-10k', '-o', b, '--seed', '5', '--per-class', '2'])).code, 0);
  t.is((await cli(['data', 'show', 'mnist-10k', '-o', f, '--per-class', '2'])).code, 0);
  t.deepEqual(fs.readFileSync(a), fs.readFileSync(b));
  t.notDeepEqual(fs.readFileSync(a), fs.readFileSync(f));
});

test('data list --json: mnist-10k verified; MNIST absent from an empty data dir, with the fetch command', async (t) => {
  const dir = tmpDir('list');
  const r = await cli(['data', 'list', '--json', '--data-dir', dir]);
  t.is(r.code, 0, r.stderr);
  const entries = JSON.parse(r.stdout) as Array<{ name: string; present: boolean; verified?: boolean; dir: string; detail: string; bytes: number }>;
  t.deepEqual(entries.map((e) => e.name), ['mnist-10k', 'mnist', 'fashion-mnist', 'cifar10']);
  const m10k = entries[0];
  t.true(m10k.present && m10k.verified === true);
  t.true(m10k.bytes > 1_400_000 && m10k.bytes < 1_700_000);
  const mnist = entries[1];
  t.false(mnist.present);
  t.is(mnist.dir, path.join(dir, 'mnist'));
  t.regex(mnist.detail, /dendrite-bench data fetch mnist/);
  const text = await cli(['data', 'list', '--data-dir', dir]);
  t.regex(text.stdout, new RegExp(`data directory: ${dir} \\(--data-dir\\)`));
  t.regex(text.stdout, /mnist-10k\s+verified/);
  t.regex(text.stdout, /mnist\s+absent/);
});

test('DENDRITE_DATA_DIR and XDG_CACHE_HOME choose the data directory when --data-dir is absent', async (t) => {
  const env = tmpDir('envdir');
  const r1 = await cli(['data', 'list', '--no-verify'], { DENDRITE_DATA_DIR: env });
  t.regex(r1.stdout, new RegExp(`data directory: ${env} \\(DENDRITE_DATA_DIR\\)`));
  const xdg = tmpDir('xdg2');
  const r2 = await cli(['data', 'list', '--no-verify'], { XDG_CACHE_HOME: xdg });
  t.regex(r2.stdout, new RegExp(`data directory: ${path.join(xdg, 'dendrite-bench')} \\(default cache folder\\)`));
});

test('data verify: small files fail the official checksums (exit 1, BAD lines); a missing dataset is an error naming the file', async (t) => {
  const dir = tmpDir('verify');
  writeIdx(path.join(dir, 'mnist'), smallIdx(10, 10));
  const r = await cli(['data', 'verify', 'mnist', '--data-dir', dir]);
  t.is(r.code, 1);
  t.regex(r.stdout, /BAD .*train-images-idx3-ubyte.gz: checksum mismatch/);
  t.regex(r.stdout, /mnist: FAILED verification/);
  const missing = await cli(['data', 'verify', 'cifar10', '--data-dir', dir]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, new RegExp(`${path.join(dir, 'cifar10', 'cifar-10-batches-bin', 'data_batch_1.bin')}: file not found.*data fetch cifar10`));
  const unknown = await cli(['data', 'fetch', 'imagenet', '--data-dir', dir]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /unknown dataset "imagenet"/);
});

const shared = where(MNIST, { env: process.env, systemDirs: false });
const withMnist = shared ? test : test.skip;
withMnist(
  `data fetch mnist from a loopback mirror serving the real official files: progress on stderr, verified, then data verify passes${shared ? '' : ' [skipped: MNIST not found; set DENDRITE_DATA_DIR to a folder holding mnist/ (CI: ../shared/datasets)]'}`,
  async (t) => {
    const routes: Record<string, { body: Buffer; cutAfter?: number }> = {};
    for (const f of Object.values(MNIST.files)) routes[`/mnist/${f.name}`] = { body: fs.readFileSync(path.join(shared!, f.name)) };
    routes['/mnist/train-images-idx3-ubyte.gz'].cutAfter = 3_000_000; // and resume it
    const server = await startServer(routes);
    t.teardown(() => server.close());
    const dir = tmpDir('fetch-real');
    const r = await cli(['data', 'fetch', 'mnist', '--data-dir', dir, '--mirror', server.base]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /train-images-idx3-ubyte.gz: .*%/);
    t.regex(r.stderr, /connection lost after \d+ of 9912422 bytes/);
    t.regex(r.stderr, /resuming at byte \d+/);
    t.notRegex(r.stderr, /rejected/); // the resumed file verified the first time
    t.regex(r.stdout, /downloaded .*train-images-idx3-ubyte.gz \(download sha256\)/);
    t.deepEqual(fs.readdirSync(path.join(dir, 'mnist')).sort(), ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', 'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']);
    const v = await cli(['data', 'verify', 'mnist', '--data-dir', dir]);
    t.is(v.code, 0, v.stdout + v.stderr);
    t.regex(v.stdout, /mnist: verified/);
    // Through the environment variable instead of --mirror: everything already there.
    const again = await cli(['data', 'fetch', 'mnist', '--data-dir', dir], { DENDRITE_DATA_MIRROR: server.base });
    t.regex(again.stdout, /already available and verified/);
  },
);

const debian = where(FASHION_MNIST, { dataDir: tmpDir('nofashion') });
const withDebian = debian === '/usr/share/datasets/fashion-mnist' ? test : test.skip;
withDebian(
  `data fetch fashion-mnist finds the Debian package copy and downloads nothing${debian ? '' : ' [skipped: apt-get install dataset-fashion-mnist]'}`,
  async (t) => {
    const r = await cli(['data', 'fetch', 'fashion-mnist', '--data-dir', tmpDir('fm'), '--mirror', 'http://127.0.0.1:9']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /already available and verified in \/usr\/share\/datasets\/fashion-mnist/);
  },
);
