// Checkpoint and weights files of every model: safetensors (src/train/safetensors.ts) with the
// package's JSON metadata as strings in __metadata__:
//
//   "dendrite.format"   "dendrite-bench/checkpoint@2"
//   "dendrite.<key>"    JSON text of meta[key], for every key of CheckpointData.meta; the training
//                       loop writes "dendrite.kind" (the model kind), "dendrite.model" (the model's
//                       own metadata: for the segregated network its resolved options, seed and
//                       position) and "dendrite.loop" (seed, training-set size and the loop state:
//                       epoch, position in the epoch, learning curve, timings)
//   "dendrite.sha256"   the whole-file integrity hash (see safetensors.ts)
//
// The tensors are the model's arrays under their own names, with their shapes when the model
// gives them. Files are written atomically (temporary file, fsync, rename), so an interrupted
// write never replaces the previous checkpoint, and read and written without holding the event
// loop for long. Float tensors holding NaN or an infinity are refused on reading.
//
// Files of the first format ("DBCKPT01": magic, JSON header, arrays) are still read.
import crypto from 'node:crypto';
import fs from 'node:fs';

import {
  SafetensorsError,
  decodeSafetensors,
  decodeSafetensorsAsync,
  encodeSafetensors,
  encodeSafetensorsParts,
  writeFileAtomic,
  writeFileAtomicAsync,
  type SafetensorsContent,
  type TensorArray,
} from './safetensors';
import type { ModelState } from './model';

export { writeFileAtomic, writeFileAtomicAsync };

export const CHECKPOINT_FORMAT = 'dendrite-bench/checkpoint@2';
const FORMAT_KEY = 'dendrite.format';
const PREFIX = 'dendrite.';
const LEGACY_MAGIC = 'DBCKPT01';

export type CheckpointArray = TensorArray;

export interface CheckpointData {
  /** JSON-serialisable; each top-level key is stored as "dendrite.<key>". */
  meta: Record<string, unknown>;
  arrays: Record<string, CheckpointArray>;
  /** Row-major shapes of some arrays (default: one dimension). */
  shapes?: Record<string, readonly number[]>;
}

function toContent(data: CheckpointData): SafetensorsContent {
  const metadata: Record<string, string> = { [FORMAT_KEY]: CHECKPOINT_FORMAT };
  for (const [k, v] of Object.entries(data.meta)) {
    if (v === undefined) continue;
    const key = PREFIX + k;
    if (key === FORMAT_KEY || key === `${PREFIX}sha256`) throw new RangeError(`checkpoint: meta key "${k}" is reserved`);
    metadata[key] = JSON.stringify(v);
  }
  const tensors: SafetensorsContent['tensors'] = {};
  for (const [name, a] of Object.entries(data.arrays)) {
    const shape = data.shapes?.[name];
    tensors[name] = shape ? { data: a, shape } : { data: a };
  }
  return { tensors, metadata };
}

function fromContent(c: SafetensorsContent, file: string): CheckpointData {
  const format = c.metadata[FORMAT_KEY];
  if (format !== CHECKPOINT_FORMAT) {
    throw new Error(`${file}: not a dendrite-bench checkpoint (${format === undefined ? `a safetensors file without "${FORMAT_KEY}"` : `format "${format}", expected "${CHECKPOINT_FORMAT}"`})`);
  }
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.metadata)) {
    if (!k.startsWith(PREFIX) || k === FORMAT_KEY || k === `${PREFIX}sha256`) continue;
    try {
      meta[k.slice(PREFIX.length)] = JSON.parse(v);
    } catch (err) {
      throw new Error(`${file}: metadata "${k}" is not JSON: ${(err as Error).message}`);
    }
  }
  const arrays: CheckpointData['arrays'] = {};
  const shapes: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(c.tensors)) {
    arrays[name] = t.data;
    if (t.shape && t.shape.length !== 1) shapes[name] = [...t.shape];
  }
  return { meta, arrays, ...(Object.keys(shapes).length ? { shapes } : {}) };
}

function isLegacy(buf: Buffer): boolean {
  return buf.length >= 8 && buf.toString('latin1', 0, 8) === LEGACY_MAGIC;
}

/** The file's bytes (safetensors with the integrity hash), in one Buffer. */
export function encodeCheckpoint(data: CheckpointData): Buffer {
  return encodeSafetensors(toContent(data));
}

/** Decodes and checks a checkpoint held in memory (synchronous; loadCheckpoint does it in slices). */
export function decodeCheckpoint(buf: Buffer, file = 'checkpoint'): CheckpointData {
  if (isLegacy(buf)) return decodeLegacy(buf, file);
  return fromContent(decodeSafetensors(buf, { file }), file);
}

/**
 * A model's state as a checkpoint: "dendrite.kind", "dendrite.model" (the state's own metadata)
 * and its arrays. Alone it is a weights file (SegregatedNetwork.save, a results folder's weights,
 * train --save); the training loop adds "dendrite.loop" to make it a resumable checkpoint.
 */
export function modelCheckpoint(kind: string, state: ModelState, extraMeta: Record<string, unknown> = {}): CheckpointData {
  return { meta: { kind, model: state.meta, ...extraMeta }, arrays: state.arrays, ...(state.shapes ? { shapes: state.shapes } : {}) };
}

/** Writes a checkpoint atomically; the event loop stays free (hashing in slices, asynchronous I/O). */
export async function saveCheckpoint(file: string, data: CheckpointData): Promise<void> {
  await writeFileAtomicAsync(file, await encodeSafetensorsParts(toContent(data)));
}

/**
 * Writes a weights file (modelCheckpoint without loop state) atomically; resolves to the sha256
 * and size of the bytes on disk, for listings such as a results folder's results.json.
 */
export async function saveWeights(file: string, weights: CheckpointData): Promise<{ sha256: string; bytes: number }> {
  await saveCheckpoint(file, weights);
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Reads and checks a checkpoint (the integrity hash, the layout, finite floats); old DBCKPT01 files too. */
export async function loadCheckpoint(file: string): Promise<CheckpointData> {
  const buf = await fs.promises.readFile(file);
  if (isLegacy(buf)) return decodeLegacy(buf, file);
  return fromContent(await decodeSafetensorsAsync(buf, { file }), file);
}

export { SafetensorsError };

// ---- the first format, read only ---------------------------------------------------------------
//   bytes 0..7 "DBCKPT01"; 8..11 header length L (u32 LE); 12.. the header, JSON
//   { meta, arrays: [{ name, dtype, length, offset }], sha256 }; zero padding to a multiple of 8;
//   the arrays (offsets from the data start, each padded to 8 bytes); sha256 of the data section.

const LEGACY_DTYPES = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array } as const;

function decodeLegacy(buf: Buffer, file: string): CheckpointData {
  const bad = (msg: string): never => {
    throw new Error(`${file}: not a valid checkpoint (a DBCKPT01 file of the first checkpoint format: ${msg})`);
  };
  if (buf.length < 12) bad('truncated header');
  const headerLength = buf.readUInt32LE(8);
  if (12 + headerLength > buf.length) bad('truncated header');
  let header: { meta?: unknown; arrays?: unknown; sha256?: unknown };
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + headerLength));
  } catch (err) {
    return bad(`header is not JSON: ${(err as Error).message}`);
  }
  if (typeof header.meta !== 'object' || header.meta === null || !Array.isArray(header.arrays)) bad('header lacks meta or arrays');
  const body = buf.subarray(Math.ceil((12 + headerLength) / 8) * 8);
  if (crypto.createHash('sha256').update(body).digest('hex') !== header.sha256) {
    bad('data checksum mismatch: the file is damaged or truncated');
  }
  const arrays: Record<string, CheckpointArray> = {};
  for (const e of header.arrays as { name: unknown; dtype: unknown; length: unknown; offset: unknown }[]) {
    if (typeof e.name !== 'string' || typeof e.dtype !== 'string' || !(e.dtype in LEGACY_DTYPES)) bad('bad array entry');
    const Ctor = LEGACY_DTYPES[e.dtype as keyof typeof LEGACY_DTYPES];
    const length = e.length as number;
    const offset = e.offset as number;
    if (!Number.isSafeInteger(length) || !Number.isSafeInteger(offset) || length < 0 || offset < 0 ||
        offset + length * Ctor.BYTES_PER_ELEMENT > body.length) {
      bad(`array ${String(e.name)} lies outside the file`);
    }
    const a = new Ctor(length);
    new Uint8Array(a.buffer).set(body.subarray(offset, offset + length * Ctor.BYTES_PER_ELEMENT));
    if ((a instanceof Float32Array || a instanceof Float64Array) && a.some((v) => !Number.isFinite(v))) {
      bad(`array ${e.name as string} holds NaN or an infinity`);
    }
    arrays[e.name as string] = a;
  }
  return { meta: header.meta as Record<string, unknown>, arrays };
}
