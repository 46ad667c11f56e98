// The backprop MLP baseline (Lange's "DNN"): ReLU hidden layers, a linear output, softmax
// cross-entropy; with feedback: 'fa' or 'dfa' the same network learns by feedback alignment or
// direct feedback alignment instead.
import type { DeviceString, OptimizerOptions, SequentialLayer } from '../native';
import { SequentialModel, type FeedbackMode } from './sequential';

export interface MlpOptions {
  input: { channels: number; height: number; width: number };
  /** Hidden layer widths, e.g. [500] (Lange's reference 784-500-10). */
  hidden: number[];
  classes?: number;
  feedback?: FeedbackMode;
  /** Default Adam, lr 1e-3. */
  optimizer?: OptimizerOptions;
  /** Default 100. */
  batchSize?: number;
  seed?: number;
  device?: DeviceString;
  threads?: number;
}

/** flatten, then linear + relu per hidden layer, then linear to the classes. */
export function mlpLayers(hidden: readonly number[], classes: number): SequentialLayer[] {
  if (!Array.isArray(hidden)) throw new TypeError('mlp: hidden must be an array of layer widths');
  const layers: SequentialLayer[] = [{ type: 'flatten' }];
  hidden.forEach((h, i) => {
    if (!Number.isInteger(h) || h < 1 || h > 2 ** 31 - 1) {
      throw new RangeError(`mlp: hidden layer ${i + 1} width must be a positive integer, got ${JSON.stringify(h)}`);
    }
    layers.push({ type: 'linear', outFeatures: h }, { type: 'relu' });
  });
  layers.push({ type: 'linear', outFeatures: classes });
  return layers;
}

export function createMlp(o: MlpOptions): SequentialModel {
  const classes = o.classes ?? 10;
  const feedback = o.feedback ?? 'backprop';
  if (!['backprop', 'fa', 'dfa'].includes(feedback)) {
    throw new RangeError(`mlp: feedback must be backprop, fa or dfa, got ${JSON.stringify(feedback)}`);
  }
  return new SequentialModel({
    kind: feedback === 'backprop' ? 'mlp' : feedback,
    input: o.input,
    classes,
    layers: mlpLayers(o.hidden, classes),
    feedback,
    optimizer: o.optimizer ?? { type: 'adam', lr: 1e-3 },
    batchSize: o.batchSize ?? 100,
    seed: o.seed,
    device: o.device,
    threads: o.threads,
  });
}
