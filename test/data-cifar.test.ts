// CIFAR-10 binary version on small files in the exact official format: record layout (label byte,
// then R, G, B planes of 32 rows of 32), orientation, class names, bad input; and the tar reader.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import test from 'ava';

import { DatasetError, TarParser, type TarHeader, extractCifar, loadDataset } from '../src/data';
import { cifarPixel, cifarTarGz, makeTar, smallCifar, smallCifarSpec, tarHeader, tmpDir } from './data-fixtures';

const noSystem = { systemDirs: false as const, env: {} };
const small = smallCifar(4);
const spec = smallCifarSpec(4);

function writeExtracted(dir: string, replace: Record<string, Buffer | null> = {}): string {
  const root = path.join(dir, 'cifar10', 'cifar-10-batches-bin');
  fs.mkdirSync(root, { recursive: true });
  for (const [n, b] of Object.entries({ ...small.members, ...replace })) if (b) fs.writeFileSync(path.join(root, n), b);
  return root;
}

test('CIFAR-10 records load channel-major with the right orientation: pixel (c, y, x) of record r', async (t) => {
  const dir = tmpDir('cifar');
  writeExtracted(dir);
  const ds = await loadDataset('cifar10', { dataDir: dir, spec, cache: false, ...noSystem });
  t.deepEqual(ds.shape, [3, 32, 32]);
  t.is(ds.train.count, 20);
  t.is(ds.test.count, 4);
  t.deepEqual(Array.from(ds.train.labels), small.trainLabels);
  t.deepEqual(Array.from(ds.test.labels), small.testLabels);
  t.deepEqual(ds.classNames, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  for (const [set, first] of [
    [ds.train, 0],
    [ds.test, 20],
  ] as const) {
    for (let r = 0; r < set.count; r++) {
      for (let c = 0; c < 3; c++) {
        for (const [y, x] of [
          [0, 0],
          [0, 31],
          [31, 0],
          [5, 17],
          [31, 31],
        ]) {
          t.is(set.images[r * 3072 + c * 1024 + y * 32 + x], cifarPixel(first + r, c, y, x), `record ${first + r} c${c} y${y} x${x}`);
        }
      }
    }
  }
  // Exhaustive for one record: the whole 3x32x32 image equals the record minus its label byte.
  const rec = small.members['data_batch_2.bin'].subarray(3073, 2 * 3073);
  t.deepEqual(ds.train.images.subarray(5 * 3072, 6 * 3072), new Uint8Array(rec.subarray(1)));
});

test('class names come from batches.meta.txt (blank lines ignored)', async (t) => {
  const dir = tmpDir('cifar-meta');
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  writeExtracted(dir, { 'batches.meta.txt': Buffer.from('\n' + names.join('\r\n') + '\n\n') });
  const ds = await loadDataset('cifar10', { dataDir: dir, spec, cache: false, ...noSystem });
  t.deepEqual(ds.classNames, names);
  t.deepEqual(ds.train.classNames, names);
});

async function expectError(t: import('ava').ExecutionContext, replace: Record<string, Buffer | null>, file: string, code: string, re: RegExp) {
  const dir = tmpDir('cifar-bad');
  const root = writeExtracted(dir, replace);
  const err = await t.throwsAsync(loadDataset('cifar10', { dataDir: dir, spec, cache: false, ...noSystem }), { instanceOf: DatasetError });
  t.is(err!.code as string, code, err!.message);
  t.is(err!.file, path.join(root, file));
  t.regex(err!.message, re);
}

test('CIFAR file length not a multiple of 3073', async (t) => {
  const b = small.members['data_batch_3.bin'];
  await expectError(t, { 'data_batch_3.bin': b.subarray(0, b.length - 10) }, 'data_batch_3.bin', 'truncated', /length 12282 is not a multiple of the 3073-byte record \(3 records \+ 3063 bytes\)/);
});

test('CIFAR file with the wrong record count', async (t) => {
  const b = small.members['test_batch.bin'];
  await expectError(t, { 'test_batch.bin': b.subarray(0, 3 * 3073) }, 'test_batch.bin', 'count', /3 records \(9219 bytes\), expected 4/);
});

test('CIFAR label byte out of range', async (t) => {
  const b = Buffer.from(small.members['data_batch_5.bin']);
  b[2 * 3073] = 10;
  await expectError(t, { 'data_batch_5.bin': b }, 'data_batch_5.bin', 'label', /label of record 2 is 10, out of range 0\.\.9/);
});

test('CIFAR missing batch file says how to get it', async (t) => {
  await expectError(t, { 'data_batch_4.bin': null }, 'data_batch_4.bin', 'missing', /dendrite-bench data fetch cifar10/);
});

test('CIFAR meta file with the wrong number of names', async (t) => {
  await expectError(t, { 'batches.meta.txt': Buffer.from('cat\ndog\n') }, 'batches.meta.txt', 'count', /2 class names, expected 10/);
});

test('the official CIFAR spec requires 10,000 records per file', async (t) => {
  const dir = tmpDir('cifar-off');
  writeExtracted(dir);
  const err = await t.throwsAsync(loadDataset('cifar10', { dataDir: dir, cache: false, ...noSystem }), { instanceOf: DatasetError });
  t.regex(err!.message, /4 records \(12292 bytes\), expected 10000 \(30730000 bytes\)/);
});

test('extractCifar: reads the official tar.gz layout, extracts only the members, writes a manifest; the loader then verifies against it', async (t) => {
  const dir = tmpDir('cifar-x');
  const archive = path.join(dir, 'cifar10', 'cifar-10-binary.tar.gz');
  fs.mkdirSync(path.dirname(archive), { recursive: true });
  fs.writeFileSync(archive, cifarTarGz(small));
  const out = await extractCifar(archive, path.join(dir, 'cifar10'), spec);
  t.is(out.length, 7);
  const root = path.join(dir, 'cifar10', 'cifar-10-batches-bin');
  t.deepEqual(fs.readdirSync(root).sort(), ['.dendrite-manifest.json', 'batches.meta.txt', 'data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']);
  for (const [n, b] of Object.entries(small.members)) t.deepEqual(fs.readFileSync(path.join(root, n)), b, n);
  const ds = await loadDataset('cifar10', { dataDir: dir, spec, cache: false, ...noSystem });
  t.is(ds.train.count, 20);
  // A member changed after extraction no longer matches the manifest.
  const f = path.join(root, 'data_batch_1.bin');
  const b = fs.readFileSync(f);
  b[100] ^= 1;
  fs.writeFileSync(f, b);
  const err = await t.throwsAsync(loadDataset('cifar10', { dataDir: dir, spec, cache: false, ...noSystem }), { instanceOf: DatasetError });
  t.is(err!.code, 'checksum');
  t.is(err!.file, f);
});

async function extractError(t: import('ava').ExecutionContext, tarGz: Buffer, re: RegExp, code = 'archive') {
  const dir = tmpDir('cifar-xbad');
  const archive = path.join(dir, 'a.tar.gz');
  fs.writeFileSync(archive, tarGz);
  const err = await t.throwsAsync(extractCifar(archive, dir, spec), { instanceOf: DatasetError });
  t.is(err!.code as string, code, err!.message);
  t.is(err!.file, archive);
  t.regex(err!.message, re);
  // Nothing that looks complete is left behind.
  const root = path.join(dir, 'cifar-10-batches-bin');
  const left = fs.existsSync(root) ? fs.readdirSync(root) : [];
  t.deepEqual(left, []);
}

test('extractCifar rejects a link where a member belongs', async (t) => {
  const members = Object.entries(small.members).map(([n, data]) => ({ name: `cifar-10-batches-bin/${n}`, data }));
  members[2] = { name: 'cifar-10-batches-bin/data_batch_3.bin', type: '2', linkName: '/etc/passwd' } as never;
  await extractError(t, zlib.gzipSync(makeTar(members)), /member cifar-10-batches-bin\/data_batch_3.bin is a symlink, expected a regular file/);
});

test('extractCifar rejects paths outside the directory', async (t) => {
  const members = [{ name: '../evil.bin', data: Buffer.from('x') }, ...Object.entries(small.members).map(([n, data]) => ({ name: `cifar-10-batches-bin/${n}`, data }))];
  await extractError(t, zlib.gzipSync(makeTar(members)), /unsafe member path "\.\.\/evil\.bin"/);
  await extractError(t, zlib.gzipSync(makeTar([{ name: '/tmp/evil.bin', data: Buffer.from('x') }])), /unsafe member path "\/tmp\/evil\.bin"/);
});

test('extractCifar rejects a missing member, a wrongly sized member, a truncated archive and corrupt gzip', async (t) => {
  const entries = Object.entries(small.members).map(([n, data]) => ({ name: `cifar-10-batches-bin/${n}`, data }));
  await extractError(t, zlib.gzipSync(makeTar(entries.filter((e) => !e.name.endsWith('test_batch.bin')))), /member cifar-10-batches-bin\/test_batch.bin is missing/);
  const short = entries.map((e) => (e.name.endsWith('data_batch_2.bin') ? { ...e, data: e.data.subarray(0, 3073) } : e));
  await extractError(t, zlib.gzipSync(makeTar(short)), /data_batch_2.bin holds 3073 bytes, expected 12292/, 'count');
  const tar = makeTar(entries);
  await extractError(t, zlib.gzipSync(tar.subarray(0, 5000)), /ends in the middle of a member/);
  const gz = zlib.gzipSync(tar);
  await extractError(t, gz.subarray(0, gz.length - 30), /corrupt or truncated gzip stream/, 'gzip');
});

test('extractCifar refuses an oversized member, and an oversized pax record, from the header, before writing or buffering any of it', async (t) => {
  const pad = Buffer.alloc(512 * 8);
  const huge = Buffer.concat([tarHeader('cifar-10-batches-bin/data_batch_1.bin', 8_000_000_000, '0'), pad]);
  await extractError(t, zlib.gzipSync(huge), /member cifar-10-batches-bin\/data_batch_1.bin holds 8000000000 bytes, expected 12292/, 'count');
  const meta = Buffer.concat([tarHeader('cifar-10-batches-bin/batches.meta.txt', 1_000_000, '0'), pad]);
  await extractError(t, zlib.gzipSync(meta), /batches.meta.txt holds 1000000 bytes, more than the 65536/);
  const pax = Buffer.concat([tarHeader('PaxHeader', 2_000_000, 'x'), pad]);
  await extractError(t, zlib.gzipSync(pax), /pax header record of 2000000 bytes/);
});

async function readTar(tar: Buffer, chunk = 700): Promise<Array<TarHeader & { data: Buffer }>> {
  const out: Array<TarHeader & { data: Buffer }> = [];
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk));
  await pipeline(
    Readable.from(parts),
    new TarParser('x.tar', (h) => {
      const e = { ...h, data: Buffer.alloc(0) };
      out.push(e);
      return (c) => (e.data = Buffer.concat([e.data, c]));
    }),
  );
  return out;
}

test('tar reader: ustar prefix, GNU long names, pax path records, odd chunking', async (t) => {
  const long = 'd'.repeat(60) + '/' + 'x'.repeat(80) + '.bin'; // > 100 bytes: stored as prefix + name
  const pax = Buffer.from(`${(' path=' + 'p'.repeat(150) + '\n').length + 3} path=${'p'.repeat(150)}\n`);
  t.is(Number(pax.toString().split(' ')[0]), pax.length);
  const gnuName = 'g/' + 'y'.repeat(130);
  const tar = Buffer.concat([
    tarHeader('a.txt', 3, '0'),
    Buffer.concat([Buffer.from('abc'), Buffer.alloc(509)]),
    makeTar([{ name: long, data: Buffer.alloc(600, 7) }]).subarray(0, 512 * 3),
    tarHeader('././@LongLink', gnuName.length + 1, 'L'),
    Buffer.concat([Buffer.from(gnuName + '\0'), Buffer.alloc(512 - gnuName.length - 1)]),
    tarHeader('truncated-name', 2, '0'),
    Buffer.concat([Buffer.from('hi'), Buffer.alloc(510)]),
    tarHeader('PaxHeader', pax.length, 'x'),
    Buffer.concat([pax, Buffer.alloc(512 - pax.length)]),
    tarHeader('short', 1, '0'),
    Buffer.concat([Buffer.from('z'), Buffer.alloc(511)]),
    Buffer.alloc(1024),
  ]);
  for (const chunk of [1, 100, 512, 700, 100000]) {
    const entries = await readTar(tar, chunk);
    t.deepEqual(
      entries.map((e) => [e.name, e.type, e.data.toString('latin1')]),
      [
        ['a.txt', 'file', 'abc'],
        [long, 'file', '\x07'.repeat(600)],
        [gnuName, 'file', 'hi'],
        ['p'.repeat(150), 'file', 'z'],
      ],
      `chunk ${chunk}`,
    );
  }
});

test('tar reader: a corrupt header checksum is an archive error', async (t) => {
  const tar = makeTar([{ name: 'a', data: Buffer.from('abc') }]);
  tar[10] ^= 1;
  const err = await t.throwsAsync(readTar(tar), { instanceOf: DatasetError });
  t.regex(err!.message, /^x\.tar: tar header checksum/);
});
