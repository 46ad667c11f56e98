import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

import { describeDevices, devices, resolveDevice } from '../src/index';
import { gemm } from '../src/kernels';

const cudaAvailable = devices().cuda.available;
const distIndex = path.join(__dirname, '..', 'src', 'index.js');

test('devices() describes the CPU and CUDA', (t) => {
  const info = devices();
  t.true(info.cpu.logicalCores >= 1);
  t.true(info.cpu.defaultThreads >= 1);
  t.is(typeof info.cpu.openmp, 'boolean');
  t.true(['avx512', 'avx2', 'sse2', 'neon', 'scalar'].includes(info.cpu.simd));
  t.is(typeof info.cuda.compiled, 'boolean');
  // A CUDA build names the architectures of its device code (CMake's list, e.g. 75-real,...,90).
  if (info.cuda.compiled) t.regex(info.cuda.architectures ?? '', /^\d+(-real|-virtual)?(,\d+(-real|-virtual)?)*$/);
  else t.is(info.cuda.architectures, null);
  if (info.cuda.available) {
    t.true(info.cuda.devices.length > 0);
    t.regex(info.cuda.devices[0].computeCapability, /^\d+\.\d+$/);
  } else {
    t.is(info.cuda.devices.length, 0);
    t.true((info.cuda.reason ?? '').length > 10, 'an unavailable CUDA says why');
  }
  t.true(describeDevices(info).length >= 2);
  // CI builds single-threaded kernels too (DENDRITE_OPENMP=OFF), and says which build it is testing.
  if (process.env.DENDRITE_EXPECT_OPENMP) t.is(info.cpu.openmp, process.env.DENDRITE_EXPECT_OPENMP === '1');
});

test('"cpu" resolves to the CPU', (t) => {
  t.deepEqual(resolveDevice('cpu'), { device: 'cpu' });
});

test('"auto" falls back to the CPU and says why, or picks CUDA', (t) => {
  const r = resolveDevice('auto');
  if (cudaAvailable) {
    t.is(r.device, 'cuda:0');
    t.is(r.fallback, undefined);
  } else {
    t.is(r.device, 'cpu');
    t.is(r.fallback, devices().cuda.reason);
  }
});

test('asking for CUDA where there is none names the reason', async (t) => {
  if (cudaAvailable) {
    t.is(resolveDevice('cuda').device, 'cuda:0');
    const n = devices().cuda.devices.length;
    t.throws(() => resolveDevice(`cuda:${n}`), { message: /only \d+ CUDA device/ });
    return;
  }
  const reason = devices().cuda.reason!;
  for (const device of ['cuda', 'cuda:0', 'cuda:3'] as const) {
    const err = t.throws(() => resolveDevice(device));
    t.true(err!.message.includes(reason), err!.message);
    t.is((err as NodeJS.ErrnoException).code, 'ERR_DENDRITE_DEVICE_UNAVAILABLE');
  }
  const a = new Float32Array(4);
  await t.throwsAsync(gemm({ a, b: a, m: 2, n: 2, k: 2, device: 'cuda' }), {
    message: new RegExp(reason.replace(/[()]/g, '.')),
  });
});

test('device strings that mean nothing are rejected', (t) => {
  for (const bad of ['gpu', 'CPU', '', 'cuda:', 'cuda:x', 'cuda:-1', 'cuda:1.5', 'cuda:99999', ' cpu']) {
    t.throws(() => resolveDevice(bad), { instanceOf: RangeError, message: /is not valid/ }, bad);
  }
  t.throws(() => resolveDevice(3 as unknown as string), { instanceOf: TypeError });
});

test('"auto" runs kernels wherever it resolves', async (t) => {
  const a = new Float32Array([1, 2, 3, 4]);
  const b = new Float32Array([5, 6, 7, 8]);
  t.deepEqual(Array.from(await gemm({ a, b, m: 2, n: 2, k: 2, device: 'auto' })), [19, 22, 43, 50]);
});

test('DENDRITE_NUM_THREADS sets the default thread count', (t) => {
  const script = `console.log(require(${JSON.stringify(distIndex)}).devices().cpu.defaultThreads)`;
  const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, DENDRITE_NUM_THREADS: '1' } });
  t.is(out.toString().trim(), '1');
  const out3 = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, DENDRITE_NUM_THREADS: '3' } });
  t.is(out3.toString().trim(), devices().cpu.openmp ? '3' : '1', 'a single-threaded build has one thread');
});

test('an invalid DENDRITE_NUM_THREADS is a clear error at the first native call (the addon loads lazily)', (t) => {
  for (const bad of ['0', 'two', '-1', '2000']) {
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(distIndex)}).devices()`], {
      env: { ...process.env, DENDRITE_NUM_THREADS: bad },
      encoding: 'utf8',
    });
    t.not(r.status, 0);
    t.regex(r.stderr, /DENDRITE_NUM_THREADS must be/, bad);
  }
});
