// optimize() with a study storage: the same suggestions as in memory, resumed after an abort and
// after kill -9 of the process mid-trial (no finished trial lost or run twice, the budget exact,
// the suggestions those of an uninterrupted run), two connections sharing one SQLite study,
// constraints and infeasible trials, settings checked on resume, and the CLI reading such a study.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { branin } from '../src/bo/benchmarks';
import { InfeasibleError, type Trial } from '../src/bo/optimize';
import { MemoryStorage } from '../src/study/memory';
import { optimize, type OptimizeOptions } from '../src/study/optimize';
import { SqliteStorage } from '../src/study/sqlite';
import { isStudyError } from '../src/study/storage';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'optimize-study-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
const CHILD = path.join(__dirname, 'helpers', 'optimize-child.js');
const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');

// The child's settings (test/helpers/optimize-child.ts).
const base = { space: branin.space, direction: 'minimize', seed: 3, initialPoints: 4, objective: (p) => branin.f(p) } satisfies Partial<OptimizeOptions>;
const paramsOf = (trials: readonly Trial[]) => trials.map((t) => t.params);

test('with a storage: the suggestions of the in-memory run, every trial stored as it finishes', async (t) => {
  const memory = await optimize({ ...base, trials: 8 });
  const storage = new MemoryStorage();
  const seen: number[] = [];
  const stored = await optimize({ ...base, trials: 8, storage, study: 'b', onTrial: (tr) => seen.push(tr.number) });
  t.deepEqual(paramsOf(stored.trials), paramsOf(memory.trials));
  t.deepEqual(stored.trials.map((x) => x.value), memory.trials.map((x) => x.value));
  t.is(stored.bestValue, memory.bestValue);
  t.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7]);
  const rows = await storage.listTrials('b');
  t.is(rows.length, 8);
  t.true(rows.every((r) => r.state === 'complete' && r.seconds !== undefined && r.finishedAt !== undefined));
  const record = (await storage.loadStudy('b'))!;
  t.deepEqual(record.config.objective, { kind: 'function' });
  t.deepEqual(record.config.optimizer, { initialPoints: 4 });
  // The budget is the study's total: a second call with it runs nothing; a larger one the rest.
  t.is((await optimize({ ...base, trials: 8, storage, study: 'b', objective: () => t.fail('nothing left to run') as never })).trials.length, 8);
  const more = await optimize({ ...base, trials: 10, storage, study: 'b' });
  t.deepEqual(paramsOf(more.trials), paramsOf((await optimize({ ...base, trials: 10 })).trials));
});

test('stopped by its signal, a study resumes where it stopped: the interrupted trial runs again, the budget is exact', async (t) => {
  const file = path.join(tmp, 'abort', 'study.sqlite');
  const stop = new AbortController();
  const first = await optimize({
    ...base, trials: 8, storage: file, study: 's', signal: stop.signal,
    objective: async (p, { number, signal }) => {
      if (number === 5) {
        stop.abort(new Error('enough'));
        signal?.throwIfAborted();
      }
      return branin.f(p);
    },
  });
  t.deepEqual(first.trials.map((x) => x.number), [0, 1, 2, 3, 4]);
  const rest = await optimize({ ...base, trials: 8, storage: file, study: 's' });
  t.is(rest.trials.length, 8);
  t.deepEqual(paramsOf(rest.trials), paramsOf((await optimize({ ...base, trials: 8 })).trials));
  t.deepEqual(rest.trials.slice(0, 5), first.trials, 'the finished trials are kept as they were');
});

test('kill -9 of a process in the middle of a trial: the next call re-runs only that trial, and the study ends as an uninterrupted one', async (t) => {
  const file = path.join(tmp, 'kill', 'study.sqlite');
  const child = spawn(process.execPath, [CHILD], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, OPTIMIZE_CHILD: JSON.stringify({ storage: file, study: 'k', trials: 8, hangAt: 5 }) },
  });
  let out = '';
  await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('hanging')) resolve();
  }));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('exit', resolve));
  const before = new SqliteStorage(file, { mustExist: true });
  const rows = await before.listTrials('k');
  t.deepEqual(rows.map((r) => r.state), ['complete', 'complete', 'complete', 'complete', 'complete', 'running']);
  await before.close();

  const done = await optimize({ ...base, trials: 8, storage: file, study: 'k' });
  t.is(done.trials.length, 8);
  t.deepEqual(paramsOf(done.trials), paramsOf((await optimize({ ...base, trials: 8 })).trials));
  const after = new SqliteStorage(file, { mustExist: true });
  const all = await after.listTrials('k');
  await after.close();
  const killed = all.find((r) => r.number === 5)!;
  t.is(killed.state, 'failed');
  t.true(killed.requeued);
  const rerun = all.find((r) => r.retryOf === 5)!;
  t.is(rerun.state, 'complete');
  t.deepEqual(rerun.params, killed.params);
  t.is(all.filter((r) => r.state === 'complete').length, 8, 'no trial ran twice to completion');
});

test('two connections share one SQLite study: every trial once, the budget exact', async (t) => {
  const file = path.join(tmp, 'two', 'study.sqlite');
  const slow = async (p: Record<string, unknown>): Promise<number> => {
    await new Promise((r) => setTimeout(r, 5));
    return branin.f(p as never);
  };
  const [a, b] = await Promise.all([0, 1].map(async () => {
    const storage = new SqliteStorage(file);
    try {
      return await optimize({ ...base, trials: 12, storage, study: 'two', workers: 2, objective: slow });
    } finally {
      await storage.close();
    }
  }));
  t.is(a.trials.length, 12);
  t.deepEqual(a.trials, b.trials);
  t.deepEqual(a.trials.map((x) => x.number), [...Array(12).keys()]);
  t.is(new Set(a.trials.map((x) => JSON.stringify(x.params))).size, 12, 'pending trials are never proposed twice');
});

test('constraints and InfeasibleError make infeasible trials in a study too', async (t) => {
  const storage = new MemoryStorage();
  const r = await optimize({
    ...base, trials: 10, storage, study: 'c', constraint: (p) => (p.x1 as number) < 5 || 'x1 must be below 5',
    objective: (p) => {
      if ((p.x2 as number) > 12) throw new InfeasibleError('x2 too large');
      return branin.f(p);
    },
  });
  t.is(r.trials.length, 10);
  const infeasible = r.trials.filter((x) => x.state === 'infeasible');
  t.true(infeasible.length > 0);
  t.true(infeasible.every((x) => x.reason === 'x1 must be below 5' || x.reason === 'x2 too large'));
  t.true(r.trials.filter((x) => x.state === 'complete').every((x) => (x.params.x1 as number) < 5 && (x.params.x2 as number) <= 12));
});

test('bad uses: storage without a study and the reverse, history with a storage, other settings on resume, a model study', async (t) => {
  const storage = new MemoryStorage();
  await t.throwsAsync(optimize({ ...base, trials: 2, storage }), { instanceOf: TypeError, message: /storage and study go together.*study is missing/ });
  await t.throwsAsync(optimize({ ...base, trials: 2, study: 'x' }), { instanceOf: TypeError, message: /storage is missing/ });
  await t.throwsAsync(optimize({ ...base, trials: 2, storage, study: 'x', history: [] }), { instanceOf: TypeError, message: /history is for runs without a storage/ });
  await t.throwsAsync(optimize({ ...base, trials: 2, storage, study: 'no/slash' }), { message: /study names are/ });
  await t.throwsAsync(optimize({ ...base, trials: 0, storage, study: 'x' }), { message: /budget must be an integer >= 1/ });
  await optimize({ ...base, trials: 2, storage, study: 'x' });
  const other = await t.throwsAsync(optimize({ ...base, seed: 4, trials: 2, storage, study: 'x' }));
  t.true(isStudyError(other, 'ERR_STUDY_EXISTS'));
  t.regex(other!.message, /exists with other settings: seed is 3, not 4/);
  await t.throwsAsync(optimize({ ...base, initialPoints: 5, trials: 2, storage, study: 'x' }), { message: /optimizer settings is \{"initialPoints":4\}, not \{"initialPoints":5\}/ });
  await t.throwsAsync(optimize({ ...base, trials: 1, storage, study: 'x' }), { message: /budget/ }, 'below the trials that finished');
  await storage.createStudy('m', {
    objective: { model: 'mlp', fixed: {}, dataset: 'mnist-10k', folds: 2, epochs: 1 }, space: { ...branin.space.params }, spaceName: 'test',
    direction: 'minimize', strategy: 'bayes', trials: 2, seed: 3, prune: false, optimizer: { initialPoints: 4 },
  });
  await t.throwsAsync(optimize({ ...base, trials: 2, storage, study: 'm' }), { message: /objective is "model mlp", not "a function given to optimize\(\)"/ });
});

test('the CLI reads a function study (status, best, export, import) and refuses to run it', async (t) => {
  const file = path.join(tmp, 'cli', 'study.sqlite');
  await optimize({ ...base, trials: 5, storage: file, study: 'f' });
  const cli = (...args: string[]) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  const status = await cli('study', 'status', '--study', 'f', '--storage', file);
  t.is(status.status, 0, status.stderr);
  t.regex(status.stdout, /a function given to optimize\(\), minimized, 2 parameters, strategy bayes, seed 3/);
  t.regex(status.stdout, /5\/5 finished; 5 complete/);
  const json = JSON.parse((await cli('study', 'status', '--study', 'f', '--storage', file, '--json')).stdout);
  t.is(json.objective, 'function');
  t.is(json.model, null);
  const run = await cli('study', 'run', '--study', 'f', '--storage', file);
  t.not(run.status, 0);
  t.regex(run.stderr, /optimises a function given to optimize\(\) in code.*calling optimize\(\) again/);
  const lange = await cli('study', 'export', '--study', 'f', '--storage', file, '--format', 'lange');
  t.not(lange.status, 0);
  t.regex(lange.stderr, /optimises a function/);
  const exported = path.join(tmp, 'cli', 'f.json');
  t.is((await cli('study', 'export', '--study', 'f', '--storage', file, '--out', exported)).status, 0);
  const copy = path.join(tmp, 'cli', 'copy.sqlite');
  const imported = await cli('study', 'import', exported, '--study', 'g', '--storage', copy);
  t.is(imported.status, 0, imported.stderr);
  // The imported copy goes on through optimize as the original would.
  const onward = await optimize({ ...base, trials: 7, storage: copy, study: 'g' });
  t.deepEqual(paramsOf(onward.trials), paramsOf((await optimize({ ...base, trials: 7 })).trials));
});
