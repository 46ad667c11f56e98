// The options of the backprop baselines and the feedback-alignment networks, once each: the
// MLP (and FA, DFA: the same network, another learning rule) and the CNN (docs/baselines.md).
// Defaults are Lange's reference settings; `search` ranges are our default search space (log
// learning rates and batch sizes; docs/bo.md compares it with Lange's).
import type { OptionTable, ResolvedOptions } from './options';

/** Training settings shared by every backprop-style model. */
const OPTIMISER = {
  batchSize: { type: 'integer', min: 1, max: 65536, default: 100, log: true, search: [16, 512], doc: 'examples per update' },
  optimizer: { type: 'choice', choices: ['adam', 'sgd'], default: 'adam', doc: 'adam (Lange\'s) or sgd' },
  lr: { type: 'number', min: 0, exclusiveMin: true, max: 1e6, default: 1e-3, log: true, search: [1e-4, 1e-1], doc: 'learning rate' },
  momentum: { type: 'number', min: 0, max: 1, exclusiveMax: true, default: 0, when: { optimizer: ['sgd'] }, search: [0, 0.99],
    doc: 'SGD momentum' },
  weightDecay: { type: 'number', min: 0, max: 1e6, default: 0, doc: 'L2 weight decay' },
} as const satisfies OptionTable;

export const MLP_OPTIONS = {
  layers: { type: 'integerList', min: 1, max: 2 ** 24, minItems: 1, maxItems: 64, default: [500, 10],
    doc: 'hidden layer widths then the output size (the number of classes)' },
  ...OPTIMISER,
} as const satisfies OptionTable;

export const CNN_OPTIONS = {
  channels: { type: 'integerList', min: 1, max: 65536, minItems: 1, maxItems: 16, default: [16, 32],
    doc: 'output channels of each conv -> batch-norm -> ReLU -> 2x2 max-pool block' },
  kernels: { type: 'integerList', min: 1, max: 1024, minItems: 1, maxItems: 16, default: [5],
    doc: 'kernel size of each block, or one size for every block' },
  stride: { type: 'integer', min: 1, max: 1024, default: 1, doc: 'convolution stride (one for every block)' },
  padding: { type: 'integer', min: 0, max: 1024, default: 2, doc: 'convolution zero padding (one for every block)' },
  ...OPTIMISER,
} as const satisfies OptionTable;

export type MlpModelOptions = ResolvedOptions<typeof MLP_OPTIONS>;
export type CnnModelOptions = ResolvedOptions<typeof CNN_OPTIONS>;
