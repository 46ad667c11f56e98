// The one checkpoint and weights format (safetensors, src/train/safetensors.ts and checkpoint.ts):
// a file written by SegregatedNetwork.save() read back by a reader written here from the format's
// description (and by numpy when python3 has it), the integrity hash over the whole file, refused
// NaN weights, malformed layouts, atomic writes, files of the first formats, and the event loop
// kept free while a 784-500-10 network is saved and loaded.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { SegregatedNetwork } from '../src/models/segregated';
import { createMlp } from '../src/models/mlp';
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint, writeFileAtomicAsync } from '../src/train/checkpoint';
import { decodeSafetensors, encodeSafetensors } from '../src/train/safetensors';
import { train } from '../src/train/loop';
import { subsetOf } from '../src/train/dataset';
import { mnist10k } from './helpers/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-ckpt-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- an independent reader, from the format's description ---------------------------------------

interface Read {
  headerLength: number;
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; values: number[]; bytes: Buffer }>;
}

function readIndependently(buf: Buffer): Read {
  const headerLength = Number(buf.readBigUInt64LE(0));
  const text = buf.toString('utf8', 8, 8 + headerLength);
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const data = buf.subarray(8 + headerLength);
  const metadata = (parsed.__metadata__ ?? {}) as Record<string, string>;
  const header: Read['header'] = {};
  const tensors: Read['tensors'] = {};
  const size: Record<string, number> = { F32: 4, F64: 8, I32: 4, U8: 1 };
  for (const [name, e] of Object.entries(parsed)) {
    if (name === '__metadata__') continue;
    const entry = e as Read['header'][string];
    header[name] = entry;
    const [b, end] = entry.data_offsets;
    const bytes = data.subarray(b, end);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const values: number[] = [];
    for (let i = 0; i < bytes.length / size[entry.dtype]; i++) {
      if (entry.dtype === 'F32') values.push(dv.getFloat32(4 * i, true));
      else if (entry.dtype === 'F64') values.push(dv.getFloat64(8 * i, true));
      else if (entry.dtype === 'I32') values.push(dv.getInt32(4 * i, true));
      else values.push(dv.getUint8(i));
    }
    tensors[name] = { dtype: entry.dtype, shape: entry.shape, values, bytes };
  }
  return { headerLength, header, metadata, tensors };
}

function sha256(b: Buffer | Uint8Array): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

function bytesOf(a: Float32Array | Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

async function trainedNet(): Promise<SegregatedNetwork> {
  const net = new SegregatedNetwork({ layers: [16, 8, 10], learningRates: [0.2, 0.2, 0.1], feedback: 'learned',
    feedbackLearningRates: [0.05, 0.05], feedbackBias: true, mode: 'nonspiking', seed: 9, threads: 1 });
  const d = await mnist10k();
  await net.train({ images: d.train.images, labels: d.train.labels, count: 30 }, { epochs: 1, chunkSize: 7 });
  return net;
}

test('save(): a safetensors file any reader takes; its tensors are getWeights() and the state, its metadata JSON strings', async (t) => {
  const net = await trainedNet();
  const file = path.join(tmp, 'net.safetensors');
  await net.save(file);
  const buf = fs.readFileSync(file);
  const r = readIndependently(buf);
  t.is(r.headerLength % 8, 0, 'header padded to a multiple of 8');
  t.regex(buf.toString('utf8', 8, 8 + r.headerLength), /^\{.*\} *$/s, 'padded with spaces');
  // Tensors packed in header order without gaps, up to the end of the file.
  let at = 0;
  for (const e of Object.values(r.header)) {
    t.is(e.data_offsets[0], at);
    at = e.data_offsets[1];
  }
  t.is(8 + r.headerLength + at, buf.length);
  const w = net.getWeights();
  t.deepEqual(Object.keys(r.tensors).sort(),
    ['layers.0.W', 'layers.0.Y', 'layers.0.b', 'layers.0.c', 'layers.1.W', 'layers.1.Y', 'layers.1.b', 'layers.1.c', 'layers.2.W', 'layers.2.b', 'state']);
  const fanIn = [784, 16, 8];
  w.forEach((l, m) => {
    t.deepEqual(r.tensors[`layers.${m}.W`].shape, [l.b.length, fanIn[m]]);
    t.is(r.tensors[`layers.${m}.W`].dtype, 'F32');
    t.deepEqual(r.tensors[`layers.${m}.W`].values, Array.from(l.W), `layers.${m}.W`);
    t.deepEqual(r.tensors[`layers.${m}.b`].values, Array.from(l.b));
    if (l.Y) {
      t.deepEqual(r.tensors[`layers.${m}.Y`].shape, [l.b.length, 10]);
      t.deepEqual(r.tensors[`layers.${m}.Y`].values, Array.from(l.Y));
      t.deepEqual(r.tensors[`layers.${m}.c`].values, Array.from(l.c!));
    }
  });
  t.is(r.tensors.state.dtype, 'F64');
  t.deepEqual(r.tensors.state.values, Array.from(net.native.getState()));
  // Metadata: strings only; ours are JSON text.
  t.true(Object.values(r.metadata).every((v) => typeof v === 'string'));
  t.is(r.metadata['dendrite.format'], 'dendrite-bench/checkpoint@2');
  t.is(JSON.parse(r.metadata['dendrite.kind']), 'segregated');
  const model = JSON.parse(r.metadata['dendrite.model']) as { options: Record<string, unknown>; seed: string; position: unknown };
  t.deepEqual(model.options, JSON.parse(JSON.stringify(net.options)));
  t.is(model.options.mode, 'nonspiking');
  t.is(model.seed, '9');
  t.deepEqual(model.position, { epoch: 1, example: 0, evalRound: 0 });
  // The integrity hash: sha256 of the whole file with its 64 digits written as zeros.
  const hash = r.metadata['dendrite.sha256'];
  t.regex(hash, /^[0-9a-f]{64}$/);
  const zeroed = Buffer.from(buf);
  const at2 = zeroed.indexOf(hash, 8, 'latin1');
  zeroed.write('0'.repeat(64), at2, 'latin1');
  t.is(sha256(zeroed), hash);

  const back = await SegregatedNetwork.load(file, { threads: 1 });
  t.deepEqual(back.config(), net.config());
  t.deepEqual(back.getWeights(), net.getWeights());
  t.deepEqual(back.position(), net.position());
});

test('numpy reads the same tensors (when python3 has numpy)', async (t) => {
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.log('python3 with numpy is not available here: skipped');
    t.pass();
    return;
  }
  const net = await trainedNet();
  const file = path.join(tmp, 'numpy.safetensors');
  await net.save(file);
  const script = `
import json, struct, sys, hashlib
import numpy as np
buf = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', buf[:8])[0]
header = json.loads(buf[8:8 + n])
data = buf[8 + n:]
types = {'F32': '<f4', 'F64': '<f8', 'I32': '<i4', 'U8': 'u1'}
out = {}
for name, e in header.items():
    if name == '__metadata__':
        continue
    b, end = e['data_offsets']
    a = np.frombuffer(data[b:end], dtype=types[e['dtype']]).reshape(e['shape'])
    out[name] = {'shape': list(a.shape), 'sha256': hashlib.sha256(a.astype(a.dtype.newbyteorder('<')).tobytes()).hexdigest()}
print(json.dumps(out))
`;
  const r = spawnSync('python3', ['-c', script, file], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as Record<string, { shape: number[]; sha256: string }>;
  net.getWeights().forEach((l, m) => {
    t.is(got[`layers.${m}.W`].sha256, sha256(bytesOf(l.W)));
    t.deepEqual(got[`layers.${m}.W`].shape, [l.b.length, l.W.length / l.b.length]);
    t.is(got[`layers.${m}.b`].sha256, sha256(bytesOf(l.b)));
  });
  t.is(got.state.sha256, sha256(bytesOf(net.native.getState())));
});

test('integrity: an edited position, offset, weight or length is refused; so are NaN weights', async (t) => {
  const net = await trainedNet();
  const file = path.join(tmp, 'edit.safetensors');
  await net.save(file);
  const buf = fs.readFileSync(file);
  const edited = (f: (b: Buffer) => void): string => {
    const b = Buffer.from(buf);
    f(b);
    const name = path.join(tmp, `edited-${crypto.randomBytes(3).toString('hex')}.safetensors`);
    fs.writeFileSync(name, b);
    return name;
  };
  const text = buf.toString('latin1');
  const replaceOnce = (from: string, to: string) => (b: Buffer) => {
    t.is(from.length, to.length);
    const at = text.indexOf(from);
    t.true(at > 0, from);
    b.write(to, at, 'latin1');
  };
  // The position inside the metadata (JSON text in a string: its quotes are escaped).
  await t.throwsAsync(SegregatedNetwork.load(edited(replaceOnce('\\"epoch\\":1', '\\"epoch\\":2'))), { message: /integrity check failed/ });
  // An offset: swap two equal-sized tensors' places (the layout stays valid).
  const r = readIndependently(buf);
  const [b0, e0] = r.header['layers.0.b'].data_offsets;
  const [b1, e1] = r.header['layers.0.c'].data_offsets;
  t.is(e0 - b0, e1 - b1);
  const swapped = edited((b) => {
    replaceOnce(`"layers.0.b":{"dtype":"F32","shape":[16],"data_offsets":[${b0},${e0}]}`,
      `"layers.0.b":{"dtype":"F32","shape":[16],"data_offsets":[${b1},${e1}]}`)(b);
    replaceOnce(`"layers.0.c":{"dtype":"F32","shape":[16],"data_offsets":[${b1},${e1}]}`,
      `"layers.0.c":{"dtype":"F32","shape":[16],"data_offsets":[${b0},${e0}]}`)(b);
  });
  await t.throwsAsync(SegregatedNetwork.load(swapped), { message: /integrity check failed/ });
  // One bit of one weight.
  await t.throwsAsync(loadCheckpoint(edited((b) => { b[b.length - 100] ^= 0x10; })), { message: /integrity check failed/ });
  // Truncated, or a header length past the end.
  fs.writeFileSync(path.join(tmp, 'short.safetensors'), buf.subarray(0, buf.length - 8));
  await t.throwsAsync(loadCheckpoint(path.join(tmp, 'short.safetensors')), { message: /run past the .* data bytes \(truncated\?\)/ });
  await t.throwsAsync(loadCheckpoint(edited((b) => b.writeBigUInt64LE(BigInt(buf.length), 0))), { message: /runs past the end/ });
  // The hash itself edited.
  const hash = r.metadata['dendrite.sha256'];
  await t.throwsAsync(loadCheckpoint(edited(replaceOnce(hash, `${hash.slice(0, 63)}${hash[63] === '0' ? '1' : '0'}`))),
    { message: /integrity check failed/ });

  // NaN or an infinity in a weight: refused with the tensor and index named (the file is otherwise valid).
  const s = net.exportState();
  const W = Float32Array.from(s.arrays['layers.1.W'] as Float32Array);
  W[5] = NaN;
  const nanFile = path.join(tmp, 'nan.safetensors');
  await saveCheckpoint(nanFile, { meta: { kind: 'segregated', model: s.meta }, arrays: { ...s.arrays, 'layers.1.W': W }, shapes: s.shapes });
  await t.throwsAsync(SegregatedNetwork.load(nanFile), { message: /tensor "layers.1.W" holds NaN at index 5: weights must be finite/ });
  const inf = encodeCheckpoint({ meta: {}, arrays: { x: Float64Array.of(1, -Infinity) } });
  t.throws(() => decodeCheckpoint(inf, 'inf'), { message: /tensor "x" holds -Infinity at index 1/ });
});

test('malformed layouts are refused with a reason; a foreign safetensors file is not taken for a checkpoint', (t) => {
  const make = (header: Record<string, unknown>, data: Buffer, pad = true): Buffer => {
    let json = Buffer.from(JSON.stringify(header));
    if (pad) json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([len, json, data]);
  };
  const opts = { file: 'x', integrity: 'if-present' as const };
  const ok = make({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(8));
  t.deepEqual(Array.from(decodeSafetensors(ok, opts).tensors.a.data), [0, 0]);
  for (const [header, data, msg] of [
    [{ a: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, Buffer.alloc(4), /dtype "F16" is not supported/],
    [{ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8), /do not hold a F32 tensor of shape \[3\]/],
    [{ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, Buffer.alloc(8), /a gap of 4 bytes before tensor "a"/],
    [{ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, Buffer.alloc(8),
      /overlaps another tensor/],
    [{ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, Buffer.alloc(8), /4 bytes after the last tensor/],
    [{ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, Buffer.alloc(4), /bad shape/],
    [{ __metadata__: { n: 1 } }, Buffer.alloc(0), /__metadata__\["n"\] is not a string/],
  ] as Array<[Record<string, unknown>, Buffer, RegExp]>) {
    t.throws(() => decodeSafetensors(make(header, data), opts), { message: msg }, JSON.stringify(header));
  }
  t.throws(() => decodeSafetensors(ok, { file: 'x' }), { message: /no integrity hash/ });
  t.throws(() => decodeCheckpoint(encodeSafetensors({ tensors: {}, metadata: { format: 'pt' } }), 'hf.safetensors'),
    { message: /hf.safetensors: not a dendrite-bench checkpoint \(a safetensors file without "dendrite.format"\)/ });
  // Any names round-trip, integer-like ones too; 8-byte types come first (aligned).
  const odd = encodeSafetensors({ tensors: { b: { data: Float32Array.of(1) }, 7: { data: Float32Array.of(2) }, d: { data: Float64Array.of(3) } },
    metadata: {} });
  const back = decodeSafetensors(odd);
  t.deepEqual([back.tensors.b.data[0], back.tensors['7'].data[0], back.tensors.d.data[0]], [1, 2, 3]);
  t.is(readIndependently(odd).header.d.data_offsets[0], 0);
});

test('writes are atomic: a failed write leaves the previous file and no temporary file', async (t) => {
  const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
  const file = path.join(dir, 'ck.safetensors');
  await saveCheckpoint(file, { meta: { a: 1 }, arrays: { x: Float32Array.of(1, 2) } });
  const before = fs.readFileSync(file);
  // A write that fails after the temporary file was opened and partly written (a full disk, say).
  const failing = Object.defineProperty(Buffer.from('x'), 'length', { get() { throw new Error('disk full'); } });
  await t.throwsAsync(writeFileAtomicAsync(file, [Buffer.from('partial'), failing]), { message: 'disk full' });
  t.deepEqual(fs.readFileSync(file), before);
  t.deepEqual(fs.readdirSync(dir), ['ck.safetensors']);
  await saveCheckpoint(file, { meta: { a: 2 }, arrays: { x: Float32Array.of(3) } });
  t.deepEqual((await loadCheckpoint(file)).meta, { a: 2 });
  t.deepEqual(fs.readdirSync(dir), ['ck.safetensors']);
});

// ---- files of the first formats ------------------------------------------------------------------

/** The DBCKPT01 writer of the first checkpoint format, as it was. */
function encodeDbckpt01(meta: Record<string, unknown>, arrays: Record<string, Float32Array | Float64Array>): Buffer {
  const entries: { name: string; dtype: string; length: number; offset: number }[] = [];
  let offset = 0;
  for (const [name, a] of Object.entries(arrays)) {
    entries.push({ name, dtype: a instanceof Float64Array ? 'float64' : 'float32', length: a.length, offset });
    offset += Math.ceil(a.byteLength / 8) * 8;
  }
  const body = Buffer.alloc(offset);
  for (const e of entries) Buffer.from(arrays[e.name].buffer, arrays[e.name].byteOffset, arrays[e.name].byteLength).copy(body, e.offset);
  const header = Buffer.from(JSON.stringify({ meta, arrays: entries, sha256: sha256(body) }), 'utf8');
  const start = Math.ceil((12 + header.length) / 8) * 8;
  const out = Buffer.alloc(start + body.length);
  out.write('DBCKPT01', 0, 'latin1');
  out.writeUInt32LE(header.length, 8);
  header.copy(out, 12);
  body.copy(out, start);
  return out;
}

test('a DBCKPT01 training checkpoint of the first format still resumes; a damaged one is refused', async (t) => {
  const d = await mnist10k();
  const splits = { train: subsetOf(d.train, Array.from({ length: 600 }, (_, i) => i * 13)), test: subsetOf(d.test, Array.from({ length: 200 }, (_, i) => i * 9)) };
  const input = { channels: 1, height: 28, width: 28 };
  const mlp = () => createMlp({ input, hidden: [16], batchSize: 50, seed: 2, threads: 1 });
  const full = mlp();
  await train(full, splits, { epochs: 2, seed: 4 });
  const file = path.join(tmp, 'new.ckpt');
  await train(mlp(), splits, { epochs: 1, seed: 4, checkpoint: file });
  const ck = await loadCheckpoint(file);
  const old = path.join(tmp, 'old.ckpt');
  fs.writeFileSync(old, encodeDbckpt01({ model: ck.meta.model, loop: ck.meta.loop }, ck.arrays as Record<string, Float32Array>));
  const resumed = mlp();
  const r = await train(resumed, splits, { epochs: 2, seed: 4, checkpoint: old, resume: true });
  t.deepEqual(r.resumed, { epoch: 1, position: 0 });
  t.deepEqual(bytesOf(resumed.native.getState().params), bytesOf(full.native.getState().params));
  t.not(fs.readFileSync(old).toString('latin1', 0, 8), 'DBCKPT01', 'the checkpoints written since are safetensors');
  t.is(((await loadCheckpoint(old)).meta.loop as { state: { epoch: number } }).state.epoch, 2);
  const damaged = encodeDbckpt01({ a: 1 }, { x: Float32Array.of(1) });
  damaged[damaged.length - 1] ^= 1;
  t.throws(() => decodeCheckpoint(damaged, 'old.ckpt'), { message: /old.ckpt: not a valid checkpoint \(a DBCKPT01 file of the first checkpoint format: data checksum/ });
});

test('a JSON file of the first segregated format still loads (the mode read from its values)', async (t) => {
  for (const mode of ['spiking', 'nonspiking'] as const) {
    const net = new SegregatedNetwork({ layers: [12, 10], mode, seed: 4, threads: 1, testPhase: mode === 'spiking' ? 40 : 2 });
    const d = await mnist10k();
    await net.train({ images: d.train.images, labels: d.train.labels, count: 9 }, { epochs: 1 });
    const c = net.native.config();
    const { mode: _m, ...config } = { ...c, seed: String(c.seed) } as Record<string, unknown>;
    const legacy = { format: 'dendrite-bench/segregated@1', config, position: net.position(),
      layers: net.getWeights().map((l) => ({ W: Array.from(l.W), b: Array.from(l.b), ...(l.Y ? { Y: Array.from(l.Y) } : {}) })),
      state: Array.from(net.native.getState()) };
    const file = path.join(tmp, `legacy-${mode}.json`);
    fs.writeFileSync(file, JSON.stringify(legacy));
    const back = await SegregatedNetwork.load(file, { threads: 1 });
    t.deepEqual(back.config(), net.config(), mode);
    t.deepEqual(back.getWeights(), net.getWeights());
    t.deepEqual(Array.from(back.native.getState()), Array.from(net.native.getState()));
  }
});
