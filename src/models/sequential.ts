// A TrainableModel over a native sequential network (native/common/sequential.h): the shared
// base of the MLP, CNN, FA and DFA baselines.
import {
  nativeClasses,
  type DeviceString,
  type NativeSequential,
  type OptimizerOptions,
  type SequentialAlignment,
  type SequentialLayer,
} from '../native';
import type { ImageSetLike } from '../train/dataset';
import { throwIfAborted, type ChunkRequest, type ChunkResult, type EvalResult, type EvaluateOptions, type ModelState,
  type TrainableModel } from '../train/model';

// Symbol.dispose where the runtime has it (Node 20 has, as Symbol.for('nodejs.dispose')).
const disposeSymbol = (Symbol.dispose ?? Symbol.for('nodejs.dispose')) as typeof Symbol.dispose;

/** Images per native call of evaluate() (abortable between calls). */
const EVAL_CHUNK = 10000;

export type FeedbackMode = 'backprop' | 'fa' | 'dfa';

export interface SequentialModelOptions {
  /** Model name recorded in results (mlp, cnn, fa, dfa). */
  kind: string;
  input: { channels: number; height: number; width: number };
  classes: number;
  layers: SequentialLayer[];
  feedback?: FeedbackMode;
  optimizer?: OptimizerOptions;
  batchSize: number;
  /** Seed of the initial weights. */
  seed?: number;
  device?: DeviceString;
  threads?: number;
}

/** Per-layer forward/feedback alignment, recorded every epoch for FA and DFA. */
export interface AlignmentRecord extends SequentialAlignment {
  /** normForward / normFeedback */
  normRatio: number;
}

function checkInteger(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

export class SequentialModel implements TrainableModel {
  readonly kind: string;
  readonly batchSize: number;
  readonly options: Readonly<SequentialModelOptions>;
  private net: NativeSequential;

  constructor(options: SequentialModelOptions) {
    checkInteger('batchSize', options.batchSize, 1, 2 ** 31 - 1);
    if (options.seed !== undefined) checkInteger('seed', options.seed, 0);
    this.kind = options.kind;
    this.batchSize = options.batchSize;
    this.options = { ...options, feedback: options.feedback ?? 'backprop', optimizer: options.optimizer ?? { type: 'adam' } };
    this.net = new nativeClasses.Sequential({
      input: options.input,
      classes: options.classes,
      layers: options.layers,
      feedback: this.options.feedback,
      optimizer: this.options.optimizer,
      batchSize: options.batchSize,
      seed: options.seed ?? 0,
      ...(options.device !== undefined ? { device: options.device } : {}),
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
    });
  }

  /** The native network (tests and benchmarks use it directly). */
  get native(): NativeSequential {
    return this.net;
  }

  /** Every layer's weight tensor (not biases or batch-norm parameters), named "<layer>.<type>". */
  layerWeights(): Array<{ name: string; data: Float32Array }> {
    const types = this.net.info().layers;
    return this.net.getWeights().filter((w) => w.kind === 'weight' || w.kind === 'feedback')
      .map((w) => ({ name: `${w.layer}.${types[w.layer]?.type ?? 'layer'}${w.kind === 'feedback' ? '.feedback' : ''}`, data: Float32Array.from(w.data) }));
  }

  /** Softmax cross-entropy of uniform predictions. */
  chanceLoss(classes: number): number {
    return Math.log(classes);
  }

  describe(): Record<string, unknown> {
    const o = this.options;
    const info = this.net.info();
    return {
      kind: o.kind,
      input: o.input,
      classes: o.classes,
      layers: o.layers,
      feedback: o.feedback,
      optimizer: o.optimizer,
      batchSize: o.batchSize,
      seed: o.seed ?? 0,
      parameters: info.paramCount,
      init: 'pytorch-default: weight, bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); batchNorm gamma 1, beta 0',
    };
  }

  private checkData(data: ImageSetLike): void {
    const i = this.options.input;
    if (data.channels !== i.channels || data.height !== i.height || data.width !== i.width) {
      throw new RangeError(
        `${this.kind}: the data are ${data.channels}x${data.height}x${data.width} images, the model expects ` +
          `${i.channels}x${i.height}x${i.width}`,
      );
    }
  }

  async trainEpochChunk(req: ChunkRequest): Promise<ChunkResult> {
    this.checkData(req.data);
    const r = await this.net.trainChunk({
      images: req.data.images, labels: req.data.labels, order: req.order, start: req.start, count: req.count,
    });
    return { examples: r.examples, lossSum: r.lossSum, correct: r.correct };
  }

  /** Scores the set in chunks of 10,000 images; a signal stops it between chunks (AbortError). */
  async evaluate(data: ImageSetLike, options: EvaluateOptions = {}): Promise<EvalResult> {
    this.checkData(data);
    const px = data.channels * data.height * data.width;
    if (data.count <= EVAL_CHUNK) {
      throwIfAborted(options.signal, `${this.kind}: evaluate`);
      const r = await this.net.evaluate({ images: data.images, labels: data.labels });
      return { count: r.count, correct: r.correct, accuracy: r.accuracy, loss: r.loss };
    }
    let correct = 0;
    let lossSum = 0;
    for (let at = 0; at < data.count; at += EVAL_CHUNK) {
      throwIfAborted(options.signal, `${this.kind}: evaluate`);
      const end = Math.min(data.count, at + EVAL_CHUNK);
      const r = await this.net.evaluate({ images: data.images.subarray(at * px, end * px), labels: data.labels.subarray(at, end) });
      correct += r.correct;
      lossSum += r.loss * r.count;
    }
    return { count: data.count, correct, accuracy: correct / data.count, loss: lossSum / data.count };
  }

  async exportState(): Promise<ModelState> {
    const s = this.net.getState();
    return {
      meta: { model: this.describe(), step: s.step },
      arrays: { params: s.params, buffers: s.buffers, feedback: s.feedback, moment1: s.moment1, moment2: s.moment2 },
    };
  }

  async importState(state: ModelState): Promise<void> {
    const want = JSON.stringify(this.describe());
    const got = JSON.stringify(state.meta.model);
    if (want !== got) {
      throw new RangeError(`${this.kind}: the checkpoint holds another model:\n  checkpoint ${got}\n  this model ${want}`);
    }
    const a = state.arrays;
    const f32 = (name: string): Float32Array => {
      const v = a[name];
      if (!(v instanceof Float32Array)) throw new TypeError(`${this.kind}: checkpoint array "${name}" is missing or not float32`);
      return v;
    };
    const step = state.meta.step;
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
      throw new RangeError(`${this.kind}: checkpoint step ${JSON.stringify(step)} is not a non-negative integer`);
    }
    this.net.setState({
      params: f32('params'), buffers: f32('buffers'), feedback: f32('feedback'), moment1: f32('moment1'),
      moment2: f32('moment2'), step,
    });
  }

  /** FA/DFA: the angle and norm ratio between each layer's forward weights and its feedback matrix. */
  alignment(): AlignmentRecord[] {
    return this.net.alignment().map((a) => ({ ...a, normRatio: a.normForward / a.normFeedback }));
  }

  async epochMetrics(): Promise<Record<string, unknown>> {
    if (this.options.feedback === 'backprop') return {};
    return { alignment: this.alignment() };
  }

  /**
   * Frees the native network now (an unreferenced model is freed by its finalizer anyway); every
   * later call throws. Refused (an Error) while a native call runs: await it first.
   */
  dispose(): void {
    this.net.dispose();
  }

  /** `using model = new ...`: dispose() at the end of the scope. */
  [disposeSymbol](): void {
    this.dispose();
  }
}
