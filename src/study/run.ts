// Running a study to its budget: create it or take it up again (a study is resumed by running it
// again), reap the workers of earlier runs that died, start the workers (forked processes on a
// SQLite file or PostgreSQL database, or loops inside this process on any storage), report each
// finished trial, replace a worker that crashes (its trial is queued again), and at the end
// retrain the best configuration on the whole training split and score it once on the test split.
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import { runExperiment } from '../experiment/run';
import type { DeviceString } from '../native';
import { datasetClasses, modelStudy, splitSeedOf, trialSpec, validationOf, type TrialProgress } from './objective';
import { bestTrial } from './rules';
import { trialOptions } from './spaces';
import { storageSpec } from './storage-url';
import { ENVIRONMENT_EXIT_CODE } from './errors';
import { StudyError, claimDecision, finishedCount, type StudyStorage } from './storage';
import { isModelObjective, type FinalResult, type StudyConfig, type StudyRecord, type StudyTrial } from './types';
import { runWorker, workerIsDead, type Evaluate } from './worker';
import type { WorkerArgs, WorkerMessage } from './worker-main';

export type StudyEvent =
  | { type: 'study'; name: string; location: string; resumed: boolean; finished: number; budget: number; reaped: number; workers: number }
  | { type: 'trial'; trial: StudyTrial; finished: number; budget: number; best?: { number: number; value: number }; elapsedSeconds: number; etaSeconds?: number }
  /** Where a running trial of this machine is (pid: the process of its worker). */
  | ({ type: 'trial-progress'; trial: number; pid: number } & TrialProgress)
  | { type: 'worker-died'; pid: number; code: number | null; signal: string | null; requeued: number[]; environment: boolean; error?: string }
  | { type: 'worker-left'; pid: number; code: number | null }
  | { type: 'workers-stopped'; reason: string; running: number }
  | { type: 'final'; final: FinalResult }
  | { type: 'stopped'; finished: number; budget: number }
  | { type: 'done'; finished: number; budget: number; best?: { number: number; value: number } };

export interface StudyRunOptions {
  storage: StudyStorage;
  name: string;
  /** Workers at once (default 1). */
  workers?: number;
  /** One device per worker, round-robin (default cpu). */
  devices?: DeviceString[];
  /** Threads per worker (default max(1, floor(cores / workers))). */
  threads?: number;
  /** 'fork' (default with SQLite): worker processes; 'inline': worker loops in this process. */
  mode?: 'fork' | 'inline';
  /** Retrain the best configuration and test it at the end (default true). */
  final?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: StudyEvent) => void;
  /** Inline mode only: another objective (tests). */
  evaluate?: Evaluate;
  /** Milliseconds between looks at the storage for finished trials (default 500). */
  pollMs?: number;
}

export interface StudyRunResult {
  study: StudyRecord;
  trials: StudyTrial[];
  interrupted: boolean;
}

/** Settings of a stored study that a new run must not change (the budget may grow). */
export function configDifferences(stored: StudyConfig, wanted: StudyConfig): string[] {
  const diffs: string[] = [];
  const cmp = (what: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) diffs.push(`${what} is ${JSON.stringify(a)}, not ${JSON.stringify(b)}`);
  };
  const a = stored.objective;
  const b = wanted.objective;
  if (isModelObjective(a) && isModelObjective(b)) {
    cmp('model', a.model, b.model);
    cmp('dataset', a.dataset, b.dataset);
    cmp('folds', a.folds, b.folds);
    cmp('holdout', a.holdout ?? 'none', b.holdout ?? 'none');
    cmp('epochs', a.epochs, b.epochs);
    cmp('fixed options', a.fixed, b.fixed);
  } else {
    const kind = (o: typeof a): string => (isModelObjective(o) ? `model ${o.model}` : 'a function given to optimize()');
    cmp('objective', kind(a), kind(b));
  }
  cmp('space', stored.space, wanted.space);
  cmp('strategy', stored.strategy, wanted.strategy);
  cmp('direction', stored.direction, wanted.direction);
  cmp('seed', stored.seed, wanted.seed);
  cmp('split seed', splitSeedOf(stored), splitSeedOf(wanted));
  cmp('prune', stored.prune, wanted.prune);
  cmp('optimizer settings', stored.optimizer ?? {}, wanted.optimizer ?? {});
  return diffs;
}

const WORKER_ENTRY = path.join(__dirname, 'worker-main.js');

function bestOf(trials: StudyTrial[], config: StudyConfig): { number: number; value: number } | undefined {
  const b = bestTrial(trials, config.direction);
  return b ? { number: b.number, value: b.value as number } : undefined;
}

export async function runStudy(opts: StudyRunOptions): Promise<StudyRunResult> {
  const { storage, name } = opts;
  const emit = opts.onEvent ?? (() => undefined);
  const record = await storage.loadStudy(name);
  if (!record) throw new StudyError('ERR_STUDY_NOT_FOUND', `no study "${name}" in ${storage.location}`);
  const config = modelStudy(record.config, name);
  validationOf(config.objective); // a malformed objective fails here, not in every trial
  const workers = opts.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be an integer >= 1, got ${workers}`);
  const devices = opts.devices?.length ? opts.devices : ['cpu' as DeviceString];
  const threads = opts.threads ?? Math.max(1, Math.floor(os.availableParallelism() / workers));
  // Worker processes open the storage again by its file or URL; a memory storage has neither.
  const spec = storageSpec(storage);
  const mode = opts.mode ?? (spec !== undefined ? 'fork' : 'inline');
  if (mode === 'fork' && spec === undefined) throw new RangeError('worker processes need a SQLite or PostgreSQL storage (they open it again)');
  const signal = opts.signal;

  // Workers of earlier runs that died (kill -9, a crash, a lost machine): their trials run again.
  const reaped = await storage.reapWorkers(name, (w) => workerIsDead(w));
  let trials = await storage.listTrials(name);
  const seen = new Set(trials.filter((t) => t.state !== 'running' && t.state !== 'waiting').map((t) => t.number));
  emit({ type: 'study', name, location: storage.location, resumed: trials.length > 0, finished: finishedCount(trials), budget: config.trials,
    reaped: reaped.length, workers });

  const started = Date.now();
  let finishedHere = 0;
  let finishedSoFar = finishedCount(trials);
  const reported = trials.filter((t) => seen.has(t.number));
  const report = async (): Promise<void> => {
    trials = await storage.listTrials(name);
    const fresh = trials.filter((t) => t.state !== 'running' && t.state !== 'waiting' && !seen.has(t.number))
      .sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? '') || a.number - b.number);
    for (const t of fresh) {
      seen.add(t.number);
      if (t.requeued) continue; // its re-run will be reported
      reported.push(t);
      finishedHere++;
      finishedSoFar++;
      const elapsedSeconds = (Date.now() - started) / 1000;
      const left = config.trials - finishedSoFar;
      emit({ type: 'trial', trial: t, finished: finishedSoFar, budget: config.trials, best: bestOf(reported, config), elapsedSeconds,
        ...(left > 0 ? { etaSeconds: (elapsedSeconds / finishedHere) * left } : {}) });
    }
  };

  // Also while other workers (other machines) still run trials: one may fail and be queued again.
  const open = claimDecision(trials, config.trials) !== undefined || trials.some((t) => t.state === 'running' || t.state === 'waiting');
  let givenUp: string | undefined;
  if (open && !signal?.aborted) {
    if (mode === 'inline') {
      const timer = setInterval(() => void report().catch(() => undefined), opts.pollMs ?? 500);
      // The first error of a worker loop (an environment error, a lost storage) stops the others
      // too (their trials are queued again), and is thrown once they have.
      const inner = new AbortController();
      const onAbort = (): void => inner.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      let first: unknown;
      try {
        await Promise.all(Array.from({ length: workers }, (_, i) => runWorker(storage, name, {
          device: devices[i % devices.length], threads, signal: inner.signal, ...(opts.evaluate ? { evaluate: opts.evaluate } : {}),
          onProgress: (trial, p) => emit({ type: 'trial-progress', trial, pid: process.pid, ...p }),
        }).catch((err: unknown) => {
          first ??= err;
          inner.abort(err);
        })));
      } finally {
        clearInterval(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      if (first !== undefined) throw first;
    } else {
      givenUp = await runForked(storage, spec as string, name, { workers, devices, threads, signal, emit, report, pollMs: opts.pollMs ?? 500 });
    }
  }
  await report();
  const interrupted = signal?.aborted === true;
  let study = (await storage.loadStudy(name)) as StudyRecord;
  const finished = finishedCount(trials);
  if (interrupted) {
    emit({ type: 'stopped', finished, budget: config.trials });
    return { study, trials, interrupted };
  }
  if (finished < config.trials) {
    throw new StudyError('ERR_STUDY_STORAGE', `study "${name}" stopped at ${finished} of ${config.trials} trials: ` +
      `${givenUp ?? 'its workers kept failing (see the errors above)'}; run it again to continue`);
  }
  // Redone when the budget grew and another trial became the best.
  if (opts.final !== false && study.final?.trial !== bestTrial(trials, config.direction)?.number) {
    const final = await finalRun(config, trials, devices[0], Math.max(1, os.availableParallelism()), signal);
    if (final) {
      await storage.setFinal(name, final);
      emit({ type: 'final', final });
      study = (await storage.loadStudy(name)) as StudyRecord;
    }
  }
  emit({ type: 'done', finished, budget: config.trials, best: bestOf(trials, config) });
  return { study, trials, interrupted: false };
}

/** Worker processes in a row that leave without taking a trial, after which no more are started. */
export const MAX_STARTUP_FAILURES = 3;

/**
 * The worker processes of this machine, until all have exited. One that exits while trials are
 * left to claim (it died, or left cleanly too early) is replaced, except one stopped by an error of
 * its machine (errors.ts: a new one would meet it again), and except after MAX_STARTUP_FAILURES
 * in a row that took no trial (a worker that cannot start). Returns why workers stopped being
 * replaced, if they did.
 */
async function runForked(storage: StudyStorage, spec: string, name: string, o: {
  workers: number; devices: DeviceString[]; threads: number; signal?: AbortSignal; emit: (e: StudyEvent) => void;
  report: () => Promise<void>; pollMs: number;
}): Promise<string | undefined> {
  const children = new Set<ChildProcess>();
  let startupFailures = 0;
  let givenUp: string | undefined;
  let index = 0;
  let stopping = false;
  let exited: () => void = () => undefined;

  const start = (): void => {
    const args: WorkerArgs = { storage: spec, study: name, device: o.devices[index % o.devices.length], threads: o.threads };
    index++;
    const child = fork(WORKER_ENTRY, [], {
      env: { ...process.env, DENDRITE_STUDY_WORKER: JSON.stringify(args), OMP_NUM_THREADS: String(o.threads), DENDRITE_NUM_THREADS: String(o.threads) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    children.add(child);
    let tookTrial = false;
    let fatal: Extract<WorkerMessage, { type: 'fatal' }> | undefined;
    child.on('message', (m: WorkerMessage) => {
      if (m?.type === 'trial') tookTrial = true;
      else if (m?.type === 'progress') o.emit({ type: 'trial-progress', trial: m.trial, pid: child.pid ?? -1, ...m.progress });
      else if (m?.type === 'fatal') fatal = m;
    });
    // 'close', not 'exit': it comes after the IPC channel has delivered the worker's last messages.
    child.on('close', (code, sig) => {
      children.delete(child);
      const pid = child.pid ?? -1;
      void (async () => {
        const environment = code === ENVIRONMENT_EXIT_CODE || fatal?.environment === true;
        const clean = code === 0 || code === 130;
        // A trial it still held (it was killed, or could not record the trial's end) fails and is
        // queued again: as the next attempt, or at the same one after an environment error. Pids
        // repeat across machines sharing a PostgreSQL study: only this host's.
        const failed = await storage.reapWorkers(name, (w) => w.pid === pid && w.host === os.hostname(), environment ? 'environment' : 'crashed');
        const requeued = (await storage.listTrials(name)).filter((t) => failed.some((f) => f.number === t.retryOf)).map((t) => t.number);
        if (!clean) {
          o.emit({ type: 'worker-died', pid, code, signal: sig, requeued, environment, ...(fatal ? { error: fatal.message } : {}) });
        }
        const left = claimDecision(await storage.listTrials(name), (await storage.loadStudy(name))!.config.trials) !== undefined;
        // Looked at after the awaits above: a Ctrl-C meanwhile must not start a worker that onAbort missed.
        if (stopping || o.signal?.aborted || givenUp !== undefined || !left) return;
        if (environment) {
          givenUp = `worker ${pid} stopped for an error of this machine: ${fatal?.message ?? `exit ${code}`}`;
        } else {
          startupFailures = tookTrial ? 0 : startupFailures + 1;
          if (startupFailures >= MAX_STARTUP_FAILURES) {
            givenUp = `${startupFailures} worker processes in a row exited without taking a trial ` +
              `(the last: ${sig ?? `exit ${code}`}${fatal ? `: ${fatal.message}` : ''})`;
          }
        }
        if (givenUp !== undefined) {
          o.emit({ type: 'workers-stopped', reason: givenUp, running: children.size });
          return;
        }
        if (clean) o.emit({ type: 'worker-left', pid, code });
        start();
      })().catch((err) => console.error(`dendrite-bench study: ${(err as Error).message}`)).finally(() => {
        if (children.size === 0) exited();
      });
    });
  };

  const onAbort = (): void => {
    stopping = true;
    for (const c of children) c.kill('SIGTERM');
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const allExited = new Promise<void>((resolve) => {
    exited = resolve;
  });
  for (let i = 0; i < o.workers; i++) start();
  const timer = setInterval(() => void o.report().catch(() => undefined), o.pollMs);
  try {
    await allExited;
  } finally {
    clearInterval(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
  return givenUp;
}

/** The best configuration trained on the whole training split and scored once on the test split. */
export async function finalRun(config: StudyConfig, trials: readonly StudyTrial[], device: DeviceString, threads: number,
  signal?: AbortSignal): Promise<FinalResult | undefined> {
  const study = modelStudy(config);
  const best = bestTrial(trials, config.direction);
  if (!best) return undefined;
  const options = trialOptions(study.objective.model, best.params, study.objective.fixed, datasetClasses(study.objective.dataset));
  const r = await runExperiment(trialSpec(study, options, 'final', { device, threads }), signal ? { signal } : {});
  if (!r.test) throw new Error('the final run has no test score');
  return {
    trial: best.number, params: best.params, options, cvValue: best.value as number, testAccuracy: r.test.accuracy, testLoss: r.test.loss,
    trainSeconds: r.timing.trainSeconds, device: r.environment.device.used, finishedAt: r.finishedAt,
  };
}

