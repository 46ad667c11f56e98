// The IDX format of MNIST and Fashion-MNIST (big-endian header, then row-major uint8 data), and
// reading a file that may be gzip-compressed. See docs/datasets.md.
import fs from 'node:fs';
import zlib from 'node:zlib';

import { DatasetError } from './errors';

export const IDX_IMAGES_MAGIC = 0x00000803; // uint8, 3 dimensions
export const IDX_LABELS_MAGIC = 0x00000801; // uint8, 1 dimension

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/**
 * Bytes past what a file may hold that are still read (from disk or out of gzip), so that a few
 * stray bytes get the parsers' exact message ("2 bytes after the 30 labels"); anything longer is
 * refused without reading or decompressing further.
 */
export const EXCESS_READ = 64 * 1024;

/** Cap on decompressed output when neither the format nor the registry declares a size (the largest dataset file is 47 MB). */
const MAX_UNDECLARED = 256 * 1024 * 1024;

/**
 * Reads a file whole; a missing file becomes a DatasetError with the given hint. A file longer than
 * `maxBytes` (the most it may hold, e.g. the largest known form) plus EXCESS_READ is refused unread.
 */
export async function readFileChecked(file: string, missingHint: string, maxBytes: number): Promise<Buffer> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new DatasetError(file, 'missing', `file not found; ${missingHint}`);
    throw new DatasetError(file, 'missing', `cannot read (${e.code ?? e.message})`);
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes + EXCESS_READ) {
      throw new DatasetError(file, 'checksum', `${size} bytes, far more than the ${maxBytes} this file may hold; not read (delete it)`);
    }
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** Bytes per element of the IDX type codes (the third byte of the magic number). */
const IDX_ELEMENT_BYTES: Readonly<Record<number, number>> = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 };

/**
 * The length an IDX header declares: header + product of the dimensions x element size; with the
 * dimensions for messages. 'more' while `head` is shorter than the header, undefined when not IDX.
 */
export function idxDeclaredLength(head: Uint8Array): { length: number; dims: number[] } | 'more' | undefined {
  if (head.length < 4) return 'more';
  const element = IDX_ELEMENT_BYTES[head[2]];
  const rank = head[3];
  if (head[0] !== 0 || head[1] !== 0 || element === undefined || rank === 0) return undefined;
  const headerBytes = 4 + 4 * rank;
  if (head.length < headerBytes) return 'more';
  const view = new DataView(head.buffer, head.byteOffset, headerBytes);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  return { length: headerBytes + dims.reduce((a, d) => a * d, element), dims };
}

/**
 * Decompresses when the content starts with the gzip magic (whatever the name), else returns it as
 * is. The output is capped by what the IDX header declares and by `expectedSize` (the registry's
 * decompressed size, when known), plus EXCESS_READ: a stream that expands further (a gzip bomb, or
 * not the dataset's file) is refused with a DatasetError, having allocated at most the cap plus one
 * 1 MiB output chunk.
 */
export async function gunzipIfNeeded(buf: Buffer, file: string, expectedSize: number | undefined): Promise<Buffer> {
  if (!isGzip(buf)) return buf;
  const registryCap = expectedSize !== undefined ? expectedSize + EXCESS_READ : MAX_UNDECLARED;
  // 1 MiB output chunks: as fast on 47 MB as one chunk sized by the gzip trailer's ISIZE, which is
  // the file's claim, not a promise; and the IDX header's cap applies after the first one.
  const gunzip = zlib.createGunzip({ chunkSize: Math.min(registryCap + 1, 1024 * 1024) });
  return new Promise<Buffer>((resolve, reject) => {
    // Chunks are kept until the IDX header is in, then copied one by one as they come into a buffer
    // of the declared length (plus EXCESS_READ): no concatenation at the end, which for MNIST's 47 MB
    // held the event loop for 170 ms here (fresh pages).
    let chunks: Buffer[] = [];
    let out: Buffer | undefined;
    let total = 0;
    let declared: ReturnType<typeof idxDeclaredLength> = 'more';
    let failed = false;
    const refuse = (err: DatasetError): void => {
      failed = true;
      gunzip.destroy();
      reject(err);
    };
    gunzip.on('data', (chunk: Buffer) => {
      if (failed) return;
      chunks.push(chunk);
      total += chunk.length;
      if (declared === 'more') declared = idxDeclaredLength(chunks.length === 1 ? chunk : Buffer.concat(chunks));
      const idx = typeof declared === 'object' ? declared : undefined;
      if (idx && idx.length + EXCESS_READ <= registryCap && total > idx.length + EXCESS_READ) {
        const what = `the ${idx.length} bytes its IDX header declares (${idx.dims.join(' x ')})`;
        refuse(new DatasetError(file, 'trailing', `gzip stream expands past ${what}: refused after ${total} bytes (a gzip bomb or a corrupt file)`));
      } else if (total > registryCap) {
        const what = expectedSize !== undefined ? `the ${expectedSize} bytes of the dataset's file` : `${MAX_UNDECLARED} bytes, more than any dataset file`;
        const header = idx ? `; its IDX header declares ${idx.length} (${idx.dims.join(' x ')})` : '';
        refuse(new DatasetError(file, expectedSize !== undefined ? 'checksum' : 'gzip', `gzip stream expands past ${what}${header}: refused after ${total} bytes (a gzip bomb, or not the dataset's file)`));
      } else if (idx) {
        // Below both caps here, so total fits.
        out ??= Buffer.allocUnsafeSlow(Math.min(idx.length + EXCESS_READ, registryCap));
        let at = total;
        for (const c of chunks) at -= c.length;
        for (const c of chunks) at += c.copy(out, at);
        chunks = [];
      }
    });
    gunzip.on('error', (err) => {
      if (!failed) refuse(new DatasetError(file, 'gzip', `corrupt or truncated gzip stream (${err.message})`));
    });
    gunzip.on('end', () => {
      if (failed) return;
      // (no `out`: not IDX data, which the parser then refuses; the chunks as they are)
      resolve(out ? out.subarray(0, total) : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
    });
    gunzip.end(buf);
  });
}

function hex8(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

function describeMagic(m: number): string {
  if (m === IDX_IMAGES_MAGIC) return 'an IDX image file';
  if (m === IDX_LABELS_MAGIC) return 'an IDX label file';
  if ((m & 0xffff0000) === 0x1f8b0000) return 'gzip data';
  return 'not IDX data';
}

function checkMagic(buf: Uint8Array, file: string, expected: number, what: string): DataView {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 4) throw new DatasetError(file, 'truncated', `${buf.length} bytes, too short for an IDX header`);
  const magic = view.getUint32(0, false);
  if (magic !== expected) {
    throw new DatasetError(
      file,
      'magic',
      `wrong magic number ${hex8(magic)} (${describeMagic(magic)}), expected ${hex8(expected)} (${what})`,
    );
  }
  return view;
}

export interface IdxImages {
  count: number;
  height: number;
  width: number;
  /** A view into the decompressed buffer (no copy). */
  images: Uint8Array;
}

/** Parses an uncompressed IDX image file; checks magic, dimensions and exact length. */
export function parseIdxImages(buf: Uint8Array, file: string, expect: { height: number; width: number }): IdxImages {
  const view = checkMagic(buf, file, IDX_IMAGES_MAGIC, 'IDX images: uint8, 3 dimensions');
  if (buf.length < 16) throw new DatasetError(file, 'truncated', `${buf.length} bytes, too short for the 16-byte IDX image header`);
  const count = view.getUint32(4, false);
  const height = view.getUint32(8, false);
  const width = view.getUint32(12, false);
  if (height !== expect.height || width !== expect.width) {
    throw new DatasetError(file, 'shape', `images are ${height}x${width}, expected ${expect.height}x${expect.width}`);
  }
  const body = count * height * width;
  const have = buf.length - 16;
  if (have < body) {
    throw new DatasetError(file, 'truncated', `truncated: header says ${count} images (${body} bytes of pixels), file holds ${have}`);
  }
  if (have > body) {
    throw new DatasetError(file, 'trailing', `${have - body} bytes after the ${count} images the header declares`);
  }
  return { count, height, width, images: new Uint8Array(buf.buffer, buf.byteOffset + 16, body) };
}

/** Parses an uncompressed IDX label file; checks magic, exact length and every label < classes. */
export function parseIdxLabels(buf: Uint8Array, file: string, classes: number): Uint8Array {
  const view = checkMagic(buf, file, IDX_LABELS_MAGIC, 'IDX labels: uint8, 1 dimension');
  if (buf.length < 8) throw new DatasetError(file, 'truncated', `${buf.length} bytes, too short for the 8-byte IDX label header`);
  const count = view.getUint32(4, false);
  const have = buf.length - 8;
  if (have < count) throw new DatasetError(file, 'truncated', `truncated: header says ${count} labels, file holds ${have}`);
  if (have > count) throw new DatasetError(file, 'trailing', `${have - count} bytes after the ${count} labels the header declares`);
  const labels = new Uint8Array(buf.buffer, buf.byteOffset + 8, count);
  checkLabels(labels, file, classes, 'label');
  return labels;
}

export function checkLabels(labels: Uint8Array, file: string, classes: number, what: string, stride = 1): void {
  for (let i = 0; i < labels.length; i += stride) {
    if (labels[i] >= classes) {
      throw new DatasetError(file, 'label', `${what} ${i / stride} is ${labels[i]}, out of range 0..${classes - 1}`);
    }
  }
}

/** An uncompressed IDX image file of `count` images of height x width uint8 pixels (the inverse of parseIdxImages). */
export function encodeIdxImages(images: Uint8Array, count: number, height: number, width: number): Buffer {
  const body = count * height * width;
  if (images.length < body) throw new RangeError(`encodeIdxImages: ${images.length} pixels, fewer than ${count} x ${height} x ${width}`);
  const out = Buffer.alloc(16 + body);
  out.writeUInt32BE(IDX_IMAGES_MAGIC, 0);
  out.writeUInt32BE(count, 4);
  out.writeUInt32BE(height, 8);
  out.writeUInt32BE(width, 12);
  out.set(images.subarray(0, body), 16);
  return out;
}

/** An uncompressed IDX label file (the inverse of parseIdxLabels). */
export function encodeIdxLabels(labels: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + labels.length);
  out.writeUInt32BE(IDX_LABELS_MAGIC, 0);
  out.writeUInt32BE(labels.length, 4);
  out.set(labels, 8);
  return out;
}
