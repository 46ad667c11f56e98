// `dendrite-bench study run|status|best|export|import|copy`: hyperparameter studies on a SQLite
// file or a PostgreSQL database shared by several machines (src/study, docs/bo.md "Studies",
// docs/distributed.md). Running a study that exists resumes it. Exit codes as every command: 2
// for usage errors (option errors), 130 after Ctrl-C or SIGTERM.
import fs from 'node:fs';
import path from 'node:path';

import { Command } from 'commander';

import { Space } from '../bo/space';
import { getSpec, locateDataset } from '../data/load';
import { MODEL_KINDS, type ModelKind } from '../experiment/registry';
import { optionError } from '../models/options';
import type { DeviceString } from '../native';
import { writeFileAtomic } from '../train/checkpoint';
import { studyConfig } from '../study/config';
import { copyStudy } from '../study/copy';
import { exportCsv, exportJson, exportLange, parseLange, parseStudyCsv, parseStudyJson } from '../study/export';
import { modelStudy, splitSeedOf, validationLabel } from '../study/objective';
import { checkStudyReportFolder, writeStudyReport } from '../report/study';
import { redact } from '../study/postgres';
import { bestTrial } from '../study/rules';
import { configDifferences, runStudy, type StudyEvent } from '../study/run';
import { countsTowardBudget, finishedCount, isStudyError, type StudyStorage } from '../study/storage';
import { openStorage, storageKind } from '../study/storage-url';
import { isModelObjective, type ModelStudyConfig, type StudyConfig, type StudyRecord, type StudyTrial } from '../study/types';
import { shellWord } from './shell';
import { createStudyProgress, duration } from './progress';
import { withStopSignals } from './signals';

export const STUDIES_DIR = 'dendrite-studies';
const STORAGE_HELP = 'SQLite file, or postgresql://user:password@host:port/database[?schema=NAME] shared by workers on many machines ' +
  '(default dendrite-studies/<name>/study.sqlite)';

interface CommonFlags {
  study?: string;
  storage?: string;
  json?: boolean;
}

export interface StudyRunFlags extends CommonFlags {
  model?: string;
  dataset?: string;
  trials?: string;
  space?: string;
  strategy?: string;
  folds?: string;
  holdout?: string;
  epochs?: string;
  workers?: string;
  device?: string;
  threads?: string;
  prune?: boolean;
  seed?: string;
  splitSeed?: string;
  dataDir?: string;
  resume?: boolean;
  final?: boolean;
  /** --out: where the study's report goes once it is done. */
  out?: string;
  /** No progress: no trial lines or bars, only the study's result. */
  quiet?: boolean;
  /**
   * The budget of a study created here when --trials is not given (a study preset's): a study
   * that exists keeps its budget unless --trials changes it.
   */
  defaultTrials?: string;
  /** The study preset the settings come from (dendrite-bench run --preset), for messages. */
  preset?: string;
}

function integer(flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(v) || v < min) throw optionError('study', flag, `must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return v;
}

function storageFile(f: CommonFlags, name: string | undefined): string {
  if (f.storage !== undefined) return f.storage;
  if (name === undefined) throw optionError('study', '--study', 'or --storage is needed to find the study');
  return path.join(STUDIES_DIR, name, 'study.sqlite');
}

/** The storage `spec` names (src/study/storage-url.ts); a value that names none is a usage error of `flag`. */
async function open(spec: string, flag: string, mustExist: boolean): Promise<StudyStorage> {
  try {
    storageKind(spec);
    return await openStorage(spec, { mustExist });
  } catch (err) {
    if (isStudyError(err, 'ERR_STUDY_NOT_FOUND') || (isStudyError(err, 'ERR_STUDY_STORAGE') && /^unsupported storage|^not a PostgreSQL URL|names no database|schema must be/.test(err.message))) {
      throw optionError('study', flag, `: ${err.message}`);
    }
    throw err;
  }
}

function openExisting(f: CommonFlags): Promise<StudyStorage> {
  return open(storageFile(f, f.study), f.storage ? '--storage' : '--study', true);
}

async function studyName(storage: StudyStorage, f: CommonFlags): Promise<string> {
  if (f.study !== undefined) return f.study;
  const names = await storage.listStudies();
  if (names.length === 1) return names[0];
  throw optionError('study', '--study', `is needed: ${storage.location} holds ${names.length ? names.join(', ') : 'no studies'}`);
}

async function loadRecord(storage: StudyStorage, name: string): Promise<StudyRecord> {
  const r = await storage.loadStudy(name);
  if (!r) throw optionError('study', '--study', `: no study "${name}" in ${storage.location} (it holds ${(await storage.listStudies()).join(', ') || 'none'})`);
  return r;
}

function parseDevices(text: string | undefined): DeviceString[] {
  if (text === undefined) return ['cpu'];
  const list = text.split(',').map((s) => s.trim());
  for (const d of list) {
    if (!/^(auto|cpu|cuda(:[0-9]+)?)$/.test(d)) throw optionError('study', '--device', `must be cpu, cuda, cuda:N or a comma-separated list of them, got ${JSON.stringify(d)}`);
  }
  return list as DeviceString[];
}

/** The configuration the flags ask for (a new study), checked. */
function configFromFlags(f: StudyRunFlags, model: ModelKind): ModelStudyConfig {
  return studyConfig({
    model, trials: integer('--trials', f.trials, 1), folds: integer('--folds', f.folds, 2), epochs: integer('--epochs', f.epochs, 1),
    seed: integer('--seed', f.seed, 0), splitSeed: integer('--split-seed', f.splitSeed, 0), prune: f.prune === true,
    ...(f.holdout !== undefined ? { holdout: f.holdout.trim() === '' ? NaN : Number(f.holdout) } : {}),
    ...(f.dataset !== undefined ? { dataset: f.dataset } : {}), ...(f.space !== undefined ? { space: f.space } : {}),
    ...(f.strategy !== undefined ? { strategy: f.strategy } : {}), ...(f.dataDir !== undefined ? { dataDir: f.dataDir } : {}),
  });
}

function defaultName(f: StudyRunFlags): string {
  const space = f.space ?? 'default';
  const base = /[\\/]|\.json$/i.test(space) ? path.basename(space).replace(/\.json$/i, '') : space;
  return [f.model, f.dataset ?? 'mnist-10k', base, ...(f.strategy && f.strategy !== 'bayes' ? [f.strategy] : [])].join('-').replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * The --storage value of the printed resume command: quoted where a shell would split or expand
 * it (a URL's ? and &), and without a PostgreSQL password (messages never print it; the user puts it back).
 */
function resumeStorage(spec: string): string {
  return shellWord(storageKind(spec) === 'postgres' ? redact(spec) : spec);
}

function trialLine(e: Extract<StudyEvent, { type: 'trial' }>): string {
  const t = e.trial;
  const value = t.value !== undefined ? t.value.toFixed(4) : '-';
  const why = t.state === 'complete' ? ((t.info as { diverged?: unknown } | undefined)?.diverged ? ' (diverged: chance accuracy)' : '') : ` (${(t.error ?? '').split('\n')[0].slice(0, 100)})`;
  const best = e.best ? `best ${e.best.value.toFixed(4)} (trial ${e.best.number})` : 'best -';
  return `trial ${t.number} ${t.state} ${value}${why} | ${best} | ${e.finished}/${e.budget} | elapsed ${duration(e.elapsedSeconds)} | ETA ${e.etaSeconds !== undefined ? duration(e.etaSeconds) : '0s'}`;
}

export async function studyRun(f: StudyRunFlags, io: { out: (s: string) => void; err: (s: string) => void; signal?: AbortSignal }): Promise<{ interrupted: boolean; name: string; file: string }> {
  if (f.model !== undefined && !MODEL_KINDS.includes(f.model as ModelKind)) {
    throw optionError('study', '--model', `must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(f.model)}`);
  }
  if (f.study === undefined && f.model === undefined) throw optionError('study', '--model', 'or --study (to resume) is needed');
  const name = f.study ?? defaultName(f);
  const file = storageFile(f, name);
  const workers = integer('--workers', f.workers, 1) ?? 1;
  const threads = integer('--threads', f.threads, 1);
  const devices = parseDevices(f.device);
  if (f.resume && storageKind(file) === 'sqlite' && !fs.existsSync(file)) throw optionError('study', '--resume', `: no study file ${file}`);
  // The report's folder is checked now: the study may take hours, and a result lost at its end costs them.
  if (f.out !== undefined) {
    try {
      fs.mkdirSync(f.out, { recursive: true });
      fs.accessSync(f.out, fs.constants.W_OK);
      checkStudyReportFolder(f.out);
    } catch (err) {
      throw optionError('study', '--out', `cannot be written: ${(err as Error).message}`);
    }
  }
  const storage = await open(file, f.storage ? '--storage' : '--study', f.resume === true);
  try {
    let record = await storage.loadStudy(name);
    let created = false;
    if (!record) {
      if (f.resume) throw optionError('study', '--resume', `: no study "${name}" in ${storage.location}`);
      if (f.model === undefined) throw optionError('study', '--model', `is needed to create study "${name}"`);
      const config = configFromFlags({ ...f, trials: f.trials ?? f.defaultTrials }, f.model as ModelKind);
      const spec = getSpec(config.objective.dataset);
      locateDataset(spec, config.objective.dataDir !== undefined ? { dataDir: config.objective.dataDir } : {});
      try {
        record = await storage.createStudy(name, config);
        created = true;
      } catch (err) {
        // Machines started at once with the same command: another created it first; this one
        // joins it if the settings agree (checked below, as for any study that exists).
        if (!isStudyError(err, 'ERR_STUDY_EXISTS')) throw err;
        record = (await storage.loadStudy(name)) as StudyRecord;
      }
    }
    if (!created) {
      modelStudy(record.config, name); // a function study (optimize()) runs only where its function is
      // Flags given again must agree with the study; the budget may change.
      if (f.model !== undefined) {
        const given = configFromFlags({ ...f, trials: f.trials ?? String(record.config.trials) }, f.model as ModelKind);
        const validation = f.folds !== undefined || f.holdout !== undefined;
        const asked: Record<string, boolean> = { model: true, dataset: f.dataset !== undefined, folds: validation, holdout: validation, epochs: f.epochs !== undefined,
          space: f.space !== undefined, 'fixed options': f.space !== undefined, strategy: f.strategy !== undefined, seed: f.seed !== undefined,
          'split seed': f.splitSeed !== undefined,
          prune: f.prune !== undefined, direction: false };
        const diffs = configDifferences(record.config, given).filter((d) => asked[d.slice(0, d.indexOf(' is '))]);
        if (diffs.length) {
          throw optionError('study', '', `study "${name}" in ${storage.location} exists with other settings: ${diffs.join('; ')}. ` +
            (f.preset !== undefined
              ? `Give a new --study name to run preset ${f.preset} with these settings, or the --dataset, --epochs and --seed the study was run with`
              : 'Run it without those flags to resume it, or give a new --study name'));
        }
      }
      const trials = integer('--trials', f.trials, 1);
      if (trials !== undefined && trials !== record.config.trials) {
        try {
          await storage.setBudget(name, trials);
        } catch (err) {
          if (isStudyError(err, 'ERR_STUDY_BUDGET')) throw optionError('study', '--trials', `: ${(err as Error).message}`);
          throw err;
        }
      }
    }
    // On a terminal: a bar for the study and one per running trial on stderr; the lines below
    // still print (above the bars when stdout is the same terminal). --json: NDJSON only.
    const bars = f.json || f.quiet ? undefined : createStudyProgress(process.stderr, io.out);
    const print = bars ? bars.print : io.out;
    const out = (e: StudyEvent): void => {
      if (f.json) {
        if (e.type !== 'trial-progress') io.out(JSON.stringify(e));
        return;
      }
      // --quiet: the outcome (final, done) and what went wrong (worker messages), no progress.
      if (f.quiet && (e.type === 'study' || e.type === 'trial')) return;
      switch (e.type) {
        case 'study':
          if (!f.quiet) {
            print(`study ${e.name} (${e.location}): ${e.resumed ? `resuming at ${e.finished}/${e.budget}` : `new, ${e.budget} trials`}` +
              `${e.reaped ? `; ${e.reaped} trial(s) of dead workers queued again` : ''}; ${e.workers} worker(s)`);
          }
          bars?.study(e.name, e.finished, e.budget);
          break;
        case 'trial':
          if (!f.quiet) print(trialLine(e));
          bars?.trial(e.trial.number, e.finished, e.budget, e.best ? `${e.best.value.toFixed(4)} (trial ${e.best.number})` : '-', e.etaSeconds ?? 0);
          break;
        case 'trial-progress':
          bars?.trialProgress(e.trial, e.pid, e);
          break;
        case 'worker-died':
          bars?.workerGone(e.pid);
          (bars ? bars.log : io.err)(e.environment
            ? `worker ${e.pid} stopped for an error of this machine (${e.error ?? `exit ${e.code}`}); its trial went back to the queue without counting`
            : `worker ${e.pid} died (${e.signal ?? `exit ${e.code}`}${e.error ? `: ${e.error}` : ''}); its trial runs again` +
              `${e.requeued.length ? ` as trial ${e.requeued.join(', ')}` : ''}`);
          break;
        case 'worker-left':
          bars?.workerGone(e.pid);
          (bars ? bars.log : io.err)(`worker ${e.pid} left (exit ${e.code}) while trials remain; another takes its place`);
          break;
        case 'workers-stopped':
          (bars ? bars.log : io.err)(`no more workers are started: ${e.reason}${e.running ? `; ${e.running} still run` : ''}`);
          break;
        case 'final':
          print(`best configuration (trial ${e.final.trial}) retrained on the whole training split: ` +
            `CV ${e.final.cvValue.toFixed(4)}, test ${e.final.testAccuracy.toFixed(4)} (${e.final.trainSeconds.toFixed(1)} s, ${e.final.device})`);
          break;
        case 'stopped':
          break;
        case 'done':
          print(`done: ${e.finished}/${e.budget} trials${e.best ? `, best ${e.best.value.toFixed(4)} (trial ${e.best.number})` : ''}`);
          break;
      }
    };
    let r: Awaited<ReturnType<typeof runStudy>>;
    try {
      r = await runStudy({
        storage, name, workers, devices, ...(threads !== undefined ? { threads } : {}), onEvent: out, final: f.final !== false,
        ...(io.signal ? { signal: io.signal } : {}),
      });
    } finally {
      bars?.stop();
    }
    if (r.interrupted) {
      const resume = `dendrite-bench study run --study ${name}${f.storage ? ` --storage ${resumeStorage(f.storage)}` : ''}` +
        `${f.out !== undefined ? ` --out ${shellWord(f.out)}` : ''}`;
      const msg = `stopped at ${finishedCount(r.trials)}/${r.study.config.trials} finished trials; running trials were marked failed and queued to run again. Resume with: ${resume}` +
        (resume.includes(':***@') ? ' (with the password in place of ***)' : '');
      if (f.json) io.out(JSON.stringify({ type: 'resume', command: resume }));
      io.err(msg);
    } else if (f.out !== undefined) {
      const report = await writeStudyReport(storage, [name], f.out, { png: true });
      io.out(f.json ? JSON.stringify({ type: 'report', report: report.report, trials: report.trials }) : `report: ${report.report} (${report.trials} trials)`);
    }
    return { interrupted: r.interrupted, name, file };
  } finally {
    await storage.close();
  }
}

type ImportFlags = StudyRunFlags & { format?: string };

/**
 * `study import`: a JSON export (its own configuration), a CSV export (into the study named, or a
 * new one configured by the flags: its space types the parameter columns) or Lange's log (a new
 * lange2019 study by the flags). The file is read and checked whole before the storage changes,
 * so a malformed file imports nothing.
 */
export async function studyImport(file: string, f: ImportFlags, io: { out: (s: string) => void }): Promise<{ name: string; added: number; skipped: number }> {
  const format = f.format ?? 'json';
  if (!['json', 'csv', 'lange'].includes(format)) throw optionError('study import', '--format', `must be json, csv or lange, got ${JSON.stringify(format)}`);
  if (f.model !== undefined && !MODEL_KINDS.includes(f.model as ModelKind)) {
    throw optionError('study import', '--model', `must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(f.model)}`);
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw optionError('study import', '', `cannot read ${file}: ${(err as Error).message}`);
  }
  let name: string;
  // The configuration of a study created here (undefined: it must exist).
  let config: StudyConfig | undefined;
  let parse: (c: StudyConfig) => { trials: ReturnType<typeof parseLange>; skipped: number };
  if (format === 'json') {
    const doc = parseStudyJson(text, file);
    name = f.study ?? doc.name;
    config = doc.config;
    parse = () => doc;
  } else if (format === 'csv') {
    if (f.study === undefined && f.model === undefined) throw optionError('study import', '--study', 'or --model is needed with --format csv: the study to add to, or the model of a new one');
    const flags = { ...f, trials: f.trials ?? '1' };
    name = f.study ?? defaultName(flags);
    config = f.model !== undefined ? configFromFlags(flags, f.model as ModelKind) : undefined;
    parse = (c) => parseStudyCsv(text, file, c);
  } else {
    if (f.model === undefined) throw optionError('study import', '--model', `is needed with --format lange: ${MODEL_KINDS.join(', ')}`);
    const flags = { ...f, space: 'lange2019', trials: f.trials ?? '1' };
    name = f.study ?? defaultName(flags);
    config = configFromFlags(flags, f.model as ModelKind);
    parse = (c) => ({ trials: parseLange(text, file, new Space(c.space)), skipped: 0 });
  }
  const storage = await open(storageFile(f, name), f.storage ? '--storage' : '--study', false);
  try {
    const existing = await storage.loadStudy(name);
    const useConfig = existing?.config ?? config;
    if (useConfig === undefined) throw optionError('study import', '--model', `is needed to create study "${name}" (${storage.location} has no such study)`);
    const { trials, skipped } = parse(useConfig);
    if (!existing) {
      const budget = Math.max(integer('--trials', f.trials, 1) ?? 0, trials.length);
      await storage.createStudy(name, { ...useConfig, trials: budget });
    } else {
      const counted = (await storage.listTrials(name)).filter(countsTowardBudget).length;
      if (counted + trials.length > existing.config.trials) await storage.setBudget(name, counted + trials.length);
    }
    const added = await storage.importTrials(name, trials);
    io.out(`imported ${added.length} trial(s) into study ${name} (${storage.location})${skipped ? `; ${skipped} unfinished trial(s) left out` : ''}`);
    return { name, added: added.length, skipped };
  } finally {
    await storage.close();
  }
}

function summary(record: StudyRecord, trials: StudyTrial[]): Record<string, unknown> & { finished: number; states: Record<string, number>; best: unknown } {
  const counts: Record<string, number> = {};
  for (const t of trials) counts[t.state] = (counts[t.state] ?? 0) + 1;
  const best = bestTrial(trials, record.config.direction);
  const o = record.config.objective;
  const objective = isModelObjective(o)
    ? { objective: 'model', model: o.model, dataset: o.dataset, folds: o.folds, holdout: o.holdout ?? null, epochs: o.epochs }
    : { objective: 'function', model: null, dataset: null, folds: null, holdout: null, epochs: null };
  return {
    name: record.name, createdAt: record.createdAt, ...objective, space: record.config.spaceName, strategy: record.config.strategy,
    seed: record.config.seed, splitSeed: splitSeedOf(record.config), prune: record.config.prune, budget: record.config.trials, finished: finishedCount(trials), states: counts,
    best: best ? { trial: best.number, value: best.value, params: best.params } : null, final: record.final ?? null,
  };
}

function registerRun(study: Command): void {
  study.command('run')
    .description('run a study to its budget of trials (running one that exists resumes it)')
    .option('--model <kind>', `model: ${MODEL_KINDS.join(', ')}`)
    .option('--dataset <name>', 'dataset (default mnist-10k)')
    .option('--trials <n>', 'total trials (complete, pruned, infeasible or failed)')
    .option('--space <name|file>', 'default, lange2019, or a JSON file { "params": {...}, "fixed": {...} } (default: default)')
    .option('--strategy <s>', 'bayes (default), random, or lange (his GP-UCB setting, for comparison)')
    .option('--folds <k>', 'stratified folds of the training split per trial (default 3)')
    .option('--holdout <n>', 'instead of folds: validate each trial on one holdout split of the training split, a fraction (0.2) or a count of images')
    .option('--epochs <n>', 'epochs per fold (default 10)')
    .option('--study <name>', 'study name (default <model>-<dataset>-<space>[-<strategy>])')
    .option('--storage <file|url>', STORAGE_HELP)
    .option('--workers <n>', 'trials at once on this machine, each in its own process (default 1); more machines: the same command on each')
    .option('--device <d>', 'cpu (default), cuda, cuda:N, or a list (cuda:0,cuda:1) given to the workers in turn')
    .option('--threads <n>', 'CPU threads per worker (default: the cores divided among the workers)')
    .option('--prune', 'median pruning after each fold (with --holdout: after each epoch)')
    .option('--seed <s>', 'seed of the optimiser and of the weights (default 0)')
    .option('--split-seed <s>', 'seed of the folds or holdout, the same for every trial (default: --seed)')
    .option('--data-dir <dir>', 'where datasets are looked for')
    .option('--resume', 'only resume: fail when the study does not exist')
    .option('--no-final', 'do not retrain and test the best configuration at the end')
    .option('--out <dir>', 'once the study is done, write its report there (report.html and figures, as dendrite-bench report DIR --study NAME)')
    .option('--json', 'NDJSON events on stdout (no progress events)')
    .option('--quiet', 'no progress: no line per trial and no bars, only the final result, warnings and errors')
    .allowExcessArguments(false)
    .addHelpText('after', `
Examples:
  dendrite-bench study run --model mlp --trials 50                       # our default MLP space on mnist-10k
  dendrite-bench study run --model segregated --space lange2019 --strategy lange --trials 30 --epochs 1
  dendrite-bench study run --model mlp --trials 8 --workers 2 --holdout 0.2 --epochs 1 --out mlp-study  # a holdout split instead of folds; the report in mlp-study
  dendrite-bench study run --study mlp-mnist-10k-default                  # resume after Ctrl-C or a crash`)
    .action(async (opts: StudyRunFlags) => {
      const r = await withStopSignals((signal) => studyRun(opts, { out: (s) => console.log(s), err: (s) => console.error(s), signal }),
        () => 'stopped during the final run; run the study again to retrain and test the best configuration');
      if (r?.interrupted) process.exitCode = 130;
    });
}

export function registerStudyCommands(program: Command): void {
  const study = program.command('study').description('hyperparameter studies: run, resume, inspect, export, import and copy (docs/bo.md, docs/distributed.md)')
    .addHelpText('after', `
Examples:
  dendrite-bench study run --model mlp --trials 50
  dendrite-bench study status --study mlp-mnist-10k-default
  dendrite-bench study best --study mlp-mnist-10k-default --json
  dendrite-bench study run --study seg --storage postgresql://dendrite:secret@db:5432/studies --workers 4 --device cuda:0,cuda:1,cuda:2,cuda:3 --no-final  # join a shared study from another GPU server (docs/distributed.md)`);
  registerRun(study);

  study.command('status')
    .description('the study\'s settings, trial counts by state, workers, best trial and final result')
    .option('--study <name>', 'study name')
    .option('--storage <file|url>', STORAGE_HELP)
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  dendrite-bench study status --study mlp-mnist-10k-default
  dendrite-bench study status --study mlp-mnist-10k-default --storage postgresql://dendrite:secret@db:5432/studies --json`)
    .action(async (f: CommonFlags) => {
      const storage = await openExisting(f);
      try {
        const name = await studyName(storage, f);
        const record = await loadRecord(storage, name);
        const trials = await storage.listTrials(name);
        const workers = await storage.listWorkers(name);
        const running = trials.filter((t) => t.state === 'running')
          .map((t) => ({ trial: t.number, worker: t.workerId ?? null, device: t.device ?? null, startedAt: t.startedAt ?? null }));
        const s = { ...summary(record, trials), workers, running };
        if (f.json) {
          console.log(JSON.stringify(s));
          return;
        }
        console.log(`study ${name} (${storage.location})`);
        const o = record.config.objective;
        console.log(isModelObjective(o)
          ? `  ${o.model} on ${o.dataset}, space ${record.config.spaceName}, strategy ${record.config.strategy}, ` +
            `${validationLabel(o)} (split seed ${splitSeedOf(record.config)}) x ${o.epochs} epochs, seed ${record.config.seed}${record.config.prune ? ', pruning' : ''}`
          : `  a function given to optimize(), ${record.config.direction}d, ${Object.keys(record.config.space).length} parameters, strategy ${record.config.strategy}, seed ${record.config.seed}`);
        console.log(`  ${s.finished}/${record.config.trials} finished; ${Object.entries(s.states as Record<string, number>).map(([k, v]) => `${v} ${k}`).join(', ') || 'no trials'}`);
        console.log(`  workers: ${workers.filter((w) => w.state === 'alive').length} alive, ${workers.length} in all`);
        // Live and dead workers one a line (stopped ones, which left cleanly, only in the count).
        const ago = (iso: string | undefined): string => (iso ? `${duration((Date.now() - Date.parse(iso)) / 1000)} ago` : '-');
        for (const w of workers.filter((x) => x.state !== 'stopped')) {
          const mine = running.filter((r) => r.worker === w.id).map((r) => `trial ${r.trial} (running ${ago(r.startedAt ?? undefined).replace(' ago', '')})`);
          console.log(`    worker ${w.id} ${w.state} on ${w.host} (pid ${w.pid}), ${w.device ?? 'cpu'}${w.threads ? ` x${w.threads} threads` : ''}, ` +
            `heartbeat ${ago(w.heartbeatAt)}${mine.length ? `: ${mine.join(', ')}` : ''}`);
        }
        const best = s.best as { trial: number; value: number } | null;
        if (best) console.log(`  best: trial ${best.trial}, ${!isModelObjective(o) ? 'value' : o.holdout !== undefined ? 'holdout' : 'CV'} ${best.value.toFixed(4)}`);
        if (record.final) console.log(`  final: test ${record.final.testAccuracy.toFixed(4)} (trial ${record.final.trial} retrained on the whole training split)`);
      } finally {
        await storage.close();
      }
    });

  study.command('best')
    .description('the best trial: its parameters, model options, CV accuracy and the final test accuracy')
    .option('--study <name>', 'study name')
    .option('--storage <file|url>', STORAGE_HELP)
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  dendrite-bench study best --study mlp-mnist-10k-default
  dendrite-bench study best --study mlp-mnist-10k-default --json`)
    .action(async (f: CommonFlags) => {
      const storage = await openExisting(f);
      try {
        const name = await studyName(storage, f);
        const record = await loadRecord(storage, name);
        const best = bestTrial(await storage.listTrials(name), record.config.direction);
        if (!best) throw new Error(`study "${name}" has no complete trial yet`);
        const doc = { study: name, trial: best.number, cvValue: best.value, params: best.params,
          options: (best.info as { options?: unknown } | undefined)?.options ?? null, final: record.final ?? null };
        if (f.json) {
          console.log(JSON.stringify(doc));
          return;
        }
        console.log(`trial ${best.number}: CV ${best.value!.toFixed(4)}${record.final ? `, test ${record.final.testAccuracy.toFixed(4)}` : ' (not yet retrained and tested)'}`);
        for (const [k, v] of Object.entries(best.params)) console.log(`  ${k} = ${String(v)}`);
        if (doc.options) console.log(`options: ${JSON.stringify(doc.options)}`);
      } finally {
        await storage.close();
      }
    });

  study.command('export')
    .description('all trials as JSON (the whole study), CSV, or Lange\'s JSON-lines log')
    .option('--study <name>', 'study name')
    .option('--storage <file|url>', STORAGE_HELP)
    .option('--format <f>', 'json (default), csv or lange')
    .option('--out <file>', 'write here (atomically) instead of stdout')
    .addHelpText('after', `
Examples:
  dendrite-bench study export --study mlp-mnist-10k-default --out study.json
  dendrite-bench study export --study mlp-mnist-10k-default --format csv --out trials.csv
  dendrite-bench study export --study mlp-mnist-10k-default --format lange --out lange.jsonl`)
    .action(async (f: CommonFlags & { format?: string; out?: string }) => {
      const format = f.format ?? 'json';
      if (!['json', 'csv', 'lange'].includes(format)) throw optionError('study export', '--format', `must be json, csv or lange, got ${JSON.stringify(format)}`);
      const storage = await openExisting(f);
      try {
        const name = await studyName(storage, f);
        const record = await loadRecord(storage, name);
        const trials = await storage.listTrials(name);
        const text = format === 'json' ? exportJson(record, trials) : format === 'csv' ? exportCsv(record, trials)
          : exportLange(record, modelStudy(record.config, name).objective.model, trials);
        if (f.out !== undefined) writeFileAtomic(f.out, text);
        else process.stdout.write(text);
      } finally {
        await storage.close();
      }
    });

  study.command('import')
    .description('finished trials from a JSON or CSV export (a new study, or more trials of it) or from Lange\'s JSON-lines log')
    .argument('<file>', 'the file to read')
    .option('--format <f>', 'json (default), csv or lange')
    .option('--study <name>', 'study to create or add to (default: the export\'s name; for csv and lange <model>-<dataset>-<space>)')
    .option('--storage <file|url>', STORAGE_HELP)
    .option('--model <kind>', 'csv and lange: the model of a study created here')
    .option('--dataset <name>', 'csv and lange: the dataset (default mnist-10k)')
    .option('--space <name|file>', 'csv: the space of a study created here, which types the param_ columns (default: default)')
    .option('--trials <n>', 'budget of a study created here (default: the trials imported)')
    .option('--strategy <s>', 'csv and lange: bayes (default), random or lange')
    .option('--folds <k>', 'csv and lange: folds of further trials (default 3, his)')
    .option('--holdout <n>', 'csv and lange: validate further trials on a holdout split instead (a fraction or a count)')
    .option('--epochs <n>', 'csv and lange: epochs of further trials (default 10, his)')
    .option('--seed <s>', 'csv and lange: seed (default 0)')
    .addHelpText('after', `
Examples:
  dendrite-bench study import study.json --study mlp-copy
  dendrite-bench study import trials.csv --format csv --model mlp --study mlp-from-csv
  dendrite-bench study import lange.jsonl --format lange --model mlp --trials 60`)
    .action(async (file: string, f: ImportFlags) => {
      await studyImport(file, f, { out: (s) => console.log(s) });
    });

  study.command('copy')
    .description('copy a study between storages (SQLite and PostgreSQL): settings, finished trials with their values, intermediate values and details, final result')
    .requiredOption('--from <file|url>', 'the storage the study is in')
    .requiredOption('--to <file|url>', 'the storage to copy it into (created when missing)')
    .option('--study <name>', 'study name (needed when --from holds several)')
    .option('--as <name>', 'its name in --to (default: the same)')
    .addHelpText('after', `
Examples:
  dendrite-bench study copy --from dendrite-studies/mlp-mnist-10k-default/study.sqlite --to postgresql://dendrite:secret@db:5432/studies
  dendrite-bench study copy --from postgresql://dendrite:secret@db:5432/studies --study mlp-mnist-10k-default --to archive.sqlite`)
    .action(async (f: { from: string; to: string; study?: string; as?: string }) => {
      const from = await open(f.from, '--from', true);
      try {
        const name = await studyName(from, f);
        await loadRecord(from, name);
        const to = await open(f.to, '--to', false);
        try {
          const r = await copyStudy(from, to, name, f.as ?? name).catch((err) => {
            if (isStudyError(err, 'ERR_STUDY_EXISTS')) throw optionError('study copy', '--as', `: ${err.message}`);
            throw err;
          });
          const left = [r.leftOut.running && `${r.leftOut.running} running`, r.leftOut.waiting && `${r.leftOut.waiting} waiting`,
            r.leftOut.rerun && `${r.leftOut.rerun} failed attempt(s) that ran again`].filter(Boolean);
          console.log(`copied study ${name} from ${from.location} to ${to.location}${r.name !== name ? ` as ${r.name}` : ''}: ${r.copied} finished trial(s)` +
            `${r.final ? `, the final result (trial ${r.final.from}${r.final.to !== r.final.from ? `, now ${r.final.to}` : ''})` : ''}` +
            `${left.length ? `; left out: ${left.join(', ')}` : ''}`);
          if (r.leftOut.running) console.error('note: trials still running in the source were not copied; their places in the budget are free in the copy');
        } finally {
          await to.close();
        }
      } finally {
        await from.close();
      }
    });
}
