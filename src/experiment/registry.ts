// The model registry: a model kind -> its option table and its factory. Experiments, the CLI,
// the schemas and hyperparameter searches find every model here. Adding a learning rule is one
// model folder (its options table and its TrainableModel) and one entry below.
import type { DeviceString } from '../native';
import { CNN_OPTIONS, MLP_OPTIONS, type CnnModelOptions, type MlpModelOptions } from '../models/baseline-options';
import { cnnGeometry, createCnn } from '../models/cnn';
import { createMlp } from '../models/mlp';
import { optionError, resolveOptions, type OptionTable, type ResolvedOptions } from '../models/options';
import { SEGREGATED_OPTIONS, type SegregatedModelOptions } from '../models/segregated-options';
import { SegregatedTrainable } from '../models/segregated-trainable';
import type { TrainableModel } from '../train/model';

/** What a factory learns from the experiment besides the model's own options. */
export interface ModelContext {
  input: { channels: number; height: number; width: number };
  classes: number;
  /** Seed of the initial weights and of the model's own random draws. */
  seed: number;
  /** A concrete device: "cpu" or "cuda:N". */
  device: DeviceString;
  threads?: number;
  /** Segregated network: record the angle to backprop, and the voltages of the first example of each epoch. */
  recordAngle?: boolean;
  recordVoltages?: boolean;
}

export interface ModelEntry<T extends OptionTable = OptionTable> {
  kind: string;
  /** One line for listings. */
  title: string;
  options: T;
  /** Where the model can run. */
  devices: readonly ('cpu' | 'cuda')[];
  /**
   * Why "auto" should take the CPU although CUDA is usable, for these options (measured: the GPU
   * is slower there); undefined where CUDA pays.
   */
  cpuWhenAuto?(options: ResolvedOptions<T>): string | undefined;
  /** Experiment settings only this model supports (e.g. recordAngle), by name. */
  extras?: Readonly<Record<string, true>>;
  /** Checks that need the data or several options at once; throws an option error naming the option. */
  check?(options: ResolvedOptions<T>, ctx: Pick<ModelContext, 'input' | 'classes'>): void;
  create(options: ResolvedOptions<T>, ctx: ModelContext): TrainableModel;
}

function entry<T extends OptionTable>(e: ModelEntry<T>): ModelEntry<T> {
  return e;
}

function optimiser(o: MlpModelOptions | CnnModelOptions) {
  return o.optimizer === 'adam'
    ? { type: 'adam' as const, lr: o.lr, weightDecay: o.weightDecay }
    : { type: 'sgd' as const, lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay };
}

function checkOutputs(kind: string, layers: readonly number[], classes: number): void {
  const out = layers[layers.length - 1];
  if (out !== classes) {
    throw optionError(kind, 'layers', `ends with ${out} outputs; the dataset has ${classes} classes`);
  }
}

const dense = (kind: 'mlp' | 'fa' | 'dfa', title: string) =>
  entry({
    kind,
    title,
    options: MLP_OPTIONS,
    devices: ['cpu', 'cuda'],
    check: (o, ctx) => checkOutputs(kind, o.layers, ctx.classes),
    create: (o, ctx) =>
      createMlp({
        input: ctx.input, classes: ctx.classes, hidden: o.layers.slice(0, -1), feedback: kind === 'mlp' ? 'backprop' : kind,
        optimizer: optimiser(o), batchSize: o.batchSize, seed: ctx.seed, device: ctx.device, threads: ctx.threads,
      }),
  });

const cnnKernels = (o: CnnModelOptions): number[] => (o.kernels.length === 1 ? o.channels.map(() => o.kernels[0]) : o.kernels);

export const MODELS = {
  segregated: entry({
    kind: 'segregated',
    title: 'segregated-dendrite network (Guerguiev, Lillicrap & Richards 2017)',
    options: SEGREGATED_OPTIONS,
    devices: ['cpu', 'cuda'],
    extras: { recordAngle: true, recordVoltages: true },
    // One example at a time is a chain of short steps that a GPU runs on one multiprocessor: on an
    // H200, 587 examples/s (784-500-10 spiking) against 3,400-5,200 on its host's CPU (docs/segregated.md).
    cpuWhenAuto: (o: SegregatedModelOptions) => (o.batchSize === 1
      ? 'online training (batchSize 1) runs one example at a time, several times faster on the CPU than on a GPU'
      : undefined),
    check: (o: SegregatedModelOptions, ctx) => {
      const out = o.layers[o.layers.length - 1];
      if (out % ctx.classes !== 0) {
        throw optionError('segregated', 'layers', `ends with ${out} outputs, not a multiple of the ${ctx.classes} classes`);
      }
      const nIn = ctx.input.channels * ctx.input.height * ctx.input.width;
      if (o.nIn !== nIn) throw optionError('segregated', 'nIn', `is ${o.nIn}; the dataset has ${nIn} values per image`);
      if (o.learningRates === undefined) {
        throw optionError('segregated', 'learningRates', `is required for networks other than 784-10, 784-500-10 and 784-500-100-10 (one rate per layer, ${o.layers.length} here)`);
      }
    },
    create: (o, ctx) =>
      new SegregatedTrainable({
        ...o, seed: ctx.seed, device: ctx.device, ...(ctx.threads !== undefined ? { threads: ctx.threads } : {}),
      }, {
        recordAngle: ctx.recordAngle === true,
        ...(ctx.recordVoltages ? { record: { examples: [0], voltages: true, phaseTimes: true, plateauTimes: true } } : {}),
      }),
  }),
  mlp: dense('mlp', 'multilayer perceptron trained by backprop (Lange\'s DNN)'),
  fa: dense('fa', 'the MLP trained by feedback alignment (Lillicrap et al. 2016)'),
  dfa: dense('dfa', 'the MLP trained by direct feedback alignment (Nøkland 2016)'),
  cnn: entry({
    kind: 'cnn',
    title: 'convolutional network trained by backprop (Lange\'s CNN)',
    options: CNN_OPTIONS,
    devices: ['cpu', 'cuda'],
    // An invalid geometry is refused before anything is built (a search records it as infeasible).
    check: (o, ctx) => {
      if (o.kernels.length !== 1 && o.kernels.length !== o.channels.length) {
        throw optionError('cnn', 'kernels', `gives ${o.kernels.length} sizes for ${o.channels.length} blocks (channels ${o.channels.join(',')})`);
      }
      try {
        cnnGeometry(ctx.input, o.channels, cnnKernels(o), o.stride, o.padding);
      } catch (err) {
        throw optionError('cnn', '', `channels, kernels, stride and padding give an invalid geometry: ${(err as Error).message}`);
      }
    },
    create: (o, ctx) =>
      createCnn({
        input: ctx.input, classes: ctx.classes, channels: o.channels, kernels: cnnKernels(o), stride: o.stride, padding: o.padding,
        optimizer: optimiser(o), batchSize: o.batchSize, seed: ctx.seed, device: ctx.device, threads: ctx.threads,
      }),
  }),
} as const;

export type ModelKind = keyof typeof MODELS;
export const MODEL_KINDS = Object.keys(MODELS) as ModelKind[];

export function modelEntry(kind: string): ModelEntry {
  if (!Object.prototype.hasOwnProperty.call(MODELS, kind)) {
    throw optionError('experiment', 'model', `must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
  return MODELS[kind as ModelKind] as unknown as ModelEntry;
}

/** Checks and completes a model's options (defaults filled in). */
export function resolveModelOptions(kind: string, given: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  const e = modelEntry(kind);
  return resolveOptions(kind, e.options, given);
}
