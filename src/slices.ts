// Work on the event loop done in slices, with the loop free in between, so that a service loading
// a dataset or saving a network keeps answering (the API's promise: nothing holds the event loop).
// A slice is about a millisecond: 1 MiB hashed, or copied into fresh memory (whose page faults
// cost more than the copy: loading MNIST in one piece held the loop for 550 ms on a 2-core VM).
import crypto from 'node:crypto';

/** Bytes hashed or copied per slice. */
export const SLICE_BYTES = 1 << 20;

/** Resolves after the I/O and timers that are due have run. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The hex digests of the concatenated parts, one per algorithm, hashed a slice at a time. */
export async function hashInSlices<A extends string>(parts: readonly Uint8Array[], algos: readonly A[]): Promise<Record<A, string>> {
  const hashes = algos.map((a) => crypto.createHash(a));
  for (const p of parts) {
    for (let at = 0; at < p.length; at += SLICE_BYTES) {
      const s = p.subarray(at, Math.min(p.length, at + SLICE_BYTES));
      for (const h of hashes) h.update(s);
      await tick();
    }
  }
  const out = {} as Record<A, string>;
  algos.forEach((a, i) => (out[a] = hashes[i].digest('hex')));
  return out;
}
