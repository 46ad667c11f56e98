// `dendrite-bench report --study`: a real study's trials as a report, from SQLite and (when a
// server is configured) from PostgreSQL after `study copy`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { PG_URL, TestSchemas } from './helpers/postgres';

const cli = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-report-study-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
const postgres = PG_URL;
// The PostgreSQL copy's schema, dropped at the end so that test runs leave nothing in the database.
const schemas = new TestSchemas('report');
test.after.always(() => schemas.dropAll());

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300000 });
}

test.serial(`report --study draws the trials of a real study (SQLite${postgres ? ', then PostgreSQL' : ''})`, (t) => {
  const db = path.join(tmp, 'study.sqlite');
  const name = `report${process.pid}`;
  const s = run('study', 'run', '--model', 'mlp', '--trials', '4', '--folds', '2', '--epochs', '1', '--study', name, '--storage', db,
    '--no-final', '--threads', '1');
  t.is(s.status, 0, s.stderr);
  const stores = [db];
  if (postgres) {
    const url = schemas.url();
    const c = run('study', 'copy', '--from', db, '--to', url, '--study', name);
    t.is(c.status, 0, c.stderr);
    stores.push(url);
  }
  for (const [i, storage] of stores.entries()) {
    const out = path.join(tmp, `report-${i}`);
    const r = run('report', out, '--study', name, '--storage', storage, '--no-png');
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /\(4 trials\)/);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as {
      runs: unknown[]; extras: { trials: Array<{ study: string; model: string; trial: number; value: number | null; params: Record<string, unknown> }> };
    };
    t.deepEqual(results.runs, []);
    t.deepEqual(results.extras.trials.map((x) => x.trial), [0, 1, 2, 3]);
    for (const x of results.extras.trials) {
      t.is(x.model, 'mlp');
      t.true(x.value === null || (x.value > 0 && x.value <= 1));
      t.true('lr' in x.params);
    }
    for (const f of ['study-best', 'study-distribution', 'study-parallel']) t.true(fs.existsSync(path.join(out, 'figures', `${f}.svg`)), f);
  }
  const bad = run('report', path.join(tmp, 'x'), '--study', 'nope', '--storage', db);
  t.is(bad.status, 1);
  t.regex(bad.stderr, /no study "nope"/);
});
