// `dendrite-bench train`: trains one model on one dataset with the shared loop (src/train/loop.ts)
// and prints a line per epoch, or NDJSON events and a final result object with --json.
import fs from 'node:fs';

import { Command } from 'commander';

import type { DeviceString, OptimizerOptions } from '../native';
import { createCnn } from '../models/cnn';
import { createMlp } from '../models/mlp';
import { SegregatedTrainable } from '../models/segregated-trainable';
import type { SegregatedOptions } from '../models/segregated';
import { loadTrainingData } from '../train/data';
import { train, type TrainEvent, type TrainResult } from '../train/loop';
import type { TrainableModel } from '../train/model';

export const MODELS = ['segregated', 'mlp', 'cnn', 'fa', 'dfa'] as const;
export type ModelName = (typeof MODELS)[number];

/** Every setting of a training run (the --config file uses these keys). */
export interface TrainConfig {
  model: ModelName;
  dataset: string;
  epochs: number;
  /** MLP/FA/DFA/segregated: hidden widths then the output size. */
  layers: number[];
  /** CNN: output channels and kernel size of each block, one stride and padding. */
  channels: number[];
  kernels: number[];
  stride: number;
  padding: number;
  /** online: one example per update; batched: batchSize examples (default: online for segregated, else batched). */
  mode?: 'online' | 'batched';
  batchSize: number;
  optimizer: 'adam' | 'sgd';
  lr: number;
  momentum: number;
  weightDecay: number;
  device: DeviceString;
  threads?: number;
  seed: number;
  /** Validation images taken from the training set: a count, or a fraction when < 1. */
  validation: number;
  logEvery: number;
  checkpoint?: string;
  resume: boolean;
  out?: string;
  dataDir?: string;
  /** Further options of the segregated-dendrite network (src/models/segregated.ts SegregatedOptions), --config only. */
  segregated?: Partial<SegregatedOptions>;
}

export const DEFAULTS: TrainConfig = {
  model: 'mlp',
  dataset: 'mnist-10k',
  epochs: 5,
  layers: [500, 10],
  channels: [16, 32],
  kernels: [5],
  stride: 1,
  padding: 2,
  batchSize: 100,
  optimizer: 'adam',
  lr: 1e-3,
  momentum: 0,
  weightDecay: 0,
  device: 'cpu',
  seed: 0,
  validation: 0.1,
  logEvery: 0,
  resume: false,
};

const KEYS = Object.keys(DEFAULTS).concat(['mode', 'threads', 'checkpoint', 'out', 'dataDir', 'segregated']);

function fail(message: string): never {
  throw new RangeError(`train: ${message}`);
}

function intList(name: string, v: unknown): number[] {
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number) : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => Number.isInteger(x) && x >= 1 && x <= 2 ** 31 - 1)) {
    fail(`${name} must be a comma-separated list of positive integers, got ${JSON.stringify(v)}`);
  }
  return list as number[];
}

function num(name: string, v: unknown, min: number, max: number, integer: boolean): number {
  const x = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max || (integer && !Number.isInteger(x))) {
    fail(`${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return x;
}

function str<T extends string>(name: string, v: unknown, allowed?: readonly T[]): T {
  if (typeof v !== 'string' || v === '' || (allowed && !allowed.includes(v as T))) {
    fail(`${name} must be ${allowed ? allowed.join(', ') : 'a non-empty string'}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(`${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Merges defaults < config file < command line and checks every value. */
export function resolveTrainConfig(cli: Record<string, unknown>, file?: Record<string, unknown>): TrainConfig {
  const given: Record<string, unknown> = {};
  for (const [source, obj] of [['--config file', file ?? {}], ['command line', cli]] as const) {
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined || k === 'config' || k === 'json') continue;
      if (!KEYS.includes(k)) fail(`unknown setting "${k}" in the ${source} (known: ${KEYS.join(', ')})`);
      given[k] = v;
    }
  }
  const g = { ...DEFAULTS, ...given } as Record<string, unknown>;
  const c: TrainConfig = {
    model: str('model', g.model, MODELS),
    dataset: str('dataset', g.dataset),
    epochs: num('epochs', g.epochs, 0, 1e6, true),
    layers: intList('layers', g.layers),
    channels: intList('channels', g.channels),
    kernels: intList('kernels', g.kernels),
    stride: num('stride', g.stride, 1, 2 ** 31 - 1, true),
    padding: num('padding', g.padding, 0, 2 ** 31 - 1, true),
    batchSize: num('batch size', g.batchSize, 1, 2 ** 31 - 1, true),
    optimizer: str('optimizer', g.optimizer, ['adam', 'sgd'] as const),
    lr: num('lr', g.lr, Number.MIN_VALUE, 1e6, false),
    momentum: num('momentum', g.momentum, 0, 1, false),
    weightDecay: num('weight decay', g.weightDecay, 0, 1e6, false),
    device: str('device', g.device) as DeviceString,
    seed: num('seed', g.seed, 0, Number.MAX_SAFE_INTEGER, true),
    validation: num('validation', g.validation, 0, 2 ** 31 - 1, false),
    logEvery: num('log every', g.logEvery, 0, Number.MAX_SAFE_INTEGER, true),
    resume: bool('resume', g.resume),
  };
  if (g.mode !== undefined) c.mode = str('mode', g.mode, ['online', 'batched'] as const);
  if (g.segregated !== undefined) {
    if (typeof g.segregated !== 'object' || g.segregated === null || Array.isArray(g.segregated)) {
      fail('segregated must be an object of segregated-network options');
    }
    if (c.model !== 'segregated') fail('the segregated settings apply to --model segregated only');
    c.segregated = g.segregated as Partial<SegregatedOptions>;
  }
  if (g.threads !== undefined) c.threads = num('threads', g.threads, 1, 1024, true);
  if (g.checkpoint !== undefined) c.checkpoint = str('checkpoint', g.checkpoint);
  if (g.out !== undefined) c.out = str('out', g.out);
  if (g.dataDir !== undefined) c.dataDir = str('dataDir', g.dataDir);
  if (c.validation >= 1 && !Number.isInteger(c.validation)) fail(`validation must be a fraction < 1 or a whole count, got ${c.validation}`);
  if (c.resume && !c.checkpoint) fail('--resume needs --checkpoint FILE');
  if (c.optimizer === 'adam' && c.momentum !== 0) fail('--momentum applies to --optimizer sgd only');
  if (c.model !== 'cnn' && c.layers.length < 1) fail('--layers needs at least the output size');
  return c;
}

/** Builds the model a configuration names, for data of the given shape. */
export function createModel(c: TrainConfig, input: { channels: number; height: number; width: number }, classes: number): TrainableModel {
  const optimizer: OptimizerOptions = c.optimizer === 'adam'
    ? { type: 'adam', lr: c.lr, weightDecay: c.weightDecay }
    : { type: 'sgd', lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay };
  const mode = c.mode ?? (c.model === 'segregated' ? 'online' : 'batched');
  const batchSize = mode === 'online' ? 1 : c.batchSize;
  const common = { input, classes, optimizer, batchSize, seed: c.seed, device: c.device, threads: c.threads };
  switch (c.model) {
    case 'mlp':
    case 'fa':
    case 'dfa': {
      const out = c.layers[c.layers.length - 1];
      if (out !== classes) fail(`--layers ${c.layers.join(',')} ends with ${out} outputs, the dataset has ${classes} classes`);
      return createMlp({ ...common, hidden: c.layers.slice(0, -1), feedback: c.model === 'mlp' ? 'backprop' : c.model });
    }
    case 'cnn': {
      const kernels = c.kernels.length === 1 ? c.channels.map(() => c.kernels[0]) : c.kernels;
      if (kernels.length !== c.channels.length) {
        fail(`--kernels gives ${c.kernels.length} sizes for ${c.channels.length} blocks (--channels ${c.channels.join(',')})`);
      }
      return createCnn({ ...common, channels: c.channels, kernels, stride: c.stride, padding: c.padding });
    }
    case 'segregated': {
      const out = c.layers[c.layers.length - 1];
      if (out % classes !== 0) fail(`--layers ${c.layers.join(',')} ends with ${out} outputs, not a multiple of the ${classes} classes`);
      if (c.device !== 'cpu' && c.device !== 'auto') fail(`the segregated network runs on the CPU only (--device ${c.device})`);
      return new SegregatedTrainable({
        layers: c.layers, nIn: input.channels * input.height * input.width, seed: c.seed, device: c.device,
        ...(c.threads !== undefined ? { threads: c.threads } : {}), ...c.segregated, batchSize,
      });
    }
  }
}

function pct(x: number | undefined): string {
  return x === undefined || x === null || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(2)}%`;
}

function fmt(x: number | undefined, digits = 4): string {
  return x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(digits);
}

/** One text line per epoch (and the test score); NDJSON in json mode. */
export function describeEvent(e: TrainEvent, epochs: number): string | undefined {
  switch (e.type) {
    case 'start':
      return `${String(e.model.kind)}: ${e.data.train} training, ${e.data.validation} validation, ${e.data.test} test examples` +
        (e.resumed ? `; resuming at epoch ${e.resumed.epoch + 1}, example ${e.resumed.position}` : '');
    case 'epoch': {
      let line = `epoch ${e.epoch}/${epochs}  train loss ${fmt(e.trainLoss)} acc ${pct(e.trainAccuracy)}  ` +
        `val loss ${fmt(e.validationLoss)} acc ${pct(e.validationAccuracy)}  ${e.trainSeconds.toFixed(1)} s  ${Math.round(e.examplesPerSecond)} ex/s`;
      const al = (e.metrics?.alignment ?? []) as { layer: number; angleDeg: number; normRatio: number }[];
      if (al.length > 0) line += `  angle ${al.map((a) => `L${a.layer} ${a.angleDeg.toFixed(1)}deg (|W|/|B| ${a.normRatio.toFixed(2)})`).join(', ')}`;
      return line;
    }
    case 'test':
      return `test loss ${fmt(e.loss)} acc ${pct(e.accuracy)} (${e.count} examples)`;
    case 'stopped':
      return `stopped in epoch ${e.epoch} at example ${e.position}`;
    case 'checkpoint':
      return undefined;
    default:
      return undefined;
  }
}

export interface TrainIo {
  out: (line: string) => void;
  signal?: AbortSignal;
}

export async function runTrain(c: TrainConfig, json: boolean, io: TrainIo): Promise<TrainResult> {
  const data = await loadTrainingData(c.dataset, { validation: c.validation, seed: c.seed, dataDir: c.dataDir });
  const model = createModel(c, data.shape, data.classes);
  try {
    const result = await train(model, data.splits, {
      epochs: c.epochs,
      seed: c.seed,
      logEvery: c.logEvery,
      checkpoint: c.checkpoint,
      resume: c.resume,
      signal: io.signal,
      resultFile: c.out,
      info: { dataset: data.name, command: 'train', config: c },
      onEvent: (e) => {
        if (json) {
          if (e.type !== 'done') io.out(JSON.stringify(e));
        } else {
          const line = describeEvent(e, c.epochs);
          if (line !== undefined) io.out(line);
        }
      },
    });
    if (json) {
      io.out(JSON.stringify({ type: 'result', ...result }));
    } else {
      const t = result.timing;
      io.out(`trained ${t.trainExamples} examples in ${t.trainSeconds.toFixed(1)} s (${Math.round(t.examplesPerSecond)} ex/s), ` +
        `scoring ${t.evalSeconds.toFixed(1)} s, total ${t.wallSeconds.toFixed(1)} s`);
      if (c.out) io.out(`result written to ${c.out}`);
    }
    return result;
  } finally {
    model.dispose?.();
  }
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train a model (segregated, mlp, cnn, fa, dfa) on a dataset (default mnist-10k)')
    .option('--model <name>', `model: ${MODELS.join(', ')} (default ${DEFAULTS.model})`)
    .option('--dataset <name>', `dataset (default ${DEFAULTS.dataset})`)
    .option('--epochs <n>', `epochs (default ${DEFAULTS.epochs})`)
    .option('--layers <list>', `mlp/fa/dfa/segregated: hidden widths then outputs (default ${DEFAULTS.layers.join(',')})`)
    .option('--channels <list>', `cnn: output channels of each block (default ${DEFAULTS.channels.join(',')})`)
    .option('--kernels <list>', `cnn: kernel size of each block, or one for all (default ${DEFAULTS.kernels.join(',')})`)
    .option('--stride <n>', `cnn: convolution stride (default ${DEFAULTS.stride})`)
    .option('--padding <n>', `cnn: convolution zero padding (default ${DEFAULTS.padding})`)
    .option('--mode <mode>', 'online (one example per update; default for segregated) or batched (default for the others)')
    .option('--batch-size <n>', `examples per update in batched mode (default ${DEFAULTS.batchSize})`)
    .option('--optimizer <name>', 'adam (default) or sgd')
    .option('--lr <x>', `learning rate (default ${DEFAULTS.lr})`)
    .option('--momentum <x>', 'sgd momentum (default 0)')
    .option('--weight-decay <x>', 'L2 weight decay (default 0)')
    .option('--device <d>', 'cpu (default), cuda, cuda:N or auto')
    .option('--threads <n>', 'CPU threads')
    .option('--seed <s>', 'seed of the initial weights, the validation split and the epoch orders (default 0)')
    .option('--validation <n>', `validation images taken from the training set: a count or a fraction (default ${DEFAULTS.validation}; 0: none)`)
    .option('--log-every <n>', 'learning-curve point every N training examples (default: once per epoch)')
    .option('--checkpoint <file>', 'checkpoint file written after every epoch (and on Ctrl-C)')
    .option('--resume', 'continue from --checkpoint when it exists')
    .option('--out <file>', 'write the result JSON here')
    .option('--data-dir <dir>', 'where datasets are looked for')
    .option('--json', 'print NDJSON events and a final result object')
    .option('--config <file>', 'JSON file of settings (the long option names in camelCase, plus "segregated": {...} ' +
      'for the segregated network\'s own options); options given here override it')
    .action(async (opts: Record<string, unknown>) => {
      let file: Record<string, unknown> | undefined;
      if (typeof opts.config === 'string') {
        try {
          file = JSON.parse(fs.readFileSync(opts.config, 'utf8')) as Record<string, unknown>;
        } catch (err) {
          throw new Error(`train: cannot read --config ${opts.config}: ${(err as Error).message}`);
        }
        if (typeof file !== 'object' || file === null || Array.isArray(file)) throw new Error(`train: --config ${opts.config} must hold a JSON object`);
      }
      const c = resolveTrainConfig(opts, file);
      // Ctrl-C stops at the next chunk (writing a checkpoint); a second one exits at once.
      const controller = new AbortController();
      const onSigint = (): void => {
        if (controller.signal.aborted) process.exit(130);
        controller.abort();
      };
      process.on('SIGINT', onSigint);
      try {
        await runTrain(c, opts.json === true, { out: (line) => console.log(line), signal: controller.signal });
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
