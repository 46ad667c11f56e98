// What the training loop (loop.ts) needs from a model. The backprop baselines (src/models/mlp.ts,
// cnn.ts) implement it over a native network; the segregated-dendrite network can implement it
// over its own native simulator.
import type { ImageSetLike } from './dataset';

/** Train on examples order[start .. start + count) of `data`, in that order. */
export interface ChunkRequest {
  data: ImageSetLike;
  /** The epoch's presentation order: indices into data. */
  order: Int32Array;
  start: number;
  count: number;
  /** 0-based epoch (models may key their random draws by it). */
  epoch: number;
}

export interface ChunkResult {
  examples: number;
  /** Sum over the examples of the training loss (each measured before its own update). */
  lossSum: number;
  /** Examples classified correctly by the forward pass that preceded their update. */
  correct: number;
}

export interface EvalResult {
  count: number;
  correct: number;
  /** Pooled accuracy: correct / count. */
  accuracy: number;
  /** Mean loss per example (the model's own loss; softmax cross-entropy for the baselines). */
  loss: number;
}

/** A checkpointable snapshot: JSON metadata plus named numeric arrays (the tensors of a checkpoint file). */
export interface ModelState {
  meta: Record<string, unknown>;
  arrays: Record<string, Float32Array | Float64Array | Int32Array | Uint8Array>;
  /** Row-major shapes of some arrays (e.g. [out, in] of a weight matrix); default one dimension. */
  shapes?: Record<string, readonly number[]>;
}

export interface EvaluateOptions {
  /** Stops between chunks of images: the call rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface TrainableModel {
  /** mlp, cnn, fa, dfa, segregated, ... */
  readonly kind: string;
  /** Examples per parameter update (1 for online learning); chunks are multiples of it. */
  readonly batchSize: number;
  /** Architecture and hyper-parameters, JSON-serialisable; a checkpoint only loads into an equal model. */
  describe(): Record<string, unknown>;
  trainEpochChunk(req: ChunkRequest): Promise<ChunkResult>;
  /** Scores every image; with a signal, stops within a chunk of images (rejects with an AbortError). */
  evaluate(data: ImageSetLike, options?: EvaluateOptions): Promise<EvalResult>;
  exportState(): Promise<ModelState>;
  importState(state: ModelState): Promise<void>;
  /** Measurements recorded once per epoch (e.g. feedback alignment), JSON-serialisable. */
  epochMetrics?(): Promise<Record<string, unknown>>;
  /**
   * The weight matrices per layer (feed-forward weights; feedback weights named as such), copied:
   * the loop's weight dynamics (norms, relative weight and update changes) are computed from them.
   */
  layerWeights?(): Array<{ name: string; data: Float32Array }>;
  /**
   * The loss of uninformed predictions over `classes` classes (ln classes for a softmax
   * cross-entropy), when the model's loss has one: the loop stops a run whose accuracy is at chance
   * with a loss far above it (diverged weights).
   */
  chanceLoss?(classes: number): number;
  /** Frees native memory early. */
  dispose?(): void;
}

/**
 * What every long call (the training loop, SegregatedNetwork.train / evaluate, the models'
 * evaluate) rejects with when its AbortSignal fires: name "AbortError", code "ABORT_ERR" and
 * `cause` = signal.reason, always (whatever the reason is: the DOMException that abort() makes by
 * default, or the value given to abort(reason)). Node's own APIs (fs, timers/promises) reject the
 * same way. The training loop adds where it stopped and the checkpoint it kept.
 */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  /** Training loop only: the 1-based epoch it stopped in and the examples done in it. */
  epoch?: number;
  position?: number;
  /** Training loop only: the checkpoint file that holds the last saved position (null without one). */
  checkpoint?: string | null;

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** Whether `err` is an AbortError (of this package or the platform). */
export function isAbortError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'AbortError';
}

/** Throws an AbortError (cause: signal.reason) when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(`${what} aborted`, { cause: signal.reason });
}
