// save() and load() of a real-sized network keep the event loop free. A time bound: run alone
// (test/alone/), where no other test shares the cores.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { SegregatedNetwork } from '../../src/models/segregated';
import { longestStall } from '../helpers/event-loop';
import { underSanitizer } from '../helpers/sanitizer';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-ckpt-loop-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

function bytesOf(a: Float32Array | Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

(underSanitizer ? test.serial.skip : test.serial)('save() and load() of a 784-500-10 network never hold the event loop for 20 ms', async (t) => {
  const net = new SegregatedNetwork({ layers: [500, 10], seed: 1, threads: 1 });
  const file = path.join(tmp, 'big.safetensors');
  await net.save(file);
  await SegregatedNetwork.load(file);  // warm-up: compiled code, file cache
  t.log(`file ${(fs.statSync(file).size / 1e6).toFixed(2)} MB`);
  // A shared machine may take the CPU away from this process at any time: the best of three tries.
  const tries: Array<{ save: number; load: number }> = [];
  for (let i = 0; i < 3; i++) {
    const save = await longestStall(() => net.save(file));
    let loaded: SegregatedNetwork | undefined;
    const load = await longestStall(async () => { loaded = await SegregatedNetwork.load(file); });
    t.deepEqual(bytesOf(loaded!.getWeights()[0].W), bytesOf(net.getWeights()[0].W));
    tries.push({ save, load });
    t.log(`try ${i + 1}: event loop held at most ${save.toFixed(1)} ms during save, ${load.toFixed(1)} ms during load`);
    if (save < 20 && load < 20) break;
  }
  const best = tries.reduce((a, b) => (Math.max(a.save, a.load) <= Math.max(b.save, b.load) ? a : b));
  t.true(best.save < 20, `save held the event loop ${best.save.toFixed(1)} ms`);
  t.true(best.load < 20, `load held the event loop ${best.load.toFixed(1)} ms`);
});
