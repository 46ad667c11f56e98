// Runs a node script in a child process and sends it `signal` once its stdout so far satisfies
// `when` (a Ctrl-C at a chosen point of a run); resolves with its exit status and output.
import { spawn } from 'node:child_process';

export function runAndStop(args: string[], signal: NodeJS.Signals, when: (stdout: string) => boolean): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (when(stdout) && !child.killed) child.kill(signal);
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}
