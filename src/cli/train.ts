// `dendrite-bench train`: parse the command line (and an experiment file), build an
// ExperimentSpec, run it with runExperiment, print. Every model option has a flag, made from the
// model's option table (src/models/*-options.ts); an option that does not apply to the chosen
// model is an error that names it and lists the ones that do.
import fs from 'node:fs';
import path from 'node:path';

import { Command, Option } from 'commander';

import { MODEL_KINDS, MODELS, modelEntry, type ModelKind } from '../experiment/registry';
import { runExperiment, runExperimentWithWeights, type ExperimentEvent, type ExperimentResult, type RunOptions } from '../experiment/run';
import { EXPERIMENT_SETTINGS, resolveSpec, type ExperimentSpec } from '../experiment/spec';
import { flagName, nearestName, optionError, parseFlagValue, type OptionSpec } from '../models/options';
import { saveWeights, writeFileAtomic } from '../train/checkpoint';
import { createProgress, type Progress } from './progress';
import { withStopSignals } from './signals';

/** Settings that are not experiment-table entries but command-line only or file paths. */
const EXTRA_FLAGS: Record<string, { flag: string; doc: string; boolean?: boolean }> = {
  model: { flag: '--model <kind>', doc: `model: ${MODEL_KINDS.join(', ')} (default mlp)` },
  dataDir: { flag: '--data-dir <dir>', doc: 'where datasets are looked for' },
  checkpoint: { flag: '--checkpoint <file>', doc: 'checkpoint written after every epoch (and on Ctrl-C)' },
  resume: { flag: '--resume', doc: 'continue from --checkpoint when it exists', boolean: true },
  resumeOtherData: { flag: '--resume-other-data', boolean: true,
    doc: 'with --resume: continue a checkpoint written for other data (dataset, split, fold or seed of the split) all the same; ' +
      'the differences are printed and recorded in the result (the model must be the same)' },
  out: { flag: '--out <file>', doc: 'write the result JSON here' },
  save: { flag: '--save <file>', doc: 'write the final weights here (safetensors, the checkpoint format without loop state)' },
  json: { flag: '--json', doc: 'print NDJSON events and a final result object', boolean: true },
  quiet: { flag: '--quiet', doc: 'print the result only: no line per epoch (warnings still; --json prints every event all the same)', boolean: true },
  seeds: { flag: '--seeds <list>', doc: 'not for train, which trains one model with one seed (--seed): dendrite-bench run --seeds runs each experiment of a preset once per seed' },
  config: { flag: '--config <file>', doc: 'experiment file (JSON: { "model", "options": {...}, settings }); flags override it' },
};

/** Every model option name -> the models that have it and its spec (the first model's). */
function modelOptionIndex(): Map<string, { spec: OptionSpec; kinds: ModelKind[] }> {
  const index = new Map<string, { spec: OptionSpec; kinds: ModelKind[] }>();
  for (const kind of MODEL_KINDS) {
    for (const [name, spec] of Object.entries(MODELS[kind].options as Record<string, OptionSpec>)) {
      const e = index.get(name);
      if (e) e.kinds.push(kind);
      else index.set(name, { spec, kinds: [kind] });
    }
  }
  return index;
}

function valueHint(spec: OptionSpec): string {
  switch (spec.type) {
    case 'boolean': return '[bool]';
    case 'choice': return `<${spec.choices.join('|')}>`;
    case 'numberList':
    case 'integerList': return '<list>';
    default: return '<n>';
  }
}

function defaultText(spec: OptionSpec): string {
  if (spec.default === undefined) return '';
  if (typeof spec.default === 'function') return ' (default: computed)';
  return ` (default ${Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)})`;
}

/** The default of an option per model, grouped: " (default 5)" or " (default: segregated 1; mlp, cnn 100)". */
function sharedDefaults(name: string, kinds: readonly ModelKind[]): string {
  const groups = new Map<string, ModelKind[]>();
  for (const k of kinds) {
    const text = defaultText((MODELS[k].options as Record<string, OptionSpec>)[name]);
    groups.set(text, [...(groups.get(text) ?? []), k]);
  }
  if (groups.size === 1) return [...groups.keys()][0];
  return ` (default: ${[...groups].map(([text, ks]) => `${ks.join(', ')} ${text.replace(/^ \(default:? |\)$/g, '')}`).join('; ')})`;
}

interface Parsed {
  spec: ExperimentSpec;
  out?: string;
  /** Where the final weights go (--save). */
  save?: string;
  json: boolean;
  /** --quiet: the result without the line per epoch. */
  quiet: boolean;
}

/** Reads an experiment file: JSON, an object. */
function readExperimentFile(file: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw optionError('train', '', `cannot read --config ${file}: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw optionError('train', '', `--config ${file} must hold a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * Builds the spec: the experiment file (if any), then the command line. `given` holds commander's
 * values keyed by option name (only those the user gave).
 */
export function buildSpec(given: Record<string, unknown>): Parsed {
  // Several seeds are several models, results and weights files: run's job, not train's.
  if (given.seeds !== undefined) {
    throw optionError('train', '--seeds', 'is not one of train, which trains one model with one seed (--seed N); dendrite-bench run --seeds 1,2,3 ' +
      'runs each experiment of a preset once per seed (a preset file, a copy of one in presets/ given to --preset, can hold this experiment)');
  }
  const file = typeof given.config === 'string' ? readExperimentFile(given.config) : {};
  const fileOptions = file.options;
  if (fileOptions !== undefined && (typeof fileOptions !== 'object' || fileOptions === null || Array.isArray(fileOptions))) {
    throw optionError('train', 'options', `in --config ${String(given.config)} must be an object`);
  }
  const modelName = (given.model ?? file.model ?? 'mlp') as string;
  if (!MODEL_KINDS.includes(modelName as ModelKind)) {
    const near = nearestName(String(modelName), MODEL_KINDS);
    throw optionError('train', 'model', `must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(modelName)}${near ? ` (did you mean ${near}?)` : ''}`);
  }
  const kind = modelName as ModelKind;
  const entry = modelEntry(kind);
  const index = modelOptionIndex();
  const spec: Record<string, unknown> = { ...file, model: kind, options: { ...(fileOptions as Record<string, unknown> | undefined) } };
  const options = spec.options as Record<string, unknown>;
  for (const [name, raw] of Object.entries(given)) {
    if (raw === undefined || name === 'config' || name === 'json' || name === 'quiet' || name === 'out' || name === 'save' || name === 'model') continue;
    if (name in EXTRA_FLAGS) {
      spec[name] = raw;
    } else if (name in EXPERIMENT_SETTINGS) {
      const s = (EXPERIMENT_SETTINGS as Record<string, OptionSpec>)[name];
      spec[name] = name === 'device' ? raw : parseFlagValue('train', name, s, raw as string | boolean);
    } else {
      const e = index.get(name);
      if (!e) throw optionError('train', name, 'is not an option of any model');
      if (!e.kinds.includes(kind)) {
        const own = Object.keys(entry.options).map(flagName).join(', ');
        throw optionError('train', flagName(name), `does not apply to --model ${kind} (it is an option of ${e.kinds.join(', ')}); ` +
          `the ${kind} options are ${own}`);
      }
      options[name] = parseFlagValue('train', flagName(name), (entry.options as Record<string, OptionSpec>)[name], raw as string | boolean);
    }
  }
  const out = (given.out ?? file.out) as string | undefined;
  const save = (given.save ?? file.save) as string | undefined;
  delete spec.out;
  delete spec.save;
  return {
    spec: spec as unknown as ExperimentSpec, ...(out !== undefined ? { out } : {}), ...(save !== undefined ? { save } : {}),
    json: given.json === true, quiet: given.quiet === true,
  };
}

function pct(x: number | undefined | null): string {
  return x === undefined || x === null || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(2)}%`;
}

function fmt(x: number | undefined | null, digits = 4): string {
  return x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(digits);
}

/** One text line per epoch, the device, the test score; undefined for events not shown as text. */
export function describeEvent(e: ExperimentEvent, epochs: number): string | undefined {
  switch (e.type) {
    case 'device':
      return `device: ${e.used}${e.reason ? ` (${e.requested}: ${e.reason})` : ''}`;
    case 'resumeOtherData':
      return `warning: resuming ${e.checkpoint}, written for other data: ` +
        e.differences.map((d) => `${d.what} ${d.checkpoint} (this run: ${d.run})`).join('; ');
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
    default:
      return undefined;
  }
}

/** Refuses output paths that cannot be written, before any training (a result lost at the end costs the run). */
function checkOutputPaths(out: string | undefined, checkpoint: string | undefined, save: string | undefined): void {
  const files = [['--out', out], ['--checkpoint', checkpoint], ['--save', save]] as const;
  for (const [i, [flag, file]] of files.entries()) {
    const same = files.slice(i + 1).find(([, other]) => file !== undefined && other !== undefined && path.resolve(file) === path.resolve(other));
    if (same) throw optionError('train', flag, `is the same file as ${same[0]}: one would overwrite the other`);
  }
  for (const [flag, file] of files) {
    if (file === undefined) continue;
    const dir = path.dirname(path.resolve(file));
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (err) {
      throw optionError('train', flag, `cannot be written: ${(err as Error).message}`);
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw optionError('train', flag, `${file} is a directory`);
  }
}

export interface TrainIo {
  out: (line: string) => void;
  signal?: AbortSignal;
  /** A live bar (the command gives one when stderr is a terminal); the lines still go to `out`. */
  progress?: Progress;
}

/** Runs a parsed command; resolves to the result (aborted runs reject with an AbortError). */
export async function runTrain(p: Parsed, io: TrainIo): Promise<ExperimentResult> {
  const resolved = resolveSpec(p.spec);  // every error before any data is loaded
  checkOutputPaths(p.out, resolved.checkpoint, p.save);
  const bar = p.json || p.quiet ? undefined : io.progress?.start(resolved.model, resolved.epochs);
  const options: RunOptions = {
    ...(io.signal ? { signal: io.signal } : {}),
    onEvent: (e) => {
      if (p.json) {
        if (e.type !== 'done' && e.type !== 'progress') io.out(JSON.stringify(e));
      } else {
        bar?.update(e);
        if (p.quiet && e.type !== 'test' && e.type !== 'resumeOtherData') return;
        const line = describeEvent(e, resolved.epochs);
        if (line !== undefined) io.out(line);
      }
    },
  };
  let result: ExperimentResult & { weights?: { path: string; sha256: string; bytes: number } };
  try {
    if (p.save === undefined) {
      result = await runExperiment(p.spec, options);
    } else {
      const r = await runExperimentWithWeights(p.spec, options);
      result = { ...r.result, weights: { path: p.save, ...(await saveWeights(p.save, r.weights)) } };
    }
    bar?.finish(result.test ? `test ${pct(result.test.accuracy)}` : 'done');
  } finally {
    io.progress?.stop();
  }
  if (p.out !== undefined) writeFileAtomic(p.out, `${JSON.stringify(result, null, 2)}\n`);
  if (p.json) {
    io.out(JSON.stringify({ type: 'result', ...result }));
  } else {
    const t = result.timing;
    io.out(`trained ${t.trainExamples} examples in ${t.trainSeconds.toFixed(1)} s (${Math.round(t.examplesPerSecond)} ex/s), ` +
      `scoring ${t.evalSeconds.toFixed(1)} s, total ${t.wallSeconds.toFixed(1)} s`);
    if (p.out !== undefined) io.out(`result written to ${p.out}`);
    if (result.weights) io.out(`weights written to ${p.save} (${result.weights.bytes} bytes, sha256 ${result.weights.sha256.slice(0, 16)}…)`);
  }
  return result;
}

export function registerTrainCommand(program: Command): void {
  const cmd = program
    .command('train')
    .description('train one model on one dataset (default: mlp on the embedded mnist-10k)')
    .allowExcessArguments(false)
    .addHelpText('after', `
Examples:
  dendrite-bench train --model segregated --epochs 1
  dendrite-bench train --model segregated --mode nonspiking --learning-rates 0.2,0.2 --device cuda
  dendrite-bench train --model cnn --channels 16,32 --kernels 5 --padding 2 --lr 0.001 --save cnn.safetensors
  dendrite-bench train --config experiment.json --checkpoint run.ckpt --resume --out result.json

Model options (each applies to the models in brackets; see schemas/<model>.schema.json):`);
  // Flag text -> option name, for options whose commander attribute differs from the option name.
  const attribute = new Map<string, string>();
  const add = (name: string, flags: string, doc: string): void => {
    const o = new Option(flags, doc);
    attribute.set(o.attributeName(), name);
    cmd.addOption(o);
  };
  for (const [name, x] of Object.entries(EXTRA_FLAGS)) add(name, x.flag, x.doc);
  for (const [name, spec] of Object.entries(EXPERIMENT_SETTINGS as Record<string, OptionSpec>)) {
    const hint = name === 'device' ? '<auto|cpu|cuda|cuda:N>' : valueHint(spec);
    add(name, `${flagName(name)} ${hint}`, `${spec.doc}${defaultText(spec)}`);
    if (spec.type === 'boolean') add(name, `--no-${flagName(name).slice(2)}`, `${name} false`);
  }
  for (const [name, e] of modelOptionIndex()) {
    add(name, `${flagName(name)} ${valueHint(e.spec)}`, `[${e.kinds.join(', ')}] ${e.spec.doc}${sharedDefaults(name, e.kinds)}`);
  }
  cmd.action(async (opts: Record<string, unknown>) => {
    const given: Record<string, unknown> = {};
    for (const [attr, v] of Object.entries(opts)) if (v !== undefined) given[attribute.get(attr) ?? attr] = v;
    const parsed = buildSpec(given);
    // A live bar on a terminal; elsewhere (logs, pipes) the epoch lines are the progress.
    const progress = !parsed.json && process.stderr.isTTY ? createProgress(process.stderr) : undefined;
    const out = progress ? progress.print : (line: string) => console.log(line);
    await withStopSignals((signal) => runTrain(parsed, { out, signal, ...(progress ? { progress } : {}) }), (err) => {
      const checkpoint = (err as { checkpoint?: string | null }).checkpoint;
      return checkpoint
        ? `${err.message}; the checkpoint ${checkpoint} is kept: run the same command with --resume to continue`
        : `${err.message} (no --checkpoint: nothing to resume from)`;
    });
  });
}
