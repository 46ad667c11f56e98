// Checkpoint files: a JSON header and raw little-endian arrays in one file.
//
//   bytes 0..7   "DBCKPT01"
//   bytes 8..11  header length L (uint32 LE)
//   bytes 12..   header, L bytes of UTF-8 JSON: { meta, arrays: [{ name, dtype, length, offset }], sha256 }
//   then zero padding to a multiple of 8, then the arrays (offsets relative to the data start)
//
// sha256 covers the data section. Files are written to a temporary name, synced and renamed, so
// an interrupted write never replaces the previous checkpoint.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const MAGIC = 'DBCKPT01';

export type CheckpointArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface CheckpointData {
  meta: Record<string, unknown>;
  arrays: Record<string, CheckpointArray>;
}

const DTYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint8: Uint8Array,
} as const;
type DType = keyof typeof DTYPES;

function dtypeOf(a: CheckpointArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint8Array) return 'uint8';
  throw new TypeError('checkpoint: arrays must be Float32Array, Float64Array, Int32Array or Uint8Array');
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('checkpoint: a little-endian machine is required');
}

export function encodeCheckpoint(data: CheckpointData): Buffer {
  const entries: { name: string; dtype: DType; length: number; offset: number }[] = [];
  let offset = 0;
  for (const [name, a] of Object.entries(data.arrays)) {
    const dtype = dtypeOf(a);
    entries.push({ name, dtype, length: a.length, offset });
    offset += Math.ceil(a.byteLength / 8) * 8;
  }
  const body = Buffer.alloc(offset);
  for (const e of entries) {
    const a = data.arrays[e.name];
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(body, e.offset);
  }
  const sha256 = crypto.createHash('sha256').update(body).digest('hex');
  const header = Buffer.from(JSON.stringify({ meta: data.meta, arrays: entries, sha256 }), 'utf8');
  const start = Math.ceil((12 + header.length) / 8) * 8;
  const out = Buffer.alloc(start + body.length);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(header.length, 8);
  header.copy(out, 12);
  body.copy(out, start);
  return out;
}

export function decodeCheckpoint(buf: Buffer, file = 'checkpoint'): CheckpointData {
  const bad = (msg: string): never => {
    throw new Error(`${file}: not a valid checkpoint (${msg})`);
  };
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) bad(`missing the ${MAGIC} signature`);
  const headerLength = buf.readUInt32LE(8);
  if (12 + headerLength > buf.length) bad('truncated header');
  let header: { meta?: unknown; arrays?: unknown; sha256?: unknown };
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + headerLength));
  } catch (err) {
    return bad(`header is not JSON: ${(err as Error).message}`);
  }
  if (typeof header.meta !== 'object' || header.meta === null || !Array.isArray(header.arrays)) bad('header lacks meta or arrays');
  const start = Math.ceil((12 + headerLength) / 8) * 8;
  const body = buf.subarray(start);
  const sha = crypto.createHash('sha256').update(body).digest('hex');
  if (sha !== header.sha256) bad('data checksum mismatch: the file is damaged or truncated');
  const arrays: Record<string, CheckpointArray> = {};
  for (const e of header.arrays as { name: unknown; dtype: unknown; length: unknown; offset: unknown }[]) {
    if (typeof e.name !== 'string' || typeof e.dtype !== 'string' || !(e.dtype in DTYPES)) bad('bad array entry');
    const Ctor = DTYPES[e.dtype as DType];
    const length = e.length as number;
    const offset = e.offset as number;
    if (!Number.isSafeInteger(length) || !Number.isSafeInteger(offset) || length < 0 || offset < 0 ||
        offset + length * Ctor.BYTES_PER_ELEMENT > body.length) {
      bad(`array ${String(e.name)} lies outside the file`);
    }
    // Copy into fresh, aligned memory.
    const a = new Ctor(length);
    new Uint8Array(a.buffer).set(body.subarray(offset, offset + length * Ctor.BYTES_PER_ELEMENT));
    arrays[e.name as string] = a;
  }
  return { meta: header.meta as Record<string, unknown>, arrays };
}

/** Writes atomically: a temporary file in the same folder, fsync, then rename over `file`. */
export function writeFileAtomic(file: string, data: Buffer | string): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export function saveCheckpoint(file: string, data: CheckpointData): void {
  writeFileAtomic(file, encodeCheckpoint(data));
}

export function loadCheckpoint(file: string): CheckpointData {
  return decodeCheckpoint(fs.readFileSync(file), file);
}
