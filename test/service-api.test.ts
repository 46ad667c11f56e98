// What a service embedding the package relies on (docs/service.md): small kernel calls do not queue
// behind long ones (the CPU lanes), every kernel takes an AbortSignal, and training progress carries
// elapsed time and an ETA. Ordering, not timing, is asserted here; test/alone/service.test.ts times it.
import test from 'ava';
import { runExperiment, type ExperimentEvent } from '../src';
import { gemm, unary, randomNormal, setCpuScheduling, getCpuScheduling } from '../src/kernels';

const big = 1536;
const bigA = new Float32Array(big * big).fill(0.25);
const small = Float32Array.from({ length: 64 * 64 }, (_, i) => (i % 9) - 4);

// Whether a long GEMM (one thread, 7 GFLOP: tens of ms at least) issued first had finished when a
// small one, issued once the long one runs on the main lane, settled. Read from the main lane's
// count of finished jobs as the small call settles: the order in which two promises settle is not
// enough, since two jobs ending together may be completed in either order.
async function longFinishedFirst(): Promise<boolean> {
  const before = getCpuScheduling().lanes.main.done;
  const long = gemm({ a: bigA, b: bigA, m: big, n: big, k: big, threads: 1 });
  while (getCpuScheduling().lanes.main.running === 0) await new Promise((r) => setImmediate(r));
  const mainDone = await gemm({ a: small, b: small, m: 64, n: 64, k: 64 }).then(() => getCpuScheduling().lanes.main.done - before);
  await long;
  return mainDone > 0;
}

// Runs fn with the synchronous path off, so that the small call takes a lane.
async function withoutSyncPath<T>(fn: () => Promise<T>): Promise<T> {
  setCpuScheduling({ syncCallLimit: 0 });
  try {
    return await fn();
  } finally {
    setCpuScheduling({ syncCallLimit: 2 ** 22 });
  }
}

test.serial('a small kernel call issued behind a long one finishes first (its own lane); with the lane off it waits', (t) => withoutSyncPath(async () => {
  const before = getCpuScheduling();
  t.is(before.smallCallLimit, 2 ** 24);
  t.false(await longFinishedFirst());
  const after = getCpuScheduling();
  t.is(after.lanes.small.done - before.lanes.small.done, 1);
  t.is(after.lanes.main.done - before.lanes.main.done, 1);

  setCpuScheduling({ smallCallLimit: 0 });
  try {
    t.true(await longFinishedFirst());
  } finally {
    setCpuScheduling({ smallCallLimit: 2 ** 24 });
  }
  t.throws(() => setCpuScheduling({ smallCallLimit: -1 }), { instanceOf: RangeError, message: /smallCallLimit must be >= 0/ });
  t.throws(() => setCpuScheduling({ smallCallLimit: 'big' as unknown as number }), { instanceOf: TypeError, message: /smallCallLimit/ });
  t.throws(() => setCpuScheduling({ limit: 1 } as never), { instanceOf: TypeError, message: /limit/ });
}));

test.serial('a call below the sync limit runs on the calling thread: no lane, never behind a long call', async (t) => {
  const before = getCpuScheduling();
  t.is(before.syncCallLimit, 2 ** 22);
  await gemm({ a: small, b: small, m: 64, n: 64, k: 64 });
  const after = getCpuScheduling();
  t.is(after.lanes.small.done, before.lanes.small.done, 'no lane ran it');
  t.is(after.lanes.main.done, before.lanes.main.done, 'no lane ran it');
  t.false(await longFinishedFirst());
  // Errors are the same rejections as from the lanes; the limit is checked like the other.
  await t.throwsAsync(gemm({ a: small, b: small, m: 64, n: 64, k: 65 }), { instanceOf: RangeError, message: /gemm: a .* 4160/ });
  t.throws(() => setCpuScheduling({ syncCallLimit: -1 }), { instanceOf: RangeError, message: /syncCallLimit must be >= 0/ });
  t.is(getCpuScheduling().syncCallLimit, 2 ** 22);
});

test.serial('a small call gives the same numbers on the calling thread and on either lane', async (t) => {
  const here = await gemm({ a: small, b: small, m: 64, n: 64, k: 64, threads: 2 });
  await withoutSyncPath(async () => {
    t.deepEqual(await gemm({ a: small, b: small, m: 64, n: 64, k: 64, threads: 2 }), here);
    setCpuScheduling({ smallCallLimit: 0 });
    try {
      t.deepEqual(await gemm({ a: small, b: small, m: 64, n: 64, k: 64, threads: 1 }), here);
    } finally {
      setCpuScheduling({ smallCallLimit: 2 ** 24 });
    }
  });
});

test('kernels take an AbortSignal: aborted before or during the call, they reject with an AbortError carrying the reason', async (t) => {
  const before = new AbortController();
  before.abort(new Error('not wanted'));
  const e1 = await t.throwsAsync(randomNormal({ seed: 1, n: 10, signal: before.signal }), { name: 'AbortError' });
  t.is((e1!.cause as Error).message, 'not wanted');

  const during = new AbortController();
  const call = gemm({ a: bigA, b: bigA, m: big, n: big, k: big, threads: 1, signal: during.signal });
  during.abort('shutting down');
  const e2 = await t.throwsAsync(call, { name: 'AbortError', message: 'gemm aborted' });
  t.is(e2!.cause, 'shutting down');
  t.is((e2 as Error & { code?: string }).code, 'ABORT_ERR');

  // A signal that never fires changes nothing; a bad one is a TypeError.
  const quiet = new AbortController();
  t.deepEqual(await unary({ op: 'relu', x: Float32Array.of(-1, 2), signal: quiet.signal }), Float32Array.of(0, 2));
  await t.throwsAsync(unary({ op: 'relu', x: Float32Array.of(1), signal: {} as AbortSignal }), { instanceOf: TypeError, message: /signal must be an AbortSignal/ });
});

test('training progress carries the elapsed time and an ETA that runs down to zero', async (t) => {
  const progress: Array<Extract<ExperimentEvent, { type: 'progress' }>> = [];
  await runExperiment({ model: 'mlp', dataset: 'mnist-10k', epochs: 2, seed: 1, chunkSize: 1500, test: false, options: { layers: [50, 10] } },
    { onEvent: (e) => { if (e.type === 'progress') progress.push(e); } });
  t.true(progress.length >= 10);
  for (let i = 1; i < progress.length; i++) t.true(progress[i].elapsedSeconds >= progress[i - 1].elapsedSeconds);
  t.true(progress[0].etaSeconds > 0);
  t.is(progress.at(-1)!.etaSeconds, 0);
  for (const p of progress) t.true(Number.isFinite(p.etaSeconds) && p.etaSeconds >= 0);
  // Halfway through, the ETA is about the time spent so far (the same pace).
  const half = progress.reduce((best, p) => {
    const f = (x: typeof p): number => Math.abs(((x.epoch - 1) * x.epochSize + x.position) / (2 * x.epochSize) - 0.5);
    return f(p) < f(best) ? p : best;
  });
  t.true(half.etaSeconds > 0.2 * half.elapsedSeconds && half.etaSeconds < 5 * half.elapsedSeconds, JSON.stringify(half));
});
