// The training loop shared by every model (TrainableModel): epochs of seeded shuffled orders fed
// to the model in chunks (one native call each, the event loop stays free), a learning curve, a
// validation score each epoch, checkpoints with exact resume, a final test score, and a JSON
// result. An AbortSignal stops it within one chunk (training or scoring): the loop writes a
// checkpoint of where it stopped (atomically: the previous one stays whole until the new one is
// complete) and rejects with an AbortError (src/train/model.ts) that says where and which file.
//
// Resume is exact: the order of epoch e depends only on (seed, e); a checkpoint holds the model
// and optimiser state and the position inside the epoch; chunks always end on update boundaries.
// So an interrupted run that resumes reproduces the weights of an uninterrupted one bit for bit.
import fs from 'node:fs';

import { loadCheckpoint, modelCheckpoint, saveCheckpoint, writeFileAtomicAsync } from './checkpoint';
import type { ImageSetLike } from './dataset';
import { AbortError, isAbortError, type EvalResult, type ModelState, type TrainableModel } from './model';
import { trainingOrder } from './order';

export interface TrainSplits {
  train: ImageSetLike;
  /** Scored after every epoch (and at curve points); optional. */
  validation?: ImageSetLike;
  /** Scored once at the end; optional. */
  test?: ImageSetLike;
}

export interface LoopOptions {
  epochs: number;
  /** Seed of the epoch orders (default 0). */
  seed?: number;
  /** A learning-curve point every N training examples of an epoch (rounded up to whole updates); 0 (default): at epoch ends only. */
  logEvery?: number;
  /** Score the validation set at every curve point (default true); it is always scored at epoch ends. */
  validateAtPoints?: boolean;
  /** Examples per model call (default 5000, rounded up to whole updates). */
  chunkSize?: number;
  /**
   * Also score the test split at every epoch end (the paper's Fig. 6B reports test error per
   * epoch); it never influences training. Default false: the test split is scored once, at the end.
   */
  testEachEpoch?: boolean;
  /**
   * Score the final model on the test split this many times (default 1). A stochastic model (the
   * spiking segregated network draws new spikes every test) then reports the mean, and
   * `testRepeats` lists each score: the paper's Fig. 6B quotes the mean of 20 tests.
   */
  testRepeats?: number;
  /**
   * Record weight dynamics at every curve point (models with layerWeights()): per weight matrix its
   * Frobenius norm, its relative change since the previous point and the relative change of that
   * change (Lange's weight-dynamics figure). Costs a copy of the weights per point.
   */
  recordWeights?: boolean;
  /** Checkpoint file: written after every epoch and when stopped early. */
  checkpoint?: string;
  /** Continue from the checkpoint when the file exists. */
  resume?: boolean;
  /**
   * Without a checkpoint to resume: the model is already here (completed epochs, examples done in
   * the next epoch), e.g. a network trained by earlier calls; the loop continues from it. `epochs`
   * counts from 0 all the same (the loop trains epochs startAt.epoch + 1 .. epochs).
   */
  startAt?: { epoch: number; position: number };
  /**
   * Stops within one chunk (of training, or of scoring a set): a checkpoint of the position is
   * written first when configured, then the call rejects with an AbortError whose `cause` is
   * signal.reason and which carries `epoch` (1-based), `position` and `checkpoint`.
   */
  signal?: AbortSignal;
  onEvent?: (event: TrainEvent) => void;
  /**
   * What the training data are (e.g. the dataset's sha256 and split): stored in checkpoints, and a
   * resume with other data is refused, since a checkpoint would silently continue on them otherwise.
   */
  dataId?: string;
  /**
   * Receives the model's state once the last epoch is done, before the test split is scored: the
   * state the test score belongs to (scoring may move a model's random draws on). For weights files.
   */
  onTrainedState?: (state: ModelState) => void | Promise<void>;
  /**
   * Resume a checkpoint written for other data, another seed or another number of training
   * examples all the same (e.g. to continue training on another dataset): each difference is
   * reported by a 'resumeOtherData' event and recorded in the result's `resumed.otherData`. The
   * model must still be the same (kind, architecture, options). The rest of a partly done epoch
   * follows this run's order; an epoch shorter than the position reached ends at once.
   */
  resumeOtherData?: boolean;
  /** Where to write the result as JSON. */
  resultFile?: string;
  /** Recorded in the result as is (dataset name, command line, ...). */
  info?: Record<string, unknown>;
}

export interface CurvePoint {
  epoch: number;
  /** Training examples seen so far (all epochs). */
  examples: number;
  /** Mean loss and accuracy of the training examples since the previous point (each before its update). */
  trainLoss: number;
  trainAccuracy: number;
  validationLoss?: number;
  validationAccuracy?: number;
  /** With recordWeights. */
  weights?: WeightStats[];
}

/** One weight matrix at a curve point. relChange = |W - W_prev| / |W_prev|; relUpdateChange = |dW - dW_prev| / |dW_prev|. */
export interface WeightStats {
  name: string;
  norm: number;
  /** null at the first point (and the first after a resume): there is no previous point. */
  relChange: number | null;
  relUpdateChange: number | null;
}

export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  examples: number;
  trainLoss: number;
  trainAccuracy: number;
  validationLoss?: number;
  validationAccuracy?: number;
  /** With testEachEpoch: the test split's score after this epoch. */
  testLoss?: number;
  testAccuracy?: number;
  trainSeconds: number;
  examplesPerSecond: number;
  /** Model measurements (e.g. feedback alignment per layer). */
  metrics?: Record<string, unknown>;
}

export interface TrainResult {
  format: 'dendrite-bench/train-result@1';
  model: Record<string, unknown>;
  info: Record<string, unknown>;
  data: { train: number; validation: number; test: number };
  options: { epochs: number; seed: number; logEvery: number; chunkSize: number };
  epochs: EpochRecord[];
  curve: CurvePoint[];
  /** The final test score; with testRepeats > 1 the mean of the repeated tests (correct: their mean count). */
  test: EvalResult | null;
  /** With testRepeats > 1: each test's score, in order. */
  testRepeats?: EvalResult[];
  final: { trainLoss: number | null; trainAccuracy: number | null; validationLoss: number | null; validationAccuracy: number | null };
  timing: { trainSeconds: number; evalSeconds: number; wallSeconds: number; trainExamples: number; examplesPerSecond: number };
  /** Always "completed": a stopped run rejects with an AbortError instead of resolving. */
  stopped: 'completed';
  /** With resumeOtherData, `otherData` lists how the checkpoint's run differed from this one. */
  resumed: { epoch: number; position: number; otherData?: ResumeDifference[] } | null;
  checkpoint: string | null;
  startedAt: string;
  finishedAt: string;
}

/** How a resumed checkpoint's run differs from this run (resumeOtherData). */
export interface ResumeDifference {
  what: 'seed' | 'training examples' | 'data';
  checkpoint: number | string;
  run: number | string;
}

export type TrainEvent =
  | { type: 'resumeOtherData'; checkpoint: string; differences: ResumeDifference[] }
  | { type: 'start'; model: Record<string, unknown>; data: TrainResult['data']; epochs: number; resumed: TrainResult['resumed'] }
  | {
    type: 'progress'; epoch: number; position: number; epochSize: number; examples: number; trainLoss: number; trainAccuracy: number;
    examplesPerSecond: number;
    /** Wall-clock seconds of the run so far (earlier runs of a resumed one included). */
    elapsedSeconds: number;
    /** Seconds left to the last epoch's end at the pace so far (evaluations included); test scoring not counted. */
    etaSeconds: number;
  }
  | ({ type: 'point' } & CurvePoint)
  | ({ type: 'epoch' } & EpochRecord)
  | { type: 'checkpoint'; file: string; epoch: number; position: number }
  | ({ type: 'test'; repeats?: EvalResult[] } & EvalResult)
  | { type: 'stopped'; epoch: number; position: number }
  | { type: 'done'; result: TrainResult };

interface Acc {
  lossSum: number;
  correct: number;
  examples: number;
}

/** Everything the loop itself must carry across a resume. */
interface LoopState {
  epoch: number;
  position: number;
  examplesSeen: number;
  epochs: EpochRecord[];
  curve: CurvePoint[];
  epochAcc: Acc & { seconds: number };
  pointAcc: Acc;
  trainSeconds: number;
  evalSeconds: number;
  wallSeconds: number;
}

/** The loop's own record inside a checkpoint ("dendrite.loop"). */
const LOOP_FORMAT = 'dendrite-bench/checkpoint@1';

function positiveInt(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`train: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** Training stopped because the model's numbers blew up; nothing of the diverged state was saved. */
export class DivergenceError extends Error {
  readonly code = 'ERR_DENDRITE_DIVERGED';
  epoch = 0;
  checkpoint: string | null = null;
  constructor(message: string) {
    super(message);
    this.name = 'DivergenceError';
  }
}

function frobenius(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** The mean of repeated scores of one set (one score: itself). */
function meanScore(scores: EvalResult[]): EvalResult {
  if (scores.length === 1) return scores[0];
  const avg = (f: (e: EvalResult) => number): number => scores.reduce((a, e) => a + f(e), 0) / scores.length;
  return { count: scores[0].count, correct: avg((e) => e.correct), accuracy: avg((e) => e.accuracy), loss: avg((e) => e.loss) };
}

const emptyAcc = (): Acc => ({ lossSum: 0, correct: 0, examples: 0 });

export async function train(model: TrainableModel, splits: TrainSplits, options: LoopOptions): Promise<TrainResult> {
  const epochs = positiveInt('epochs', options.epochs, 0);
  const seed = positiveInt('seed', options.seed ?? 0, 0);
  const logEvery = positiveInt('logEvery', options.logEvery ?? 0, 0);
  const batch = positiveInt('model batch size', model.batchSize, 1);
  const chunkSize = roundUp(positiveInt('chunkSize', options.chunkSize ?? 5000, 1), batch);
  const testRepeats = positiveInt('testRepeats', options.testRepeats ?? 1, 1);
  const interval = logEvery > 0 ? roundUp(logEvery, batch) : 0;
  const validateAtPoints = options.validateAtPoints ?? true;
  const emit = options.onEvent ?? (() => undefined);
  const signal = options.signal;
  const { train: trainSet, validation, test } = splits;
  const n = trainSet.count;
  if (n < 1) throw new RangeError('train: the training set is empty');
  const data = { train: n, validation: validation?.count ?? 0, test: test?.count ?? 0 };
  const description = model.describe();
  const startedAt = new Date();
  const wallStart = process.hrtime.bigint();

  let state: LoopState = {
    epoch: 0, position: 0, examplesSeen: 0, epochs: [], curve: [], epochAcc: { ...emptyAcc(), seconds: 0 }, pointAcc: emptyAcc(),
    trainSeconds: 0, evalSeconds: 0, wallSeconds: 0,
  };
  let resumed: TrainResult['resumed'] = null;
  if (options.resume && options.checkpoint && fs.existsSync(options.checkpoint)) {
    const ck = await loadCheckpoint(options.checkpoint);
    const loop = ck.meta.loop as { format?: string; seed?: number; trainCount?: number; dataId?: string; state?: LoopState } | undefined;
    if (!loop || loop.format !== LOOP_FORMAT || !loop.state) {
      throw new Error(`${options.checkpoint}: not a dendrite-bench training checkpoint (a weights file has no loop state)`);
    }
    if (ck.meta.kind !== undefined && ck.meta.kind !== model.kind) {
      throw new Error(`${options.checkpoint}: holds a ${String(ck.meta.kind)} model, this run trains a ${model.kind} model`);
    }
    const differences: ResumeDifference[] = [];
    if (loop.seed !== seed) differences.push({ what: 'seed', checkpoint: loop.seed ?? 'none', run: seed });
    if (loop.trainCount !== n) differences.push({ what: 'training examples', checkpoint: loop.trainCount ?? 'none', run: n });
    if (loop.dataId !== undefined && options.dataId !== undefined && loop.dataId !== options.dataId) {
      differences.push({ what: 'data', checkpoint: loop.dataId, run: options.dataId });
    }
    if (differences.length > 0 && !options.resumeOtherData) {
      const d = differences[0];
      const hint = ' (resumeOtherData, --resume-other-data, continues all the same)';
      if (d.what === 'seed') throw new Error(`${options.checkpoint}: written with seed ${d.checkpoint}, this run has seed ${d.run}${hint}`);
      if (d.what === 'training examples') {
        throw new Error(`${options.checkpoint}: written for ${d.checkpoint} training examples, this run has ${d.run}${hint}`);
      }
      throw new Error(`${options.checkpoint}: written for other training data (${d.checkpoint}); this run has ${d.run}${hint}`);
    }
    await model.importState({ meta: ck.meta.model as Record<string, unknown>, arrays: ck.arrays, ...(ck.shapes ? { shapes: ck.shapes } : {}) });
    state = loop.state;
    // Fewer training examples than the position reached: that epoch ends at once.
    state.position = Math.min(state.position, n);
    resumed = { epoch: state.epoch, position: state.position, ...(differences.length > 0 ? { otherData: differences } : {}) };
    if (differences.length > 0) emit({ type: 'resumeOtherData', checkpoint: options.checkpoint, differences });
  } else if (options.startAt) {
    const { epoch, position } = options.startAt;
    positiveInt('startAt.epoch', epoch, 0);
    positiveInt('startAt.position', position, 0);
    if (position >= n) throw new RangeError(`train: startAt.position ${position} is not inside the ${n}-example epoch`);
    if (position % batch !== 0) throw new RangeError(`train: startAt.position ${position} is not on an update boundary (batch ${batch})`);
    state.epoch = epoch;
    state.position = position;
  }
  emit({ type: 'start', model: description, data, epochs, resumed });

  const wall = (): number => state.wallSeconds + Number(process.hrtime.bigint() - wallStart) / 1e9;
  const evaluate = async (set: ImageSetLike): Promise<EvalResult> => {
    const t = process.hrtime.bigint();
    const r = await model.evaluate(set, signal ? { signal } : {});
    state.evalSeconds += Number(process.hrtime.bigint() - t) / 1e9;
    return r;
  };
  const writeCheckpoint = async (): Promise<void> => {
    if (!options.checkpoint) return;
    const s = await model.exportState();
    const loopState: LoopState = { ...state, wallSeconds: wall() };
    await saveCheckpoint(options.checkpoint, modelCheckpoint(model.kind, s, {
      loop: { format: LOOP_FORMAT, seed, trainCount: n, ...(options.dataId !== undefined ? { dataId: options.dataId } : {}), state: loopState },
    }));
    emit({ type: 'checkpoint', file: options.checkpoint, epoch: state.epoch, position: state.position });
  };
  const mean = (a: Acc): { loss: number; accuracy: number } => ({
    loss: a.examples > 0 ? a.lossSum / a.examples : NaN,
    accuracy: a.examples > 0 ? a.correct / a.examples : NaN,
  });
  // Weight dynamics (recordWeights): the previous point's weights and change, per matrix.
  let prevWeights = new Map<string, Float32Array>();
  let prevDeltas = new Map<string, Float32Array>();
  const weightStats = (): WeightStats[] | undefined => {
    if (!options.recordWeights || !model.layerWeights) return undefined;
    const now = model.layerWeights();
    const deltas = new Map<string, Float32Array>();
    const stats = now.map(({ name, data }): WeightStats => {
      const before = prevWeights.get(name);
      if (!before || before.length !== data.length) return { name, norm: frobenius(data), relChange: null, relUpdateChange: null };
      const delta = new Float32Array(data.length);
      for (let i = 0; i < data.length; i++) delta[i] = data[i] - before[i];
      deltas.set(name, delta);
      const base = frobenius(before);
      const prev = prevDeltas.get(name);
      let relUpdateChange: number | null = null;
      if (prev) {
        const prevNorm = frobenius(prev);
        let s2 = 0;
        for (let i = 0; i < delta.length; i++) s2 += (delta[i] - prev[i]) ** 2;
        relUpdateChange = prevNorm > 0 ? Math.sqrt(s2) / prevNorm : null;
      }
      return { name, norm: frobenius(data), relChange: base > 0 ? frobenius(delta) / base : null, relUpdateChange };
    });
    prevWeights = new Map(now.map((w) => [w.name, w.data]));
    prevDeltas = deltas;
    return stats;
  };
  let classes = 1;
  for (let i = 0; i < n; i++) classes = Math.max(classes, trainSet.labels[i] + 1);
  const divergence = (what: string): DivergenceError => {
    const saved = options.checkpoint && state.epochs.length > 0 ? `; ${options.checkpoint} holds epoch ${state.epochs.length}, the last good state` : '';
    const e = new DivergenceError(`training diverged: ${what} (a learning rate too high?)${saved}`);
    e.epoch = state.epoch + 1;
    e.checkpoint = options.checkpoint ?? null;
    return e;
  };
  const checkAbort = (): void => {
    if (signal?.aborted) throw new AbortError('training aborted', { cause: signal.reason });
  };

  // The state changes only after each awaited step has succeeded, so wherever an abort lands
  // the state describes the model: a checkpoint of it resumes exactly.
  let testResult: EvalResult | null = null;
  const repeatedTests: EvalResult[] = [];
  try {
    while (state.epoch < epochs) {
      const order = trainingOrder(n, seed, state.epoch);
      while (state.position < n) {
        if (interval > 0 && state.pointAcc.examples >= interval) {
          // A curve point inside the epoch (also one left pending by an abort while it was scored).
          const m = mean(state.pointAcc);
          const point: CurvePoint = { epoch: state.epoch + 1, examples: state.examplesSeen, trainLoss: m.loss, trainAccuracy: m.accuracy };
          if (validation && validateAtPoints) {
            const v = await evaluate(validation);
            point.validationLoss = v.loss;
            point.validationAccuracy = v.accuracy;
          }
          const ws = weightStats();
          if (ws) point.weights = ws;
          state.curve.push(point);
          state.pointAcc = emptyAcc();
          emit({ type: 'point', ...point });
          continue;
        }
        checkAbort();
        let count = Math.min(chunkSize, n - state.position);
        if (interval > 0) count = Math.min(count, interval - state.pointAcc.examples);
        const t = process.hrtime.bigint();
        const r = await model.trainEpochChunk({ data: trainSet, order, start: state.position, count, epoch: state.epoch });
        const seconds = Number(process.hrtime.bigint() - t) / 1e9;
        if (r.examples !== count) throw new Error(`train: the model trained ${r.examples} examples of a chunk of ${count}`);
        // A non-finite loss is never recorded, nor checkpointed: the last checkpoint stays the last good state.
        if (!Number.isFinite(r.lossSum)) {
          throw divergence(`the training loss became ${r.lossSum} in epoch ${state.epoch + 1} (examples ${state.position}..${state.position + count})`);
        }
        state.trainSeconds += seconds;
        state.position += count;
        state.examplesSeen += count;
        for (const a of [state.epochAcc, state.pointAcc]) {
          a.lossSum += r.lossSum;
          a.correct += r.correct;
          a.examples += count;
        }
        state.epochAcc.seconds += seconds;
        const running = mean(state.epochAcc);
        const elapsed = wall();
        const left = (epochs - state.epoch) * n - state.position;
        emit({
          type: 'progress', epoch: state.epoch + 1, position: state.position, epochSize: n, examples: state.examplesSeen,
          trainLoss: running.loss, trainAccuracy: running.accuracy, examplesPerSecond: state.epochAcc.examples / state.epochAcc.seconds,
          elapsedSeconds: elapsed, etaSeconds: (left * elapsed) / state.examplesSeen,
        });
      }
      // End of the epoch: validation, model metrics, a curve point, a checkpoint.
      const m = mean(state.epochAcc);
      const record: EpochRecord = {
        epoch: state.epoch + 1, examples: state.epochAcc.examples, trainLoss: m.loss, trainAccuracy: m.accuracy,
        trainSeconds: state.epochAcc.seconds, examplesPerSecond: state.epochAcc.examples / state.epochAcc.seconds,
      };
      // Chance accuracy with a loss far above where training started: the weights exploded
      // (e.g. a learning rate far too high); finite numbers that mean nothing are not results.
      const chance = model.chanceLoss?.(classes);
      if (chance !== undefined && m.accuracy <= 1.5 / classes && m.loss > 10 * chance) {
        throw divergence(`after epoch ${state.epoch + 1} the training accuracy is at chance (${(100 * m.accuracy).toFixed(1)} %) and ` +
          `the training loss ${m.loss.toPrecision(3)} is over 10 times that of uninformed predictions (${chance.toPrecision(3)})`);
      }
      let v: EvalResult | undefined;
      if (validation) {
        v = await evaluate(validation);
        if (!Number.isFinite(v.loss)) throw divergence(`the validation loss became ${v.loss} after epoch ${state.epoch + 1}`);
        record.validationLoss = v.loss;
        record.validationAccuracy = v.accuracy;
      }
      if (options.testEachEpoch && test) {
        const tr = await evaluate(test);
        record.testLoss = tr.loss;
        record.testAccuracy = tr.accuracy;
      }
      if (model.epochMetrics) {
        const metrics = await model.epochMetrics();
        if (Object.keys(metrics).length > 0) record.metrics = metrics;
      }
      const p = mean(state.pointAcc);
      const point: CurvePoint = { epoch: state.epoch + 1, examples: state.examplesSeen, trainLoss: p.loss, trainAccuracy: p.accuracy };
      if (v) {
        point.validationLoss = v.loss;
        point.validationAccuracy = v.accuracy;
      }
      const ws = weightStats();
      if (ws) point.weights = ws;
      state.curve.push(point);
      state.epochs.push(record);
      state.epoch += 1;
      state.position = 0;
      state.epochAcc = { ...emptyAcc(), seconds: 0 };
      state.pointAcc = emptyAcc();
      emit({ type: 'point', ...point });
      emit({ type: 'epoch', ...record });
      await writeCheckpoint();
    }
    if (options.onTrainedState) await options.onTrainedState(await model.exportState());
    if (test) {
      for (let i = 0; i < testRepeats; i++) {
        checkAbort();
        repeatedTests.push(await evaluate(test));
      }
      testResult = meanScore(repeatedTests);
      emit({ type: 'test', ...testResult, ...(testRepeats > 1 ? { repeats: repeatedTests } : {}) });
    }
  } catch (err) {
    if (!isAbortError(err) || !signal?.aborted) throw err;
    emit({ type: 'stopped', epoch: state.epoch + 1, position: state.position });
    // An epoch boundary is already saved; anything later is saved now.
    const saved = state.position > 0 || state.epochAcc.examples > 0;
    if (saved) await writeCheckpoint();
    const where = state.epoch >= epochs ? 'while scoring the test set (every epoch done)'
      : `in epoch ${state.epoch + 1} at example ${state.position} of ${n}`;
    const e = new AbortError(`training aborted ${where}`, { cause: signal.reason });
    e.epoch = state.epoch + 1;
    e.position = state.position;
    e.checkpoint = options.checkpoint ?? null;
    throw e;
  }
  const last = state.epochs[state.epochs.length - 1];
  const result: TrainResult = {
    format: 'dendrite-bench/train-result@1',
    model: description,
    info: options.info ?? {},
    data,
    options: { epochs, seed, logEvery: interval, chunkSize },
    epochs: state.epochs,
    curve: state.curve,
    test: testResult,
    ...(repeatedTests.length > 1 ? { testRepeats: repeatedTests } : {}),
    final: {
      trainLoss: last?.trainLoss ?? null,
      trainAccuracy: last?.trainAccuracy ?? null,
      validationLoss: last?.validationLoss ?? null,
      validationAccuracy: last?.validationAccuracy ?? null,
    },
    timing: {
      trainSeconds: state.trainSeconds,
      evalSeconds: state.evalSeconds,
      wallSeconds: wall(),
      trainExamples: state.examplesSeen,
      examplesPerSecond: state.trainSeconds > 0 ? state.examplesSeen / state.trainSeconds : 0,
    },
    stopped: 'completed',
    resumed,
    checkpoint: options.checkpoint ?? null,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
  };
  if (options.resultFile) await writeFileAtomicAsync(options.resultFile, `${JSON.stringify(result, null, 2)}\n`);
  emit({ type: 'done', result });
  return result;
}
