// The global options where a command gives them its own meaning: train --quiet (the result only)
// and --seeds (a usage error that points to run --seeds), study run --quiet (no line per trial) and
// --out (the study's report once it is done), report --json and --quiet, on real mnist-10k.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

const cli = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-global-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], cwd = tmp) {
  return spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 300000 });
}

test('train --quiet prints the test score and the summary only; train --seeds is a usage error that points to run --seeds', (t) => {
  const args = ['train', '--model', 'mlp', '--layers', '32,10', '--epochs', '2', '--device', 'cpu', '--threads', '1'];
  const loud = run(args);
  t.is(loud.status, 0, loud.stderr);
  t.regex(loud.stdout, /^epoch 2\/2 /m);
  const quiet = run([...args, '--quiet']);
  t.is(quiet.status, 0, quiet.stderr);
  const lines = quiet.stdout.trim().split('\n');
  t.is(lines.length, 2, quiet.stdout);
  t.regex(lines[0], /^test loss [0-9.]+ acc [0-9.]+% \(2000 examples\)$/);
  t.regex(lines[1], /^trained 14400 examples in /);
  t.true(loud.stdout.includes(lines[0]), 'the same test score as without --quiet');
  t.is(quiet.stderr, '');
  // --json prints its events all the same.
  const json = run([...args, '--quiet', '--json', '--epochs', '1']);
  t.is(json.status, 0, json.stderr);
  t.true(json.stdout.trim().split('\n').some((l) => (JSON.parse(l) as { type: string }).type === 'epoch'));

  const seeds = run([...args, '--seeds', '1,2']);
  t.is(seeds.status, 2, seeds.stderr);
  t.regex(seeds.stderr, /train: option --seeds is not one of train, which trains one model with one seed \(--seed N\); dendrite-bench run --seeds 1,2,3 runs each experiment of a preset once per seed/);
});

test('study run --quiet prints no line per trial; --out writes the report when the study is done and refuses a run\'s results folder; report --json, --quiet', (t) => {
  const cwd = fs.mkdtempSync(path.join(tmp, 'study-'));
  const args = ['study', 'run', '--model', 'mlp', '--trials', '2', '--folds', '2', '--epochs', '1', '--study', 'q', '--storage', 'q.sqlite', '--no-final'];
  // A folder with a run's results (its plan) is refused before anything runs.
  const taken = path.join(cwd, 'taken');
  fs.mkdirSync(taken);
  fs.writeFileSync(path.join(taken, 'results.json'), JSON.stringify({ format: 'dendrite-bench/results@1', createdAt: new Date().toISOString(),
    plan: { preset: 'quick', runs: [] }, runs: [] }));
  const refused = run([...args, '--out', 'taken'], cwd);
  t.is(refused.status, 2, refused.stderr);
  t.regex(refused.stderr, /study: option --out cannot be written: report: .*results\.json holds the results of dendrite-bench run/);
  t.false(fs.existsSync(path.join(cwd, 'q.sqlite')), 'no study was created');

  const r = run([...args, '--quiet', '--out', 'report'], cwd);
  t.is(r.status, 0, r.stderr);
  t.notRegex(r.stdout, /^(trial|study) /m, 'no progress lines');
  t.regex(r.stdout, /^done: 2\/2 trials, best [0-9.]+ \(trial [01]\)$/m);
  t.regex(r.stdout, /^report: report\/report\.html \(2 trials\)$/m);
  const html = fs.readFileSync(path.join(cwd, 'report', 'report.html'), 'utf8');
  t.regex(html, /<svg/);
  const results = JSON.parse(fs.readFileSync(path.join(cwd, 'report', 'results.json'), 'utf8')) as { extras: { trials: unknown[] } };
  t.is(results.extras.trials.length, 2);

  const json = run(['report', 'again', '--study', 'q', '--storage', 'q.sqlite', '--no-png', '--json'], cwd);
  t.is(json.status, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), { report: path.join('again', 'report.html'), trials: 2 });
  const quiet = run(['report', 'again', '--no-png', '--quiet'], cwd);
  t.is(quiet.status, 0, quiet.stderr);
  t.is(quiet.stdout, '');
});
