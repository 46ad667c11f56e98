// No input through the N-API may crash the process, hang it, or grow its memory without bound
// (docs/reliability.md, "Native calls"). Each case runs in a child process (reliability-child.ts)
// so that a crash is seen as a signal: every test asserts a normal exit (code 0, no signal) and
// the expected result or error.
//
//  - every async entry point (each kernel, Sequential trainChunk/evaluate/gradients,
//    SegregatedNetwork trainChunk/evaluate) with its inputs transferred, resized to nothing or
//    overwritten while the call runs: the result is the one of an undisturbed call;
//  - arrays updated in place (sgdUpdate, adamUpdate) detached or resized meanwhile: a TypeError and
//    nothing written; backed by a SharedArrayBuffer: a TypeError;
//  - a worker thread terminated with native jobs in flight, and process.exit() meanwhile;
//  - networks too large to allocate, at construction and inside a job: a RangeError;
//  - more threads than the system lets the process start: a RangeError, not a libgomp exit;
//  - dropped networks: freed by their finalizers, with or without an explicit collection;
//    dispose() and Symbol.dispose.
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';

import test from 'ava';

import { SegregatedNetwork } from '../src/models/segregated';
import { createMlp } from '../src/models/mlp';

const child = path.join(__dirname, 'reliability-child.js');
// Under the sanitizers (scripts/sanitize.sh preloads their runtimes) memory is not returned to the
// system (ASan's quarantine) and no address-space limit can be set (its shadow memory).
const sanitized = /asan/.test(process.env.LD_PRELOAD ?? '');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  result: any;
  output: string;
  ms: number;
}

// At most two children at a time: the machine may have two cores.
let running = 0;
const waiting: Array<() => void> = [];
async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await f();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Runs a case in a child (optionally under a wrapper command such as prlimit) with a deadline. */
function run(args: string[], options: { wrapper?: string[]; gc?: boolean; timeoutMs?: number } = {}): Promise<Run> {
  return slot(() => new Promise<Run>((resolve, reject) => {
    const argv = [...(options.gc ? ['--expose-gc'] : []), child, ...args];
    const [cmd, ...pre] = options.wrapper ?? [];
    const p = cmd ? spawn(cmd, [...pre, process.execPath, ...argv]) : spawn(process.execPath, argv);
    const start = Date.now();
    let output = '';
    p.stdout.on('data', (d) => (output += d));
    p.stderr.on('data', (d) => (output += d));
    // A hang is a failure too: the child is killed and reported.
    const timer = setTimeout(() => p.kill('SIGKILL'), options.timeoutMs ?? 30000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = output.split('\n').find((l) => l.startsWith('RESULT '));
      resolve({ code, signal, result: line ? JSON.parse(line.slice(7)) : undefined, output, ms: Date.now() - start });
    });
  }));
}

function exitedNormally(t: { is: (a: unknown, b: unknown, m?: string) => void }, r: Run): void {
  t.is(r.signal, null, `killed by ${r.signal}:\n${r.output}`);
  t.is(r.code, 0, `exit code ${r.code}:\n${r.output}`);
}

// ---------------------------------------------------------------------------------------------
// Inputs transferred, resized or overwritten during every asynchronous call.

const KERNELS = ['gemm', 'gemv', 'ger', 'unary', 'rowSums', 'colSums', 'softmaxCrossEntropy', 'conv2dForward',
  'conv2dBackward', 'maxPool2x2Forward', 'maxPool2x2Backward', 'batchNormForward', 'batchNormBackward', 'sgdUpdate',
  'adamUpdate', 'randomUniform', 'randomNormal', 'randomBernoulli', 'randomPoisson', 'randomWald'];
const METHODS = ['Sequential.trainChunk', 'Sequential.evaluate', 'Sequential.gradients', 'SegregatedNetwork.trainChunk',
  'SegregatedNetwork.evaluate'];

test('every kernel of src/kernels.ts is covered', async (t) => {
  const kernels = await import('../src/kernels');
  const names = Object.keys(kernels).filter((n) => typeof (kernels as Record<string, unknown>)[n] === 'function' &&
    !['setDefaultThreads', 'getDefaultThreads', 'setCpuScheduling', 'getCpuScheduling'].includes(n));
  t.deepEqual(names.sort(), [...KERNELS].sort());
});

for (const name of [...KERNELS, ...METHODS]) {
  test(`${name}: inputs transferred, resized or overwritten during the call give the undisturbed result`, async (t) => {
    const r = await run(['inputs', name], { gc: true });
    exitedNormally(t, r);
    t.like(r.result, { transfer: 'same', resize: 'same', write: 'same' });
    if (name === 'sgdUpdate' || name === 'adamUpdate') {
      const p = r.result.inPlace;
      for (const mode of ['transfer', 'resize']) {
        t.regex(p[mode], new RegExp(`^TypeError: ${name}: param was detached or resized while the call ran .*no array was updated \\[others unchanged\\]$`), mode);
      }
      t.regex(p.shared, new RegExp(`^TypeError: ${name}: param must not be backed by a SharedArrayBuffer`));
      t.is(p.sharedGrad, -0.5, 'a SharedArrayBuffer that is only read is copied like any input');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Termination.

for (const kind of ['kernel', 'queued', 'sequential', 'segregated']) {
  test(`a worker thread terminated with a ${kind} job in flight: the process goes on and exits normally`, async (t) => {
    const r = await run(['terminate', kind]);
    exitedNormally(t, r);
    t.is(r.result.code, 1, 'terminate() resolves with exit code 1');
    t.deepEqual(r.result.after, [19, 22, 43, 50], 'native calls on the main thread still work');
  });
}

test('process.exit() with native jobs in flight exits with its code', async (t) => {
  const r = await run(['exit-in-flight']);
  exitedNormally(t, r);
  t.is(r.result, 'exiting');
});

// ---------------------------------------------------------------------------------------------
// Allocation failures and thread limits.

test('a network too large for the machine is a RangeError naming the cause, not std::bad_alloc', async (t) => {
  const r = await run(['oom']);
  exitedNormally(t, r);
  t.like(r.result.segregated, { name: 'RangeError', code: 'ERR_DENDRITE_OUT_OF_MEMORY' });
  t.regex(r.result.segregated.message, /^SegregatedNetwork: too large for this machine \(layers 1000000,1000000,10 with nIn 784: their weights alone take 4\.0 TB, more than its .* of memory\); use smaller layers$/);
  t.is(r.result.sequential.name, 'RangeError');
  t.regex(r.result.sequential.message, /^Sequential: /);
});

test('the CLI reports a network too large for the machine and exits 1', async (t) => {
  const r = await slot(async () => {
    try {
      execFileSync(process.execPath, [path.join(__dirname, '..', 'src', 'cli', 'main.js'), 'train', '--model', 'segregated',
        '--layers', '1000000,1000000,10', '--epochs', '1'], { stdio: 'pipe', encoding: 'utf8' });
      return { status: 0, stderr: '' };
    } catch (e) {
      return e as { status: number; signal?: string; stderr: string };
    }
  });
  t.is(r.status, 1);
  t.regex(r.stderr, /SegregatedNetwork: too large for this machine \(layers 1000000,1000000,10/);
});

const prlimit = (() => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

(prlimit && !sanitized ? test : test.skip)('allocations that fail in the constructor or in a job are RangeErrors (address space limited to 3 GB)', async (t) => {
  const r = await run(['oom-job'], { wrapper: ['prlimit', `--as=${3 * 2 ** 30}`], timeoutMs: 60000 });
  exitedNormally(t, r);
  t.like(r.result.construct, { name: 'RangeError', code: 'ERR_DENDRITE_OUT_OF_MEMORY' });
  t.regex(r.result.construct.message, /^SegregatedNetwork: out of memory allocating the network \(layers 30000,30000,10 with nIn 784/);
  t.like(r.result.trainChunk, { name: 'RangeError', code: 'ERR_DENDRITE_OUT_OF_MEMORY',
    message: 'SegregatedNetwork.trainChunk: out of memory (a native allocation failed)' });
  t.is(r.result.after, 'no error', 'the network is usable after the failed call');
});

// RLIMIT_NPROC does not bind root: as root the child runs as nobody (setpriv); otherwise the limit
// leaves room for the threads this user already runs and for Node's own.
function threadsWrapper(): string[] | undefined {
  if (!prlimit) return undefined;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
    } catch {
      return undefined;
    }
    return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'prlimit', '--nproc=64'];
  }
  const users = execFileSync('ps', ['-L', '-u', String(process.getuid?.()), '-o', 'lwp='], { encoding: 'utf8' });
  return ['prlimit', `--nproc=${users.split('\n').filter(Boolean).length + 64}`];
}
const wrapper = threadsWrapper();
// Serial: both tests below run as the same user, and the second fills that user's process limit
// with sleeping processes (run at the same time, the first could not start its threads).

(wrapper ? test.serial : test.skip)('more threads than the process may start: a RangeError naming threads, not a libgomp exit or hang', async (t) => {
  const r = await run(['threads'], { wrapper: wrapper! });
  exitedNormally(t, r);
  const because = /threads = 1024: the system cannot start that many threads: only \d+ threads could be started \(.*\); the limit on processes and threads of this user \(ulimit -u\) is \d+; use fewer threads$/;
  t.is(r.result.gemm1024.name, 'RangeError');
  t.regex(r.result.gemm1024.message, new RegExp(`^gemm: ${because.source}`));
  t.is(r.result.gemm2, 512, 'a thread count that fits still runs');
  t.is(r.result.segregated.name, 'RangeError');
  t.regex(r.result.segregated.message, new RegExp(`^SegregatedNetwork: ${because.source}`));
  t.is(r.result.sequential.name, 'RangeError');
  t.regex(r.result.sequential.message, new RegExp(`^Sequential: ${because.source}`));
});

(wrapper ? test.serial : test.skip)('the thread limit reached after the check: every team shape on both lanes still runs, with the right results', async (t) => {
  const r = await run(['threads-after-check'], { wrapper: wrapper!, timeoutMs: 60000 });
  exitedNormally(t, r);
  t.true(r.result.sleepers > 0, 'the limit was reached by other processes');
  t.is(r.result.checked, 512);
  t.is(r.result.gemm, 512);
  t.is(r.result.gemv, 400);
  t.is(r.result.relu, 1);
  t.is(r.result.evaluated, 8);
});

// ---------------------------------------------------------------------------------------------
// Memory: finalizers, external memory, dispose().

const MB = 2 ** 20;

for (const kind of ['segregated', 'sequential']) {
  (sanitized ? test.skip : test)(`150 ${kind} networks dropped are freed by their finalizers, and by dispose()`, async (t) => {
    const r = await run(['memory', kind], { gc: true });
    exitedNormally(t, r);
    const { before, peak, dropped, peak2, disposed } = r.result as Record<string, number>;
    t.log(`RSS ${(before / MB).toFixed(0)} MB -> ${(peak / MB).toFixed(0)} MB with 150 networks -> ` +
      `${(dropped / MB).toFixed(0)} MB dropped and collected; ${(peak2 / MB).toFixed(0)} -> ${(disposed / MB).toFixed(0)} MB disposed`);
    t.true(peak - before > 100 * MB, 'the networks took memory');
    t.true(dropped - before < 0.15 * (peak - before), 'the collected networks gave their memory back');
    t.true(disposed - before < 0.15 * (peak2 - before), 'the disposed networks gave their memory back');
  });
}

(sanitized ? test.skip : test)('dropped networks are collected without an explicit gc (their memory is reported to V8)', async (t) => {
  const r = await run(['nogc']);
  exitedNormally(t, r);
  const { before, peak } = r.result as Record<string, number>;
  t.log(`RSS ${(before / MB).toFixed(0)} MB -> peak ${(peak / MB).toFixed(0)} MB over 40 dropped networks of 6.3 MB`);
  t.true(peak - before < 150 * MB, `peak grew ${((peak - before) / MB).toFixed(0)} MB of 252 MB`);
});

test('SegregatedNetwork.dispose: refused while a call runs, then frees; later calls throw; Symbol.dispose', async (t) => {
  const net = new SegregatedNetwork({ layers: [20, 10], threads: 1 });
  const images = new Uint8Array(30 * 784).fill(40), labels = new Uint8Array(30).fill(3);
  const order = Int32Array.from({ length: 30 }, (_, i) => i);
  const running = net.native.trainChunk({ images, labels, order });
  t.throws(() => net.dispose(), { message: /^SegregatedNetwork\.dispose: a trainChunk or evaluate call is still running on this network; await it first$/ });
  await running;
  net.dispose();
  net.dispose();  // a second dispose does nothing
  t.throws(() => net.native.getWeights(), { message: 'SegregatedNetwork.getWeights: the network was disposed' });
  t.throws(() => net.native.trainChunk({ images, labels, order }), { message: 'SegregatedNetwork.trainChunk: the network was disposed' });
  t.throws(() => net.native.evaluate({ images }), { message: 'SegregatedNetwork.evaluate: the network was disposed' });
  t.throws(() => net.native.config(), { message: 'SegregatedNetwork.config: the network was disposed' });
  t.throws(() => net.native.permutation(0, 3), { message: 'SegregatedNetwork.permutation: the network was disposed' });
  t.is(net.native.device, 'cpu');
  t.false(net.native.busy);

  const key = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('nodejs.dispose');
  const scoped = new SegregatedNetwork({ layers: [20, 10], threads: 1 });
  (scoped as unknown as Record<symbol, () => void>)[key]!();
  t.throws(() => scoped.position(), { message: /disposed/ });
});

test('SequentialModel has Symbol.dispose', (t) => {
  const key = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('nodejs.dispose');
  const model = createMlp({ input: { channels: 1, height: 2, width: 2 }, hidden: [3], threads: 1 });
  (model as unknown as Record<symbol, () => void>)[key]!();
  t.throws(() => model.native.info(), { message: /disposed/ });
});
