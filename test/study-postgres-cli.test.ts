// `dendrite-bench study ... --storage postgresql://...` as users run it: two `study run` commands
// started at once on one study (two machines, two worker processes each, real mnist-10k trials)
// share it, every trial once; `study status` shows the workers with host, device, heartbeat and
// running trial; `study copy` moves a study between PostgreSQL and SQLite with its states,
// values, intermediate values and final result; bad storage values are usage errors that never
// print the password.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { studyRun } from '../src/cli/study';
import { PostgresStorage } from '../src/study/postgres';
import { SqliteStorage } from '../src/study/sqlite';
import { countsTowardBudget, finishedCount } from '../src/study/storage';
import type { StudyTrial } from '../src/study/types';
import { PG_URL, TestSchemas, pgTest, withSchema } from './helpers/postgres';
import { suiteConfig } from './helpers/study-storage-suite';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const schemas = new TestSchemas('cli');
test.after.always(() => schemas.dropAll());
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'study-pg-cli-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ptest = pgTest(test);

interface Done { code: number | null; stdout: string; stderr: string }

function cli(args: string[]): Promise<Done> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

async function withStore<T>(url: string, f: (s: PostgresStorage) => Promise<T>): Promise<T> {
  const s = await PostgresStorage.open(url, { onWarning: () => undefined });
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

ptest('two `study run` commands started at once on one PostgreSQL study share it: 10 real trials once, status shows the workers, one final result', async (t) => {
  const url = schemas.url();
  const run = ['study', 'run', '--storage', url, '--study', 'shared', '--model', 'mlp', '--trials', '10', '--folds', '2', '--epochs', '1',
    '--workers', '2', '--threads', '1'];
  const a = cli(run);
  const b = cli([...run, '--no-final']);
  // Mid-run: a worker line with its host, device, heartbeat and running trial.
  let seen = '';
  for (let i = 0; i < 400 && !/worker \d+ alive on .* \(pid \d+\), cpu x1 threads, heartbeat \d+s ago: trial \d+ \(running/.test(seen); i++) {
    const s = await cli(['study', 'status', '--storage', url, '--study', 'shared']);
    if (s.code === 0) seen = s.stdout;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.regex(seen, new RegExp(`worker \\d+ alive on ${os.hostname()} \\(pid \\d+\\), cpu x1 threads, heartbeat \\d+s ago: trial \\d+ \\(running`), seen);
  const [ra, rb] = await Promise.all([a, b]);
  t.is(ra.code, 0, ra.stderr);
  t.is(rb.code, 0, rb.stderr);
  t.regex(ra.stdout, /best configuration \(trial \d+\) retrained on the whole training split/);
  t.notRegex(rb.stdout, /retrained/);
  t.regex(rb.stdout, /done: 10\/10 trials/);

  const { trials, workers, final } = await withStore(url, async (s) => ({
    trials: await s.listTrials('shared'), workers: await s.listWorkers('shared'), final: (await s.loadStudy('shared'))?.final,
  }));
  t.is(finishedCount(trials), 10);
  t.is(trials.filter(countsTowardBudget).length, 10);
  t.is(new Set(trials.map((x) => JSON.stringify(x.params))).size, 10, 'a configuration ran twice');
  t.true(trials.every((x) => x.state === 'complete' && x.intermediate.length === 2));
  t.deepEqual(workers.map((w) => w.state), ['stopped', 'stopped', 'stopped', 'stopped']);
  t.truthy(final);

  const status = await cli(['study', 'status', '--storage', url, '--study', 'shared']);
  t.regex(status.stdout, /study shared \(postgresql:\/\/dendrite@.*\(schema t_cli_/);
  t.regex(status.stdout, /10\/10 finished; 10 complete/);
  t.regex(status.stdout, /workers: 0 alive, 4 in all/);
  t.regex(status.stdout, /best: trial \d+, CV 0\.\d{4}/);
  t.regex(status.stdout, /final: test 0\.\d{4}/);
  t.false(status.stdout.includes(`:${new URL(PG_URL!).password}@`), status.stdout);
  const json = JSON.parse((await cli(['study', 'status', '--storage', url, '--study', 'shared', '--json'])).stdout);
  t.deepEqual(Object.keys(json.workers[0]).sort(), ['device', 'heartbeatAt', 'host', 'id', 'pid', 'startedAt', 'state', 'threads']);
  t.deepEqual(json.running, []);
});

/** The fields a copy keeps, trial by trial. */
const kept = (ts: StudyTrial[]) => ts.map((x) => ({ state: x.state, value: x.value, params: x.params, intermediate: x.intermediate, info: x.info,
  error: x.error, startedAt: x.startedAt, finishedAt: x.finishedAt, seconds: x.seconds }));

ptest('study copy moves a study PostgreSQL → SQLite → PostgreSQL: states, values, intermediate values, details, final result; running trials and re-run attempts said', async (t) => {
  const src = schemas.url();
  await withStore(src, async (s) => {
    await s.createStudy('moved', suiteConfig(8));
    let i = 0;
    const p = () => ({ lr: 0.001 * ++i, batchSize: 16 + i });
    for (let k = 0; k < 6; k++) await s.claimTrial('moved', 1, p, 'cuda:1');
    await s.reportIntermediate('moved', 0, 0, 0.5);
    await s.reportIntermediate('moved', 0, 1, 0.625);
    await s.finishTrial('moved', 0, { state: 'complete', value: 0.625, info: { folds: [0.5, 0.75] } });
    await s.reportIntermediate('moved', 1, 0, 0.25);
    await s.finishTrial('moved', 1, { state: 'pruned', value: 0.25, error: 'below the median' });
    await s.finishTrial('moved', 2, { state: 'infeasible', error: 'bad geometry' });
    await s.failTrial('moved', 3, 'worker died', 'crashed'); // queued again as trial 6
    await s.claimTrial('moved', 1, p);
    await s.finishTrial('moved', 6, { state: 'complete', value: 0.875 });
    await s.failTrial('moved', 4, 'objective threw', 'none');
    await s.setFinal('moved', { trial: 6, params: { lr: 0.004, batchSize: 20 }, options: {}, cvValue: 0.875, testAccuracy: 0.86, testLoss: 0.4,
      trainSeconds: 3, device: 'cuda:1', finishedAt: '2026-01-01T00:00:00.000Z' });
    // Trial 5 stays running.
  });
  const source = await withStore(src, async (s) => s.listTrials('moved'));
  const file = path.join(tmp, 'archive', 'study.sqlite');

  const out = await cli(['study', 'copy', '--from', src, '--to', file]);
  t.is(out.code, 0, out.stderr);
  t.regex(out.stdout, /copied study moved from postgresql:\/\/.* to sqlite .*study\.sqlite: 5 finished trial\(s\), the final result \(trial 6, now 4\); left out: 1 running, 1 failed attempt\(s\) that ran again/);
  t.regex(out.stderr, /trials still running in the source were not copied/);
  const sq = new SqliteStorage(file, { mustExist: true });
  const copied = await sq.listTrials('moved');
  const study = await sq.loadStudy('moved');
  await sq.close();
  const expected = source.filter((x) => x.state !== 'running' && !x.requeued);
  t.deepEqual(kept(copied), kept(expected));
  t.deepEqual(copied.map((x) => x.number), [0, 1, 2, 3, 4]);
  t.deepEqual(study?.config, suiteConfig(8));
  t.deepEqual([study?.final?.trial, study?.final?.testAccuracy], [4, 0.86]);

  // And back, under another name; then once more is refused, naming --as.
  const back = schemas.url();
  const out2 = await cli(['study', 'copy', '--from', file, '--to', back, '--as', 'returned']);
  t.is(out2.code, 0, out2.stderr);
  const again = await withStore(back, async (s) => ({ trials: await s.listTrials('returned'), study: await s.loadStudy('returned') }));
  t.deepEqual(kept(again.trials), kept(expected));
  t.deepEqual(again.study?.final, study?.final);
  const out3 = await cli(['study', 'copy', '--from', file, '--to', back, '--as', 'returned']);
  t.is(out3.code, 2);
  t.regex(out3.stderr, /--as.*study "returned" exists already in postgresql:\/\//);
  const out4 = await cli(['study', 'copy', '--from', src, '--study', 'nothing', '--to', file]);
  t.is(out4.code, 2);
  t.regex(out4.stderr, /no study "nothing" in postgresql:\/\/.*\(it holds moved\)/);
});

test('bad storage values are usage errors (exit 2) that name the flag; a wrong password or missing schema is said without printing the password', async (t) => {
  const r1 = await cli(['study', 'status', '--storage', 'mysql://root:hunter2@db/studies', '--study', 'x']);
  t.is(r1.code, 2);
  t.regex(r1.stderr, /--storage.*unsupported storage "mysql:\/\/root:\*\*\*@db\/studies"/);
  t.false(r1.stderr.includes('hunter2'));
  const r2 = await cli(['study', 'copy', '--from', 'postgresql://u:hunter2@127.0.0.1:5432', '--to', 'x.sqlite']);
  t.is(r2.code, 2);
  t.regex(r2.stderr, /--from.*names no database/);
  t.false(r2.stderr.includes('hunter2'));
  if (!PG_URL) return;
  const wrong = new URL(PG_URL);
  wrong.password = 'hunter2';
  const r3 = await cli(['study', 'run', '--storage', wrong.toString(), '--study', 'x', '--model', 'mlp', '--trials', '1']);
  t.is(r3.code, 1);
  t.regex(r3.stderr, /password authentication failed .*\(wrong user or password\)/);
  t.false(r3.stderr.includes('hunter2'));
  const r4 = await cli(['study', 'status', '--storage', withSchema(PG_URL, 'no_such_schema_here'), '--study', 'x']);
  t.is(r4.code, 2);
  t.regex(r4.stderr, /no dendrite-bench studies in postgresql:\/\/.*\(schema no_such_schema_here\)/);
});

ptest('a study stopped before its budget prints a resume command without the password, its URL quoted for the shell', async (t) => {
  const url = new URL(schemas.url());
  url.searchParams.set('application_name', 'resume test'); // a second parameter: an & the shell would split at
  const out: string[] = [];
  const err: string[] = [];
  const stopped = new AbortController();
  stopped.abort(new Error('stopped'));
  const r = await studyRun({ storage: url.toString(), study: 'resume', model: 'mlp', trials: '2', folds: '2', epochs: '1', final: false, json: true },
    { out: (s) => out.push(s), err: (s) => err.push(s), signal: stopped.signal });
  t.true(r.interrupted);
  const shown = url.toString().replace(`:${url.password}@`, ':***@');
  t.regex(err.join('\n'), /Resume with: dendrite-bench study run --study resume --storage '.*' \(with the password in place of \*\*\*\)$/);
  t.true(err.join('\n').includes(`--storage '${shown}'`), err.join('\n'));
  t.deepEqual(JSON.parse(out.at(-1)!), { type: 'resume', command: `dendrite-bench study run --study resume --storage '${shown}'` });
  t.false([...out, ...err].some((line) => line.includes(`:${url.password}@`)), 'the password was printed');
});
