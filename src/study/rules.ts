// The study's rules on top of its trials: what the optimiser learns from each trial state, the
// proposer a worker passes to claimTrial, the best trial, and the median pruning rule. Every
// worker process applies these to the same stored trials, so they must be pure.
import { Optimizer, type TrialResult } from '../bo/optimize';
import { Space, type Params } from '../bo/space';
import type { Proposer } from './storage';
import type { StudyConfig, StudyTrial } from './types';

/** Complete trials a step needs before the median rule prunes there (Optuna's default). */
export const PRUNE_STARTUP_TRIALS = 5;

/**
 * The optimiser of a study. `space`: the study's space with constraints (functions a study cannot
 * store; `optimize` passes them), else the stored space.
 */
export function studyOptimizer(config: StudyConfig, space: Space = new Space(config.space)): Optimizer {
  return new Optimizer({ ...config.optimizer, space, direction: config.direction, seed: config.seed, strategy: config.strategy });
}

/**
 * The optimiser's view of the trials, by number. Complete → complete; pruned → complete at its
 * last intermediate value (the mean over the folds it ran, or a holdout's accuracy after the
 * epoch it stopped at: a noisier estimate, not a guess);
 * infeasible → infeasible; failed → failed (never proposed again), except a failed trial whose
 * re-run was queued, which is left out: its re-run stands for it. Running and waiting trials are
 * pending: the optimiser spreads new suggestions away from them.
 */
export function optimizerView(trials: readonly StudyTrial[]): { history: TrialResult[]; pending: Params[] } {
  const history: TrialResult[] = [];
  const pending: Params[] = [];
  for (const t of [...trials].sort((a, b) => a.number - b.number)) {
    if (t.state === 'running' || t.state === 'waiting') pending.push(t.params);
    else if (t.state === 'complete') history.push({ params: t.params, state: 'complete', value: t.value });
    else if (t.state === 'pruned') {
      const last = t.intermediate[t.intermediate.length - 1]?.value ?? t.value;
      history.push(last !== undefined ? { params: t.params, state: 'complete', value: last } : { params: t.params, state: 'failed' });
    } else if (t.state === 'infeasible') history.push({ params: t.params, state: 'infeasible' });
    else if (!t.requeued) history.push({ params: t.params, state: 'failed' });
  }
  return { history, pending };
}

/** The proposer of a study: a pure function of its seed, history and pending trials. */
export function studyProposer(config: StudyConfig, space?: Space): Proposer {
  const optimizer = studyOptimizer(config, space);
  return ({ trials }) => {
    const { history, pending } = optimizerView(trials);
    return optimizer.suggest(history, pending);
  };
}

/** The best complete trial (ties: the earlier): the optimiser's own rule. */
export { bestTrial } from '../bo/optimize';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The median rule: prune when, at this step, the trial's intermediate value is worse than the
 * median of the complete trials' values at the same step, once PRUNE_STARTUP_TRIALS of them have
 * one. Returns the reason, or undefined to go on. A step is a fold, or an epoch in holdout studies.
 */
export function medianPrune(trials: readonly StudyTrial[], number: number, step: number, value: number,
  direction: StudyConfig['direction'], startup = PRUNE_STARTUP_TRIALS, unit: 'fold' | 'epoch' = 'fold'): string | undefined {
  const others = trials
    .filter((t) => t.number !== number && t.state === 'complete')
    .map((t) => t.intermediate.find((i) => i.step === step)?.value)
    .filter((v): v is number => v !== undefined);
  if (others.length < startup) return undefined;
  const m = median(others);
  const worse = direction === 'maximize' ? value < m : value > m;
  return worse ? `pruned after ${unit} ${step + 1}: ${value.toFixed(4)} is worse than the median ${m.toFixed(4)} of ${others.length} complete trials there` : undefined;
}
