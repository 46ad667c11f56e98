// `dendrite-bench run` stopped by Ctrl-C and resumed, in child processes on real mnist-10k: the
// stop keeps the finished experiment and the interrupted one's checkpoint and prints the resume
// command; that command finishes the run, the finished result unchanged and the interrupted one
// equal to an uninterrupted run's; resuming with another plan or without a results folder is a
// usage error.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import type { LabelledResult, Results } from '../src/report/results';
import { runAndStop } from './helpers/stop-child';

const cli = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-resume-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Three quick experiments; the second has a curve point inside each epoch, so that the test can
// stop it in the middle of its second epoch (after its first has finished).
const preset = path.join(tmp, 'resume-preset.json');
fs.writeFileSync(preset, JSON.stringify({
  format: 'dendrite-bench/preset@1', name: 'resume-test', title: 'resume test', description: 'three small networks', seeds: [3],
  settings: { dataset: 'mnist-10k', epochs: 2 },
  experiments: [
    { label: 'mlp', model: 'mlp', options: { layers: [32, 10] } },
    { label: 'seg', model: 'segregated', options: { mode: 'nonspiking', layers: [300, 10] }, chunkSize: 500, logEvery: 1000 },
    { label: 'fa', model: 'fa', options: { layers: [32, 10] } },
  ],
}));
const flags = ['--preset', preset, '--device', 'cpu', '--threads', '1', '--no-report', '--json'];

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300000 });
}

function results(dir: string): Results {
  return JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as Results;
}

/** What training computed, without the times, which differ from run to run. */
function numbers(r: LabelledResult): unknown {
  return {
    spec: r.spec, dataset: r.dataset, test: r.test, final: r.final, curve: r.curve,
    epochs: r.epochs.map(({ trainSeconds: _s, examplesPerSecond: _e, ...rest }) => rest),
  };
}

test('Ctrl-C keeps the finished experiment and the checkpoint; the printed command resumes to the numbers of an uninterrupted run', async (t) => {
  // Stopped at the first curve point of the second experiment's second epoch: its first epoch has
  // finished. The rest of that epoch takes a few hundred ms; a test process starved of the CPU
  // (the other test files share the cores) may read the point too late and stop the run in the
  // next experiment (it did in CI), so such a stop is tried again, in a fresh folder, up to 3 times.
  let out = '';
  let stopping: Awaited<ReturnType<typeof runAndStop>> | undefined;
  let events: Array<Record<string, unknown>> = [];
  let stopped: { run: number; epoch: number; position: number } | undefined;
  for (let attempt = 1; attempt <= 3 && !(stopped?.run === 2 && stopped.epoch === 2); attempt++) {
    out = path.join(tmp, `stopped-${attempt}`);
    stopping = await runAndStop([cli, 'run', ...flags, '--out', out], 'SIGINT', (so) => /^\{"run":2,[^\n]*"type":"point","epoch":2,/m.test(so));
    events = stopping.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    stopped = events.find((e) => e.type === 'stopped') as typeof stopped;
    t.log(`attempt ${attempt}: stopped at ${JSON.stringify(stopped)}`);
  }
  const { status, stderr } = stopping!;
  t.is(status, 130, stderr);
  t.like(stopped, { run: 2, epoch: 2 });
  if (!stopped) return;
  t.true(stopped.position > 0, 'stopped inside the epoch');
  const checkpoint = path.join(out, 'checkpoints', 'seg-seed3.safetensors');
  t.true(fs.existsSync(checkpoint), 'the interrupted experiment\'s checkpoint is kept');
  t.false(fs.existsSync(path.join(out, 'checkpoints', 'mlp-seed3.safetensors')), 'the finished experiment\'s checkpoint is gone');
  t.true(fs.existsSync(path.join(out, 'weights', 'mlp-seed3.safetensors')));
  const command = (events.at(-1) as { type: string; command: string });
  t.is(command.type, 'resume');
  t.is(command.command, `dendrite-bench run --preset ${preset} --device cpu --threads 1 --no-report --json --resume --out ${out}`);
  t.true(stderr.includes(`training aborted in epoch 2 at example ${stopped.position} of 7200, in seg seed 3 (experiment 2 of 3); ` +
    `the finished experiment is kept in ${path.join(out, 'results.json')} and the checkpoint ${checkpoint} is kept: ` +
    `run the same command with --resume --out ${out} to continue: ${command.command}`), stderr);
  const before = results(out);
  t.deepEqual(before.runs.map((r) => r.label), ['mlp']);
  t.deepEqual(before.plan?.runs.map((r) => r.label), ['mlp', 'seg', 'fa']);
  const beforeBytes = fs.readFileSync(path.join(out, 'results.json'));

  // Usage errors leave the folder as it is: another plan; a fresh run into it.
  const other = run('run', ...flags, '--epochs', '1', '--resume', '--out', out);
  t.is(other.status, 2, other.stderr);
  t.regex(other.stderr, /--resume needs the stopped run's plan, and this one differs from the plan in .*results\.json: every experiment has epochs 1 \(the stopped run: 2\)/);
  const fewer = run('run', ...flags, '--only', 'mlp,seg', '--resume', '--out', out);
  t.is(fewer.status, 2, fewer.stderr);
  t.regex(fewer.stderr, /the experiments are mlp seed 3, seg seed 3; the stopped run's: mlp seed 3, seg seed 3, fa seed 3/);
  const afresh = run('run', ...flags, '--out', out);
  t.is(afresh.status, 2, afresh.stderr);
  t.regex(afresh.stderr, /holds the results of an earlier run \(results\.json\): --resume continues it/);
  t.deepEqual(fs.readFileSync(path.join(out, 'results.json')), beforeBytes);
  t.true(fs.existsSync(checkpoint));

  // The printed command (its words: no quoting was needed) finishes the run.
  const resumed = run(...command.command.split(' ').slice(1));
  t.is(resumed.status, 0, resumed.stderr);
  const lines = resumed.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.like(lines[0], { type: 'resuming', finished: 1, of: 3 });
  t.like(lines.find((e) => e.type === 'start'), { run: 2, resumed: { epoch: 1, position: stopped.position } });
  t.false(lines.some((e) => e.run === 1), 'the finished experiment does not run again');
  const after = results(out);
  t.deepEqual(after.runs.map((r) => r.label), ['mlp', 'seg', 'fa']);
  t.is(JSON.stringify(after.runs[0], null, 2), JSON.stringify(before.runs[0], null, 2), 'the finished result is kept byte for byte');
  t.false(fs.existsSync(path.join(out, 'checkpoints')), 'no checkpoint is left');
  for (const label of ['mlp', 'seg', 'fa']) t.true(fs.existsSync(path.join(out, 'weights', `${label}-seed3.safetensors`)), label);
  t.deepEqual(after.runs[1].resumed, { epoch: 1, position: stopped.position });
  t.is(after.runs[1].checkpoint, null, 'results.json names no deleted checkpoint');

  // The same plan, never stopped: every number the same (exact resume).
  const whole = path.join(tmp, 'whole');
  const straight = run('run', ...flags, '--out', whole);
  t.is(straight.status, 0, straight.stderr);
  const reference = results(whole);
  t.is(reference.runs[1].resumed, null);
  for (const i of [0, 1, 2]) t.deepEqual(numbers(after.runs[i]), numbers(reference.runs[i]), after.runs[i].label);
  t.true(after.runs[1].test!.accuracy > 0.8, `${after.runs[1].test!.accuracy}`);
});

test('--resume without --out, or without a results folder there, is a usage error', (t) => {
  const noOut = run('run', ...flags, '--resume');
  t.is(noOut.status, 2, noOut.stderr);
  t.regex(noOut.stderr, /option --resume needs --out DIR, the results folder of the stopped run/);
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  const none = run('run', ...flags, '--resume', '--out', empty);
  t.is(none.status, 2, none.stderr);
  t.regex(none.stderr, /option --resume needs the results folder of a stopped run: .*empty\/results\.json does not exist/);
  t.deepEqual(fs.readdirSync(empty), [], 'nothing was written');
  // A results folder without a plan (a study's report) is not a stopped run.
  fs.writeFileSync(path.join(empty, 'results.json'), JSON.stringify({ format: 'dendrite-bench/results@1', createdAt: new Date().toISOString(), runs: [] }));
  const planless = run('run', ...flags, '--resume', '--out', empty);
  t.is(planless.status, 2, planless.stderr);
  t.regex(planless.stderr, /records no plan/);
});
