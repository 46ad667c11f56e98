// The experiment layer: one spec, one runner, one result format (src/experiment/*.ts).
export { MODELS, MODEL_KINDS, modelEntry, resolveModelOptions, type ModelKind, type ModelEntry, type ModelContext } from './registry';
export { EXPERIMENT_SETTINGS, resolveSpec, experimentSchema, modelSchema, type ExperimentSpec, type ResolvedSpec, type ExperimentSettings } from './spec';
export { runExperiment, runExperimentWithWeights, loadTrainedModel, environment, EXPERIMENT_RESULT_FORMAT, type ExperimentResult, type ExperimentEvent, type Environment, type RunOptions } from './run';
