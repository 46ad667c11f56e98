// A study worker: registers itself, keeps a heartbeat, and loops: reap dead workers, claim a
// trial (the proposal made inside the claiming transaction, running trials pending), evaluate
// it, record the outcome. Workers share nothing but the storage, so any number of them, in any
// processes, run one study. Stopped by its signal, a worker fails its running trial with the
// 'interrupted' policy (the trial is queued again: a resume re-runs it) and returns. An error of
// the environment (errors.ts) releases the trial the same way, without counting it, and stops
// the worker with an EnvironmentError: on a broken machine every trial would fail alike.
import fs from 'node:fs';
import os from 'node:os';

import type { Params, Space } from '../bo/space';
import type { DeviceString } from '../native';
import { EnvironmentError, classifyTrialError } from './errors';
import { evaluateTrial, stepsAreEpochs, type TrialProgress, type TrialRun } from './objective';
import { PRUNE_STARTUP_TRIALS, medianPrune, studyProposer } from './rules';
import { isStudyError, type StudyStorage } from './storage';
import type { StudyConfig, StudyTrial, TrialOutcome, WorkerRecord } from './types';

/** A worker whose heartbeat is older than this is dead, wherever it runs. */
export const STALE_HEARTBEAT_MS = 60_000;
export const HEARTBEAT_MS = 2_000;
export const IDLE_MS = 1_000;

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export type Evaluate = (config: StudyConfig, params: Params, run: TrialRun) => Promise<TrialOutcome>;

export interface WorkerOptions {
  device?: DeviceString;
  threads?: number;
  signal?: AbortSignal;
  heartbeatMs?: number;
  staleMs?: number;
  /** Called with each trial as it starts and as it is recorded. */
  onTrial?: (t: StudyTrial) => void;
  /** Where the running trial is (objective.ts TrialProgress), for progress bars. */
  onProgress?: (trial: number, p: TrialProgress) => void;
  /** The objective (default: evaluateTrial, the real one). */
  evaluate?: Evaluate;
  /** The study's space with its constraints (default: the stored space, which has none). */
  space?: Space;
  /** Milliseconds between looks when nothing is left to claim but other workers' trials run (default 1000). */
  idleMs?: number;
  /** Where a result that could not be stored is reported (default: stderr). */
  onWarning?: (message: string) => void;
}

/** Whether a process runs (a zombie, killed but not yet reaped by its parent, does not). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(0) has answered
  }
}

/**
 * Whether a worker is dead: its heartbeat is stale, or it ran on this host and its process is
 * gone (so a killed worker is found at once, not after the stale time).
 */
export function workerIsDead(w: WorkerRecord, staleMs = STALE_HEARTBEAT_MS, host = os.hostname()): boolean {
  if (Date.now() - Date.parse(w.heartbeatAt) > staleMs) return true;
  return w.host === host && w.pid !== process.pid && !pidAlive(w.pid);
}

export async function runWorker(storage: StudyStorage, name: string, options: WorkerOptions = {}): Promise<{ worker: number; trials: number; interrupted: boolean }> {
  const study = await storage.loadStudy(name);
  if (!study) throw new Error(`no study "${name}" in ${storage.location}`);
  const config = study.config;
  const propose = studyProposer(config, options.space);
  const evaluate = options.evaluate ?? evaluateTrial;
  const signal = options.signal;
  const staleMs = options.staleMs ?? STALE_HEARTBEAT_MS;
  const warn = options.onWarning ?? ((m: string) => console.error(`dendrite-bench: ${m}`));
  const worker = await storage.registerWorker(name, {
    pid: process.pid, host: os.hostname(),
    ...(options.device !== undefined ? { device: options.device } : {}), ...(options.threads !== undefined ? { threads: options.threads } : {}),
  });
  const beat = setInterval(() => {
    storage.heartbeat(name, worker.id).catch(() => undefined);
  }, options.heartbeatMs ?? HEARTBEAT_MS);
  beat.unref();
  let trials = 0;
  let interrupted = false;
  try {
    while (!signal?.aborted) {
      await storage.reapWorkers(name, (w) => workerIsDead(w, staleMs));
      const trial = await storage.claimTrial(name, worker.id, propose, options.device);
      if (!trial) {
        // Nothing to claim, but trials still run (here or on other machines): one may yet fail and
        // be queued again when its worker dies, so wait for them rather than leave the study short.
        if (!(await storage.listTrials(name)).some((t) => t.state === 'running' || t.state === 'waiting')) break;
        await pause(options.idleMs ?? IDLE_MS, signal);
        continue;
      }
      options.onTrial?.(trial);
      let outcome: TrialOutcome;
      try {
        outcome = await evaluate(config, trial.params, {
          trial: trial.number,
          ...(options.device !== undefined ? { device: options.device } : {}),
          ...(options.threads !== undefined ? { threads: options.threads } : {}),
          ...(signal ? { signal } : {}),
          ...(options.onProgress ? { onProgress: (p: TrialProgress) => options.onProgress?.(trial.number, p) } : {}),
          report: async (step, value) => {
            await storage.reportIntermediate(name, trial.number, step, value);
            return config.prune ? medianPrune(await storage.listTrials(name), trial.number, step, value, config.direction, PRUNE_STARTUP_TRIALS,
              stepsAreEpochs(config) ? 'epoch' : 'fold') : undefined;
          },
        });
      } catch (err) {
        const kind = classifyTrialError(err);
        if (kind === 'interrupted' || signal?.aborted) {
          interrupted = true;
          const why = signal?.reason instanceof Error ? signal.reason.message : 'stopped';
          await storage.failTrial(name, trial.number, `interrupted (${why}); queued to run again`, 'interrupted').catch(ignoreReaped);
          break;
        }
        if (kind === 'environment') {
          const message = `environment error: ${(err as Error).message}`;
          await storage.failTrial(name, trial.number, `${message}; queued to run again`, 'environment').catch(ignoreReaped);
          throw new EnvironmentError(`${message} (trial ${trial.number} went back to the queue; the budget is untouched)`, { cause: err });
        }
        outcome = { state: 'failed', error: (err as Error).message };
      }
      try {
        // Not inside `onTrial?.(...)`: an optional call skips evaluating its argument.
        const done = await storage.finishTrial(name, trial.number, outcome);
        trials++;
        options.onTrial?.(done);
      } catch (err) {
        // A reaper judged this worker dead meanwhile (its heartbeat stopped: a pause, a cut
        // network) and queued the trial again: the re-run stands. Either way, say so.
        warn(`trial ${trial.number} ran here (${outcome.state}${outcome.value !== undefined ? ` ${outcome.value}` : ''}) but its result was not stored: ` +
          `${(err as Error).message}${isStudyError(err, 'ERR_TRIAL_STATE') ? ' (this worker was taken for dead and the trial queued to run again)' : ''}`);
        ignoreReaped(err);
      }
    }
    if (signal?.aborted) interrupted = true;
  } finally {
    clearInterval(beat);
    await storage.stopWorker(name, worker.id, 'stopped').catch(() => undefined);
  }
  return { worker: worker.id, trials, interrupted };
}

function ignoreReaped(err: unknown): void {
  if (!isStudyError(err, 'ERR_TRIAL_STATE')) throw err;
}
