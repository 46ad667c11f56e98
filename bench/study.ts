// Study storage throughput (docs/distributed.md): trials per second a store sustains when N worker
// processes share one study with a no-op objective, so that what is measured is the coordination
// (claim with its proposal, finish, heartbeats, reaping), SQLite against PostgreSQL on this machine.
// The workers are the tests' cheap-objective worker (dist/test/helpers/study-worker-process.js:
// the real runWorker and store, no training). The rate is taken from the first finished trial to
// the last, so process start-up is left out; each run checks that exactly the budget finished.
//
//   node dist/bench/main.js study [--workers=8[,1,...]] [--trials=400] [--strategy=random|bayes] [--postgres=URL] [--json]
//
// PostgreSQL: --postgres, else DENDRITE_BENCH_POSTGRES or DENDRITE_TEST_POSTGRES; each run gets a
// schema of its own, dropped afterwards. Without one, only SQLite is measured.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import type { Strategy } from '../src/bo/optimize';
import { finishedCount, type StudyStorage } from '../src/study/storage';
import { openStorage } from '../src/study/storage-url';
import type { StudyConfig } from '../src/study/types';
import { TEST_WORKER_ENV, type TestWorkerArgs } from '../test/helpers/study-worker-process';

export const description = 'study stores: trials/s with N worker processes and a no-op objective, SQLite vs PostgreSQL';

const WORKER = path.join(__dirname, '..', 'test', 'helpers', 'study-worker-process.js');

interface Options {
  workers: number[];
  trials: number;
  strategy: Strategy;
  postgres?: string;
  json: boolean;
}

function parseArgs(args: string[]): Options {
  const env = process.env.DENDRITE_BENCH_POSTGRES ?? process.env.DENDRITE_TEST_POSTGRES;
  const o: Options = { workers: [8], trials: 400, strategy: 'random', json: false, ...(env ? { postgres: env } : {}) };
  for (const a of args) {
    const [key, value] = a.split(/=(.*)/s, 2);
    const int = (v: string | undefined, min: number): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new RangeError(`${key} expects integers >= ${min}, got "${value}"`);
      return n;
    };
    if (key === '--workers') o.workers = (value ?? '').split(',').map((v) => int(v, 1));
    else if (key === '--trials') o.trials = int(value, 20);
    else if (key === '--strategy' && (value === 'random' || value === 'bayes')) o.strategy = value;
    else if (key === '--postgres' && value) o.postgres = value;
    else if (key === '--json') o.json = true;
    else throw new RangeError(`unknown option ${a}; options: --workers=N[,N...] --trials=N --strategy=random|bayes --postgres=URL --json`);
  }
  return o;
}

interface Row {
  store: 'sqlite' | 'postgresql';
  workers: number;
  trials: number;
  /** From the first finished trial to the last. */
  seconds: number;
  trialsPerSecond: number;
  /** Median seconds from claim to stored result of one trial (the no-op objective's whole life). */
  trialSeconds: number;
}

function config(trials: number, strategy: Strategy): StudyConfig {
  return {
    objective: { model: 'mlp', fixed: {}, dataset: 'mnist-10k', folds: 2, epochs: 1 },
    space: { lr: { type: 'float', low: 1e-4, high: 0.1, log: true }, batchSize: { type: 'int', low: 16, high: 256 } },
    spaceName: 'bench', direction: 'maximize', strategy, trials, seed: 0, prune: false,
  };
}

async function measure(store: Row['store'], spec: string, workers: number, o: Options): Promise<Row> {
  const storage: StudyStorage = await openStorage(spec);
  try {
    await storage.createStudy('bench', config(o.trials, o.strategy));
    const args: TestWorkerArgs = { storage: spec, study: 'bench', sleepMs: 0, idleMs: 50 };
    const exits = Array.from({ length: workers }, () => new Promise<number | null>((resolve, reject) => {
      const child = fork(WORKER, [], { env: { ...process.env, [TEST_WORKER_ENV]: JSON.stringify(args) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      child.on('error', reject);
      child.on('exit', (code) => resolve(code));
    }));
    const codes = await Promise.all(exits);
    if (codes.some((c) => c !== 0)) throw new Error(`${store}: worker exit codes ${codes.join(', ')}`);
    const trials = await storage.listTrials('bench');
    if (finishedCount(trials) !== o.trials || trials.length !== o.trials) {
      throw new Error(`${store}: ${finishedCount(trials)} finished of ${trials.length} trials, not exactly ${o.trials}`);
    }
    const finished = trials.map((t) => Date.parse(t.finishedAt as string)).sort((a, b) => a - b);
    const seconds = (finished[finished.length - 1] - finished[0]) / 1000;
    const lives = trials.map((t) => t.seconds as number).sort((a, b) => a - b);
    return { store, workers, trials: o.trials, seconds, trialsPerSecond: (o.trials - 1) / seconds, trialSeconds: lives[lives.length >> 1] };
  } finally {
    await storage.close();
  }
}

async function serverVersion(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url.replace(/\?.*$/, '') });
  await c.connect();
  try {
    return (await c.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v;
  } finally {
    await c.end();
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: url.replace(/\?.*$/, '') });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}

export async function run(argv: string[]): Promise<void> {
  const o = parseArgs(argv);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-study-'));
  const rows: Row[] = [];
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `${os.platform()} ${os.release()}, Node ${process.version}`;
  const pgVersion = o.postgres ? await serverVersion(o.postgres) : undefined;
  if (!o.json) {
    console.log(`machine: ${machine}`);
    console.log(`PostgreSQL: ${pgVersion ? `${pgVersion} (${o.postgres!.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@')})` : 'none (set --postgres=URL or DENDRITE_BENCH_POSTGRES)'}`);
    console.log(`${o.trials} trials, no-op objective, proposals by ${o.strategy}\n`);
    console.log('store        workers  trials  seconds  trials/s  trial life p50 (ms)');
  }
  try {
    for (const workers of o.workers) {
      const stores: [Row['store'], string, (() => Promise<void>) | undefined][] = [['sqlite', path.join(tmp, `w${workers}`, 'study.sqlite'), undefined]];
      if (o.postgres) {
        const schema = `bench_study_${process.pid}_${workers}`;
        const u = new URL(o.postgres);
        u.searchParams.set('schema', schema);
        stores.push(['postgresql', u.toString(), () => dropSchema(o.postgres!, schema)]);
      }
      for (const [store, spec, cleanup] of stores) {
        try {
          const r = await measure(store, spec, workers, o);
          rows.push(r);
          if (!o.json) {
            console.log(`${r.store.padEnd(12)} ${String(r.workers).padStart(7)}  ${String(r.trials).padStart(6)}  ${r.seconds.toFixed(2).padStart(7)}  ` +
              `${r.trialsPerSecond.toFixed(1).padStart(8)}  ${(r.trialSeconds * 1000).toFixed(1).padStart(19)}`);
          }
        } finally {
          await cleanup?.();
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (o.json) console.log(JSON.stringify({ machine, postgres: pgVersion ?? null, strategy: o.strategy, rows }, null, 2));
}
