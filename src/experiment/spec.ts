// An experiment: one model (kind and options), one dataset and split, training settings, a seed,
// a device. Plain data that round-trips through JSON; its settings are described by a table like
// the models' options, so that the CLI, experiment files, the schema and searches share them.
import { datasetNames, findSpec } from '../data/registry';
import type { DeviceString } from '../native';
import { optionError, optionsSchema, resolveOptions, type OptionTable, type ResolvedOptions } from '../models/options';
import { MODEL_KINDS, modelEntry, type ModelKind } from './registry';

export const EXPERIMENT_SETTINGS = {
  dataset: { type: 'choice', choices: datasetNames(), default: 'mnist-10k',
    doc: 'dataset name (dendrite-bench data list)' },
  epochs: { type: 'integer', min: 0, max: 1e6, default: 5, doc: 'training epochs' },
  validation: { type: 'number', min: 0, max: 2 ** 31 - 1, default: 0.1,
    doc: 'validation images held out of the training split: a fraction (< 1) or a count; 0: none' },
  folds: { type: 'integer', min: 0, max: 1000, default: 0,
    doc: 'k-fold cross-validation on the training split (stratified, folds fixed by splitSeed); 0: use validation instead' },
  fold: { type: 'integer', min: 0, max: 999, default: 0, doc: 'which fold validates (0-based, < folds)' },
  test: { type: 'boolean', default: true, doc: 'score the official test split once at the end (searches turn it off)' },
  testEachEpoch: { type: 'boolean', default: false, when: { test: [true] },
    doc: 'also score the test split after every epoch (the paper\'s Fig. 6B); it never influences training' },
  testRepeats: { type: 'integer', min: 1, max: 1000, default: 1, when: { test: [true] },
    doc: 'score the final weights on the test split this many times and report the mean (the spiking segregated network draws new spikes each time; the paper\'s Fig. 6B quotes the mean of 20)' },
  recordWeights: { type: 'boolean', default: false,
    doc: 'record weight dynamics at every curve point: per layer |W|, relative weight change and relative update change' },
  recordAngle: { type: 'boolean', default: false,
    doc: 'segregated network: the angle between its local hidden-layer updates and backprop\'s, averaged per epoch (the paper\'s Fig. 7)' },
  recordVoltages: { type: 'boolean', default: false,
    doc: 'segregated network: the somatic, basal and apical potentials of a few units over the first example of the last epoch, with its phase and plateau times (the paper\'s Fig. 3C)' },
  logEvery: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: 0,
    doc: 'a learning-curve point every N training examples (0: at epoch ends only)' },
  chunkSize: { type: 'integer', min: 1, max: 2 ** 31 - 1, default: 5000, doc: 'examples per native call (progress and abort granularity)' },
  seed: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: 0,
    doc: 'seed of the initial weights and the epoch orders (and of the split, unless splitSeed is given)' },
  // Apart from the seed so that runs with other weights can share one split (a study's trials, a
  // seed sweep); by default the seed, as before it existed, so earlier results reproduce.
  splitSeed: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, default: (r: Record<string, unknown>) => r.seed as number,
    doc: 'seed of the validation split or the cross-validation folds (default: the seed)' },
  device: { type: 'choice', choices: ['auto', 'cpu', 'cuda'], default: 'auto',
    doc: 'auto (CUDA when usable and faster for the model, else the CPU, saying why), cpu, cuda or cuda:N' },
  threads: { type: 'integer', min: 1, max: 1024, doc: 'CPU threads (default DENDRITE_NUM_THREADS, else all cores)' },
} as const satisfies OptionTable;

export type ExperimentSettings = ResolvedOptions<typeof EXPERIMENT_SETTINGS>;

/** What a caller gives: the model kind, its options, and any settings (defaults above). */
export interface ExperimentSpec {
  model: ModelKind;
  options?: Record<string, unknown>;
  dataset?: string;
  dataDir?: string;
  epochs?: number;
  validation?: number;
  folds?: number;
  fold?: number;
  test?: boolean;
  testEachEpoch?: boolean;
  testRepeats?: number;
  recordWeights?: boolean;
  recordAngle?: boolean;
  recordVoltages?: boolean;
  logEvery?: number;
  chunkSize?: number;
  seed?: number;
  /** Which images validate (the validation split or the folds); default: seed. */
  splitSeed?: number;
  device?: DeviceString;
  threads?: number;
  /** Checkpoint written after every epoch and when stopped; with resume, continued from. */
  checkpoint?: string;
  resume?: boolean;
  /**
   * With resume: continue a checkpoint written for other data (dataset, split, fold, size) all the
   * same; the differences are reported and recorded in the result. The model must be the same.
   */
  resumeOtherData?: boolean;
}

/** A spec with every setting and model option filled in: what a result records. */
export interface ResolvedSpec extends Omit<ExperimentSettings, 'device'> {
  model: ModelKind;
  options: Record<string, unknown>;
  device: DeviceString;
  dataDir?: string;
  checkpoint?: string;
  resume: boolean;
  resumeOtherData: boolean;
}

const TOP_LEVEL = new Set(['model', 'options', 'dataDir', 'checkpoint', 'resume', 'resumeOtherData', ...Object.keys(EXPERIMENT_SETTINGS)]);

/** Checks a spec and fills in every default: settings, then the model's options from its table. */
export function resolveSpec(spec: ExperimentSpec): ResolvedSpec {
  const where = 'experiment';
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw optionError(where, '', 'the spec must be an object', true);
  const { model, options, dataDir, checkpoint, resume, resumeOtherData, device, ...settings } = spec as ExperimentSpec & Record<string, unknown>;
  for (const k of Object.keys(spec)) {
    if (!TOP_LEVEL.has(k)) throw optionError(where, '', `unknown setting "${k}" (settings: ${[...TOP_LEVEL].join(', ')})`, true);
  }
  const entry = modelEntry(model);
  if (device !== undefined && (typeof device !== 'string' || !/^(auto|cpu|cuda(:\d+)?)$/.test(device))) {
    throw optionError(where, 'device', `must be auto, cpu, cuda or cuda:N, got ${JSON.stringify(device)}`);
  }
  // Accepted spellings of dataset names (fashion, cifar-10, ...) become the canonical name.
  if (typeof settings.dataset === 'string') settings.dataset = findSpec(settings.dataset)?.name ?? settings.dataset;
  const s = resolveOptions(where, EXPERIMENT_SETTINGS, settings);
  if (s.folds === 1) throw optionError(where, 'folds', 'must be 0 (no cross-validation) or at least 2');
  if (s.folds >= 2) {
    if (settings.validation !== undefined) throw optionError(where, 'validation', 'does not apply with folds (each fold is the validation set)');
    if (s.fold >= s.folds) throw optionError(where, 'fold', `must be below folds (${s.folds}), got ${s.fold}`);
  } else if (settings.fold !== undefined) {
    throw optionError(where, 'fold', 'applies only with folds >= 2');
  }
  if (s.validation >= 1 && !Number.isInteger(s.validation)) {
    throw optionError(where, 'validation', `must be a fraction below 1 or a whole count, got ${s.validation}`);
  }
  for (const [name, v] of [['dataDir', dataDir], ['checkpoint', checkpoint]] as const) {
    if (v !== undefined && (typeof v !== 'string' || v === '')) throw optionError(where, name, 'must be a non-empty string', true);
  }
  for (const extra of ['recordAngle', 'recordVoltages'] as const) {
    if (s[extra] && !(extra in (entry.extras ?? {}))) throw optionError(where, extra, `applies to the segregated network only, not to ${model}`);
  }
  if (resume !== undefined && typeof resume !== 'boolean') throw optionError(where, 'resume', 'must be true or false', true);
  if (resume && checkpoint === undefined) throw optionError(where, 'resume', 'needs a checkpoint file');
  if (resumeOtherData !== undefined && typeof resumeOtherData !== 'boolean') throw optionError(where, 'resumeOtherData', 'must be true or false', true);
  if (resumeOtherData && !resume) throw optionError(where, 'resumeOtherData', 'applies only with resume');
  const resolvedOptions = resolveOptions(model, entry.options, options ?? {});
  return {
    model, options: resolvedOptions, ...s, device: (device ?? s.device) as DeviceString,
    ...(dataDir !== undefined ? { dataDir } : {}), ...(checkpoint !== undefined ? { checkpoint } : {}), resume: resume === true,
    resumeOtherData: resumeOtherData === true,
  };
}

/** The JSON Schema of an experiment file: the settings, and each model's options under "options". */
export function experimentSchema(): Record<string, unknown> {
  const base = optionsSchema('dendrite-bench:schemas/experiment.schema.json', 'dendrite-bench experiment', EXPERIMENT_SETTINGS);
  const props = base.properties as Record<string, Record<string, unknown>>;
  props.device = { description: EXPERIMENT_SETTINGS.device.doc, type: 'string', pattern: '^(auto|cpu|cuda(:[0-9]+)?)$', default: 'auto' };
  props.model = { description: 'model kind', enum: [...MODEL_KINDS] };
  props.options = { description: 'the model\'s options (schemas/<model>.schema.json)', type: 'object' };
  props.dataDir = { description: 'where datasets are looked for', type: 'string' };
  props.checkpoint = { description: 'checkpoint file written after every epoch', type: 'string' };
  props.resume = { description: 'continue from the checkpoint when it exists', type: 'boolean' };
  props.resumeOtherData = { description: 'with resume: continue a checkpoint written for other data all the same (the model must be the same)', type: 'boolean' };
  return {
    ...base,
    required: ['model'],
    allOf: [...((base.allOf as unknown[] | undefined) ?? []), ...MODEL_KINDS.map((k) => ({
      if: { properties: { model: { const: k } } },
      then: { properties: { options: { $ref: `${k}.schema.json` } } },
    }))],
  };
}

/** The JSON Schema of one model's options. */
export function modelSchema(kind: ModelKind): Record<string, unknown> {
  const e = modelEntry(kind);
  return optionsSchema(`dendrite-bench:schemas/${kind}.schema.json`, `${kind}: ${e.title}`, e.options);
}
