// A study worker process with a cheap objective, for the tests and the bench that need many
// trials (test/study-postgres-workers.test.ts, bench/study.ts): the real runWorker on the real
// storage (opened from its file or URL as worker-main.ts does), with a few milliseconds of sleep
// in place of training. It can pretend to run on another machine (its host name), so that only
// the heartbeat shows it dead, and it can hold one trial for a while (to be killed or cut off in
// the middle). One JSON line per event on stdout: start, hold, stored, done.
import os from 'node:os';

import type { Params } from '../../src/bo/space';
import { openStorage } from '../../src/study/storage-url';
import { runWorker } from '../../src/study/worker';

export interface TestWorkerArgs {
  storage: string;
  study: string;
  /** The host name the worker records (default: this one). */
  host?: string;
  /** Milliseconds each trial sleeps (default 0: the no-op objective). */
  sleepMs?: number;
  /** Trials to hold: the worker's `at`-th trial (1-based) takes `ms`, after printing {"type":"hold","at"}. */
  hold?: { at: number; ms: number }[];
  staleMs?: number;
  heartbeatMs?: number;
  idleMs?: number;
}

export const TEST_WORKER_ENV = 'DENDRITE_TEST_STUDY_WORKER';

/** A smooth function of the suite's parameters (lr, batchSize), best near lr 3e-3, batch 40. */
export function cheapValue(p: Params): number {
  return 1 - (Math.log10(p.lr as number) + 2.5) ** 2 / 10 - (((p.batchSize as number) - 40) / 100) ** 2;
}

const say = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

async function main(): Promise<void> {
  const a = JSON.parse(process.env[TEST_WORKER_ENV] as string) as TestWorkerArgs;
  if (a.host !== undefined) {
    const host = a.host;
    os.hostname = () => host; // another machine, as far as the study can tell
  }
  const controller = new AbortController();
  process.on('SIGTERM', () => controller.abort(new Error('stopped by SIGTERM')));
  const storage = await openStorage(a.storage, { mustExist: true });
  let n = 0;
  try {
    const r = await runWorker(storage, a.study, {
      signal: controller.signal,
      ...(a.staleMs !== undefined ? { staleMs: a.staleMs } : {}),
      ...(a.heartbeatMs !== undefined ? { heartbeatMs: a.heartbeatMs } : {}),
      ...(a.idleMs !== undefined ? { idleMs: a.idleMs } : {}),
      onTrial: (t) => say(t.state === 'running' ? { type: 'start', number: t.number } : { type: 'stored', number: t.number, state: t.state, value: t.value }),
      evaluate: async (_config, params) => {
        n++;
        const hold = a.hold?.find((h) => h.at === n);
        if (hold) {
          say({ type: 'hold', at: n });
          await new Promise((r) => setTimeout(r, hold.ms));
        } else if (a.sleepMs) {
          await new Promise((r) => setTimeout(r, a.sleepMs));
        }
        return { state: 'complete', value: cheapValue(params) };
      },
    });
    say({ type: 'done', ...r });
  } finally {
    await storage.close();
  }
}

if (process.env[TEST_WORKER_ENV]) {
  main().catch((err: Error) => {
    console.error(`test worker ${process.pid}: ${err.message}`);
    process.exitCode = 1;
  });
}
