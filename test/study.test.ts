// Studies inside one process: spaces (presets, the parameter-to-option mapping, malformed user
// spaces), the rules (what the optimiser learns from each state, median pruning), and real
// trials on mnist-10k: an invalid CNN geometry is infeasible, a diverging MLP is complete at
// chance, a study is deterministic for its seed, pruning stops trials below the median; the
// progress lines and NDJSON events of `study run`; an interrupted and resumed study proposes what
// an uninterrupted one does.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { Space } from '../src/bo/space';
import { createProgram } from '../src/cli/program';
import { studyImport, studyRun } from '../src/cli/study';
import { resolveSpec } from '../src/experiment/spec';
import { isOptionError } from '../src/models/options';
import { exportCsv, exportLange, parseLange } from '../src/study/export';
import { MemoryStorage } from '../src/study/memory';
import { evaluateTrial, trialSpec } from '../src/study/objective';
import { medianPrune, optimizerView } from '../src/study/rules';
import { runStudy } from '../src/study/run';
import { checkStudySpace, loadSpaceFile, presetSpace, trialOptions } from '../src/study/spaces';
import { SqliteStorage } from '../src/study/sqlite';
import { finishedCount } from '../src/study/storage';
import type { ModelStudyConfig, ObjectiveSpec, StudyConfig, StudyTrial } from '../src/study/types';
import { loadTrainingData } from '../src/train/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'study-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
const fixture = path.join(__dirname, '..', '..', 'test', 'fixtures', 'lange-bo-logs-dnn-mnist.json');

function spaceFile(name: string, content: unknown): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

test('every preset builds for every model it names, with conditional widths and log rates in ours', (t) => {
  for (const model of ['mlp', 'fa', 'dfa', 'cnn', 'segregated'] as const) {
    for (const name of ['default', 'lange2019']) {
      const s = presetSpace(model, name);
      t.true(Object.keys(s.params).length > 2, `${model} ${name}`);
    }
  }
  const mlp = presetSpace('mlp', 'default').params;
  t.deepEqual(Object.keys(mlp), ['batchSize', 'lr', 'depth', 'width1', 'width2', 'width3']);
  t.like(mlp.lr, { type: 'float', log: true });
  t.deepEqual(mlp.width3.condition, { parent: 'depth', values: [3] });
  t.is(Object.keys(presetSpace('segregated', 'lange2019').params).length, 31);
  const seg = presetSpace('segregated', 'default');
  t.deepEqual(seg.fixed, { mode: 'nonspiking' });
  t.deepEqual(seg.params.feedbackLearningRate.condition, { parent: 'feedback', values: ['learned'] });
  t.false('mode' in seg.params);
  // Lange's learning rate is linear, ours is not.
  t.falsy((presetSpace('mlp', 'lange2019').params.learning_rate as { log?: boolean }).log);
});

test('trial parameters become model options: depth and widths, one segregated rate, Lange\'s keys and rules', (t) => {
  t.deepEqual(trialOptions('mlp', { batchSize: 32, lr: 0.01, depth: 2, width1: 100, width2: 50 }, {}, 10),
    { batchSize: 32, lr: 0.01, layers: [100, 50, 10] });
  t.deepEqual(trialOptions('mlp', { batch_size: 238, learning_rate: 0.0173, num_layers: 3, h_l_1: 369, h_l_2: 30, h_l_3: 172, h_l_4: 99, h_l_5: 73, h_l_6: 118 }, {}, 10),
    { batchSize: 238, lr: 0.0173, layers: [369, 30, 172, 10] });
  t.deepEqual(trialOptions('cnn', { depth: 2, channels1: 8, channels2: 16, channels3: 4, kernel1: 5, kernel2: 3, kernel3: 3 }, {}, 10),
    { channels: [8, 16], kernels: [5, 3] });
  const seg = trialOptions('segregated', {
    use_symmetric_weights: true, update_feedback_weights: true, noisy_symmetric_weights: true, b_etas: 0.1, f_etas: 0.2, num_layers: 2,
    h_l_1: 30, h_l_2: 40, h_l_3: 5, lambda_max: 0.3, dt: 0.5, tau_L: 8, g_B: 0.4, g_A: 0.07, use_apical_conductance: false,
    use_weight_optimization: false,
  }, { mode: 'nonspiking' }, 10);
  t.like(seg, { feedback: 'symmetric', noisySymmetric: true, gA: 0, init: 'plain', lambdaMax: 0.15, gL: 0.125, gD: 0.4, layers: [30, 40, 10],
    learningRates: [0.2, 0.2, 0.2] });
  t.false('feedbackLearningRates' in seg);
  // Our names (dt is also one of his keys) get none of his rules: feedback, init and gA stay as given.
  t.deepEqual(trialOptions('segregated', { dt: 0.5, tauL: 8, feedback: 'symmetric', sparseFeedback: true, depth: 1, width1: 40, learningRate: 0.1 }, { mode: 'nonspiking' }, 10),
    { mode: 'nonspiking', dt: 0.5, tauL: 8, feedback: 'symmetric', sparseFeedback: true, layers: [40, 10], learningRates: [0.1, 0.1] });
  t.like(trialOptions('segregated', { learningRate: 0.3, feedback: 'learned', feedbackLearningRate: 0.01, depth: 1, width1: 50 }, {}, 10),
    { layers: [50, 10], learningRates: [0.3, 0.3], feedbackLearningRates: [0.01] });
});

test('malformed spaces, out-of-range values and unknown parameters are option errors naming the file and parameter', (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['not-json.json', '{ "params": { "lr": ', /not-json\.json.*cannot be read as JSON/],
    ['list.json', [1, 2], /list\.json.*must hold a JSON object/],
    ['lowhigh.json', { params: { lr: { type: 'float', low: 0.1, high: 0.01 } } }, /lowhigh\.json.*parameter lr needs low < high/],
    ['range.json', { params: { lr: { type: 'float', low: 0, high: 0.1 } } }, /range\.json: option lr has the range \[0, 0\.1\], outside the values the model takes \(\(0, 1000000\]\)/],
    ['unknown.json', { params: { lrr: { type: 'float', low: 0.001, high: 0.1 } } }, /unknown\.json: unknown parameter "lrr" for model mlp \(did you mean "lr"\?\)/],
    ['type.json', { params: { batchSize: { type: 'float', low: 16, high: 64 } } }, /type\.json: option batchSize must be int/],
    ['depth.json', { params: { depth: { type: 'int', low: 1, high: 3 }, width1: { type: 'int', low: 8, high: 64 } } }, /depth\.json.*does not search width2/],
    ['fixed.json', { params: { lr: { type: 'float', low: 0.001, high: 0.1 } }, fixed: { layerz: [10] } }, /fixed\.json.*unknown option "layerz"/],
    ['both.json', { params: { lr: { type: 'float', low: 0.001, high: 0.1 } }, fixed: { lr: 0.01 } }, /both\.json.*both searched and fixed/],
    ['keys.json', { params: {}, space: {} }, /keys\.json.*unknown keys space/],
  ];
  for (const [name, content, re] of cases) {
    const e = t.throws(() => loadSpaceFile('mlp', spaceFile(name, content)), undefined, name);
    t.true(isOptionError(e), name);
    t.regex(e!.message, re, name);
  }
  t.throws(() => checkStudySpace('cnn', { params: { kernel1: { type: 'int', low: 0, high: 3 }, depth: { type: 'int', low: 1, high: 1 + 1 },
    kernel2: { type: 'int', low: 1, high: 3 } }, fixed: {} }, 'x'), { message: /kernel1 has the range \[0, 3\], outside/ });
  t.throws(() => presetSpace('mlp', 'nope'), { message: /no preset "nope" for mlp \(presets: default, lange2019/ });
});

test('the optimiser\'s view: pruned at the last fold mean, requeued failures left out, running and waiting pending', (t) => {
  const base = { intermediate: [], attempt: 1, requeued: false, createdAt: '' };
  const trials: StudyTrial[] = [
    { ...base, number: 0, state: 'complete', params: { x: 1 }, value: 0.9 },
    { ...base, number: 1, state: 'pruned', params: { x: 2 }, value: 0.3, intermediate: [{ step: 0, value: 0.2 }, { step: 1, value: 0.3 }] },
    { ...base, number: 2, state: 'failed', params: { x: 3 }, requeued: true },
    { ...base, number: 3, state: 'infeasible', params: { x: 4 } },
    { ...base, number: 4, state: 'failed', params: { x: 5 } },
    { ...base, number: 5, state: 'running', params: { x: 6 } },
    { ...base, number: 6, state: 'waiting', params: { x: 3 }, retryOf: 2 },
  ];
  const v = optimizerView(trials);
  t.deepEqual(v.history, [
    { params: { x: 1 }, state: 'complete', value: 0.9 }, { params: { x: 2 }, state: 'complete', value: 0.3 },
    { params: { x: 4 }, state: 'infeasible' }, { params: { x: 5 }, state: 'failed' },
  ]);
  t.deepEqual(v.pending, [{ x: 6 }, { x: 3 }]);
});

test('the median rule prunes below the median of complete trials at the same fold, after five of them', (t) => {
  const done = (number: number, v: number): StudyTrial => ({ number, state: 'complete', params: {}, value: v, intermediate: [{ step: 0, value: v }],
    attempt: 1, requeued: false, createdAt: '' });
  const four = [0.5, 0.6, 0.7, 0.8].map((v, i) => done(i, v));
  t.is(medianPrune(four, 9, 0, 0.1, 'maximize'), undefined);
  const five = [...four, done(4, 0.9)];
  t.regex(medianPrune(five, 9, 0, 0.65, 'maximize') ?? '', /pruned after fold 1: 0\.6500 is worse than the median 0\.7000 of 5/);
  t.is(medianPrune(five, 9, 0, 0.75, 'maximize'), undefined);
  t.is(medianPrune(five, 9, 1, 0.1, 'maximize'), undefined, 'no complete trial has step 1');
  t.truthy(medianPrune(five, 9, 0, 0.75, 'minimize'));
});

function config(over: Partial<ModelStudyConfig> = {}, objective: Partial<ObjectiveSpec> = {}): ModelStudyConfig {
  return {
    objective: { model: 'mlp', fixed: { layers: [16, 10] }, dataset: 'mnist-10k', folds: 2, epochs: 1, ...objective },
    space: { lr: { type: 'float', low: 1e-4, high: 0.3, log: true }, batchSize: { type: 'int', low: 16, high: 256, log: true } },
    spaceName: 'test', direction: 'maximize', strategy: 'bayes', trials: 4, seed: 5, prune: false, ...over,
  };
}

test('real trials: an invalid CNN geometry is infeasible before training; a diverging MLP is complete at chance', async (t) => {
  const cnn = config({ space: presetSpace('cnn', 'default').params }, { model: 'cnn', fixed: {} });
  const geometry = await evaluateTrial(cnn, { batchSize: 64, lr: 0.01, depth: 3, channels1: 4, channels2: 4, channels3: 4, kernel1: 7, kernel2: 7, kernel3: 7, padding: 0 }, { threads: 1 });
  t.is(geometry.state, 'infeasible');
  t.regex(geometry.error ?? '', /invalid geometry/);
  const diverged = await evaluateTrial(config({}, { fixed: { layers: [64, 10], optimizer: 'sgd' } }), { lr: 1e4, batchSize: 16 }, { threads: 1 });
  t.is(diverged.state, 'complete');
  t.is(diverged.value, 0.1);
  t.regex(JSON.stringify(diverged.info?.diverged), /diverged/);
});

test('every trial of a study is scored on the same folds: its split seed picks them, not the weights\' seed', async (t) => {
  // The images fold 0 validates on, through the spec a trial runs (trialSpec, resolveSpec) and the loader runExperiment calls.
  const validation = async (c: ModelStudyConfig): Promise<string> => {
    const s = resolveSpec(trialSpec(c, { layers: [16, 10] }, 0, { threads: 1 }));
    const d = await loadTrainingData(s.dataset, { validation: 0, seed: s.splitSeed, folds: s.folds, fold: s.fold });
    const v = d.splits.validation!;
    return createHash('sha256').update(v.images).update(v.labels).digest('hex');
  };
  const a = config({ seed: 1, splitSeed: 9 });
  const b = config({ seed: 2, splitSeed: 9 });
  t.not(trialSpec(a, {}, 0, {}).seed, trialSpec(b, {}, 0, {}).seed, 'other weights');
  t.is(await validation(a), await validation(b), 'the same fold membership');
  t.not(await validation(config({ seed: 1, splitSeed: 10 })), await validation(a), 'another split seed, other folds');
  // A study stored before the split seed existed keeps the folds it ran with (those of its seed).
  t.is(await validation(config({ seed: 9 })), await validation(a));
});

test('a study is deterministic for its seed: same trials, same values (memory storage, real trials)', async (t) => {
  const run = async (): Promise<StudyTrial[]> => {
    const storage = new MemoryStorage();
    await storage.createStudy('d', config());
    const r = await runStudy({ storage, name: 'd', workers: 1, threads: 1, final: false });
    return r.trials;
  };
  const a = await run();
  const b = await run();
  t.is(finishedCount(a), 4);
  t.deepEqual(a.map((x) => [x.params, x.value, x.intermediate]), b.map((x) => [x.params, x.value, x.intermediate]));
  t.true(a.every((x) => x.state === 'complete' && x.intermediate.length === 2));
  t.is(new Set(a.map((x) => JSON.stringify(x.params))).size, 4);
});

test('an interrupted and resumed study proposes what an uninterrupted one does (one worker; the model phase included)', async (t) => {
  // A cheap objective of the parameters, so that 14 trials reach past the 10-point initial design.
  const value = (p: Record<string, unknown>): number => -((Math.log10(p.lr as number) + 2) ** 2) - ((p.batchSize as number) - 64) ** 2 / 1e4;
  const evaluate = async (_c: StudyConfig, p: Record<string, unknown>) => ({ state: 'complete' as const, value: value(p) });
  const cfg = config({ trials: 14 });
  const through = new MemoryStorage();
  await through.createStudy('s', cfg);
  const a = (await runStudy({ storage: through, name: 's', workers: 1, final: false, evaluate })).trials;

  const resumed = new MemoryStorage();
  await resumed.createStudy('s', cfg);
  const stop = new AbortController();
  let calls = 0;
  const stopAtTwelfth = async (c: StudyConfig, p: Record<string, unknown>) => {
    if (++calls === 12) {
      stop.abort(new Error('Ctrl-C'));
      throw new Error('stopped mid-trial');
    }
    return evaluate(c, p);
  };
  const first = await runStudy({ storage: resumed, name: 's', workers: 1, final: false, evaluate: stopAtTwelfth, signal: stop.signal });
  t.true(first.interrupted);
  t.is(finishedCount(first.trials), 11);
  const b = (await runStudy({ storage: resumed, name: 's', workers: 1, final: false, evaluate })).trials;
  t.is(finishedCount(b), 14);
  const interrupted = b.filter((x) => x.state === 'failed' && x.requeued);
  t.is(interrupted.length, 1);
  const counted = b.filter((x) => !(x.state === 'failed' && x.requeued));
  t.deepEqual(counted.map((x) => x.params), a.map((x) => x.params));
  t.deepEqual(counted.map((x) => x.value), a.map((x) => x.value));
});

test('study run progress: one line per finished trial with its value, the best so far, the count, elapsed and ETA; NDJSON events with --json', async (t) => {
  const flags = { storage: ':memory:', study: 'progress', model: 'mlp', trials: '3', folds: '2', epochs: '1', threads: '1', final: false };
  const text: string[] = [];
  await studyRun(flags, { out: (s) => text.push(s), err: (s) => text.push(s) });
  const lines = text.filter((l) => l.startsWith('trial '));
  t.is(lines.length, 3, text.join('\n'));
  let best = -Infinity;
  lines.forEach((line, i) => {
    const m = /^trial (\d+) complete (0\.\d{4})(?: \(diverged: chance accuracy\))? \| best (0\.\d{4}) \(trial (\d+)\) \| (\d+)\/3 \| elapsed \d+s \| ETA \d+s$/.exec(line);
    t.truthy(m, line);
    best = Math.max(best, Number(m![2]));
    t.is(Number(m![3]), best, line);
    t.is(Number(m![5]), i + 1, line);
  });
  t.regex(lines[2], /ETA 0s$/);
  t.regex(text.at(-1)!, /^done: 3\/3 trials, best 0\.\d{4} \(trial \d+\)$/);

  const json: string[] = [];
  await studyRun({ ...flags, json: true }, { out: (s) => json.push(s), err: (s) => json.push(s) });
  const events = json.map((l) => JSON.parse(l) as { type: string; finished?: number; budget?: number; elapsedSeconds?: number; etaSeconds?: number; best?: unknown });
  t.deepEqual(events.map((e) => e.type), ['study', 'trial', 'trial', 'trial', 'done']);
  const trials = events.filter((e) => e.type === 'trial');
  t.deepEqual(trials.map((e) => [e.finished, e.budget]), [[1, 3], [2, 3], [3, 3]]);
  t.true(trials.every((e) => typeof e.elapsedSeconds === 'number' && e.best !== undefined));
  t.true(trials.slice(0, 2).every((e) => typeof e.etaSeconds === 'number' && e.etaSeconds >= 0));
  t.is(trials[2].etaSeconds, undefined);
});

test('pruning on real trials: trials below the median after a fold stop early, recorded as pruned', async (t) => {
  const storage = new MemoryStorage();
  await storage.createStudy('p', config({ trials: 9, prune: true, strategy: 'random', seed: 2,
    space: { lr: { type: 'float', low: 1e-5, high: 0.3, log: true }, batchSize: { type: 'int', low: 16, high: 256, log: true } } }, { folds: 3 }));
  const r = await runStudy({ storage, name: 'p', workers: 1, threads: 1, final: false });
  const pruned = r.trials.filter((x) => x.state === 'pruned');
  t.is(finishedCount(r.trials), 9);
  t.true(pruned.length >= 1, JSON.stringify(r.trials.map((x) => [x.state, x.intermediate])));
  for (const p of pruned) {
    t.true(p.intermediate.length < 3);
    t.regex(p.error ?? '', /worse than the median/);
    t.true(p.number >= 5);
  }
});

test('Lange\'s log: his lines parse into typed trials and export back byte for byte', async (t) => {
  const text = fs.readFileSync(fixture, 'utf8');
  const space = presetSpace('mlp', 'lange2019');
  const trials = parseLange(text, fixture, new Space(space.params));
  t.is(trials.length, 3);
  t.deepEqual(trials[0].params, { batch_size: 238, h_l_1: 369, h_l_2: 30, h_l_3: 172, h_l_4: 99, h_l_5: 73, h_l_6: 118, learning_rate: 0.01734348027944808, num_layers: 3 });
  t.is(trials[0].value, 0.9600720778693689);
  t.is(trials[1].seconds, 71.325814);
  const storage = new MemoryStorage();
  await storage.createStudy('l', config({ space: space.params, spaceName: 'lange2019', trials: 3 }));
  await storage.importTrials('l', trials);
  const study = (await storage.loadStudy('l'))!;
  t.is(exportLange(study, 'mlp', await storage.listTrials('l')), text);
  const bad = (line: string): string => t.throws(() => parseLange(`${text}${line}\n`, 'log.json', new Space(space.params)))!.message;
  t.regex(bad('{"target": 0.5, "params": {"batch_size": 60.0}}'), /log\.json:4: parameter learning_rate is missing/);
  t.regex(bad('{"target": 0.5, "params": {"batch_sise": 60.0}}'), /log\.json:4: .*"batch_sise" is not in the study's space/);
  t.regex(bad('{"target": 0.5, "params": {'), /log\.json:4: not a JSON line/);
  t.regex(bad(text.split('\n')[0].replace('"batch_size": 238.0', '"batch_size": 9000.0')), /log\.json:4: parameter batch_size must be in \[50, 500\], got 9000/);
});

/** The images and labels a trial validates on, through the spec it runs (trialSpec, resolveSpec) and the loader runExperiment calls. */
async function validationHash(c: ModelStudyConfig): Promise<{ hash: string; count: number }> {
  const s = resolveSpec(trialSpec(c, { layers: [16, 10] }, 0, { threads: 1 }));
  const d = await loadTrainingData(s.dataset, { validation: s.folds >= 2 ? 0 : s.validation, seed: s.splitSeed, folds: s.folds, fold: s.fold });
  const v = d.splits.validation!;
  return { hash: createHash('sha256').update(v.images).update(v.labels).digest('hex'), count: v.labels.length };
}

test('a holdout study: every trial validates on the same held-out images (its split seed), the value is their accuracy', async (t) => {
  const holdout = (over: Partial<ModelStudyConfig> = {}, h = 0.2): ModelStudyConfig => config({ trials: 3, ...over }, { folds: 0, holdout: h });
  const a = await validationHash(holdout({ seed: 1, splitSeed: 9 }));
  t.is(a.count, 1600, '0.2 of the 8000 training images');
  t.deepEqual(await validationHash(holdout({ seed: 2, splitSeed: 9 })), a, 'other weights, the same images');
  t.not((await validationHash(holdout({ seed: 1, splitSeed: 10 }))).hash, a.hash, 'another split seed, other images');
  t.is((await validationHash(holdout({ seed: 1 }, 500))).count, 500, 'a count');
  t.false(trialSpec(holdout(), {}, 0, {}).test, 'the test split is never seen');
  t.throws(() => trialSpec(holdout(), {}, 1, {}), { message: /one run per trial/ });
  t.throws(() => trialSpec(config({}, { folds: 3, holdout: 0.2 }), {}, 0, {}), { message: /holdout and folds exclude each other/ });
  t.throws(() => trialSpec(config({}, { folds: 0, holdout: 8000 }), {}, 0, {}), { message: /holdout 8000 leaves no training images/ });

  const storage = new MemoryStorage();
  await storage.createStudy('h', holdout({ seed: 3 }));
  const r = await runStudy({ storage, name: 'h', workers: 1, threads: 1, final: false });
  t.is(finishedCount(r.trials), 3);
  for (const x of r.trials) {
    t.is(x.state, 'complete');
    const info = x.info as { holdout: { images: number; accuracy: number; epochs: number[] }; folds?: unknown };
    t.is(info.holdout.images, 1600);
    t.is(x.value, info.holdout.accuracy);
    t.deepEqual(x.intermediate, [{ step: 0, value: x.value }], 'one epoch: one intermediate value, the accuracy after it');
    t.is(info.folds, undefined);
  }
  // The same parameters and seed score the same: same weights, same epochs, same held-out images.
  const again = await evaluateTrial(holdout({ seed: 3 }), r.trials[1].params, { threads: 1 });
  t.is(again.value, r.trials[1].value);
});

test('pruning in a holdout study: after each epoch, below the median of complete trials at that epoch', async (t) => {
  const storage = new MemoryStorage();
  await storage.createStudy('hp', config({ trials: 9, prune: true, strategy: 'random', seed: 2,
    space: { lr: { type: 'float', low: 1e-5, high: 0.3, log: true }, batchSize: { type: 'int', low: 16, high: 256, log: true } } },
  { folds: 0, holdout: 0.2, epochs: 3 }));
  const r = await runStudy({ storage, name: 'hp', workers: 1, threads: 1, final: false });
  t.is(finishedCount(r.trials), 9);
  const pruned = r.trials.filter((x) => x.state === 'pruned');
  t.true(pruned.length >= 1, JSON.stringify(r.trials.map((x) => [x.state, x.intermediate])));
  for (const x of r.trials.filter((y) => y.state === 'complete')) t.deepEqual(x.intermediate.map((i) => i.step), [0, 1, 2]);
  for (const p of pruned) {
    t.true(p.intermediate.length < 3);
    t.is(p.value, p.intermediate.at(-1)!.value, 'pruned at the accuracy of the epoch it stopped after');
    t.regex(p.error ?? '', /pruned after epoch \d: .* worse than the median/);
    t.true(p.number >= 5);
  }
});

test.serial('study run --holdout: stored with the study, shown by status, refused with --folds, and a resume with another holdout is refused', async (t) => {
  const file = path.join(tmp, 'holdout.sqlite');
  const io = { out: () => undefined, err: () => undefined };
  const flags = { storage: file, study: 'h', model: 'mlp', trials: '2', holdout: '0.2', epochs: '1', threads: '1', final: false };
  const both = await t.throwsAsync(studyRun({ ...flags, folds: '3' }, io));
  t.true(isOptionError(both));
  t.regex(both!.message, /--holdout cannot be combined with --folds/);
  t.regex((await t.throwsAsync(studyRun({ ...flags, holdout: '1.5' }, io)))!.message, /--holdout must be a fraction between 0 and 1 \(0\.2\) or a whole count/);
  t.regex((await t.throwsAsync(studyRun({ ...flags, holdout: '9000' }, io)))!.message, /option --holdout 9000 leaves no training images \(mnist-10k has 8000\)/);
  const none = new SqliteStorage(file);
  t.deepEqual(await none.listStudies(), [], 'nothing was created');
  await none.close();
  await studyRun(flags, io);
  const storage = new SqliteStorage(file);
  const record = (await storage.loadStudy('h'))!;
  const trials = await storage.listTrials('h');
  await storage.close();
  t.like(record.config.objective, { folds: 0, holdout: 0.2 });
  t.true(trials.every((x) => x.state === 'complete' && (x.info as { holdout?: { images: number } }).holdout?.images === 1600));

  const other = await t.throwsAsync(studyRun({ ...flags, holdout: '0.3', trials: '3' }, io));
  t.true(isOptionError(other));
  t.regex(other!.message, /exists with other settings: holdout is 0\.2, not 0\.3/);
  t.regex((await t.throwsAsync(studyRun({ ...flags, holdout: undefined, folds: '3' }, io)))!.message, /folds is 0, not 3; holdout is 0\.2, not "none"/);
  // Resuming with the same holdout, or with none of the validation flags, is fine.
  await studyRun({ ...flags, trials: '3' }, io);
  await studyRun({ storage: file, study: 'h', trials: '3', final: false, threads: '1' }, io);

  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => lines.push(s);
  try {
    await createProgram().parseAsync(['study', 'status', '--storage', file], { from: 'user' });
    await createProgram().parseAsync(['study', 'status', '--storage', file, '--json'], { from: 'user' });
  } finally {
    console.log = log;
  }
  t.regex(lines[1], /mlp on mnist-10k, space default, strategy bayes, holdout 0\.2 \(split seed 0\) x 1 epochs, seed 0/);
  t.regex(lines.find((l) => l.startsWith('  best:')) ?? '', /best: trial \d, holdout 0\.\d{4}/);
  t.like(JSON.parse(lines.at(-1)!), { folds: 0, holdout: 0.2, finished: 3 });
});

test('a study stored before holdouts existed (no holdout in its config) loads, runs on its folds and resumes as before', async (t) => {
  const file = path.join(tmp, 'old.sqlite');
  const storage = new SqliteStorage(file);
  const old = config({ trials: 1 });
  t.false('holdout' in old.objective);
  await storage.createStudy('old', old);
  await runStudy({ storage, name: 'old', workers: 1, threads: 1, final: false, mode: 'inline' });
  await storage.close();
  const io = { out: () => undefined, err: () => undefined };
  await studyRun({ storage: file, study: 'old', model: 'mlp', folds: '2', trials: '2', threads: '1', final: false }, io);
  const again = new SqliteStorage(file);
  const trials = await again.listTrials('old');
  t.false('holdout' in (await again.loadStudy('old'))!.config.objective);
  await again.close();
  t.is(trials.length, 2);
  t.true(trials.every((x) => x.intermediate.length === 2 && Array.isArray((x.info as { folds?: unknown[] }).folds)));
  t.regex((await t.throwsAsync(studyRun({ storage: file, study: 'old', model: 'mlp', holdout: '0.2', trials: '2' }, io)))!.message,
    /folds is 2, not 0; holdout is "none", not 0\.2/);
});

test('CSV import is the inverse of the CSV export: the same trials (state, value, params, intermediate values, times, errors) in a new study', async (t) => {
  const from = path.join(tmp, 'csv-from.sqlite');
  const io = { out: () => undefined, err: () => undefined };
  // Pruned, infeasible and complete trials, and intermediate values, from a quick objective of the parameters.
  const storage = new SqliteStorage(from);
  const cfg = config({ trials: 8, prune: true, space: { ...presetSpace('mlp', 'default').params } }, { fixed: {}, folds: 3 });
  await storage.createStudy('src', cfg);
  let n = 0;
  const evaluate = async (_c: StudyConfig, p: Record<string, unknown>, run: { report?: (s: number, v: number) => Promise<string | undefined> }) => {
    n++;
    if (n === 2) return { state: 'infeasible' as const, error: 'too wide, "quoted",\nand on two lines' };
    if (n === 3) return { state: 'failed' as const, error: 'boom' };
    const v = 1 / (1 + Math.abs(Math.log10(p.lr as number) + 2));
    await run.report?.(0, v / 2);
    if (n === 7) return { state: 'pruned' as const, value: v / 2, error: 'pruned after fold 1' };
    await run.report?.(1, v);
    return { state: 'complete' as const, value: v };
  };
  await runStudy({ storage, name: 'src', workers: 1, final: false, mode: 'inline', evaluate });
  const record = (await storage.loadStudy('src'))!;
  const trials = await storage.listTrials('src');
  await storage.close();
  t.deepEqual(new Set(trials.map((x) => x.state)), new Set(['complete', 'infeasible', 'failed', 'pruned']));
  t.true(trials.some((x) => Object.keys(x.params).length < Object.keys(cfg.space).length), 'conditional parameters left out');
  const csv = path.join(tmp, 'trials.csv');
  fs.writeFileSync(csv, exportCsv(record, trials));

  const to = path.join(tmp, 'csv-to.sqlite');
  const r = await studyImport(csv, { format: 'csv', storage: to, study: 'copy', model: 'mlp', space: 'default', folds: '3', epochs: '1' }, io);
  t.is(r.added, 8);
  const back = new SqliteStorage(to);
  const imported = await back.listTrials('copy');
  t.is((await back.loadStudy('copy'))!.config.trials, 8);
  await back.close();
  const fields = (x: StudyTrial): unknown => [x.number, x.state, x.value, x.params, x.intermediate, x.startedAt, x.finishedAt, x.seconds, x.error];
  t.deepEqual(imported.map(fields), trials.map(fields));
  t.deepEqual(typeof imported.find((x) => x.params.width1 !== undefined)!.params.width1, 'number');

  // Malformed files fail whole, naming the line; nothing is imported (the study is not even created).
  const good = fs.readFileSync(csv, 'utf8').split('\n');
  const header = good[0].split(',');
  const lrAt = header.indexOf('param_lr');
  const row = (i: number, col: number, v: string): string => good.map((l, j) => (j === i ? l.split(',').map((c, k) => (k === col ? v : c)).join(',') : l)).join('\n');
  const cases: [string, string, RegExp][] = [
    ['missing.csv', good.map((l) => l.split(',').filter((_, k) => k !== lrAt).join(',')).join('\n'), /missing\.csv:1: column "param_lr" is missing/],
    ['unknown.csv', good.map((l, j) => (j === 0 ? l.replace('param_lr', 'param_lrr') : l)).join('\n'), /unknown\.csv:1: unknown parameter "lrr"/],
    ['number.csv', row(6, lrAt, '0.0x1'), /number\.csv:7: parameter lr \(column param_lr\) must be a number, got "0\.0x1"/],
    ['value.csv', row(6, 2, 'high'), /value\.csv:7: column value must be a number, got "high"/],
    ['range.csv', row(6, lrAt, '5'), /range\.csv:7: parameter lr must be in/],
    ['holdout.csv', good.map((l, j) => (j === 0 ? l.replace(/fold_(\d)_mean/g, 'epoch_$1_accuracy') : l)).join('\n'), /holdout\.csv:1: column "epoch_1_accuracy" belongs to a holdout study/],
  ];
  for (const [name, text, re] of cases) {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, text);
    const e = await t.throwsAsync(studyImport(f, { format: 'csv', storage: to, study: `bad-${name}`, model: 'mlp', folds: '3' }, io), undefined, name);
    t.true(isOptionError(e), name);
    t.regex(e!.message, re, name);
    // Into the existing study too: its trials stay as they were.
    await t.throwsAsync(studyImport(f, { format: 'csv', storage: to, study: 'copy' }, io), { message: re }, name);
  }
  const after = new SqliteStorage(to);
  t.deepEqual(await after.listStudies(), ['copy']);
  t.is((await after.listTrials('copy')).length, 8);
  await after.close();
});
