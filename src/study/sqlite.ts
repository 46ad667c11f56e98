// The embedded study storage: one SQLite file (better-sqlite3) in WAL mode with a busy timeout,
// shared by the worker processes of a study. Every state change is one IMMEDIATE transaction, so
// a process killed at any moment leaves either the whole change or none of it. The schema is
// versioned (table schema_version) and migrated forward when opened; a newer one is refused.
import fs from 'node:fs';
import path from 'node:path';

import type Database from 'better-sqlite3';

import type { Params } from '../bo/space';
import {
  StudyError, checkBudget, importedTrial, checkOutcome, checkStudyName, claimDecision, countsTowardBudget, now, retryAttempt,
  type Proposer, type RetryPolicy, type StudyStorage, type WorkerInfo,
} from './storage';
import type {
  FinalResult, ImportedTrial, IntermediateValue, StudyConfig, StudyRecord, StudyTrial, StudyTrialState, TrialOutcome, WorkerRecord,
} from './types';

type SqliteModule = typeof Database;

// better-sqlite3 is an optional peer dependency (12 MB, and a compile where its binaries cannot be
// downloaded): only studies kept in a SQLite file need it, so it is loaded when one is opened.
let sqliteModule: SqliteModule | undefined;
const OTHER_STORES = 'or keep the study in PostgreSQL (--storage postgresql://...) or in memory (--storage :memory:)';

function loadSqlite(): SqliteModule {
  if (sqliteModule) return sqliteModule;
  try {
    sqliteModule = require('better-sqlite3') as SqliteModule;
  } catch (err) {
    throw new StudyError('ERR_STUDY_STORAGE', `a study file needs the package better-sqlite3, which cannot be loaded ` +
      `(${(err as Error).message.split('\n')[0]}): install it beside dendrite-bench (npm install better-sqlite3), ${OTHER_STORES}`);
  }
  return sqliteModule;
}

/** An error raised by SQLite itself (better-sqlite3's SqliteError). */
export function isSqliteError(err: unknown): boolean {
  if (!(err instanceof Error) || err.name !== 'SqliteError') return false;
  try {
    return err instanceof loadSqlite().SqliteError;
  } catch {
    return false;
  }
}

/** Schema migrations: MIGRATIONS[i] takes version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE studies (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     config TEXT NOT NULL,
     created_at TEXT NOT NULL,
     final TEXT
   );
   CREATE TABLE trials (
     study_id INTEGER NOT NULL REFERENCES studies(id),
     number INTEGER NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('waiting', 'running', 'complete', 'pruned', 'infeasible', 'failed')),
     params TEXT NOT NULL,
     value REAL,
     attempt INTEGER NOT NULL DEFAULT 1,
     retry_of INTEGER,
     requeued INTEGER NOT NULL DEFAULT 0,
     worker_id INTEGER,
     device TEXT,
     created_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT,
     seconds REAL,
     error TEXT,
     info TEXT,
     PRIMARY KEY (study_id, number)
   );
   CREATE INDEX trials_state ON trials (study_id, state);
   CREATE TABLE intermediate (
     study_id INTEGER NOT NULL,
     number INTEGER NOT NULL,
     step INTEGER NOT NULL,
     value REAL NOT NULL,
     PRIMARY KEY (study_id, number, step)
   );
   CREATE TABLE workers (
     id INTEGER PRIMARY KEY,
     study_id INTEGER NOT NULL REFERENCES studies(id),
     pid INTEGER NOT NULL,
     host TEXT NOT NULL,
     device TEXT,
     threads INTEGER,
     started_at TEXT NOT NULL,
     heartbeat_at TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('alive', 'stopped', 'dead'))
   );`,
];
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

interface TrialRow {
  number: number; state: StudyTrialState; params: string; value: number | null; attempt: number; retry_of: number | null;
  requeued: number; worker_id: number | null; device: string | null; created_at: string; started_at: string | null;
  finished_at: string | null; seconds: number | null; error: string | null; info: string | null;
}
interface WorkerRow {
  id: number; pid: number; host: string; device: string | null; threads: number | null; started_at: string; heartbeat_at: string;
  state: WorkerRecord['state'];
}

export interface SqliteOptions {
  /** Milliseconds a writer waits for another's lock before failing (default 30 000). */
  busyTimeoutMs?: number;
  /** Refuse to create the file (default false: created with its folder). */
  mustExist?: boolean;
}

export class SqliteStorage implements StudyStorage {
  readonly location: string;
  readonly file: string;
  private readonly db: Database.Database;

  constructor(file: string, options: SqliteOptions = {}) {
    this.file = path.resolve(file);
    this.location = `sqlite ${this.file}`;
    const exists = fs.existsSync(this.file);
    if (!exists && options.mustExist) throw new StudyError('ERR_STUDY_NOT_FOUND', `no study file ${this.file}`);
    const Sqlite = loadSqlite();
    if (!exists) fs.mkdirSync(path.dirname(this.file), { recursive: true });
    try {
      this.db = new Sqlite(this.file, { timeout: options.busyTimeoutMs ?? 30_000 });
    } catch (err) {
      // Installed without its binary (install scripts blocked, or a failed compile).
      if (/bindings file|self-register|NODE_MODULE_VERSION|invalid ELF/.test((err as Error).message)) {
        throw new StudyError('ERR_STUDY_STORAGE', `better-sqlite3 is installed without a working binary ` +
          `(${(err as Error).message.split('\n')[0]}): run npm rebuild better-sqlite3 with install scripts allowed, ${OTHER_STORES}`);
      }
      throw this.corrupt(err);
    }
    try {
      this.db.pragma('journal_mode = WAL');
      // FULL: a commit is on disk before it returns (NORMAL would survive kill -9 but not power loss).
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      this.migrate();
    } catch (err) {
      this.db.close();
      throw err instanceof StudyError ? err : this.corrupt(err);
    }
  }

  private corrupt(err: unknown): StudyError {
    return new StudyError('ERR_STUDY_STORAGE', `${this.file} is not a readable dendrite-bench study database: ${(err as Error).message}`);
  }

  private migrate(): void {
    this.db.transaction(() => {
      const tables = new Set((this.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name));
      let version = 0;
      if (tables.has('schema_version')) {
        const row = this.db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
        if (!row || !Number.isInteger(row.version)) throw this.corrupt(new Error('its schema_version table is empty'));
        version = row.version;
      } else if (tables.size > 0) {
        throw this.corrupt(new Error(`it holds other tables (${[...tables].slice(0, 5).join(', ')}) and no schema_version`));
      } else {
        this.db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (0);');
      }
      if (version > SQLITE_SCHEMA_VERSION) {
        throw new StudyError('ERR_STUDY_STORAGE', `${this.file} has schema version ${version}; this dendrite-bench reads up to ${SQLITE_SCHEMA_VERSION} (upgrade it)`);
      }
      for (let v = version; v < SQLITE_SCHEMA_VERSION; v++) {
        this.db.exec(MIGRATIONS[v]);
        this.db.prepare('UPDATE schema_version SET version = ?').run(v + 1);
      }
    }).immediate();
  }

  /** Runs `fn` in one IMMEDIATE transaction (the write lock taken at BEGIN, so no upgrade deadlock). */
  private tx<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      if (err instanceof StudyError) throw err;
      if (isSqliteError(err) && /CORRUPT|NOTADB/.test((err as { code: string }).code)) throw this.corrupt(err);
      throw err;
    }
  }

  private studyId(name: string): number {
    const row = this.db.prepare('SELECT id FROM studies WHERE name = ?').get(name) as { id: number } | undefined;
    if (!row) throw new StudyError('ERR_STUDY_NOT_FOUND', `no study "${name}" in ${this.file}`);
    return row.id;
  }

  private readStudy(name: string): StudyRecord | undefined {
    const row = this.db.prepare('SELECT name, config, created_at, final FROM studies WHERE name = ?').get(name) as
      { name: string; config: string; created_at: string; final: string | null } | undefined;
    if (!row) return undefined;
    return { name: row.name, config: this.json(row.config, 'config') as StudyConfig, createdAt: row.created_at,
      ...(row.final !== null ? { final: this.json(row.final, 'final') as FinalResult } : {}) };
  }

  private json(text: string, what: string): unknown {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw this.corrupt(new Error(`its ${what} is not JSON: ${(err as Error).message}`));
    }
  }

  private readTrials(id: number, number?: number): StudyTrial[] {
    const rows = (number === undefined
      ? this.db.prepare('SELECT * FROM trials WHERE study_id = ? ORDER BY number').all(id)
      : this.db.prepare('SELECT * FROM trials WHERE study_id = ? AND number = ?').all(id, number)) as TrialRow[];
    const inter = (number === undefined
      ? this.db.prepare('SELECT number, step, value FROM intermediate WHERE study_id = ? ORDER BY number, step').all(id)
      : this.db.prepare('SELECT number, step, value FROM intermediate WHERE study_id = ? AND number = ? ORDER BY step').all(id, number)) as
      { number: number; step: number; value: number }[];
    const byTrial = new Map<number, IntermediateValue[]>();
    for (const r of inter) byTrial.set(r.number, [...(byTrial.get(r.number) ?? []), { step: r.step, value: r.value }]);
    return rows.map((r) => {
      const t: StudyTrial = {
        number: r.number, state: r.state, params: this.json(r.params, `trial ${r.number} params`) as Params,
        intermediate: byTrial.get(r.number) ?? [], attempt: r.attempt, requeued: r.requeued !== 0, createdAt: r.created_at,
      };
      if (r.value !== null) t.value = r.value;
      if (r.retry_of !== null) t.retryOf = r.retry_of;
      if (r.worker_id !== null) t.workerId = r.worker_id;
      if (r.device !== null) t.device = r.device;
      if (r.started_at !== null) t.startedAt = r.started_at;
      if (r.finished_at !== null) t.finishedAt = r.finished_at;
      if (r.seconds !== null) t.seconds = r.seconds;
      if (r.error !== null) t.error = r.error;
      if (r.info !== null) t.info = this.json(r.info, `trial ${r.number} info`) as Record<string, unknown>;
      return t;
    });
  }

  private readTrial(id: number, name: string, number: number): StudyTrial {
    const t = this.readTrials(id, number)[0];
    if (!t) throw new StudyError('ERR_TRIAL_STATE', `study "${name}" has no trial ${number}`);
    return t;
  }

  private insertTrial(id: number, t: StudyTrial): void {
    this.db.prepare(`INSERT INTO trials (study_id, number, state, params, value, attempt, retry_of, requeued, worker_id, device,
      created_at, started_at, finished_at, seconds, error, info) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      id, t.number, t.state, JSON.stringify(t.params), t.value ?? null, t.attempt, t.retryOf ?? null, t.requeued ? 1 : 0,
      t.workerId ?? null, t.device ?? null, t.createdAt, t.startedAt ?? null, t.finishedAt ?? null, t.seconds ?? null,
      t.error ?? null, t.info !== undefined ? JSON.stringify(t.info) : null);
    const ins = this.db.prepare('INSERT INTO intermediate (study_id, number, step, value) VALUES (?, ?, ?, ?)');
    for (const i of t.intermediate) ins.run(id, t.number, i.step, i.value);
  }

  private nextNumber(id: number): number {
    return (this.db.prepare('SELECT COALESCE(MAX(number) + 1, 0) AS n FROM trials WHERE study_id = ?').get(id) as { n: number }).n;
  }

  private writeFinish(id: number, t: StudyTrial, o: TrialOutcome): void {
    const at = now();
    const seconds = t.startedAt !== undefined ? (Date.parse(at) - Date.parse(t.startedAt)) / 1000 : null;
    this.db.prepare(`UPDATE trials SET state = ?, value = ?, error = ?, info = COALESCE(?, info), finished_at = ?, seconds = ?
      WHERE study_id = ? AND number = ?`).run(o.state, o.value ?? null, o.error ?? null, o.info !== undefined ? JSON.stringify(o.info) : null,
      at, seconds, id, t.number);
  }

  private fail(id: number, t: StudyTrial, error: string, retry: RetryPolicy): StudyTrial | undefined {
    this.writeFinish(id, t, { state: 'failed', error });
    const attempt = retryAttempt(t, retry);
    if (attempt === undefined) return undefined;
    this.db.prepare('UPDATE trials SET requeued = 1 WHERE study_id = ? AND number = ?').run(id, t.number);
    const r: StudyTrial = { number: this.nextNumber(id), state: 'waiting', params: t.params, intermediate: [], attempt, retryOf: t.number,
      requeued: false, createdAt: now() };
    this.insertTrial(id, r);
    return r;
  }

  async createStudy(name: string, config: StudyConfig): Promise<StudyRecord> {
    checkStudyName(name);
    checkBudget(config.trials);
    return this.tx(() => {
      if (this.readStudy(name)) throw new StudyError('ERR_STUDY_EXISTS', `study "${name}" exists already in ${this.file}`);
      const createdAt = now();
      this.db.prepare('INSERT INTO studies (name, config, created_at) VALUES (?, ?, ?)').run(name, JSON.stringify(config), createdAt);
      return { name, config: structuredClone(config), createdAt };
    });
  }

  async loadStudy(name: string): Promise<StudyRecord | undefined> {
    return this.tx(() => this.readStudy(name));
  }

  async listStudies(): Promise<string[]> {
    return (this.db.prepare('SELECT name FROM studies ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  }

  async setBudget(name: string, trials: number): Promise<void> {
    checkBudget(trials);
    this.tx(() => {
      const id = this.studyId(name);
      const study = this.readStudy(name) as StudyRecord;
      const counted = this.readTrials(id).filter(countsTowardBudget).length;
      if (trials < counted) throw new StudyError('ERR_STUDY_BUDGET', `study "${name}" already has ${counted} trials; the budget cannot be ${trials}`);
      this.db.prepare('UPDATE studies SET config = ? WHERE id = ?').run(JSON.stringify({ ...study.config, trials }), id);
    });
  }

  async setFinal(name: string, final: FinalResult): Promise<void> {
    this.tx(() => {
      this.db.prepare('UPDATE studies SET final = ? WHERE id = ?').run(JSON.stringify(final), this.studyId(name));
    });
  }

  async claimTrial(name: string, workerId: number, propose: Proposer, device?: string): Promise<StudyTrial | undefined> {
    return this.tx(() => {
      const id = this.studyId(name);
      const study = this.readStudy(name) as StudyRecord;
      const trials = this.readTrials(id);
      const decision = claimDecision(trials, study.config.trials);
      if (decision === undefined) return undefined;
      const startedAt = now();
      if (decision === 'new') {
        const params = propose({ study, trials });
        const t: StudyTrial = { number: this.nextNumber(id), state: 'running', params, intermediate: [], attempt: 1, requeued: false,
          workerId, createdAt: startedAt, startedAt, ...(device !== undefined ? { device } : {}) };
        this.insertTrial(id, t);
        return t;
      }
      this.db.prepare(`UPDATE trials SET state = 'running', worker_id = ?, started_at = ?, device = ? WHERE study_id = ? AND number = ?`)
        .run(workerId, startedAt, device ?? null, id, decision.waiting);
      return this.readTrial(id, name, decision.waiting);
    });
  }

  async reportIntermediate(name: string, number: number, step: number, value: number): Promise<void> {
    this.tx(() => {
      const id = this.studyId(name);
      const t = this.readTrial(id, name, number);
      if (t.state !== 'running') throw new StudyError('ERR_TRIAL_STATE', `trial ${number} of "${name}" is ${t.state}, not running`);
      this.db.prepare('INSERT OR REPLACE INTO intermediate (study_id, number, step, value) VALUES (?, ?, ?, ?)').run(id, number, step, value);
    });
  }

  async finishTrial(name: string, number: number, outcome: TrialOutcome): Promise<StudyTrial> {
    checkOutcome(outcome);
    return this.tx(() => {
      const id = this.studyId(name);
      const t = this.readTrial(id, name, number);
      if (t.state !== 'running') throw new StudyError('ERR_TRIAL_STATE', `trial ${number} of "${name}" is ${t.state}, not running`);
      this.writeFinish(id, t, outcome);
      return this.readTrial(id, name, number);
    });
  }

  async failTrial(name: string, number: number, error: string, retry: RetryPolicy): Promise<StudyTrial | undefined> {
    return this.tx(() => {
      const id = this.studyId(name);
      const t = this.readTrial(id, name, number);
      if (t.state !== 'running' && t.state !== 'waiting') throw new StudyError('ERR_TRIAL_STATE', `trial ${number} of "${name}" is ${t.state}, not running`);
      return this.fail(id, t, error, retry);
    });
  }

  async getTrial(name: string, number: number): Promise<StudyTrial | undefined> {
    return this.tx(() => this.readTrials(this.studyId(name), number)[0]);
  }

  async listTrials(name: string): Promise<StudyTrial[]> {
    return this.tx(() => this.readTrials(this.studyId(name)));
  }

  async importTrials(name: string, trials: readonly ImportedTrial[]): Promise<StudyTrial[]> {
    trials.forEach((i) => checkOutcome(i));
    return this.tx(() => {
      const id = this.studyId(name);
      const study = this.readStudy(name) as StudyRecord;
      const counted = this.readTrials(id).filter(countsTowardBudget).length;
      if (counted + trials.length > study.config.trials) {
        throw new StudyError('ERR_STUDY_BUDGET', `study "${name}" has ${counted} of ${study.config.trials} trials; ${trials.length} more do not fit`);
      }
      let n = this.nextNumber(id);
      return trials.map((i) => {
        const t = importedTrial(n++, i);
        this.insertTrial(id, t);
        return t;
      });
    });
  }

  async registerWorker(name: string, info: WorkerInfo): Promise<WorkerRecord> {
    return this.tx(() => {
      const id = this.studyId(name);
      const at = now();
      const r = this.db.prepare(`INSERT INTO workers (study_id, pid, host, device, threads, started_at, heartbeat_at, state)
        VALUES (?, ?, ?, ?, ?, ?, ?, 'alive')`).run(id, info.pid, info.host, info.device ?? null, info.threads ?? null, at, at);
      return this.workerRecord(this.db.prepare('SELECT * FROM workers WHERE id = ?').get(Number(r.lastInsertRowid)) as WorkerRow);
    });
  }

  private workerRecord(r: WorkerRow): WorkerRecord {
    return { id: r.id, pid: r.pid, host: r.host, startedAt: r.started_at, heartbeatAt: r.heartbeat_at, state: r.state,
      ...(r.device !== null ? { device: r.device } : {}), ...(r.threads !== null ? { threads: r.threads } : {}) };
  }

  async heartbeat(name: string, workerId: number): Promise<void> {
    this.tx(() => {
      this.db.prepare('UPDATE workers SET heartbeat_at = ? WHERE id = ? AND study_id = ?').run(now(), workerId, this.studyId(name));
    });
  }

  async stopWorker(name: string, workerId: number, state: 'stopped' | 'dead'): Promise<void> {
    this.tx(() => {
      this.db.prepare(`UPDATE workers SET state = ? WHERE id = ? AND study_id = ? AND state = 'alive'`).run(state, workerId, this.studyId(name));
    });
  }

  async listWorkers(name: string): Promise<WorkerRecord[]> {
    return this.tx(() => (this.db.prepare('SELECT * FROM workers WHERE study_id = ? ORDER BY id').all(this.studyId(name)) as WorkerRow[])
      .map((r) => this.workerRecord(r)));
  }

  async reapWorkers(name: string, isDead: (w: WorkerRecord) => boolean, retry: RetryPolicy = 'crashed'): Promise<StudyTrial[]> {
    return this.tx(() => {
      const id = this.studyId(name);
      const failed: StudyTrial[] = [];
      const alive = (this.db.prepare(`SELECT * FROM workers WHERE study_id = ? AND state = 'alive'`).all(id) as WorkerRow[]).map((r) => this.workerRecord(r));
      for (const w of alive) {
        if (!isDead(w)) continue;
        this.db.prepare(`UPDATE workers SET state = 'dead' WHERE id = ?`).run(w.id);
        for (const t of this.readTrials(id).filter((x) => x.state === 'running' && x.workerId === w.id)) {
          this.fail(id, t, `worker ${w.id} (pid ${w.pid} on ${w.host}) died`, retry);
          failed.push(this.readTrial(id, name, t.number));
        }
      }
      return failed;
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
