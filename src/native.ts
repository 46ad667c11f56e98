// Loads the native addon once and gives it types. Everything else imports the addon from here.
import path from 'node:path';

export type DeviceString = 'cpu' | 'cuda' | 'auto' | `cuda:${number}`;

/** Options every compute call accepts. */
export interface ExecOptions {
  /** "cpu" (default), "cuda", "cuda:N" or "auto" (CUDA when available, else the CPU). */
  device?: DeviceString;
  /** CPU threads; default DENDRITE_NUM_THREADS, else OMP_NUM_THREADS, else the cores this process may use. */
  threads?: number;
}

export interface CpuInfo {
  logicalCores: number;
  defaultThreads: number;
  openmp: boolean;
  simd: 'avx512' | 'avx2' | 'sse2' | 'neon' | 'scalar';
}

export interface CudaDevice {
  index: number;
  name: string;
  totalMemory: number;
  computeCapability: string;
  multiprocessors: number;
}

export interface CudaInfo {
  compiled: boolean;
  /** What the device code was built for, as CMake lists it (e.g. "75-real,80-real,86-real,90": "-real" means no PTX); null without CUDA. */
  architectures: string | null;
  available: boolean;
  /** Why CUDA cannot be used (not compiled in, no driver, no device); absent when it can. */
  reason?: string;
  runtimeVersion: number;
  driverVersion: number;
  devices: CudaDevice[];
}

export interface DevicesInfo {
  cpu: CpuInfo;
  cuda: CudaInfo;
}

export interface ResolvedDevice {
  device: 'cpu' | `cuda:${number}`;
  /** Set when "auto" fell back to the CPU: why CUDA was not used. */
  fallback?: string;
}

export type UnaryOpName = 'sigmoid' | 'sigmoidGrad' | 'relu' | 'reluGrad' | 'scaleShift';

export interface ConvShape {
  batch: number;
  inChannels: number;
  inH: number;
  inW: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  stride?: number;
  pad?: number;
}

export interface PoolShape {
  batch: number;
  channels: number;
  inH: number;
  inW: number;
}

export interface BatchNormShape {
  batch: number;
  channels: number;
  /** H*W for images, 1 (default) for dense layers. */
  spatial?: number;
  eps?: number;
  momentum?: number;
}

export interface RngOptions {
  /** Seed of the stream: a safe integer or a bigint (64 bits). */
  seed: number | bigint;
  /** Independent stream of the same seed (default 0). */
  stream?: number | bigint;
  /** Index of the first element drawn within the stream (default 0). */
  offset?: number | bigint;
}

/** One layer of a native sequential network (PyTorch semantics, NCHW). */
export type SequentialLayer =
  | { type: 'linear'; outFeatures: number; bias?: boolean }
  | { type: 'conv2d'; outChannels: number; kernel?: number; kernelH?: number; kernelW?: number; stride?: number;
      pad?: number; bias?: boolean }
  | { type: 'batchNorm'; eps?: number; momentum?: number }
  | { type: 'relu' }
  | { type: 'maxPool2x2' }
  | { type: 'flatten' };

export type OptimizerOptions =
  | { type: 'adam'; lr?: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }
  | { type: 'sgd'; lr: number; momentum?: number; weightDecay?: number };

export interface SequentialOptions extends ExecOptions {
  /** Shape of one example. */
  input: { channels: number; height: number; width: number };
  classes: number;
  layers: SequentialLayer[];
  /** backprop (default), fa (feedback alignment) or dfa (direct feedback alignment): dense networks only. */
  feedback?: 'backprop' | 'fa' | 'dfa';
  /** Default Adam(lr 1e-3, betas 0.9/0.999, eps 1e-8). */
  optimizer?: OptimizerOptions;
  /** Mini-batch size for training and evaluation. */
  batchSize: number;
  /** Seed of the initial weights (and feedback matrices). */
  seed?: number | bigint;
}

/** uint8 images (count x channels*height*width) and their labels; examples order[start .. start+count). */
export interface SequentialData {
  images: Uint8Array;
  labels: Uint8Array;
  order?: Int32Array;
  start?: number;
  count?: number;
}

export interface SequentialChunkResult {
  examples: number;
  /** Sum over examples of the loss before each mini-batch's update. */
  lossSum: number;
  correct: number;
  batchSize: Int32Array;
  batchLoss: Float64Array;
  batchCorrect: Int32Array;
  /** Optimiser steps taken so far. */
  step: number;
}

export interface SequentialEvalResult {
  count: number;
  correct: number;
  accuracy: number;
  loss: number;
  lossSum: number;
  predictions?: Int32Array;
}

export interface SequentialTensorInfo {
  layer: number;
  kind: 'weight' | 'bias' | 'gamma' | 'beta' | 'runningMean' | 'runningVar' | 'feedback';
  shape: number[];
  group: 'params' | 'buffers' | 'feedback';
  offset: number;
  size: number;
}

export interface SequentialInfo {
  layers: { type: SequentialLayer['type']; shape: number[] }[];
  tensors: SequentialTensorInfo[];
  paramCount: number;
  bufferCount: number;
  feedbackCount: number;
  step: number;
  device: string;
  threads: number;
}

/** Everything that determines future training. moment1/moment2: Adam m/v (SGD: velocity, or empty). */
export interface SequentialState {
  params: Float32Array;
  buffers: Float32Array;
  feedback: Float32Array;
  moment1: Float32Array;
  moment2: Float32Array;
  step: number;
}

export interface SequentialAlignment {
  layer: number;
  angleDeg: number;
  normForward: number;
  normFeedback: number;
}

/** A native network. Asynchronous calls on one object must not overlap (a second one throws). */
export interface NativeSequential {
  readonly busy: boolean;
  trainChunk(o: SequentialData & { order: Int32Array }): Promise<SequentialChunkResult>;
  evaluate(o: SequentialData & { predictions?: boolean }): Promise<SequentialEvalResult>;
  /** Loss and gradients of one mini-batch (training-mode forward), nothing changed. */
  gradients(o: SequentialData): Promise<{ loss: number; grads: Float32Array }>;
  info(): SequentialInfo;
  getState(): SequentialState;
  setState(s: SequentialState): void;
  getWeights(): { layer: number; kind: SequentialTensorInfo['kind']; shape: number[]; data: Float32Array }[];
  alignment(): SequentialAlignment[];
  /** Frees the native memory now; later calls throw (refused while a call runs). */
  dispose(): void;
}

/** Layer parameters of a segregated-dendrite network, row-major (see src/models/segregated.ts). */
export interface SegregatedLayerWeights {
  W: Float32Array;
  b: Float32Array;
  Y?: Float32Array;
  c?: Float32Array;
}

/** Training position: the counters that key every random draw (see native/common/segregated.h). */
export interface SegregatedPosition {
  epoch: number;
  example: number;
  evalRound: number;
}

/** A per-step recording request (bindings/segregated.cpp; layouts in native/common/segregated.h). */
export interface SegregatedRecordRequest {
  /** Strictly increasing positions within the chunk (trainChunk) or image indices (evaluate). */
  examples: number[] | Int32Array;
  /** Per layer, the units to record (default: the first min(4, n) of each layer). */
  units?: Array<number[] | Int32Array>;
  voltages?: boolean;
  phaseTimes?: boolean;
  plateauTimes?: boolean;
}

/** A recording: rows stepOffsets[r] .. stepOffsets[r + 1] - 1 are the steps of recorded example r. */
export interface SegregatedRecording {
  stepOffsets: Int32Array;
  /** Per layer, rows x units values (A for hidden layers only). */
  layers?: Array<{ units: Int32Array; A?: Float32Array; B: Float32Array; C: Float32Array; lambda: Float32Array }>;
  /** count x 2: forward and target phase lengths of every example of the chunk. */
  phaseLengths?: Int32Array;
  /** recorded examples x hidden units x 2: plateau steps counted from the example's first step. */
  plateauTimes?: Int32Array;
}

/** The native SegregatedNetwork class (bindings/segregated.cpp). */
export interface NativeSegregatedNetwork {
  readonly busy: boolean;
  /** Where the network lives: "cpu" or "cuda:N" ("auto" resolved). */
  readonly device: string;
  trainChunk(o: { images: Uint8Array; labels: Uint8Array; order: Int32Array; batchSize?: number; recordAngle?: boolean;
    record?: SegregatedRecordRequest }):
    Promise<{ loss: Float32Array; prediction: Int32Array; angle?: Float32Array; record?: SegregatedRecording }>;
  /** offset: the index of images[0] in the whole test set (default 0); image i draws its test spikes as image offset + i. */
  evaluate(o: { images: Uint8Array; count?: number; round?: number | bigint; offset?: number; voltages?: boolean;
    record?: Omit<SegregatedRecordRequest, 'phaseTimes' | 'plateauTimes'> }):
    Promise<{ prediction: Int32Array; voltages?: Float32Array; record?: SegregatedRecording }>;
  getWeights(): SegregatedLayerWeights[];
  setWeights(layers: Array<{ W: Float32Array | number[]; b: Float32Array | number[]; Y?: Float32Array | number[];
    c?: Float32Array | number[] }>): void;
  setLearningRates(o: { learningRates?: number[]; feedbackLearningRates?: number[] }): void;
  resetState(): void;
  getState(): Float64Array;
  setState(state: Float64Array | number[]): void;
  getPosition(): SegregatedPosition;
  setPosition(p: Partial<SegregatedPosition>): void;
  permutation(epoch: number, n: number): Int32Array;
  config(): Record<string, unknown>;
  /** Frees the native memory now; later calls throw (refused while trainChunk or evaluate runs). */
  dispose(): void;
}

/** The raw addon. Prefer the typed wrappers in kernels.ts, which turn throws into rejections. */
/** What one CPU lane holds now (docs/service.md). */
export interface CpuLaneLoad {
  /** Calls waiting for the lane's thread. */
  queued: number;
  /** 1 while a call runs on it, else 0. */
  running: number;
  /** Calls finished since the process started. */
  done: number;
}

/** How native CPU work is shared between calls (docs/service.md). */
export interface CpuScheduling {
  /**
   * Kernel calls estimated at or below this many operations (a GEMM counts 2mnk; memory-bound
   * kernels 8 per element they read or write) run on the small-call lane, beside whatever the main
   * lane runs; larger ones, and every network's training and evaluation, queue on the main lane.
   * 0 sends every call to the main lane. Default 2^24 (16,777,216).
   */
  smallCallLimit: number;
  /**
   * Kernel calls estimated at or below this many operations run synchronously, on the calling
   * thread and one core, and return a promise already settled: for such calls the round trip to an
   * executor thread (about 35 microseconds) costs as much as the work. They hold the event loop
   * about as long (a 128x128x128 GEMM: some 40 microseconds) and never wait for a lane. 0: every
   * call runs on an executor thread. Default 2^22 (4,194,304).
   */
  syncCallLimit: number;
  /**
   * While other processes keep cores busy, parallel work uses at most this many threads (the free
   * cores; re-measured every 20 ms): a team larger than the free cores would wait at every barrier for
   * descheduled threads. null: no cut now. DENDRITE_ADAPTIVE_THREADS=0 turns the cut off.
   */
  threadLimit: number | null;
  lanes: { main: CpuLaneLoad; small: CpuLaneLoad };
}

export interface NativeAddon {
  devices(): DevicesInfo;
  resolveDevice(device: string): ResolvedDevice;
  cpuScheduling(o: { smallCallLimit?: number; syncCallLimit?: number }): CpuScheduling;

  gemm(o: { a: Float32Array; b: Float32Array; c?: Float32Array; m: number; n: number; k: number;
    transA?: boolean; transB?: boolean; alpha?: number; beta?: number } & ExecOptions): Promise<Float32Array>;
  gemv(o: { a: Float32Array; x: Float32Array; y?: Float32Array; rows: number; cols: number; trans?: boolean;
    alpha?: number; beta?: number } & ExecOptions): Promise<Float32Array>;
  ger(o: { a: Float32Array; x: Float32Array; y: Float32Array; rows: number; cols: number; alpha?: number }
    & ExecOptions): Promise<Float32Array>;

  unary(o: { op: UnaryOpName; x: Float32Array; scale?: number; shift?: number } & ExecOptions): Promise<Float32Array>;
  rowSums(o: { a: Float32Array; rows: number; cols: number } & ExecOptions): Promise<Float32Array>;
  colSums(o: { a: Float32Array; rows: number; cols: number } & ExecOptions): Promise<Float32Array>;
  softmaxCrossEntropy(o: { logits: Float32Array; labels: Int32Array; batch: number; classes: number } & ExecOptions):
    Promise<{ loss: number; losses: Float32Array; grad: Float32Array }>;

  conv2dForward(o: ConvShape & { x: Float32Array; w: Float32Array; bias?: Float32Array } & ExecOptions):
    Promise<Float32Array>;
  conv2dBackward(o: ConvShape & { x: Float32Array; w: Float32Array; dy: Float32Array; inputGrad?: boolean;
    biasGrad?: boolean } & ExecOptions): Promise<{ dx?: Float32Array; dw: Float32Array; db?: Float32Array }>;
  maxPool2x2Forward(o: PoolShape & { x: Float32Array } & ExecOptions): Promise<{ y: Float32Array; argmax: Int32Array }>;
  maxPool2x2Backward(o: PoolShape & { dy: Float32Array; argmax: Int32Array } & ExecOptions): Promise<Float32Array>;
  batchNormForward(o: BatchNormShape & { x: Float32Array; gamma: Float32Array; beta: Float32Array;
    runningMean: Float32Array; runningVar: Float32Array; training: boolean } & ExecOptions): Promise<{
    y: Float32Array; savedMean?: Float32Array; savedInvstd?: Float32Array; runningMean?: Float32Array;
    runningVar?: Float32Array }>;
  batchNormBackward(o: BatchNormShape & { x: Float32Array; dy: Float32Array; gamma: Float32Array;
    savedMean: Float32Array; savedInvstd: Float32Array } & ExecOptions): Promise<{ dx: Float32Array;
    dgamma: Float32Array; dbeta: Float32Array }>;

  sgdUpdate(o: { param: Float32Array; grad: Float32Array; velocity?: Float32Array; lr: number; momentum?: number;
    weightDecay?: number } & ExecOptions): Promise<void>;
  adamUpdate(o: { param: Float32Array; grad: Float32Array; m: Float32Array; v: Float32Array; step: number;
    lr?: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number } & ExecOptions): Promise<void>;

  randomUniform(o: RngOptions & { n: number; low?: number; high?: number } & ExecOptions): Promise<Float32Array>;
  randomNormal(o: RngOptions & { n: number; mean?: number; std?: number } & ExecOptions): Promise<Float32Array>;
  randomBernoulli(o: RngOptions & { p: Float32Array } & ExecOptions): Promise<Uint8Array>;
  randomPoisson(o: RngOptions & { rate: Float32Array } & ExecOptions): Promise<Int32Array>;
  randomWald(o: RngOptions & { n: number; mean: number; shape: number } & ExecOptions): Promise<Float32Array>;
}

/** The addon's classes (kept apart from NativeAddon, whose members are all functions). */
export interface NativeClasses {
  SegregatedNetwork: new (options: Record<string, unknown>) => NativeSegregatedNetwork;
  Sequential: new (o: SequentialOptions) => NativeSequential;
}

function checkEnvironment(): void {
  const threads = process.env.DENDRITE_NUM_THREADS;
  if (threads !== undefined && !/^[0-9]+$/.test(threads.trim())) {
    throw new RangeError(`DENDRITE_NUM_THREADS must be a positive integer, got "${threads}"`);
  }
  if (threads !== undefined && (Number(threads) < 1 || Number(threads) > 1024)) {
    throw new RangeError(`DENDRITE_NUM_THREADS must be in [1, 1024], got ${threads}`);
  }
}

const packageRoot = path.join(__dirname, '..', '..');

// The addon file: DENDRITE_ADDON's (tests, sanitizer and other builds), else the one node-gyp-build
// picks: build/Release or build/Debug when the addon was built from source here (a checkout, or an
// install without a matching prebuilt binary), else prebuilds/<platform>-<arch>/ by platform,
// architecture, N-API and libc tags. Throws when there is none.
function addonFile(): string {
  if (process.env.DENDRITE_ADDON) return path.resolve(process.env.DENDRITE_ADDON);
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  try {
    return nodeGypBuild.resolve(packageRoot);
  } catch (err) {
    throw new Error(`no built or prebuilt addon in ${packageRoot}: ${(err as Error).message.split('\n')[0]}`);
  }
}

let loaded: { addon: NativeAddon; file: string } | undefined;
let loadError: Error | undefined;

function load(): NativeAddon {
  if (loaded) return loaded.addon;
  if (loadError) throw loadError;
  checkEnvironment();
  let why: string;
  try {
    const file = addonFile();
    try {
      loaded = { addon: require(file) as NativeAddon, file };
      return loaded.addon;
    } catch (err) {
      why = `${file}: ${(err as Error).message.split('\n')[0]}`;
    }
  } catch (err) {
    why = (err as Error).message;
  }
  loadError = new Error(
    'dendrite-bench: the native addon could not be loaded. Rebuild it with "npm rebuild dendrite-bench" ' +
      '(in a checkout: "npm run build"); building needs CMake >= 3.19 or node-gyp, and a C++17 compiler. ' +
      '"dendrite-bench doctor" says what is missing.\n  ' + why,
  );
  (loadError as Error & { code: string }).code = 'ERR_DENDRITE_ADDON';
  throw loadError;
}

/**
 * A member of the addon. One it lacks means the addon was built from older sources than this
 * code: said so, with the same code as a missing addon, rather than "x is not a function".
 */
function member(key: string | symbol): unknown {
  const addon = load() as unknown as Record<string | symbol, unknown>;
  const v = addon[key];
  if (v === undefined && typeof key === 'string' && key !== 'then') {
    const e = new Error(`dendrite-bench: the native addon ${loaded!.file} has no "${key}": it is older than this code. ` +
      'Rebuild it with "npm rebuild dendrite-bench" (in a checkout: "npm run build").');
    (e as Error & { code: string }).code = 'ERR_DENDRITE_ADDON';
    throw e;
  }
  return v;
}

/** Whether the addon loads, without throwing: the file it came from, or why it did not. */
export function addonStatus(): { loaded: true; file: string } | { loaded: false; error: string } {
  try {
    load();
    return { loaded: true, file: loaded!.file };
  } catch (err) {
    return { loaded: false, error: (err as Error).message };
  }
}

// The addon loads at the first native call, not at import: the pure parts of the package (datasets,
// option tables, presets, results, reports) and the CLI's help work without it, and a missing build
// is reported where native compute is asked for.
export const native: NativeAddon = new Proxy({} as NativeAddon, {
  get: (_, key) => member(key),
  has: (_, key) => key in load(),
});
export const nativeClasses: NativeClasses = new Proxy({} as NativeClasses, {
  get: (_, key) => member(key),
});
