// What the native core can run on, and which device a device string means here.
import { native, type DevicesInfo, type DeviceString, type ResolvedDevice } from './native';

/** The CPU (threads, whether the kernels are multi-threaded, SIMD level) and the CUDA devices, or why CUDA is unavailable. */
export function devices(): DevicesInfo {
  return native.devices();
}

/**
 * Resolves "cpu", "cuda", "cuda:N" or "auto". Throws when CUDA is asked for and cannot be used
 * (the message names the reason); "auto" falls back to the CPU and says why in `fallback`.
 */
export function resolveDevice(device: DeviceString | string): ResolvedDevice {
  return native.resolveDevice(device);
}

/** A few human-readable lines describing devices(), for the CLI and logs. */
export function describeDevices(info: DevicesInfo = devices()): string[] {
  const lines = [
    `cpu: ${info.cpu.logicalCores} logical cores, ${info.cpu.defaultThreads} threads by default, ` +
      `${info.cpu.openmp ? 'multi-threaded' : 'single-threaded'} kernels, SIMD ${info.cpu.simd}`,
  ];
  if (info.cuda.available) {
    for (const d of info.cuda.devices) {
      lines.push(
        `cuda:${d.index}: ${d.name}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, ` +
          `compute capability ${d.computeCapability}, ${d.multiprocessors} SMs`,
      );
    }
  } else {
    lines.push(`cuda: unavailable (${info.cuda.reason})`);
  }
  return lines;
}
