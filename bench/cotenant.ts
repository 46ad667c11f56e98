// The busy machine of `--cotenant`: one single-threaded busy loop at the lowest priority (nice 19),
// as a laptop or shared server always has. Started for the second pass of a bench suite.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Cotenant {
  stop(): Promise<void>;
}

export async function startCotenant(): Promise<Cotenant> {
  const child: ChildProcess = spawn('nice', ['-n', '19', process.execPath, '-e', 'for (;;) {}'], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (e) => reject(new Error(`--cotenant: could not start nice -n 19 node: ${e.message}`)));
  });
  await new Promise((r) => setTimeout(r, 500));  // let it reach the scheduler's steady state
  return {
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}
