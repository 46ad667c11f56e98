// Hyperparameter studies (docs/bo.md "Studies"): storage, workers, objectives, spaces, exports.
export {
  type StudyTrialState, type ObjectiveSpec, type FunctionObjectiveSpec, type ModelStudyConfig, type StudyOptimizerSettings, isModelObjective, type StudyConfig, type FinalResult, type StudyRecord, type IntermediateValue, type StudyTrial,
  type WorkerRecord, type TrialOutcome, type ImportedTrial, TRIAL_STATES, FINISHED_STATES,
} from './types';
export {
  StudyError, isStudyError, MAX_ATTEMPTS, countsTowardBudget, finishedCount, type StudyErrorCode, type StudyStorage, type ClaimView,
  type Proposer, type RetryPolicy, type WorkerInfo,
} from './storage';
export { MemoryStorage } from './memory';
export { SqliteStorage, SQLITE_SCHEMA_VERSION, type SqliteOptions } from './sqlite';
export { PostgresStorage, POSTGRES_SCHEMA_VERSION, type PostgresOptions } from './postgres';
export { openStorage, storageKind, storageSpec, type OpenStorageOptions, type StorageKind } from './storage-url';
export { copyStudy, type CopyResult } from './copy';
export { studyOptimizer, optimizerView, studyProposer, bestTrial, medianPrune, PRUNE_STARTUP_TRIALS } from './rules';
export { evaluateTrial, modelStudy, stepsAreEpochs, trialSpec, splitSeedOf, validationOf, validationLabel, type TrialRun, type StudyValidation, type TrialProgress } from './objective';
export { classifyTrialError, EnvironmentError, ENVIRONMENT_EXIT_CODE, type TrialErrorKind } from './errors';
export {
  presetSpace, loadSpaceFile, resolveStudySpace, listSpacePresets, checkStudySpace, trialOptions, translateLange,
  SPACE_PRESET_FORMAT, type StudySpace, type SpacePreset,
} from './spaces';
export { runWorker, workerIsDead, STALE_HEARTBEAT_MS, HEARTBEAT_MS, type WorkerOptions, type Evaluate } from './worker';
export { runStudy, finalRun, configDifferences, MAX_STARTUP_FAILURES, type StudyRunOptions, type StudyRunResult, type StudyEvent } from './run';
export { exportJson, exportCsv, exportLange, parseLange, parseStudyJson, parseStudyCsv, STUDY_EXPORT_FORMAT, type StudyExport } from './export';
export { studyConfig, STRATEGIES, type StudySettings } from './config';
export { optimize, type OptimizeOptions } from './optimize';
