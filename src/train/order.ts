// The presentation order of each training epoch: a seeded Fisher-Yates shuffle keyed by
// (seed, epoch), so any epoch's order is computed directly (resuming needs no replay).
// TEMPORARY generator (SplitMix32-style mixing) until src/data's epochOrder is merged.

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

export function trainingOrder(count: number, seed: number, epoch: number): Int32Array {
  if (!Number.isInteger(count) || count < 0 || count > 2 ** 31 - 1) throw new RangeError(`trainingOrder: bad count ${count}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`trainingOrder: seed ${seed} must be a non-negative safe integer`);
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`trainingOrder: epoch ${epoch} must be a non-negative integer`);
  let state = mix32(mix32(seed >>> 0) ^ mix32(Math.floor(seed / 2 ** 32) + 0x9e3779b9) ^ mix32(epoch + 0x85ebca6b));
  const next = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    return mix32(state);
  };
  const order = Int32Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    // unbiased integer in [0, i] by rejection
    const n = i + 1;
    const limit = 0x100000000 - (0x100000000 % n);
    let r = next();
    while (r >= limit) r = next();
    const j = r % n;
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
