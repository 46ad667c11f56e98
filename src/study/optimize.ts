// optimize(): the Bayesian optimiser on a caller's own objective. Without a storage it is the
// in-memory loop of bo/optimize.ts. With `storage` and `study` it is a study like those of
// `study run` (docs/bo.md "Studies"), run by the same worker loop: each trial is recorded as it
// starts and as it ends, one transaction each, so a process killed at any moment loses no finished
// trial; calling optimize again with the same study resumes it (an interrupted trial runs again,
// the budget stays exact, the suggestions are those of an uninterrupted run); processes and
// machines calling it on one SQLite file or PostgreSQL database share the study and its budget.
import {
  Optimizer, optimizeInMemory, runObjective, type InMemoryOptimizeOptions, type OptimizeResult, type Trial,
} from '../bo/optimize';
import { Space } from '../bo/space';
import { bestTrial } from './rules';
import { configDifferences } from './run';
import { StudyError, checkBudget, checkStudyName, countsTowardBudget, isStudyError, type StudyStorage } from './storage';
import { openStorage } from './storage-url';
import { STUDY_OPTIMIZER_SETTINGS, type StudyConfig, type StudyOptimizerSettings, type StudyTrial } from './types';
import { runWorker, type Evaluate } from './worker';

export interface OptimizeOptions extends InMemoryOptimizeOptions {
  /**
   * Where the study is kept: a storage (MemoryStorage, SqliteStorage, PostgresStorage), a SQLite
   * file's path or a postgresql:// URL (opened and closed by this call). With it, `trials` is the
   * study's total budget (a second call runs only what is missing) and `history` is not taken.
   */
  storage?: StudyStorage | string;
  /** The study's name in the storage (needed with `storage`). */
  study?: string;
}

/**
 * Optimises `objective` over `space`: `trials` new trials in memory, or, with `storage` and
 * `study`, the study's trials up to a total of `trials`, recorded as they run. An objective that
 * throws records a failed trial (with the message), one that throws InfeasibleError or breaks a
 * constraint an infeasible one, one that returns a non-finite number a failed one; the run goes on.
 * Stopped by `signal`: no new trial starts; with a storage, an objective that rejects because of
 * the signal leaves its trial to be run again by the next call.
 */
export async function optimize(options: OptimizeOptions): Promise<OptimizeResult> {
  const { storage, study, ...rest } = options;
  if (storage === undefined && study === undefined) return optimizeInMemory(rest);
  if (storage === undefined || study === undefined) {
    throw new TypeError(`optimize: storage and study go together (a study is kept in a storage under its name); ${storage === undefined ? 'storage' : 'study'} is missing`);
  }
  if (options.history !== undefined) {
    throw new TypeError('optimize: history is for runs without a storage; a study keeps its own (bring earlier trials in with `dendrite-bench study import`)');
  }
  checkStudyName(study);
  if (typeof options.objective !== 'function') throw new TypeError('optimize: objective must be a function');
  checkBudget(options.trials);
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`optimize: workers must be an integer >= 1, got ${workers}`);
  const base = options.space instanceof Space ? options.space : new Space(options.space);
  const space = options.constraint ? base.withConstraints(options.constraint) : base;
  const optimizer = new Optimizer({ ...options, space }); // checks direction, seed, strategy, acquisition, initialPoints

  const settings = Object.fromEntries(STUDY_OPTIMIZER_SETTINGS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]])) as StudyOptimizerSettings;
  // Constraints are functions, which a study cannot store: each call passes them again.
  const config: StudyConfig = {
    objective: { kind: 'function' }, space: { ...space.params }, spaceName: 'optimize()', direction: optimizer.direction,
    strategy: optimizer.strategy, trials: options.trials, seed: optimizer.seed, prune: false,
    ...(Object.keys(settings).length > 0 ? { optimizer: settings } : {}),
  };

  const store = typeof storage === 'string' ? await openStorage(storage) : storage;
  try {
    await joinStudy(store, study, config);
    const evaluate: Evaluate = async (_config, params, run) => {
      const why = space.violation(params);
      if (why !== undefined) return { state: 'infeasible', error: why };
      const r = await runObjective(options.objective, params, { number: run.trial ?? -1, ...(run.signal ? { signal: run.signal } : {}) });
      // Stopped by the signal: thrown on, so that the worker queues the trial to run again.
      if (r.state === 'failed' && run.signal?.aborted) throw new Error(r.reason);
      return { state: r.state, ...(r.value !== undefined ? { value: r.value } : {}), ...(r.reason !== undefined ? { error: r.reason } : {}) };
    };
    await Promise.all(Array.from({ length: workers }, () => runWorker(store, study, {
      space, evaluate, ...(options.signal ? { signal: options.signal } : {}),
      onTrial: (t) => {
        if (t.state !== 'running' && t.state !== 'waiting') options.onTrial?.(trialOf(t));
      },
    })));
    const trials = (await store.listTrials(study)).filter((t) => t.state !== 'running' && t.state !== 'waiting' && countsTowardBudget(t));
    const best = bestTrial(trials, config.direction);
    return { bestValue: best?.value, bestParams: best ? { ...best.params } : undefined, trials: trials.map(trialOf) };
  } finally {
    if (store !== storage) await store.close();
  }
}

/** Creates the study, or checks that the stored one has these settings; the budget may change. */
async function joinStudy(storage: StudyStorage, name: string, config: StudyConfig): Promise<void> {
  let record = await storage.loadStudy(name);
  if (!record) {
    try {
      await storage.createStudy(name, config);
      return;
    } catch (err) {
      // Another process created it first: join it if the settings agree.
      if (!isStudyError(err, 'ERR_STUDY_EXISTS')) throw err;
      record = (await storage.loadStudy(name))!;
    }
  }
  const diffs = configDifferences(record.config, config);
  if (diffs.length > 0) {
    throw new StudyError('ERR_STUDY_EXISTS', `study "${name}" in ${storage.location} exists with other settings: ${diffs.join('; ')}. ` +
      'Give another study name, or the settings it was made with');
  }
  if (record.config.trials !== config.trials) await storage.setBudget(name, config.trials);
}

/** A stored trial as optimize reports it (a function study has no pruned trials). */
function trialOf(t: StudyTrial): Trial {
  return {
    number: t.number, params: { ...t.params }, state: t.state as Trial['state'], ...(t.value !== undefined ? { value: t.value } : {}),
    seconds: t.seconds ?? 0, ...(t.error !== undefined ? { reason: t.error } : {}),
  };
}
