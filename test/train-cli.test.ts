// `dendrite-bench train` end to end in a child process: text and NDJSON output, --config, errors.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { loadDataset } from '../src/data/load';
import { loadTrainedModel, type ExperimentResult } from '../src/experiment/run';
import { runAndStop } from './helpers/stop-child';

const cli = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-cli-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, 'train', ...args], { encoding: 'utf8', timeout: 120000 });
}

test('--json prints NDJSON events and ends with the result object', (t) => {
  const out = path.join(tmp, 'r.json');
  const r = run('--model', 'mlp', '--layers', '64,10', '--epochs', '2', '--log-every', '3000', '--json', '--out', out, '--seed', '3');
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
  t.like(lines[0], { type: 'device', requested: 'auto', used: 'cpu' });
  t.is(lines[1].type, 'start');
  const result = lines[lines.length - 1];
  t.is(result.type, 'result');
  const test_ = result.test as { accuracy: number; loss: number; count: number };
  t.is(test_.count, 2000);
  t.true(test_.accuracy > 0.85 && test_.loss > 0);
  t.true((result.timing as { examplesPerSecond: number }).examplesPerSecond > 0);
  t.is(lines.filter((l) => l.type === 'epoch').length, 2);
  t.true(lines.filter((l) => l.type === 'point').length >= 4);
  const written = JSON.parse(fs.readFileSync(out, 'utf8')) as { format: string; test: unknown; spec: { seed: number; options: { layers: number[] } } };
  t.deepEqual(written.test, test_);
  t.is(written.format, 'dendrite-bench/experiment-result@1');
  t.like(written.spec, { seed: 3, options: { layers: [64, 10] } });
});

test('text output: a line per epoch and the test score; --config with command-line overrides', (t) => {
  const config = path.join(tmp, 'c.json');
  fs.writeFileSync(config, JSON.stringify({ model: 'dfa', options: { layers: [48, 24, 10], batchSize: 64 }, epochs: 5 }));
  const r = run('--config', config, '--epochs', '1');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^device: cpu \(auto: .+\)$/m);
  t.regex(r.stdout, /^dfa: 7200 training, 800 validation, 2000 test examples$/m);
  t.regex(r.stdout, /^epoch 1\/1 {2}train loss [0-9.]+ acc [0-9.]+% {2}val loss [0-9.]+ acc [0-9.]+% .* angle L3 [0-9.]+deg/m);
  t.notRegex(r.stdout, /epoch 2\//);
  t.regex(r.stdout, /^test loss [0-9.]+ acc [0-9.]+% \(2000 examples\)$/m);
});

test('--model segregated trains online through the same command, its options from --config and flags', (t) => {
  const config = path.join(tmp, 'seg.json');
  fs.writeFileSync(config, JSON.stringify({ model: 'segregated', options: { layers: [100, 10], mode: 'nonspiking' } }));
  const r = run('--config', config, '--epochs', '1', '--learning-rates', '0.2,0.2', '--json');
  t.is(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    model: { kind: string }; test: { accuracy: number }; spec: { options: Record<string, unknown> };
  };
  t.is(result.model.kind, 'segregated');
  t.like(result.spec.options, { mode: 'nonspiking', layers: [100, 10], learningRates: [0.2, 0.2], batchSize: 1, forwardPhase: 2 });
  t.true(result.test.accuracy > 0.7, `test accuracy ${result.test.accuracy}`);
});

test('--save writes the final weights: they load back into the model and score the recorded test accuracy', async (t) => {
  const save = path.join(tmp, 'mlp.safetensors');
  const out = path.join(tmp, 'saved.json');
  const r = run('--model', 'mlp', '--layers', '32,10', '--epochs', '1', '--seed', '5', '--save', save, '--out', out);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^weights written to .*mlp\.safetensors \(\d+ bytes, sha256 [0-9a-f]{16}…\)$/m);
  const result = JSON.parse(fs.readFileSync(out, 'utf8')) as ExperimentResult & { weights: { path: string; sha256: string; bytes: number } };
  const bytes = fs.readFileSync(save);
  t.like(result.weights, { path: save, bytes: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') });
  const model = await loadTrainedModel(result, save);
  try {
    const again = await model.evaluate((await loadDataset('mnist-10k')).test);
    t.is(again.accuracy, result.test!.accuracy);
  } finally {
    model.dispose?.();
  }
  // A weights file has no loop state: --resume from it is refused.
  const resume = run('--model', 'mlp', '--layers', '32,10', '--epochs', '2', '--seed', '5', '--checkpoint', save, '--resume');
  t.is(resume.status, 1);
  t.regex(resume.stderr, /not a dendrite-bench training checkpoint \(a weights file has no loop state\)/);
});

test('usage errors exit with status 2, failures with 1, each with a message', (t) => {
  for (const [args, status, message] of [
    [['--model', 'rnn'], 2, /model must be one of segregated, mlp, fa, dfa, cnn/],
    [['--model', 'cnn', '--channels', '8,8,8'], 2, /block 3: conv output height 7 is odd/],
    [['--layers', '100,3'], 2, /ends with 3 outputs; the dataset has 10 classes/],
    [['--config', path.join(tmp, 'missing.json')], 2, /cannot read --config/],
    [['--model', 'segregated', '--layers', '100,15'], 2, /ends with 15 outputs, not a multiple of the 10 classes/],
    [['--model', 'mlp', '--conductances'], 2, /--conductances does not apply to --model mlp \(it is an option of segregated\)/],
    [['--model', 'segregated', '--momentum', '0.5'], 2, /--momentum does not apply to --model segregated/],
    [['--no-such-flag'], 2, /unknown option '--no-such-flag'/],
    [['segregated'], 2, /too many arguments/],
    [['--out', tmp], 2, /is a directory/],
    [['--out', path.join(tmp, 'same'), '--checkpoint', path.join(tmp, 'same')], 2, /--out is the same file as --checkpoint: one would overwrite the other/],
    [['--checkpoint', path.join(tmp, 'same'), '--save', path.join(tmp, 'same')], 2, /--checkpoint is the same file as --save/],
  ] as const) {
    const r = run(...args, '--epochs', '1');
    t.is(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
  }
});

test('--resume refuses a checkpoint of other data; --resume-other-data continues it, with a warning naming what differs', (t) => {
  const ck = path.join(tmp, 'other-data.ckpt');
  const common = ['--model', 'mlp', '--layers', '32,10', '--checkpoint', ck, '--no-test', '--threads', '1'];
  t.is(run(...common, '--epochs', '1', '--validation', '0.1').status, 0);
  const refused = run(...common, '--epochs', '2', '--validation', '0.2', '--resume');
  t.is(refused.status, 1, refused.stderr);
  t.regex(refused.stderr, /written for 7200 training examples, this run has 6400 \(resumeOtherData, --resume-other-data, continues all the same\)/);
  const out = path.join(tmp, 'other-data.json');
  const r = run(...common, '--epochs', '2', '--validation', '0.2', '--resume', '--resume-other-data', '--out', out);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^warning: resuming .*other-data\.ckpt, written for other data: training examples 7200 \(this run: 6400\); data mnist-10k sha256 [0-9a-f]+, validation 0\.1, seed 0 \(this run: mnist-10k sha256 [0-9a-f]+, validation 0\.2, seed 0\)$/m);
  t.regex(r.stdout, /^epoch 2\/2 /m);
  const written = JSON.parse(fs.readFileSync(out, 'utf8')) as { resumed: { epoch: number; otherData: Array<{ what: string }> }; spec: { resumeOtherData: boolean } };
  t.deepEqual(written.resumed.otherData.map((d) => d.what), ['training examples', 'data']);
  t.true(written.spec.resumeOtherData);
  const help = spawnSync(process.execPath, [cli, 'train', '--help'], { encoding: 'utf8' });
  t.regex(help.stdout.replace(/\s+/g, ' '), /--resume-other-data with --resume: continue a checkpoint written for other data/);
});

test('--device cuda reaches the segregated network: it runs there or fails saying why CUDA cannot be used', (t) => {
  const r = run('--model', 'segregated', '--layers', '20,10', '--mode', 'nonspiking', '--device', 'cuda', '--epochs', '1', '--validation', '0');
  const info = spawnSync(process.execPath, [cli, 'devices', '--json'], { encoding: 'utf8' });
  const cuda = (JSON.parse(info.stdout) as { cuda: { available: boolean; reason?: string } }).cuda;
  if (cuda.available) {
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /^device: cuda:0$/m);
  } else {
    t.is(r.status, 1);
    t.true(r.stderr.includes(cuda.reason!), r.stderr);
    t.notRegex(r.stderr, /CPU only/);
  }
});

test('SIGINT or SIGTERM stops at the next chunk with exit code 130, keeps the checkpoint, and --resume continues there', async (t) => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const ck = path.join(tmp, `stop-${signal}.ckpt`);
    const args = [cli, 'train', '--model', 'mlp', '--layers', '64,10', '--epochs', '50', '--chunk-size', '500', '--checkpoint', ck, '--json', '--threads', '1'];
    const { status, stderr } = await runAndStop(args, signal, (so) => so.includes('"type":"epoch"'));
    t.is(status, 130, `${signal}: ${stderr}`);
    t.regex(stderr, /run the same command with --resume to continue/);
    t.true(fs.existsSync(ck));
    const again = run(...args.slice(2), '--resume', '--epochs', '2');
    t.is(again.status, 0, again.stderr);
    const start = JSON.parse(again.stdout.split('\n')[1]) as { type: string; resumed: { epoch: number } | null };
    t.is(start.type, 'start');
    t.true(start.resumed !== null && start.resumed.epoch >= 1, JSON.stringify(start));
  }
});
