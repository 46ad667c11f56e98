// Errors of a trial: which are the configuration's own (they are its result and count towards the
// budget) and which are the environment's (the worker stops and the trial goes back to the queue,
// not counted): one test per class of classifyTrialError, then what a worker and a study do with
// an environment error, on real failures (a corrupt dataset file, an unreachable database).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { idxFileSpecs } from '../src/data/load';
import { findSpec } from '../src/data/registry';
import { optionError } from '../src/models/options';
import { native } from '../src/native';
import { EnvironmentError, classifyTrialError } from '../src/study/errors';
import { MemoryStorage } from '../src/study/memory';
import { evaluateTrial } from '../src/study/objective';
import { runStudy } from '../src/study/run';
import { claimDecision, countsTowardBudget, finishedCount } from '../src/study/storage';
import { openStorage } from '../src/study/storage-url';
import type { StudyConfig } from '../src/study/types';
import { runWorker } from '../src/study/worker';
import { DivergenceError } from '../src/train/loop';
import { AbortError } from '../src/train/model';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'study-errors-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

/** A data folder whose Fashion-MNIST files are all there, and all garbage. */
// A data folder whose MNIST files are corrupt. MNIST: no system folder holds a copy to fall back on
// (Debian's Fashion-MNIST would be found instead of a broken one).
function corruptMnist(): { root: string; files: string } {
  const root = fs.mkdtempSync(path.join(tmp, 'data-'));
  const spec = findSpec('mnist');
  if (!spec || spec.kind !== 'idx' || spec.systemDirs.length > 0) throw new Error('mnist is not an IDX dataset without system copies');
  const files = path.join(root, spec.dir);
  fs.mkdirSync(files);
  for (const f of idxFileSpecs(spec)) fs.writeFileSync(path.join(files, f.name), 'not a gzip stream at all');
  return { root, files };
}

function config(over: Partial<StudyConfig['objective']> = {}, trials = 3): StudyConfig {
  return {
    objective: { model: 'mlp', fixed: { layers: [16, 10] }, dataset: 'mnist-10k', folds: 2, epochs: 1, ...over },
    space: { lr: { type: 'float', low: 1e-4, high: 0.1, log: true }, batchSize: { type: 'int', low: 16, high: 128, log: true } },
    spaceName: 'test', direction: 'maximize', strategy: 'random', trials, seed: 1, prune: false,
  };
}

test('interrupted: an abort', (t) => {
  t.is(classifyTrialError(new AbortError('training aborted')), 'interrupted');
});

test('infeasible: an option error, even one that says "unknown option"', (t) => {
  t.is(classifyTrialError(optionError('mlp', 'lr', 'must be > 0')), 'infeasible');
  t.is(classifyTrialError(optionError('mlp', '', 'unknown option "lrr"', true)), 'infeasible');
});

test('diverged: a DivergenceError', (t) => {
  t.is(classifyTrialError(new DivergenceError('epoch 1: the training loss is NaN')), 'diverged');
});

test('environment: the addon missing or older than the code, a CUDA device that is not there', (t) => {
  t.is(classifyTrialError(withCode('the native addon could not be loaded', 'ERR_DENDRITE_ADDON')), 'environment');
  // A function this code calls that the loaded addon lacks (real: the proxy of src/native.ts).
  const missing = t.throws(() => (native as unknown as Record<string, unknown>).functionOfANewerRelease);
  t.regex(missing!.message, /has no "functionOfANewerRelease": it is older than this code/);
  t.is(classifyTrialError(missing), 'environment');
  // An option our tables accept that the addon refuses (real: the addon's own message).
  const unknown = t.throws(() => native.randomUniform({ n: 2, seed: 1, fromANewerRelease: 1 } as never));
  t.regex(unknown!.message, /^randomUniform: unknown option "fromANewerRelease"/);
  t.is(classifyTrialError(unknown), 'environment');
  t.is(classifyTrialError(withCode('no CUDA device', 'ERR_DENDRITE_DEVICE_UNAVAILABLE')), 'environment');
});

test('environment: a dataset file missing or corrupt (real), but not an unknown dataset name', async (t) => {
  const dir = corruptMnist();
  const corrupt = await t.throwsAsync(evaluateTrial(config({ dataset: 'mnist', dataDir: dir.root }), { lr: 0.01, batchSize: 32 }, { threads: 1 }));
  t.true(corrupt!.message.includes(dir.files), corrupt!.message);
  t.is(classifyTrialError(corrupt), 'environment');
  fs.rmSync(path.join(dir.files, 'train-labels-idx1-ubyte.gz'));
  const missing = await t.throwsAsync(evaluateTrial(config({ dataset: 'mnist', dataDir: dir.root }), { lr: 0.01, batchSize: 32 }, { threads: 1 }));
  t.regex(missing!.message, /file not found/);
  t.is(classifyTrialError(missing), 'environment');
  const { DatasetError } = await import('../src/data/errors');
  t.is(classifyTrialError(new DatasetError('', 'usage', 'unknown dataset "mnsit"')), 'failed');
});

test('environment: out of disk, no permission, a read-only disk, a file gone, no descriptors left', (t) => {
  for (const code of ['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'EIO', 'ENOENT', 'EMFILE', 'ENFILE', 'MODULE_NOT_FOUND']) {
    t.is(classifyTrialError(withCode(`${code}: something`, code)), 'environment', code);
  }
});

test('environment: the study storage unreachable (real: a closed port) or failing', async (t) => {
  const e = await t.throwsAsync(openStorage('postgresql://dendrite:x@127.0.0.1:9/nothing', { retryForMs: 0 }));
  t.is(classifyTrialError(e), 'environment', e!.message);
  t.is(classifyTrialError(withCode('ECONNRESET', 'ECONNRESET')), 'environment');
  const Database = (await import('better-sqlite3')).default;
  t.is(classifyTrialError(new Database.SqliteError('database or disk is full', 'SQLITE_FULL')), 'environment');
  t.is(classifyTrialError(new EnvironmentError('stopped')), 'environment');
});

test('failed: anything else, out of memory included (a configuration too large for the machine is its own result)', (t) => {
  t.is(classifyTrialError(new Error('fold 0 has no validation accuracy')), 'failed');
  t.is(classifyTrialError(new TypeError('x is not a function')), 'failed');
  t.is(classifyTrialError(withCode('out of memory (a native allocation failed)', 'ERR_DENDRITE_OUT_OF_MEMORY')), 'failed');
  t.is(classifyTrialError('a string'), 'failed');
  t.is(classifyTrialError(undefined), 'failed');
});

test('a worker meeting an environment error (a corrupt dataset, real) stops, and its trial goes back to the queue without counting', async (t) => {
  const storage = new MemoryStorage();
  const dir = corruptMnist();
  await storage.createStudy('e', config({ dataset: 'mnist', dataDir: dir.root }));
  const e = await t.throwsAsync(runWorker(storage, 'e', { threads: 1 }));
  t.true(e instanceof EnvironmentError);
  t.true(e!.message.startsWith(`environment error: ${dir.files}`), e!.message);
  t.regex(e!.message, /trial 0 went back to the queue; the budget is untouched/);
  const trials = await storage.listTrials('e');
  t.is(trials.length, 2);
  t.like(trials[0], { state: 'failed', requeued: true, attempt: 1 });
  t.regex(trials[0].error!, /^environment error: .*; queued to run again$/);
  t.like(trials[1], { state: 'waiting', attempt: 1, retryOf: 0, params: trials[0].params });
  t.is(finishedCount(trials), 0);
  t.is(trials.filter(countsTowardBudget).length, 1, 'only the waiting re-run holds a place');
  t.deepEqual(claimDecision(trials, 3), { waiting: 1 });
  t.is((await storage.listWorkers('e'))[0].state, 'stopped');
});

test('a study of in-process workers stops at the first environment error, all trials queued again, none counted', async (t) => {
  const storage = new MemoryStorage();
  await storage.createStudy('s', config({}, 6));
  let calls = 0;
  const e = await t.throwsAsync(runStudy({
    storage, name: 's', workers: 2, mode: 'inline', final: false,
    evaluate: async (_c, _p, run) => {
      if (++calls === 3) throw withCode('ENOSPC: no space left on device, write', 'ENOSPC');
      // The other worker's trial runs until the error stops it.
      if (calls === 4 && !run.signal?.aborted) await new Promise((resolve) => run.signal?.addEventListener('abort', resolve, { once: true }));
      if (run.signal?.aborted) throw new AbortError('stopped');
      return { state: 'complete', value: 0.5 };
    },
  }));
  t.regex(e!.message, /environment error: ENOSPC: no space left on device/);
  const trials = await storage.listTrials('s');
  t.is(finishedCount(trials), 2, 'the two trials before the error');
  t.false(trials.some((x) => x.state === 'running'));
  const failed = trials.filter((x) => x.state === 'failed');
  t.true(failed.every((x) => x.requeued));
  t.is(failed.filter((x) => /^environment error: ENOSPC/.test(x.error!)).length, 1);
  // The other worker's trial, if it had one, was interrupted by the error, not failed.
  t.true(failed.every((x) => /^environment error|^interrupted \(environment error/.test(x.error!)), JSON.stringify(failed.map((x) => x.error)));
  t.is(trials.filter((x) => x.state === 'waiting').length, failed.length);
});
