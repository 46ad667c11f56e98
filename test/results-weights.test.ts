// A results folder's final weights: dendrite-bench run writes one safetensors file per model and
// seed, lists it in results.json and links it from report.html; each loads back into a network
// that scores the recorded test accuracy on mnist-10k.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { runPreset } from '../src/cli/run';
import { loadDataset } from '../src/data/load';
import { loadTrainedModel } from '../src/experiment/run';
import { readResults, validateResults, weightsFileName } from '../src/report/results';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-weights-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
const quiet = { out: () => undefined, err: () => undefined };

test('run --quick writes each run\'s final weights; each loads back and scores the recorded test accuracy', async (t) => {
  const out = path.join(tmp, 'quick');
  await runPreset({ quick: true, out, quiet: true, threads: '2' }, quiet);
  const results = readResults(out);
  t.deepEqual(results.runs.map((r) => r.weights?.path), [
    'weights/segregated-seed0.safetensors', 'weights/mlp-seed0.safetensors', 'weights/cnn-seed0.safetensors', 'weights/fa-seed0.safetensors']);
  const testSet = (await loadDataset('mnist-10k')).test;
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  for (const r of results.runs) {
    const file = path.join(out, r.weights!.path);
    const bytes = fs.readFileSync(file);
    t.is(bytes.length, r.weights!.bytes, r.label);
    t.is(crypto.createHash('sha256').update(bytes).digest('hex'), r.weights!.sha256, r.label);
    t.true(html.includes(`href="${r.weights!.path}"`), `report.html links ${r.weights!.path}`);
    const model = await loadTrainedModel(r, file);
    try {
      const again = await model.evaluate(testSet);
      t.is(again.count, r.test!.count, r.label);
      t.is(again.accuracy, r.test!.accuracy, `${r.label}: the loaded weights score what the run recorded`);
      t.true(again.accuracy > 0.7, `${r.label}: ${again.accuracy}`);
    } finally {
      model.dispose?.();
    }
  }
  // A file of another model is refused, naming both kinds.
  const mlp = results.runs[1];
  await t.throwsAsync(loadTrainedModel(results.runs[0], path.join(out, mlp.weights!.path)), { message: /holds a mlp model, the result is of a segregated model/ });
  // A changed byte is caught by the file's integrity hash.
  const damaged = path.join(tmp, 'damaged.safetensors');
  const b = fs.readFileSync(path.join(out, mlp.weights!.path));
  b[b.length - 5] ^= 0x40;
  fs.writeFileSync(damaged, b);
  await t.throwsAsync(loadTrainedModel(mlp, damaged), { message: /damaged\.safetensors/ });
});

test('--no-weights writes none; a weights entry that leaves the folder or has a bad hash is refused', async (t) => {
  const preset = path.join(tmp, 'tiny.json');
  fs.writeFileSync(preset, JSON.stringify({
    format: 'dendrite-bench/preset@1', name: 'tiny', title: 'tiny', description: 'one small MLP', seeds: [4],
    settings: { dataset: 'mnist-10k', epochs: 1 }, experiments: [{ label: 'mlp 64', model: 'mlp', options: { layers: [64, 10] } }],
  }));
  const out = path.join(tmp, 'none');
  await runPreset({ preset, out, quiet: true, report: false, weights: false, threads: '2' }, quiet);
  t.false(fs.existsSync(path.join(out, 'weights')));
  const results = readResults(out);
  t.is(results.runs[0].weights, undefined);

  const entry = { path: 'weights/mlp-64-seed4.safetensors', sha256: 'a'.repeat(64), bytes: 10 };
  const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { runs: Array<Record<string, unknown>> };
  json.runs[0].weights = entry;
  t.notThrows(() => validateResults(structuredClone(json), 'r.json'));
  for (const [bad, message] of [
    [{ ...entry, path: '../elsewhere.safetensors' }, /runs\[0\]\.weights\.path must be a relative path inside the folder/],
    [{ ...entry, path: '/tmp/x.safetensors' }, /weights\.path must be a relative path/],
    [{ ...entry, sha256: 'xyz' }, /runs\[0\]\.weights\.sha256 must be 64 hex digits/],
    [{ ...entry, bytes: 1.5 }, /weights\.bytes must be an integer/],
  ] as const) {
    json.runs[0].weights = bad;
    t.throws(() => validateResults(structuredClone(json), 'r.json'), { message });
  }
});

test('weights file names: the label made file-name safe, numbered when taken', (t) => {
  t.is(weightsFileName('segregated 784-500-10', 3), 'weights/segregated-784-500-10-seed3.safetensors');
  t.is(weightsFileName('../a/b', 0), 'weights/a-b-seed0.safetensors');
  t.is(weightsFileName('mlp', 1, new Set(['weights/mlp-seed1.safetensors'])), 'weights/mlp-seed1-2.safetensors');
  t.is(weightsFileName('***', 0), 'weights/model-seed0.safetensors');
});
