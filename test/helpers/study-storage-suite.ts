// The behaviour every study storage must have (src/study/storage.ts), as one suite that any
// storage runs: test/study-storage.test.ts runs it for the memory and SQLite stores; a new
// store (PostgreSQL) calls studyStorageSuite with its own factory and passes the same tests.
import type { TestFn } from 'ava';

import { MAX_ATTEMPTS, finishedCount, isStudyError, type StudyStorage } from '../../src/study/storage';
import type { StudyConfig } from '../../src/study/types';

export interface StorageFactory {
  /** A fresh, empty storage. */
  open(): Promise<StudyStorage>;
  /** The same storage opened again (another connection or process view), when it persists. */
  reopen?(s: StudyStorage): Promise<StudyStorage>;
}

export function suiteConfig(trials = 4): StudyConfig {
  return {
    objective: { model: 'mlp', fixed: { layers: [8, 10] }, dataset: 'mnist-10k', folds: 2, epochs: 1 },
    space: { lr: { type: 'float', low: 1e-4, high: 0.1, log: true }, batchSize: { type: 'int', low: 16, high: 64 } },
    spaceName: 'suite', direction: 'maximize', strategy: 'bayes', trials, seed: 3, prune: false,
  };
}

let counter = 0;
const propose = () => ({ lr: 0.001 * ++counter, batchSize: 16 });

/** Registers the storage tests under `label` on ava's `test`. */
export function studyStorageSuite(test: TestFn, label: string, factory: StorageFactory): void {
  const t = (title: string, fn: (s: StudyStorage) => Promise<void>) =>
    test(`${label}: ${title}`, async (tt) => {
      const s = await factory.open();
      try {
        await fn(s);
        tt.pass();
      } finally {
        await s.close();
      }
    });
  const expectCode = async (p: Promise<unknown>, code: string): Promise<void> => {
    try {
      await p;
    } catch (e) {
      if (isStudyError(e) && e.code === code) return;
      throw new Error(`expected ${code}, got ${(e as Error).message}`);
    }
    throw new Error(`expected ${code}, got success`);
  };
  const eq = (a: unknown, b: unknown, what: string): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${what}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`);
  };

  t('studies are created once, loaded and listed; bad names refused', async (s) => {
    const c = suiteConfig();
    const created = await s.createStudy('alpha', c);
    eq(created.config, c, 'created config');
    await s.createStudy('beta', suiteConfig(2));
    await expectCode(s.createStudy('alpha', c), 'ERR_STUDY_EXISTS');
    await expectCode(s.createStudy('../escape', c), 'ERR_STUDY_NOT_FOUND');
    eq(await s.listStudies(), ['alpha', 'beta'], 'list');
    eq((await s.loadStudy('alpha'))?.config, c, 'loaded config');
    eq(await s.loadStudy('gamma'), undefined, 'missing study');
    await expectCode(s.listTrials('gamma'), 'ERR_STUDY_NOT_FOUND');
  });

  t('claims create trials up to the budget; the proposer sees running trials', async (s) => {
    await s.createStudy('a', suiteConfig(3));
    const w = await s.registerWorker('a', { pid: 1, host: 'h' });
    const seen: number[] = [];
    const claim = () => s.claimTrial('a', w.id, (v) => {
      seen.push(v.trials.filter((x) => x.state === 'running').length);
      return propose();
    }, 'cpu');
    const t0 = await claim();
    const t1 = await claim();
    const t2 = await claim();
    eq([t0?.number, t1?.number, t2?.number], [0, 1, 2], 'numbers');
    eq(seen, [0, 1, 2], 'running trials seen');
    eq([t0?.state, t0?.workerId, t0?.device, t0?.attempt], ['running', w.id, 'cpu', 1], 'claimed trial');
    eq(await claim(), undefined, 'over budget');
    await s.finishTrial('a', 0, { state: 'complete', value: 0.5 });
    eq(await claim(), undefined, 'a finished trial keeps its place');
    eq(finishedCount(await s.listTrials('a')), 1, 'finished count');
  });

  t('a proposer that throws creates no trial', async (s) => {
    await s.createStudy('a', suiteConfig(2));
    let threw = false;
    try {
      await s.claimTrial('a', 1, () => {
        throw new Error('no idea');
      });
    } catch {
      threw = true;
    }
    if (!threw) throw new Error('the proposer error was swallowed');
    eq((await s.listTrials('a')).length, 0, 'trials after a failed proposal');
  });

  t('finishing records state, value, intermediate values and info; only running trials finish', async (s) => {
    await s.createStudy('a', suiteConfig(4));
    for (let i = 0; i < 4; i++) await s.claimTrial('a', 1, propose);
    await s.reportIntermediate('a', 0, 0, 0.4);
    await s.reportIntermediate('a', 0, 1, 0.45);
    await s.reportIntermediate('a', 0, 1, 0.5);
    const done = await s.finishTrial('a', 0, { state: 'complete', value: 0.5, info: { folds: [0.4, 0.6] } });
    eq([done.state, done.value, done.intermediate, done.info], ['complete', 0.5, [{ step: 0, value: 0.4 }, { step: 1, value: 0.5 }], { folds: [0.4, 0.6] }], 'complete');
    if (!(typeof done.seconds === 'number' && done.seconds >= 0 && done.finishedAt)) throw new Error('no timing');
    await s.finishTrial('a', 1, { state: 'pruned', value: 0.1, error: 'below the median' });
    await s.finishTrial('a', 2, { state: 'infeasible', error: 'bad geometry' });
    await expectCode(s.finishTrial('a', 3, { state: 'complete' }), 'ERR_TRIAL_STATE');
    await expectCode(s.finishTrial('a', 3, { state: 'complete', value: Number.NaN }), 'ERR_TRIAL_STATE');
    await expectCode(s.finishTrial('a', 0, { state: 'complete', value: 0.9 }), 'ERR_TRIAL_STATE');
    await expectCode(s.reportIntermediate('a', 0, 2, 0.9), 'ERR_TRIAL_STATE');
    await expectCode(s.finishTrial('a', 9, { state: 'complete', value: 0.9 }), 'ERR_TRIAL_STATE');
    const list = await s.listTrials('a');
    eq(list.map((x) => x.state), ['complete', 'pruned', 'infeasible', 'running'], 'states');
    eq((await s.getTrial('a', 2))?.error, 'bad geometry', 'error text');
  });

  t('failed trials: interrupted ones always re-run, crashed ones up to MAX_ATTEMPTS, the budget stays exact', async (s) => {
    await s.createStudy('a', suiteConfig(2));
    const first = await s.claimTrial('a', 1, propose);
    const params = first?.params;
    const again = await s.failTrial('a', 0, 'stopped by SIGINT', 'interrupted');
    eq([again?.number, again?.state, again?.attempt, again?.retryOf, again?.params], [1, 'waiting', 1, 0, params], 'interrupted re-run');
    let number = 1;
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      const c = await s.claimTrial('a', 2, () => {
        throw new Error('a waiting trial is claimed before anything new is proposed');
      });
      eq([c?.number, c?.state, c?.workerId], [number, 'running', 2], 'waiting trial claimed');
      const r = await s.failTrial('a', number, 'worker died', 'crashed');
      eq([r?.attempt, r?.params], [attempt + 1, params], 'crash re-run');
      number = r!.number;
    }
    await s.claimTrial('a', 2, propose);
    eq(await s.failTrial('a', number, 'worker died', 'crashed'), undefined, `no re-run after ${MAX_ATTEMPTS} attempts`);
    const list = await s.listTrials('a');
    eq(list.filter((x) => x.requeued).length, list.length - 1, 'requeued flags');
    eq(finishedCount(list), 1, 'the last failure counts');
    const other = await s.claimTrial('a', 2, propose);
    eq(other?.number, list.length, 'the second budget place is still free');
    eq(await s.claimTrial('a', 2, propose), undefined, 'budget of 2');
    await s.failTrial('a', other!.number, 'objective threw', 'none');
    eq(finishedCount(await s.listTrials('a')), 2, 'both places used');
  });

  t('dead workers are reaped: their running trials fail and are queued again', async (s) => {
    await s.createStudy('a', suiteConfig(3));
    const w1 = await s.registerWorker('a', { pid: 101, host: 'h1', device: 'cpu', threads: 1 });
    const w2 = await s.registerWorker('a', { pid: 102, host: 'h1' });
    if (w1.id === w2.id) throw new Error('worker ids repeat');
    eq([w1.pid, w1.host, w1.device, w1.threads, w1.state], [101, 'h1', 'cpu', 1, 'alive'], 'worker record');
    const a = await s.claimTrial('a', w1.id, propose);
    const b = await s.claimTrial('a', w2.id, propose);
    await new Promise((r) => setTimeout(r, 5));
    await s.heartbeat('a', w2.id);
    const ws = await s.listWorkers('a');
    if (!(ws[1].heartbeatAt > ws[1].startedAt)) throw new Error('heartbeat not recorded');
    const failed = await s.reapWorkers('a', (w) => w.id === w1.id);
    eq(failed.map((x) => [x.number, x.state, x.requeued]), [[a!.number, 'failed', true]], 'reaped');
    if (!/died/.test(failed[0].error ?? '')) throw new Error(`error text ${failed[0].error}`);
    eq((await s.listWorkers('a')).map((w) => w.state), ['dead', 'alive'], 'worker states');
    eq(await s.reapWorkers('a', (w) => w.id === w1.id), [], 'reaped once');
    eq((await s.getTrial('a', b!.number))?.state, 'running', 'the live worker keeps its trial');
    const next = await s.claimTrial('a', w2.id, propose);
    eq([next?.retryOf, next?.attempt, next?.params], [a!.number, 2, a!.params], 're-run claimed');
    await s.stopWorker('a', w2.id, 'stopped');
    eq((await s.listWorkers('a')).map((w) => w.state), ['dead', 'stopped'], 'stopped');
  });

  t('environment errors release a trial: it runs again at the same attempt and takes no place, failed by its worker or reaped', async (s) => {
    await s.createStudy('a', suiteConfig(1));
    const w = await s.registerWorker('a', { pid: 201, host: 'h' });
    const first = await s.claimTrial('a', w.id, propose);
    const again = await s.failTrial('a', first!.number, 'environment error: ENOSPC', 'environment');
    eq([again?.state, again?.attempt, again?.retryOf, again?.params], ['waiting', 1, first!.number, first!.params], 'released by its worker');
    const second = await s.claimTrial('a', w.id, propose);
    eq(second?.number, again?.number, 'the re-run is claimed');
    const reaped = await s.reapWorkers('a', (x) => x.id === w.id, 'environment');
    eq(reaped.map((x) => [x.number, x.state, x.requeued]), [[second!.number, 'failed', true]], 'reaped');
    const list = await s.listTrials('a');
    const rerun = list.find((x) => x.retryOf === second!.number);
    eq([rerun?.state, rerun?.attempt], ['waiting', 1], 'released by a reaper: still the first attempt');
    eq(finishedCount(list), 0, 'nothing counts as finished');
    eq(list.filter((x) => x.state === 'failed' && !x.requeued).length, 0, 'no failure stays');
  });

  t('budget changes and imports respect the trials already counted', async (s) => {
    await s.createStudy('a', suiteConfig(2));
    await s.claimTrial('a', 1, propose);
    await s.claimTrial('a', 1, propose);
    await expectCode(s.setBudget('a', 1), 'ERR_STUDY_BUDGET');
    await expectCode(s.setBudget('a', 0), 'ERR_STUDY_BUDGET');
    await expectCode(s.importTrials('a', [{ state: 'complete', params: propose(), value: 0.3 }]), 'ERR_STUDY_BUDGET');
    await s.setBudget('a', 5);
    eq((await s.loadStudy('a'))?.config.trials, 5, 'new budget');
    const imported = await s.importTrials('a', [
      { state: 'complete', params: { lr: 0.01, batchSize: 20 }, value: 0.7, startedAt: '2019-02-01T10:18:41.000Z', seconds: 12,
        intermediate: [{ step: 0, value: 0.6 }] },
      { state: 'infeasible', params: { lr: 0.02, batchSize: 20 }, error: 'geometry' },
    ]);
    eq(imported.map((x) => [x.number, x.state, x.value]), [[2, 'complete', 0.7], [3, 'infeasible', undefined]], 'imported');
    const back = await s.getTrial('a', 2);
    eq([back?.startedAt, back?.seconds, back?.intermediate], ['2019-02-01T10:18:41.000Z', 12, [{ step: 0, value: 0.6 }]], 'imported fields');
    await expectCode(s.importTrials('a', [{ state: 'complete', params: propose() }]), 'ERR_TRIAL_STATE');
    eq((await s.claimTrial('a', 1, propose))?.number, 4, 'one place left');
    eq(await s.claimTrial('a', 1, propose), undefined, 'then none');
  });

  t('the final result is stored with the study', async (s) => {
    await s.createStudy('a', suiteConfig(1));
    const final = { trial: 0, params: { lr: 0.01, batchSize: 32 }, options: { lr: 0.01, batchSize: 32, layers: [8, 10] }, cvValue: 0.9,
      testAccuracy: 0.91, testLoss: 0.3, trainSeconds: 2, device: 'cpu', finishedAt: '2024-01-01T00:00:00.000Z' };
    await s.setFinal('a', final);
    eq((await s.loadStudy('a'))?.final, final, 'final');
  });

  t('concurrent claims never exceed the budget nor repeat a number', async (s) => {
    await s.createStudy('a', suiteConfig(10));
    const got = await Promise.all(Array.from({ length: 25 }, (_, i) => s.claimTrial('a', 1 + (i % 3), propose)));
    const numbers = got.filter((x) => x !== undefined).map((x) => x!.number).sort((a, b) => a - b);
    eq(numbers, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'numbers');
  });

  if (factory.reopen) {
    const reopen = factory.reopen;
    t('everything persists when the storage is opened again', async (s) => {
      await s.createStudy('a', suiteConfig(3));
      const w = await s.registerWorker('a', { pid: 7, host: 'h' });
      await s.claimTrial('a', w.id, propose);
      await s.reportIntermediate('a', 0, 0, 0.25);
      await s.finishTrial('a', 0, { state: 'complete', value: 0.25, info: { k: [1] } });
      await s.claimTrial('a', w.id, propose);
      const before = await s.listTrials('a');
      const s2 = await reopen(s);
      try {
        eq(await s2.listTrials('a'), before, 'trials');
        eq((await s2.listWorkers('a')).map((x) => x.pid), [7], 'workers');
        eq((await s2.loadStudy('a'))?.config, suiteConfig(3), 'config');
      } finally {
        await s2.close();
      }
    });
  }
}
