// Ctrl-C and SIGTERM for long commands: the first one aborts `signal` (the work stops at its next
// chunk, keeping checkpoints and finished results), a second one exits at once. Exit code 130.
import { isAbortError } from '../train/model';

/**
 * Runs `work` with an AbortSignal tied to SIGINT and SIGTERM. When the work rejects with an
 * AbortError, prints `stopped(err)` to stderr and sets exit code 130; other errors pass through.
 */
export async function withStopSignals<T>(work: (signal: AbortSignal) => Promise<T>, stopped: (err: Error) => string): Promise<T | undefined> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error(`stopped by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } catch (err) {
    if (!isAbortError(err)) throw err;
    console.error(stopped(err));
    process.exitCode = 130;
    return undefined;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
