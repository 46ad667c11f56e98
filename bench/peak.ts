// What the benches compare their throughput with: the machine's measured GEMM peak (our own
// GEMM on a large square product, the fastest dense kernel we have) and the dense FLOPs of one
// training example of a sequential network.
import { native, type SequentialLayer } from '../src/native';

/**
 * GFLOP/s of the CPU backend's 1024^3 GEMM with `threads` threads: the best of at least 5 calls
 * and 300 ms, after 300 ms of warm-up (the first calls of a process run at a third of the speed).
 */
export async function measuredGemmPeak(threads: number): Promise<number> {
  const n = 1024;
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const call = () => native.gemm({ a, b, m: n, n, k: n, threads });
  const ms = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e6;
  const warm = process.hrtime.bigint();
  while (ms(warm) < 300) await call();
  let best = Infinity;
  const start = process.hrtime.bigint();
  for (let reps = 0; reps < 5 || ms(start) < 300; reps++) {
    const t0 = process.hrtime.bigint();
    await call();
    best = Math.min(best, ms(t0) / 1e3);
  }
  return (2 * n * n * n) / best / 1e9;
}

/**
 * Dense FLOPs of one training example (forward, weight gradients, and input gradients of every
 * weighted layer but the first): 2 per multiply-add of the linear and convolution layers. The
 * elementwise work (batch-norm, ReLU, pooling, loss, optimiser) is left out.
 */
export function trainingFlops(input: { channels: number; height: number; width: number }, layers: SequentialLayer[]): number {
  let c = input.channels, h = input.height, w = input.width;
  let total = 0, weightedSeen = false;
  for (const l of layers) {
    let macs = 0;
    if (l.type === 'linear') {
      macs = c * h * w * l.outFeatures;
      c = l.outFeatures;
      h = w = 1;
    } else if (l.type === 'conv2d') {
      const kh = l.kernelH ?? l.kernel ?? 1, kw = l.kernelW ?? l.kernel ?? 1, s = l.stride ?? 1, p = l.pad ?? 0;
      const oh = Math.floor((h + 2 * p - kh) / s) + 1, ow = Math.floor((w + 2 * p - kw) / s) + 1;
      macs = l.outChannels * oh * ow * c * kh * kw;
      c = l.outChannels;
      h = oh;
      w = ow;
    } else if (l.type === 'maxPool2x2') {
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    }
    // forward + weight gradient, + input gradient above the first layer with parameters
    total += 2 * macs * (weightedSeen ? 3 : 2);
    if (l.type === 'linear' || l.type === 'conv2d' || l.type === 'batchNorm') weightedSeen = true;
  }
  return total;
}
