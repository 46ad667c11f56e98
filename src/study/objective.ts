// A trial's objective: its parameters become model options (spaces.ts), and each of the study's
// stratified folds of the training split is one ExperimentSpec run by runExperiment with
// `test: false`, so the search never sees the official test split. The value is the mean
// validation accuracy over the folds. After each fold the running mean is reported (the
// intermediate value) and the caller may prune. Outcomes:
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
import type { StudyConfig, TrialOutcome } from './types';

export interface TrialRun {
  device?: DeviceString;
  threads?: number;
  signal?: AbortSignal;
  /** Called after each fold with the running mean; returns a reason to prune, or undefined. */
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
function foldProgress(config: StudyConfig, fold: number, onProgress: (p: TrialProgress) => void): (e: ExperimentEvent) => void {
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

/** The seed of the study's folds (a study stored before splitSeed existed used its seed). */
export function splitSeedOf(config: StudyConfig): number {
  return config.splitSeed ?? config.seed;
}

/** The ExperimentSpec of one fold of a trial (also used, with folds 0 and test on, for the final run). */
export function trialSpec(config: StudyConfig, options: Record<string, unknown>, fold: number | 'final', run: TrialRun): ExperimentSpec {
  const o = config.objective;
  return {
    model: o.model, options, dataset: o.dataset, epochs: o.epochs, seed: config.seed, splitSeed: splitSeedOf(config),
    ...(fold === 'final' ? { folds: 0, validation: 0, test: true } : { folds: o.folds, fold, test: false }),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    device: run.device ?? 'cpu',
    threads: run.threads ?? Math.max(1, os.availableParallelism()),
  };
}

export async function evaluateTrial(config: StudyConfig, params: Params, run: TrialRun = {}): Promise<TrialOutcome> {
  const classes = datasetClasses(config.objective.dataset);
  let options: Record<string, unknown>;
  try {
    options = trialOptions(config.objective.model, params, config.objective.fixed, classes);
  } catch (err) {
    if (isOptionError(err)) return { state: 'infeasible', error: err.message };
    throw err;
  }
  const folds: { fold: number; accuracy: number; epochs: (number | null)[]; seconds: number }[] = [];
  let sum = 0;
  for (let fold = 0; fold < config.objective.folds; fold++) {
    let r: ExperimentResult;
    try {
      const ro: RunOptions = {
        ...(run.signal ? { signal: run.signal } : {}), ...(run.onProgress ? { onEvent: foldProgress(config, fold, run.onProgress) } : {}),
      };
      r = await runExperiment(trialSpec(config, options, fold, run), ro);
    } catch (err) {
      const info = { options, folds };
      switch (classifyTrialError(err)) {
        case 'interrupted':
        case 'environment':
          throw err;
        case 'infeasible':
          return { state: 'infeasible', error: (err as Error).message, info };
        case 'diverged': {
          const d = err as DivergenceError;
          return { state: 'complete', value: 1 / classes, info: { ...info, diverged: { fold, epoch: d.epoch, message: d.message } } };
        }
        case 'failed':
          return { state: 'failed', error: (err as Error).message, info };
      }
    }
    const accuracy = r.final.validationAccuracy;
    if (accuracy === null || !Number.isFinite(accuracy)) return { state: 'failed', error: `fold ${fold} has no validation accuracy`, info: { options, folds } };
    folds.push({ fold, accuracy, epochs: r.epochs.map((e) => e.validationAccuracy ?? null), seconds: r.timing.wallSeconds });
    sum += accuracy;
    const mean = sum / (fold + 1);
    const why = await run.report?.(fold, mean);
    if (why !== undefined && fold < config.objective.folds - 1) return { state: 'pruned', value: mean, error: why, info: { options, folds } };
  }
  return { state: 'complete', value: sum / config.objective.folds, info: { options, folds } };
}
