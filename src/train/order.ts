// The presentation order of each training epoch: src/data's seeded Fisher-Yates shuffle keyed by
// (seed, epoch), so any epoch's order is computed directly (resuming needs no replay), as the
// Int32Array the native models take.
import { epochOrder } from '../data/splits';

export function trainingOrder(count: number, seed: number, epoch: number): Int32Array {
  if (!Number.isInteger(count) || count < 0 || count > 2 ** 31 - 1) throw new RangeError(`trainingOrder: bad count ${count}`);
  return Int32Array.from(epochOrder(count, seed, epoch));
}
