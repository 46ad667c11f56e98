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
} from './native';
export { devices, resolveDevice, describeDevices } from './devices';
export * from './kernels';
export * from './data';
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
