// A study storage in this process's memory: for tests, the API and single-process studies that
// need not survive the process. Every method reads and writes copies, so callers never share
// state with the store; JavaScript's single thread makes each method one transaction.
import {
  StudyError, checkBudget, importedTrial, checkOutcome, checkStudyName, claimDecision, countsTowardBudget, now, retryAttempt,
  type Proposer, type RetryPolicy, type StudyStorage, type WorkerInfo,
} from './storage';
import type { FinalResult, ImportedTrial, StudyConfig, StudyRecord, StudyTrial, TrialOutcome, WorkerRecord } from './types';

interface Entry {
  study: StudyRecord;
  trials: StudyTrial[];
  workers: WorkerRecord[];
}

const copy = <T>(v: T): T => structuredClone(v);

export class MemoryStorage implements StudyStorage {
  readonly location = 'memory';
  private readonly studies = new Map<string, Entry>();
  private nextWorker = 1;

  private entry(name: string): Entry {
    const e = this.studies.get(name);
    if (!e) throw new StudyError('ERR_STUDY_NOT_FOUND', `no study "${name}" in memory`);
    return e;
  }

  private trial(e: Entry, number: number): StudyTrial {
    const t = e.trials[number];
    if (!t) throw new StudyError('ERR_TRIAL_STATE', `study "${e.study.name}" has no trial ${number}`);
    return t;
  }

  async createStudy(name: string, config: StudyConfig): Promise<StudyRecord> {
    checkStudyName(name);
    checkBudget(config.trials);
    if (this.studies.has(name)) throw new StudyError('ERR_STUDY_EXISTS', `study "${name}" exists already`);
    const study: StudyRecord = { name, config: copy(config), createdAt: now() };
    this.studies.set(name, { study, trials: [], workers: [] });
    return copy(study);
  }

  async loadStudy(name: string): Promise<StudyRecord | undefined> {
    const e = this.studies.get(name);
    return e ? copy(e.study) : undefined;
  }

  async listStudies(): Promise<string[]> {
    return [...this.studies.keys()].sort();
  }

  async setBudget(name: string, trials: number): Promise<void> {
    checkBudget(trials);
    const e = this.entry(name);
    const counted = e.trials.filter(countsTowardBudget).length;
    if (trials < counted) throw new StudyError('ERR_STUDY_BUDGET', `study "${name}" already has ${counted} trials; the budget cannot be ${trials}`);
    e.study.config.trials = trials;
  }

  async setFinal(name: string, final: FinalResult): Promise<void> {
    this.entry(name).study.final = copy(final);
  }

  async claimTrial(name: string, workerId: number, propose: Proposer, device?: string): Promise<StudyTrial | undefined> {
    const e = this.entry(name);
    const decision = claimDecision(e.trials, e.study.config.trials);
    if (decision === undefined) return undefined;
    const started = now();
    let t: StudyTrial;
    if (decision === 'new') {
      const params = propose({ study: copy(e.study), trials: copy(e.trials) });
      t = { number: e.trials.length, state: 'running', params: copy(params), intermediate: [], attempt: 1, requeued: false, createdAt: started };
      e.trials.push(t);
    } else {
      t = this.trial(e, decision.waiting);
      t.state = 'running';
    }
    t.workerId = workerId;
    t.startedAt = started;
    if (device !== undefined) t.device = device;
    return copy(t);
  }

  async reportIntermediate(name: string, number: number, step: number, value: number): Promise<void> {
    const t = this.trial(this.entry(name), number);
    if (t.state !== 'running') throw new StudyError('ERR_TRIAL_STATE', `trial ${number} of "${name}" is ${t.state}, not running`);
    t.intermediate = [...t.intermediate.filter((i) => i.step !== step), { step, value }].sort((a, b) => a.step - b.step);
  }

  async finishTrial(name: string, number: number, outcome: TrialOutcome): Promise<StudyTrial> {
    checkOutcome(outcome);
    const t = this.trial(this.entry(name), number);
    if (t.state !== 'running') throw new StudyError('ERR_TRIAL_STATE', `trial ${number} of "${name}" is ${t.state}, not running`);
    finish(t, outcome);
    return copy(t);
  }

  async failTrial(name: string, number: number, error: string, retry: RetryPolicy): Promise<StudyTrial | undefined> {
    const e = this.entry(name);
    const t = this.trial(e, number);
    if (t.state !== 'running' && t.state !== 'waiting') throw new StudyError('ERR_TRIAL_STATE', `trial ${number} of "${name}" is ${t.state}, not running`);
    return this.fail(e, t, error, retry);
  }

  private fail(e: Entry, t: StudyTrial, error: string, retry: RetryPolicy): StudyTrial | undefined {
    finish(t, { state: 'failed', error });
    const attempt = retryAttempt(t, retry);
    if (attempt === undefined) return undefined;
    t.requeued = true;
    const r: StudyTrial = { number: e.trials.length, state: 'waiting', params: copy(t.params), intermediate: [], attempt, retryOf: t.number, requeued: false, createdAt: now() };
    e.trials.push(r);
    return copy(r);
  }

  async getTrial(name: string, number: number): Promise<StudyTrial | undefined> {
    const t = this.entry(name).trials[number];
    return t ? copy(t) : undefined;
  }

  async listTrials(name: string): Promise<StudyTrial[]> {
    return copy(this.entry(name).trials);
  }

  async importTrials(name: string, trials: readonly ImportedTrial[]): Promise<StudyTrial[]> {
    const e = this.entry(name);
    const counted = e.trials.filter(countsTowardBudget).length;
    if (counted + trials.length > e.study.config.trials) {
      throw new StudyError('ERR_STUDY_BUDGET', `study "${name}" has ${counted} of ${e.study.config.trials} trials; ${trials.length} more do not fit`);
    }
    trials.forEach((i) => checkOutcome(i));
    const out = trials.map((i) => {
      const t = importedTrial(e.trials.length, i);
      e.trials.push(t);
      return t;
    });
    return copy(out);
  }

  async registerWorker(name: string, info: WorkerInfo): Promise<WorkerRecord> {
    const e = this.entry(name);
    const at = now();
    const w: WorkerRecord = { id: this.nextWorker++, pid: info.pid, host: info.host, startedAt: at, heartbeatAt: at, state: 'alive',
      ...(info.device !== undefined ? { device: info.device } : {}), ...(info.threads !== undefined ? { threads: info.threads } : {}) };
    e.workers.push(w);
    return copy(w);
  }

  async heartbeat(name: string, workerId: number): Promise<void> {
    const w = this.entry(name).workers.find((x) => x.id === workerId);
    if (w) w.heartbeatAt = now();
  }

  async stopWorker(name: string, workerId: number, state: 'stopped' | 'dead'): Promise<void> {
    const w = this.entry(name).workers.find((x) => x.id === workerId);
    if (w && w.state === 'alive') w.state = state;
  }

  async listWorkers(name: string): Promise<WorkerRecord[]> {
    return copy(this.entry(name).workers);
  }

  async reapWorkers(name: string, isDead: (w: WorkerRecord) => boolean, retry: RetryPolicy = 'crashed'): Promise<StudyTrial[]> {
    const e = this.entry(name);
    const failed: StudyTrial[] = [];
    for (const w of e.workers) {
      if (w.state !== 'alive' || !isDead(copy(w))) continue;
      w.state = 'dead';
      for (const t of e.trials.filter((x) => x.state === 'running' && x.workerId === w.id)) {
        this.fail(e, t, `worker ${w.id} (pid ${w.pid} on ${w.host}) died`, retry);
        failed.push(copy(t));
      }
    }
    return failed;
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}

function finish(t: StudyTrial, o: TrialOutcome): void {
  const at = now();
  t.state = o.state;
  if (o.value !== undefined) t.value = o.value;
  if (o.error !== undefined) t.error = o.error;
  if (o.info !== undefined) t.info = copy(o.info);
  t.finishedAt = at;
  if (t.startedAt !== undefined) t.seconds = (Date.parse(at) - Date.parse(t.startedAt)) / 1000;
}
