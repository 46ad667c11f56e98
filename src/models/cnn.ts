// The backprop CNN baseline (Lange's): blocks of conv -> batch-norm -> ReLU -> 2x2 max-pool, then
// flatten and a linear head. Batch-norm uses batch statistics in training and running statistics
// in evaluation (Lange's code never switched; docs/papers.md D3/D4).
import type { DeviceString, OptimizerOptions, SequentialLayer } from '../native';
import { SequentialModel } from './sequential';

export interface CnnOptions {
  input: { channels: number; height: number; width: number };
  /** Output channels of each block, e.g. [16, 32] (Lange's [1, 16, 32] on MNIST without the input). */
  channels: number[];
  /** Kernel size of each block (one number: every block). Default 5. */
  kernels?: number | number[];
  /** One stride and padding for every convolution (Lange's). Defaults 1 and 2. */
  stride?: number;
  padding?: number;
  classes?: number;
  optimizer?: OptimizerOptions;
  batchSize?: number;
  seed?: number;
  device?: DeviceString;
  threads?: number;
}

export interface CnnGeometry {
  /** [height, width] after each block's convolution and after its pooling. */
  blocks: { conv: [number, number]; pool: [number, number] }[];
  /** Inputs of the linear head. */
  features: number;
}

/**
 * Lange's validity check (docs/papers.md, Lange §4.4) in exact integer arithmetic:
 * every convolution output (in - k + 2p)/s + 1 must be a positive integer, and even so that the
 * 2x2 pooling drops nothing. Throws a RangeError naming the block and the sizes.
 */
export function cnnGeometry(
  input: { channels: number; height: number; width: number },
  channels: readonly number[],
  kernels: readonly number[],
  stride: number,
  padding: number,
): CnnGeometry {
  const int = (name: string, v: unknown, min: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 2 ** 31 - 1) {
      throw new RangeError(`cnn: ${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  int('stride', stride, 1);
  int('padding', padding, 0);
  int('input channels', input.channels, 1);
  if (!Array.isArray(channels) || channels.length === 0) throw new RangeError('cnn: channels must list at least one block');
  if (kernels.length !== channels.length) {
    throw new RangeError(`cnn: ${channels.length} blocks but ${kernels.length} kernel sizes`);
  }
  let h = int('input height', input.height, 1);
  let w = int('input width', input.width, 1);
  const blocks: CnnGeometry['blocks'] = [];
  for (let b = 0; b < channels.length; b++) {
    const where = `cnn block ${b + 1}`;
    int(`block ${b + 1} channels`, channels[b], 1);
    const k = int(`block ${b + 1} kernel`, kernels[b], 1);
    const conv: number[] = [];
    for (const [name, size] of [['height', h], ['width', w]] as const) {
      if (k > size + 2 * padding) {
        throw new RangeError(`${where}: kernel ${k} is larger than the padded input ${name} ${size} + 2*${padding} = ${size + 2 * padding}`);
      }
      const span = size - k + 2 * padding;
      if (span % stride !== 0) {
        throw new RangeError(
          `${where}: conv output ${name} (${size} - ${k} + 2*${padding})/${stride} + 1 = ${(span / stride + 1).toFixed(2)} is not an integer`,
        );
      }
      const out = span / stride + 1;
      if (out % 2 !== 0) {
        throw new RangeError(`${where}: conv output ${name} ${out} is odd: 2x2 pooling would give ${out / 2}`);
      }
      conv.push(out);
    }
    blocks.push({ conv: [conv[0], conv[1]], pool: [conv[0] / 2, conv[1] / 2] });
    h = conv[0] / 2;
    w = conv[1] / 2;
  }
  return { blocks, features: channels[channels.length - 1] * h * w };
}

export function cnnLayers(o: Pick<CnnOptions, 'channels' | 'kernels' | 'stride' | 'padding'>, classes: number): SequentialLayer[] {
  const kernels = typeof o.kernels === 'number' || o.kernels === undefined
    ? o.channels.map(() => (o.kernels as number | undefined) ?? 5)
    : o.kernels;
  const stride = o.stride ?? 1;
  const pad = o.padding ?? 2;
  const layers: SequentialLayer[] = [];
  o.channels.forEach((c, b) => {
    layers.push(
      { type: 'conv2d', outChannels: c, kernel: kernels[b], stride, pad },
      { type: 'batchNorm' },
      { type: 'relu' },
      { type: 'maxPool2x2' },
    );
  });
  layers.push({ type: 'flatten' }, { type: 'linear', outFeatures: classes });
  return layers;
}

export function createCnn(o: CnnOptions): SequentialModel {
  const classes = o.classes ?? 10;
  const kernels = typeof o.kernels === 'number' || o.kernels === undefined
    ? (o.channels ?? []).map(() => (o.kernels as number | undefined) ?? 5)
    : o.kernels;
  cnnGeometry(o.input, o.channels, kernels, o.stride ?? 1, o.padding ?? 2);
  return new SequentialModel({
    kind: 'cnn',
    input: o.input,
    classes,
    layers: cnnLayers({ ...o, kernels }, classes),
    optimizer: o.optimizer ?? { type: 'adam', lr: 1e-3 },
    batchSize: o.batchSize ?? 100,
    seed: o.seed,
    device: o.device,
    threads: o.threads,
  });
}
