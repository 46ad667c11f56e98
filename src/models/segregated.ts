// The segregated-dendrite network of Guerguiev, Lillicrap & Richards (2017) on the native
// simulator (bindings/segregated.cpp, native/cpu/segregated_cpu.cpp). The model, its options and
// its deviations from the original code are specified in docs/papers.md.
//
// Units and conventions are those of the shared training loop (src/train/loop.ts): accuracies are
// fractions in [0, 1], epochs are numbered from 1 in results and events, and train() is a
// convenience over that loop (through SegregatedTrainable), so one seed gives one epoch order,
// trainingOrder(n, seed, epoch), whichever way the network is trained. Options are resolved from
// the one table of src/models/segregated-options.ts; the native class gets the complete set.
// Weights and checkpoints are safetensors files (src/train/checkpoint.ts), written atomically and
// read and written without holding the event loop.
import fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';

import { nativeClasses, type DeviceString, type NativeSegregatedNetwork, type SegregatedLayerWeights, type SegregatedPosition,
  type SegregatedRecording } from '../native';
import { loadCheckpoint, modelCheckpoint, saveCheckpoint } from '../train/checkpoint';
import { train as trainLoop } from '../train/loop';
import { throwIfAborted, type ModelState } from '../train/model';
import { activeOptions, conditionHolds, optionError, resolveOptions, type GivenOptions, type OptionSpec } from './options';
import { SEGREGATED_OPTIONS, type SegregatedModelOptions } from './segregated-options';
import { SegregatedTrainable } from './segregated-trainable';

/** A labelled set of images (row-major pixels 0..255, nIn per image), `count` images. */
export interface DigitDataset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** What the network needs besides its model options (not part of the options table). */
export interface SegregatedRuntimeOptions {
  /** "cuda" / "cuda:N" simulate on a GPU; "auto" takes CUDA when a device can be used, else the CPU (default "cpu"). */
  device?: DeviceString;
  /** Seed of the initial weights and of every random draw (default 0; a decimal string as config() gives it, too). */
  seed?: number | bigint | string;
  /** CPU threads (default DENDRITE_NUM_THREADS, else OMP_NUM_THREADS, else the cores this process may use). */
  threads?: number;
}

/**
 * Every option of the simulator as a user gives it: the table SEGREGATED_OPTIONS
 * (src/models/segregated-options.ts, docs/segregated.md "Options") with its defaults, including
 * `mode` and `batchSize` (1: online, the paper; B > 1: summed updates of B examples), plus the
 * runtime options.
 */
export type SegregatedOptions = GivenOptions<typeof SEGREGATED_OPTIONS> & SegregatedRuntimeOptions;

/** config(): the resolved options (every option of the table) with the seed, threads and device. */
export type SegregatedConfig = SegregatedModelOptions & {
  /** The seed as a decimal string (it may exceed 2^53). */
  seed: string;
  threads: number;
  /** Where the network lives: "cpu" or "cuda:N". */
  device: 'cpu' | `cuda:${number}`;
};

export interface TrainProgress {
  /** 1-based epoch. */
  epoch: number;
  /** Examples of this epoch done so far, of `total`. */
  example: number;
  total: number;
  /** Running mean over the examples trained by this call in this epoch (each before its update). */
  trainAccuracy: number;
  trainLoss: number;
  examplesPerSecond: number;
  /** Wall-clock seconds of this call so far. */
  elapsedSeconds: number;
  /** Seconds left to the end of this call's last epoch at the pace so far. */
  etaSeconds: number;
}

export interface TrainOptions {
  /** Epochs to train from the current position (a partly trained epoch counts as one); default 1. */
  epochs?: number;
  /** Seed of the epoch orders, trainingOrder(n, seed, epoch) (default: the network's seed). */
  seed?: number;
  /** Replace the learning rates first (they stay: config() reports them and checkpoints keep them). */
  learningRates?: number[];
  feedbackLearningRates?: number[];
  /** Scored after every epoch when given (testAccuracy, testLoss). */
  testSet?: DigitDataset;
  /** Also score the test set before training (the original's `initial_test`): initialTest* of the first epoch. */
  initialTest?: boolean;
  /** Examples per native call (progress and abort granularity); rounded up to a multiple of the batch size. Default 500. */
  chunkSize?: number;
  /** Record the angle between local and backprop hidden errors (docs/papers.md §18 item 2). */
  recordAngle?: boolean;
  /** Per-step recording in every epoch (the original's record_* options; see docs/segregated.md "Recording"). */
  record?: TrainRecordOptions;
  onProgress?: (p: TrainProgress) => void;
  /** Stops within one chunk: the call rejects with an AbortError (cause: signal.reason). */
  signal?: AbortSignal;
}

export interface TrainRecordOptions {
  /** Positions in each epoch's presentation order (0-based, strictly increasing) to record; default none. */
  examples?: number[];
  /** Per layer, the units to record (default the first min(4, n) units of each layer). */
  units?: number[][];
  /** A (hidden), B, C, lambda of the chosen units at every step of the chosen examples. */
  voltages?: boolean;
  /** Phase boundaries of every example trained. */
  phaseTimes?: boolean;
  /** Forward and target plateau steps of every hidden unit of the chosen examples. */
  plateauTimes?: boolean;
}

export interface TrainRecording {
  /** Label and dataset index of every example trained in the epoch, in presentation order. */
  labels: Int32Array;
  images: Int32Array;
  /** The first epoch position this call trained (0 unless resumed mid-epoch); clocks below start there. */
  firstPosition: number;
  /** The recorded positions (those trained in this call) and their global numbers epoch x n + position. */
  examples: Int32Array;
  globalExamples: Float64Array;
  /** Rows stepOffsets[r] .. stepOffsets[r + 1] - 1 of the per-step arrays are recorded example r's steps. */
  stepOffsets: Int32Array;
  /** Per layer: the recorded units and rows x units arrays (A for hidden layers only), with voltages. */
  layers?: Array<{ units: Int32Array; A?: Float32Array; B: Float32Array; C: Float32Array; lambda: Float32Array }>;
  /** Trained examples x 3: forward start, target start, end, in steps since firstPosition's first step. */
  phaseTimes?: Int32Array;
  /** Recorded examples x hidden units (bottom-up) x 2: forward and target plateau steps, same clock. */
  plateauTimes?: Int32Array;
}

export interface EpochMetrics {
  /** 1-based. */
  epoch: number;
  /** Examples trained in this epoch by this call. */
  examples: number;
  /** Fraction of those examples classified correctly by their forward phase, before their update. */
  trainAccuracy: number;
  /** Mean per-example output loss (docs/papers.md §9, "record_loss"). */
  trainLoss: number;
  /** After the epoch, when a test set was given: fraction correct and the mean cross-entropy of evaluate(). */
  testAccuracy?: number;
  testLoss?: number;
  /** Before training (first epoch of a train() call with initialTest). */
  initialTestAccuracy?: number;
  initialTestLoss?: number;
  examplesPerSecond: number;
  seconds: number;
  /** Mean angle (degrees) per hidden layer, when recorded. */
  angle?: number[];
  /** Per-example angles, examples x hidden layers, when recorded. */
  angles?: Float32Array;
  /** What train({ record }) asked for. */
  recording?: TrainRecording;
}

export interface SegregatedEvaluateOptions {
  /** Random round of the test spikes (default: the position's evalRound, which then advances by one). */
  round?: number;
  /** Return the window-averaged output voltages. */
  voltages?: boolean;
  /** Per-step values of these images (indices into the set). */
  record?: { images: number[]; units?: number[][] };
  /** Images per native call (abort granularity; default 500). Results do not depend on it: each image draws by its index in the whole set. */
  chunkSize?: number;
  /** Stops between chunks: the call rejects with an AbortError (cause: signal.reason). */
  signal?: AbortSignal;
}

export interface EvaluateResult {
  count: number;
  correct: number;
  /** Fraction classified correctly. */
  accuracy: number;
  /** Mean softmax cross-entropy of the class-mean output voltages (the network has no loss of its own at test time). */
  loss: number;
  predictions: Int32Array;
  /** Window-averaged output somatic voltages, count x nOut, when asked for. */
  voltages?: Float32Array;
  /** Per-step values of the images asked for with record (rows: l_test steps per image). */
  recording?: SegregatedRecording;
}

/** The metadata of a network's state (exportState): enough to rebuild it. */
export interface SegregatedStateMeta {
  /** The resolved options (every option of the table, mode and batchSize included). */
  options: SegregatedModelOptions;
  /** Decimal string. */
  seed: string;
  position: SegregatedPosition;
}

/**
 * A network's whole state in memory: the resolved options, seed and position as metadata, and
 * the tensors "layers.<m>.W" ([n_m, fan_in]), ".b", ".Y" ([n_m, feedback size]), ".c" and
 * "state" (the carried-over dynamic state: exact mid-epoch resume). save() writes it to a file.
 */
export interface SegregatedCheckpoint extends ModelState {
  meta: SegregatedStateMeta & Record<string, unknown>;
  arrays: Record<string, Float32Array | Float64Array>;
}

/** Images per native evaluate call by default. */
const EVAL_CHUNK = 500;
// Symbol.dispose where the runtime has it (Node 20 has, as Symbol.for('nodejs.dispose')).
const disposeSymbol = (Symbol.dispose ?? Symbol.for('nodejs.dispose')) as typeof Symbol.dispose;
const WHERE = 'SegregatedNetwork';
/** Options whose defaults depend on the mode: a file of the first format is read with the mode whose defaults they match. */
const MODE_KEYS = ['conductances', 'spikingFeedforward', 'spikingFeedback', 'mem', 'forwardPhase', 'targetPhase', 'testPhase',
  'integrationTime', 'integrationTimeTest', 'randomPhaseLengths'] as const;

function checkDataset(d: DigitDataset, what: string, nIn: number): void {
  if (!d || !(d.images instanceof Uint8Array) || !(d.labels instanceof Uint8Array) || !Number.isInteger(d.count)) {
    throw new TypeError(`${what} must be { images: Uint8Array, labels: Uint8Array, count: number }`);
  }
  if (d.count < 0 || d.labels.length < d.count || d.images.length < d.count * nIn) {
    throw new RangeError(`${what}: count ${d.count} exceeds its images (${d.images.length / nIn}) or labels (${d.labels.length})`);
  }
}

function seedOf(v: unknown): bigint {
  if (v === undefined) return 0n;
  const b = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v)
    : typeof v === 'string' && /^\d{1,20}$/.test(v) ? BigInt(v) : undefined;
  if (b === undefined || b < 0n || b >= 1n << 64n) {
    throw optionError(WHERE, 'seed', `must be an integer in [0, 2^64) (a number, bigint or decimal string), got ${String(v)}`,
      !['number', 'bigint', 'string'].includes(typeof v));
  }
  return b;
}

/**
 * Drops the options that do not apply and hold their default: what a resolved set (config(),
 * resolveOptions(), an experiment) carries besides what a user gives. Any other option given
 * where it does not apply stays, for resolveOptions to refuse.
 */
function withoutInactiveDefaults(given: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const keep: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(SEGREGATED_OPTIONS) as Array<[string, OptionSpec]>) {
    const v = given[name];
    if (v === undefined) continue;
    if (spec.when) {
      const sofar = resolveOptions(WHERE, SEGREGATED_OPTIONS, keep) as Record<string, unknown>;
      if (!conditionHolds(spec.when, sofar) && isDeepStrictEqual(v, sofar[name])) continue;
    }
    keep[name] = v;
  }
  for (const k of Object.keys(given)) if (!(k in keep) && !(k in SEGREGATED_OPTIONS)) keep[k] = given[k];  // unknown: refused below
  return keep;
}

/** Resolves given options (table options plus runtime ones) into the table's complete set and the runtime values. */
function resolveAll(given: SegregatedOptions): { options: SegregatedModelOptions; runtime: SegregatedRuntimeOptions } {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw optionError(WHERE, '', 'options must be an object', true);
  const { device, seed, threads, ...rest } = given;
  const options = resolveOptions(WHERE, SEGREGATED_OPTIONS, withoutInactiveDefaults(rest as Record<string, unknown>));
  if (options.learningRates === undefined) {
    throw optionError(WHERE, 'learningRates', `is required for networks other than 784-10, 784-500-10 and 784-500-100-10 (one rate per layer, ${options.layers.length} here)`, true);
  }
  return { options, runtime: { device, seed, threads } };
}

/** The options that apply (their condition holds), in table order: what a user would give to rebuild the set. */
function activeGiven(o: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of activeOptions(SEGREGATED_OPTIONS, o)) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function sameModel(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  return JSON.stringify(activeGiven(a)) === JSON.stringify(activeGiven(b));
}

function concatRecordings(parts: SegregatedRecording[]): SegregatedRecording | undefined {
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  const rows = parts.reduce((a, p) => a + p.stepOffsets.length - 1, 0);
  const stepOffsets = new Int32Array(rows + 1);
  let r = 0;
  for (const p of parts) {
    for (let k = 1; k < p.stepOffsets.length; k++) stepOffsets[r + k] = stepOffsets[r] + p.stepOffsets[k];
    r += p.stepOffsets.length - 1;
  }
  const out: SegregatedRecording = { stepOffsets };
  if (parts[0].layers) {
    out.layers = parts[0].layers.map((l0, m) => ({
      units: l0.units,
      ...(l0.A ? { A: concatF32(parts.map((p) => p.layers![m].A!)) } : {}),
      B: concatF32(parts.map((p) => p.layers![m].B)),
      C: concatF32(parts.map((p) => p.layers![m].C)),
      lambda: concatF32(parts.map((p) => p.layers![m].lambda)),
    }));
  }
  return out;
}

/** Mean softmax cross-entropy of the class means of `v` (count x nOut, nOut / 10 units per class). */
function crossEntropy(v: Float32Array, labels: Uint8Array, count: number, nOut: number): number {
  const perClass = nOut / 10;
  const score = new Float64Array(10);
  let loss = 0;
  for (let i = 0; i < count; i++) {
    score.fill(0);
    for (let u = 0; u < nOut; u++) score[Math.floor(u / perClass)] += v[i * nOut + u] / perClass;
    let m = -Infinity;
    for (const s of score) m = Math.max(m, s);
    let sum = 0;
    for (const s of score) sum += Math.exp(s - m);
    loss += m + Math.log(sum) - score[labels[i]];
  }
  return count ? loss / count : NaN;
}

export function checkRecordOptions(r: TrainRecordOptions, n: number): void {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new TypeError('train: record must be an object');
  for (const k of Object.keys(r)) {
    if (!['examples', 'units', 'voltages', 'phaseTimes', 'plateauTimes'].includes(k)) {
      throw new TypeError(`train: record: unknown option "${k}" (expected examples, units, voltages, phaseTimes, plateauTimes)`);
    }
  }
  const ex = r.examples ?? [];
  if (!Array.isArray(ex)) throw new TypeError('train: record.examples must be an array of integers');
  ex.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 0 || p >= n) throw new RangeError(`train: record.examples[${i}] = ${p} is not a position in [0, ${n})`);
    if (i > 0 && p <= ex[i - 1]) throw new RangeError('train: record.examples must be strictly increasing');
  });
  if ((r.voltages || r.plateauTimes) && ex.length === 0) {
    throw new RangeError('train: record.voltages and record.plateauTimes need record.examples');
  }
}

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Joins the per-chunk recordings of an epoch and puts phase and plateau times on one clock. */
export function assembleRecording(rec: TrainRecordOptions, chunks: SegregatedRecording[], order: Int32Array, labels: Uint8Array,
  start: number, n: number, epoch: number, recPos: number[]): TrainRecording {
  const done = order.length - start;
  const images = Int32Array.from(order.subarray(start));
  const out: TrainRecording = { labels: Int32Array.from(images, (k) => labels[k]), images, firstPosition: start,
    examples: Int32Array.from(recPos), globalExamples: Float64Array.from(recPos, (p) => epoch * n + p),
    stepOffsets: new Int32Array(recPos.length + 1) };
  let r = 0;
  for (const c of chunks) {
    for (let k = 1; k < c.stepOffsets.length; k++) out.stepOffsets[r + k] = out.stepOffsets[r] + c.stepOffsets[k];
    r += c.stepOffsets.length - 1;
  }
  if (rec.voltages && chunks.length) {
    out.layers = chunks[0].layers!.map((l0, m) => ({
      units: l0.units,
      ...(l0.A ? { A: concatF32(chunks.map((c) => c.layers![m].A!)) } : {}),
      B: concatF32(chunks.map((c) => c.layers![m].B)),
      C: concatF32(chunks.map((c) => c.layers![m].C)),
      lambda: concatF32(chunks.map((c) => c.layers![m].lambda)),
    }));
  }
  if (rec.phaseTimes || rec.plateauTimes) {
    const lengths = new Int32Array(2 * done);
    let at = 0;
    for (const c of chunks) { lengths.set(c.phaseLengths!, at); at += c.phaseLengths!.length; }
    const times = new Int32Array(3 * done);
    let t = 0;
    for (let k = 0; k < done; k++) {
      times[3 * k] = t;
      times[3 * k + 1] = t + lengths[2 * k];
      t += lengths[2 * k] + lengths[2 * k + 1];
      times[3 * k + 2] = t;
    }
    if (rec.phaseTimes) out.phaseTimes = times;
    if (rec.plateauTimes) {
      const rel = new Int32Array(chunks.reduce((a, c) => a + c.plateauTimes!.length, 0));
      let q = 0;
      for (const c of chunks) { rel.set(c.plateauTimes!, q); q += c.plateauTimes!.length; }
      const per = recPos.length ? rel.length / recPos.length : 0;
      for (let i = 0; i < recPos.length; i++) {
        const base = times[3 * (recPos[i] - start)];
        for (let h = 0; h < per; h++) rel[i * per + h] += base;
      }
      out.plateauTimes = rel;
    }
  }
  return out;
}

export class SegregatedNetwork {
  readonly native: NativeSegregatedNetwork;
  /** The seed of the weights and of every random draw. */
  readonly seed: bigint;
  readonly threads: number;
  private resolved: SegregatedModelOptions;

  constructor(options: SegregatedOptions = {}) {
    const { options: resolved, runtime } = resolveAll(options);
    this.seed = seedOf(runtime.seed);
    this.threads = runtime.threads ?? 0;
    this.resolved = resolved;
    const { batchSize: _batch, ...model } = resolved;
    this.native = new nativeClasses.SegregatedNetwork({
      ...model, seed: this.seed, device: runtime.device ?? 'cpu', threads: this.threads,
    });
  }

  /**
   * Frees the native network (its weights and state) now; every later call throws. An unreferenced
   * network is freed by its finalizer anyway, but only when the garbage collector gets to it.
   * Refused (an Error) while a trainChunk or evaluate call runs: await it first.
   */
  dispose(): void {
    this.native.dispose();
  }

  /** `using net = new SegregatedNetwork(...)`: dispose() at the end of the scope. */
  [disposeSymbol](): void {
    this.dispose();
  }

  /** The resolved options: every option of the table (mode and batchSize included), defaults filled in. */
  get options(): Readonly<SegregatedModelOptions> {
    return this.resolved;
  }

  /** The resolved options with the seed (a decimal string), threads and device: what rebuilds this network. */
  config(): SegregatedConfig {
    return { ...structuredClone(this.resolved), seed: String(this.seed), threads: this.threads,
      device: this.native.device as SegregatedConfig['device'] };
  }

  get nIn(): number {
    return this.resolved.nIn;
  }

  /** Examples per weight update (1: online). */
  get batchSize(): number {
    return this.resolved.batchSize;
  }

  position(): SegregatedPosition {
    return this.native.getPosition();
  }

  setPosition(p: Partial<SegregatedPosition>): void {
    this.native.setPosition(p);
  }

  /** Per layer W ([n_m, fan_in] row-major), b, and for hidden layers Y and c (copies). */
  getWeights(): SegregatedLayerWeights[] {
    return this.native.getWeights();
  }

  /** Replaces the learning rates (checked against the options table); config() and checkpoints report the new ones. */
  setLearningRates(rates: { learningRates?: number[]; feedbackLearningRates?: number[] }): void {
    const given = { ...activeGiven(this.resolved), ...(rates.learningRates ? { learningRates: rates.learningRates } : {}),
      ...(rates.feedbackLearningRates ? { feedbackLearningRates: rates.feedbackLearningRates } : {}) };
    const next = resolveOptions(WHERE, SEGREGATED_OPTIONS, given);
    this.native.setLearningRates({
      ...(rates.learningRates ? { learningRates: next.learningRates } : {}),
      ...(rates.feedbackLearningRates ? { feedbackLearningRates: next.feedbackLearningRates } : {}),
    });
    this.resolved = next;
  }

  /**
   * Trains `epochs` epochs from the current position (a checkpoint may resume mid-epoch) with the
   * shared training loop: epoch e (0-based) presents trainingOrder(count, seed, e). At the end of
   * every epoch the carried-over state is zeroed and the position moves to (e + 1, 0), as the
   * original's end-of-epoch test leaves the network silent (docs/papers.md §12).
   */
  async train(data: DigitDataset, opts: TrainOptions = {}): Promise<EpochMetrics[]> {
    const nIn = this.nIn;
    checkDataset(data, 'train: dataset', nIn);
    if (opts.testSet) checkDataset(opts.testSet, 'train: testSet', nIn);
    const epochs = opts.epochs ?? 1;
    if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`train: epochs must be a non-negative integer, got ${epochs}`);
    const chunkSize = opts.chunkSize ?? 500;
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`train: chunkSize must be a positive integer, got ${chunkSize}`);
    if (opts.seed === undefined && this.seed > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(`train: the network's seed ${this.seed} is above 2^53: give train({ seed }) for the epoch orders`);
    }
    const seed = opts.seed ?? Number(this.seed);
    const n = data.count;
    if (opts.record) checkRecordOptions(opts.record, n);
    if (opts.initialTest && !opts.testSet) throw new TypeError('train: initialTest needs a testSet');
    if (opts.learningRates || opts.feedbackLearningRates) {
      this.setLearningRates({ learningRates: opts.learningRates, feedbackLearningRates: opts.feedbackLearningRates });
    }
    if (epochs === 0 || n === 0) return [];
    let initial: EvaluateResult | undefined;
    if (opts.initialTest) {
      initial = await this.evaluate(opts.testSet!, opts.signal ? { signal: opts.signal } : {});
      this.native.resetState();
    }
    const pos = this.native.getPosition();
    const start = pos.example >= n ? { epoch: pos.epoch + 1, position: 0 } : { epoch: pos.epoch, position: pos.example };
    const asSet = (d: DigitDataset) => ({ images: d.images.subarray(0, d.count * nIn), labels: d.labels.subarray(0, d.count),
      count: d.count, channels: 1, height: 1, width: nIn });
    const model = new SegregatedTrainable(this, { recordAngle: !!opts.recordAngle, ...(opts.record ? { record: opts.record } : {}) });
    const metrics: EpochMetrics[] = [];
    await trainLoop(model, { train: asSet(data), ...(opts.testSet ? { validation: asSet(opts.testSet) } : {}) }, {
      epochs: start.epoch + epochs, seed, chunkSize, startAt: start, ...(opts.signal ? { signal: opts.signal } : {}),
      onEvent: (e) => {
        if (e.type === 'progress') {
          opts.onProgress?.({ epoch: e.epoch, example: e.position, total: e.epochSize, trainAccuracy: e.trainAccuracy,
            trainLoss: e.trainLoss, examplesPerSecond: e.examplesPerSecond, elapsedSeconds: e.elapsedSeconds, etaSeconds: e.etaSeconds });
        } else if (e.type === 'epoch') {
          const x = model.takeEpochExtras();
          const m: EpochMetrics = { epoch: e.epoch, examples: e.examples, trainAccuracy: e.trainAccuracy, trainLoss: e.trainLoss,
            examplesPerSecond: e.examplesPerSecond, seconds: e.trainSeconds };
          if (e.validationAccuracy !== undefined) {
            m.testAccuracy = e.validationAccuracy;
            m.testLoss = e.validationLoss;
          }
          if (initial && metrics.length === 0) {
            m.initialTestAccuracy = initial.accuracy;
            m.initialTestLoss = initial.loss;
          }
          if (x?.angles) {
            m.angles = x.angles;
            m.angle = x.angle;
          }
          if (x?.recording) m.recording = x.recording;
          metrics.push(m);
        }
      },
    });
    return metrics;
  }

  /**
   * Tests every image from a reset state (docs/papers.md §12), in chunks of `chunkSize` images at one random
   * round: spikes are drawn afresh at each call unless `round` is given.
   */
  async evaluate(data: DigitDataset, opts: SegregatedEvaluateOptions = {}): Promise<EvaluateResult> {
    const nIn = this.nIn;
    checkDataset(data, 'evaluate: dataset', nIn);
    const chunk = opts.chunkSize ?? EVAL_CHUNK;
    if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`evaluate: chunkSize must be a positive integer, got ${chunk}`);
    const n = data.count;
    const nOut = this.resolved.layers[this.resolved.layers.length - 1];
    const wanted = opts.record?.images ?? [];
    if (opts.record) {
      wanted.forEach((k, i) => {
        if (!Number.isInteger(k) || k < 0 || k >= n) throw new RangeError(`evaluate: record.images[${i}] = ${k} is not an image index in [0, ${n})`);
        if (i > 0 && k <= wanted[i - 1]) throw new RangeError('evaluate: record.images must be strictly increasing');
      });
    }
    const round = opts.round ?? this.native.getPosition().evalRound;
    const predictions = new Int32Array(n);
    const voltages = new Float32Array(n * nOut);
    const recordings: SegregatedRecording[] = [];
    for (let at = 0; at < n; at += chunk) {
      throwIfAborted(opts.signal, 'evaluate');
      const end = Math.min(n, at + chunk);
      const local = wanted.filter((k) => k >= at && k < end).map((k) => k - at);
      const r = await this.native.evaluate({ images: data.images.subarray(at * nIn, end * nIn), count: end - at, round, offset: at, voltages: true,
        ...(opts.record && local.length ? { record: { examples: local, ...(opts.record.units ? { units: opts.record.units } : {}),
          voltages: true } } : {}) });
      predictions.set(r.prediction, at);
      voltages.set(r.voltages!, at * nOut);
      if (r.record) recordings.push(r.record);
    }
    if (opts.round === undefined) this.native.setPosition({ evalRound: round + 1 });
    let correct = 0;
    for (let i = 0; i < n; i++) if (predictions[i] === data.labels[i]) correct++;
    const recording = concatRecordings(recordings);
    return { count: n, correct, accuracy: n ? correct / n : NaN, loss: crossEntropy(voltages, data.labels, n, nOut), predictions,
      ...(opts.voltages ? { voltages } : {}), ...(recording ? { recording } : {}) };
  }

  /** The whole state: resolved options, seed and position, weights and the carried-over dynamic state. */
  exportState(): SegregatedCheckpoint {
    const layers = this.native.getWeights();
    const arrays: SegregatedCheckpoint['arrays'] = {};
    const shapes: Record<string, number[]> = {};
    layers.forEach((l, m) => {
      const n = l.b.length;
      arrays[`layers.${m}.W`] = l.W;
      shapes[`layers.${m}.W`] = [n, l.W.length / n];
      arrays[`layers.${m}.b`] = l.b;
      if (l.Y) {
        arrays[`layers.${m}.Y`] = l.Y;
        shapes[`layers.${m}.Y`] = [n, l.Y.length / n];
      }
      if (l.c) arrays[`layers.${m}.c`] = l.c;
    });
    arrays.state = this.native.getState();
    return { meta: { options: structuredClone(this.resolved), seed: String(this.seed), position: this.native.getPosition() }, arrays, shapes };
  }

  /** Restores exportState() output taken from a network with the same options and seed. */
  importState(s: ModelState): void {
    const meta = s.meta as Partial<SegregatedStateMeta>;
    if (typeof meta.options !== 'object' || meta.options === null || typeof meta.seed !== 'string' || typeof meta.position !== 'object') {
      throw new TypeError('segregated: not a segregated-network state (its metadata lacks options, seed or position): ' +
        'a checkpoint of the first format (DBCKPT01, before safetensors) of the training loop is not read; re-create it by ' +
        'training again with the same command and --checkpoint');
    }
    if (!sameModel(meta.options as Record<string, unknown>, this.resolved) || meta.seed !== String(this.seed)) {
      throw new RangeError(`segregated: the checkpoint holds another model:\n  checkpoint ${JSON.stringify({ ...activeGiven(meta.options as Record<string, unknown>), seed: meta.seed })}\n` +
        `  this model ${JSON.stringify({ ...activeGiven(this.resolved), seed: String(this.seed) })}`);
    }
    const a = s.arrays;
    const layers = this.resolved.layers.map((_, m) => {
      const get = (k: string, need: boolean): Float32Array | undefined => {
        const v = a[`layers.${m}.${k}`];
        if (v === undefined && !need) return undefined;
        if (!(v instanceof Float32Array)) throw new TypeError(`segregated: tensor "layers.${m}.${k}" is missing or not float32`);
        return v;
      };
      const Y = get('Y', false);
      const c = get('c', false);
      return { W: get('W', true)!, b: get('b', true)!, ...(Y ? { Y } : {}), ...(c ? { c } : {}) };
    });
    this.native.setWeights(layers);
    this.native.setPosition(meta.position as SegregatedPosition);
    if (a.state === undefined) this.native.resetState();
    else if (a.state instanceof Float64Array) this.native.setState(a.state);
    else throw new TypeError('segregated: tensor "state" is not float64');
  }

  /** Rebuilds a network from exportState() output: its options (checked against the table) and seed, then the state. */
  static fromState(s: ModelState, runtime: Pick<SegregatedRuntimeOptions, 'device' | 'threads'> = {}): SegregatedNetwork {
    const net = SegregatedNetwork.forState(s, runtime);
    net.importState(s);
    return net;
  }

  /** A network built from a state's options and seed (its weights not yet imported). */
  private static forState(s: ModelState, runtime: Pick<SegregatedRuntimeOptions, 'device' | 'threads'>): SegregatedNetwork {
    const meta = s.meta as Partial<SegregatedStateMeta>;
    if (typeof meta.options !== 'object' || meta.options === null || typeof meta.seed !== 'string' || !/^\d+$/.test(meta.seed)) {
      throw new TypeError('segregated: not a segregated-network state (its metadata lacks options or seed)');
    }
    return new SegregatedNetwork({ ...(activeGiven(meta.options as Record<string, unknown>) as SegregatedOptions), seed: meta.seed, ...runtime });
  }

  /**
   * Writes the state to `file` as safetensors (src/train/checkpoint.ts): atomically (temporary
   * file, fsync, rename) and without holding the event loop. The file is also a weights file any
   * safetensors reader takes, and SegregatedNetwork.load() reads training-loop checkpoints too.
   */
  async save(file: string): Promise<void> {
    await saveCheckpoint(file, modelCheckpoint('segregated', this.exportState()));
  }

  /**
   * Reads a network saved by save() (or a training-loop checkpoint of a segregated network, or a
   * JSON file of the first format); the integrity hash, the layout and finite weights are checked.
   */
  static async load(file: string, runtime: Pick<SegregatedRuntimeOptions, 'device' | 'threads'> = {}): Promise<SegregatedNetwork> {
    const fh = await fs.promises.open(file, 'r');
    let first: number;
    try {
      const b = Buffer.alloc(1);
      const { bytesRead } = await fh.read(b, 0, 1, 0);
      first = bytesRead ? b[0] : -1;
    } finally {
      await fh.close();
    }
    if (first === 0x7b) return SegregatedNetwork.fromLegacy(JSON.parse(await fs.promises.readFile(file, 'utf8')), runtime, file);
    const ck = await loadCheckpoint(file);
    if (ck.meta.kind !== 'segregated') {
      throw new TypeError(`${file}: holds ${ck.meta.kind === undefined ? 'no model kind' : `a ${String(ck.meta.kind)} model`}, not a segregated network`);
    }
    const state = { meta: ck.meta.model as Record<string, unknown>, arrays: ck.arrays };
    const net = SegregatedNetwork.forState(state, runtime);
    await new Promise((resolve) => setImmediate(resolve));  // building the network and importing are the two longest steps
    net.importState(state);
    return net;
  }

  /**
   * A JSON checkpoint of the first format ("dendrite-bench/segregated@1": the native config, the
   * position, weights as number arrays). It has no mode: every option is given explicitly, so the
   * mode only names the preset, taken as the one whose defaults the mode-dependent values match.
   */
  private static fromLegacy(ck: LegacyCheckpoint, runtime: Pick<SegregatedRuntimeOptions, 'device' | 'threads'>, file: string): SegregatedNetwork {
    if (!ck || ck.format !== 'dendrite-bench/segregated@1' || typeof ck.config !== 'object' || !Array.isArray(ck.layers)) {
      throw new TypeError(`${file}: not a dendrite-bench segregated-network file (safetensors, or JSON of format "dendrite-bench/segregated@1")`);
    }
    const cfg = ck.config;
    const given: Record<string, unknown> = {};
    for (const k of Object.keys(SEGREGATED_OPTIONS)) if (k !== 'mode' && k !== 'batchSize' && cfg[k] !== undefined) given[k] = cfg[k];
    const picked = activeGiven(given);
    const matches = (mode: 'spiking' | 'nonspiking'): number => {
      const d = resolveOptions(WHERE, SEGREGATED_OPTIONS, { mode, layers: picked.layers, nIn: picked.nIn, dt: picked.dt }) as Record<string, unknown>;
      return MODE_KEYS.filter((k) => d[k] === picked[k]).length;
    };
    const mode = matches('nonspiking') > matches('spiking') ? 'nonspiking' : 'spiking';
    const threads = typeof cfg.threads === 'number' && cfg.threads > 0 ? { threads: cfg.threads } : {};
    const net = new SegregatedNetwork({ ...(picked as SegregatedOptions), mode, seed: BigInt(String(cfg.seed ?? 0)), ...threads, ...runtime });
    for (const l of ck.layers) {
      for (const [k, v] of Object.entries(l)) {
        if (Array.isArray(v) && !v.every(Number.isFinite)) throw new RangeError(`${file}: layer weights ${k} hold NaN or an infinity`);
      }
    }
    net.native.setWeights(ck.layers);
    net.native.setPosition(ck.position);
    if (ck.state) net.native.setState(ck.state);
    else net.native.resetState();
    return net;
  }
}

interface LegacyCheckpoint {
  format: string;
  config: Record<string, unknown>;
  position: SegregatedPosition;
  layers: Array<{ W: number[]; b: number[]; Y?: number[]; c?: number[] }>;
  state?: number[];
}
