// Study presets (presets/lange2019-bo-*.json, format dendrite-bench/study-preset@1): Lange's
// studies by name, listed by `dendrite-bench presets`, run by `dendrite-bench run --preset NAME`
// through `study run`, the command line's settings on top; a copied and edited preset file runs too.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { planFromFlags } from '../src/cli/run';
import { STUDY_PRESET_FORMAT, isStudyPreset, listPresets, loadPreset, type StudyPreset } from '../src/experiment/presets';

const cli = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const shipped = path.join(__dirname, '..', '..', 'presets');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-study-presets-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 240000, cwd: tmp });
}

const MODELS = ['mlp', 'cnn', 'segregated'];
const DATASETS = ['mnist', 'fashion-mnist', 'cifar10'];

test('the nine studies of Lange are shipped: his models and datasets, 50 trials, 3 folds, 10 epochs, his space and optimiser', (t) => {
  const studies = listPresets().filter(isStudyPreset);
  t.deepEqual(studies.map((p) => p.name).sort(), MODELS.flatMap((m) => DATASETS.map((d) => `lange2019-bo-${m}-${d}`)).sort());
  for (const p of studies) {
    const [, , model, ...dataset] = p.name.split('-');
    t.deepEqual(p.study, { model, dataset: dataset.join('-'), trials: 50, space: 'lange2019', strategy: 'lange', folds: 3, epochs: 10, seed: 0 }, p.name);
    t.regex(p.description, new RegExp(`dendrite-bench data fetch ${dataset.join('-')}`), p.name);
    // A time is measured, an estimate that names its measurement, or "unmeasured".
    for (const e of [p.expected.cpu, p.expected.gpu]) t.regex(e, /^unmeasured$|an estimate: .*docs\/bo\.md/, `${p.name}: ${e}`);
  }
});

test('dendrite-bench presets marks the studies and shows their settings; --json gives their format', (t) => {
  const r = run('presets');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^lange2019-bo-cnn-cifar10 \(study\)$/m);
  t.regex(r.stdout, /^ {2}study: mlp on mnist, 50 trials x 3 folds x 10 epochs, space lange2019, strategy lange$/m);
  t.regex(r.stdout, /^default$/m, 'experiment presets as before');
  const j = run('presets', '--json');
  const all = JSON.parse(j.stdout) as Array<{ name: string; format: string }>;
  t.is(all.find((p) => p.name === 'lange2019-bo-segregated-mnist')?.format, STUDY_PRESET_FORMAT);
});

function writePreset(name: string, edit: (p: Record<string, any>) => void): string {
  const doc = JSON.parse(fs.readFileSync(path.join(shipped, 'lange2019-bo-mlp-mnist.json'), 'utf8')) as Record<string, any>;
  edit(doc);
  const file = path.join(tmp, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(doc));
  return file;
}

test('a broken study preset fails on loading, naming the file and what is wrong', (t) => {
  for (const [edit, message] of [
    [(p: Record<string, any>) => { p.study.trails = 5; }, /study has unknown keys trails/],
    [(p: Record<string, any>) => { delete p.study.epochs; }, /study needs "epochs"/],
    [(p: Record<string, any>) => { p.study.trials = '50'; }, /study\.trials must be an integer, got "50"/],
    [(p: Record<string, any>) => { p.study.strategy = 'ucb'; }, /json: study: option --strategy must be bayes, random or lange, got "ucb"/],
    [(p: Record<string, any>) => { p.study.folds = 1; }, /option --folds must be an integer >= 2/],
    [(p: Record<string, any>) => { p.study.space = 'nope'; }, /has no preset "nope" for mlp/],
    [(p: Record<string, any>) => { p.expected = { cpu: 2 }; }, /expected must be/],
  ] as const) {
    const file = writePreset('broken', edit);
    const err = t.throws(() => loadPreset(file));
    t.regex(err!.message, /broken\.json: /);
    t.regex(err!.message, message);
  }
  // A space file named in a preset file is found beside that file, from any working directory.
  fs.writeFileSync(path.join(tmp, 'space.json'), JSON.stringify({ params: { lr: { type: 'float', low: 1e-4, high: 0.1, log: true } } }));
  const withSpace = loadPreset(writePreset('with-space', (p) => { p.study.space = 'space.json'; })) as StudyPreset;
  t.is(withSpace.study.space, path.join(tmp, 'space.json'));
});

test('run --preset of a study: study run\'s flags from the preset, the command line\'s on top; flags of experiments refused', (t) => {
  const plan = planFromFlags({ preset: 'lange2019-bo-cnn-fashion-mnist', epochs: '2', workers: '3', device: 'cuda:0,cuda:1', dataDir: '/data' });
  if (plan.kind !== 'study') return t.fail('a study plan');
  t.like(plan.flags, {
    model: 'cnn', dataset: 'fashion-mnist', space: 'lange2019', strategy: 'lange', folds: '3', epochs: '2', seed: '0', defaultTrials: '50',
    trials: undefined, workers: '3', device: 'cuda:0,cuda:1', dataDir: '/data', study: 'lange2019-bo-cnn-fashion-mnist', preset: 'lange2019-bo-cnn-fashion-mnist',
  });
  for (const [flags, message] of [
    [{ seeds: '1,2' }, /option --seeds does not apply to a study preset/],
    [{ only: 'x' }, /option --only does not apply/],
    [{ out: 'x' }, /option --out does not apply/],
    [{ weights: false }, /option --no-weights does not apply/],
    [{ trials: '0' }, /option --trials must be an integer >= 1/],
    [{ dataset: 'imagenet' }, /option --dataset must be one of/],
  ] as const) {
    t.throws(() => planFromFlags({ preset: 'lange2019-bo-mlp-mnist', ...flags }), { message }, JSON.stringify(flags));
  }
  t.throws(() => planFromFlags({ preset: 'quick', workers: '2' }), { message: /option --workers applies to study presets only/ });
});

test('run --preset runs the study: a new study at the preset\'s name, resumed by running it again, its budget kept', (t) => {
  const storage = path.join(tmp, 'shipped.sqlite');
  const args = ['run', '--preset', 'lange2019-bo-mlp-mnist', '--dataset', 'mnist-10k', '--epochs', '1', '--threads', '1', '--storage', storage];
  const first = run(...args, '--trials', '2');
  t.is(first.status, 0, first.stderr);
  t.regex(first.stdout, /^study lange2019-bo-mlp-mnist \(sqlite .*shipped\.sqlite\): new, 2 trials; 1 worker\(s\)$/m);
  t.is(first.stdout.split('\n').filter((l) => /^trial \d (complete|infeasible|failed) /.test(l)).length, 2, first.stdout);
  t.regex(first.stdout, /^done: 2\/2 trials/m);
  const status = run('study', 'status', '--storage', storage, '--json');
  t.like(JSON.parse(status.stdout), { name: 'lange2019-bo-mlp-mnist', model: 'mlp', dataset: 'mnist-10k', space: 'lange2019', strategy: 'lange', folds: 3, epochs: 1, budget: 2, finished: 2 });

  const again = run(...args);
  t.is(again.status, 0, again.stderr);
  t.regex(again.stdout, /resuming at 2\/2/, 'the budget stays 2 without --trials (the preset\'s 50 is for a new study)');
  // Without the overrides the preset asks for another study than the one stored under its name.
  const other = run('run', '--preset', 'lange2019-bo-mlp-mnist', '--storage', storage);
  t.is(other.status, 2);
  t.regex(other.stderr, /exists with other settings: dataset is "mnist-10k", not "mnist"; epochs is 1, not 10\. Give a new --study name to run preset lange2019-bo-mlp-mnist/);
});

test('a copied and edited preset file runs as --preset FILE; --json prints nothing but NDJSON', (t) => {
  const file = writePreset('my-study', (p) => {
    p.name = 'my-study';
    Object.assign(p.study, { dataset: 'mnist-10k', epochs: 1, trials: 2, strategy: 'bayes', folds: 2 });
  });
  const storage = path.join(tmp, 'copy.sqlite');
  const r = run('run', '--preset', file, '--threads', '1', '--storage', storage, '--json');
  t.is(r.status, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; name?: string });
  t.deepEqual(events.map((e) => e.type), ['study', 'trial', 'trial', 'final', 'done']);
  t.is(events[0].name, 'my-study');
  const status = JSON.parse(run('study', 'status', '--storage', storage, '--json').stdout) as Record<string, unknown>;
  t.like(status, { name: 'my-study', strategy: 'bayes', folds: 2, epochs: 1, budget: 2, finished: 2 });
});
