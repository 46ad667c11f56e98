// The kernels as typed async functions (the sub-path `dendrite-bench/kernels`). Each runs off the
// main thread and returns a promise; a bad argument rejects the promise with a TypeError or
// RangeError naming it. Each takes an optional AbortSignal (`signal`).
//
// The addon is loaded at the first call, not at import: importing this module never needs a build,
// and a missing or broken addon rejects the call with an error that names the fix.
import type { CpuScheduling, NativeAddon } from './native';
import { AbortError, throwIfAborted } from './train/model';

export type {
  DeviceString,
  ExecOptions,
  UnaryOpName,
  ConvShape,
  PoolShape,
  BatchNormShape,
  RngOptions,
  CpuScheduling,
  CpuLaneLoad,
} from './native';

let nativeModule: typeof import('./native') | undefined;
function addon(): NativeAddon {
  // Required once: a require() per call cost ~3 us of a ~6 us small call.
  nativeModule ??= require('./native') as typeof import('./native');
  return nativeModule.native;
}

let defaultThreads: number | undefined;

/** Sets the CPU thread count used when a call gives none (undefined: DENDRITE_NUM_THREADS, OMP_NUM_THREADS or the cores this process may use). */
export function setDefaultThreads(threads: number | undefined): void {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 1024)) {
    throw new RangeError(`setDefaultThreads: threads must be an integer in [1, 1024], got ${threads}`);
  }
  defaultThreads = threads;
}

export function getDefaultThreads(): number {
  return defaultThreads ?? addon().devices().cpu.defaultThreads;
}

/** Sets how native CPU work is shared (docs/service.md); returns the settings and the lanes' load. */
export function setCpuScheduling(settings: { smallCallLimit?: number; syncCallLimit?: number }): CpuScheduling {
  return addon().cpuScheduling(settings);
}

/** The CPU scheduling settings and what each lane holds now. */
export function getCpuScheduling(): CpuScheduling {
  return addon().cpuScheduling({});
}

type KernelName = Exclude<keyof NativeAddon, 'devices' | 'resolveDevice' | 'cpuScheduling'>;
/** Every kernel's options, plus `signal`. */
export type KernelOptions<K extends KernelName> = Parameters<NativeAddon[K]>[0] & { signal?: AbortSignal };
type Kernel<K extends KernelName> = (options: KernelOptions<K>) => ReturnType<NativeAddon[K]>;

// An aborted call rejects at once with an AbortError (cause: signal.reason). A call already handed
// to the native side runs to its end there (one kernel call: bounded) and its result is dropped.
function kernel<K extends KernelName>(name: K): Kernel<K> {
  const wrapped = async (options: { signal?: AbortSignal; threads?: number }) => {
    const fn = addon()[name] as (o: object) => Promise<unknown>;
    if (options === null || typeof options !== 'object' || !('signal' in options)) {
      return fn(defaultThreads !== undefined && options?.threads === undefined ? { ...options, threads: defaultThreads } : options);
    }
    const { signal, ...rest } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`${name}: signal must be an AbortSignal`);
    throwIfAborted(signal, name);
    const call = fn(defaultThreads !== undefined && rest.threads === undefined ? { ...rest, threads: defaultThreads } : rest);
    if (!signal) return call;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(new AbortError(`${name} aborted`, { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
      call.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  };
  return wrapped as unknown as Kernel<K>;
}

/** C = alpha * op(A) * op(B) + beta * C (row-major; A is m x k, B is k x n as op() sees them). */
export const gemm = kernel('gemm');
/** y = alpha * op(A) * x + beta * y. */
export const gemv = kernel('gemv');
/** A + alpha * x * y^T (a new array). */
export const ger = kernel('ger');
/** Elementwise sigmoid, its derivative, ReLU, its derivative, or scale * x + shift. */
export const unary = kernel('unary');
export const rowSums = kernel('rowSums');
export const colSums = kernel('colSums');
/** Mean softmax cross-entropy, per-example losses, and the gradient of the mean w.r.t. the logits. */
export const softmaxCrossEntropy = kernel('softmaxCrossEntropy');
export const conv2dForward = kernel('conv2dForward');
export const conv2dBackward = kernel('conv2dBackward');
export const maxPool2x2Forward = kernel('maxPool2x2Forward');
export const maxPool2x2Backward = kernel('maxPool2x2Backward');
export const batchNormForward = kernel('batchNormForward');
export const batchNormBackward = kernel('batchNormBackward');
/** Updates param (and velocity) in place. */
export const sgdUpdate = kernel('sgdUpdate');
/** Updates param, m and v in place. */
export const adamUpdate = kernel('adamUpdate');
export const randomUniform = kernel('randomUniform');
export const randomNormal = kernel('randomNormal');
export const randomBernoulli = kernel('randomBernoulli');
export const randomPoisson = kernel('randomPoisson');
export const randomWald = kernel('randomWald');
