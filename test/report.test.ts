// Results folders and the HTML report, end to end on real runs: MLP and segregated networks
// trained on the shipped MNIST digits (2 seeds each, curve points inside the epochs, weight
// dynamics recorded by the loop, the test split scored each epoch) and a spiking segregated
// network's voltage and angle recordings. The report is opened in headless Chromium (DevTools protocol over a pipe, every host
// name unresolvable): each figure must draw marks carrying the runs' values, the page must log no
// error and request nothing but itself.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import test, { type ExecutionContext } from 'ava';

import { loadDataset } from '../src/data/load';
import { subset } from '../src/data/types';
import { runExperiment, type ExperimentResult } from '../src/experiment/run';
import { SegregatedNetwork } from '../src/models/segregated';
import { ChromiumPage, findChromium } from '../src/report/chromium';
import {
  angleRows, bestSoFarFigure, errorRows, PAPER_FIG6B, paperRows, parallelCoordinatesFigure, trialDistributionFigure, weightRows, type TrialRecord,
} from '../src/report/figures';
import { buildReport, meanSd, writeReport } from '../src/report/html';
import { anglePointsFromEpochs, voltageTracesFromRecording } from '../src/report/recordings';
import { namespaceIds, renderSvg } from '../src/report/render';
import {
  CSV_COLUMNS, groupRuns, makeResults, readResults, RESULTS_FORMAT, ResultsError, runLabels, writeResults, type Results,
} from '../src/report/results';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-report-'));
test.after.always(() => {
  if (!process.env.KEEP_REPORT_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

const SEEDS = [1, 2];
const EXPERIMENTS = [
  { model: 'mlp', options: { layers: [32, 10] } },
  { model: 'segregated', options: { layers: [20, 10], mode: 'nonspiking', learningRates: [0.21, 0.21] }, recordAngle: true },
  // 784-10: one of the paper's networks, so Fig 6B's value is drawn for it
  { model: 'segregated', options: { layers: [10], mode: 'nonspiking', learningRates: [0.19] } },
] as const;

/** Everything the tests read: real runs and recordings, written to a results folder with its report. */
const prepared = (async () => {
  const runs: ExperimentResult[] = [];
  for (const e of EXPERIMENTS) {
    for (const seed of SEEDS) {
      runs.push(await runExperiment({ model: e.model, options: { ...e.options, layers: [...e.options.layers],
        ...('learningRates' in e.options ? { learningRates: [...e.options.learningRates] } : {}) },
      dataset: 'mnist-10k', epochs: 2, logEvery: 1800, seed, threads: 1, device: 'cpu', recordWeights: true, testEachEpoch: seed === 1,
      ...('recordAngle' in e ? { recordAngle: true } : {}) }));
    }
  }

  // A spiking 784-20-10 network on 600 digits of every class: angles over two epochs, and the
  // potentials of the last example of the second.
  const ds = await loadDataset('mnist-10k');
  const few = subset(ds.train, Array.from({ length: 600 }, (_, i) => (i * 13) % ds.train.count));
  const digits = { images: few.images, labels: few.labels, count: few.count };
  const net = new SegregatedNetwork({ layers: [20, 10], learningRates: [0.21, 0.21], seed: 3, threads: 1 });
  const first = await net.train(digits, { recordAngle: true });
  const second = await net.train(digits, { recordAngle: true, record: { examples: [599], units: [[0, 1, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    voltages: true, phaseTimes: true, plateauTimes: true } });
  const spikingLabel = 'segregated 784-20-10 spiking';
  const config = net.config();
  const voltages = voltageTracesFromRecording(spikingLabel, second[0].recording!, { layers: config.layers, dt: config.dt });
  const angles = anglePointsFromEpochs(spikingLabel, [...first, ...second], { window: 100 });

  const folder = path.join(tmp, 'results');
  const results = makeResults(runs, { extras: { voltages, angles } });
  const files = await writeResults(folder, results);
  const t0 = Date.now();
  const written = await writeReport(folder);
  return { runs, results, files, folder, written, voltages, angles, second, reportMs: Date.now() - t0 };
})();

test('results folder: results.json round-trips, results.csv has a row per run and epoch with the test score on the last', async (t) => {
  const { folder, results, runs, files } = await prepared;
  const back = readResults(folder);
  t.is(back.format, RESULTS_FORMAT);
  t.deepEqual(back, JSON.parse(JSON.stringify(results)) as Results);
  t.deepEqual(readResults(files.json), back, 'the file itself reads too');
  const lines = fs.readFileSync(files.csv, 'utf8').trimEnd().split('\n');
  t.is(lines[0], CSV_COLUMNS.join(','));
  t.is(lines.length - 1, runs.reduce((a, r) => a + r.epochs.length, 0));
  const col = (name: (typeof CSV_COLUMNS)[number]) => CSV_COLUMNS.indexOf(name);
  const rows = lines.slice(1).map((l) => l.split(','));
  runs.forEach((r, i) => {
    const last = rows[2 * i + 1], firstRow = rows[2 * i];
    t.is(Number(last[col('test_accuracy')]), r.test!.accuracy);
    if (r.spec.testEachEpoch) t.is(Number(firstRow[col('test_accuracy')]), r.epochs[0].testAccuracy!);
    else t.is(firstRow[col('test_accuracy')], '', 'without testEachEpoch the test score only on the last epoch row');
    t.is(Number(firstRow[col('validation_accuracy')]), r.epochs[0].validationAccuracy!);
    t.is(Number(last[col('seed')]), r.spec.seed);
    t.is(last[col('device')], 'cpu');
    t.is(Number(firstRow[col('examples_per_second')]), r.epochs[0].examplesPerSecond);
  });
  t.deepEqual(groupRuns(runs).map((g) => [g.label, g.runs.length]),
    [['mlp 784-32-10', 2], ['segregated 784-20-10 nonspiking', 2], ['segregated 784-10 nonspiking', 2]]);
  // no temporary files left behind by the atomic writes
  t.deepEqual(fs.readdirSync(folder).sort(), ['figures', 'report.html', 'results.csv', 'results.json']);
});

test('runs labelled by whoever ran them (dendrite-bench run writes a label per run and the preset) keep their labels', async (t) => {
  const { runs } = await prepared;
  const folder = path.join(tmp, 'labelled');
  const labelled = runs.map((r) => ({ ...r, label: r.spec.model === 'mlp' ? 'baseline' : `seg ${(r.spec.options.layers as number[]).join('-')}` }));
  await writeResults(folder, makeResults(labelled, { preset: 'quick' }));
  const back = readResults(folder);
  t.is(back.preset, 'quick');
  t.deepEqual(groupRuns(back.runs).map((g) => [g.label, g.runs.length]), [['baseline', 2], ['seg 20-10', 2], ['seg 10', 2]]);
  const csv = fs.readFileSync(path.join(folder, 'results.csv'), 'utf8').split('\n');
  t.true(csv[1].startsWith('mlp,baseline,mnist-10k,1,1,'), csv[1]);
});

test('readResults names the file and the field it refuses', async (t) => {
  const { results } = await prepared;
  const dir = path.join(tmp, 'bad');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'results.json');
  const cases: Array<[unknown, RegExp]> = [
    [{ ...results, format: 'dendrite-bench/results@0' }, /is not a dendrite-bench results file \(format "dendrite-bench\/results@0"/],
    [{ ...results, runs: [{ ...results.runs[0], epochs: [{ ...results.runs[0].epochs[0], trainAccuracy: 'high' }] }] },
      /runs\[0\]\.epochs\[0\]\.trainAccuracy must be a number/],
    [{ ...results, runs: [{ ...results.runs[0], format: 'x' }] }, /runs\[0\]\.format must be "dendrite-bench\/experiment-result@1"/],
    [{ ...results, extras: { ...results.extras, voltages: [{ ...results.extras!.voltages![0], basal: [1] }] } }, /extras\.voltages\[0\]\.basal has 1 steps/],
    [{ ...results, extras: { colours: [] } }, /extras\.colours is not known/],
    [{ ...results, runs: [{ ...results.runs[0], curve: [{ ...results.runs[0].curve[0], weights: [{ name: '1.linear', norm: 'big' }] }] }] },
      /runs\[0\]\.curve\[0\]\.weights\[0\]\.norm must be a number/],
  ];
  for (const [data, msg] of cases) {
    fs.writeFileSync(file, JSON.stringify(data));
    const e = t.throws(() => readResults(dir), { instanceOf: ResultsError });
    t.true(e!.message.startsWith(`${file}: `), e!.message);
    t.regex(e!.message, msg);
  }
  fs.writeFileSync(file, '{"format": ');
  t.regex(t.throws(() => readResults(dir))!.message, /results\.json: is not JSON/);
  t.regex(t.throws(() => readResults(path.join(tmp, 'none')))!.message, /none: cannot be read \(ENOENT\)/);
  // writeResults refuses what readResults would refuse, and writes nothing then
  const out = path.join(tmp, 'refused');
  await t.throwsAsync(writeResults(out, { ...results, runs: [{ ...results.runs[0], spec: { ...results.runs[0].spec, seed: 0.5 } }] }),
    { message: /runs\[0\]\.spec\.seed must be an integer/ });
  t.false(fs.existsSync(path.join(out, 'results.json')));
});

test('recordings become figure tables: voltages, plateau times and angles from the spiking network', async (t) => {
  const { voltages, angles, second } = await prepared;
  const rec = second[0].recording!;
  const label = rec.labels[599 - rec.firstPosition];
  // 2 hidden units, the target's output unit and one other
  t.deepEqual(voltages.map((v) => [v.layer, v.unit, v.output]), [[0, 0, false], [0, 1, false], [1, label, true], [1, label === 0 ? 1 : 0, true]]);
  const steps = rec.stepOffsets[1] - rec.stepOffsets[0];
  for (const v of voltages) {
    t.is(v.somatic.length, steps);
    t.is(v.basal.length, steps);
    t.is(v.apical === undefined, v.output, 'apical potentials for hidden units only');
    t.is(v.example, 600 + 599, 'the global example number of the second epoch');
    t.true(v.targetStart >= 50 && v.targetStart < steps - 49, `phase boundary ${v.targetStart} of ${steps}`);
    if (!v.output) {
      // forward plateau just before the target phase, target plateau just before the end (docs/papers.md §8.4)
      const [f, g] = v.plateaus!;
      t.true(f < v.targetStart && f >= v.targetStart - 1 - 20, `forward plateau ${f}`);
      t.true(g < steps && g >= steps - 1 - 20, `target plateau ${g}`);
    }
    t.true(v.somatic.every(Number.isFinite) && new Set(v.somatic).size > 5, 'potentials move');
  }
  const first = rec.layers![0];
  t.is(voltages[0].somatic[7], first.C[7 * first.units.length]);
  // 1200 examples in windows of 100: 12 points, each a mean of real angles between 0 and 180
  t.deepEqual(angles.map((a) => a.examples), Array.from({ length: 12 }, (_, i) => 100 * (i + 1)));
  t.true(angles.every((a) => a.angle > 0 && a.angle < 180));
  const firstWindow = Array.from(second[0].angles!.subarray(0, 100)).filter(Number.isFinite);
  t.is(angles[6].angle, firstWindow.reduce((a, b) => a + b, 0) / firstWindow.length);
});

test('figure tables from the runs: weight dynamics as the loop recorded them, per-epoch and final errors', async (t) => {
  const { runs } = await prepared;
  const labels = runLabels(runs);
  const rows = weightRows(runs, labels);
  // every recorded matrix of every curve point of every run, nothing else
  t.is(rows.length, runs.reduce((a, r) => a + r.curve.reduce((b, p) => b + (p.weights?.length ?? 0), 0), 0));
  const mlp = runs[0];
  t.deepEqual([...new Set(rows.filter((w) => w.model === 'mlp 784-32-10').map((w) => w.layer))], mlp.curve[0].weights!.map((w) => w.name));
  const p = mlp.curve[3];
  t.deepEqual(rows.filter((w) => w.model === 'mlp 784-32-10' && w.seed === 1 && w.examples === p.examples).map((w) => w.norm),
    p.weights!.map((w) => w.norm));
  t.true(rows.length > 0 && rows.every((w) => w.norm > 0));

  const errors = errorRows(runs, labels);
  for (const r of runs) {
    const mine = errors.filter((e) => e.model === labels.get(r) && e.seed === r.spec.seed);
    t.deepEqual(mine.filter((e) => e.split === 'validation').map((e) => e.error), r.epochs.map((e) => 1 - e.validationAccuracy!));
    t.deepEqual(mine.filter((e) => e.split === 'test').map((e) => [e.epoch, e.error]),
      r.spec.testEachEpoch ? r.epochs.map((e) => [e.epoch, 1 - e.testAccuracy!]) : [[2, 1 - r.test!.accuracy]]);
  }
  // the paper's value for its 784-10 network only
  t.deepEqual(paperRows(runs, labels), [{ model: 'segregated 784-10 nonspiking', dataset: 'mnist-10k', network: '784-10', error: 0.083 }]);
});

test('report: results table, figures and tables from the folder; figures written as SVG', async (t) => {
  const { folder, written, runs, reportMs } = await prepared;
  t.log(`report built and written in ${reportMs} ms`);
  const names = written.figures.map((f) => path.basename(f));
  t.deepEqual(names, ['learning-curves.svg', 'test-error.svg', 'weight-dynamics.svg', 'voltages.svg', 'angle.svg']);
  for (const f of written.figures) t.regex(fs.readFileSync(f, 'utf8'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const html = fs.readFileSync(written.report, 'utf8');
  // test accuracy mean ± sd over the two seeds of each model, as the page prints it
  for (const g of groupRuns(runs)) {
    const { mean, sd } = meanSd(g.runs.map((r) => r.test!.accuracy));
    t.true(html.includes(`${(100 * mean).toFixed(2)} % ± ${(100 * sd!).toFixed(2)}`), g.label);
  }
  t.true(html.includes(runs[0].dataset.sha256.slice(0, 16)), 'the dataset checksum');
  t.true(html.includes(runs[0].environment.cpu.replace(/&/g, '&amp;')), 'the environment');
  t.regex(html, /<img class="samples" alt="sample images of mnist-10k[^"]*" src="data:image\/png;base64,/);
  t.notRegex(html, /<script|<link|@import|(src|href)="(https?:)?\/\//i, 'no scripts, no external resources');
  t.deepEqual(written.notes, []);
  // the same page again from the folder alone
  const again = await buildReport(folder, { samples: false });
  t.is(again.figures.length, 5);
  t.false(again.html.includes('data:image/png'));
});

test('namespaceIds keeps several inline SVGs apart', (t) => {
  const svg = '<svg><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"><use xlink:href="#clip1"/><use href="#clip1"/></g></svg>';
  t.is(namespaceIds(svg, 'fig-a'),
    '<svg><defs><clipPath id="fig-a-clip1"><rect/></clipPath></defs><g clip-path="url(#fig-a-clip1)"><use xlink:href="#fig-a-clip1"/><use href="#fig-a-clip1"/></g></svg>');
});

/** Study figures: no study engine exists yet, so these trial lists are synthetic (a known best-so-far). */
test('study figures from synthetic trial lists: best so far, distribution, parallel coordinates', async (t) => {
  const trials: TrialRecord[] = [];
  const values = [0.5, 0.7, 0.6, null, 0.9, 0.8];
  values.forEach((value, i) => trials.push({ study: 'lr-search', model: 'mlp', dataset: 'mnist-10k', trial: i, value, metric: 'validation accuracy',
    params: { lr: 10 ** -(i + 1), optimizer: i % 2 ? 'adam' : 'sgd' } }));
  [0.3, 0.2, 0.25].forEach((value, i) => trials.push({ study: 'seg-search', model: 'segregated', dataset: 'mnist-10k', trial: i, value,
    metric: 'validation accuracy', params: { lr: 0.1 * (i + 1) } }));
  const best = await renderSvg(bestSoFarFigure(trials));
  const labels = (svg: string, role: string) => [...svg.matchAll(new RegExp(`aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="${role}"`, 'g'))].map((m) => m[1]);
  // one point per trial with a value (the failed trial has none)
  t.is(labels(best, 'point').length, 5 + 3);
  t.true(labels(best, 'point').some((l) => l === 'trial: 4; validation accuracy: 0.9; study: lr-search'));
  // the best so far (a maximising study by default), failed trial included at the previous best
  const bestRows = (bestSoFarFigure(trials).data as { values: Array<{ study: string; kind: string; value: number }> }).values
    .filter((v) => v.kind === 'best');
  t.deepEqual(bestRows.filter((v) => v.study === 'lr-search').map((v) => v.value), [0.5, 0.7, 0.7, 0.7, 0.9, 0.9]);
  t.deepEqual(bestRows.filter((v) => v.study === 'seg-search').map((v) => v.value), [0.3, 0.3, 0.3]);
  const minimising = trials.map((x) => ({ ...x, direction: 'minimize' as const }));
  const minRows = (bestSoFarFigure(minimising).data as { values: Array<{ study: string; kind: string; value: number }> }).values;
  t.deepEqual(minRows.filter((v) => v.kind === 'best' && v.study === 'seg-search').map((v) => v.value), [0.3, 0.2, 0.2]);
  t.regex(best, /aria-roledescription="line mark"/);
  const dist = await renderSvg(trialDistributionFigure(trials));
  t.is(labels(dist, 'bar').length > 0, true, 'histogram bars');
  t.regex(dist, /aria-roledescription="box"/);
  const par = await renderSvg(parallelCoordinatesFigure(trials));
  t.is((par.match(/aria-roledescription="line mark"/g) ?? []).length, 5 + 3, 'one line per trial with a value');
  for (const axis of ['lr', 'optimizer', 'validation accuracy']) t.true(par.includes(`>${axis}<`), axis);
});

test('the paper\'s Fig 6B values: one documented table', (t) => {
  t.deepEqual(PAPER_FIG6B.rows.map((r) => [r.network, r.testError]), [['784-10', 0.083], ['784-500-10', 0.041], ['784-500-100-10', 0.032]]);
  t.regex(PAPER_FIG6B.source, /Guerguiev, Lillicrap & Richards 2017/);
});

const chromium = findChromium();
// Without a browser these are skipped, and their titles say why.
const browserTest = (title: string, fn: (t: ExecutionContext) => Promise<void>) => (chromium ? test(title, fn)
  : test.skip(`${title} [skipped: no Chromium found; install chromium or set CHROMIUM to its path]`, fn));

browserTest('report.html in headless Chromium: every figure draws its data, no errors, no requests but the page', async (t) => {
  const { written, runs, voltages, angles } = await prepared;
  const weights = weightRows(runs, runLabels(runs));
  const page = await ChromiumPage.launch(chromium!, { width: 1280, height: 900 });
  try {
    const url = pathToFileURL(written.report).href;
    await page.goto(url);
    // Each figure's data marks (role graphics-symbol inside a mark group): what they are and the data they carry.
    const figures = await page.evaluate<Array<{ id: string; marks: Array<{ role: string; label: string }>; texts: string[] }>>(`
      [...document.querySelectorAll('figure[id^="fig-"]')].map((f) => ({ id: f.id,
        marks: [...f.querySelectorAll('g[class*="role-mark"] [role="graphics-symbol"]')]
          .map((m) => ({ role: m.getAttribute('aria-roledescription'), label: m.getAttribute('aria-label') ?? '' })),
        texts: [...f.querySelectorAll('g[class*="role-mark"] text')].map((x) => x.textContent) }))`);
    t.deepEqual(figures.map((f) => f.id), ['fig-learning-curves', 'fig-test-error', 'fig-weight-dynamics', 'fig-voltages', 'fig-angle']);
    const marks = (id: string, role: string) => figures.find((f) => f.id === `fig-${id}`)!.marks.filter((m) => m.role === role).map((m) => m.label);
    const has = (id: string, role: string, what: string) => t.true(marks(id, role).some((l) => l.includes(what)), `${id}: no ${role} with "${what}"`);
    // the first value of a line mark's label, as a number (labels write minus signs as U+2212, as d3-format does)
    const firstValue = (label: string, field: string) => Number(new RegExp(`${field.replace(/[()]/g, '\\$&')}: ([^;]+)`).exec(label)![1].replace('\u2212', '-'));
    const close = (a: number, b: number, what: string) => t.true(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

    // Learning curves: a point per curve point and split of every run, carrying its values; a line per run and split.
    t.is(marks('learning-curves', 'point').length, runs.reduce((a, r) => a + 2 * r.curve.length, 0));
    t.is(marks('learning-curves', 'line mark').length, 2 * runs.length);
    for (const r of runs) {
      for (const p of r.curve) {
        has('learning-curves', 'point', `training examples: ${p.examples}; accuracy: ${(100 * p.validationAccuracy!).toFixed(1)}%; accuracy on: validation; seed: ${r.spec.seed}`);
        has('learning-curves', 'point', `training examples: ${p.examples}; accuracy: ${(100 * p.trainAccuracy).toFixed(1)}%; accuracy on: train; seed: ${r.spec.seed}`);
      }
    }
    // Test error: validation error per epoch (a line per run), test error per epoch (a line per
    // run with testEachEpoch, seed 1) or after the last epoch (seed 2), and the paper's 8.3 % for
    // the 784-10 network (and only it).
    const each = runs.filter((r) => r.spec.testEachEpoch);
    t.is(each.length, 3);
    t.is(marks('test-error', 'line mark').length, runs.length + each.length);
    const labels = runLabels(runs);
    const err = (acc: number) => `${(100 * (1 - acc)).toFixed(1)}%`;
    for (const r of runs) {
      for (const e of r.epochs) {
        has('test-error', 'point', `epoch: ${e.epoch}; error: ${err(e.validationAccuracy!)}; model: ${labels.get(r)}; error on: validation`);
        if (r.spec.testEachEpoch) has('test-error', 'point', `epoch: ${e.epoch}; error: ${err(e.testAccuracy!)}; model: ${labels.get(r)}; error on: test`);
      }
      if (!r.spec.testEachEpoch) t.true(marks('test-error', 'point').includes(`epoch: 2; error: ${err(r.test!.accuracy)}; model: ${labels.get(r)}`));
    }
    t.is(marks('test-error', 'rule mark').length, 1);
    t.deepEqual(figures[1].texts, [`paper 784-10: ${(100 * PAPER_FIG6B.rows[0].testError).toFixed(1)} % after 60 epochs`]);
    // Weight dynamics: a point per layer, curve point and defined quantity.
    t.is(marks('weight-dynamics', 'point').length, weights.reduce((a, w) => a + 1 + (w.relChange === null ? 0 : 1) + (w.relUpdateChange === null ? 0 : 1), 0));
    // Voltages: a line per compartment and unit starting at the recorded value, the target phase
    // shaded in each panel, the two plateau steps of each hidden unit.
    const lines = marks('voltages', 'line mark');
    const hidden = voltages.filter((v) => !v.output);
    t.is(lines.length, 3 * hidden.length + 2 * (voltages.length - hidden.length));
    voltages.forEach((v, i) => {
      const somatic = lines.filter((l) => l.endsWith('compartment: somatic C'))[i];
      close(firstValue(somatic, 'potential'), v.somatic[0], `unit ${v.layer}/${v.unit} somatic`);
    });
    t.deepEqual(marks('voltages', 'rect mark'), voltages.map((v) => `time in the example (ms): ${v.targetStart * v.dt}; t2: ${v.somatic.length * v.dt}`));
    t.deepEqual(marks('voltages', 'rule mark'), hidden.flatMap((v) => [
      `time in the example (ms): ${v.plateaus![0] * v.dt}; plateau potential: forward plateau`, `time in the example (ms): ${v.plateaus![1] * v.dt}; plateau potential: target plateau`]));
    // Angle: a point per epoch of the runs with recordAngle, and per window and layer of the
    // spiking recording, each with its value; the 90° reference.
    const fromRuns = angleRows(runs, runLabels(runs));
    t.is(fromRuns.length, 2 * 2, 'two seeds of 784-20-10, two epochs, one hidden layer');
    const anglePoints = marks('angle', 'point');
    t.is(anglePoints.length, fromRuns.length + angles.length);
    [...fromRuns, ...angles].forEach((a, i) => close(firstValue(anglePoints[i], 'angle to the backprop update (°)'), a.angle, `angle ${i}`));
    t.true(figures[4].texts.includes('90°: orthogonal to backprop'));

    const img = await page.evaluate<number[]>('[...document.images].map((i) => i.complete ? i.naturalWidth : 0)');
    t.true(img.length === 1 && img[0] > 100, `the sample grid decoded (${img})`);
    t.deepEqual(page.log.exceptions, []);
    t.deepEqual(page.log.console.filter((c) => c.level === 'error' || c.level === 'warning'), []);
    t.deepEqual(page.log.requests.filter((u) => u !== url && !u.startsWith('data:')), [], 'no request but the page and its data URIs');
    t.true(page.log.requests.includes(url));

    const shot = await page.screenshot();
    const file = path.join(tmp, 'report.png');
    fs.writeFileSync(file, shot);
    t.is(shot.subarray(1, 4).toString(), 'PNG');
    t.true(shot.length > 50_000, `screenshot of ${shot.length} bytes`);
    // The README's example image: refreshed on request from this real run.
    if (process.env.UPDATE_REPORT_EXAMPLE) {
      const top = await page.screenshot({ width: 1280, height: 2000 });
      const images = path.join(__dirname, '..', '..', 'docs', 'images');
      fs.mkdirSync(images, { recursive: true });
      fs.writeFileSync(path.join(images, 'report-example.png'), top);
    }
  } finally {
    await page.close();
  }
});

browserTest('the browser check sees what it must refuse: a request to another host and a console error', async (t) => {
  const file = path.join(tmp, 'leaky.html');
  fs.writeFileSync(file, '<!DOCTYPE html><html><body><img src="https://example.com/x.png"><script>console.error("boom")</script></body></html>');
  const page = await ChromiumPage.launch(chromium!);
  try {
    await page.goto(pathToFileURL(file).href);
    t.true(page.log.requests.includes('https://example.com/x.png'), JSON.stringify(page.log.requests));
    t.true(page.log.console.some((c) => c.level === 'error' && c.text === 'boom'), JSON.stringify(page.log.console));
  } finally {
    await page.close();
  }
});

browserTest('writeReport({ png: true }): a PNG of every figure, twice the SVG size', async (t) => {
  const { folder } = await prepared;
  const copy = path.join(tmp, 'png');
  fs.mkdirSync(copy, { recursive: true });
  fs.copyFileSync(path.join(folder, 'results.json'), path.join(copy, 'results.json'));
  const w = await writeReport(copy, { png: true, samples: false });
  t.is(w.pngs.length, w.figures.length);
  for (const [i, png] of w.pngs.entries()) {
    const b = fs.readFileSync(png);
    t.is(b.subarray(1, 4).toString(), 'PNG');
    const svg = fs.readFileSync(w.figures[i], 'utf8');
    const [, sw, sh] = /<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
    t.deepEqual([b.readUInt32BE(16), b.readUInt32BE(20)], [2 * Number(sw), 2 * Number(sh)], png);
  }
});
