// The storage interface of studies, and the rules every storage applies the same way (what
// counts towards the budget, which trial a worker gets next, when a dead worker's trial is run
// again). Workers coordinate only through a storage: each method is one transaction, so that
// several processes (and, later, machines) can share one study. Implementations: memory.ts,
// sqlite.ts; test/helpers/study-storage-suite.ts is the suite every one must pass.
import type { Params } from '../bo/space';
import type {
  FinalResult, ImportedTrial, StudyConfig, StudyRecord, StudyTrial, TrialOutcome, WorkerRecord,
} from './types';

/** A worker whose trial was interrupted or crashed this often gets no further re-run. */
export const MAX_ATTEMPTS = 3;

export type StudyErrorCode =
  | 'ERR_STUDY_EXISTS'
  | 'ERR_STUDY_NOT_FOUND'
  | 'ERR_TRIAL_STATE'
  | 'ERR_STUDY_BUDGET'
  | 'ERR_STUDY_STORAGE'
  /** The study's objective is a caller's function (`optimize`), where a model was needed, or the reverse. */
  | 'ERR_STUDY_OBJECTIVE';

/** An error of the study layer, with a code a caller can test. */
export class StudyError extends Error {
  constructor(readonly code: StudyErrorCode, message: string) {
    super(message);
    this.name = 'StudyError';
  }
}

export function isStudyError(e: unknown, code?: StudyErrorCode): e is StudyError {
  return e instanceof StudyError && (code === undefined || e.code === code);
}

/** What a proposer sees inside the claiming transaction. */
export interface ClaimView {
  study: StudyRecord;
  /** Every trial, by number. */
  trials: readonly StudyTrial[];
}

/** Returns the parameters of a new trial; called inside the transaction that creates it. */
export type Proposer = (view: ClaimView) => Params;

/**
 * How a failed trial is followed up: 'interrupted' (stopped on purpose: always run again, same
 * attempt), 'environment' (its machine failed it, errors.ts: the same), 'crashed' (its worker
 * died: run again as the next attempt, up to MAX_ATTEMPTS) or 'none' (the failure is the trial's
 * result and counts towards the budget).
 */
export type RetryPolicy = 'interrupted' | 'environment' | 'crashed' | 'none';

export interface WorkerInfo {
  pid: number;
  host: string;
  device?: string;
  threads?: number;
}

export interface StudyStorage {
  /** Where the studies live, for messages ("sqlite /path/study.sqlite", "memory"). */
  readonly location: string;
  /** Creates a study; ERR_STUDY_EXISTS when the name is taken. */
  createStudy(name: string, config: StudyConfig): Promise<StudyRecord>;
  loadStudy(name: string): Promise<StudyRecord | undefined>;
  listStudies(): Promise<string[]>;
  /** Changes the budget; ERR_STUDY_BUDGET below the trials that already count. */
  setBudget(name: string, trials: number): Promise<void>;
  setFinal(name: string, final: FinalResult): Promise<void>;
  /**
   * One transaction: the oldest waiting trial becomes running for `workerId`; else, when fewer
   * trials count than the budget, a new running trial with the parameters `propose` returns
   * (it sees every trial, so running ones can be treated as pending); else undefined.
   */
  claimTrial(name: string, workerId: number, propose: Proposer, device?: string): Promise<StudyTrial | undefined>;
  /** Records the value after fold `step` of a running trial. */
  reportIntermediate(name: string, number: number, step: number, value: number): Promise<void>;
  /** Finishes a running trial; ERR_TRIAL_STATE when it is not running (a reaper was faster). */
  finishTrial(name: string, number: number, outcome: TrialOutcome): Promise<StudyTrial>;
  /** Fails a running or waiting trial and, by `retry`, queues its re-run (returned). */
  failTrial(name: string, number: number, error: string, retry: RetryPolicy): Promise<StudyTrial | undefined>;
  getTrial(name: string, number: number): Promise<StudyTrial | undefined>;
  listTrials(name: string): Promise<StudyTrial[]>;
  /** Adds finished trials (an import); ERR_STUDY_BUDGET when they would pass the budget. */
  importTrials(name: string, trials: readonly ImportedTrial[]): Promise<StudyTrial[]>;
  registerWorker(name: string, info: WorkerInfo): Promise<WorkerRecord>;
  heartbeat(name: string, workerId: number): Promise<void>;
  /** Marks a worker stopped (it left cleanly) or dead. */
  stopWorker(name: string, workerId: number, state: 'stopped' | 'dead'): Promise<void>;
  listWorkers(name: string): Promise<WorkerRecord[]>;
  /**
   * One transaction: every live worker for which `isDead` holds is marked dead, and each of its
   * running trials failed with `retry` (default 'crashed'; 'environment' for a worker that said
   * its machine failed). Returns the failed trials.
   */
  reapWorkers(name: string, isDead: (w: WorkerRecord) => boolean, retry?: RetryPolicy): Promise<StudyTrial[]>;
  close(): Promise<void>;
}

/** Whether a trial takes a place in the budget: all but failed trials whose re-run was queued. */
export function countsTowardBudget(t: Pick<StudyTrial, 'state' | 'requeued'>): boolean {
  return !(t.state === 'failed' && t.requeued);
}

/** Trials that count and have finished: when they reach the budget, the study is done. */
export function finishedCount(trials: readonly StudyTrial[]): number {
  return trials.filter((t) => t.state !== 'running' && t.state !== 'waiting' && countsTowardBudget(t)).length;
}

/** What claimTrial does: run the oldest waiting trial, create a new one, or nothing. */
export function claimDecision(trials: readonly StudyTrial[], budget: number): { waiting: number } | 'new' | undefined {
  const waiting = trials.filter((t) => t.state === 'waiting').sort((a, b) => a.number - b.number)[0];
  if (waiting) return { waiting: waiting.number };
  return trials.filter(countsTowardBudget).length < budget ? 'new' : undefined;
}

/** The re-run a failed trial gets under `retry`, or undefined. */
export function retryAttempt(t: StudyTrial, retry: RetryPolicy): number | undefined {
  if (retry === 'interrupted' || retry === 'environment') return t.attempt;
  if (retry === 'crashed' && t.attempt < MAX_ATTEMPTS) return t.attempt + 1;
  return undefined;
}

export function checkOutcome(o: TrialOutcome): void {
  if (!['complete', 'pruned', 'infeasible', 'failed'].includes(o.state)) {
    throw new StudyError('ERR_TRIAL_STATE', `a trial finishes as complete, pruned, infeasible or failed, not ${JSON.stringify(o.state)}`);
  }
  if (o.state === 'complete' && !(typeof o.value === 'number' && Number.isFinite(o.value))) {
    throw new StudyError('ERR_TRIAL_STATE', `a complete trial needs a finite value, got ${String(o.value)}`);
  }
}

export function checkBudget(trials: number): void {
  if (!Number.isSafeInteger(trials) || trials < 1) throw new StudyError('ERR_STUDY_BUDGET', `the budget must be an integer >= 1, got ${trials}`);
}

export function checkStudyName(name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw new StudyError('ERR_STUDY_NOT_FOUND', `study names are 1 to 128 letters, digits, ".", "_" or "-" (starting with a letter or digit), got ${JSON.stringify(name)}`);
  }
}

export const now = (): string => new Date().toISOString();

/** A stored trial from an imported one (number given). */
export function importedTrial(number: number, i: ImportedTrial): StudyTrial {
  return {
    number, state: i.state, params: structuredClone(i.params), intermediate: structuredClone(i.intermediate ?? []), attempt: 1, requeued: false,
    createdAt: i.startedAt ?? now(),
    ...(i.value !== undefined ? { value: i.value } : {}), ...(i.startedAt !== undefined ? { startedAt: i.startedAt } : {}),
    ...(i.finishedAt !== undefined ? { finishedAt: i.finishedAt } : {}), ...(i.seconds !== undefined ? { seconds: i.seconds } : {}),
    ...(i.error !== undefined ? { error: i.error } : {}), ...(i.info !== undefined ? { info: structuredClone(i.info) } : {}),
  };
}
