// The training loop shared by every model (TrainableModel): epochs of seeded shuffled orders fed
// to the model in chunks (one native call each, the event loop stays free), a learning curve, a
// validation score each epoch, checkpoints with exact resume, an early stop on an AbortSignal,
// a final test score, and a JSON result.
//
// Resume is exact: the order of epoch e depends only on (seed, e); a checkpoint holds the model
// and optimiser state and the position inside the epoch; chunks always end on update boundaries.
// So an interrupted run that resumes reproduces the weights of an uninterrupted one bit for bit.
import fs from 'node:fs';

import { loadCheckpoint, saveCheckpoint, writeFileAtomic } from './checkpoint';
import type { ImageSetLike } from './dataset';
import type { EvalResult, TrainableModel } from './model';
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
  /** Checkpoint file: written after every epoch and when stopped early. */
  checkpoint?: string;
  /** Continue from the checkpoint when the file exists. */
  resume?: boolean;
  /** Stops training at the next chunk boundary (a checkpoint is written first when configured). */
  signal?: AbortSignal;
  onEvent?: (event: TrainEvent) => void;
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
}

export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  examples: number;
  trainLoss: number;
  trainAccuracy: number;
  validationLoss?: number;
  validationAccuracy?: number;
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
  test: EvalResult | null;
  final: { trainLoss: number | null; trainAccuracy: number | null; validationLoss: number | null; validationAccuracy: number | null };
  timing: { trainSeconds: number; evalSeconds: number; wallSeconds: number; trainExamples: number; examplesPerSecond: number };
  stopped: 'completed' | 'aborted';
  resumed: { epoch: number; position: number } | null;
  checkpoint: string | null;
  startedAt: string;
  finishedAt: string;
}

export type TrainEvent =
  | { type: 'start'; model: Record<string, unknown>; data: TrainResult['data']; epochs: number; resumed: TrainResult['resumed'] }
  | { type: 'progress'; epoch: number; position: number; epochSize: number; examples: number; trainLoss: number; trainAccuracy: number; examplesPerSecond: number }
  | ({ type: 'point' } & CurvePoint)
  | ({ type: 'epoch' } & EpochRecord)
  | { type: 'checkpoint'; file: string; epoch: number; position: number }
  | ({ type: 'test' } & EvalResult)
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

const CHECKPOINT_FORMAT = 'dendrite-bench/checkpoint@1';

function positiveInt(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`train: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

const emptyAcc = (): Acc => ({ lossSum: 0, correct: 0, examples: 0 });

export async function train(model: TrainableModel, splits: TrainSplits, options: LoopOptions): Promise<TrainResult> {
  const epochs = positiveInt('epochs', options.epochs, 0);
  const seed = positiveInt('seed', options.seed ?? 0, 0);
  const logEvery = positiveInt('logEvery', options.logEvery ?? 0, 0);
  const batch = positiveInt('model batch size', model.batchSize, 1);
  const chunkSize = roundUp(positiveInt('chunkSize', options.chunkSize ?? 5000, 1), batch);
  const interval = logEvery > 0 ? roundUp(logEvery, batch) : 0;
  const validateAtPoints = options.validateAtPoints ?? true;
  const emit = options.onEvent ?? (() => undefined);
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
    const ck = loadCheckpoint(options.checkpoint);
    const loop = ck.meta.loop as { format?: string; seed?: number; trainCount?: number; state?: LoopState } | undefined;
    if (!loop || loop.format !== CHECKPOINT_FORMAT || !loop.state) {
      throw new Error(`${options.checkpoint}: not a dendrite-bench training checkpoint`);
    }
    if (loop.seed !== seed) throw new Error(`${options.checkpoint}: written with seed ${loop.seed}, this run has seed ${seed}`);
    if (loop.trainCount !== n) {
      throw new Error(`${options.checkpoint}: written for ${loop.trainCount} training examples, this run has ${n}`);
    }
    await model.importState({ meta: ck.meta.model as Record<string, unknown>, arrays: ck.arrays });
    state = loop.state;
    resumed = { epoch: state.epoch, position: state.position };
  }
  emit({ type: 'start', model: description, data, epochs, resumed });

  const wall = (): number => state.wallSeconds + Number(process.hrtime.bigint() - wallStart) / 1e9;
  const evaluate = async (set: ImageSetLike): Promise<EvalResult> => {
    const t = process.hrtime.bigint();
    const r = await model.evaluate(set);
    state.evalSeconds += Number(process.hrtime.bigint() - t) / 1e9;
    return r;
  };
  const writeCheckpoint = async (): Promise<void> => {
    if (!options.checkpoint) return;
    const s = await model.exportState();
    const loopState: LoopState = { ...state, wallSeconds: wall() };
    saveCheckpoint(options.checkpoint, {
      meta: { model: s.meta, loop: { format: CHECKPOINT_FORMAT, seed, trainCount: n, state: loopState } },
      arrays: s.arrays,
    });
    emit({ type: 'checkpoint', file: options.checkpoint, epoch: state.epoch, position: state.position });
  };
  const mean = (a: Acc): { loss: number; accuracy: number } => ({
    loss: a.examples > 0 ? a.lossSum / a.examples : NaN,
    accuracy: a.examples > 0 ? a.correct / a.examples : NaN,
  });

  let stopped: TrainResult['stopped'] = 'completed';
  outer: while (state.epoch < epochs) {
    const order = trainingOrder(n, seed, state.epoch);
    while (state.position < n) {
      if (options.signal?.aborted) {
        stopped = 'aborted';
        break outer;
      }
      let count = Math.min(chunkSize, n - state.position);
      if (interval > 0) count = Math.min(count, interval - state.pointAcc.examples);
      const t = process.hrtime.bigint();
      const r = await model.trainEpochChunk({ data: trainSet, order, start: state.position, count, epoch: state.epoch });
      const seconds = Number(process.hrtime.bigint() - t) / 1e9;
      if (r.examples !== count) throw new Error(`train: the model trained ${r.examples} examples of a chunk of ${count}`);
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
      emit({
        type: 'progress', epoch: state.epoch + 1, position: state.position, epochSize: n, examples: state.examplesSeen,
        trainLoss: running.loss, trainAccuracy: running.accuracy, examplesPerSecond: state.epochAcc.examples / state.epochAcc.seconds,
      });
      if (interval > 0 && state.pointAcc.examples >= interval && state.position < n) {
        const m = mean(state.pointAcc);
        const point: CurvePoint = { epoch: state.epoch + 1, examples: state.examplesSeen, trainLoss: m.loss, trainAccuracy: m.accuracy };
        if (validation && validateAtPoints) {
          const v = await evaluate(validation);
          point.validationLoss = v.loss;
          point.validationAccuracy = v.accuracy;
        }
        state.curve.push(point);
        state.pointAcc = emptyAcc();
        emit({ type: 'point', ...point });
      }
    }
    // End of the epoch: validation, model metrics, a curve point, a checkpoint.
    const m = mean(state.epochAcc);
    const record: EpochRecord = {
      epoch: state.epoch + 1, examples: state.epochAcc.examples, trainLoss: m.loss, trainAccuracy: m.accuracy,
      trainSeconds: state.epochAcc.seconds, examplesPerSecond: state.epochAcc.examples / state.epochAcc.seconds,
    };
    let v: EvalResult | undefined;
    if (validation) {
      v = await evaluate(validation);
      record.validationLoss = v.loss;
      record.validationAccuracy = v.accuracy;
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

  let testResult: EvalResult | null = null;
  if (stopped === 'aborted') {
    emit({ type: 'stopped', epoch: state.epoch + 1, position: state.position });
    if (state.position > 0) await writeCheckpoint();  // an epoch boundary is already saved
  } else if (test) {
    testResult = await evaluate(test);
    emit({ type: 'test', ...testResult });
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
    stopped,
    resumed,
    checkpoint: options.checkpoint ?? null,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
  };
  if (options.resultFile) writeFileAtomic(options.resultFile, `${JSON.stringify(result, null, 2)}\n`);
  emit({ type: 'done', result });
  return result;
}
