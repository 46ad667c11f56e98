// The PostgreSQL study storage (driver pg), for studies whose workers run on several machines.
// It keeps the semantics of sqlite.ts: every state change of a study is one transaction that
// first locks the study's row (SELECT ... FOR UPDATE), so the claims, finishes and reaps of one
// study are serialised as SQLite's IMMEDIATE transactions are, and a proposal made inside a claim
// sees every running trial. What a network adds, and what this file answers:
//   - a lost connection: every call is retried with backoff (saying so) for retryForMs;
//   - a commit whose reply was lost: each state change carries a token written in the same
//     transaction (table requests), so its retry returns the first result instead of, say,
//     claiming a second trial;
//   - a client that vanishes inside a transaction: the server ends the session after
//     idle_in_transaction_session_timeout, so the study's lock is not held for ever;
//   - clocks of worker machines that disagree: heartbeats are the server's clock, and worker
//     times are handed out translated to this machine's clock by ages the server measures, so
//     the reaper's "heartbeat older than 60 s" does not depend on the machines agreeing.
// The schema lives in one PostgreSQL schema (default dendrite_bench, or ?schema= in the URL),
// versioned in its table schema_version and migrated forward under an advisory lock when opened.
import { randomUUID } from 'node:crypto';

import pg from 'pg';

import type { Params } from '../bo/space';
import {
  StudyError, checkBudget, checkOutcome, checkStudyName, claimDecision, countsTowardBudget, importedTrial, now, retryAttempt,
  type Proposer, type RetryPolicy, type StudyStorage, type WorkerInfo,
} from './storage';
import type {
  FinalResult, ImportedTrial, IntermediateValue, StudyConfig, StudyRecord, StudyTrial, StudyTrialState, TrialOutcome, WorkerRecord,
} from './types';

/** Schema migrations: MIGRATIONS[i] takes version i to i + 1 (run with search_path on the study schema). */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: the records of sqlite.ts; JSON as json (not jsonb: the key order of configs and parameters is kept).
  `CREATE TABLE studies (
     id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     name text NOT NULL UNIQUE,
     config json NOT NULL,
     created_at text NOT NULL,
     final json
   );
   CREATE TABLE trials (
     study_id integer NOT NULL REFERENCES studies(id),
     number integer NOT NULL,
     state text NOT NULL CHECK (state IN ('waiting', 'running', 'complete', 'pruned', 'infeasible', 'failed')),
     params json NOT NULL,
     value double precision,
     attempt integer NOT NULL DEFAULT 1,
     retry_of integer,
     requeued boolean NOT NULL DEFAULT false,
     worker_id integer,
     device text,
     created_at text NOT NULL,
     started_at text,
     finished_at text,
     seconds double precision,
     error text,
     info json,
     PRIMARY KEY (study_id, number)
   );
   CREATE INDEX trials_state ON trials (study_id, state);
   CREATE TABLE intermediate (
     study_id integer NOT NULL,
     number integer NOT NULL,
     step integer NOT NULL,
     value double precision NOT NULL,
     PRIMARY KEY (study_id, number, step),
     FOREIGN KEY (study_id, number) REFERENCES trials (study_id, number)
   );
   CREATE TABLE workers (
     id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     study_id integer NOT NULL REFERENCES studies(id),
     pid integer NOT NULL,
     host text NOT NULL,
     device text,
     threads integer,
     started_at timestamptz NOT NULL,
     heartbeat_at timestamptz NOT NULL,
     state text NOT NULL CHECK (state IN ('alive', 'stopped', 'dead'))
   );
   CREATE INDEX workers_study ON workers (study_id, state);`,
  // 2: the results of state changes by token, so that a change retried after its commit's reply
  // was lost returns what it did instead of doing it twice (kept a day).
  `CREATE TABLE requests (
     token uuid PRIMARY KEY,
     result json,
     at timestamptz NOT NULL DEFAULT now()
   );
   CREATE INDEX requests_at ON requests (at);`,
];
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;
export const DEFAULT_POSTGRES_SCHEMA = 'dendrite_bench';

export interface PostgresOptions {
  /** The PostgreSQL schema of the study tables (default: ?schema= of the URL, else dendrite_bench). */
  schema?: string;
  /** Refuse to create the schema (default false). */
  mustExist?: boolean;
  /** Connections this process opens at most (default 2: a worker's loop and its heartbeat). */
  poolSize?: number;
  /** How long a call keeps retrying a lost connection before it fails (default 10 min). */
  retryForMs?: number;
  /** First wait after a lost connection; it doubles up to maxBackoffMs (defaults 500 ms and 10 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Milliseconds a query may wait for a reply before its connection counts as lost (default 90 000). */
  queryTimeoutMs?: number;
  /** Where lost and regained connections are reported (default: stderr). */
  onWarning?: (message: string) => void;
  /** The connections' application_name, as pg_stat_activity shows it (default "dendrite-bench PID"). */
  applicationName?: string;
}

interface TrialRow {
  number: number; state: StudyTrialState; params: Params; value: number | null; attempt: number; retry_of: number | null;
  requeued: boolean; worker_id: number | null; device: string | null; created_at: string; started_at: string | null;
  finished_at: string | null; seconds: number | null; error: string | null; info: Record<string, unknown> | null;
  intermediate: IntermediateValue[];
}
interface WorkerRow {
  id: number; pid: number; host: string; device: string | null; threads: number | null; started_age: number; beat_age: number;
  state: WorkerRecord['state'];
}
interface StudyRow { id: number; name: string; config: StudyConfig; created_at: string; final: FinalResult | null }

type Client = pg.PoolClient;

// Errors after which the same call may succeed on a new connection.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
// 57P01 admin_shutdown (pg_terminate_backend, a restart), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up),
// 53300 too_many_connections, 25P03 idle_in_transaction_session_timeout; class 08: connection exceptions.
const SERVER_GONE_CODES = new Set(['57P01', '57P02', '57P03', '53300', '25P03']);

export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || SERVER_GONE_CODES.has(e.code) || e.code.startsWith('08'))) return true;
  return typeof e.message === 'string' &&
    /Connection terminated|connection error|not queryable|timeout expired|Query read timeout|timeout exceeded when trying to connect|Client was closed/i.test(e.message);
}

// 40001 serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available (lock_timeout):
// the transaction may simply be run again.
const isConflict = (err: unknown): boolean => ['40001', '40P01', '55P03'].includes((err as { code?: string })?.code ?? '');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A postgres:// or postgresql:// URL checked and split into what pg connects to, the schema, and a password-free name. */
export function parsePostgresUrl(url: string, schemaOption?: string): { connectionString: string; schema: string; location: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StudyError('ERR_STUDY_STORAGE', `not a PostgreSQL URL: ${JSON.stringify(redact(url))} (postgresql://user:password@host:port/database)`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new StudyError('ERR_STUDY_STORAGE', `a PostgreSQL URL starts with postgresql://, not ${u.protocol}//`);
  }
  if (u.pathname.replace(/^\//, '') === '') {
    throw new StudyError('ERR_STUDY_STORAGE', `${redact(url)} names no database (postgresql://user:password@host:port/database)`);
  }
  const schema = schemaOption ?? u.searchParams.get('schema') ?? DEFAULT_POSTGRES_SCHEMA;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new StudyError('ERR_STUDY_STORAGE', `the schema must be 1 to 63 lower-case letters, digits or "_" (not starting with a digit), got ${JSON.stringify(schema)}`);
  }
  u.searchParams.delete('schema');
  const shown = new URL(u.toString());
  shown.password = '';
  shown.search = '';
  return { connectionString: u.toString(), schema, location: `${shown.toString().replace(/^postgres(ql)?:/, 'postgresql:')} (schema ${schema})` };
}

/** The URL with its password replaced, for messages. */
export function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

export class PostgresStorage implements StudyStorage {
  readonly location: string;
  /** The URL as given (another process opens the same storage with it). */
  readonly url: string;
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly retryForMs: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly warn: (message: string) => void;
  /** Since when calls fail for a lost connection (undefined: connected). */
  private lostSince: number | undefined;
  private lastWarning = 0;
  private readonly beats = new Map<number, Promise<void>>();
  private closed = false;

  private constructor(url: string, options: PostgresOptions) {
    const p = parsePostgresUrl(url, options.schema);
    this.url = url;
    this.schema = p.schema;
    this.location = p.location;
    this.retryForMs = options.retryForMs ?? 10 * 60_000;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.warn = options.onWarning ?? ((m) => process.stderr.write(`dendrite-bench: ${m}\n`));
    this.pool = new pg.Pool({
      connectionString: p.connectionString,
      max: options.poolSize ?? 2,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      query_timeout: options.queryTimeoutMs ?? 90_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: options.applicationName ?? `dendrite-bench ${process.pid}`,
      // The proposer runs inside the claim (it must see every running trial), so a session may be
      // idle in a transaction for as long as a suggestion takes; a client gone longer than 2 min
      // loses its transaction and the study's lock. A wait for that lock ends on the server
      // (lock_timeout, then retried) before the client's query timeout would drop the connection.
      options: `-c search_path=${p.schema} -c idle_in_transaction_session_timeout=120000 -c lock_timeout=60000`,
    });
    // A connection that fails while idle or between queries emits 'error'; the failing call
    // reports it, so the event only must not crash the process.
    this.pool.on('error', () => undefined);
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  /** Connects, creates or migrates the schema, and returns the storage. */
  static async open(url: string, options: PostgresOptions = {}): Promise<PostgresStorage> {
    const s = new PostgresStorage(url, options);
    try {
      await s.migrate(options.mustExist === true);
      await s.run('cleanup', async (c) => {
        await c.query(`DELETE FROM requests WHERE at < now() - interval '1 day'`);
      });
    } catch (err) {
      await s.pool.end().catch(() => undefined);
      throw err;
    }
    return s;
  }

  private storageError(err: unknown): StudyError {
    const e = err as { message?: string; code?: string };
    const hint = e.code === '28P01' ? ' (wrong user or password)' : e.code === '3D000' ? ' (create the database first)'
      : e.code === '42501' ? ' (the role needs CREATE on the database, or an existing schema it owns)' : '';
    return new StudyError('ERR_STUDY_STORAGE', `${this.location}: ${e.message ?? String(err)}${hint}`);
  }

  /** The server answered: a lost connection is back. */
  private reached(): void {
    if (this.lostSince === undefined) return;
    this.warn(`the connection to ${this.location} is back after ${((Date.now() - this.lostSince) / 1000).toFixed(1)} s`);
    this.lostSince = undefined;
    this.lastWarning = 0;
  }

  private note(message: string): void {
    // While a connection stays lost, one line every 10 s is enough.
    if (Date.now() - this.lastWarning < 10_000) return;
    this.lastWarning = Date.now();
    this.warn(message);
  }

  /**
   * Runs `fn` on one connection, in a transaction when `tx`, retrying conflicts at once and lost
   * connections with backoff. With a `token`, the result is recorded in the same transaction,
   * and a retry first looks for it: a commit whose reply was lost is not done twice.
   */
  private async run<T>(what: string, fn: (c: Client) => Promise<T>, opts: { tx?: boolean; token?: string } = {}): Promise<T> {
    if (this.closed) throw new StudyError('ERR_STUDY_STORAGE', `${this.location} is closed`);
    let backoff = this.backoffMs;
    let conflicts = 0;
    let retried = false;
    for (;;) {
      let client: Client | undefined;
      let inTx = false;
      try {
        client = await this.pool.connect();
        let result: T;
        let done = false;
        if (opts.tx) {
          await client.query('BEGIN');
          inTx = true;
          if (opts.token !== undefined && retried) {
            const prior = await client.query<{ result: unknown }>('SELECT result FROM requests WHERE token = $1', [opts.token]);
            if (prior.rowCount) {
              result = (prior.rows[0].result ?? undefined) as T;
              done = true;
            }
          }
        }
        if (!done) {
          result = await fn(client);
          if (opts.token !== undefined) {
            await client.query('INSERT INTO requests (token, result) VALUES ($1, $2)', [opts.token, JSON.stringify(result! ?? null)]);
          }
        }
        if (opts.tx) {
          await client.query('COMMIT');
          inTx = false;
        }
        client.release();
        this.reached();
        return result!;
      } catch (err) {
        const lost = isConnectionError(err);
        if (client) {
          if (inTx && !lost) await client.query('ROLLBACK').catch(() => undefined);
          client.release(lost ? (err as Error) : undefined);
        }
        if (this.closed) throw new StudyError('ERR_STUDY_STORAGE', `${this.location} was closed during ${what}`);
        if (!lost && isConflict(err) && conflicts++ < 50) {
          await sleep(Math.random() * 20);
          continue;
        }
        if (!lost) this.reached();
        if (!lost) throw err instanceof StudyError ? err : err instanceof Error && !('code' in err) ? err : this.storageError(err);
        const since = this.lostSince ?? Date.now();
        this.lostSince = since;
        if (Date.now() - since >= this.retryForMs) {
          throw new StudyError('ERR_STUDY_STORAGE', `lost the connection to ${this.location} ${((Date.now() - since) / 1000).toFixed(0)} s ago ` +
            `(${(err as Error).message}); gave up on ${what}`);
        }
        const wait = Math.min(backoff, this.maxBackoffMs, Math.max(0, since + this.retryForMs - Date.now()));
        this.note(`lost the connection to ${this.location} (${(err as Error).message}) during ${what}; retrying in ${(wait / 1000).toFixed(1)} s, ` +
          `for up to ${Math.round(this.retryForMs / 1000)} s in all`);
        await sleep(wait * (0.75 + Math.random() * 0.5));
        backoff *= 2;
        retried = true;
      }
    }
  }

  private async migrate(mustExist: boolean): Promise<void> {
    await this.run('opening the study schema', async (c) => {
      // Workers that start at once: one migrates, the others wait here and then find it done.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`dendrite-bench schema ${this.schema}`]);
      const has = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schema]);
      if (!has.rowCount) {
        if (mustExist) throw new StudyError('ERR_STUDY_NOT_FOUND', `no dendrite-bench studies in ${this.location}`);
        await c.query(`CREATE SCHEMA ${this.schema}`);
      }
      const tables = (await c.query<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [this.schema]))
        .rows.map((r) => r.tablename);
      let version = 0;
      if (tables.includes('schema_version')) {
        const row = (await c.query<{ version: number }>('SELECT version FROM schema_version')).rows[0];
        if (!row || !Number.isInteger(row.version)) throw new StudyError('ERR_STUDY_STORAGE', `${this.location}: its schema_version table is empty`);
        version = row.version;
      } else if (tables.length > 0) {
        throw new StudyError('ERR_STUDY_STORAGE', `${this.location} holds other tables (${tables.slice(0, 5).join(', ')}) and no schema_version: ` +
          'not a dendrite-bench study schema; name another with ?schema=NAME in the URL');
      } else {
        await c.query('CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (0);');
      }
      if (version > POSTGRES_SCHEMA_VERSION) {
        throw new StudyError('ERR_STUDY_STORAGE', `${this.location} has schema version ${version}; this dendrite-bench reads up to ${POSTGRES_SCHEMA_VERSION} (upgrade it)`);
      }
      for (let v = version; v < POSTGRES_SCHEMA_VERSION; v++) {
        await c.query(POSTGRES_MIGRATIONS[v]);
        await c.query('UPDATE schema_version SET version = $1', [v + 1]);
      }
    }, { tx: true });
  }

  /** The study's row, locked until the transaction ends: the one lock every state change of a study takes first. */
  private async lockStudy(c: Client, name: string): Promise<StudyRow> {
    const r = await c.query<StudyRow>('SELECT id, name, config, created_at, final FROM studies WHERE name = $1 FOR UPDATE', [name]);
    if (!r.rowCount) throw new StudyError('ERR_STUDY_NOT_FOUND', `no study "${name}" in ${this.location}`);
    return r.rows[0];
  }

  private async studyRow(c: Client, name: string): Promise<StudyRow> {
    const r = await c.query<StudyRow>('SELECT id, name, config, created_at, final FROM studies WHERE name = $1', [name]);
    if (!r.rowCount) throw new StudyError('ERR_STUDY_NOT_FOUND', `no study "${name}" in ${this.location}`);
    return r.rows[0];
  }

  private record(r: StudyRow): StudyRecord {
    return { name: r.name, config: r.config, createdAt: r.created_at, ...(r.final !== null ? { final: r.final } : {}) };
  }

  // One statement, so the trials and their intermediate values are one snapshot.
  private async readTrials(c: Client, id: number, number?: number): Promise<StudyTrial[]> {
    const rows = (await c.query<TrialRow>(`SELECT t.*, COALESCE((SELECT json_agg(json_build_object('step', i.step, 'value', i.value) ORDER BY i.step)
      FROM intermediate i WHERE i.study_id = t.study_id AND i.number = t.number), '[]'::json) AS intermediate
      FROM trials t WHERE t.study_id = $1 ${number === undefined ? '' : 'AND t.number = $2'} ORDER BY t.number`,
    number === undefined ? [id] : [id, number])).rows;
    return rows.map((r) => {
      const t: StudyTrial = { number: r.number, state: r.state, params: r.params, intermediate: r.intermediate, attempt: r.attempt,
        requeued: r.requeued, createdAt: r.created_at };
      if (r.value !== null) t.value = r.value;
      if (r.retry_of !== null) t.retryOf = r.retry_of;
      if (r.worker_id !== null) t.workerId = r.worker_id;
      if (r.device !== null) t.device = r.device;
      if (r.started_at !== null) t.startedAt = r.started_at;
      if (r.finished_at !== null) t.finishedAt = r.finished_at;
      if (r.seconds !== null) t.seconds = r.seconds;
      if (r.error !== null) t.error = r.error;
      if (r.info !== null) t.info = r.info;
      return t;
    });
  }

  private async readTrial(c: Client, id: number, name: string, number: number): Promise<StudyTrial> {
    const t = (await this.readTrials(c, id, number))[0];
    if (!t) throw new StudyError('ERR_TRIAL_STATE', `study "${name}" has no trial ${number}`);
    return t;
  }

  private async insertTrial(c: Client, id: number, t: StudyTrial): Promise<void> {
    await c.query(`INSERT INTO trials (study_id, number, state, params, value, attempt, retry_of, requeued, worker_id, device,
      created_at, started_at, finished_at, seconds, error, info) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, [
      id, t.number, t.state, JSON.stringify(t.params), t.value ?? null, t.attempt, t.retryOf ?? null, t.requeued, t.workerId ?? null,
      t.device ?? null, t.createdAt, t.startedAt ?? null, t.finishedAt ?? null, t.seconds ?? null, t.error ?? null,
      t.info !== undefined ? JSON.stringify(t.info) : null]);
    if (t.intermediate.length) {
      await c.query('INSERT INTO intermediate (study_id, number, step, value) SELECT $1, $2, * FROM unnest($3::integer[], $4::float8[])',
        [id, t.number, t.intermediate.map((i) => i.step), t.intermediate.map((i) => i.value)]);
    }
  }

  private async nextNumber(c: Client, id: number): Promise<number> {
    return (await c.query<{ n: number }>('SELECT COALESCE(MAX(number) + 1, 0) AS n FROM trials WHERE study_id = $1', [id])).rows[0].n;
  }

  private async writeFinish(c: Client, id: number, t: StudyTrial, o: TrialOutcome): Promise<void> {
    const at = now();
    const seconds = t.startedAt !== undefined ? (Date.parse(at) - Date.parse(t.startedAt)) / 1000 : null;
    await c.query(`UPDATE trials SET state = $1, value = $2, error = $3, info = COALESCE($4::json, info), finished_at = $5, seconds = $6
      WHERE study_id = $7 AND number = $8`, [o.state, o.value ?? null, o.error ?? null, o.info !== undefined ? JSON.stringify(o.info) : null,
      at, seconds, id, t.number]);
  }

  private async fail(c: Client, id: number, t: StudyTrial, error: string, retry: RetryPolicy): Promise<StudyTrial | undefined> {
    await this.writeFinish(c, id, t, { state: 'failed', error });
    const attempt = retryAttempt(t, retry);
    if (attempt === undefined) return undefined;
    await c.query('UPDATE trials SET requeued = true WHERE study_id = $1 AND number = $2', [id, t.number]);
    const r: StudyTrial = { number: await this.nextNumber(c, id), state: 'waiting', params: t.params, intermediate: [], attempt, retryOf: t.number,
      requeued: false, createdAt: now() };
    await this.insertTrial(c, id, r);
    return r;
  }

  async createStudy(name: string, config: StudyConfig): Promise<StudyRecord> {
    checkStudyName(name);
    checkBudget(config.trials);
    return this.run('createStudy', async (c) => {
      const createdAt = now();
      const r = await c.query('INSERT INTO studies (name, config, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING id',
        [name, JSON.stringify(config), createdAt]);
      if (!r.rowCount) throw new StudyError('ERR_STUDY_EXISTS', `study "${name}" exists already in ${this.location}`);
      return { name, config: structuredClone(config), createdAt };
    }, { tx: true, token: randomUUID() });
  }

  async loadStudy(name: string): Promise<StudyRecord | undefined> {
    return this.run('loadStudy', async (c) => {
      const r = await c.query<StudyRow>('SELECT id, name, config, created_at, final FROM studies WHERE name = $1', [name]);
      return r.rowCount ? this.record(r.rows[0]) : undefined;
    });
  }

  async listStudies(): Promise<string[]> {
    return this.run('listStudies', async (c) => (await c.query<{ name: string }>('SELECT name FROM studies ORDER BY name')).rows.map((r) => r.name));
  }

  async setBudget(name: string, trials: number): Promise<void> {
    checkBudget(trials);
    await this.run('setBudget', async (c) => {
      const s = await this.lockStudy(c, name);
      const counted = (await this.readTrials(c, s.id)).filter(countsTowardBudget).length;
      if (trials < counted) throw new StudyError('ERR_STUDY_BUDGET', `study "${name}" already has ${counted} trials; the budget cannot be ${trials}`);
      await c.query('UPDATE studies SET config = $1 WHERE id = $2', [JSON.stringify({ ...s.config, trials }), s.id]);
    }, { tx: true });
  }

  async setFinal(name: string, final: FinalResult): Promise<void> {
    await this.run('setFinal', async (c) => {
      const s = await this.lockStudy(c, name);
      await c.query('UPDATE studies SET final = $1 WHERE id = $2', [JSON.stringify(final), s.id]);
    }, { tx: true });
  }

  async claimTrial(name: string, workerId: number, propose: Proposer, device?: string): Promise<StudyTrial | undefined> {
    return this.run('claimTrial', async (c) => {
      const s = await this.lockStudy(c, name);
      const study = this.record(s);
      const trials = await this.readTrials(c, s.id);
      const decision = claimDecision(trials, study.config.trials);
      if (decision === undefined) return undefined;
      // A claim is a sign of life: a worker taken for dead while cut off must be alive again
      // before it holds a trial, or no reaper would look at that trial should it really die.
      await c.query(`UPDATE workers SET state = 'alive', heartbeat_at = clock_timestamp() WHERE id = $1 AND study_id = $2 AND state = 'dead'`,
        [workerId, s.id]);
      const startedAt = now();
      if (decision === 'new') {
        const params = propose({ study, trials });
        // The trials just read under the lock, by number: the next number without another query.
        const number = trials.length ? trials[trials.length - 1].number + 1 : 0;
        const t: StudyTrial = { number, state: 'running', params, intermediate: [], attempt: 1, requeued: false,
          workerId, createdAt: startedAt, startedAt, ...(device !== undefined ? { device } : {}) };
        await this.insertTrial(c, s.id, t);
        return t;
      }
      await c.query(`UPDATE trials SET state = 'running', worker_id = $1, started_at = $2, device = $3 WHERE study_id = $4 AND number = $5`,
        [workerId, startedAt, device ?? null, s.id, decision.waiting]);
      return this.readTrial(c, s.id, name, decision.waiting);
    }, { tx: true, token: randomUUID() });
  }

  async reportIntermediate(name: string, number: number, step: number, value: number): Promise<void> {
    await this.run('reportIntermediate', async (c) => {
      const s = await this.lockStudy(c, name);
      const t = await this.readTrial(c, s.id, name, number);
      if (t.state !== 'running') throw new StudyError('ERR_TRIAL_STATE', `trial ${number} of "${name}" is ${t.state}, not running`);
      await c.query(`INSERT INTO intermediate (study_id, number, step, value) VALUES ($1, $2, $3, $4)
        ON CONFLICT (study_id, number, step) DO UPDATE SET value = EXCLUDED.value`, [s.id, number, step, value]);
    }, { tx: true, token: randomUUID() });
  }

  async finishTrial(name: string, number: number, outcome: TrialOutcome): Promise<StudyTrial> {
    checkOutcome(outcome);
    return this.run('finishTrial', async (c) => {
      const s = await this.lockStudy(c, name);
      const t = await this.readTrial(c, s.id, name, number);
      if (t.state !== 'running') throw new StudyError('ERR_TRIAL_STATE', `trial ${number} of "${name}" is ${t.state}, not running`);
      await this.writeFinish(c, s.id, t, outcome);
      return this.readTrial(c, s.id, name, number);
    }, { tx: true, token: randomUUID() });
  }

  async failTrial(name: string, number: number, error: string, retry: RetryPolicy): Promise<StudyTrial | undefined> {
    return this.run('failTrial', async (c) => {
      const s = await this.lockStudy(c, name);
      const t = await this.readTrial(c, s.id, name, number);
      if (t.state !== 'running' && t.state !== 'waiting') throw new StudyError('ERR_TRIAL_STATE', `trial ${number} of "${name}" is ${t.state}, not running`);
      return this.fail(c, s.id, t, error, retry);
    }, { tx: true, token: randomUUID() });
  }

  async getTrial(name: string, number: number): Promise<StudyTrial | undefined> {
    return this.run('getTrial', async (c) => (await this.readTrials(c, (await this.studyRow(c, name)).id, number))[0]);
  }

  async listTrials(name: string): Promise<StudyTrial[]> {
    return this.run('listTrials', async (c) => this.readTrials(c, (await this.studyRow(c, name)).id));
  }

  async importTrials(name: string, trials: readonly ImportedTrial[]): Promise<StudyTrial[]> {
    trials.forEach((i) => checkOutcome(i));
    return this.run('importTrials', async (c) => {
      const s = await this.lockStudy(c, name);
      const counted = (await this.readTrials(c, s.id)).filter(countsTowardBudget).length;
      if (counted + trials.length > s.config.trials) {
        throw new StudyError('ERR_STUDY_BUDGET', `study "${name}" has ${counted} of ${s.config.trials} trials; ${trials.length} more do not fit`);
      }
      let n = await this.nextNumber(c, s.id);
      const out: StudyTrial[] = [];
      for (const i of trials) {
        const t = importedTrial(n++, i);
        await this.insertTrial(c, s.id, t);
        out.push(t);
      }
      return out;
    }, { tx: true, token: randomUUID() });
  }

  // Worker times in this machine's clock: now minus the age the server measures on its own clock.
  private static readonly WORKER_COLUMNS = `id, pid, host, device, threads, state,
    extract(epoch FROM clock_timestamp() - started_at)::float8 AS started_age, extract(epoch FROM clock_timestamp() - heartbeat_at)::float8 AS beat_age`;

  private workerRecord(r: WorkerRow, at = Date.now()): WorkerRecord {
    return { id: r.id, pid: r.pid, host: r.host, startedAt: new Date(at - r.started_age * 1000).toISOString(),
      heartbeatAt: new Date(at - r.beat_age * 1000).toISOString(), state: r.state,
      ...(r.device !== null ? { device: r.device } : {}), ...(r.threads !== null ? { threads: r.threads } : {}) };
  }

  async registerWorker(name: string, info: WorkerInfo): Promise<WorkerRecord> {
    return this.run('registerWorker', async (c) => {
      const s = await this.studyRow(c, name);
      const r = await c.query<WorkerRow>(`INSERT INTO workers (study_id, pid, host, device, threads, started_at, heartbeat_at, state)
        VALUES ($1, $2, $3, $4, $5, clock_timestamp(), clock_timestamp(), 'alive') RETURNING ${PostgresStorage.WORKER_COLUMNS}`,
      [s.id, info.pid, info.host, info.device ?? null, info.threads ?? null]);
      return this.workerRecord(r.rows[0]);
    }, { tx: true, token: randomUUID() });
  }

  async heartbeat(name: string, workerId: number): Promise<void> {
    // A heartbeat still retrying a lost connection stands for the ones due meanwhile.
    const pending = this.beats.get(workerId);
    if (pending) return pending;
    const p = this.run('heartbeat', async (c) => {
      const s = await this.studyRow(c, name);
      // A worker taken for dead while it was only cut off is alive again (its trial was queued
      // again when it was reaped); otherwise it could claim trials that no reaper would look at.
      await c.query(`UPDATE workers SET heartbeat_at = clock_timestamp(), state = CASE WHEN state = 'dead' THEN 'alive' ELSE state END
        WHERE id = $1 AND study_id = $2`, [workerId, s.id]);
    }).finally(() => this.beats.delete(workerId));
    this.beats.set(workerId, p);
    return p;
  }

  async stopWorker(name: string, workerId: number, state: 'stopped' | 'dead'): Promise<void> {
    await this.run('stopWorker', async (c) => {
      const s = await this.studyRow(c, name);
      // A worker taken for dead that then leaves cleanly was not dead after all.
      await c.query(`UPDATE workers SET state = $1 WHERE id = $2 AND study_id = $3 AND (state = 'alive' OR (state = 'dead' AND $1 = 'stopped'))`,
        [state, workerId, s.id]);
    });
  }

  async listWorkers(name: string): Promise<WorkerRecord[]> {
    return this.run('listWorkers', async (c) => {
      const s = await this.studyRow(c, name);
      const rows = (await c.query<WorkerRow>(`SELECT ${PostgresStorage.WORKER_COLUMNS} FROM workers WHERE study_id = $1 ORDER BY id`, [s.id])).rows;
      const at = Date.now();
      return rows.map((r) => this.workerRecord(r, at));
    });
  }

  async reapWorkers(name: string, isDead: (w: WorkerRecord) => boolean, retry: RetryPolicy = 'crashed'): Promise<StudyTrial[]> {
    // Every worker looks before each claim and almost always finds no one dead: that look takes
    // no lock; only when someone seems dead is the study locked and the question asked again.
    const suspects = await this.run('reapWorkers', async (c) => {
      const s = await this.studyRow(c, name);
      const rows = (await c.query<WorkerRow>(`SELECT ${PostgresStorage.WORKER_COLUMNS} FROM workers WHERE study_id = $1 AND state = 'alive'`, [s.id])).rows;
      const at = Date.now();
      return rows.filter((r) => isDead(this.workerRecord(r, at))).length;
    });
    if (suspects === 0) return [];
    return this.run('reapWorkers', async (c) => {
      const s = await this.lockStudy(c, name);
      const alive = (await c.query<WorkerRow>(`SELECT ${PostgresStorage.WORKER_COLUMNS} FROM workers WHERE study_id = $1 AND state = 'alive' ORDER BY id`,
        [s.id])).rows;
      const at = Date.now();
      const failed: StudyTrial[] = [];
      for (const row of alive) {
        const w = this.workerRecord(row, at);
        if (!isDead(w)) continue;
        await c.query(`UPDATE workers SET state = 'dead' WHERE id = $1`, [w.id]);
        for (const t of (await this.readTrials(c, s.id)).filter((x) => x.state === 'running' && x.workerId === w.id)) {
          await this.fail(c, s.id, t, `worker ${w.id} (pid ${w.pid} on ${w.host}) died`, retry);
          failed.push(await this.readTrial(c, s.id, name, t.number));
        }
      }
      return failed;
    }, { tx: true, token: randomUUID() });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
