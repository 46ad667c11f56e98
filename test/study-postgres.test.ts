// The PostgreSQL study store: the storage suite every store passes (as memory and SQLite do),
// and what a network server adds: the schema made and migrated once by workers that start
// together, versions and foreign schemas refused, URLs and credentials checked with clear errors,
// commits whose replies are lost not done twice, connections killed by the server or a cut
// network retried (and said) without losing or duplicating anything. Also the one place that
// turns a --storage value into a store. Each store gets its own schema of DENDRITE_TEST_POSTGRES.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { MemoryStorage } from '../src/study/memory';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION, PostgresStorage, parsePostgresUrl } from '../src/study/postgres';
import { SqliteStorage } from '../src/study/sqlite';
import { finishedCount, isStudyError } from '../src/study/storage';
import { openStorage, storageKind, storageSpec } from '../src/study/storage-url';
import { studyStorageSuite, suiteConfig } from './helpers/study-storage-suite';
import { PG_URL, TcpProxy, TestSchemas, pgTest, sql, viaPort, withSchema } from './helpers/postgres';

const schemas = new TestSchemas('store');
test.after.always(() => schemas.dropAll());
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'study-pg-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
const quiet = { onWarning: () => undefined };
const ptest = pgTest(test);

studyStorageSuite(ptest, 'postgres', {
  open: async () => PostgresStorage.open(schemas.url(), quiet),
  reopen: async (s) => PostgresStorage.open((s as PostgresStorage).url, { ...quiet, mustExist: true }),
});

let k = 0;
const propose = () => ({ lr: 0.001 * ++k, batchSize: 16 });

test('storage values: :memory:, a path, postgresql:// and postgres:// URLs; other schemes and empty values refused', async (t) => {
  t.is(storageKind(':memory:'), 'memory');
  t.is(storageKind('studies/a.sqlite'), 'sqlite');
  t.is(storageKind('/abs/path/with:colon.sqlite'), 'sqlite');
  t.is(storageKind('postgresql://u:p@db:5432/studies'), 'postgres');
  t.is(storageKind('postgres://db/studies'), 'postgres');
  const e = t.throws(() => storageKind('mysql://root:secret@db/studies'));
  t.true(isStudyError(e, 'ERR_STUDY_STORAGE'));
  t.regex(e!.message, /unsupported storage "mysql:\/\/root:\*\*\*@db\/studies".*SQLite.*postgresql:\/\//);
  t.false(e!.message.includes('secret'));
  t.throws(() => storageKind(''), { message: /empty/ });
  const m = await openStorage(':memory:');
  t.true(m instanceof MemoryStorage);
  t.is(storageSpec(m), undefined);
  const file = path.join(tmp, 'x', 'study.sqlite');
  const s = await openStorage(file);
  t.true(s instanceof SqliteStorage);
  t.is(storageSpec(s), file);
  await s.close();
  await t.throwsAsync(openStorage(path.join(tmp, 'missing.sqlite'), { mustExist: true }), { code: 'ERR_STUDY_NOT_FOUND' } as never);
});

test('postgres URLs: the schema comes from ?schema=, the password never shows, bad URLs and schema names are refused', (t) => {
  const p = parsePostgresUrl('postgresql://alice:s3cret@db.lab:6543/studies?schema=gpu_runs&sslmode=disable');
  t.is(p.schema, 'gpu_runs');
  t.is(p.location, 'postgresql://alice@db.lab:6543/studies (schema gpu_runs)');
  t.false(p.connectionString.includes('schema='));
  t.true(p.connectionString.includes('sslmode=disable'));
  t.is(parsePostgresUrl('postgres://db/studies').schema, 'dendrite_bench');
  for (const [url, why] of [
    ['postgresql://u:pw@db', /names no database/],
    ['postgresql://u:pw@db/x?schema=Bad-Name', /schema must be/],
    ['postgresql://u:pw@db/x?schema=1abc', /schema must be/],
    ['http://u:pw@db/x', /starts with postgresql:\/\//],
  ] as const) {
    const e = t.throws(() => parsePostgresUrl(url));
    t.true(isStudyError(e, 'ERR_STUDY_STORAGE'), url);
    t.regex(e!.message, why, url);
    t.false(e!.message.includes(':pw@'), e!.message);
  }
});

ptest('postgres: six stores opening one new schema at once create it once, at the current version', async (t) => {
  const url = schemas.url();
  const stores = await Promise.all(Array.from({ length: 6 }, () => PostgresStorage.open(url, quiet)));
  const schema = stores[0].schema;
  await stores[0].createStudy('a', suiteConfig(3));
  t.deepEqual(await stores[5].listStudies(), ['a']);
  await Promise.all(stores.map((s) => s.close()));
  t.deepEqual(await sql(`SELECT version FROM ${schema}.schema_version`), [{ version: POSTGRES_SCHEMA_VERSION }]);
  const tables = (await sql<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [schema])).map((r) => r.tablename);
  t.deepEqual(tables, ['intermediate', 'requests', 'schema_version', 'studies', 'trials', 'workers']);
});

ptest('postgres: an older schema is migrated forward and keeps its studies', async (t) => {
  const schema = schemas.name();
  await sql(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}; ${POSTGRES_MIGRATIONS[0]}
    CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (1);
    INSERT INTO studies (name, config, created_at) VALUES ('old', '${JSON.stringify(suiteConfig(2))}', '2025-01-01T00:00:00.000Z');`);
  const s = await PostgresStorage.open(withSchema(PG_URL!, schema), quiet);
  try {
    t.deepEqual((await s.loadStudy('old'))?.config, suiteConfig(2));
    t.deepEqual(await sql(`SELECT version FROM ${schema}.schema_version`), [{ version: POSTGRES_SCHEMA_VERSION }]);
    // The migrated schema works: a claim (which records its token in the new table) and a finish.
    const c = await s.claimTrial('old', 1, propose);
    await s.finishTrial('old', c!.number, { state: 'complete', value: 0.5 });
    t.is(finishedCount(await s.listTrials('old')), 1);
  } finally {
    await s.close();
  }
});

ptest('postgres: newer, foreign and missing schemas, a wrong password, a missing database and a closed port give clear errors and change nothing', async (t) => {
  const newer = schemas.url();
  await (await PostgresStorage.open(newer, quiet)).close();
  const newerSchema = new URL(newer).searchParams.get('schema')!;
  await sql(`UPDATE ${newerSchema}.schema_version SET version = ${POSTGRES_SCHEMA_VERSION + 3}`);
  const e1 = await t.throwsAsync(PostgresStorage.open(newer, quiet));
  t.true(isStudyError(e1, 'ERR_STUDY_STORAGE'));
  t.regex(e1!.message, new RegExp(`schema ${newerSchema}\\).*version ${POSTGRES_SCHEMA_VERSION + 3}.*up to ${POSTGRES_SCHEMA_VERSION}`));
  t.deepEqual(await sql(`SELECT version FROM ${newerSchema}.schema_version`), [{ version: POSTGRES_SCHEMA_VERSION + 3 }]);

  const foreign = schemas.name();
  await sql(`CREATE SCHEMA ${foreign}; CREATE TABLE ${foreign}.photos (id integer); INSERT INTO ${foreign}.photos VALUES (1);`);
  const e2 = await t.throwsAsync(PostgresStorage.open(withSchema(PG_URL!, foreign), quiet));
  t.regex(e2!.message, /holds other tables \(photos\) and no schema_version.*\?schema=/);
  t.deepEqual(await sql(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [foreign]), [{ tablename: 'photos' }]);

  const missing = schemas.name();
  const e3 = await t.throwsAsync(PostgresStorage.open(withSchema(PG_URL!, missing), { ...quiet, mustExist: true }));
  t.true(isStudyError(e3, 'ERR_STUDY_NOT_FOUND'));
  t.regex(e3!.message, new RegExp(`no dendrite-bench studies in .*schema ${missing}`));
  t.deepEqual(await sql('SELECT 1 FROM pg_namespace WHERE nspname = $1', [missing]), []);

  const wrong = new URL(PG_URL!);
  wrong.password = 'not-the-password';
  const e4 = await t.throwsAsync(PostgresStorage.open(wrong.toString(), quiet));
  t.true(isStudyError(e4, 'ERR_STUDY_STORAGE'));
  t.regex(e4!.message, /password authentication failed.*\(wrong user or password\)/);
  t.false(e4!.message.includes('not-the-password'));

  const nodb = new URL(PG_URL!);
  nodb.pathname = '/no_such_database_here';
  const e5 = await t.throwsAsync(PostgresStorage.open(nodb.toString(), quiet));
  t.regex(e5!.message, /no_such_database_here.*does not exist.*create the database first/);

  // Nothing listens there: retried (said) for retryForMs, then a clear failure.
  const warnings: string[] = [];
  const closed = viaPort(PG_URL!, 9); // the discard port: closed here
  const started = Date.now();
  const e6 = await t.throwsAsync(PostgresStorage.open(closed, { retryForMs: 1200, backoffMs: 100, onWarning: (m) => warnings.push(m) }));
  t.true(Date.now() - started >= 1000);
  t.regex(e6!.message, /lost the connection to postgresql:\/\/.*127\.0\.0\.1:9\/.*gave up on opening the study schema/);
  t.regex(warnings[0], /ECONNREFUSED.*retrying in/);
});

ptest('postgres: a commit whose reply is lost is not done twice (claim, finish, fail, import, worker, reap)', async (t) => {
  const proxy = await TcpProxy.start();
  const warnings: string[] = [];
  const s = await PostgresStorage.open(viaPort(schemas.url(), proxy.port), { backoffMs: 50, onWarning: (m) => warnings.push(m) });
  try {
    await s.createStudy('a', suiteConfig(4));
    proxy.loseCommitReplies();
    const w = await s.registerWorker('a', { pid: 5, host: 'h' });
    proxy.loseCommitReplies();
    const c0 = await s.claimTrial('a', w.id, propose);
    proxy.loseCommitReplies();
    const c1 = await s.claimTrial('a', w.id, propose);
    t.deepEqual([c0?.number, c1?.number], [0, 1]);
    proxy.loseCommitReplies();
    const done = await s.finishTrial('a', 0, { state: 'complete', value: 0.75 });
    t.deepEqual([done.state, done.value], ['complete', 0.75]);
    proxy.loseCommitReplies();
    const again = await s.failTrial('a', 1, 'objective threw', 'crashed');
    t.deepEqual([again?.number, again?.retryOf, again?.attempt], [2, 1, 2]);
    proxy.loseCommitReplies();
    const imported = await s.importTrials('a', [{ state: 'complete', params: propose(), value: 0.5 }]);
    t.deepEqual(imported.map((x) => x.number), [3]);
    const c2 = await s.claimTrial('a', w.id, propose);
    t.is(c2?.number, 2);
    proxy.loseCommitReplies();
    const reaped = await s.reapWorkers('a', () => true);
    t.deepEqual(reaped.map((x) => x.number), [2]);
    t.is(proxy.lostCommits, 7);
    const trials = await s.listTrials('a');
    t.deepEqual(trials.map((x) => [x.number, x.state, x.requeued]),
      [[0, 'complete', false], [1, 'failed', true], [2, 'failed', true], [3, 'complete', false], [4, 'waiting', false]]);
    t.is((await s.listWorkers('a')).length, 1);
    t.true(warnings.some((m) => /lost the connection.*during claimTrial/.test(m)), warnings.join('\n'));
  } finally {
    await s.close();
    await proxy.close();
  }
});

ptest('postgres: connections the server terminates (pg_terminate_backend) mid-study are retried; every claim and result lands once', async (t) => {
  const url = schemas.url();
  const warnings: string[] = [];
  const app = `dendrite-bench terminated ${process.pid}`;
  const s = await PostgresStorage.open(url, { backoffMs: 20, onWarning: (m) => warnings.push(m), applicationName: app });
  const killer = setInterval(() => {
    sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]).catch(() => undefined);
  }, 60);
  try {
    await s.createStudy('a', suiteConfig(40));
    const w = await s.registerWorker('a', { pid: process.pid, host: 'h' });
    const mine: number[] = [];
    for (;;) {
      const c = await s.claimTrial('a', w.id, propose);
      if (!c) break;
      mine.push(c.number);
      await s.reportIntermediate('a', c.number, 0, c.number / 100);
      await s.finishTrial('a', c.number, { state: 'complete', value: c.number / 100 });
    }
    clearInterval(killer);
    const trials = await s.listTrials('a');
    t.deepEqual(mine, Array.from({ length: 40 }, (_, i) => i));
    t.deepEqual(trials.map((x) => [x.state, x.value, x.intermediate.length]), mine.map((n) => ['complete', n / 100, 1]));
    t.true(warnings.some((m) => /terminat/i.test(m)), `the server killed no connection: ${warnings.join('\n')}`);
  } finally {
    clearInterval(killer);
    await s.close();
  }
});

ptest('postgres: a cut network is retried with backoff and said; the calls go through once it is back, or fail naming the storage after retryForMs', async (t) => {
  const proxy = await TcpProxy.start();
  const warnings: string[] = [];
  const s = await PostgresStorage.open(viaPort(schemas.url(), proxy.port), { backoffMs: 100, retryForMs: 3000, onWarning: (m) => warnings.push(m) });
  try {
    await s.createStudy('a', suiteConfig(3));
    await proxy.cut();
    setTimeout(() => void proxy.restore(), 800);
    const c = await s.claimTrial('a', 1, propose);
    t.is(c?.number, 0);
    t.regex(warnings[0], /lost the connection to postgresql:\/\/.*during claimTrial; retrying in/);
    t.regex(warnings[warnings.length - 1], /is back after \d/);
    await proxy.cut();
    const e = await t.throwsAsync(s.finishTrial('a', 0, { state: 'complete', value: 0.5 }));
    t.true(isStudyError(e, 'ERR_STUDY_STORAGE'));
    t.regex(e!.message, /lost the connection to .* s ago .*gave up on finishTrial/);
    await proxy.restore();
    t.is((await s.finishTrial('a', 0, { state: 'complete', value: 0.5 })).state, 'complete');
  } finally {
    await s.close();
    await proxy.close();
  }
});

ptest('postgres: worker times are the server\'s, translated to this clock; a heartbeat brings back a worker taken for dead', async (t) => {
  const s = await PostgresStorage.open(schemas.url(), quiet);
  try {
    await s.createStudy('a', suiteConfig(2));
    const w = await s.registerWorker('a', { pid: 9, host: 'far-away', device: 'cuda:1' });
    // The worker's last heartbeat was 90 s ago by the server's clock, whatever this machine's says.
    await sql(`UPDATE ${s.schema}.workers SET heartbeat_at = clock_timestamp() - interval '90 seconds' WHERE id = $1`, [w.id]);
    const [listed] = await s.listWorkers('a');
    const age = (Date.now() - Date.parse(listed.heartbeatAt)) / 1000;
    t.true(age > 89 && age < 95, `age ${age}`);
    t.deepEqual([listed.host, listed.device], ['far-away', 'cuda:1']);
    const c = await s.claimTrial('a', w.id, propose);
    const reaped = await s.reapWorkers('a', (x) => Date.now() - Date.parse(x.heartbeatAt) > 60_000);
    t.deepEqual(reaped.map((x) => x.number), [c!.number]);
    t.is((await s.listWorkers('a'))[0].state, 'dead');
    await s.heartbeat('a', w.id);
    t.is((await s.listWorkers('a'))[0].state, 'alive');
    await t.throwsAsync(s.finishTrial('a', c!.number, { state: 'complete', value: 1 }), { code: 'ERR_TRIAL_STATE' } as never);
  } finally {
    await s.close();
  }
});

ptest('the package API: openStorage(postgresql://...) and runStudy with three workers finish the budget exactly', async (t) => {
  const api = await import('../src/index');
  const storage = await api.openStorage(schemas.url(), { onWarning: () => undefined });
  try {
    t.true(storage instanceof api.PostgresStorage);
    await storage.createStudy('api', { ...suiteConfig(30), strategy: 'random' });
    const r = await api.runStudy({
      storage, name: 'api', workers: 3, mode: 'inline', final: false, pollMs: 50,
      evaluate: async (_c, params) => ({ state: 'complete', value: (params.lr as number) * 10 }),
    });
    t.is(api.finishedCount(r.trials), 30);
    t.is(r.trials.length, 30);
    t.is(new Set((await storage.listWorkers('api')).map((w) => w.id)).size, 3);
  } finally {
    await storage.close();
  }
});
