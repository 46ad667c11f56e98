// The segregated-dendrite network of Guerguiev, Lillicrap & Richards (2017) on the native
// simulator (bindings/segregated.cpp, native/cpu/segregated_cpu.cpp). The model, its options and
// its deviations from the original code are specified in docs/papers.md.
import fs from 'node:fs';

import { nativeClasses, NativeSegregatedNetwork, SegregatedPosition, SegregatedRecording } from '../native';

/** A labelled set of 28x28 digits: row-major pixels 0..255, `count` images. */
export interface DigitDataset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** Every option of the simulator (docs/papers.md §15); defaults are those of the chosen mode. */
export interface SegregatedOptions {
  /** Hidden sizes then the output size (a multiple of 10), e.g. [500, 10]. */
  layers: number[];
  /** "spiking" (the paper, default) or "nonspiking" (the original code's default, docs/papers.md §14). */
  mode?: 'spiking' | 'nonspiking';
  /** "cuda" / "cuda:N" simulate on a GPU; "auto" takes CUDA when a device can be used, else the CPU. */
  device?: 'cpu' | 'auto' | 'cuda' | `cuda:${number}`;
  seed?: number | bigint;
  /** CPU threads (default DENDRITE_NUM_THREADS, else the OpenMP default). */
  threads?: number;
  nIn?: number;
  dt?: number;
  lambdaMax?: number;
  tauS?: number;
  tauL?: number;
  gB?: number;
  gL?: number;
  gD?: number;
  /** Apical conductance: 0 (paper), 0.05 ("use_apical_conductance"), 0.6 (no segregation). */
  gA?: number;
  EE?: number;
  EI?: number;
  conductances?: boolean;
  broadcast?: boolean;
  spikingFeedforward?: boolean;
  spikingFeedback?: boolean;
  mem?: number;
  forwardPhase?: number;
  targetPhase?: number;
  /** Test phase length: 250 (code) or 500 (paper); the window defaults to it minus 30. */
  testPhase?: number;
  integrationTime?: number;
  integrationTimeTest?: number;
  randomPhaseLengths?: boolean;
  waldMean?: number;
  waldScale?: number;
  randomPlateauTimes?: boolean;
  plateauSd?: number;
  plateauCap?: number;
  feedback?: 'random' | 'symmetric' | 'learned';
  noisySymmetric?: boolean;
  symmetricNoiseSd?: number;
  sparseFeedback?: boolean;
  sparseDrop?: number;
  sparseGain?: number;
  feedbackBias?: boolean;
  /** Moment-matched "realised" (HEAD) or "design" spread, or the plain uniform init (docs/papers.md §10). */
  init?: 'realised' | 'design' | 'plain';
  backprop?: boolean;
  backpropInPlace?: boolean;
  learningRates?: number[];
  feedbackLearningRates?: number[];
}

export interface TrainProgress {
  epoch: number;
  /** Examples done in this epoch, of `total`. */
  example: number;
  total: number;
  trainError: number;
  loss: number;
  examplesPerSecond: number;
}

export interface TrainOptions {
  epochs?: number;
  /** "online": one update per example (faithful). "batched": summed updates of batchSize examples (docs/papers.md §17.3, a deviation). */
  mode?: 'online' | 'batched';
  batchSize?: number;
  learningRates?: number[];
  feedbackLearningRates?: number[];
  /** Tested after every epoch when given. */
  testSet?: DigitDataset;
  /** Also test before training (the original's `initial_test`); reported as initialTestError of the first epoch. */
  initialTest?: boolean;
  /** Examples per native call (progress granularity); rounded up to a multiple of batchSize. Default 500. */
  chunkSize?: number;
  /** Record the angle between local and backprop hidden errors (docs/papers.md §18 item 2). */
  recordAngle?: boolean;
  /** Per-step recording in every epoch (the original's record_* options; see docs/segregated.md "Recording"). */
  record?: TrainRecordOptions;
  onProgress?: (p: TrainProgress) => void;
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
  epoch: number;
  /** % of training examples misclassified by their forward phase, before their update. */
  trainError: number;
  /** % test error after the epoch, when a test set was given. */
  testError?: number;
  /** % test error before training (first epoch of a train() call with initialTest). */
  initialTestError?: number;
  /** Mean per-example output loss (docs/papers.md §9, "record_loss"). */
  loss: number;
  examplesPerSecond: number;
  seconds: number;
  /** Mean angle (degrees) per hidden layer, when recorded. */
  angle?: number[];
  /** Per-example angles, examples x hidden layers, when recorded. */
  angles?: Float32Array;
  /** What train({ record }) asked for. */
  recording?: TrainRecording;
}

export interface EvaluateResult {
  count: number;
  /** % misclassified. */
  error: number;
  accuracy: number;
  predictions: Int32Array;
  /** Window-averaged output somatic voltages, count x nOut, when asked for. */
  voltages?: Float32Array;
  /** Per-step values of the images asked for with record (rows: l_test steps per image). */
  recording?: SegregatedRecording;
}

function checkRecordOptions(r: TrainRecordOptions, n: number): void {
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

export interface SegregatedCheckpoint {
  format: 'dendrite-bench/segregated@1';
  config: Record<string, unknown>;
  position: SegregatedPosition;
  layers: Array<{ W: number[]; b: number[]; Y?: number[]; c?: number[] }>;
  /** The carried-over dynamic state (potentials, spike histories): exact mid-epoch resume. */
  state?: number[];
}

function checkDataset(d: DigitDataset, what: string, nIn: number): void {
  if (!d || !(d.images instanceof Uint8Array) || !(d.labels instanceof Uint8Array) || !Number.isInteger(d.count)) {
    throw new TypeError(`${what} must be { images: Uint8Array, labels: Uint8Array, count: number }`);
  }
  if (d.count < 0 || d.labels.length < d.count || d.images.length < d.count * nIn) {
    throw new RangeError(`${what}: count ${d.count} exceeds its images (${d.images.length / nIn}) or labels (${d.labels.length})`);
  }
}

function abortError(): Error {
  const e = new Error('training aborted');
  e.name = 'AbortError';
  return e;
}

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Joins the per-chunk recordings of an epoch and puts phase and plateau times on one clock. */
function assembleRecording(rec: TrainRecordOptions, chunks: SegregatedRecording[], order: Int32Array, labels: Uint8Array,
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
  readonly options: SegregatedOptions;

  constructor(options: SegregatedOptions) {
    this.options = { ...options };
    this.native = new nativeClasses.SegregatedNetwork({ ...options } as Record<string, unknown>);
  }

  /** The resolved configuration (every option, defaults filled in). */
  config(): Record<string, unknown> {
    const c = this.native.config();
    return { ...c, seed: String(c.seed) };
  }

  get nIn(): number {
    return this.native.config().nIn as number;
  }

  position(): SegregatedPosition {
    return this.native.getPosition();
  }

  setPosition(p: Partial<SegregatedPosition>): void {
    this.native.setPosition(p);
  }

  /** Trains for `epochs` epochs from the current position (a checkpoint may resume mid-epoch). */
  async train(data: DigitDataset, opts: TrainOptions = {}): Promise<EpochMetrics[]> {
    const nIn = this.nIn;
    checkDataset(data, 'train: dataset', nIn);
    if (opts.testSet) checkDataset(opts.testSet, 'train: testSet', nIn);
    const epochs = opts.epochs ?? 1;
    if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`train: epochs must be a non-negative integer, got ${epochs}`);
    const mode = opts.mode ?? 'online';
    if (mode !== 'online' && mode !== 'batched') throw new RangeError(`train: mode must be "online" or "batched", got "${mode}"`);
    const batch = mode === 'online' ? 1 : opts.batchSize ?? 32;
    if (!Number.isInteger(batch) || batch < 1 || batch > 4096) throw new RangeError(`train: batchSize must be an integer in [1, 4096], got ${batch}`);
    const chunkBase = opts.chunkSize ?? 500;
    if (!Number.isInteger(chunkBase) || chunkBase < 1) throw new RangeError(`train: chunkSize must be a positive integer, got ${chunkBase}`);
    const chunk = Math.ceil(chunkBase / batch) * batch;
    if (opts.learningRates || opts.feedbackLearningRates) {
      this.native.setLearningRates({
        ...(opts.learningRates ? { learningRates: opts.learningRates } : {}),
        ...(opts.feedbackLearningRates ? { feedbackLearningRates: opts.feedbackLearningRates } : {}),
      });
    }
    const images = data.images.subarray(0, data.count * nIn);
    const labels = data.labels.subarray(0, data.count);
    const n = data.count;
    const hidden = (this.native.config().layers as number[]).length - 1;
    const metrics: EpochMetrics[] = [];
    let initialTestError: number | undefined;
    if (opts.initialTest) {
      if (!opts.testSet) throw new TypeError('train: initialTest needs a testSet');
      initialTestError = (await this.evaluate(opts.testSet)).error;
      this.native.resetState();
    }
    for (let e = 0; e < epochs; e++) {
      const pos = this.native.getPosition();
      const order = this.native.permutation(pos.epoch, n);
      const start = Math.min(pos.example, n);
      let wrong = 0;
      let lossSum = 0;
      let done = 0;
      const angles = opts.recordAngle ? new Float32Array((n - start) * hidden) : undefined;
      const rec = opts.record;
      if (rec) checkRecordOptions(rec, n);
      const recPos = rec ? (rec.examples ?? []).filter((p) => p >= start) : [];
      const wantPhases = !!rec && !!(rec.phaseTimes || rec.plateauTimes);
      const askNative = !!rec && !!(rec.voltages || wantPhases);
      const chunks: SegregatedRecording[] = [];
      const t0 = process.hrtime.bigint();
      for (let i = start; i < n; i += chunk) {
        if (opts.signal?.aborted) throw abortError();
        const j = Math.min(n, i + chunk);
        const slice = order.subarray(i, j);
        const local = recPos.filter((p) => p >= i && p < j).map((p) => p - i);
        const r = await this.native.trainChunk({ images, labels, order: slice, batchSize: batch,
          recordAngle: !!opts.recordAngle,
          ...(askNative ? { record: { examples: local, ...(rec!.units ? { units: rec!.units } : {}), voltages: !!rec!.voltages,
            phaseTimes: wantPhases, plateauTimes: !!rec!.plateauTimes } } : {}) });
        if (r.record) chunks.push(r.record);
        for (let k = 0; k < slice.length; k++) {
          if (r.prediction[k] !== labels[slice[k]]) wrong++;
          lossSum += r.loss[k];
        }
        if (angles && r.angle) angles.set(r.angle, (i - start) * hidden);
        done += slice.length;
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        opts.onProgress?.({ epoch: pos.epoch, example: j, total: n, trainError: (100 * wrong) / done,
          loss: lossSum / done, examplesPerSecond: done / Math.max(secs, 1e-9) });
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const m: EpochMetrics = { epoch: pos.epoch, trainError: done ? (100 * wrong) / done : 0, loss: done ? lossSum / done : 0,
        examplesPerSecond: done / Math.max(seconds, 1e-9), seconds };
      if (angles) {
        m.angles = angles;
        m.angle = [];
        for (let h = 0; h < hidden; h++) {
          let s = 0;
          let c = 0;
          for (let k = 0; k < done; k++) {
            const v = angles[k * hidden + h];
            if (Number.isFinite(v)) { s += v; c++; }
          }
          m.angle.push(c ? s / c : NaN);
        }
      }
      if (rec) m.recording = assembleRecording(rec, chunks, order, labels, start, n, pos.epoch, recPos);
      if (e === 0 && initialTestError !== undefined) m.initialTestError = initialTestError;
      if (opts.testSet) m.testError = (await this.evaluate(opts.testSet)).error;
      // The original's end-of-epoch test leaves the network silent (docs/papers.md §12): training resumes
      // from a zero state, which is also what makes an epoch checkpoint resume exactly.
      this.native.resetState();
      this.native.setPosition({ epoch: pos.epoch + 1, example: 0 });
      metrics.push(m);
    }
    return metrics;
  }

  /** Tests every image from a reset state (docs/papers.md §12); spikes are drawn afresh at each call unless `round` is given. */
  async evaluate(data: DigitDataset, opts: { round?: number; voltages?: boolean;
    record?: { images: number[]; units?: number[][] } } = {}): Promise<EvaluateResult> {
    const nIn = this.nIn;
    checkDataset(data, 'evaluate: dataset', nIn);
    const r = await this.native.evaluate({ images: data.images.subarray(0, data.count * nIn), count: data.count,
      ...(opts.round !== undefined ? { round: opts.round } : {}), voltages: !!opts.voltages,
      ...(opts.record ? { record: { examples: opts.record.images, ...(opts.record.units ? { units: opts.record.units } : {}),
        voltages: true } } : {}) });
    let wrong = 0;
    for (let i = 0; i < data.count; i++) if (r.prediction[i] !== data.labels[i]) wrong++;
    const error = data.count ? (100 * wrong) / data.count : 0;
    return { count: data.count, error, accuracy: 100 - error, predictions: r.prediction,
      ...(r.voltages ? { voltages: r.voltages } : {}), ...(r.record ? { recording: r.record } : {}) };
  }

  /** Weights (per layer W, b, Y, c as plain arrays), the full configuration and the RNG position. */
  exportWeights(): SegregatedCheckpoint {
    const layers = this.native.getWeights().map((l) => ({
      W: Array.from(l.W), b: Array.from(l.b),
      ...(l.Y ? { Y: Array.from(l.Y) } : {}), ...(l.c ? { c: Array.from(l.c) } : {}),
    }));
    return { format: 'dendrite-bench/segregated@1', config: this.config(), position: this.native.getPosition(), layers,
      state: Array.from(this.native.getState()) };
  }

  importWeights(ck: SegregatedCheckpoint): void {
    this.native.setWeights(ck.layers);
    this.native.setPosition(ck.position);
    if (ck.state) this.native.setState(ck.state);
    else this.native.resetState();
  }

  save(file: string): void {
    fs.writeFileSync(file, JSON.stringify(this.exportWeights()));
  }

  /** Rebuilds a network from exportWeights() output (the configuration it holds, then weights and position). */
  static fromCheckpoint(ck: SegregatedCheckpoint, overrides: Partial<SegregatedOptions> = {}): SegregatedNetwork {
    if (!ck || ck.format !== 'dendrite-bench/segregated@1') {
      throw new TypeError('not a dendrite-bench segregated-network checkpoint (format "dendrite-bench/segregated@1")');
    }
    const cfg: Record<string, unknown> = { ...ck.config };
    cfg.seed = BigInt(String(cfg.seed));
    if (cfg.threads === 0) delete cfg.threads;
    const mode = cfg.mem === 1 && cfg.forwardPhase === 2 && !cfg.spikingFeedforward ? 'nonspiking' : 'spiking';
    const net = new SegregatedNetwork({ ...(cfg as unknown as SegregatedOptions), mode, ...overrides });
    net.importWeights(ck);
    return net;
  }

  static load(file: string, overrides: Partial<SegregatedOptions> = {}): SegregatedNetwork {
    let ck: SegregatedCheckpoint;
    try {
      ck = JSON.parse(fs.readFileSync(file, 'utf8')) as SegregatedCheckpoint;
    } catch (err) {
      throw new Error(`SegregatedNetwork.load: cannot read ${file}: ${(err as Error).message}`);
    }
    return SegregatedNetwork.fromCheckpoint(ck, overrides);
  }
}
