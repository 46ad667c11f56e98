// `dendrite-bench run` (also the bare `dendrite-bench`): runs a preset (default: the four learning
// rules side by side on mnist-10k), prints a comparison table and writes a results folder. The
// folder holds the plan, each finished experiment and a checkpoint of the one in progress, so a
// run stopped by Ctrl-C, SIGTERM or a crash continues with `run --resume --out DIR`. A study
// preset runs its study through `study run` (src/cli/study.ts) with the preset's settings.
import fs from 'node:fs';
import path from 'node:path';

import { Command } from 'commander';

import { getSpec, locateDataset } from '../data/load';
import { runExperiment, runExperimentWithWeights, type ExperimentEvent, type ExperimentResult } from '../experiment/run';
import { isStudyPreset, listPresets, loadPreset, planRuns, type AnyPreset, type PlannedRun, type StudyPreset } from '../experiment/presets';
import { resolveSpec, type ExperimentSpec } from '../experiment/spec';
import { optionError } from '../models/options';
import { writeReport } from '../report/html';
import {
  CHECKPOINTS_DIR, makeResults, readResults, RESULTS_JSON, runFileName, weightsFileName, writeResults, writeWeightsFile,
  type LabelledResult, type Results, type ResultsPlan,
} from '../report/results';
import { writeStudyReport } from '../report/study';
import { studyConfig } from '../study/config';
import { openStorage } from '../study/storage-url';
import { AbortError, isAbortError } from '../train/model';
import { createProgress, type Progress } from './progress';
import { shellWord } from './shell';
import { withStopSignals } from './signals';
import { STUDIES_DIR, studyRun, type StudyRunFlags } from './study';

export interface RunFlags {
  preset?: string;
  quick?: boolean;
  dataset?: string;
  epochs?: string;
  device?: string;
  threads?: string;
  seed?: string;
  seeds?: string;
  dataDir?: string;
  out?: string;
  json?: boolean;
  quiet?: boolean;
  /** false with --no-report. */
  report?: boolean;
  /** false with --no-weights. */
  weights?: boolean;
  /** --only: the labels of the preset's experiments to run (comma-separated). */
  only?: string;
  /** --resume: continue the stopped run in --out. */
  resume?: boolean;
  /** Study presets: the budget, worker processes, the study's name and storage (as study run's flags). */
  trials?: string;
  workers?: string;
  study?: string;
  storage?: string;
}

/** What a command line runs: experiments, or a study preset's study with study run's flags. */
export type Plan =
  | { kind: 'experiments'; name: string; runs: PlannedRun[] }
  | { kind: 'study'; name: string; preset: StudyPreset; flags: StudyRunFlags };

/** Flags of `run` that only one kind of preset takes, by the attribute commander gives them. */
const EXPERIMENTS_ONLY: Array<[keyof RunFlags, string, (f: RunFlags) => boolean]> = [
  ['seeds', '--seeds', (f) => f.seeds !== undefined], ['only', '--only', (f) => f.only !== undefined], ['out', '--out', (f) => f.out !== undefined],
  ['resume', '--resume', (f) => f.resume === true],
  ['report', '--no-report', (f) => f.report === false], ['weights', '--no-weights', (f) => f.weights === false],
];
const STUDY_ONLY: Array<[keyof RunFlags, string]> = [['trials', '--trials'], ['workers', '--workers'], ['study', '--study'], ['storage', '--storage']];

function integer(flag: string, text: string, min: number): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(v) || v < min) throw optionError('run', flag, `must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return v;
}

/**
 * What a command line asks for, checked before anything runs: every spec of an experiment preset,
 * or the study of a study preset with the command line's settings on top.
 */
export function planFromFlags(f: RunFlags): Plan {
  if (f.quick && f.preset !== undefined) throw optionError('run', '--quick', 'and --preset exclude each other (--quick is the preset "quick")');
  if (f.seed !== undefined && f.seeds !== undefined) throw optionError('run', '--seed', 'and --seeds exclude each other');
  const preset = loadPreset(f.quick ? 'quick' : f.preset ?? 'default');
  if (isStudyPreset(preset)) return planStudy(preset, f);
  for (const [, flag] of STUDY_ONLY.filter(([k]) => f[k] !== undefined)) {
    throw optionError('run', flag, `applies to study presets only (${preset.name} is a preset of experiments; dendrite-bench presets marks the studies)`);
  }
  const overrides: Omit<ExperimentSpec, 'model' | 'options' | 'seed'> = {};
  if (f.dataset !== undefined) overrides.dataset = f.dataset;
  if (f.epochs !== undefined) overrides.epochs = integer('--epochs', f.epochs, 0);
  if (f.device !== undefined) overrides.device = f.device as ExperimentSpec['device'];
  if (f.threads !== undefined) overrides.threads = integer('--threads', f.threads, 1);
  if (f.dataDir !== undefined) overrides.dataDir = f.dataDir;
  const seeds = f.seeds !== undefined ? f.seeds.split(',').map((s) => integer('--seeds', s, 0))
    : f.seed !== undefined ? [integer('--seed', f.seed, 0)] : undefined;
  let runs = planRuns(preset, overrides, seeds);
  if (f.only !== undefined) {
    const labels = [...new Set(runs.map((r) => r.label))];
    const wanted = f.only.split(',').map((l) => l.trim());
    const unknown = wanted.filter((l) => !labels.includes(l));
    if (unknown.length > 0 || wanted.length === 0) {
      throw optionError('run', '--only', `${unknown.map((l) => `"${l}"`).join(', ') || 'nothing'} is not an experiment of ${preset.name} (its experiments: ${labels.join(', ')})`);
    }
    runs = runs.filter((r) => wanted.includes(r.label));
  }
  for (const r of runs) {
    try {
      resolveSpec(r.spec);
    } catch (err) {
      throw optionError('run', '', `${preset.name} / ${r.label}: ${(err as Error).message}`);
    }
  }
  return { kind: 'experiments', name: preset.name, runs };
}

/**
 * A study preset as `study run` flags: the preset's settings, the command line's --dataset,
 * --epochs (per fold), --seed and --trials over them, and its --workers, --device, --threads,
 * --data-dir, --study (default: the preset's name) and --storage. The preset's budget is that of a
 * new study: running the preset again resumes the study and keeps its budget unless --trials is given.
 */
function planStudy(preset: StudyPreset, f: RunFlags): Plan {
  for (const [, flag] of EXPERIMENTS_ONLY.filter(([, , given]) => given(f))) {
    throw optionError('run', flag, `does not apply to a study preset (${preset.name} runs one study: dendrite-bench study status --study ${f.study ?? preset.name} shows it)`);
  }
  const s = preset.study;
  const str = (v: number | undefined): string | undefined => (v === undefined ? undefined : String(v));
  const flags: StudyRunFlags = {
    model: s.model, dataset: f.dataset ?? s.dataset, space: s.space, strategy: s.strategy, folds: String(s.folds),
    epochs: f.epochs ?? String(s.epochs), seed: f.seed ?? str(s.seed), splitSeed: str(s.splitSeed), prune: s.prune === true,
    trials: f.trials, defaultTrials: String(s.trials), workers: f.workers, device: f.device, threads: f.threads, dataDir: f.dataDir,
    study: f.study ?? preset.name, storage: f.storage, json: f.json, quiet: f.quiet, preset: preset.name,
  };
  // The settings with the command line's on top, checked as study run would check them.
  const num = (flag: string, v: string | undefined, min: number): number | undefined => (v === undefined ? undefined : integer(flag, v, min));
  num('--workers', f.workers, 1);
  num('--threads', f.threads, 1);
  studyConfig({
    model: s.model, dataset: flags.dataset as string, space: s.space, strategy: s.strategy, folds: s.folds, prune: s.prune === true,
    trials: num('--trials', f.trials, 1) ?? s.trials, epochs: num('--epochs', f.epochs, 1) ?? s.epochs, seed: num('--seed', f.seed, 0) ?? s.seed,
    splitSeed: s.splitSeed,
  });
  return { kind: 'study', name: preset.name, preset, flags };
}

/** Runs a study preset's study (planFromFlags decides which kind a command line asks for). */
export async function runStudyPreset(f: RunFlags, io: { out: (s: string) => void; err: (s: string) => void; signal?: AbortSignal }): Promise<{
  interrupted: boolean; name: string; file: string;
}> {
  const plan = planFromFlags(f);
  if (plan.kind !== 'study') throw optionError('run', '--preset', `${plan.name} is a preset of experiments, not a study`);
  return studyRun(plan.flags, io);
}

/** Every dataset the runs need is present (else the DatasetError says how to get it), before any training. */
function checkDatasets(runs: PlannedRun[]): void {
  for (const r of runs) {
    const s = resolveSpec(r.spec);
    locateDataset(getSpec(s.dataset), s.dataDir !== undefined ? { dataDir: s.dataDir } : {});
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function sd(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

export interface SummaryRow {
  label: string;
  dataset: string;
  seeds: number;
  /**
   * Mean and sd over the seeds; with one seed whose test was repeated (testRepeats), over the
   * repeated tests instead (`over` says which, `n` how many).
   */
  testAccuracy: { mean: number; sd: number; over: 'seeds' | 'tests'; n: number } | null;
  trainSeconds: number;
  examplesPerSecond: number;
  device: string;
}

/** One row per experiment label: test accuracy mean and sd over seeds, mean training time and speed. */
export function summarise(runs: PlannedRun[], results: ExperimentResult[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const label of [...new Set(runs.map((r) => r.label))]) {
    const rs = results.filter((_, i) => runs[i].label === label);
    if (rs.length === 0) continue;
    const repeats = rs.length === 1 ? rs[0].testRepeats?.map((e) => e.accuracy) : undefined;
    const acc = repeats ?? rs.map((r) => r.test?.accuracy).filter((a): a is number => a !== undefined);
    rows.push({
      label,
      dataset: rs[0].dataset.name,
      seeds: rs.length,
      testAccuracy: acc.length ? { mean: mean(acc), sd: sd(acc), over: repeats ? 'tests' : 'seeds', n: acc.length } : null,
      trainSeconds: mean(rs.map((r) => r.timing.trainSeconds)),
      examplesPerSecond: mean(rs.map((r) => r.timing.examplesPerSecond)),
      device: [...new Set(rs.map((r) => r.environment.device.used))].join(','),
    });
  }
  return rows;
}

export function formatTable(rows: SummaryRow[]): string {
  const header = ['model', 'dataset', 'seeds', 'test accuracy', 'train time', 'examples/s', 'device'];
  const body = rows.map((r) => [
    r.label, r.dataset, String(r.seeds),
    r.testAccuracy ? `${(100 * r.testAccuracy.mean).toFixed(2)} ± ${(100 * r.testAccuracy.sd).toFixed(2)} %`
      + (r.testAccuracy.over === 'tests' ? ` (${r.testAccuracy.n} tests)` : '') : '-',
    `${r.trainSeconds.toFixed(1)} s`, String(Math.round(r.examplesPerSecond)), r.device,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  const line = (cells: string[]): string => cells.map((x, c) => (c >= 2 && c <= 5 ? x.padStart(widths[c]) : x.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function defaultOut(name: string): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.join('dendrite-results', `${name}-${t}`);
}

/** Writes the plan and what has finished so far (results.json and .csv): a killed run loses no finished experiment. */
async function saveResults(dir: string, plan: ResultsPlan, runs: PlannedRun[], results: LabelledResult[]): Promise<void> {
  const voltages = results.flatMap((r, i) => (r.recordings?.voltages ?? []).map((v) => ({ ...v, model: runs[i].label })));
  const angles = results.flatMap((r, i) => (r.recordings?.angles ?? []).map((a) => ({ ...a, model: runs[i].label })));
  const extras = { ...(voltages.length ? { voltages } : {}), ...(angles.length ? { angles } : {}) };
  await writeResults(dir, makeResults(results.map((r, i) => ({ ...r, label: runs[i].label })), { preset: plan.preset, plan, extras }));
}

/** Settings that say where or how a run goes, not what it trains: a resume may change them (another machine, another GPU). */
const RUN_ONLY = new Set(['device', 'threads', 'dataDir']);

/** The plan results.json records: each run's resolved spec, less the checkpoint settings the run sets itself. */
function recordedPlan(preset: string, runs: PlannedRun[]): ResultsPlan {
  return {
    preset,
    runs: runs.map((r) => {
      const { checkpoint: _c, resume: _r, resumeOtherData: _o, ...spec } = resolveSpec(r.spec);
      return { label: r.label, seed: r.seed, spec };
    }),
  };
}

/** JSON with the keys of every object sorted: two values are the same when these are. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : x));
}

function shown(v: unknown): string {
  return v === undefined ? 'unset' : Array.isArray(v) ? v.join(',') : typeof v === 'string' ? v : JSON.stringify(v);
}

/** How the plan `now` differs from the stopped run's `was`, in words (empty when it is the same). */
export function planDifferences(was: ResultsPlan, now: ResultsPlan): string[] {
  const out: string[] = [];
  if (was.preset !== now.preset) out.push(`the preset is ${now.preset}, the stopped run's ${was.preset}`);
  const names = (p: ResultsPlan): string => p.runs.map((r) => `${r.label} seed ${r.seed}`).join(', ');
  if (names(was) !== names(now)) return [...out, `the experiments are ${names(now)}; the stopped run's: ${names(was)}`];
  const perRun = now.runs.map((r, i) => {
    const flat = (spec: Record<string, unknown>): Record<string, unknown> => {
      const { options, ...settings } = spec;
      return { ...settings, ...Object.fromEntries(Object.entries((options ?? {}) as Record<string, unknown>).map(([k, v]) => [`options.${k}`, v])) };
    };
    const a = flat(was.runs[i].spec);
    const b = flat(r.spec);
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !RUN_ONLY.has(k) && canonical(a[k]) !== canonical(b[k]))
      .map((k) => `${k} ${shown(b[k])} (the stopped run: ${shown(a[k])})`).join(', ');
  });
  // A flag such as --epochs changes every experiment alike: said once.
  if (perRun.length > 1 && perRun[0] !== '' && perRun.every((d) => d === perRun[0])) return [...out, `every experiment has ${perRun[0]}`];
  perRun.forEach((d, i) => {
    if (d !== '') out.push(`${now.runs[i].label} seed ${now.runs[i].seed} has ${d}`);
  });
  return out;
}

/**
 * The finished experiments of the stopped run in `dir`, after checking that its plan is `plan`:
 * anything else is a usage error that says what differs.
 */
function stoppedRun(dir: string, plan: ResultsPlan): LabelledResult[] {
  const file = path.join(dir, RESULTS_JSON);
  if (!fs.existsSync(file)) throw optionError('run', '--resume', `needs the results folder of a stopped run: ${file} does not exist (without --resume, run starts afresh)`);
  let previous: Results;
  try {
    previous = readResults(file);
  } catch (err) {
    throw optionError('run', '--resume', `cannot continue ${(err as Error).message}`);
  }
  if (previous.plan === undefined) {
    throw optionError('run', '--resume', `cannot continue ${file}: it records no plan (it was not written by dendrite-bench run, or by a version before run --resume)`);
  }
  const differences = planDifferences(previous.plan, plan);
  if (differences.length > 0) {
    throw optionError('run', '--resume', `needs the stopped run's plan, and this one differs from the plan in ${file}: ${differences.join('; ')}. ` +
      'Resume with the flags of the stopped run (its stop message printed the command; --device, --threads and --data-dir may change), or start afresh with another --out');
  }
  previous.runs.forEach((r, i) => {
    const p = plan.runs[i];
    if (p === undefined || r.label !== p.label || r.spec.seed !== p.seed) {
      throw optionError('run', '--resume', `cannot continue ${file}: runs[${i}] (${r.label ?? 'no label'} seed ${r.spec.seed}) is not experiment ${i + 1} of its plan`);
    }
  });
  return previous.runs;
}

/** The command that continues a run stopped with these flags: the same flags, with --resume --out DIR. */
export function resumeCommand(f: RunFlags, dir: string): string {
  const words = ['dendrite-bench', 'run'];
  const add = (flag: string, value: string | undefined): void => {
    if (value !== undefined) words.push(flag, shellWord(value));
  };
  if (f.quick) words.push('--quick');
  add('--preset', f.preset);
  add('--only', f.only);
  add('--dataset', f.dataset);
  add('--epochs', f.epochs);
  add('--device', f.device);
  add('--threads', f.threads);
  add('--seed', f.seed);
  add('--seeds', f.seeds);
  add('--data-dir', f.dataDir);
  if (f.report === false) words.push('--no-report');
  if (f.weights === false) words.push('--no-weights');
  if (f.json) words.push('--json');
  if (f.quiet) words.push('--quiet');
  words.push('--resume', '--out', shellWord(dir));
  return words.join(' ');
}

/**
 * A result as results.json keeps it. Its checkpoint is the run's scratch file, deleted once the
 * result is saved, so the result names none (`resumed` still says where a resumed run went on).
 */
function withoutCheckpoint(r: ExperimentResult): ExperimentResult {
  const { checkpoint: _c, ...spec } = r.spec;
  return { ...r, spec: { ...spec, resume: false }, checkpoint: null };
}

export async function runPreset(f: RunFlags, io: { out: (s: string) => void; err: (s: string) => void; signal?: AbortSignal }): Promise<{
  dir: string; rows: SummaryRow[]; results: ExperimentResult[];
}> {
  const planned = planFromFlags(f);
  if (planned.kind !== 'experiments') throw optionError('run', '--preset', `${planned.name} is a study preset: runStudyPreset runs it`);
  const { name, runs } = planned;
  if (f.resume && f.out === undefined) throw optionError('run', '--resume', 'needs --out DIR, the results folder of the stopped run');
  const dir = f.out ?? defaultOut(name);
  const plan = recordedPlan(name, runs);
  if (!f.resume && fs.existsSync(path.join(dir, RESULTS_JSON))) {
    throw optionError('run', '--out', `${dir} holds the results of an earlier run (${RESULTS_JSON}): --resume continues it, another --out starts afresh`);
  }
  const results: LabelledResult[] = f.resume ? stoppedRun(dir, plan) : [];
  checkDatasets(runs.slice(results.length));
  try {
    fs.mkdirSync(path.join(dir, CHECKPOINTS_DIR), { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw optionError('run', '--out', `cannot be written: ${(err as Error).message}`);
  }
  // Each run's files, named in plan order, so that a resumed run names them as the stopped one did.
  const taken = new Set<string>();
  const files = runs.map((r) => {
    const weights = weightsFileName(r.label, r.seed, taken);
    const checkpoint = runFileName(CHECKPOINTS_DIR, r.label, r.seed, taken);
    taken.add(weights).add(checkpoint);
    return { weights, checkpoint: path.join(dir, ...checkpoint.split('/')) };
  });
  // A run killed after saving a result and before deleting its checkpoint left it behind.
  for (const file of files.slice(0, results.length)) fs.rmSync(file.checkpoint, { force: true });
  // The plan first: a run stopped in its first experiment resumes too.
  if (!f.resume) await saveResults(dir, plan, runs, results);
  const progress: Progress | undefined = f.json || f.quiet ? undefined : createProgress(process.stderr);
  if (f.resume) {
    if (f.json) io.out(JSON.stringify({ type: 'resuming', out: dir, finished: results.length, of: runs.length }));
    else progress?.log(`resuming ${dir}: ${results.length} of ${runs.length} experiments finished`);
  }
  let current = results.length;
  try {
    for (; current < runs.length; current++) {
      const i = current;
      const run = runs[i];
      const spec: ExperimentSpec = { ...run.spec, checkpoint: files[i].checkpoint, resume: f.resume === true };
      const tag = { run: i + 1, of: runs.length, label: run.label, seed: run.seed };
      const bar = progress?.start(`${run.label} seed ${run.seed}`, resolveSpec(run.spec).epochs);
      const onEvent = (e: ExperimentEvent): void => {
        if (f.json) {
          if (e.type !== 'done' && e.type !== 'progress') io.out(JSON.stringify({ ...tag, ...e }));
          return;
        }
        bar?.update(e);
        if (e.type === 'device' && !f.quiet) progress?.log(`${run.label}: device ${e.used}${e.reason ? ` (${e.requested}: ${e.reason})` : ''}`);
      };
      const options = { onEvent, ...(io.signal ? { signal: io.signal } : {}) };
      let r: LabelledResult;
      if (f.weights === false) {
        r = withoutCheckpoint(await runExperiment(spec, options));
      } else {
        // The weights file first: results.json never lists a file that is not there.
        const { result, weights } = await runExperimentWithWeights(spec, options);
        r = { ...withoutCheckpoint(result), weights: await writeWeightsFile(dir, files[i].weights, weights) };
      }
      bar?.finish(r.test ? `test ${(100 * r.test.accuracy).toFixed(2)} %` : 'done');
      results.push(r);
      await saveResults(dir, plan, runs, results);
      // Only once its result is saved: until then a resume continues from it.
      await fs.promises.rm(files[i].checkpoint, { force: true });
    }
  } catch (err) {
    if (!isAbortError(err)) throw err;
    const run = runs[current];
    const command = resumeCommand(f, dir);
    if (f.json) io.out(JSON.stringify({ type: 'resume', command }));
    const checkpoint = fs.existsSync(files[current].checkpoint) ? files[current].checkpoint : null;
    const stopped = new AbortError(`${err.message}, in ${run.label} seed ${run.seed} (experiment ${current + 1} of ${runs.length}); ` +
      `${results.length === 0 ? 'no experiment had finished'
        : `${results.length === 1 ? 'the finished experiment is' : `the ${results.length} finished experiments are`} kept in ${path.join(dir, RESULTS_JSON)}`}` +
      `${checkpoint ? ` and the checkpoint ${checkpoint} is kept` : ''}: run the same command with --resume --out ${shellWord(dir)} to continue: ${command}`,
    { cause: err });
    stopped.checkpoint = checkpoint;
    throw stopped;
  } finally {
    progress?.stop();
  }
  // Gone when every checkpoint is (a file someone else put there stays, and so does the folder).
  try {
    fs.rmdirSync(path.join(dir, CHECKPOINTS_DIR));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const rows = summarise(runs, results);
  const report = f.report === false ? undefined : await writeReport(dir, { png: true, ...(f.dataDir !== undefined ? { dataDir: f.dataDir } : {}) });
  if (f.json) io.out(JSON.stringify({ type: 'summary', preset: name, out: dir, rows, ...(report ? { report: report.report } : {}) }));
  else {
    io.out(formatTable(rows));
    io.out(`results: ${path.join(dir, 'results.json')}${report ? `\nreport: ${report.report}` : ''}`);
    const weighed = results.filter((r) => r.weights !== undefined).length;
    if (weighed > 0) io.out(`weights: ${weighed} files in ${path.join(dir, 'weights')}`);
    for (const note of report?.notes ?? []) io.err(`note: ${note}`);
  }
  return { dir, rows, results };
}

/** Options every command of the study/run family shares. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--preset <name|file>', 'a preset by name (dendrite-bench presets) or a preset file (default: default)')
    .option('--quick', 'the quick preset: every model for one epoch (under 30 s on 2 cores)')
    .option('--only <labels>', 'run only these experiments of the preset (their labels, comma-separated), e.g. to share a preset among processes or machines')
    .option('--dataset <name>', 'dataset for every experiment (default: the preset\'s)')
    .option('--epochs <n>', 'epochs for every experiment (default: the preset\'s)')
    .option('--device <d>', 'auto (default: CUDA when usable and faster for the model, else the CPU, saying why), cpu, cuda or cuda:N')
    .option('--threads <n>', 'CPU threads')
    .option('--seed <s>', 'one seed for every experiment')
    .option('--seeds <list>', 'several seeds, e.g. 1,2,3: test accuracy is reported as mean ± sd')
    .option('--data-dir <dir>', 'where datasets are looked for')
    .option('--out <dir>', 'results folder (default dendrite-results/<preset>-<time>); one that holds results is refused, except with --resume')
    .option('--resume', 'continue the run stopped in --out DIR (Ctrl-C, SIGTERM, a crash), given the same flags: its finished experiments are kept, ' +
      'the interrupted one continues from its checkpoint, the rest run')
    .option('--no-report', 'write results.json and results.csv only (no report.html and figures)')
    .option('--no-weights', 'do not write each run\'s final weights (weights/<label>-seed<seed>.safetensors), e.g. for big sweeps')
    .option('--trials <n>', 'study presets: the total number of trials (default: the preset\'s, for a new study)')
    .option('--workers <n>', 'study presets: trials at once, each in its own process (default 1)')
    .option('--study <name>', 'study presets: the study\'s name (default: the preset\'s; running it again resumes it)')
    .option('--storage <file|url>', `study presets: the study's SQLite file or postgresql:// URL (default ${STUDIES_DIR}/<name>/study.sqlite)`)
    .option('--json', 'NDJSON events on stdout and a final summary object')
    .option('--quiet', 'no progress output');
}

/** A preset as `dendrite-bench presets` lists it: a study preset's name is marked "(study)". */
export function describePreset(p: AnyPreset): string {
  if (isStudyPreset(p)) {
    const s = p.study;
    return `${p.name} (study)\n  ${p.title}\n  study: ${s.model} on ${s.dataset}, ${s.trials} trials x ${s.folds} folds x ${s.epochs} epochs, ` +
      `space ${s.space}, strategy ${s.strategy}\n  expected: ${p.expected.cpu} (CPU); ${p.expected.gpu} (GPU)`;
  }
  return `${p.name}\n  ${p.title}\n  ${p.experiments.length} experiments x ${p.seeds.length} seed(s); ` +
    `expected: ${p.expected.cpu} (CPU), ${p.expected.gpu} (GPU)`;
}

export function registerRunCommands(program: Command): void {
  addRunOptions(program.command('run', { isDefault: true }))
    .description('train and compare the learning rules of a preset (default: segregated, mlp, cnn, fa on mnist-10k), or run a study preset\'s study')
    .allowExcessArguments(false)
    .addHelpText('after', `
A study preset (dendrite-bench presets marks them) runs as dendrite-bench study run with its settings;
--dataset, --epochs (per fold), --seed, --trials, --workers, --device, --threads and --data-dir override them.

Examples:
  dendrite-bench                                  # the default comparison on the embedded mnist-10k
  dendrite-bench --device cuda --seeds 1,2,3 --no-weights  # on a GPU, three seeds each, no weights files
  dendrite-bench run --preset guerguiev2017-fig6b --only 784-500-10 --out fig6b  # one network of the paper's Fig. 6B run (needs: dendrite-bench data fetch mnist); after Ctrl-C add --resume
  dendrite-bench run --preset lange2019-bo-mlp-mnist --workers 2  # Lange's MLP study on MNIST, 50 trials (needs: dendrite-bench data fetch mnist)`)
    .action(async (opts: RunFlags) => {
      const io = { out: (s: string) => console.log(s), err: (s: string) => console.error(s) };
      if (planFromFlags(opts).kind === 'study') {
        const r = await withStopSignals((signal) => runStudyPreset(opts, { ...io, signal }),
          () => 'stopped during the final run; run the preset again to retrain and test the best configuration');
        if (r?.interrupted) process.exitCode = 130;
        return;
      }
      await withStopSignals((signal) => runPreset(opts, { ...io, signal }), (err) => err.message);
    });

  program
    .command('report')
    .argument('[folder]', 'a results folder (results.json) written by dendrite-bench run; with --study, where to write the study\'s report')
    .description('rebuild report.html and the figures of a results folder, or make the report of a study (--study)')
    .option('--study <names>', 'the report of these studies (comma-separated): best value so far, value distribution, parallel coordinates')
    .option('--storage <spec>', `with --study: the studies' storage, a SQLite file or postgresql:// URL (default ${STUDIES_DIR}/<name>/study.sqlite)`)
    .option('--no-png', 'SVG figures only (PNGs need chromium)')
    .option('--data-dir <dir>', 'where datasets are looked for (the sample grid)')
    .option('--json', 'print what was written as one JSON object')
    .option('--quiet', 'print nothing but notes and errors')
    .addHelpText('after', `
Examples:
  dendrite-bench report dendrite-results/default-20261202-140000
  dendrite-bench report --study mlp-mnist-10k-default
  dendrite-bench report study-report --study mlp-fashion --storage postgresql://dendrite:secret@db:5432/studies`)
    .action(async (folder: string | undefined, opts: { study?: string; storage?: string; png: boolean; dataDir?: string; json?: boolean; quiet?: boolean }) => {
      const say = (doc: Record<string, unknown>, text: string): void => {
        if (opts.json) console.log(JSON.stringify(doc));
        else if (!opts.quiet) console.log(text);
      };
      if (opts.study !== undefined) {
        const names = opts.study.split(',').map((x) => x.trim()).filter((x) => x !== '');
        const storage = await openStorage(opts.storage ?? path.join(STUDIES_DIR, names[0], 'study.sqlite'), { mustExist: true });
        try {
          const out = folder ?? path.join('dendrite-results', `study-${names.join('+')}`);
          const r = await writeStudyReport(storage, names, out, { png: opts.png });
          say(r, `report: ${r.report} (${r.trials} trials)`);
        } finally {
          await storage.close();
        }
        return;
      }
      if (folder === undefined) throw optionError('report', '', 'needs a results folder, or --study NAME');
      if (opts.storage !== undefined) throw optionError('report', '--storage', 'applies with --study only');
      const r = await writeReport(folder, { png: opts.png, ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}) });
      say(r, `report: ${r.report}\nfigures: ${r.figures.length} SVG${r.pngs.length ? `, ${r.pngs.length} PNG` : ''}`);
      for (const note of r.notes) console.error(`note: ${note}`);
    });

  program
    .command('presets')
    .description('list the presets: the published experiments and studies by name, with their expected run time')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  dendrite-bench presets
  dendrite-bench presets --json`)
    .action((opts: { json?: boolean }) => {
      const presets = listPresets();
      if (opts.json) {
        console.log(JSON.stringify(presets));
        return;
      }
      for (const p of presets) console.log(describePreset(p));
    });
}
