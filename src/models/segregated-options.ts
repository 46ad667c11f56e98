// Every option of the segregated-dendrite network, once (docs/segregated.md "Options"). The
// defaults are the paper's spiking configuration; mode "nonspiking" gives the original code's
// default (docs/papers.md §14). Lengths in steps follow dt as the original does (int(ms / dt)).
// The native simulator receives the fully resolved set (bindings/segregated.cpp) and checks it
// again; its own presets (seg::preset(), native/common/segregated.cpp) are these defaults at dt = 1,
// generated into native/common/segregated_options.inc by scripts/gen-segregated-options.js, which
// test/segregated-options-native.test.ts keeps current.
import type { OptionTable, ResolvedOptions } from './options';

type R = Readonly<Record<string, unknown>>;
const spiking = (r: R): boolean => r.mode === 'spiking';
const dt = (r: R): number => r.dt as number;
/** Steps in `ms` milliseconds: int(ms / dt), at least 1 (the original's rule). */
const steps = (ms: number) => (r: R): number => Math.max(1, Math.trunc(ms / dt(r)));
/** The averaging window: the phase minus the 30 ms settling time, at least one step. */
const window = (phase: (r: R) => number) => (r: R): number =>
  spiking(r) ? Math.max(1, phase(r) - Math.trunc(30 / dt(r))) : 1;

/** The paper's learning rates for its three networks (docs/papers.md §15); others must give theirs. */
export function paperLearningRates(layers: readonly number[]): number[] | undefined {
  switch (layers.length) {
    case 1: return [0.19];
    case 2: return [0.21, 0.21];
    case 3: return [0.23, 0.23, 0.12];
    default: return undefined;
  }
}

export const SEGREGATED_OPTIONS = {
  mode: { type: 'choice', choices: ['spiking', 'nonspiking'], default: 'spiking',
    doc: 'spiking (the paper) or nonspiking (the original code\'s default: rates, 2-step phases)' },
  layers: { type: 'integerList', min: 1, max: 2 ** 20, minItems: 1, maxItems: 16, default: [500, 10],
    doc: 'hidden layer sizes then the output size (a multiple of the 10 classes: units per class)' },
  nIn: { type: 'integer', min: 1, max: 2 ** 24, default: 784, doc: 'inputs per image (set from the dataset by experiments)' },
  batchSize: { type: 'integer', min: 1, max: 4096, default: 1, log: true,
    doc: 'examples per weight update: 1 is online learning (the paper); more sums the updates (a deviation)' },
  dt: { type: 'number', min: 0, exclusiveMin: true, max: 1000, default: 1, search: [0.1, 1],
    doc: 'ms per Euler step; lengths in steps and lambdaMax follow it' },
  lambdaMax: { type: 'number', min: 0, exclusiveMin: true, max: 1000, default: (r) => 0.2 * dt(r), search: [0.1, 0.5],
    doc: 'maximum spike rate per step (0.2 dt)' },
  tauS: { type: 'number', min: 0, exclusiveMin: true, max: 1e6, default: 3, search: [1, 5], doc: 'PSP kernel rise time constant (ms)' },
  tauL: { type: 'number', min: 0, exclusiveMin: true, max: 1e6, default: 10, search: [7, 13], doc: 'PSP kernel leak time constant (ms); must differ from tauS' },
  gB: { type: 'number', min: 0, exclusiveMin: true, max: 1e6, default: 0.6, search: [0.3, 0.9], doc: 'basal-to-soma conductance' },
  gL: { type: 'number', min: 0, max: 1e6, default: 0.1, doc: 'leak conductance' },
  gD: { type: 'number', min: 0, exclusiveMin: true, max: 1e6, default: 0.6, doc: 'output dendrite-to-soma conductance' },
  gA: { type: 'number', min: 0, max: 1e6, default: 0,
    doc: 'apical-to-soma conductance: 0 (the paper: segregated), 0.05 (the original\'s use_apical_conductance), 0.6 (no segregation)' },
  EE: { type: 'number', min: -1e6, max: 1e6, default: 8, search: [5, 12], doc: 'excitatory reversal potential (teaching signal)' },
  EI: { type: 'number', min: -1e6, max: 1e6, default: -8, search: [-12, -5], doc: 'inhibitory reversal potential (teaching signal)' },
  conductances: { type: 'boolean', default: spiking, search: true, doc: 'leaky somata (else the steady state)' },
  broadcast: { type: 'boolean', default: true, search: true, doc: 'every hidden layer gets feedback from the output (else from the layer above)' },
  spikingFeedforward: { type: 'boolean', default: spiking, search: true, doc: 'basal inputs are filtered spikes (else rates)' },
  spikingFeedback: { type: 'boolean', default: spiking, search: true, doc: 'apical inputs are filtered spikes (else rates)' },
  mem: { type: 'integer', min: 1, max: 1000, default: (r) => (spiking(r) ? Math.max(1, Math.round(10 / dt(r))) : 1),
    doc: 'spike history length = PSP kernel taps (10 ms)' },
  forwardPhase: { type: 'integer', min: 1, max: 1e6, default: (r) => (spiking(r) ? steps(50)(r) : 2), doc: 'minimum forward phase length (steps)' },
  targetPhase: { type: 'integer', min: 1, max: 1e6, default: (r) => (spiking(r) ? steps(50)(r) : 2), doc: 'minimum target phase length (steps)' },
  testPhase: { type: 'integer', min: 1, max: 1e6, default: (r) => (spiking(r) ? steps(250)(r) : 2),
    doc: 'test phase length (steps): 250 ms as in the code (the paper\'s text says 500)' },
  integrationTime: { type: 'integer', min: 1, max: 1e6,
    default: window((r) => Math.min(r.forwardPhase as number, r.targetPhase as number)),
    doc: 'training averaging window: the last steps of each phase (phase minus 30 ms)' },
  integrationTimeTest: { type: 'integer', min: 1, max: 1e6, default: window((r) => r.testPhase as number),
    doc: 'test averaging window (test phase minus 30 ms)' },
  randomPhaseLengths: { type: 'boolean', default: spiking, doc: 'each phase lasts its minimum plus a Wald-distributed number of steps' },
  waldMean: { type: 'number', min: 0, exclusiveMin: true, max: 1e6, default: 2, when: { randomPhaseLengths: [true] },
    doc: 'mean of the Wald extra phase length' },
  waldScale: { type: 'number', min: 0, exclusiveMin: true, max: 1e6, default: 1, when: { randomPhaseLengths: [true] },
    doc: 'scale of the Wald extra phase length' },
  randomPlateauTimes: { type: 'boolean', default: false, doc: 'per-neuron jitter of the plateau times' },
  plateauSd: { type: 'number', min: 0, max: 1e6, default: 3, when: { randomPlateauTimes: [true] },
    doc: 'standard deviation (steps) of the plateau jitter' },
  plateauCap: { type: 'integer', min: 0, max: 1e6, default: 5, when: { randomPlateauTimes: [true] }, doc: 'largest plateau jitter (steps)' },
  feedback: { type: 'choice', choices: ['random', 'symmetric', 'learned'], default: 'random', search: true,
    doc: 'feedback weights Y: fixed random (the paper), the transposed feed-forward weights, or learned' },
  noisySymmetric: { type: 'boolean', default: false, when: { feedback: ['symmetric'] }, doc: 'symmetric feedback plus Gaussian noise per entry' },
  symmetricNoiseSd: { type: 'number', min: 0, max: 1e6, default: 0.05, when: { noisySymmetric: [true] }, doc: 'standard deviation of that noise' },
  sparseFeedback: { type: 'boolean', default: false, search: true, doc: 'zero a fixed fraction of each Y once and scale the rest' },
  sparseDrop: { type: 'number', min: 0, max: 1, exclusiveMax: true, default: 0.8, when: { sparseFeedback: [true] },
    doc: 'fraction of feedback weights zeroed' },
  sparseGain: { type: 'number', min: 0, exclusiveMin: true, max: 1e6, default: 5, when: { sparseFeedback: [true] },
    doc: 'gain of the surviving feedback weights' },
  feedbackBias: { type: 'boolean', default: false, search: true, doc: 'apical bias c (A = Y PSP + c)' },
  init: { type: 'choice', choices: ['realised', 'design', 'plain'], default: 'realised',
    doc: 'moment-matched initialisation with the realised or design spread, or plain uniform weights' },
  backprop: { type: 'boolean', default: false, doc: 'control: hidden errors by backprop through W instead of feedback' },
  backpropInPlace: { type: 'boolean', default: false, when: { backprop: [true] },
    doc: 'replay the original\'s backprop control, which uses the already-updated weights above' },
  learningRates: { type: 'numberList', min: 0, max: 1e6, minItems: 1, maxItems: 16, log: true,
    default: (r) => paperLearningRates(r.layers as number[]),
    doc: 'feed-forward learning rate per layer (default: the paper\'s for 1, 2 or 3 layers; required otherwise)' },
  feedbackLearningRates: { type: 'numberList', min: 0, max: 1e6, minItems: 1, maxItems: 15, log: true, when: { feedback: ['learned'] },
    doc: 'feedback learning rate per hidden layer (required with learned feedback)' },
} as const satisfies OptionTable;

export type SegregatedModelOptions = ResolvedOptions<typeof SEGREGATED_OPTIONS>;
