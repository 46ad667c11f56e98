// Worker processes sharing one PostgreSQL study, each pretending to be another machine (so only
// its heartbeat tells whether it lives), with a cheap objective (test/helpers/study-worker-
// process.ts: the real runWorker and store, a few milliseconds of sleep for training):
//   - four workers run 300 trials; one is killed with kill -9 in the middle of a trial; the
//     others reap it when its heartbeat is stale and re-run its trial: exactly 300 finished,
//     every result stored once, nothing run twice;
//   - a worker whose network is cut (a TCP proxy between it and the server) for less than the
//     heartbeat timeout carries on and stores its result; cut for longer, it is taken for dead,
//     its trial re-run by the other worker, and it says its own result was not stored.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

import test from 'ava';

import { PostgresStorage } from '../src/study/postgres';
import { countsTowardBudget, finishedCount } from '../src/study/storage';
import type { StudyTrial } from '../src/study/types';
import { TcpProxy, TestSchemas, pgTest, viaPort } from './helpers/postgres';
import { suiteConfig } from './helpers/study-storage-suite';
import { TEST_WORKER_ENV, cheapValue, type TestWorkerArgs } from './helpers/study-worker-process';

const WORKER = path.join(__dirname, 'helpers', 'study-worker-process.js');
const schemas = new TestSchemas('workers');
test.after.always(() => schemas.dropAll());
const ptest = pgTest(test);

interface Worker {
  child: ChildProcess;
  events: Record<string, unknown>[];
  stderr: string;
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** Resolves with the first event of `type`. */
  next(type: string): Promise<Record<string, unknown>>;
}

function startWorker(args: TestWorkerArgs): Worker {
  const child = fork(WORKER, [], { env: { ...process.env, [TEST_WORKER_ENV]: JSON.stringify(args) }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const w: Worker = {
    child, events: [], stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
    next: (type) => new Promise((resolve, reject) => {
      const look = (): void => {
        const e = w.events.find((x) => x.type === type);
        if (e) return void resolve(e);
        if (child.exitCode !== null || child.signalCode !== null) return void reject(new Error(`worker exited before "${type}": ${w.stderr}`));
        setTimeout(look, 20);
      };
      look();
    }),
  };
  let buf = '';
  child.stdout!.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      w.events.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
    }
  });
  child.stderr!.on('data', (d) => (w.stderr += d));
  return w;
}

const storedBy = (w: Worker): number[] => w.events.filter((e) => e.type === 'stored').map((e) => e.number as number);

/** Exactly `budget` finished trials count, none left running, each stored by one worker, values the objective's. */
function checkStudy(t: import('ava').ExecutionContext, trials: StudyTrial[], budget: number, workers: Worker[]): void {
  t.is(finishedCount(trials), budget);
  t.is(trials.filter(countsTowardBudget).length, budget);
  t.deepEqual(trials.filter((x) => x.state === 'running' || x.state === 'waiting'), []);
  t.deepEqual(trials.map((x) => x.number), trials.map((_, i) => i), 'trial numbers are 0..n-1');
  const stored = workers.flatMap(storedBy).sort((a, b) => a - b);
  t.is(new Set(stored).size, stored.length, 'a trial was stored by two workers');
  t.deepEqual(stored, trials.filter((x) => x.state === 'complete').map((x) => x.number), 'stored results are the complete trials');
  for (const x of trials.filter((y) => y.state === 'complete')) t.is(x.value, cheapValue(x.params));
  const counted = trials.filter(countsTowardBudget);
  t.is(new Set(counted.map((x) => JSON.stringify(x.params))).size, counted.length, 'a configuration ran twice');
}

ptest('four worker processes on four "machines" finish exactly 300 trials; one killed with kill -9 mid-trial is reaped by heartbeat and its trial re-run', async (t) => {
  const url = schemas.url();
  const s = await PostgresStorage.open(url, { onWarning: () => undefined });
  const workers: Worker[] = [];
  try {
    await s.createStudy('many', { ...suiteConfig(300), strategy: 'random' });
    const common = { storage: url, study: 'many', sleepMs: 3, staleMs: 3000, heartbeatMs: 300, idleMs: 100 };
    for (let i = 1; i <= 4; i++) workers.push(startWorker({ ...common, host: `machine-${i}`, ...(i === 2 ? { hold: [{ at: 15, ms: 120_000 }] } : {}) }));
    const victim = workers[1];
    await victim.next('hold');
    const heldNumber = victim.events.filter((e) => e.type === 'start').at(-1)!.number as number;
    const held = await s.getTrial('many', heldNumber);
    t.is(held?.state, 'running', 'the held trial is running');
    victim.child.kill('SIGKILL');
    t.is((await victim.exited).signal, 'SIGKILL');
    const started = Date.now();
    const others = await Promise.all(workers.filter((w) => w !== victim).map((w) => w.exited));
    t.deepEqual(others.map((x) => x.code), [0, 0, 0], workers.map((w) => w.stderr).join('\n'));
    t.log(`300 trials, 4 workers, one killed: the rest took ${((Date.now() - started) / 1000).toFixed(1)} s after the kill`);

    const trials = await s.listTrials('many');
    checkStudy(t, trials, 300, workers);
    const failed = trials.find((x) => x.number === held!.number)!;
    t.deepEqual([failed.state, failed.requeued], ['failed', true]);
    t.regex(failed.error ?? '', /worker \d+ \(pid \d+ on machine-2\) died/);
    const rerun = trials.find((x) => x.retryOf === failed.number)!;
    t.deepEqual([rerun.state, rerun.attempt, rerun.params], ['complete', 2, failed.params]);
    t.not(rerun.workerId, failed.workerId);
    const ws = await s.listWorkers('many');
    t.deepEqual(Object.fromEntries(ws.map((w) => [w.host, w.state])),
      { 'machine-1': 'stopped', 'machine-2': 'dead', 'machine-3': 'stopped', 'machine-4': 'stopped' });
    t.true(workers.filter((w) => w !== victim).every((w) => storedBy(w).length > 20), 'the work was shared');
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await s.close();
  }
});

ptest('a worker cut off from the server: a short cut is retried and its result stored; a long one gets its trial re-run elsewhere and it says its result was not stored', async (t) => {
  const url = schemas.url();
  const proxy = await TcpProxy.start();
  const s = await PostgresStorage.open(url, { onWarning: () => undefined });
  const workers: Worker[] = [];
  try {
    await s.createStudy('cut', { ...suiteConfig(40), strategy: 'random' });
    const common = { study: 'cut', staleMs: 5000, heartbeatMs: 300, idleMs: 100 };
    const cut = startWorker({ ...common, storage: viaPort(url, proxy.port), host: 'machine-cut', sleepMs: 50,
      hold: [{ at: 3, ms: 1500 }, { at: 6, ms: 2500 }] });
    workers.push(cut);
    await cut.next('start');
    const steady = startWorker({ ...common, storage: url, host: 'machine-ok', sleepMs: 150 });
    workers.push(steady);

    // Short: 1 s, well under the 5 s heartbeat timeout.
    await cut.next('hold');
    const short = cut.events.filter((e) => e.type === 'start').at(-1)!.number as number;
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 1000));
    await proxy.restore();
    // Long: 10 s, so the steady worker reaps the cut one and re-runs its trial.
    await new Promise<void>((resolve) => {
      const look = (): void => (cut.events.filter((e) => e.type === 'hold').length >= 2 ? resolve() : void setTimeout(look, 20));
      look();
    });
    const long = cut.events.filter((e) => e.type === 'start').at(-1)!.number as number;
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 10_000));
    await proxy.restore();

    const [a, b] = await Promise.all(workers.map((w) => w.exited));
    t.deepEqual([a.code, b.code], [0, 0], cut.stderr + steady.stderr);
    const trials = await s.listTrials('cut');
    checkStudy(t, trials, 40, workers);
    // The short cut: the held trial's result was stored by the cut worker itself.
    t.true(storedBy(cut).includes(short));
    t.is(trials[short].state, 'complete');
    // The long cut: reaped, re-run by the steady worker; the cut worker said its result was lost.
    t.deepEqual([trials[long].state, trials[long].requeued], ['failed', true]);
    t.regex(trials[long].error ?? '', /on machine-cut\) died/);
    const rerun = trials.find((x) => x.retryOf === long)!;
    t.is(rerun.state, 'complete');
    t.true(storedBy(steady).includes(rerun.number));
    t.false(storedBy(cut).includes(long));
    t.regex(cut.stderr, /lost the connection to postgresql:\/\/.*retrying in/);
    t.regex(cut.stderr, /connection to postgresql:\/\/.* is back after/);
    t.regex(cut.stderr, new RegExp(`trial ${long} ran here \\(complete [0-9.]+\\) but its result was not stored: .*taken for dead`));
    // It came back to life with its next heartbeat, and left cleanly.
    t.deepEqual((await s.listWorkers('cut')).map((w) => [w.host, w.state]), [['machine-cut', 'stopped'], ['machine-ok', 'stopped']]);
    t.log(cut.stderr.trim());
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await proxy.close();
    await s.close();
  }
});
