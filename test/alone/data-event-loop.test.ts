// Loading a full-sized dataset and setting up an experiment on it keep the event loop free: the
// hashing, decompression output, splits and subsets run in slices (src/slices.ts). Before they
// did, loading Fashion-MNIST held the loop for 170-300 ms and an experiment's set-up on MNIST for
// 550 ms on a 2-core VM. A time bound: run alone (test/alone/), where no other test shares the cores.
import test from 'ava';

import { clearDatasetCache, loadDataset } from '../../src/data';
import { FASHION_MNIST } from '../../src/data/registry';
import { runExperiment } from '../../src/experiment';
import { datasetMissing } from '../helpers/data';
import { longestStall } from '../helpers/event-loop';
import { underSanitizer } from '../helpers/sanitizer';

const BOUND_MS = 50;

const why = datasetMissing(FASHION_MNIST);
const realFashion = why || underSanitizer ? test.serial.skip : test.serial;
const skipped = why ? ' [skipped: Fashion-MNIST not found; apt-get install dataset-fashion-mnist]' : '';

/** The best of three tries of `fn`, each from a cold dataset cache (a shared machine may take the CPU away at any time). */
async function bestOfThree(t: { log: (...s: string[]) => void }, what: string, fn: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3 && best >= BOUND_MS; i++) {
    clearDatasetCache();
    const held = await longestStall(fn);
    t.log(`${what}, try ${i + 1}: event loop held at most ${held.toFixed(1)} ms`);
    best = Math.min(best, held);
  }
  return best;
}

realFashion(`loading Fashion-MNIST (60,000 + 10,000 images, gzip, checksums) never holds the event loop for ${BOUND_MS} ms${skipped}`, async (t) => {
  await loadDataset('fashion-mnist'); // warm-up: compiled code, file cache
  let loaded = 0;
  const held = await bestOfThree(t, 'loadDataset', async () => { loaded = (await loadDataset('fashion-mnist')).train.count; });
  t.is(loaded, 60000);
  t.true(held < BOUND_MS, `held ${held.toFixed(1)} ms`);
});

realFashion(`an experiment's set-up on Fashion-MNIST (load, validation split, subsets, checksum, model) never holds the event loop for ${BOUND_MS} ms${skipped}`, async (t) => {
  const spec = { model: 'mlp' as const, dataset: 'fashion-mnist', epochs: 0, test: false, seed: 1, threads: 1 };
  await runExperiment(spec);
  let validated = 0;
  const held = await bestOfThree(t, 'runExperiment', async () => {
    const r = await runExperiment(spec);
    validated = r.dataset.validation;
  });
  t.is(validated, 6000);
  t.true(held < BOUND_MS, `held ${held.toFixed(1)} ms`);
});
