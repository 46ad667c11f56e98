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
import { studyRun } from '../src/cli/study';
import { resolveSpec } from '../src/experiment/spec';
import { isOptionError } from '../src/models/options';
import { exportLange, parseLange } from '../src/study/export';
import { MemoryStorage } from '../src/study/memory';
import { evaluateTrial, trialSpec } from '../src/study/objective';
import { medianPrune, optimizerView } from '../src/study/rules';
import { runStudy } from '../src/study/run';
import { checkStudySpace, loadSpaceFile, presetSpace, trialOptions } from '../src/study/spaces';
import { finishedCount } from '../src/study/storage';
import type { StudyConfig, StudyTrial } from '../src/study/types';
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

function config(over: Partial<StudyConfig> = {}, objective: Partial<StudyConfig['objective']> = {}): StudyConfig {
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
  const validation = async (c: StudyConfig): Promise<string> => {
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
