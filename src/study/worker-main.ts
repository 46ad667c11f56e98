// The entry of a worker process (forked by runStudy): one runWorker on the study's storage (a
// SQLite file or a PostgreSQL URL, src/study/storage-url.ts).
// It stops (queueing its running trial again) on SIGINT, SIGTERM, or when its parent goes away
// (the IPC channel closes: a parent killed with kill -9 leaves no orphan training on).
import { openStorage } from './storage-url';
import { runWorker } from './worker';
import type { DeviceString } from '../native';

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
    });
    process.exitCode = r.interrupted ? 130 : 0;
  } finally {
    await storage.close();
  }
}

main().catch((err: Error) => {
  console.error(`dendrite-bench study worker ${process.pid}: ${err.message}`);
  process.exitCode = 1;
}).finally(() => {
  // The IPC channel would keep the process alive.
  if (process.connected) process.disconnect();
});
