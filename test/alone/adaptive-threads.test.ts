// The thread cut of busy machines (native/cpu/team.cpp): with every core taken by other processes,
// parallel kernels use one thread; once they are gone, the full team again; busy processes at nice 19
// cut nothing; the numbers never change.
// Run alone (test/alone/): other tests' processes would count as load.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { gemm, getCpuScheduling } from '../../src/kernels';

const n = 300;  // above the small-call limit: the main lane, with the threads asked for
const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Kernel calls 30 ms apart: the governor samples at most every 20 ms and cuts after three samples.
async function calls(count: number): Promise<Float32Array> {
  let c: Float32Array = new Float32Array(0);
  for (let i = 0; i < count; i++) {
    c = await gemm({ a, b: a, m: n, n, k: n, threads: 2 });
    await sleep(30);
  }
  return c;
}

// Calls until the cut has stayed the same for three calls in a row (at most `ms`): the machine's
// own state, whatever processes the tests before this one left winding down.
async function settled(ms: number): Promise<number | null> {
  const end = Date.now() + ms;
  let last = getCpuScheduling().threadLimit;
  let same = 0;
  while (same < 3 && Date.now() < end) {
    await calls(1);
    const now = getCpuScheduling().threadLimit;
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

(process.platform === 'linux' ? test.serial : test.skip)('with every core busy elsewhere parallel work takes one thread; when they go, the cut ends; the same numbers', async (t) => {
  const before = await settled(5000);
  const quiet = await calls(1);
  t.log(`cut before: ${before}; /proc/loadavg ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);

  const busy: ChildProcess[] = [];
  t.teardown(() => busy.forEach((c) => c.kill('SIGKILL')));
  for (let i = 0; i < os.availableParallelism(); i++) busy.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  await sleep(300);
  const loaded = await calls(5);
  t.is(getCpuScheduling().threadLimit, 1);
  t.deepEqual(loaded, quiet);

  for (const c of busy) c.kill('SIGKILL');
  await sleep(200);
  // Back to what it was before the busy processes (no cut, on a machine this test has to itself).
  const end = Date.now() + 5000;
  while (getCpuScheduling().threadLimit !== before && Date.now() < end) await calls(1);
  t.is(getCpuScheduling().threadLimit, before);
});

(process.platform === 'linux' ? test.serial : test.skip)('busy processes at nice 19 are no load: the full team stays (they yield the cores to ours)', async (t) => {
  const before = await settled(5000);
  const quiet = await calls(1);
  const busy: ChildProcess[] = [];
  t.teardown(() => busy.forEach((c) => c.kill('SIGKILL')));
  for (let i = 0; i < os.availableParallelism(); i++) busy.push(spawn('nice', ['-n', '19', process.execPath, '-e', 'for (;;) {}'], { stdio: 'ignore' }));
  await sleep(300);
  // Long enough for the niceness window (200 ms) and for a cut to show (three samples 20 ms apart).
  const loaded = await calls(20);
  t.log(`cut before: ${before}; beside ${busy.length} niced processes: ${getCpuScheduling().threadLimit}`);
  t.is(getCpuScheduling().threadLimit, before);
  t.deepEqual(loaded, quiet);
});
