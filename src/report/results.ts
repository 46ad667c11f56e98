// A results folder: results.json (every experiment result, versioned, plus the recordings the
// figures need that an ExperimentResult does not carry), results.csv (one row per run and epoch,
// for spreadsheets) and weights/<label>-seed<seed>.safetensors (each run's final weights, listed
// in its run entry with sha256 and size); while `dendrite-bench run` is under way, also
// checkpoints/<label>-seed<seed>.safetensors (the experiment in progress; deleted once its result
// is saved) and the plan in results.json, so that a stopped run resumes. All are written atomically; the reader checks the
// format and names the file and the field on any error. Reports (src/report/html.ts) are built
// from the folder.
import fs from 'node:fs';
import path from 'node:path';

import { EXPERIMENT_RESULT_FORMAT, type ExperimentResult } from '../experiment/run';
import { saveWeights, type CheckpointData } from '../train/checkpoint';
import { writeFileAtomicAsync } from '../train/safetensors';
import type { AnglePoint, TrialRecord, VoltageTrace } from './figures';

export const RESULTS_FORMAT = 'dendrite-bench/results@1';
export const RESULTS_JSON = 'results.json';
export const RESULTS_CSV = 'results.csv';
export const WEIGHTS_DIR = 'weights';
export const CHECKPOINTS_DIR = 'checkpoints';

/** Recordings beside the runs: each feeds one figure of the report (src/report/figures.ts). */
export interface ResultsExtras {
  /** Per-step somatic, basal and apical potentials of a few units (Fig 3C style). */
  voltages?: VoltageTrace[];
  /** Angle between the local and the backprop updates over training (Fig 7 style). */
  angles?: AnglePoint[];
  /** Trials of hyperparameter studies. */
  trials?: TrialRecord[];
}

/** A run's final weights in the folder: a safetensors checkpoint without loop state (loadTrainedModel reads it). */
export interface WeightsFile {
  /** Relative to the results folder, "/"-separated: weights/<label>-seed<seed>.safetensors. */
  path: string;
  /** sha256 of the file's bytes, hex. */
  sha256: string;
  bytes: number;
}

/**
 * An experiment's result, optionally named by whoever ran it (e.g. a preset's "segregated
 * 784-500-10"), with its weights file when one was written.
 */
export type LabelledResult = ExperimentResult & { label?: string; weights?: WeightsFile };

/**
 * What `dendrite-bench run` set out to run, in order: `runs` holds the first of them, once each has
 * finished. `run --resume` checks that its own plan is this one before it continues.
 */
export interface ResultsPlan {
  preset: string;
  /** Each experiment's resolved spec (without checkpoint and resume, which the run sets itself). */
  runs: Array<{ label: string; seed: number; spec: Record<string, unknown> }>;
}

export interface Results {
  format: typeof RESULTS_FORMAT;
  /** ISO time the folder was written. */
  createdAt: string;
  /** The preset the runs came from (dendrite-bench run), when any. */
  preset?: string;
  /** dendrite-bench run: every experiment of the run, finished or not. */
  plan?: ResultsPlan;
  runs: LabelledResult[];
  extras?: ResultsExtras;
}

/** A malformed results folder: the message starts with the file. */
export class ResultsError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ResultsError';
  }
}

export function makeResults(runs: LabelledResult[], opts: { extras?: ResultsExtras; preset?: string; plan?: ResultsPlan; createdAt?: Date } = {}): Results {
  const { extras, preset, plan } = opts;
  return {
    format: RESULTS_FORMAT, createdAt: (opts.createdAt ?? new Date()).toISOString(), ...(preset !== undefined ? { preset } : {}),
    ...(plan !== undefined ? { plan } : {}), runs,
    ...(extras && Object.keys(extras).length ? { extras } : {}),
  };
}

// ---- runs grouped into configurations -------------------------------------------------------

/** Runs that differ only in seed (and where or how fast they ran): one line of the results table. */
export interface RunGroup {
  /**
   * Unique name within its dataset: the runs' own label when they have one, else built from the
   * configuration, e.g. "segregated 784-500-10 spiking", "mlp 784-64-10".
   */
  label: string;
  model: string;
  dataset: string;
  runs: LabelledResult[];
}

/**
 * Settings that change where or how a run is executed, or only add measurements, not what it
 * trains: ignored when grouping.
 */
const NOT_CONFIGURATION = new Set(['seed', 'splitSeed', 'device', 'threads', 'dataDir', 'checkpoint', 'resume', 'resumeOtherData', 'chunkSize', 'testEachEpoch', 'testRepeats', 'recordWeights',
  'recordAngle']);

function configurationKey(r: LabelledResult): string {
  const rest = Object.fromEntries(Object.entries(r.spec).filter(([k]) => !NOT_CONFIGURATION.has(k)).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify([r.label ?? null, rest]);
}

/** "784-500-10": the input size then the layer widths, or the CNN's channels. */
export function architecture(r: ExperimentResult): string {
  const o = r.spec.options;
  const s = r.dataset.shape;
  const nIn = s.channels * s.height * s.width;
  if (Array.isArray(o.layers)) return [nIn, ...(o.layers as number[])].join('-');
  if (Array.isArray(o.channels)) return `${s.channels}x${s.height}x${s.width} conv ${(o.channels as number[]).join('-')}`;
  return '';
}

function baseLabel(r: LabelledResult): string {
  if (r.label !== undefined) return r.label;
  const parts = [r.spec.model, architecture(r)];
  if (r.spec.model === 'segregated' && typeof r.spec.options.mode === 'string') parts.push(r.spec.options.mode);
  return parts.filter((p) => p !== '').join(' ');
}

/** Groups runs by configuration (first appearance order) and names each group uniquely per dataset. */
export function groupRuns(runs: readonly LabelledResult[]): RunGroup[] {
  const byKey = new Map<string, RunGroup>();
  for (const r of runs) {
    const key = configurationKey(r);
    let g = byKey.get(key);
    if (!g) byKey.set(key, (g = { label: baseLabel(r), model: r.spec.model, dataset: r.dataset.name, runs: [] }));
    g.runs.push(r);
  }
  const groups = [...byKey.values()];
  // Same name, same dataset: add the options (then the settings) that tell them apart.
  const clashes = new Map<string, RunGroup[]>();
  for (const g of groups) clashes.set(`${g.dataset}\0${g.label}`, [...(clashes.get(`${g.dataset}\0${g.label}`) ?? []), g]);
  for (const same of clashes.values()) {
    if (same.length < 2) continue;
    const flat = same.map((g) => {
      const { options, ...settings } = g.runs[0].spec;
      return { ...Object.fromEntries(Object.entries(options).map(([k, v]) => [k, v])), ...Object.fromEntries(Object.entries(settings)
        .filter(([k]) => !NOT_CONFIGURATION.has(k) && k !== 'model' && k !== 'dataset')) } as Record<string, unknown>;
    });
    const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))]
      .filter((k) => new Set(flat.map((f) => JSON.stringify(f[k]))).size > 1);
    same.forEach((g, i) => {
      const diff = keys.map((k) => `${k}=${flat[i][k] === undefined ? '-' : Array.isArray(flat[i][k]) ? (flat[i][k] as unknown[]).join(',') : String(flat[i][k])}`);
      g.label = `${g.label} ${diff.join(' ')}`;
    });
  }
  return groups;
}

/** The label of each run's group, in run order. */
export function runLabels(runs: readonly ExperimentResult[]): Map<ExperimentResult, string> {
  const m = new Map<ExperimentResult, string>();
  for (const g of groupRuns(runs)) for (const r of g.runs) m.set(r, g.label);
  return m;
}

// ---- CSV ------------------------------------------------------------------------------------

export const CSV_COLUMNS = [
  'model', 'label', 'dataset', 'seed', 'epoch', 'examples', 'train_loss', 'train_accuracy', 'validation_loss',
  'validation_accuracy', 'test_loss', 'test_accuracy', 'seconds', 'examples_per_second', 'device',
] as const;

function csvField(v: unknown): string {
  if (v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per run and epoch; the final test score is on each run's last epoch row, per-epoch ones (testEachEpoch) on the others. */
export function resultsCsv(results: Results): string {
  const labels = runLabels(results.runs);
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of results.runs) {
    r.epochs.forEach((e, i) => {
      const last = i === r.epochs.length - 1;
      const row: Record<(typeof CSV_COLUMNS)[number], unknown> = {
        model: r.spec.model, label: labels.get(r), dataset: r.dataset.name, seed: r.spec.seed, epoch: e.epoch, examples: e.examples,
        train_loss: e.trainLoss, train_accuracy: e.trainAccuracy, validation_loss: e.validationLoss,
        validation_accuracy: e.validationAccuracy, test_loss: last ? r.test?.loss : e.testLoss,
        test_accuracy: last ? r.test?.accuracy : e.testAccuracy, seconds: e.trainSeconds, examples_per_second: e.examplesPerSecond,
        device: r.environment.device.used,
      };
      lines.push(CSV_COLUMNS.map((c) => csvField(row[c])).join(','));
    });
  }
  return `${lines.join('\n')}\n`;
}

// ---- writing and reading --------------------------------------------------------------------

/** Writes results.json and results.csv into `folder` (created), each atomically. */
export async function writeResults(folder: string, results: Results): Promise<{ json: string; csv: string }> {
  const json = path.join(folder, RESULTS_JSON);
  const csv = path.join(folder, RESULTS_CSV);
  // Checked before writing, so a folder never holds a file its reader refuses.
  validateResults(JSON.parse(JSON.stringify(results)), json);
  await writeFileAtomicAsync(json, `${JSON.stringify(results, null, 2)}\n`);
  await writeFileAtomicAsync(csv, resultsCsv(results));
  return { json, csv };
}

/** weights/<label>-seed<seed>.safetensors, the label made file-name safe; `-2`, `-3`, ... when the name is in `taken`. */
export function weightsFileName(label: string, seed: number, taken: ReadonlySet<string> = new Set()): string {
  return runFileName(WEIGHTS_DIR, label, seed, taken);
}

/** <dir>/<label>-seed<seed>.safetensors, named as weightsFileName names weights files (checkpoints/...). */
export function runFileName(dir: string, label: string, seed: number, taken: ReadonlySet<string> = new Set()): string {
  const safe = label.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '') || 'model';
  const base = `${dir}/${safe}-seed${seed}`;
  let name = `${base}.safetensors`;
  for (let k = 2; taken.has(name); k++) name = `${base}-${k}.safetensors`;
  return name;
}

/**
 * Writes a run's weights (runExperimentWithWeights) to `name` inside `folder`, atomically, through
 * the one checkpoint writer; the entry for results.json has the hash and size of the bytes on disk.
 */
export async function writeWeightsFile(folder: string, name: string, weights: CheckpointData): Promise<WeightsFile> {
  const file = path.join(folder, ...name.split('/'));
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  return { path: name, ...(await saveWeights(file, weights)) };
}

/** Reads and checks results.json of a folder (or the file itself). */
export function readResults(folderOrFile: string): Results {
  const file = fs.existsSync(folderOrFile) && fs.statSync(folderOrFile).isDirectory() ? path.join(folderOrFile, RESULTS_JSON) : folderOrFile;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ResultsError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ResultsError(file, `is not JSON (${(err as Error).message})`);
  }
  return validateResults(data, file);
}

type Check = (v: unknown) => boolean;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
// JSON writes NaN as null: a metric with no value.
const numOrNull: Check = (v) => v === null || num(v);
const str: Check = (v) => typeof v === 'string';
const int: Check = (v) => Number.isSafeInteger(v);

function need(file: string, where: string, obj: Record<string, unknown>, fields: Record<string, [Check, string, boolean?]>): void {
  for (const [k, [check, what, optional]] of Object.entries(fields)) {
    if (obj[k] === undefined && optional) continue;
    if (!check(obj[k])) throw new ResultsError(file, `${where}.${k} must be ${what}, got ${JSON.stringify(obj[k]) ?? 'nothing'}`);
  }
}

function needArray(file: string, where: string, v: unknown, each: (item: Record<string, unknown>, at: string) => void): void {
  if (!Array.isArray(v)) throw new ResultsError(file, `${where} must be an array`);
  v.forEach((item, i) => {
    if (!isObject(item)) throw new ResultsError(file, `${where}[${i}] must be an object`);
    each(item, `${where}[${i}]`);
  });
}

/** Checks the shape of parsed results (format, runs and extras); throws a ResultsError naming the file and field. */
export function validateResults(data: unknown, file: string): Results {
  if (!isObject(data)) throw new ResultsError(file, 'must hold a JSON object');
  if (data.format !== RESULTS_FORMAT) {
    throw new ResultsError(file, `is not a dendrite-bench results file (format ${JSON.stringify(data.format) ?? 'missing'}, expected "${RESULTS_FORMAT}")`);
  }
  need(file, '', data, { createdAt: [str, 'an ISO time string'] });
  if (data.plan !== undefined) {
    if (!isObject(data.plan)) throw new ResultsError(file, 'plan must be an object');
    need(file, 'plan', data.plan, { preset: [str, 'a string'] });
    needArray(file, 'plan.runs', data.plan.runs, (r, at) => need(file, at, r, {
      label: [str, 'a string'], seed: [int, 'an integer'], spec: [isObject, 'an object'] }));
  }
  needArray(file, 'runs', data.runs, (r, at) => {
    if (r.format !== EXPERIMENT_RESULT_FORMAT) {
      throw new ResultsError(file, `${at}.format must be "${EXPERIMENT_RESULT_FORMAT}", got ${JSON.stringify(r.format) ?? 'nothing'}`);
    }
    for (const k of ['spec', 'environment', 'dataset', 'timing']) {
      if (!isObject(r[k])) throw new ResultsError(file, `${at}.${k} must be an object`);
    }
    const spec = r.spec as Record<string, unknown>;
    need(file, `${at}.spec`, spec, { model: [str, 'a model kind'], seed: [int, 'an integer'], options: [isObject, 'an object'] });
    const ds = r.dataset as Record<string, unknown>;
    need(file, `${at}.dataset`, ds, { name: [str, 'a dataset name'], sha256: [str, 'a hex digest'], shape: [isObject, 'an object'] });
    need(file, `${at}.environment`, r.environment as Record<string, unknown>, { device: [isObject, 'an object'] });
    needArray(file, `${at}.epochs`, r.epochs, (e, w) => need(file, w, e, {
      epoch: [int, 'an integer'], examples: [int, 'an integer'], trainLoss: [numOrNull, 'a number'], trainAccuracy: [numOrNull, 'a number'],
      validationLoss: [numOrNull, 'a number', true], validationAccuracy: [numOrNull, 'a number', true],
      testLoss: [numOrNull, 'a number', true], testAccuracy: [numOrNull, 'a number', true],
      trainSeconds: [num, 'a number'], examplesPerSecond: [numOrNull, 'a number'],
    }));
    needArray(file, `${at}.curve`, r.curve, (p, w) => {
      need(file, w, p, {
        epoch: [int, 'an integer'], examples: [int, 'an integer'], trainLoss: [numOrNull, 'a number'], trainAccuracy: [numOrNull, 'a number'],
        validationLoss: [numOrNull, 'a number', true], validationAccuracy: [numOrNull, 'a number', true],
      });
      if (p.weights !== undefined) {
        needArray(file, `${w}.weights`, p.weights, (x, v) => need(file, v, x, {
          name: [str, 'a string'], norm: [num, 'a number'], relChange: [numOrNull, 'a number or null'], relUpdateChange: [numOrNull, 'a number or null'] }));
      }
    });
    if (r.weights !== undefined) {
      if (!isObject(r.weights)) throw new ResultsError(file, `${at}.weights must be an object`);
      need(file, `${at}.weights`, r.weights, {
        path: [(p) => typeof p === 'string' && /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(p) && !p.split('/').some((x) => x === '..' || x === '.'),
          'a relative path inside the folder'],
        sha256: [(h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h), '64 hex digits'],
        bytes: [int, 'an integer'],
      });
    }
    if (r.test !== null) {
      if (!isObject(r.test)) throw new ResultsError(file, `${at}.test must be an object or null`);
      need(file, `${at}.test`, r.test, { accuracy: [num, 'a number'], loss: [numOrNull, 'a number'], count: [int, 'an integer'] });
    }
  });
  if (data.extras !== undefined) {
    if (!isObject(data.extras)) throw new ResultsError(file, 'extras must be an object');
    const x = data.extras;
    const known = new Set(['voltages', 'angles', 'trials']);
    for (const k of Object.keys(x)) if (!known.has(k)) throw new ResultsError(file, `extras.${k} is not known (known: ${[...known].join(', ')})`);
    if (x.voltages !== undefined) {
      needArray(file, 'extras.voltages', x.voltages, (v, w) => {
        need(file, w, v, { model: [str, 'a string'], example: [int, 'an integer'], layer: [int, 'an integer'], unit: [int, 'an integer'],
          output: [(u) => typeof u === 'boolean', 'a boolean'], dt: [num, 'a number'], targetStart: [int, 'an integer'],
          somatic: [(a) => Array.isArray(a) && a.every(num), 'an array of numbers'],
          basal: [(a) => Array.isArray(a) && a.every(num), 'an array of numbers'],
          apical: [(a) => Array.isArray(a) && a.every(num), 'an array of numbers', true],
          plateaus: [(a) => Array.isArray(a) && a.length === 2 && a.every(int), 'two integers', true] });
        const n = (v.somatic as number[]).length;
        for (const k of ['basal', 'apical'] as const) {
          if (v[k] !== undefined && (v[k] as number[]).length !== n) throw new ResultsError(file, `${w}.${k} has ${(v[k] as number[]).length} steps, somatic ${n}`);
        }
      });
    }
    if (x.angles !== undefined) {
      needArray(file, 'extras.angles', x.angles, (a, w) => need(file, w, a,
        { model: [str, 'a string'], layer: [int, 'an integer'], examples: [num, 'a number'], angle: [num, 'a number'] }));
    }
    if (x.trials !== undefined) {
      needArray(file, 'extras.trials', x.trials, (a, w) => need(file, w, a, {
        study: [str, 'a string'], model: [str, 'a string'], dataset: [str, 'a string'], trial: [int, 'an integer'],
        value: [numOrNull, 'a number or null'], params: [isObject, 'an object'] }));
    }
  }
  return data as unknown as Results;
}
