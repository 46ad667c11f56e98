// The entry of a worker process (forked by runStudy): one runWorker on the study's storage (a
// SQLite file or a PostgreSQL URL, src/study/storage-url.ts).
// It stops (queueing its running trial again) on SIGINT, SIGTERM, or when its parent goes away
// (the IPC channel closes: a parent killed with kill -9 leaves no orphan training on). An error
// that ends it is sent to the parent (WorkerMessage) before it exits: 1, or ENVIRONMENT_EXIT_CODE
// for an error of its machine (errors.ts), whose trial is back in the queue.
import { ENVIRONMENT_EXIT_CODE, EnvironmentError, classifyTrialError } from './errors';
import { openStorage } from './storage-url';
import { runWorker } from './worker';
import type { DeviceString } from '../native';
import type { TrialProgress } from './objective';

/** What a worker process tells its parent: each trial it takes, where it is in it, and the error that ends it. */
export type WorkerMessage =
  | { type: 'trial'; number: number }
  | { type: 'progress'; trial: number; progress: TrialProgress }
  | { type: 'fatal'; message: string; environment: boolean };

function tell(m: WorkerMessage): void {
  // The callback takes a send that fails because the parent is going away (nothing to tell then).
  if (process.connected) process.send?.(m, undefined, undefined, () => undefined);
}

export interface WorkerArgs {
  storage: string;
  study: string;
  device?: DeviceString;
  threads?: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.env.DENDRITE_STUDY_WORKER ?? '{}') as WorkerArgs;
  const controller = new AbortController();
  const stop = (why: string) => () => {
    if (!controller.signal.aborted) controller.abort(new Error(why));
  };
  process.on('SIGINT', stop('stopped by SIGINT'));
  process.on('SIGTERM', stop('stopped by SIGTERM'));
  process.on('disconnect', stop('the study process went away'));
  const storage = await openStorage(args.storage, { mustExist: true });
  try {
    const r = await runWorker(storage, args.study, {
      ...(args.device !== undefined ? { device: args.device } : {}), ...(args.threads !== undefined ? { threads: args.threads } : {}),
      signal: controller.signal,
      onTrial: (t) => {
        if (t.state === 'running') tell({ type: 'trial', number: t.number });
      },
      onProgress: (trial, progress) => tell({ type: 'progress', trial, progress }),
    });
    process.exitCode = r.interrupted ? 130 : 0;
  } finally {
    await storage.close();
  }
}

main().catch((err: Error) => {
  const environment = classifyTrialError(err) === 'environment';
  console.error(`dendrite-bench study worker ${process.pid}: ${environment && !(err instanceof EnvironmentError) ? 'environment error: ' : ''}${err.message}`);
  process.exitCode = environment ? ENVIRONMENT_EXIT_CODE : 1;
  tell({ type: 'fatal', message: err.message, environment });
}).finally(() => {
  // The IPC channel would keep the process alive.
  if (process.connected) process.disconnect();
});
