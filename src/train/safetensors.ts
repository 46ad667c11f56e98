// safetensors files (https://github.com/huggingface/safetensors), the one checkpoint and weights
// format of the package, with a whole-file integrity check:
//
//   bytes 0..7     N, the header length (u64 little-endian)
//   bytes 8..8+N   the header, UTF-8 JSON, padded with spaces to a multiple of 8:
//                  { "<tensor>": { "dtype": "F32", "shape": [500, 784], "data_offsets": [begin, end] }, ...,
//                    "__metadata__": { "<key>": "<string>", ... } }
//   then the data  raw little-endian tensor bytes; offsets count from the first byte after the
//                  header; tensors packed in header order with no gaps (8-byte types first, so
//                  every tensor is aligned to its element size)
//
// Integrity: the metadata key "dendrite.sha256" holds the sha256 (64 lowercase hex digits) of the
// whole file as written with those 64 digits replaced by "0" characters: the length prefix, the
// header (every tensor entry, offset and metadata value) and the data are covered, so an edited
// offset, position or weight is detected. The raw header must contain `"dendrite.sha256":"` once.
// Readers that do not know the key ignore it (it is an ordinary metadata string).
//
// Reading checks everything a hostile or damaged file could get wrong (lengths, dtypes, shapes,
// offsets that overlap, leave gaps or point outside the file, non-string metadata) and, for
// weights, refuses NaN and infinities. The asynchronous reader and writer hash and scan in slices
// with the event loop free in between (about 1 ms per slice), and write atomically: a temporary
// file in the same folder, fsync, rename, fsync of the folder.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { hashInSlices, tick } from '../slices';

export type TensorArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface Tensor {
  data: TensorArray;
  /** Row-major shape; default [data.length]. Its product must equal data.length. */
  shape?: readonly number[];
}

export interface SafetensorsContent {
  tensors: Record<string, Tensor>;
  /** String values only (the format's rule); JSON goes in as JSON text. */
  metadata: Record<string, string>;
}

export interface DecodeOptions {
  /** Named in error messages. */
  file?: string;
  /** "required" (default): the integrity hash must be present and match; "if-present": checked when present. */
  integrity?: 'required' | 'if-present';
  /** Refuse NaN and infinities in float tensors (default true). */
  finite?: boolean;
}

export const INTEGRITY_KEY = 'dendrite.sha256';
const HASH_NEEDLE = Buffer.from(`"${INTEGRITY_KEY}":"`, 'utf8');
const ZERO_HASH = '0'.repeat(64);
/** Largest header accepted when reading (the format's own limit is 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;
/** Elements scanned per slice of the asynchronous reader (bytes hashed per slice: src/slices.ts). */
const SCAN_SLICE = 1 << 18;

const DTYPES = {
  F64: Float64Array,
  F32: Float32Array,
  I32: Int32Array,
  U8: Uint8Array,
} as const;
type DType = keyof typeof DTYPES;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('safetensors: a little-endian machine is required');
}

function dtypeOf(a: TensorArray): DType {
  if (a instanceof Float64Array) return 'F64';
  if (a instanceof Float32Array) return 'F32';
  if (a instanceof Int32Array) return 'I32';
  if (a instanceof Uint8Array) return 'U8';
  throw new TypeError('safetensors: tensors must be Float32Array, Float64Array, Int32Array or Uint8Array');
}

function bytesOf(a: TensorArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

export class SafetensorsError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: not a valid safetensors file (${message})`);
    this.name = 'SafetensorsError';
  }
}

interface Plan {
  /** Length prefix and header (hash zeroed), then the tensors' bytes: the file. */
  parts: Buffer[];
  /** Where the 64 hash digits sit in parts[0]; -1 without integrity. */
  hashAt: number;
}

function plan(content: SafetensorsContent, integrity: boolean): Plan {
  const names = Object.keys(content.tensors);
  // 8-byte types first (stable within a size), so every tensor is aligned to its element size.
  const order = names
    .map((name, i) => ({ name, i, t: content.tensors[name] }))
    .sort((a, b) => b.t.data.BYTES_PER_ELEMENT - a.t.data.BYTES_PER_ELEMENT || a.i - b.i);
  const entries: string[] = [];
  const data: Buffer[] = [];
  let offset = 0;
  for (const { name, t } of order) {
    if (name === '__metadata__' || name === '') throw new RangeError(`safetensors: "${name}" cannot name a tensor`);
    const dtype = dtypeOf(t.data);
    const shape = t.shape ? [...t.shape] : [t.data.length];
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || shape.reduce((p, d) => p * d, 1) !== t.data.length) {
      throw new RangeError(`safetensors: tensor "${name}": shape [${shape.join(', ')}] does not hold its ${t.data.length} values`);
    }
    const end = offset + t.data.byteLength;
    // Built by hand: JSON.stringify of an object would move integer-like names to the front.
    entries.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype, shape, data_offsets: [offset, end] })}`);
    data.push(bytesOf(t.data));
    offset = end;
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(content.metadata)) {
    if (k === INTEGRITY_KEY) continue;
    if (typeof v !== 'string') throw new TypeError(`safetensors: metadata "${k}" must be a string`);
    metadata[k] = v;
  }
  let metaText = JSON.stringify(metadata);
  if (integrity) metaText = `${metaText.slice(0, -1)}${metaText.length > 2 ? ',' : ''}"${INTEGRITY_KEY}":"${ZERO_HASH}"}`;
  entries.push(`"__metadata__":${metaText}`);
  const json = Buffer.from(`{${entries.join(',')}}`, 'utf8');
  const headerLength = Math.ceil(json.length / 8) * 8;
  const head = Buffer.alloc(8 + headerLength, 0x20);
  head.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(head, 8);
  let hashAt = -1;
  if (integrity) {
    hashAt = head.lastIndexOf(HASH_NEEDLE) + HASH_NEEDLE.length;
    if (head.indexOf(HASH_NEEDLE) + HASH_NEEDLE.length !== hashAt) throw new Error('safetensors: the integrity key occurs twice');
  }
  return { parts: [head, ...data], hashAt };
}

function digestSync(parts: Buffer[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

async function digestAsync(parts: Buffer[]): Promise<string> {
  return (await hashInSlices(parts, ['sha256'])).sha256;
}

/** The file's bytes in one Buffer (synchronous; use writeSafetensors for large files). */
export function encodeSafetensors(content: SafetensorsContent, options: { integrity?: boolean } = {}): Buffer {
  const p = plan(content, options.integrity ?? true);
  if (p.hashAt >= 0) p.parts[0].write(digestSync(p.parts), p.hashAt, 'latin1');
  return Buffer.concat(p.parts);
}

/** The file's parts (header, then views of the tensors' memory: no copy), hashed off the event loop's critical path. */
export async function encodeSafetensorsParts(content: SafetensorsContent, options: { integrity?: boolean } = {}): Promise<Buffer[]> {
  const p = plan(content, options.integrity ?? true);
  if (p.hashAt >= 0) p.parts[0].write(await digestAsync(p.parts), p.hashAt, 'latin1');
  return p.parts;
}

interface Parsed {
  entries: Array<{ name: string; dtype: DType; shape: number[]; begin: number; end: number }>;
  metadata: Record<string, string>;
  dataStart: number;
  /** The hash as written and the file with its digits zeroed (a copy of the header only). */
  hash?: string;
  zeroed?: Buffer[];
}

function parse(buf: Buffer, file: string, integrity: 'required' | 'if-present'): Parsed {
  const bad = (msg: string): never => {
    throw new SafetensorsError(file, msg);
  };
  if (buf.length < 8) bad(`${buf.length} bytes: shorter than the 8-byte header length`);
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_HEADER, buf.length - 8))) {
    bad(n > BigInt(MAX_HEADER) ? `header length ${n} is over the ${MAX_HEADER}-byte limit` : `header length ${n} runs past the end of the ${buf.length}-byte file (truncated?)`);
  }
  const headerLength = Number(n);
  const dataStart = 8 + headerLength;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, dataStart)));
  } catch (err) {
    return bad(`the header is not UTF-8 JSON: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('the header is not a JSON object');
  const h = header as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  if (h.__metadata__ !== undefined) {
    const m = h.__metadata__;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) bad('__metadata__ is not an object');
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (typeof v !== 'string') bad(`__metadata__["${k}"] is not a string`);
      metadata[k] = v as string;
    }
  }
  const dataLength = buf.length - dataStart;
  const entries: Parsed['entries'] = [];
  for (const [name, e] of Object.entries(h)) {
    if (name === '__metadata__') continue;
    if (typeof e !== 'object' || e === null) bad(`tensor "${name}" is not an object`);
    const { dtype, shape, data_offsets: off } = e as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in DTYPES)) bad(`tensor "${name}": dtype ${JSON.stringify(dtype)} is not supported (F32, F64, I32, U8)`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`tensor "${name}": bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
      bad(`tensor "${name}": bad data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as number[];
    const count = (shape as number[]).reduce((p, d) => p * d, 1);
    if (end - begin !== count * DTYPES[dtype as DType].BYTES_PER_ELEMENT) {
      bad(`tensor "${name}": data_offsets [${begin}, ${end}] do not hold a ${dtype} tensor of shape [${(shape as number[]).join(', ')}]`);
    }
    if (end > dataLength) bad(`tensor "${name}": data_offsets [${begin}, ${end}] run past the ${dataLength} data bytes (truncated?)`);
    entries.push({ name, dtype: dtype as DType, shape: shape as number[], begin, end });
  }
  // Packed: sorted by offset, each tensor starts where the previous one ended, the last ends the file.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin !== at) bad(e.begin < at ? `tensor "${e.name}" overlaps another tensor` : `a gap of ${e.begin - at} bytes before tensor "${e.name}"`);
    at = e.end;
  }
  if (at !== dataLength) bad(`${dataLength - at} bytes after the last tensor`);
  const out: Parsed = { entries, metadata, dataStart };
  const hash = metadata[INTEGRITY_KEY];
  if (hash === undefined) {
    if (integrity === 'required') bad(`no integrity hash ("${INTEGRITY_KEY}" in __metadata__): not written by dendrite-bench`);
    return out;
  }
  if (!/^[0-9a-f]{64}$/.test(hash)) bad(`"${INTEGRITY_KEY}" is not 64 hex digits`);
  const head = buf.subarray(0, dataStart);
  const first = head.indexOf(HASH_NEEDLE);
  if (first < 0 || head.indexOf(HASH_NEEDLE, first + 1) >= 0) bad(`"${INTEGRITY_KEY}" must occur exactly once in the header`);
  const zeroedHead = Buffer.from(head);
  zeroedHead.write(ZERO_HASH, first + HASH_NEEDLE.length, 'latin1');
  out.hash = hash;
  out.zeroed = [zeroedHead, buf.subarray(dataStart)];
  return out;
}

function checksumFailed(file: string): never {
  throw new SafetensorsError(file, 'integrity check failed: the file was changed or damaged after it was written (sha256 mismatch)');
}

function nonFinite(a: TensorArray, from: number, to: number): number {
  if (!(a instanceof Float32Array || a instanceof Float64Array)) return -1;
  for (let i = from; i < to; i++) {
    const v = a[i];
    if (v - v !== 0) return i;  // NaN or an infinity
  }
  return -1;
}

function refuseNonFinite(file: string, name: string, a: TensorArray, i: number): never {
  throw new SafetensorsError(file, `tensor "${name}" holds ${a[i]} at index ${i}: weights must be finite`);
}

function tensors(buf: Buffer, p: Parsed): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const e of p.entries) {
    const Ctor = DTYPES[e.dtype];
    // Copied into fresh, aligned memory: the file's views are not kept.
    const a = new Ctor((e.end - e.begin) / Ctor.BYTES_PER_ELEMENT);
    new Uint8Array(a.buffer).set(buf.subarray(p.dataStart + e.begin, p.dataStart + e.end));
    out[e.name] = { data: a, shape: e.shape };
  }
  return out;
}

/** Decodes (and checks) a whole file held in memory, synchronously. */
export function decodeSafetensors(buf: Buffer, options: DecodeOptions = {}): SafetensorsContent {
  const file = options.file ?? 'safetensors';
  const p = parse(buf, file, options.integrity ?? 'required');
  if (p.hash !== undefined && digestSync(p.zeroed!) !== p.hash) checksumFailed(file);
  const ts = tensors(buf, p);
  if (options.finite ?? true) {
    for (const [name, t] of Object.entries(ts)) {
      const i = nonFinite(t.data, 0, t.data.length);
      if (i >= 0) refuseNonFinite(file, name, t.data, i);
    }
  }
  return { tensors: ts, metadata: p.metadata };
}

/** Reads and checks a file without holding the event loop for more than a slice of work at a time. */
export async function readSafetensors(file: string, options: Omit<DecodeOptions, 'file'> = {}): Promise<SafetensorsContent> {
  const buf = await fs.promises.readFile(file);
  await tick();
  return decodeSafetensorsAsync(buf, { ...options, file });
}

/** decodeSafetensors, in slices with the event loop free in between. */
export async function decodeSafetensorsAsync(buf: Buffer, options: DecodeOptions = {}): Promise<SafetensorsContent> {
  const file = options.file ?? 'safetensors';
  const p = parse(buf, file, options.integrity ?? 'required');
  if (p.hash !== undefined && (await digestAsync(p.zeroed!)) !== p.hash) checksumFailed(file);
  await tick();
  const ts = tensors(buf, p);
  if (options.finite ?? true) {
    for (const [name, t] of Object.entries(ts)) {
      for (let at = 0; at < t.data.length; at += SCAN_SLICE) {
        await tick();
        const i = nonFinite(t.data, at, Math.min(t.data.length, at + SCAN_SLICE));
        if (i >= 0) refuseNonFinite(file, name, t.data, i);
      }
    }
  }
  return { tensors: ts, metadata: p.metadata };
}

function tempName(file: string): string {
  const dir = path.dirname(path.resolve(file));
  return path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';  // exists, owned by another user
  }
}

/**
 * Removes the temporary files of `file` left by writers that were killed mid-write (their process
 * is gone), so that repeated kills cannot pile them up: at most one per writer still running.
 * Process ids are this machine's: a folder written from several machines at once is not expected.
 */
function removeStaleTemps(file: string): void {
  const dir = path.dirname(path.resolve(file));
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !processAlive(pid)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/**
 * Writes atomically (synchronously): a temporary file in the same folder, fsync, then rename over
 * `file`. A kill mid-write leaves the previous file and a temporary file, removed by the next write.
 */
export function writeFileAtomic(file: string, data: Buffer | string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  removeStaleTemps(file);
  const tmp = tempName(file);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Writes atomically and asynchronously: the parts go to a temporary file in the same folder,
 * which is fsynced and renamed over `file` (then the folder is fsynced, where the system allows).
 * An interrupted write never replaces or damages the previous file.
 */
export async function writeFileAtomicAsync(file: string, data: Buffer | string | readonly Buffer[]): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  await fs.promises.mkdir(dir, { recursive: true });
  removeStaleTemps(file);
  const parts = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : Buffer.isBuffer(data) ? [data] : data;
  const tmp = tempName(file);
  try {
    const fh = await fs.promises.open(tmp, 'w');
    try {
      for (const part of parts) {
        for (let at = 0; at < part.length;) {
          const { bytesWritten } = await fh.write(part, at, part.length - at);
          at += bytesWritten;
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  try {
    const d = await fs.promises.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Folders cannot be opened or synced everywhere (Windows); the rename is done either way.
  }
}

/** Encodes (with the integrity hash) and writes atomically, never blocking the event loop for long. */
export async function writeSafetensors(file: string, content: SafetensorsContent): Promise<void> {
  await writeFileAtomicAsync(file, await encodeSafetensorsParts(content));
}
