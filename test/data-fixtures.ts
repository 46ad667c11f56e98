// Fixtures for the data tests: files in the exact official formats (IDX, CIFAR-10 binary
// records, ustar tarballs), specs carrying their checksums, and a loopback HTTP server.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

import { CIFAR10, type CifarSpec, type FileSpec, type IdxSpec, MNIST } from '../src/data/registry';

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `dendrite-${tag}-`));
}

export function sha256(b: Uint8Array): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}
export function md5(b: Uint8Array): string {
  return crypto.createHash('md5').update(b).digest('hex');
}

/** A deterministic pseudo-random byte pattern (not the code under test's PRNG). */
export function pattern(n: number, salt: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (salt * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function idxImages(count: number, pixels: Uint8Array, h = 28, w = 28): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x803, 0);
  head.writeUInt32BE(count, 4);
  head.writeUInt32BE(h, 8);
  head.writeUInt32BE(w, 12);
  return Buffer.concat([head, Buffer.from(pixels)]);
}

export function idxLabels(labels: ArrayLike<number>): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(0x801, 0);
  head.writeUInt32BE(labels.length, 4);
  return Buffer.concat([head, Buffer.from(Uint8Array.from(labels))]);
}

export interface SmallIdx {
  trainImages: Buffer;
  trainLabels: Buffer;
  testImages: Buffer;
  testLabels: Buffer;
  /** Uncompressed contents, same keys. */
  raw: { trainImages: Buffer; trainLabels: Buffer; testImages: Buffer; testLabels: Buffer };
  train: { pixels: Uint8Array; labels: number[] };
  test: { pixels: Uint8Array; labels: number[] };
}

/** Small MNIST-format files: nTrain/nTest 28x28 images, labels cycling 0..9, gzipped. */
export function smallIdx(nTrain = 30, nTest = 12, salt = 1): SmallIdx {
  const trainPx = pattern(nTrain * 784, salt);
  const testPx = pattern(nTest * 784, salt + 100);
  const trainLb = Array.from({ length: nTrain }, (_, i) => (i * 7 + 3) % 10);
  const testLb = Array.from({ length: nTest }, (_, i) => (i * 3 + 1) % 10);
  const raw = {
    trainImages: idxImages(nTrain, trainPx),
    trainLabels: idxLabels(trainLb),
    testImages: idxImages(nTest, testPx),
    testLabels: idxLabels(testLb),
  };
  const gz = (b: Buffer): Buffer => zlib.gzipSync(b);
  return {
    trainImages: gz(raw.trainImages),
    trainLabels: gz(raw.trainLabels),
    testImages: gz(raw.testImages),
    testLabels: gz(raw.testLabels),
    raw,
    train: { pixels: trainPx, labels: trainLb },
    test: { pixels: testPx, labels: testLb },
  };
}

function fileSpec(name: string, gz: Buffer, raw: Buffer): FileSpec {
  return {
    name,
    download: { size: gz.length, md5: md5(gz), sha256: sha256(gz) },
    raw: { size: raw.length, md5: md5(raw), sha256: sha256(raw) },
  };
}

/** The MNIST spec with the small files' sizes, checksums and counts injected. */
export function smallIdxSpec(s: SmallIdx, base: IdxSpec = MNIST): IdxSpec {
  return {
    ...base,
    counts: { train: s.train.labels.length, test: s.test.labels.length },
    files: {
      trainImages: fileSpec(base.files.trainImages.name, s.trainImages, s.raw.trainImages),
      trainLabels: fileSpec(base.files.trainLabels.name, s.trainLabels, s.raw.trainLabels),
      testImages: fileSpec(base.files.testImages.name, s.testImages, s.raw.testImages),
      testLabels: fileSpec(base.files.testLabels.name, s.testLabels, s.raw.testLabels),
    },
    systemDirs: [],
  };
}

/** Writes the four files (gzipped, official names) into dir. */
export function writeIdx(dir: string, s: SmallIdx, spec: IdxSpec = MNIST): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, spec.files.trainImages.name), s.trainImages);
  fs.writeFileSync(path.join(dir, spec.files.trainLabels.name), s.trainLabels);
  fs.writeFileSync(path.join(dir, spec.files.testImages.name), s.testImages);
  fs.writeFileSync(path.join(dir, spec.files.testLabels.name), s.testLabels);
}

/**
 * One CIFAR-10 record whose pixel (c, y, x) is a known function of (record, c, y, x), so a test can
 * check the layout: value = (r * 7 + c * 85 + y * 3 + x * 5) & 255.
 */
export function cifarPixel(r: number, c: number, y: number, x: number): number {
  return (r * 7 + c * 85 + y * 3 + x * 5) & 255;
}

export function cifarRecords(first: number, labels: number[]): Buffer {
  const out = Buffer.alloc(labels.length * 3073);
  labels.forEach((label, k) => {
    const off = k * 3073;
    out[off] = label;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[off + 1 + 1024 * c + 32 * y + x] = cifarPixel(first + k, c, y, x);
  });
  return out;
}

export interface SmallCifar {
  /** member file name -> bytes */
  members: Record<string, Buffer>;
  perFile: number;
  trainLabels: number[];
  testLabels: number[];
}

/** Six batch files of `perFile` records each, plus batches.meta.txt with a trailing blank line. */
export function smallCifar(perFile = 4): SmallCifar {
  const members: Record<string, Buffer> = {};
  const trainLabels: number[] = [];
  let r = 0;
  for (let b = 1; b <= 5; b++) {
    const labels = Array.from({ length: perFile }, (_, k) => (r + k) % 10);
    members[`data_batch_${b}.bin`] = cifarRecords(r, labels);
    trainLabels.push(...labels);
    r += perFile;
  }
  const testLabels = Array.from({ length: perFile }, (_, k) => (9 - k) % 10);
  members['test_batch.bin'] = cifarRecords(r, testLabels);
  members['batches.meta.txt'] = Buffer.from(CIFAR10.classNames.join('\n') + '\n\n');
  return { members, perFile, trainLabels, testLabels };
}

export function smallCifarSpec(perFile: number, archive?: Buffer): CifarSpec {
  return {
    ...CIFAR10,
    counts: { train: 5 * perFile, test: perFile },
    recordsPerFile: perFile,
    archive: archive ? { name: CIFAR10.archive.name, download: { size: archive.length, md5: md5(archive), sha256: sha256(archive) } } : CIFAR10.archive,
    systemDirs: [],
  };
}

// ---- ustar writer ----------------------------------------------------------------------------

export interface TarMember {
  name: string;
  data?: Buffer;
  type?: '0' | '2' | '5' | '1' | 'L' | 'x';
  linkName?: string;
  /** Write the name as prefix + name (ustar split) when longer than 100 bytes. */
}

function octalField(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

export function tarHeader(name: string, size: number, type: string, linkName = '', prefix = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octalField(0o644, 8), 100, 'ascii');
  h.write(octalField(0, 8), 108, 'ascii');
  h.write(octalField(0, 8), 116, 'ascii');
  h.write(octalField(size, 12), 124, 'ascii');
  h.write(octalField(1262304000, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write(linkName, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('user', 265, 'ascii');
  h.write('group', 297, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function pad(b: Buffer): Buffer {
  const rem = b.length % 512;
  return rem === 0 ? b : Buffer.concat([b, Buffer.alloc(512 - rem)]);
}

/** A tar archive (ustar headers, data padded to 512, two zero blocks at the end). */
export function makeTar(members: TarMember[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const data = m.data ?? Buffer.alloc(0);
    const type = m.type ?? '0';
    let name = m.name;
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf('/', name.length - 1);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    }
    const size = type === '0' || type === 'L' || type === 'x' ? data.length : 0;
    parts.push(tarHeader(name, size, type, m.linkName ?? '', prefix));
    if (size > 0) parts.push(pad(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The official layout: cifar-10-batches-bin/<members>, plus a directory entry and readme.html. */
export function cifarTarGz(c: SmallCifar): Buffer {
  const members: TarMember[] = [{ name: 'cifar-10-batches-bin/', type: '5' }];
  for (const [n, data] of Object.entries(c.members)) members.push({ name: `cifar-10-batches-bin/${n}`, data });
  members.push({ name: 'cifar-10-batches-bin/readme.html', data: Buffer.from('<meta HTTP-EQUIV="REFRESH" content="0; url=http://www.cs.toronto.edu/~kriz/cifar.html">\n') });
  return zlib.gzipSync(makeTar(members));
}

/**
 * A gzip bomb: `head` (e.g. an IDX header), then zeros until the decompressed length reaches
 * `expandTo`, as concatenated gzip members (gunzip reads them all), built from one 1 MiB member
 * so that neither building nor holding it takes memory: about 1 KiB per MiB it expands to. The last
 * member's ISIZE trailer claims 4 GiB, a lie a decompressor must not size its output by.
 */
export function gzipBomb(head: Buffer, expandTo: number): Buffer {
  const mib = zlib.gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const members = [zlib.gzipSync(head)];
  for (let n = head.length; n < expandTo; n += 1 << 20) members.push(mib);
  const bomb = Buffer.concat(members);
  bomb.writeUInt32LE(0xfffffff0, bomb.length - 4);
  return bomb;
}

// ---- loopback HTTP server ----------------------------------------------------------------------

export interface Route {
  body?: Buffer;
  status?: number;
  /** Location for a 302. */
  redirect?: string;
  /** Cut the connection after this many body bytes, for the first `cuts` requests. */
  cutAfter?: number;
  cuts?: number;
  /** Send headers and this many bytes, then nothing (until the client gives up). */
  stallAfter?: number;
  /** Answer Range requests with the whole file (200), like servers without Range support. */
  ignoreRange?: boolean;
  /** Answer every request with 206 and a Content-Range starting at this byte, whatever was asked. */
  wrongRangeStart?: number;
  /** Send no Content-Length (chunked encoding): the end of the body is the only end marker. */
  noLength?: boolean;
  /** After the body, keep sending zeros until the client goes away. */
  endless?: boolean;
  /** Send the body `bytes` at a time, one piece every `everyMs`. */
  trickle?: { bytes: number; everyMs: number };
  /** Accept the request and never answer it. */
  silent?: boolean;
}

export interface RequestLog {
  path: string;
  range?: string;
  /** Body bytes the server managed to write for this request. */
  sent: number;
}

export interface TestServer {
  base: string;
  requests: RequestLog[];
  routes: Record<string, Route>;
  close(): Promise<void>;
}

export async function startServer(routes: Record<string, Route>): Promise<TestServer> {
  const requests: RequestLog[] = [];
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const log: RequestLog = { path: p, range: req.headers.range, sent: 0 };
    requests.push(log);
    const r = routes[p];
    if (!r) {
      res.writeHead(404).end('not found');
      return;
    }
    if (r.silent) return;
    if (r.redirect) {
      res.writeHead(302, { location: r.redirect }).end();
      return;
    }
    if (r.status && r.status !== 200) {
      res.writeHead(r.status).end('error');
      return;
    }
    const body = r.body ?? Buffer.alloc(0);
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const length = (from: number): Record<string, number> => (r.noLength ? {} : { 'content-length': body.length - from });
    if (r.wrongRangeStart !== undefined) {
      start = r.wrongRangeStart;
      res.writeHead(206, { ...length(start), 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    } else if (m && !r.ignoreRange) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { ...length(start), 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { ...length(0), 'accept-ranges': 'bytes' });
    }
    const rest = body.subarray(start);
    if (r.endless) {
      // Written as fast as the client takes it, with back-pressure, until the connection closes.
      const zeros = Buffer.alloc(64 * 1024);
      let closed = false;
      res.on('close', () => (closed = true));
      const pump = (): void => {
        while (!closed && res.write(zeros)) log.sent += zeros.length;
        if (!closed) res.once('drain', pump);
      };
      res.write(rest);
      log.sent += rest.length;
      pump();
      return;
    }
    if (r.trickle) {
      const { bytes, everyMs } = r.trickle;
      let at = 0;
      const timer = setInterval(() => {
        const piece = rest.subarray(at, at + bytes);
        at += piece.length;
        log.sent += piece.length;
        if (at >= rest.length) {
          clearInterval(timer);
          res.end(piece);
        } else res.write(piece);
      }, everyMs);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (r.stallAfter !== undefined) {
      res.write(rest.subarray(0, r.stallAfter));
      log.sent += Math.min(r.stallAfter, rest.length);
      return; // never ends; the client's timeout must fire
    }
    if (r.cutAfter !== undefined && (r.cuts ?? 1) > 0) {
      r.cuts = (r.cuts ?? 1) - 1;
      res.write(rest.subarray(0, r.cutAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      log.sent += Math.min(r.cutAfter, rest.length);
      return;
    }
    res.end(rest);
    log.sent += rest.length;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    routes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
