// Studies as processes, on real mnist-10k trials: kill -9 of a worker mid-trial, of the main
// process (the real study: MLP, 8 trials x 2 folds x 1 epoch, 2 workers, killed after its 3rd
// finished trial and resumed), of the whole process group, Ctrl-C; two worker processes on one
// SQLite file; usage errors; Lange's log imported, continued and exported through the CLI.
// Each ends with exactly the budget of finished trials, none lost or run twice.
import { spawn, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { SqliteStorage } from '../src/study/sqlite';
import { countsTowardBudget, finishedCount } from '../src/study/storage';
import { pidAlive } from '../src/study/worker';
import type { StudyConfig, StudyTrial } from '../src/study/types';
import { underSanitizer } from './helpers/sanitizer';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const WORKER = path.join(__dirname, '..', 'src', 'study', 'worker-main.js');
const FIXTURE = path.join(__dirname, '..', '..', 'test', 'fixtures', 'lange-bo-logs-dnn-mnist.json');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'study-crash-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Under the sanitizer suite a trial takes minutes, far past these tests' waits for worker processes;
// they test process orchestration, and the native code they would run is covered by the other test
// files there.
const timed = underSanitizer ? test.serial.skip : test.serial;

/** Trials of a few seconds (two 512-wide layers, 4 epochs per fold), to be killed in the middle. */
const SLOW_SPACE = { params: { lr: { type: 'float', low: 5e-4, high: 5e-3, log: true }, batchSize: { type: 'int', low: 32, high: 128 } },
  fixed: { layers: [512, 512, 10] } };

interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
}

function cli(args: string[], cwd: string, detached = false, env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, detached, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

async function waitFor<T>(what: string, f: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

function dir(name: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'slow.json'), JSON.stringify(SLOW_SPACE));
  return d;
}

async function trialsOf(file: string, name: string): Promise<StudyTrial[]> {
  const s = new SqliteStorage(file, { mustExist: true });
  try {
    return (await s.loadStudy(name)) ? await s.listTrials(name) : []; // the study may be about to be created
  } finally {
    await s.close();
  }
}

/** Has been training for a while and has not finished a fold: surely in the middle. */
const midTrial = (trials: StudyTrial[]): StudyTrial | undefined =>
  trials.find((t) => t.state === 'running' && t.intermediate.length === 0 && Date.now() - Date.parse(t.startedAt!) > 700);

/** Exactly `budget` counted finished trials, none running, no parameter set finished twice. */
function checkBudget(t: import('ava').ExecutionContext, trials: StudyTrial[], budget: number): void {
  t.is(finishedCount(trials), budget);
  t.is(trials.filter(countsTowardBudget).length, budget);
  t.false(trials.some((x) => x.state === 'running' || x.state === 'waiting'));
  const counted = trials.filter((x) => countsTowardBudget(x));
  t.is(new Set(counted.map((x) => JSON.stringify(x.params))).size, counted.length, 'a configuration ran twice');
}

timed('kill -9 of a worker mid-trial: its trial fails, runs again as the next attempt, the study ends at its budget', async (t) => {
  const cwd = dir('worker');
  const file = path.join(cwd, 's.sqlite');
  const run = cli(['study', 'run', '--model', 'mlp', '--trials', '4', '--folds', '2', '--epochs', '4', '--workers', '2', '--space', 'slow.json',
    '--study', 'w', '--storage', file], cwd);
  const victim = await waitFor('a trial in the middle', async () => fs.existsSync(file) && midTrial(await trialsOf(file, 'w')));
  const s = new SqliteStorage(file, { mustExist: true });
  const worker = (await s.listWorkers('w')).find((w) => w.id === victim.workerId)!;
  await s.close();
  process.kill(worker.pid, 'SIGKILL');
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, new RegExp(`worker ${worker.pid} died \\(SIGKILL\\); its trial runs again as trial \\d+`));
  const trials = await trialsOf(file, 'w');
  checkBudget(t, trials, 4);
  const killed = trials.find((x) => x.number === victim.number)!;
  t.like(killed, { state: 'failed', requeued: true });
  t.regex(killed.error!, new RegExp(`worker ${worker.id} \\(pid ${worker.pid} on .*\\) died`));
  const rerun = trials.find((x) => x.retryOf === victim.number)!;
  t.like(rerun, { state: 'complete', attempt: 2, params: victim.params });
  t.is(trials.filter((x) => x.state === 'complete').length, 4);
  t.regex(r.stdout, /retrained on the whole training split: CV 0\.\d+, test 0\.\d+/);
});

timed('the real study: MLP on mnist-10k, 8 trials x 2 folds x 1 epoch, 2 workers, main killed -9 after 3 trials, resumed to exactly 8 and tested', async (t) => {
  const cwd = dir('main');
  const file = path.join(cwd, 'dendrite-studies', 'mlp-mnist-10k-default', 'study.sqlite');
  const args = ['study', 'run', '--model', 'mlp', '--dataset', 'mnist-10k', '--trials', '8', '--folds', '2', '--epochs', '1', '--workers', '2', '--seed', '1'];
  const first = cli(args, cwd);
  await waitFor('3 finished trials', async () => fs.existsSync(file) && finishedCount(await trialsOf(file, 'mlp-mnist-10k-default')) >= 3, 90_000);
  first.child.kill('SIGKILL');
  await first.done;
  // Its workers notice the parent is gone, queue their running trials again and leave.
  const s = new SqliteStorage(file, { mustExist: true });
  await waitFor('the orphaned workers to stop', async () => (await s.listWorkers('mlp-mnist-10k-default')).every((w) => w.state !== 'alive'), 20_000);
  await s.close();
  const before = (await trialsOf(file, 'mlp-mnist-10k-default')).filter((x) => x.state !== 'running' && x.state !== 'waiting');
  t.true(finishedCount(before) >= 3 && finishedCount(before) < 8, `${finishedCount(before)} finished before the kill`);
  for (const x of before.filter((y) => y.state === 'failed')) t.regex(x.error!, /interrupted \(the study process went away\)/);

  const second = cli(['study', 'run', '--model', 'mlp', '--trials', '8', '--workers', '2'], cwd);
  const r = await second.done;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`resuming at ${finishedCount(before)}/8`));
  t.is(r.stdout.split('\n').filter((l) => /^trial \d+ /.test(l)).length, 8 - finishedCount(before));
  const after = await trialsOf(file, 'mlp-mnist-10k-default');
  checkBudget(t, after, 8);
  for (const b of before) t.deepEqual(after.find((x) => x.number === b.number), b, `trial ${b.number} changed`);
  const s2 = new SqliteStorage(file, { mustExist: true });
  const study = (await s2.loadStudy('mlp-mnist-10k-default'))!;
  await s2.close();
  const best = after.filter((x) => x.state === 'complete').sort((a, b) => b.value! - a.value!)[0];
  t.like(study.final, { trial: best.number, cvValue: best.value });
  t.true(study.final!.testAccuracy > 0.8, String(study.final!.testAccuracy));
  t.true(best.value! > 0.8);
});

timed('kill -9 of the main process and its workers at once: the resume finds the dead workers by pid and re-runs their trial', async (t) => {
  const cwd = dir('group');
  const file = path.join(cwd, 's.sqlite');
  const args = ['study', 'run', '--model', 'mlp', '--trials', '2', '--folds', '2', '--epochs', '4', '--space', 'slow.json', '--study', 'g', '--storage', file, '--no-final'];
  const first = cli(args, cwd, true);
  const victim = await waitFor('a trial in the middle', async () => fs.existsSync(file) && midTrial(await trialsOf(file, 'g')));
  const s = new SqliteStorage(file, { mustExist: true });
  const pids = (await s.listWorkers('g')).map((w) => w.pid);
  await s.close();
  process.kill(-first.child.pid!, 'SIGKILL');
  await first.done;
  await waitFor('the workers to die', async () => pids.every((p) => !pidAlive(p)), 10_000);
  t.is((await trialsOf(file, 'g')).find((x) => x.number === victim.number)?.state, 'running', 'nobody could record anything');
  const r = await cli(args, cwd).done;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /1 trial\(s\) of dead workers queued again/);
  const trials = await trialsOf(file, 'g');
  checkBudget(t, trials, 2);
  t.like(trials.find((x) => x.number === victim.number), { state: 'failed', requeued: true });
  t.like(trials.find((x) => x.retryOf === victim.number), { state: 'complete', attempt: 2, params: victim.params });
});

timed('Ctrl-C stops cleanly: exit 130, the running trial queued again, the resume command printed; running again finishes it', async (t) => {
  const cwd = dir('sigint');
  const file = path.join(cwd, 's.sqlite');
  const args = ['study', 'run', '--model', 'mlp', '--trials', '2', '--folds', '2', '--epochs', '4', '--space', 'slow.json', '--study', 'c', '--storage', file, '--no-final'];
  const first = cli(args, cwd);
  const victim = await waitFor('a trial in the middle', async () => fs.existsSync(file) && midTrial(await trialsOf(file, 'c')));
  first.child.kill('SIGINT');
  const r1 = await first.done;
  t.is(r1.code, 130, r1.stderr);
  t.regex(r1.stderr, new RegExp(`Resume with: dendrite-bench study run --study c --storage ${file.replace(/[.]/g, '\\.')}`));
  const mid = await trialsOf(file, 'c');
  t.like(mid.find((x) => x.number === victim.number), { state: 'failed', requeued: true });
  t.regex(mid.find((x) => x.number === victim.number)!.error!, /interrupted \(stopped by SIGTERM\)/);
  t.is(mid.filter((x) => x.state === 'waiting').length, 1);
  const r2 = await cli(['study', 'run', '--study', 'c', '--storage', file, '--resume', '--no-final'], cwd).done;
  t.is(r2.code, 0, r2.stderr);
  checkBudget(t, await trialsOf(file, 'c'), 2);
});

/**
 * NODE_OPTIONS that make the first `count` study worker processes (those with DENDRITE_STUDY_WORKER
 * set; never the study process) exit cleanly at start-up, before they open the study: the way the
 * Fashion-MNIST study lost its second worker (docs/bo.md "Studies run here").
 */
function exitAtStartup(cwd: string, count: number): Record<string, string> {
  const script = path.join(cwd, 'exit-at-startup.js');
  fs.writeFileSync(script, `if (process.env.DENDRITE_STUDY_WORKER) {
  const fs = require('node:fs');
  for (let i = 0; i < ${count}; i++) {
    try { fs.closeSync(fs.openSync(${JSON.stringify(cwd)} + '/exited-' + i, 'wx')); process.exit(0); } catch (e) { if (e.code !== 'EEXIST') throw e; }
  }
}
`);
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${script}`.trim() };
}

timed('a worker that exits cleanly at start-up while trials remain is replaced; the study ends at its budget', async (t) => {
  const cwd = dir('left');
  const file = path.join(cwd, 's.sqlite');
  const r = await cli(['study', 'run', '--model', 'mlp', '--trials', '3', '--folds', '2', '--epochs', '1', '--workers', '2', '--space', 'slow.json',
    '--study', 'l', '--storage', file, '--no-final', '--seed', '4', '--split-seed', '7'], cwd, false, exitAtStartup(cwd, 1)).done;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /worker \d+ left \(exit 0\) while trials remain; another takes its place/);
  t.true(fs.existsSync(path.join(cwd, 'exited-0')));
  checkBudget(t, await trialsOf(file, 'l'), 3);
  const s = new SqliteStorage(file, { mustExist: true });
  t.is((await s.listWorkers('l')).length, 2, 'the worker that left never registered; its replacement did');
  await s.close();
  // The split seed is the study's: shown, and not to be changed by a later run.
  const status = await cli(['study', 'status', '--storage', file], cwd).done;
  t.regex(status.stdout, /2 folds \(split seed 7\) x 1 epochs, seed 4/);
  const other = await cli(['study', 'run', '--model', 'mlp', '--study', 'l', '--storage', file, '--split-seed', '8'], cwd).done;
  t.is(other.code, 2);
  t.regex(other.stderr, /exists with other settings: split seed is 7, not 8/);
});

timed('workers that keep exiting before they take a trial are replaced three times in a row, then the study stops and says why', async (t) => {
  const cwd = dir('startup');
  const file = path.join(cwd, 's.sqlite');
  const r = await cli(['study', 'run', '--model', 'mlp', '--trials', '2', '--folds', '2', '--epochs', '1', '--workers', '2', '--space', 'slow.json',
    '--study', 'u', '--storage', file, '--no-final'], cwd, false, exitAtStartup(cwd, 100)).done;
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /no more workers are started: 3 worker processes in a row exited without taking a trial \(the last: exit 0\)/);
  t.regex(r.stderr, /study "u" stopped at 0 of 2 trials: 3 worker processes in a row exited without taking a trial/);
  // Two at first, two replacements, the second of which was the third failure in a row: four in all.
  t.is(fs.readdirSync(cwd).filter((f) => f.startsWith('exited-')).length, 4);
  t.deepEqual(await trialsOf(file, 'u'), []);
});

timed('an environment error (the addon missing) stops the workers without touching the budget; fixed, the study runs to it', async (t) => {
  const cwd = dir('env');
  const file = path.join(cwd, 's.sqlite');
  const args = ['study', 'run', '--model', 'mlp', '--trials', '2', '--folds', '2', '--epochs', '1', '--workers', '2', '--space', 'slow.json',
    '--study', 'v', '--storage', file, '--no-final'];
  const broken = await cli(args, cwd, false, { DENDRITE_ADDON: path.join(cwd, 'no-such-addon.node') }).done;
  t.is(broken.code, 1, broken.stderr);
  t.regex(broken.stderr, /worker \d+ stopped for an error of this machine \(environment error: dendrite-bench: the native addon could not be loaded/);
  t.regex(broken.stderr, /study "v" stopped at 0 of 2 trials: worker \d+ stopped for an error of this machine: environment error: .*native addon/);
  const before = await trialsOf(file, 'v');
  t.is(finishedCount(before), 0);
  t.true(before.length >= 2, 'each worker took a trial');
  t.true(before.filter((x) => x.state === 'failed').every((x) => x.requeued && /^environment error: /.test(x.error!)));
  // Each failure was re-queued (a released trial may have failed again on the other worker): only waiting re-runs hold places.
  t.true(before.filter(countsTowardBudget).every((x) => x.state === 'waiting'));
  const fixed = await cli(args, cwd).done;
  t.is(fixed.code, 0, fixed.stderr);
  const after = await trialsOf(file, 'v');
  checkBudget(t, after, 2);
  t.true(after.filter((x) => x.state === 'complete').every((x) => x.attempt === 1), 'a released trial keeps its attempt');
});

test.serial('two worker processes on one SQLite study at once: every trial once, none lost', async (t) => {
  const file = path.join(tmp, 'two', 's.sqlite');
  const config: StudyConfig = {
    objective: { model: 'mlp', fixed: { layers: [32, 10] }, dataset: 'mnist-10k', folds: 2, epochs: 1 },
    space: { lr: { type: 'float', low: 1e-4, high: 0.1, log: true }, batchSize: { type: 'int', low: 16, high: 256, log: true } },
    spaceName: 'test', direction: 'maximize', strategy: 'bayes', trials: 8, seed: 4, prune: false,
  };
  const s = new SqliteStorage(file);
  await s.createStudy('two', config);
  await s.close();
  const env = { ...process.env, DENDRITE_STUDY_WORKER: JSON.stringify({ storage: file, study: 'two', device: 'cpu', threads: 1 }) };
  const codes = await Promise.all([0, 1].map(() => new Promise<number | null>((resolve) => {
    fork(WORKER, [], { env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }).on('exit', (code) => resolve(code));
  })));
  t.deepEqual(codes, [0, 0]);
  const trials = await trialsOf(file, 'two');
  checkBudget(t, trials, 8);
  t.deepEqual(trials.map((x) => x.number), [0, 1, 2, 3, 4, 5, 6, 7]);
  t.true(trials.every((x) => x.state === 'complete' && x.intermediate.length === 2));
  t.is(new Set(trials.map((x) => x.workerId)).size, 2, 'both workers ran trials');
});

test.serial('usage errors exit 2 and name what is wrong; a corrupt study file is named', async (t) => {
  const cwd = dir('errors');
  fs.writeFileSync(path.join(cwd, 'bad.json'), JSON.stringify({ params: { lrr: { type: 'float', low: 0.001, high: 0.1 } } }));
  const bad = await cli(['study', 'run', '--model', 'mlp', '--trials', '2', '--space', 'bad.json'], cwd).done;
  t.is(bad.code, 2);
  t.regex(bad.stderr, /space file bad\.json: unknown parameter "lrr" for model mlp \(did you mean "lr"\?\)/);
  const zero = await cli(['study', 'run', '--model', 'mlp', '--trials', '0'], cwd).done;
  t.is(zero.code, 2);
  t.regex(zero.stderr, /--trials must be an integer >= 1/);
  fs.writeFileSync(path.join(cwd, 'junk.sqlite'), 'not a database at all; '.repeat(200));
  const junk = await cli(['study', 'status', '--storage', 'junk.sqlite'], cwd).done;
  t.is(junk.code, 1);
  t.regex(junk.stderr, /junk\.sqlite is not a readable dendrite-bench study database/);
  const ok = await cli(['study', 'run', '--model', 'mlp', '--trials', '1', '--folds', '2', '--epochs', '1', '--study', 'e', '--storage', 's.sqlite', '--no-final'], cwd).done;
  t.is(ok.code, 0, ok.stderr);
  const other = await cli(['study', 'run', '--model', 'mlp', '--trials', '1', '--folds', '3', '--study', 'e', '--storage', 's.sqlite'], cwd).done;
  t.is(other.code, 2);
  t.regex(other.stderr, /exists with other settings: folds is 2, not 3/);
  const missing = await cli(['study', 'run', '--study', 'nothere', '--resume'], cwd).done;
  t.is(missing.code, 2);
  t.regex(missing.stderr, /no study file dendrite-studies\/nothere\/study\.sqlite/);
});

timed('Lange\'s log through the CLI: imported, exported back byte for byte, continued by one real trial; JSON export and import', async (t) => {
  const cwd = dir('lange');
  const imp = await cli(['study', 'import', '--format', 'lange', FIXTURE, '--model', 'mlp', '--folds', '2', '--epochs', '1', '--study', 'lg', '--storage', 'l.sqlite'], cwd).done;
  t.is(imp.code, 0, imp.stderr);
  t.regex(imp.stdout, /imported 3 trial\(s\) into study lg/);
  const fixture = fs.readFileSync(FIXTURE, 'utf8');
  const out = await cli(['study', 'export', '--format', 'lange', '--storage', 'l.sqlite'], cwd).done;
  t.is(out.stdout, fixture);
  const best = await cli(['study', 'best', '--storage', 'l.sqlite', '--json'], cwd).done;
  t.like(JSON.parse(best.stdout), { trial: 1, cvValue: 0.9682285714285714, params: { num_layers: 4, batch_size: 190 } });
  const more = await cli(['study', 'run', '--study', 'lg', '--storage', 'l.sqlite', '--trials', '4', '--no-final'], cwd).done;
  t.is(more.code, 0, more.stderr);
  t.regex(more.stdout, /resuming at 3\/4/);
  const lines = (await cli(['study', 'export', '--format', 'lange', '--storage', 'l.sqlite'], cwd).done).stdout.trimEnd().split('\n');
  t.is(lines.length, 4);
  t.deepEqual(lines.slice(0, 3), fixture.trimEnd().split('\n'));
  const line = JSON.parse(lines[3]) as { target: number; params: Record<string, number> };
  t.deepEqual(Object.keys(line.params), ['batch_size', 'h_l_1', 'h_l_2', 'h_l_3', 'h_l_4', 'h_l_5', 'h_l_6', 'learning_rate', 'num_layers']);
  t.true(line.target > 0 && line.target <= 1);

  const json = await cli(['study', 'export', '--storage', 'l.sqlite', '--out', 'lg.json'], cwd).done;
  t.is(json.code, 0, json.stderr);
  const back = await cli(['study', 'import', 'lg.json', '--study', 'copy', '--storage', 'copy.sqlite'], cwd).done;
  t.is(back.code, 0, back.stderr);
  const a = await trialsOf(path.join(cwd, 'l.sqlite'), 'lg');
  const b = await trialsOf(path.join(cwd, 'copy.sqlite'), 'copy');
  const strip = (x: StudyTrial): unknown => ({ ...x, workerId: undefined, attempt: undefined, createdAt: undefined, device: undefined });
  t.deepEqual(b.map(strip), a.map(strip));
  const csv = (await cli(['study', 'export', '--format', 'csv', '--storage', 'l.sqlite'], cwd).done).stdout.trimEnd().split('\n');
  t.is(csv.length, 5);
  t.regex(csv[0], /^number,state,value,param_batch_size,/);
});
