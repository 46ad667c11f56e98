// `dendrite-bench train` end to end in a child process: text and NDJSON output, --config, errors.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

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
  t.is(lines[0].type, 'start');
  const result = lines[lines.length - 1];
  t.is(result.type, 'result');
  const test_ = result.test as { accuracy: number; loss: number; count: number };
  t.is(test_.count, 2000);
  t.true(test_.accuracy > 0.85 && test_.loss > 0);
  t.true((result.timing as { examplesPerSecond: number }).examplesPerSecond > 0);
  t.is(lines.filter((l) => l.type === 'epoch').length, 2);
  t.true(lines.filter((l) => l.type === 'point').length >= 4);
  t.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')).test, test_);
});

test('text output: a line per epoch and the test score; --config with command-line overrides', (t) => {
  const config = path.join(tmp, 'c.json');
  fs.writeFileSync(config, JSON.stringify({ model: 'dfa', layers: [48, 24, 10], epochs: 5, batchSize: 64 }));
  const r = run('--config', config, '--epochs', '1');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^dfa: 7200 training, 800 validation, 2000 test examples$/m);
  t.regex(r.stdout, /^epoch 1\/1 {2}train loss [0-9.]+ acc [0-9.]+% {2}val loss [0-9.]+ acc [0-9.]+% .* angle L3 [0-9.]+deg/m);
  t.notRegex(r.stdout, /epoch 2\//);
  t.regex(r.stdout, /^test loss [0-9.]+ acc [0-9.]+% \(2000 examples\)$/m);
});

test('--model segregated trains online through the same command (non-spiking preset from --config)', (t) => {
  const config = path.join(tmp, 'seg.json');
  fs.writeFileSync(config, JSON.stringify({ model: 'segregated', layers: [100, 10], segregated: { mode: 'nonspiking' } }));
  const r = run('--config', config, '--epochs', '1', '--json');
  t.is(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { model: { kind: string; update: string }; test: { accuracy: number } };
  t.is(result.model.kind, 'segregated');
  t.is(result.model.update, 'online');
  t.true(result.test.accuracy > 0.7, `test accuracy ${result.test.accuracy}`);
});

test('errors exit with status 1 and a message', (t) => {
  for (const [args, message] of [
    [['--model', 'rnn'], /model must be segregated, mlp, cnn, fa, dfa/],
    [['--model', 'cnn', '--channels', '8,8,8'], /block 3: conv output height 7 is odd/],
    [['--layers', '100,3'], /ends with 3 outputs, the dataset has 10 classes/],
    [['--config', path.join(tmp, 'missing.json')], /cannot read --config/],
    [['--model', 'segregated', '--device', 'cuda'], /the segregated network runs on the CPU only/],
    [['--model', 'segregated', '--layers', '100,15'], /ends with 15 outputs, not a multiple of the 10 classes/],
  ] as const) {
    const r = run(...args, '--epochs', '1');
    t.is(r.status, 1);
    t.regex(r.stderr, message);
  }
});
