// The public API of dendrite-bench.
export type {
  DeviceString,
  ExecOptions,
  CpuInfo,
  CudaInfo,
  CudaDevice,
  DevicesInfo,
  ResolvedDevice,
  UnaryOpName,
  ConvShape,
  PoolShape,
  BatchNormShape,
  RngOptions,
  SequentialLayer,
  SequentialOptions,
  OptimizerOptions,
  NativeSequential,
} from './native';
export { devices, resolveDevice, describeDevices } from './devices';
export * from './kernels';
export * from './data';
export { SequentialModel, type SequentialModelOptions, type FeedbackMode, type AlignmentRecord } from './models/sequential';
export { createMlp, mlpLayers, type MlpOptions } from './models/mlp';
export { createCnn, cnnLayers, cnnGeometry, type CnnOptions, type CnnGeometry } from './models/cnn';
export type { TrainableModel, ChunkRequest, ChunkResult, EvalResult, ModelState } from './train/model';
export { train, type TrainSplits, type LoopOptions, type TrainResult, type TrainEvent, type CurvePoint, type EpochRecord } from './train/loop';
export { saveCheckpoint, loadCheckpoint, encodeCheckpoint, decodeCheckpoint, type CheckpointData } from './train/checkpoint';
export { loadTrainingData, type TrainingData } from './train/data';
export { SegregatedNetwork } from './models/segregated';
export type {
  DigitDataset,
  SegregatedOptions,
  TrainOptions,
  TrainProgress,
  EpochMetrics,
  EvaluateResult,
  SegregatedCheckpoint,
} from './models/segregated';
export { SegregatedTrainable, type SegregatedTrainableOptions } from './models/segregated-trainable';
