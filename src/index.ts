// The public API of dendrite-bench (the package root, `dendrite-bench`).
//
// Two sub-paths hold the rest (see package.json "exports"):
//   dendrite-bench/kernels  the native kernels as async functions (gemm, conv2dForward, ...), setDefaultThreads
//   dendrite-bench/data     everything of the data module: the loaders below plus the registry, file
//                           parsers (IDX, CIFAR, tar), checksums, RNG, batch filling, PNG sample grids
// Every name is listed explicitly (no `export *`), so that this file is the whole public surface.
// tsc compiles each to `Object.defineProperty(exports, name, ...)`, a form Node's cjs-module-lexer
// detects: named ESM imports (`import { loadDataset } from 'dendrite-bench'`) work from .mjs files
// (test/consumers.test.ts checks it on the packed package).

// ---- devices ----
export type {
  DeviceString,
  ExecOptions,
  CpuInfo,
  CudaInfo,
  CudaDevice,
  DevicesInfo,
  ResolvedDevice,
} from './native';
export { devices, resolveDevice, describeDevices } from './devices';

// ---- datasets: loading, listing, fetching, verifying, splits ----
export { DatasetError, type DatasetErrorCode } from './data/errors';
export { type ImageSet, type Dataset, subset, concatSets, classCounts } from './data/types';
export { datasetNames } from './data/registry';
export type { DataOptions } from './data/paths';
export { type LoadOptions, loadDataset, clearDatasetCache, locateDataset, howToGet } from './data/load';
export { type FetchOptions, type FetchResult, type DownloadProgress, fetchDataset } from './data/fetch';
export { type DatasetReport, type ListEntry, verifyDataset, listDatasets } from './data/status';
export { type IndexSplit, validationSplit, stratifiedKFold, epochOrder } from './data/splits';

// ---- models ----
export type { SequentialLayer, SequentialOptions, OptimizerOptions, NativeSequential } from './native';
export { SequentialModel, type SequentialModelOptions, type FeedbackMode, type AlignmentRecord } from './models/sequential';
export { createMlp, mlpLayers, type MlpOptions } from './models/mlp';
export { createCnn, cnnLayers, cnnGeometry, type CnnOptions, type CnnGeometry } from './models/cnn';
export { SegregatedNetwork } from './models/segregated';
export type {
  DigitDataset,
  SegregatedOptions,
  TrainOptions,
  TrainProgress,
  EpochMetrics,
  EvaluateResult,
  SegregatedCheckpoint,
  TrainRecordOptions,
  TrainRecording,
} from './models/segregated';
export type { SegregatedPosition, SegregatedRecording } from './native';
export { SegregatedTrainable, type SegregatedTrainableOptions } from './models/segregated-trainable';

// ---- training ----
export type { TrainableModel, ChunkRequest, ChunkResult, EvalResult, ModelState } from './train/model';
export type { ImageSetLike } from './train/dataset';
export { train, type TrainSplits, type LoopOptions, type TrainResult, type TrainEvent, type CurvePoint, type EpochRecord } from './train/loop';
export { saveCheckpoint, saveWeights, modelCheckpoint, loadCheckpoint, encodeCheckpoint, decodeCheckpoint, type CheckpointData } from './train/checkpoint';
export { loadTrainingData, type TrainingData } from './train/data';

// ---- experiments: one spec, one runner, one result (src/experiment) ----
export {
  runExperiment,
  runExperimentWithWeights,
  loadTrainedModel,
  resolveSpec,
  experimentSchema,
  modelSchema,
  MODELS,
  MODEL_KINDS,
  modelEntry,
  resolveModelOptions,
  EXPERIMENT_SETTINGS,
  EXPERIMENT_RESULT_FORMAT,
  type ExperimentSpec,
  type ResolvedSpec,
  type ExperimentSettings,
  type ExperimentResult,
  type ExperimentEvent,
  type Environment,
  type RunOptions,
  type ModelKind,
  type ModelEntry,
  type ModelContext,
} from './experiment';
export {
  resolveOptions,
  optionsSchema,
  isOptionError,
  type OptionSpec,
  type OptionTable,
  type GivenOptions,
  type ResolvedOptions,
  type OptionError,
  type Condition,
} from './models/options';
export { SEGREGATED_OPTIONS, paperLearningRates, type SegregatedModelOptions } from './models/segregated-options';
export { MLP_OPTIONS, CNN_OPTIONS, type MlpModelOptions, type CnnModelOptions } from './models/baseline-options';

// ---- presets, results folders and reports ----
export {
  listPresets, loadPreset, planRuns, isStudyPreset, PRESET_FORMAT, STUDY_PRESET_FORMAT, type Preset, type StudyPreset, type StudyPresetSettings,
  type AnyPreset, type PlannedRun,
} from './experiment/presets';
export {
  makeResults,
  writeResults,
  readResults,
  writeWeightsFile,
  weightsFileName,
  ResultsError,
  RESULTS_FORMAT,
  type Results,
  type ResultsExtras,
  type LabelledResult,
  type WeightsFile,
} from './report/results';
export { buildReport, writeReport, type Report, type ReportOptions } from './report/html';
export { DivergenceError, type WeightStats } from './train/loop';
export { AbortError, isAbortError } from './train/model';

// ---- hyperparameter search: the Bayesian optimiser (src/bo) and studies (src/study); docs/bo.md ----
export {
  Space,
  spaceFromOptionTable,
  Optimizer,
  InfeasibleError,
  type Params,
  type ParamValue,
  type ParamSpec,
  type ParamCondition,
  type Constraint,
  type Direction,
  type Strategy,
  type TrialResult,
  type Trial,
  type OptimizerOptions as BayesOptimizerOptions,
  type OptimizeResult,
  type Objective,
  type Acquisition,
} from './bo';
export {
  optimize,
  type OptimizeOptions,
  runStudy,
  runWorker,
  evaluateTrial,
  finalRun,
  MemoryStorage,
  SqliteStorage,
  PostgresStorage,
  openStorage,
  copyStudy,
  StudyError,
  isStudyError,
  presetSpace,
  loadSpaceFile,
  trialOptions,
  bestTrial,
  medianPrune,
  finishedCount,
  countsTowardBudget,
  classifyTrialError,
  EnvironmentError,
  exportJson,
  exportCsv,
  exportLange,
  parseLange,
  parseStudyJson,
  parseStudyCsv,
  studyConfig,
  type StudySettings,
  type TrialProgress,
  type StudyStorage,
  type PostgresOptions,
  type OpenStorageOptions,
  type CopyResult,
  type StudyConfig,
  type ObjectiveSpec,
  type FunctionObjectiveSpec,
  type StudyOptimizerSettings,
  type StudyRecord,
  type StudyTrial,
  type StudyTrialState,
  type TrialOutcome,
  type FinalResult,
  type WorkerRecord,
  type StudyRunOptions,
  type StudyRunResult,
  type StudyEvent,
  type StudySpace,
  type TrialErrorKind,
} from './study';
