// How long the event loop was held: the tests that promise it stays free (test/alone/).
import { performance } from 'node:perf_hooks';

/** The longest gap between the ticks of a 1 ms interval while `fn` runs (ms). */
export async function longestStall(fn: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let max = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
  }, 1);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  return Math.max(max, performance.now() - last);
}
