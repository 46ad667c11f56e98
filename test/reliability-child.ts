// The child processes of reliability-native.test.ts: each case runs here, so that a crash is seen
// by the test as a signal (or a nonzero exit) instead of killing the test runner. Prints
// `RESULT <json>` and exits 0 when the case ran to its end.
//
//   node reliability-child.js inputs <kernel|Sequential.x|SegregatedNetwork.x>
//   node reliability-child.js terminate <kernel|sequential|segregated|queued>
//   node reliability-child.js exit-in-flight
//   node reliability-child.js oom | oom-job | threads | threads-after-check | memory <segregated|sequential> | nogc
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import * as k from '../src/kernels';
import { SegregatedNetwork } from '../src/models/segregated';
import { nativeClasses, type NativeSequential } from '../src/native';

type Json = unknown;
type Mode = 'clean' | 'transfer' | 'resize' | 'write';
type AnyArray = Float32Array | Int32Array | Uint8Array;
type ArrayCtor = Float32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor;

const gc = (globalThis as { gc?: () => void }).gc;

function result(value: Json): void {
  console.log(`RESULT ${JSON.stringify(value)}`);
}

/** Deterministic values for test inputs. */
function fill<T extends AnyArray>(a: T, seed: number, f: (u: number) => number): T {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = f(s / 2 ** 32);
  }
  return a;
}

/**
 * Allocates the inputs of one call. In "resize" mode every array is a length-tracking view of a
 * resizable ArrayBuffer, so that the test can shrink it to nothing while the call runs.
 */
class Arrays {
  readonly made: AnyArray[] = [];
  constructor(private readonly mode: Mode) {}
  make<C extends ArrayCtor>(ctor: C, n: number): InstanceType<C> {
    const bytes = n * ctor.BYTES_PER_ELEMENT;
    const buffer = this.mode === 'resize'
      ? new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(bytes, { maxByteLength: bytes })
      : new ArrayBuffer(bytes);
    const a = new ctor(buffer) as InstanceType<C>;
    this.made.push(a);
    return a;
  }
  f32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
    return fill(this.make(Float32Array, n), seed, (u) => lo + (hi - lo) * u);
  }
  /** What JS does to the inputs right after the call returned (the job may not even have started). */
  interfere(): void {
    for (const a of this.made) {
      if (this.mode === 'transfer') structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
      else if (this.mode === 'resize') (a.buffer as unknown as { resize(n: number): void }).resize(0);
      else if (this.mode === 'write') a.fill(a instanceof Float32Array ? NaN : 0x7fffffff);
    }
    if (this.mode === 'transfer' || this.mode === 'resize') {
      // Give the freed memory a chance to be reused while the job runs.
      gc?.();
      for (let i = 0; i < 4; i++) new Float64Array(1 << 18).fill(1e300);
    }
  }
}

/** A stable fingerprint of a result: typed arrays by their bytes, numbers, nested objects. */
function fingerprint(v: unknown): Json {
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (v === undefined || v === null || typeof v !== 'object') return v ?? null;
  if (Array.isArray(v)) return v.map(fingerprint);
  return Object.fromEntries(Object.keys(v).sort().map((key) => [key, fingerprint((v as Record<string, unknown>)[key])]));
}

// Every kernel: its inputs for a mode, and what to fingerprint (in-place kernels: the arrays updated).
type KernelCase = (x: Arrays) => { call: () => Promise<unknown>; inPlace?: AnyArray[] };
const T = { threads: 1 } as const;
// Inputs of about 1 MB or more (large allocations are unmapped when freed: a job reading one
// after a transfer or a resize would fault) and jobs of a few milliseconds (still running when JS
// interferes).
const KERNELS: Record<string, KernelCase> = {
  gemm: (x) => {
    const a = x.f32(384 * 320, 1), b = x.f32(320 * 448, 2), c = x.f32(384 * 448, 3);
    return { call: () => k.gemm({ a, b, c, m: 384, n: 448, k: 320, beta: 0.5, ...T }) };
  },
  gemv: (x) => {
    const a = x.f32(1000 * 600, 4), v = x.f32(600, 5), y = x.f32(1000, 6);
    return { call: () => k.gemv({ a, x: v, y, rows: 1000, cols: 600, beta: 2, ...T }) };
  },
  ger: (x) => {
    const a = x.f32(700 * 500, 7), u = x.f32(700, 8), w = x.f32(500, 9);
    return { call: () => k.ger({ a, x: u, y: w, rows: 700, cols: 500, alpha: 0.5, ...T }) };
  },
  unary: (x) => {
    const v = x.f32(1 << 20, 10);
    return { call: () => k.unary({ op: 'sigmoid', x: v, ...T }) };
  },
  rowSums: (x) => {
    const a = x.f32(1000 * 500, 11);
    return { call: () => k.rowSums({ a, rows: 1000, cols: 500, ...T }) };
  },
  colSums: (x) => {
    const a = x.f32(1000 * 500, 12);
    return { call: () => k.colSums({ a, rows: 1000, cols: 500, ...T }) };
  },
  softmaxCrossEntropy: (x) => {
    const logits = x.f32(30000 * 10, 13, -3, 3);
    const labels = fill(x.make(Int32Array, 30000), 14, (u) => Math.floor(u * 10));
    return { call: () => k.softmaxCrossEntropy({ logits, labels, batch: 30000, classes: 10, ...T }) };
  },
  conv2dForward: (x) => {
    const shape = { batch: 32, inChannels: 3, inH: 32, inW: 32, outChannels: 16, kernelH: 3, kernelW: 3, pad: 1 };
    const xs = x.f32(32 * 3 * 32 * 32, 15), w = x.f32(16 * 3 * 9, 16), bias = x.f32(16, 17);
    return { call: () => k.conv2dForward({ ...shape, x: xs, w, bias, ...T }) };
  },
  conv2dBackward: (x) => {
    const shape = { batch: 16, inChannels: 3, inH: 32, inW: 32, outChannels: 16, kernelH: 3, kernelW: 3, pad: 1 };
    const xs = x.f32(16 * 3 * 32 * 32, 18), w = x.f32(16 * 3 * 9, 19), dy = x.f32(16 * 16 * 32 * 32, 20);
    return { call: () => k.conv2dBackward({ ...shape, x: xs, w, dy, ...T }) };
  },
  maxPool2x2Forward: (x) => {
    const xs = x.f32(16 * 16 * 64 * 64, 21);
    return { call: () => k.maxPool2x2Forward({ batch: 16, channels: 16, inH: 64, inW: 64, x: xs, ...T }) };
  },
  maxPool2x2Backward: (x) => {
    const n = 16 * 16 * 32 * 32;
    const dy = x.f32(n, 22);
    // Each index in its own 2x2 window of a 64x64 plane.
    const argmax = x.make(Int32Array, n);
    for (let i = 0; i < n; i++) {
      const q = i % 1024, oy = Math.floor(q / 32), ox = q % 32;
      argmax[i] = (2 * oy + (i & 1)) * 64 + 2 * ox + ((i >> 1) & 1);
    }
    return { call: () => k.maxPool2x2Backward({ batch: 16, channels: 16, inH: 64, inW: 64, dy, argmax, ...T }) };
  },
  batchNormForward: (x) => {
    const xs = x.f32(256 * 32 * 64, 23), gamma = x.f32(32, 24, 0.5, 1.5), beta = x.f32(32, 25);
    const runningMean = x.f32(32, 26), runningVar = x.f32(32, 27, 0.5, 2);
    return { call: () => k.batchNormForward({ batch: 256, channels: 32, spatial: 64, x: xs, gamma, beta, runningMean,
      runningVar, training: true, ...T }) };
  },
  batchNormBackward: (x) => {
    const xs = x.f32(256 * 32 * 64, 28), dy = x.f32(256 * 32 * 64, 29), gamma = x.f32(32, 30, 0.5, 1.5);
    const savedMean = x.f32(32, 31), savedInvstd = x.f32(32, 32, 0.5, 2);
    return { call: () => k.batchNormBackward({ batch: 256, channels: 32, spatial: 64, x: xs, dy, gamma, savedMean,
      savedInvstd, ...T }) };
  },
  sgdUpdate: (x) => {
    const param = x.f32(1 << 19, 33), grad = x.f32(1 << 19, 34), velocity = x.f32(1 << 19, 35);
    return { call: () => k.sgdUpdate({ param, grad, velocity, lr: 0.1, momentum: 0.9, ...T }), inPlace: [param, velocity] };
  },
  adamUpdate: (x) => {
    const param = x.f32(1 << 19, 36), grad = x.f32(1 << 19, 37), m = x.f32(1 << 19, 38), v = x.f32(1 << 19, 39, 0, 1);
    return { call: () => k.adamUpdate({ param, grad, m, v, step: 3, ...T }), inPlace: [param, m, v] };
  },
  randomUniform: () => ({ call: () => k.randomUniform({ seed: 1, n: 1 << 19, ...T }) }),
  randomNormal: () => ({ call: () => k.randomNormal({ seed: 2, n: 1 << 19, ...T }) }),
  randomBernoulli: (x) => {
    const p = x.f32(1 << 19, 40, 0, 1);
    return { call: () => k.randomBernoulli({ seed: 3, p, ...T }) };
  },
  randomPoisson: (x) => {
    const rate = x.f32(1 << 19, 41, 0, 20);
    return { call: () => k.randomPoisson({ seed: 4, rate, ...T }) };
  },
  randomWald: () => ({ call: () => k.randomWald({ seed: 5, n: 1 << 19, mean: 1, shape: 2, ...T }) }),
};

/** One kernel under every mode: each result must equal the clean one (the call's inputs were copied). */
async function kernelCase(name: string): Promise<Json> {
  const make = KERNELS[name];
  if (!make) throw new Error(`no kernel ${name}`);
  const run = async (mode: Mode): Promise<Json> => {
    const x = new Arrays(mode);
    const { call, inPlace } = make(x);
    const promise = call();
    if (inPlace) {
      // Arrays updated in place: JS may not detach or resize them meanwhile (the promise rejects and
      // nothing is written); the read-only ones (grad) may be changed at will.
      const readOnly = x.made.filter((a) => !inPlace.includes(a));
      const ro = new Arrays(mode);
      ro.made.push(...readOnly);
      ro.interfere();
      if (mode === 'write') for (const a of inPlace) a.fill(7);
      await promise;
      return fingerprint(inPlace);
    }
    x.interfere();
    return fingerprint(await promise);
  };
  const clean = JSON.stringify(await run('clean'));
  const out: Record<string, Json> = {};
  for (const mode of ['transfer', 'resize', 'write'] as const) out[mode] = JSON.stringify(await run(mode)) === clean ? 'same' : 'different';
  if (name === 'sgdUpdate' || name === 'adamUpdate') out.inPlace = await inPlaceRefusals(name);
  return out;
}

/** sgdUpdate / adamUpdate: a param detached or resized during the call, and a SharedArrayBuffer param. */
async function inPlaceRefusals(name: string): Promise<Json> {
  const out: Record<string, Json> = {};
  for (const mode of ['transfer', 'resize'] as const) {
    const x = new Arrays(mode);
    const { call, inPlace } = KERNELS[name](x);
    const before = inPlace!.slice(1).map((a) => Float32Array.from(a as Float32Array));
    const promise = call();
    const param = inPlace![0];
    if (mode === 'transfer') structuredClone(param.buffer, { transfer: [param.buffer as ArrayBuffer] });
    else (param.buffer as unknown as { resize(n: number): void }).resize(0);
    try {
      await promise;
      out[mode] = 'resolved';
    } catch (e) {
      const unchanged = inPlace!.slice(1).every((a, i) => Buffer.compare(Buffer.from(a.buffer), Buffer.from(before[i].buffer)) === 0);
      out[mode] = `${(e as Error).name}: ${(e as Error).message}${unchanged ? ' [others unchanged]' : ' [others CHANGED]'}`;
    }
  }
  const shared = new Float32Array(new SharedArrayBuffer(4 * 100));
  const grad = new Float32Array(100), m = new Float32Array(100), v = new Float32Array(100);
  try {
    if (name === 'sgdUpdate') await k.sgdUpdate({ param: shared, grad, lr: 0.1 });
    else await k.adamUpdate({ param: shared, grad, m, v, step: 1 });
    out.shared = 'resolved';
  } catch (e) {
    out.shared = `${(e as Error).name}: ${(e as Error).message}`;
  }
  // A SharedArrayBuffer input that is only read is copied, like any other.
  const sharedGrad = new Float32Array(new SharedArrayBuffer(4 * 100)).fill(1);
  const param = new Float32Array(100);
  await k.sgdUpdate({ param, grad: sharedGrad, lr: 0.5 });
  out.sharedGrad = param[0];
  return out;
}

// ---------------------------------------------------------------------------------------------
// The classes: the same data given to two networks of one seed, one of them with its inputs
// transferred, resized or overwritten during the call. Both must give the same results.

const PIXELS = 784;

function dataset(x: Arrays, n: number, count: number): { images: Uint8Array; labels: Uint8Array; order: Int32Array } {
  const images = fill(x.make(Uint8Array, n * PIXELS), 50, (u) => (u < 0.7 ? 0 : Math.floor(u * 256)));
  const labels = fill(x.make(Uint8Array, n), 51, (u) => Math.floor(u * 10));
  const order = fill(x.make(Int32Array, count), 52, (u) => Math.floor(u * n));
  return { images, labels, order };
}

function sequential(): NativeSequential {
  return new nativeClasses.Sequential({
    input: { channels: 1, height: 28, width: 28 }, classes: 10, batchSize: 32, seed: 7, threads: 1,
    layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 64 }, { type: 'relu' }, { type: 'linear', outFeatures: 10 }],
  });
}

function segregated(): SegregatedNetwork {
  return new SegregatedNetwork({ layers: [30, 10], seed: 7, threads: 1 });
}

async function classCase(name: string): Promise<Json> {
  const run = async (mode: Mode): Promise<Json> => {
    const x = new Arrays(mode);
    if (name.startsWith('Sequential.')) {
      const net = sequential();
      const d = dataset(x, 400, 300);
      let promise: Promise<unknown>;
      if (name === 'Sequential.trainChunk') promise = net.trainChunk({ ...d, start: 10, count: 250 });
      else if (name === 'Sequential.evaluate') promise = net.evaluate({ ...d, predictions: true });
      else promise = net.gradients({ ...d, start: 5, count: 32 });
      x.interfere();
      const r = await promise;
      // Training changed the network: its weights too must be those of the clean run.
      return fingerprint({ r, params: name === 'Sequential.trainChunk' ? net.getState().params : null });
    }
    const net = segregated();
    const d = dataset(x, 60, 24);
    let promise: Promise<unknown>;
    if (name === 'SegregatedNetwork.trainChunk') promise = net.native.trainChunk({ ...d, recordAngle: true });
    else promise = net.native.evaluate({ images: d.images, count: 40, round: 0, voltages: true });
    x.interfere();
    const r = await promise;
    return fingerprint({ r, weights: name === 'SegregatedNetwork.trainChunk' ? net.native.getWeights() : null });
  };
  const clean = JSON.stringify(await run('clean'));
  const out: Record<string, Json> = {};
  for (const mode of ['transfer', 'resize', 'write'] as const) out[mode] = JSON.stringify(await run(mode)) === clean ? 'same' : 'different';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Termination: a worker thread terminated with a native job in flight.

async function startLongJob(kind: string): Promise<Promise<unknown>[]> {
  if (kind === 'kernel' || kind === 'queued') {
    const n = 1024;
    const a = new Float32Array(n * n).fill(0.5);
    const jobs = [k.gemm({ a, b: a, m: n, n, k: n, threads: 1 })];
    if (kind === 'queued') jobs.push(k.gemm({ a, b: a, m: n, n, k: n, threads: 1 }), k.unary({ op: 'relu', x: a, threads: 1 }));
    return jobs;
  }
  const x = new Arrays('clean');
  if (kind === 'sequential') {
    const d = dataset(x, 2000, 2000);
    return [sequential().trainChunk({ ...d })];
  }
  const d = dataset(x, 400, 400);
  return [segregated().native.trainChunk({ ...d })];
}

async function terminateCase(kind: string): Promise<Json> {
  const worker = new Worker(__filename, { workerData: { kind }, stdout: false });
  const started = await new Promise<number>((resolve, reject) => {
    worker.once('message', (m: number) => resolve(m));
    worker.once('error', reject);
  });
  const code = await worker.terminate();
  // The main thread's native calls still work.
  const r = await k.gemm({ a: new Float32Array([1, 2, 3, 4]), b: new Float32Array([5, 6, 7, 8]), m: 2, n: 2, k: 2 });
  return { started, code, after: Array.from(r) };
}

if (!isMainThread && workerData?.kind) {
  void startLongJob(workerData.kind as string).then((jobs) => {
    for (const j of jobs) j.catch(() => {});
    parentPort!.postMessage(jobs.length);
  });
}

// ---------------------------------------------------------------------------------------------

async function errorOf(f: () => unknown): Promise<Json> {
  try {
    await f();
    return 'no error';
  } catch (e) {
    return { name: (e as Error).name, code: (e as { code?: string }).code, message: (e as Error).message };
  }
}

async function main(): Promise<void> {
  const [what, arg] = process.argv.slice(2);
  switch (what) {
    case 'inputs':
      result(arg!.includes('.') ? await classCase(arg!) : await kernelCase(arg!));
      break;
    case 'terminate':
      result(await terminateCase(arg!));
      break;
    case 'exit-in-flight': {
      // process.exit() while a job runs on the CPU executor (and one waits behind it).
      const n = 1024;
      const a = new Float32Array(n * n).fill(1);
      void k.gemm({ a, b: a, m: n, n, k: n, threads: 1 });
      void k.gemm({ a, b: a, m: n, n, k: n, threads: 1 });
      result('exiting');
      setTimeout(() => process.exit(0), 20);
      break;
    }
    case 'oom': {
      const out: Record<string, Json> = {};
      out.segregated = await errorOf(() => new SegregatedNetwork({ layers: [1000000, 1000000, 10] }));
      out.sequential = await errorOf(() => new nativeClasses.Sequential({
        input: { channels: 1, height: 1, width: 2 ** 30 }, classes: 10, batchSize: 1,
        layers: [{ type: 'linear', outFeatures: 2 ** 30 }] }));
      result(out);
      break;
    }
    case 'oom-job': {
      // Run under an address-space limit: the training slots allocated on the CPU executor fail.
      const out: Record<string, Json> = {};
      out.construct = await errorOf(() => new SegregatedNetwork({ layers: [30000, 30000, 10] }));
      const net = new SegregatedNetwork({ layers: [20000, 10], threads: 1 });
      const x = new Arrays('clean');
      const d = dataset(x, 4096, 4096);
      out.trainChunk = await errorOf(() => net.native.trainChunk({ ...d, batchSize: 4096 }));
      out.after = await errorOf(() => net.native.evaluate({ images: d.images.subarray(0, PIXELS), count: 1 }));
      result(out);
      break;
    }
    case 'threads': {
      // Run with a low limit on the processes of this user (prlimit --nproc).
      const a = new Float32Array(512 * 512).fill(1);
      const out: Record<string, Json> = {};
      out.gemm1024 = await errorOf(() => k.gemm({ a, b: a, m: 512, n: 512, k: 512, threads: 1024 }));
      out.gemm2 = (await k.gemm({ a, b: a, m: 512, n: 512, k: 512, threads: 2 }))[0];
      out.segregated = await errorOf(() => new SegregatedNetwork({ threads: 1024 }));
      out.sequential = await errorOf(() => new nativeClasses.Sequential({
        input: { channels: 1, height: 1, width: 4 }, classes: 2, batchSize: 1, threads: 1024,
        layers: [{ type: 'linear', outFeatures: 2 }] }));
      result(out);
      break;
    }
    case 'threads-after-check': {
      // The user's thread limit reached by other processes after a call's thread count was
      // checked, then kernels and networks of every team shape on both lanes (run with prlimit
      // --nproc). Under OpenMP this ended the process: a GEMV's smaller team let the lane's other
      // threads go and the next larger team had to start them again; the small lane's first
      // team started its own.
      k.setCpuScheduling({ syncCallLimit: 0 });
      await fs.promises.readFile(__filename);  // libuv's own threads exist before the limit is reached
      const n = 512;
      const a = new Float32Array(n * n).fill(1);
      const out: Record<string, Json> = { checked: (await k.gemm({ a, b: a, m: n, n, k: n, threads: 4 }))[0] };
      const sleepers: ChildProcess[] = [];
      while (sleepers.length < 500) {
        const p = spawn('sleep', ['60'], { stdio: 'ignore' });
        if (!(await new Promise<boolean>((r) => { p.once('spawn', () => r(true)); p.once('error', () => r(false)); }))) break;
        sleepers.push(p);
      }
      out.sleepers = sleepers.length;
      try {
        const v = new Float32Array(400 * 400).fill(1);
        const x = new Float32Array(400).fill(1);
        const net = new SegregatedNetwork({ layers: [30, 10], seed: 7, threads: 4 });
        const [gemv2, gemm4, relu, evaluated] = await Promise.all([
          k.gemv({ a: v, x, rows: 400, cols: 400, threads: 4 }),  // 2 threads (its size)
          k.gemm({ a, b: a, m: n, n, k: n, threads: 4 }),
          k.unary({ op: 'relu', x: a, threads: 4 }),               // the small lane
          net.native.evaluate({ images: new Uint8Array(784 * 8).fill(128), count: 8 }),
        ]);
        out.gemv = gemv2[0];
        out.gemm = gemm4[n * n - 1];
        out.relu = relu[0];
        out.evaluated = evaluated.prediction.length;
      } finally {
        for (const p of sleepers) p.kill('SIGKILL');
      }
      result(out);
      break;
    }
    case 'memory': {
      // 150 networks created and dropped: the finalizers free them and the memory goes back.
      const rss = () => process.memoryUsage().rss;
      const settle = async () => {
        for (let i = 0; i < 3; i++) {
          gc!();
          await new Promise((r) => setImmediate(r));
        }
      };
      const make = arg === 'sequential'
        ? () => new nativeClasses.Sequential({ input: { channels: 1, height: 28, width: 28 }, classes: 10, batchSize: 100,
          layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 100 }, { type: 'relu' }, { type: 'linear', outFeatures: 10 }] })
        : () => segregated500();
      await settle();
      const before = rss();
      let kept: unknown[] = [];
      for (let i = 0; i < 150; i++) kept.push(make());
      const peak = rss();
      kept = [];
      await settle();
      const dropped = rss();
      // The same with dispose(), no collection needed.
      for (let i = 0; i < 150; i++) kept.push(make());
      const peak2 = rss();
      for (const n of kept) (n as { dispose(): void }).dispose();
      const disposed = rss();
      kept = [];
      result({ before, peak, dropped, peak2, disposed });
      break;
    }
    case 'nogc': {
      // Networks dropped without an explicit collection: their native memory is reported to V8
      // (external memory), so V8 collects them as it would large arrays; else little JS garbage
      // would accumulate behind 250 MB of native memory and no collection would come.
      const rss = () => process.memoryUsage().rss;
      const options = new SegregatedNetwork({ layers: [2000, 10], threads: 1 }).native.config();  // 6.3 MB of weights
      const before = rss();
      let peak = before;
      for (let i = 0; i < 40; i++) {
        new nativeClasses.SegregatedNetwork(options);
        await new Promise((r) => setImmediate(r));
        peak = Math.max(peak, rss());
      }
      result({ before, peak });
      break;
    }
    default:
      throw new Error(`unknown case ${what}`);
  }
}

function segregated500(): SegregatedNetwork {
  return new SegregatedNetwork({ layers: [500, 10], threads: 1 });
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
