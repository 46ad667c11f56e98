// What a hyperparameter study is made of, as plain JSON-able data: its configuration (search
// space, objective, budget, seed), its trials and the worker processes that run them. Every
// storage (memory, SQLite, later PostgreSQL) stores exactly these records (docs/bo.md "Studies").
import type { Direction, OptimizerOptions, Strategy } from '../bo/optimize';
import type { ParamSpec, Params } from '../bo/space';
import type { ModelKind } from '../experiment/registry';

/**
 * running: claimed by a worker; waiting: queued for a worker (a re-run of an interrupted trial);
 * complete: has a value; pruned: stopped early by the median rule; infeasible: the model refused
 * the configuration (an option error, an invalid CNN geometry); failed: the objective threw, or
 * its worker died (then a re-run is queued unless it already failed three times).
 */
export type StudyTrialState = 'waiting' | 'running' | 'complete' | 'pruned' | 'infeasible' | 'failed';
export const TRIAL_STATES: readonly StudyTrialState[] = ['waiting', 'running', 'complete', 'pruned', 'infeasible', 'failed'];
/** States a trial never leaves. */
export const FINISHED_STATES: readonly StudyTrialState[] = ['complete', 'pruned', 'infeasible', 'failed'];

/** What each trial trains and how it is scored: the fixed part of every trial's ExperimentSpec. */
export interface ObjectiveSpec {
  model: ModelKind;
  /** Model options every trial shares (the searched ones come from the trial's parameters). */
  fixed: Record<string, unknown>;
  dataset: string;
  dataDir?: string;
  /**
   * Stratified folds of the training split (>= 2); the trial's value is their mean validation
   * accuracy. 0 with `holdout`.
   */
  folds: number;
  /**
   * Instead of folds: one validation split held out of the training split, a fraction (< 1) or a
   * count of images, chosen by the split seed (the same images for every trial); the trial's
   * value is its validation accuracy after the last epoch. Absent in fold studies (and in every
   * study stored before it existed).
   */
  holdout?: number;
  /** Epochs per fold (or of the holdout run). */
  epochs: number;
}

/**
 * The objective of a study that `optimize({ storage, study })` runs: the caller's own function,
 * which a study cannot store. Such a study is run and resumed only by calling `optimize` again
 * with the function; `study status`, `best`, `export` and `report` read it like any other.
 */
export interface FunctionObjectiveSpec {
  kind: 'function';
}

/** Whether a study trains models (else its objective is a caller's function). */
export function isModelObjective(o: ObjectiveSpec | FunctionObjectiveSpec): o is ObjectiveSpec {
  return (o as FunctionObjectiveSpec).kind !== 'function';
}

/** The configuration of a study that trains models. */
export type ModelStudyConfig = Omit<StudyConfig, 'objective'> & { objective: ObjectiveSpec };

/** The optimiser options a study keeps when they differ from the defaults (`optimize` can set them). */
export const STUDY_OPTIMIZER_SETTINGS = ['acquisition', 'initialPoints', 'candidates', 'starts', 'gp'] as const;
export type StudyOptimizerSettings = Pick<OptimizerOptions, (typeof STUDY_OPTIMIZER_SETTINGS)[number]>;

export interface StudyConfig {
  objective: ObjectiveSpec | FunctionObjectiveSpec;
  /** The search space as parameter specs (self-contained: a study does not depend on preset files). */
  space: Record<string, ParamSpec>;
  /** Where the space came from: a preset name ("default", "lange2019") or a file. */
  spaceName: string;
  direction: Direction;
  strategy: Strategy;
  /** Total number of trials to finish (complete, pruned, infeasible, or failed without a re-run). */
  trials: number;
  /** Seed of the optimiser and of the weights and epoch orders of every trial. */
  seed: number;
  /**
   * Seed of the folds, one for the whole study, so every trial is scored on the same images.
   * Absent in studies made before it existed: then the seed (splitSeedOf), as they ran.
   */
  splitSeed?: number;
  /** Median pruning after each fold (with a holdout: after each epoch). */
  prune: boolean;
  /** Optimiser settings other than the defaults (absent: the defaults of the strategy). */
  optimizer?: StudyOptimizerSettings;
}

/** The best configuration retrained on the whole training split and scored once on the test split. */
export interface FinalResult {
  trial: number;
  params: Params;
  options: Record<string, unknown>;
  /** The trial's value: its mean cross-validation accuracy, or its holdout validation accuracy. */
  cvValue: number;
  testAccuracy: number;
  testLoss: number;
  trainSeconds: number;
  device: string;
  finishedAt: string;
}

export interface StudyRecord {
  name: string;
  config: StudyConfig;
  createdAt: string;
  final?: FinalResult;
}

export interface IntermediateValue {
  /** 0-based fold index (holdout studies: 0-based epoch index). */
  step: number;
  /** The mean validation accuracy of folds 0..step (holdout studies: the validation accuracy after that epoch). */
  value: number;
}

export interface StudyTrial {
  /** 0, 1, 2, ... in creation order. */
  number: number;
  state: StudyTrialState;
  params: Params;
  value?: number;
  intermediate: IntermediateValue[];
  /** 1 for a fresh trial; a re-run of a trial whose worker died counts one more. */
  attempt: number;
  /** The trial this one re-runs. */
  retryOf?: number;
  /** A failed trial whose re-run was queued: it does not count towards the budget. */
  requeued: boolean;
  workerId?: number;
  device?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Seconds from start to finish. */
  seconds?: number;
  /** Why it failed, was infeasible or was pruned. */
  error?: string;
  /** Per-fold details (accuracies, epochs, divergence). */
  info?: Record<string, unknown>;
}

export interface WorkerRecord {
  id: number;
  pid: number;
  host: string;
  device?: string;
  threads?: number;
  startedAt: string;
  heartbeatAt: string;
  state: 'alive' | 'stopped' | 'dead';
}

/** How a finished trial is recorded. */
export interface TrialOutcome {
  state: 'complete' | 'pruned' | 'infeasible' | 'failed';
  value?: number;
  error?: string;
  info?: Record<string, unknown>;
}

/** A finished trial brought in from elsewhere (an export, Lange's log). */
export interface ImportedTrial {
  state: 'complete' | 'pruned' | 'infeasible' | 'failed';
  params: Params;
  value?: number;
  intermediate?: IntermediateValue[];
  startedAt?: string;
  finishedAt?: string;
  seconds?: number;
  error?: string;
  info?: Record<string, unknown>;
}
