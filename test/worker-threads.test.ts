// The addon in two worker threads at once, beside the main thread: each trains a real network and
// calls a kernel; every thread gets the numbers a lone run with the same seed gets.
import test from 'ava';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { trainAndCompute, type WorkerOutcome } from './helpers/train-in-worker';

function inWorker(seed: number): Promise<WorkerOutcome> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(__dirname, 'helpers', 'train-in-worker.js'), { workerData: { seed } });
    worker.once('message', (m: WorkerOutcome & { error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    worker.once('error', reject);
  });
}

test('two worker threads train and compute at once, beside the main thread, with the numbers of lone runs', async (t) => {
  const [w1, w2, main] = await Promise.all([inWorker(1), inWorker(2), trainAndCompute(3)]);
  const lone1 = await trainAndCompute(1);
  const lone2 = await trainAndCompute(2);
  t.deepEqual(w1, lone1);
  t.deepEqual(w2, lone2);
  t.notDeepEqual(w1.gemm, w2.gemm);
  for (const o of [w1, w2, main]) t.true(o.testAccuracy > 0.85, `seed ${o.seed}: test accuracy ${o.testAccuracy}`);
});
