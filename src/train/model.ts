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

/** A checkpointable snapshot: JSON metadata plus named numeric arrays. */
export interface ModelState {
  meta: Record<string, unknown>;
  arrays: Record<string, Float32Array | Float64Array | Int32Array | Uint8Array>;
}

export interface TrainableModel {
  /** mlp, cnn, fa, dfa, segregated, ... */
  readonly kind: string;
  /** Examples per parameter update (1 for online learning); chunks are multiples of it. */
  readonly batchSize: number;
  /** Architecture and hyper-parameters, JSON-serialisable; a checkpoint only loads into an equal model. */
  describe(): Record<string, unknown>;
  trainEpochChunk(req: ChunkRequest): Promise<ChunkResult>;
  evaluate(data: ImageSetLike): Promise<EvalResult>;
  exportState(): Promise<ModelState>;
  importState(state: ModelState): Promise<void>;
  /** Measurements recorded once per epoch (e.g. feedback alignment), JSON-serialisable. */
  epochMetrics?(): Promise<Record<string, unknown>>;
  /** Frees native memory early. */
  dispose?(): void;
}
