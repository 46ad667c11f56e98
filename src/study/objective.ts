// A trial's objective: its parameters become model options (spaces.ts), and each of the study's
// stratified folds of the training split is one ExperimentSpec run by runExperiment with
// `test: false`, so the search never sees the official test split. The value is the mean
// validation accuracy over the folds. After each fold the running mean is reported (the
// intermediate value) and the caller may prune. A holdout study runs one ExperimentSpec whose
// validation split is the holdout: the value is its validation accuracy after the last epoch,
// and each epoch's accuracy is the intermediate value (a prune stops the run at its next chunk).
// Outcomes:
//   - an option error (invalid options, an invalid CNN geometry): infeasible, with the reason;
//   - a DivergenceError: complete at chance accuracy (1 / classes), the divergence in `info`:
//     a diverged configuration is a real, bad result the optimiser should learn from;
//   - an AbortError, or an error of the environment (errors.ts: the machine, not the
//     configuration): thrown on (the worker queues the trial again);
//   - any other error: failed, with the message.
import os from 'node:os';

import type { Params } from '../bo/space';
import { findSpec } from '../data/registry';
import { runExperiment, type ExperimentEvent, type ExperimentResult, type RunOptions } from '../experiment/run';
import type { ExperimentSpec } from '../experiment/spec';
import { isOptionError } from '../models/options';
import type { DeviceString } from '../native';
import type { DivergenceError } from '../train/loop';
import { classifyTrialError } from './errors';
import { trialOptions } from './spaces';
import { StudyError } from './storage';
import { isModelObjective, type ModelStudyConfig, type ObjectiveSpec, type StudyConfig, type TrialOutcome } from './types';

export interface TrialRun {
  /** The trial's number (absent outside a study). */
  trial?: number;
  device?: DeviceString;
  threads?: number;
  signal?: AbortSignal;
  /**
   * Called after each fold with the running mean (holdout studies: after each epoch with its
   * validation accuracy); returns a reason to prune, or undefined.
   */
  report?: (step: number, value: number) => Promise<string | undefined>;
  /** Where the trial is, after each chunk of examples and each epoch of each fold (for progress bars). */
  onProgress?: (p: TrialProgress) => void;
}

/** Where a running trial is: fold (from 0) of folds, epoch (from 1) of epochs, examples of the epoch. */
export interface TrialProgress {
  fold: number;
  folds: number;
  epoch: number;
  epochs: number;
  position: number;
  epochSize: number;
  examplesPerSecond: number;
  /** The running training accuracy; at an epoch's end the validation accuracy. */
  accuracy: number | null;
}

/** The runExperiment events of one fold as TrialProgress. */
function foldProgress(config: ModelStudyConfig, fold: number, onProgress: (p: TrialProgress) => void): (e: ExperimentEvent) => void {
  const at = { fold, folds: config.objective.folds, epochs: config.objective.epochs };
  return (e) => {
    if (e.type === 'progress') {
      onProgress({ ...at, epoch: e.epoch, position: e.position, epochSize: e.epochSize, examplesPerSecond: e.examplesPerSecond, accuracy: e.trainAccuracy });
    } else if (e.type === 'epoch') {
      onProgress({ ...at, epoch: e.epoch, position: e.examples, epochSize: e.examples, examplesPerSecond: e.examplesPerSecond,
        accuracy: e.validationAccuracy ?? e.trainAccuracy });
    }
  };
}

export function datasetClasses(dataset: string): number {
  const spec = findSpec(dataset);
  if (!spec) throw new RangeError(`unknown dataset ${JSON.stringify(dataset)}`);
  return spec.classNames.length;
}

/** The seed of the study's folds or holdout (a study stored before splitSeed existed used its seed). */
export function splitSeedOf(config: StudyConfig): number {
  return config.splitSeed ?? config.seed;
}

export type StudyValidation = { kind: 'folds'; folds: number } | { kind: 'holdout'; holdout: number };

/**
 * A study's configuration as a model study; an ERR_STUDY_OBJECTIVE StudyError when its objective is a
 * caller's function, which only `optimize` (given that function again) can evaluate.
 */
export function modelStudy(config: StudyConfig, name?: string): ModelStudyConfig {
  const o = config.objective;
  if (isModelObjective(o)) return { ...config, objective: o };
  throw new StudyError('ERR_STUDY_OBJECTIVE', `study${name !== undefined ? ` "${name}"` : ''} optimises a function given to optimize() in code, not a model: ` +
    'run or resume it by calling optimize() again with that function, the same storage and the same study name');
}

/** Whether a study's intermediate values are per epoch (a holdout study) rather than per fold. */
export function stepsAreEpochs(config: StudyConfig): boolean {
  return isModelObjective(config.objective) && config.objective.holdout !== undefined;
}

/**
 * How a study's trials validate: k folds, or a holdout (then folds is 0). A RangeError for an
 * objective that asks for both, neither, or a holdout that leaves no training images.
 */
export function validationOf(o: ObjectiveSpec): StudyValidation {
  if (o.holdout === undefined) {
    if (!Number.isInteger(o.folds) || o.folds < 2) throw new RangeError(`study objective: folds must be an integer >= 2 (or 0 with a holdout), got ${o.folds}`);
    return { kind: 'folds', folds: o.folds };
  }
  const h = o.holdout;
  if (typeof h !== 'number' || !(h > 0) || (h >= 1 && !Number.isSafeInteger(h))) {
    throw new RangeError(`study objective: holdout must be a fraction in (0, 1) or a whole count of images, got ${JSON.stringify(h)}`);
  }
  if (o.folds !== 0) throw new RangeError(`study objective: holdout and folds exclude each other (folds must be 0 with a holdout, got ${o.folds})`);
  const train = findSpec(o.dataset)?.counts.train;
  if (train !== undefined && h >= 1 && h >= train) throw new RangeError(`study objective: holdout ${h} leaves no training images (${o.dataset} has ${train})`);
  return { kind: 'holdout', holdout: h };
}

/** "3 folds" or "holdout 0.2", for messages. */
export function validationLabel(o: ObjectiveSpec): string {
  const v = validationOf(o);
  return v.kind === 'folds' ? `${v.folds} folds` : `holdout ${v.holdout}`;
}

/**
 * The ExperimentSpec of one fold of a trial (`fold` 0 for a holdout study's one run; also used,
 * with 'final', for the final run on the whole training split and the test split).
 */
export function trialSpec(config: ModelStudyConfig, options: Record<string, unknown>, fold: number | 'final', run: TrialRun): ExperimentSpec {
  const o = config.objective;
  const v = validationOf(o);
  if (fold !== 'final' && v.kind === 'holdout' && fold !== 0) throw new RangeError(`a holdout study has one run per trial (fold 0), not fold ${fold}`);
  return {
    model: o.model, options, dataset: o.dataset, epochs: o.epochs, seed: config.seed, splitSeed: splitSeedOf(config),
    ...(fold === 'final' ? { folds: 0, validation: 0, test: true }
      : v.kind === 'holdout' ? { validation: v.holdout, test: false } : { folds: v.folds, fold, test: false }),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    device: run.device ?? 'cpu',
    threads: run.threads ?? Math.max(1, os.availableParallelism()),
  };
}

/** The outcome of a run that threw (see the top of this file), or the error thrown on. */
function failure(err: unknown, classes: number, info: Record<string, unknown>, diverged: Record<string, unknown>): TrialOutcome {
  switch (classifyTrialError(err)) {
    case 'interrupted':
    case 'environment':
      throw err;
    case 'infeasible':
      return { state: 'infeasible', error: (err as Error).message, info };
    case 'diverged': {
      const d = err as DivergenceError;
      return { state: 'complete', value: 1 / classes, info: { ...info, diverged: { ...diverged, epoch: d.epoch, message: d.message } } };
    }
    case 'failed':
      return { state: 'failed', error: (err as Error).message, info };
  }
}

export async function evaluateTrial(config: StudyConfig, params: Params, run: TrialRun = {}): Promise<TrialOutcome> {
  const study = modelStudy(config);
  const classes = datasetClasses(study.objective.dataset);
  const validation = validationOf(study.objective);
  let options: Record<string, unknown>;
  try {
    options = trialOptions(study.objective.model, params, study.objective.fixed, classes);
  } catch (err) {
    if (isOptionError(err)) return { state: 'infeasible', error: err.message };
    throw err;
  }
  if (validation.kind === 'holdout') return evaluateHoldout(study, options, classes, run);
  const nFolds = validation.folds;
  const folds: { fold: number; accuracy: number; epochs: (number | null)[]; seconds: number }[] = [];
  let sum = 0;
  for (let fold = 0; fold < nFolds; fold++) {
    let r: ExperimentResult;
    try {
      const ro: RunOptions = {
        ...(run.signal ? { signal: run.signal } : {}), ...(run.onProgress ? { onEvent: foldProgress(study, fold, run.onProgress) } : {}),
      };
      r = await runExperiment(trialSpec(study, options, fold, run), ro);
    } catch (err) {
      return failure(err, classes, { options, folds }, { fold });
    }
    const accuracy = r.final.validationAccuracy;
    if (accuracy === null || !Number.isFinite(accuracy)) return { state: 'failed', error: `fold ${fold} has no validation accuracy`, info: { options, folds } };
    folds.push({ fold, accuracy, epochs: r.epochs.map((e) => e.validationAccuracy ?? null), seconds: r.timing.wallSeconds });
    sum += accuracy;
    const mean = sum / (fold + 1);
    const why = await run.report?.(fold, mean);
    if (why !== undefined && fold < nFolds - 1) return { state: 'pruned', value: mean, error: why, info: { options, folds } };
  }
  return { state: 'complete', value: sum / nFolds, info: { options, folds } };
}

/**
 * A holdout trial: one run, each epoch's validation accuracy reported as it ends (in order, one
 * report at a time). A prune decision (not after the last epoch) aborts the run through its own
 * signal; the trial is pruned at that epoch's accuracy whether or not the run had already ended,
 * so the outcome depends on the reports, not on timing.
 */
async function evaluateHoldout(config: ModelStudyConfig, options: Record<string, unknown>, classes: number, run: TrialRun): Promise<TrialOutcome> {
  const last = config.objective.epochs - 1;
  const epochs: (number | null)[] = [];
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(run.signal?.reason);
  if (run.signal?.aborted) onAbort();
  run.signal?.addEventListener('abort', onAbort, { once: true });
  let pruned: { step: number; value: number; why: string } | undefined;
  let reportError: { err: unknown } | undefined;
  let reports = Promise.resolve();
  // Progress as one fold of one (the holdout split).
  const progress = run.onProgress ? foldProgress({ ...config, objective: { ...config.objective, folds: 1 } }, 0, run.onProgress) : undefined;
  const onEvent = (e: ExperimentEvent): void => {
    progress?.(e);
    if (e.type !== 'epoch') return;
    const accuracy = e.validationAccuracy;
    epochs.push(accuracy ?? null);
    const report = run.report;
    if (report === undefined || accuracy === undefined || !Number.isFinite(accuracy)) return;
    const step = e.epoch - 1;
    reports = reports.then(async () => {
      if (pruned || reportError) return;
      const why = await report(step, accuracy);
      if (why !== undefined && step < last) {
        pruned = { step, value: accuracy, why };
        stop.abort(new Error(why));
      }
    }).catch((err: unknown) => {
      reportError = { err };
      stop.abort(err);
    });
  };
  const info = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ options, holdout: { ...extra, epochs } });
  let r: ExperimentResult | undefined;
  let thrown: { err: unknown } | undefined;
  try {
    r = await runExperiment(trialSpec(config, options, 0, run), { signal: stop.signal, onEvent });
  } catch (err) {
    thrown = { err };
  } finally {
    run.signal?.removeEventListener('abort', onAbort);
  }
  await reports;
  if (reportError) throw reportError.err;
  if (run.signal?.aborted && thrown) throw thrown.err;
  const p = pruned as { step: number; value: number; why: string } | undefined;
  if (p) return { state: 'pruned', value: p.value, error: p.why, info: info() };
  if (thrown) return failure(thrown.err, classes, info(), {});
  const result = r as ExperimentResult;
  const accuracy = result.final.validationAccuracy;
  if (accuracy === null || !Number.isFinite(accuracy)) return { state: 'failed', error: 'the holdout run has no validation accuracy', info: info() };
  return { state: 'complete', value: accuracy, info: info({ images: result.dataset.validation, accuracy, seconds: result.timing.wallSeconds }) };
}
