// The Bayesian optimiser's public surface (docs/bo.md). Studies (storage, CLI, k-fold objectives)
// build on `Optimizer.suggest`, a pure function of the options, the history and the pending set.
export {
  Space,
  spaceFromOptionTable,
  valueProblem,
  type ParamValue,
  type Params,
  type ParamCondition,
  type FloatParam,
  type IntParam,
  type BoolParam,
  type CategoricalParam,
  type ParamSpec,
  type Constraint,
  type SpaceOptions,
  type FromTableOptions,
} from './space';
export {
  Optimizer,
  optimizeInMemory,
  InfeasibleError,
  paramsKey,
  type Direction,
  type TrialState,
  type TrialResult,
  type Trial,
  type Strategy,
  type OptimizerOptions,
  type SuggestionInfo,
  type Objective,
  type InMemoryOptimizeOptions,
  type OptimizeResult,
} from './optimize';
export { type Acquisition } from './acquisition';
export { GaussianProcess, defaultPriors, dimensionScaledPriors, type GPOptions, type Hyperparameters, type LogNormalPrior } from './gp';
export { Sobol, SOBOL_MAX_DIMENSION, type SobolOptions } from './sobol';
export { CubeTransform, type Transform } from './transform';
export { branin, hartmann6, simpleRegret, median, type TestProblem, type RegretOptions } from './benchmarks';
