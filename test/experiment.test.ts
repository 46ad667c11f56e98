// The model contract: option tables, schemas, ExperimentSpec resolution and runExperiment.
import fs from 'node:fs';
import path from 'node:path';

import Ajv2020 from 'ajv/dist/2020';
import test from 'ava';

import { buildSpec } from '../src/cli/train';
import { MODEL_KINDS, MODELS, modelEntry, resolveModelOptions, type ModelKind } from '../src/experiment/registry';
import { chooseDevice, runExperiment } from '../src/experiment/run';
import { resolveSpec } from '../src/experiment/spec';
import { isOptionError, resolveOptions, type OptionSpec } from '../src/models/options';
import type { SegregatedTrainable } from '../src/models/segregated-trainable';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { schemaFiles } = require('../../scripts/write-schemas.js') as { schemaFiles: () => Record<string, string> };
const schemaDir = path.join(__dirname, '..', '..', 'schemas');

function validators() {
  const ajv = new Ajv2020({ strict: false });
  for (const text of Object.values(schemaFiles())) ajv.addSchema(JSON.parse(text));
  return {
    experiment: ajv.getSchema('dendrite-bench:schemas/experiment.schema.json')!,
    model: (k: ModelKind) => ajv.getSchema(`dendrite-bench:schemas/${k}.schema.json`)!,
  };
}

test('the shipped schemas are the ones the option tables generate', (t) => {
  for (const [name, text] of Object.entries(schemaFiles())) {
    t.is(fs.readFileSync(path.join(schemaDir, name), 'utf8'), text, `schemas/${name} is stale: run node scripts/write-schemas.js`);
  }
});

test('every model: defaults resolve, pass the schema, and round-trip through JSON unchanged', (t) => {
  const v = validators();
  for (const kind of MODEL_KINDS) {
    const resolved = resolveModelOptions(kind, {});
    // Inactive options keep their defaults for the model, but the schema refuses them when given
    // explicitly, so the schema check is on the active ones.
    const active = Object.fromEntries(Object.entries(resolved).filter(([k]) => {
      const when = (MODELS[kind].options as Record<string, OptionSpec>)[k].when;
      return !when || Object.entries(when).every(([p, vals]) => (vals as unknown[]).includes(resolved[p]));
    }));
    t.true(v.model(kind)(active), `${kind}: ${JSON.stringify(v.model(kind).errors)}`);
    const again = resolveModelOptions(kind, JSON.parse(JSON.stringify(active)) as Record<string, unknown>);
    t.deepEqual(again, resolved, kind);
  }
});

test('schema and resolver agree on values out of range, wrong types and unknown names', (t) => {
  const v = validators();
  for (const kind of MODEL_KINDS) {
    const check = v.model(kind);
    for (const [name, spec] of Object.entries(MODELS[kind].options as Record<string, OptionSpec>)) {
      if (spec.when) continue;  // given alone it may not apply; covered below
      const bad: unknown[] = ['x', null];
      if (spec.type === 'number' || spec.type === 'integer') bad.push(spec.max * 2 + 1, spec.exclusiveMin ? spec.min : spec.min - 1);
      if (spec.type === 'integer') bad.push(spec.min + 0.5);
      if (spec.type === 'integerList' || spec.type === 'numberList') bad.push([], [spec.max * 2 + 1]);
      if (spec.type === 'choice') bad.push('no-such-choice');
      for (const value of bad) {
        const given = { [name]: value };
        t.false(check(given), `${kind}.${name} = ${JSON.stringify(value)} passed the schema`);
        t.throws(() => resolveModelOptions(kind, given), undefined, `${kind}.${name} = ${JSON.stringify(value)}`);
      }
    }
    t.false(check({ noSuchOption: 1 }));
  }
});

test('unknown options are TypeErrors with a suggestion; inactive options are RangeErrors naming the condition', (t) => {
  const e1 = t.throws(() => resolveModelOptions('mlp', { lerningRate: 1, lrr: 2 }), { instanceOf: TypeError });
  t.regex(e1!.message, /unknown option "lerningRate"/);
  const e2 = t.throws(() => resolveModelOptions('mlp', { lrr: 2 }), { instanceOf: TypeError });
  t.regex(e2!.message, /did you mean "lr"/);
  t.throws(() => resolveModelOptions('mlp', { momentum: 0.9 }), { instanceOf: RangeError, message: /momentum applies only when optimizer is "sgd"/ });
  t.is(resolveModelOptions('mlp', { optimizer: 'sgd', momentum: 0.9 }).momentum, 0.9);
  t.throws(() => resolveModelOptions('segregated', { symmetricNoiseSd: 0.1 }), { message: /applies only when noisySymmetric is true/ });
  t.throws(() => resolveModelOptions('segregated', { feedbackLearningRates: [0.1] }), { message: /applies only when feedback is "learned"/ });
  t.throws(() => resolveModelOptions('segregated', { feedback: 'learnd' }), { message: /did you mean "learned"/ });
  const err = t.throws(() => resolveModelOptions('cnn', { stride: 0 }));
  t.true(isOptionError(err));
  t.is((err as unknown as { option: string }).option, 'stride');
});

test('segregated defaults follow the mode and dt as the original does', (t) => {
  const s = resolveModelOptions('segregated', {});
  t.like(s, { mode: 'spiking', dt: 1, lambdaMax: 0.2, mem: 10, forwardPhase: 50, targetPhase: 50, testPhase: 250,
    integrationTime: 20, integrationTimeTest: 220, conductances: true, randomPhaseLengths: true, learningRates: [0.21, 0.21], batchSize: 1 });
  const half = resolveModelOptions('segregated', { dt: 0.5 });
  t.like(half, { lambdaMax: 0.1, mem: 20, forwardPhase: 100, testPhase: 500, integrationTime: 40, integrationTimeTest: 440 });
  const ns = resolveModelOptions('segregated', { mode: 'nonspiking' });
  t.like(ns, { mem: 1, forwardPhase: 2, targetPhase: 2, testPhase: 2, integrationTime: 1, integrationTimeTest: 1,
    conductances: false, spikingFeedforward: false, spikingFeedback: false, randomPhaseLengths: false });
  t.deepEqual(resolveModelOptions('segregated', { layers: [500, 100, 10] }).learningRates, [0.23, 0.23, 0.12]);
  t.false('learningRates' in resolveModelOptions('segregated', { layers: [20, 20, 20, 10] }), 'no default for other depths');
  // Given values win over computed ones.
  t.is(resolveModelOptions('segregated', { dt: 0.5, mem: 3 }).mem, 3);
});

test('experiment specs: settings resolve with defaults, folds and validation exclude each other, errors name the setting', (t) => {
  const s = resolveSpec({ model: 'mlp' });
  t.like(s, { model: 'mlp', dataset: 'mnist-10k', epochs: 5, validation: 0.1, folds: 0, test: true, seed: 0, device: 'auto', resume: false });
  t.is(resolveSpec({ model: 'mlp', dataset: 'Fashion' }).dataset, 'fashion-mnist', 'dataset aliases');
  t.throws(() => resolveSpec({ model: 'mlp', folds: 3, validation: 0.2 }), { message: /validation does not apply with folds/ });
  t.throws(() => resolveSpec({ model: 'mlp', folds: 3, fold: 3 }), { message: /fold must be below folds \(3\)/ });
  t.throws(() => resolveSpec({ model: 'mlp', fold: 1 }), { message: /fold applies only with folds >= 2/ });
  t.throws(() => resolveSpec({ model: 'mlp', epoch: 3 } as never), { instanceOf: TypeError, message: /unknown setting "epoch"/ });
  t.throws(() => resolveSpec({ model: 'rnn' } as never), { message: /model must be one of segregated, mlp, fa, dfa, cnn/ });
  t.throws(() => resolveSpec({ model: 'mlp', device: 'gpu' } as never), { message: /device must be auto, cpu, cuda or cuda:N/ });
  t.throws(() => resolveSpec({ model: 'mlp', resume: true }), { message: /resume needs a checkpoint/ });
  t.throws(() => resolveSpec({ model: 'mlp', dataset: 'imagenet' }), { message: /dataset must be one of/ });
  t.is(resolveSpec({ model: 'mlp', device: 'cuda:1' }).device, 'cuda:1');
});

test('experiment files pass the shipped experiment schema exactly when resolveSpec accepts them', (t) => {
  const { experiment } = validators();
  const good = [{ model: 'mlp' }, { model: 'cnn', options: { channels: [8], lr: 0.01 }, epochs: 2, folds: 3, fold: 1 },
    { model: 'segregated', options: { mode: 'nonspiking', feedback: 'learned', feedbackLearningRates: [0.01] }, device: 'cuda:0' }];
  for (const spec of good) {
    t.true(experiment(spec), JSON.stringify(experiment.errors));
    t.notThrows(() => resolveSpec(spec as never));
  }
  const bad = [{ model: 'mlp', options: { channels: [8] } }, { model: 'segregated', options: { sparseGain: 2 } }, { model: 'mlp', epochs: -1 },
    { options: {} }, { model: 'mlp', device: 'tpu' }];
  for (const spec of bad) {
    t.false(experiment(spec), JSON.stringify(spec));
    t.throws(() => resolveSpec(spec as never));
  }
});

test('command line: every segregated option has a flag and reaches the native network; other models\' options are refused', async (t) => {
  const p = buildSpec({ model: 'segregated', mode: 'nonspiking', gA: '0.05', learningRates: '0.1,0.2', layers: '30,10',
    spikingFeedback: 'true', randomPlateauTimes: true, plateauCap: '1', EE: '7', epochs: '0', device: 'cpu' });
  t.deepEqual(p.spec.options, { mode: 'nonspiking', gA: 0.05, learningRates: [0.1, 0.2], layers: [30, 10], spikingFeedback: true,
    randomPlateauTimes: true, plateauCap: 1, EE: 7 });
  const spec = resolveSpec(p.spec);
  const entry = modelEntry('segregated');
  const model = entry.create({ ...spec.options, nIn: 784 } as never, { input: { channels: 1, height: 28, width: 28 }, classes: 10, seed: 3, device: 'cpu' }) as SegregatedTrainable;
  try {
    const c = model.network.config();
    t.like(c, { gA: 0.05, learningRates: [0.1, 0.2], layers: [30, 10], spikingFeedback: true, randomPlateauTimes: true, plateauCap: 1, EE: 7,
      forwardPhase: 2, mem: 1 });
  } finally {
    (model as { dispose?: () => void }).dispose?.();
  }
  t.throws(() => buildSpec({ model: 'mlp', channels: '8' }), { message: /--channels does not apply to --model mlp \(it is an option of cnn\); the mlp options are --layers, --batch-size/ });
  t.throws(() => buildSpec({ model: 'segregated', lr: '0.1' }), { message: /--lr does not apply to --model segregated/ });
  t.throws(() => buildSpec({ model: 'mpl' }), { message: /did you mean mlp/ });
  t.throws(() => buildSpec({ model: 'mlp', layers: '500,x' }), { message: /cannot read "500,x"/ });
});

test('chooseDevice: auto takes the CPU for online segregated training, CUDA where it pays, and an explicit device as asked', (t) => {
  const gpu = { device: 'cuda:0' as const };
  const choose = (spec: Parameters<typeof resolveSpec>[0], resolved: Parameters<typeof chooseDevice>[1] = gpu) => {
    const s = resolveSpec(spec);
    return chooseDevice(s.device, resolved, modelEntry(s.model), s.options);
  };
  const online = choose({ model: 'segregated' });
  t.is(online.device, 'cpu');
  t.regex(online.reason ?? '', /online training \(batchSize 1\)/);
  t.deepEqual(choose({ model: 'segregated', options: { batchSize: 32 } }), { device: 'cuda:0' });
  t.deepEqual(choose({ model: 'segregated', device: 'cuda' }), { device: 'cuda:0' }, 'an explicit device is honoured');
  t.deepEqual(choose({ model: 'mlp' }), { device: 'cuda:0' });
  t.deepEqual(choose({ model: 'segregated' }, { device: 'cpu', fallback: 'no CUDA device' }), { device: 'cpu', reason: 'no CUDA device' });
});

test('runExperiment: k-fold split, result records environment, device choice and dataset checksum', async (t) => {
  const events: string[] = [];
  const r = await runExperiment({ model: 'mlp', options: { layers: [32, 10] }, epochs: 1, folds: 4, fold: 2, test: false, threads: 1, seed: 5 },
    { onEvent: (e) => events.push(e.type) });
  t.is(r.format, 'dendrite-bench/experiment-result@1');
  t.is(r.dataset.train + r.dataset.validation, 8000);
  t.is(r.dataset.validation, 2000);
  t.is(r.dataset.test, 0);
  t.deepEqual(r.dataset.split, { folds: 4, fold: 2 });
  t.regex(r.dataset.sha256, /^[0-9a-f]{64}$/);
  t.is(r.test, null);
  t.is(r.epochs[0].epoch, 1);
  t.true(r.epochs[0].validationAccuracy! > 0.5 && r.epochs[0].validationAccuracy! <= 1, 'accuracy is a fraction');
  t.is(r.environment.device.requested, 'auto');
  t.is(r.environment.device.used, 'cpu');
  t.is(typeof r.environment.device.reason, 'string', 'auto says why it did not take CUDA');
  t.is(r.environment.threads, 1);
  t.is(r.environment.package.name, 'dendrite-bench');
  t.is(r.spec.options.lr, 1e-3, 'the full resolved options');
  t.deepEqual(events.slice(0, 2), ['device', 'start']);
  // Same seed, same folds, same numbers.
  const again = await runExperiment({ model: 'mlp', options: { layers: [32, 10] }, epochs: 1, folds: 4, fold: 2, test: false, threads: 1, seed: 5 });
  t.deepEqual(again.epochs.map((e) => e.validationAccuracy), r.epochs.map((e) => e.validationAccuracy));
  // An invalid CNN geometry is refused before any data is loaded or model built.
  await t.throwsAsync(runExperiment({ model: 'cnn', options: { channels: [8, 8, 8] }, epochs: 1 }), { message: /block 3: conv output height 7 is odd/ });
  await t.throwsAsync(runExperiment({ model: 'segregated', options: { layers: [20, 15] }, epochs: 1 }), { message: /not a multiple of the 10 classes/ });
});

test('splitSeed picks the folds apart from the weights\' seed; by default it is the seed, so earlier results reproduce', async (t) => {
  t.like(resolveSpec({ model: 'mlp', seed: 7 }), { seed: 7, splitSeed: 7 });
  t.like(resolveSpec({ model: 'mlp', seed: 7, splitSeed: 2 }), { seed: 7, splitSeed: 2 });
  t.throws(() => resolveSpec({ model: 'mlp', splitSeed: -1 }), { message: /splitSeed/ });
  const run = (seed: number, splitSeed?: number) => runExperiment({ model: 'mlp', options: { layers: [32, 10] }, epochs: 1, folds: 4, fold: 2,
    test: false, threads: 1, seed, ...(splitSeed !== undefined ? { splitSeed } : {}) });
  const curve = (r: Awaited<ReturnType<typeof run>>) => r.epochs.map((e) => [e.validationAccuracy, e.validationLoss]);
  const byDefault = await run(5);
  // The same weights and epoch orders (seed 5) validated on other images: other numbers.
  const otherFolds = await run(5, 6);
  t.deepEqual(curve(await run(5, 5)), curve(byDefault));
  t.notDeepEqual(curve(otherFolds), curve(byDefault));
  t.is(otherFolds.spec.splitSeed, 6);
});

test('testRepeats: the final weights are tested that many times; the spiking network\'s tests differ, the result is their mean', async (t) => {
  t.throws(() => resolveSpec({ model: 'mlp', testRepeats: 0 }), { message: /testRepeats/ });
  t.throws(() => resolveSpec({ model: 'mlp', test: false, testRepeats: 3 }), { message: /testRepeats/ });
  const spiking = await runExperiment({ model: 'segregated', options: { layers: [20, 10] }, epochs: 1, validation: 7000, threads: 1, seed: 2, testRepeats: 3 });
  const repeats = spiking.testRepeats!;
  t.is(repeats.length, 3);
  t.true(new Set(repeats.map((e) => e.correct)).size > 1, `each test draws new spikes: ${repeats.map((e) => e.correct)}`);
  t.is(spiking.test!.accuracy, repeats.reduce((a, e) => a + e.accuracy, 0) / 3);
  t.is(spiking.test!.count, repeats[0].count);
  // The first of the repeated tests is the single test of the same run.
  const once = await runExperiment({ model: 'segregated', options: { layers: [20, 10] }, epochs: 1, validation: 7000, threads: 1, seed: 2 });
  t.deepEqual(once.test, repeats[0]);
  t.is(once.testRepeats, undefined);
  // A deterministic model scores the same each time.
  const mlp = await runExperiment({ model: 'mlp', options: { layers: [32, 10] }, epochs: 1, threads: 1, seed: 2, testRepeats: 2 });
  t.deepEqual(mlp.testRepeats![0], mlp.testRepeats![1]);
});

test('resolveOptions refuses a non-object', (t) => {
  t.throws(() => resolveOptions('x', {}, null as never), { instanceOf: TypeError });
  t.throws(() => resolveOptions('x', {}, [] as never), { instanceOf: TypeError });
});

test('weight dynamics: at every curve point each weight matrix\'s norm, relative change and relative update change, from the real weights', async (t) => {
  const { createMlp } = await import('../src/models/mlp');
  const { train } = await import('../src/train/loop');
  const { mnist10k } = await import('./helpers/data');
  const d = await mnist10k();
  const model = createMlp({ input: { channels: 1, height: 28, width: 28 }, hidden: [16], batchSize: 50, seed: 2, threads: 1 });
  try {
    const snapshots: Float32Array[][] = [];
    const r = await train(model, { train: d.train }, {
      epochs: 1, logEvery: 2000, recordWeights: true, seed: 1,
      onEvent: (e) => { if (e.type === 'point') snapshots.push(model.layerWeights().map((w) => w.data)); },
    });
    t.is(r.curve.length, 4);
    const norm = (a: Float32Array): number => Math.sqrt(a.reduce((s, x) => s + x * x, 0));
    for (const [k, p] of r.curve.entries()) {
      t.deepEqual(p.weights!.map((w) => w.name), ['1.linear', '3.linear']);
      p.weights!.forEach((w, j) => t.true(Math.abs(w.norm - norm(snapshots[k][j])) < 1e-4 * w.norm, `${k}.${w.name} norm`));
      if (k === 0) t.is(p.weights![0].relChange, null);
      if (k >= 1) {
        const j = 0;
        const diff = snapshots[k][j].map((x, i) => x - snapshots[k - 1][j][i]);
        t.true(Math.abs(p.weights![j].relChange! - norm(diff) / norm(snapshots[k - 1][j])) < 1e-5, `${k} relChange`);
      }
      if (k >= 2) t.true(p.weights![0].relUpdateChange! > 0);
    }
  } finally {
    model.dispose?.();
  }
});

test('recordAngle: the segregated network reports its mean angle to backprop per epoch; other models refuse it', async (t) => {
  t.throws(() => resolveSpec({ model: 'cnn', recordAngle: true }), { message: /recordAngle applies to the segregated network only/ });
  const r = await runExperiment({ model: 'segregated', options: { layers: [40, 10] }, epochs: 1, recordAngle: true, threads: 1, test: false });
  const angle = (r.epochs[0].metrics as { angle: number[] }).angle;
  t.is(angle.length, 1);
  t.true(angle[0] > 0 && angle[0] < 90, `angle ${angle[0]} degrees: the local updates point within 90 degrees of backprop's`);
});
