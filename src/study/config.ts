// The settings of a new study as `study run` takes them (model, dataset, trials, space, ...) turned
// into a checked StudyConfig. One place for both callers: the command line (src/cli/study.ts,
// which parses its flags into these) and the study presets (src/experiment/presets.ts), so a
// preset holds exactly the settings of the `study run` command it stands for.
import path from 'node:path';

import { datasetNames } from '../data/registry';
import { MODEL_KINDS, type ModelKind } from '../experiment/registry';
import { optionError } from '../models/options';
import { validationOf } from './objective';
import { resolveStudySpace } from './spaces';
import type { ModelStudyConfig, ObjectiveSpec, StudyConfig } from './types';

export const STRATEGIES = ['bayes', 'random', 'lange'] as const;

/** A study's settings; undefined ones take `study run`'s defaults. Errors name the `study run` flag. */
export interface StudySettings {
  model: string;
  dataset?: string;
  /** The total number of trials (required). */
  trials?: number;
  /** A space preset name (default, lange2019) or a JSON file. */
  space?: string;
  strategy?: string;
  folds?: number;
  /** Instead of folds: one holdout split, a fraction (< 1) or a whole count of training images. */
  holdout?: number;
  epochs?: number;
  seed?: number;
  splitSeed?: number;
  prune?: boolean;
  dataDir?: string;
}

function checkInteger(flag: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < min)) throw optionError('study', flag, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
}

export function studyConfig(s: StudySettings): ModelStudyConfig {
  if (!MODEL_KINDS.includes(s.model as ModelKind)) throw optionError('study', '--model', `must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(s.model)}`);
  const dataset = s.dataset ?? 'mnist-10k';
  if (!datasetNames().includes(dataset)) throw optionError('study', '--dataset', `must be one of ${datasetNames().join(', ')}, got ${JSON.stringify(dataset)}`);
  const strategy = s.strategy ?? 'bayes';
  if (!(STRATEGIES as readonly string[]).includes(strategy)) throw optionError('study', '--strategy', `must be ${STRATEGIES.join(', ').replace(/, (?=[^,]*$)/, ' or ')}, got ${JSON.stringify(strategy)}`);
  if (s.trials === undefined) throw optionError('study', '--trials', 'is needed for a new study (the total number of trials)');
  checkInteger('--trials', s.trials, 1);
  checkInteger('--folds', s.folds, 2);
  checkInteger('--epochs', s.epochs, 1);
  checkInteger('--seed', s.seed, 0);
  checkInteger('--split-seed', s.splitSeed, 0);
  if (s.holdout !== undefined) {
    if (s.folds !== undefined) {
      throw optionError('study', '--holdout', 'cannot be combined with --folds: a study validates on k folds or on one holdout split, not both');
    }
    if (!Number.isFinite(s.holdout) || s.holdout <= 0 || (s.holdout >= 1 && !Number.isSafeInteger(s.holdout))) {
      throw optionError('study', '--holdout', `must be a fraction between 0 and 1 (0.2) or a whole count of images (2000), got ${JSON.stringify(s.holdout)}`);
    }
  }
  const space = resolveStudySpace(s.model as ModelKind, s.space ?? 'default');
  const seed = s.seed ?? 0;
  const objective: ObjectiveSpec = {
    model: s.model as ModelKind, fixed: space.fixed, dataset, ...(s.dataDir !== undefined ? { dataDir: path.resolve(s.dataDir) } : {}),
    folds: s.holdout !== undefined ? 0 : s.folds ?? 3, ...(s.holdout !== undefined ? { holdout: s.holdout } : {}), epochs: s.epochs ?? 10,
  };
  try {
    validationOf(objective);
  } catch (err) {
    // The one check left: a count of images as large as the training split.
    throw optionError('study', '--holdout', (err as Error).message.replace(/^study objective: holdout /, ''));
  }
  return {
    objective,
    space: space.params, spaceName: space.name, direction: 'maximize', strategy: strategy as StudyConfig['strategy'], trials: s.trials,
    seed, splitSeed: s.splitSeed ?? seed, prune: s.prune === true,
  };
}
