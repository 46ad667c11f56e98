// Run in a worker thread by test/worker-threads.test.ts: one real experiment and one kernel call,
// the numbers posted back to the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { runExperiment } from '../../src';
import { gemm } from '../../src/kernels';

export interface WorkerOutcome {
  seed: number;
  trainLoss: number;
  testAccuracy: number;
  gemm: number[];
}

/** The experiment and kernel call every thread runs, so their numbers can be compared. */
export async function trainAndCompute(seed: number): Promise<WorkerOutcome> {
  const r = await runExperiment({ model: 'mlp', dataset: 'mnist-10k', epochs: 1, seed, threads: 2, options: { layers: [100, 10] } });
  const a = Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i + seed));
  const c = await gemm({ a, b: a, m: 64, n: 64, k: 64, threads: 2 });
  return { seed, trainLoss: r.epochs[0].trainLoss, testAccuracy: r.test!.accuracy, gemm: Array.from(c.subarray(0, 8)) };
}

if (parentPort && workerData?.seed !== undefined) {
  trainAndCompute(workerData.seed as number).then(
    (outcome) => parentPort!.postMessage(outcome),
    (err: unknown) => parentPort!.postMessage({ error: String((err as Error)?.stack ?? err) }),
  );
}
