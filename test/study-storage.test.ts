// The storage suite (test/helpers/study-storage-suite.ts) for the memory and SQLite stores, and
// what only SQLite has: a schema version and migrations, and clear errors for a file that is not
// a study database.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Database from 'better-sqlite3';
import test from 'ava';

import { MemoryStorage } from '../src/study/memory';
import { SQLITE_SCHEMA_VERSION, SqliteStorage } from '../src/study/sqlite';
import { isStudyError } from '../src/study/storage';
import { studyStorageSuite, suiteConfig } from './helpers/study-storage-suite';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'study-storage-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

studyStorageSuite(test, 'memory', { open: async () => new MemoryStorage() });
studyStorageSuite(test, 'sqlite', {
  open: async () => new SqliteStorage(path.join(tmp, `s${n++}`, 'study.sqlite')),
  reopen: async (s) => new SqliteStorage((s as SqliteStorage).file, { mustExist: true }),
});

test('sqlite: a new file records the schema version, in WAL mode', async (t) => {
  const file = path.join(tmp, 'v', 'study.sqlite');
  const s = new SqliteStorage(file);
  await s.createStudy('a', suiteConfig());
  await s.close();
  const db = new Database(file, { readonly: true });
  t.is((db.prepare('SELECT version FROM schema_version').get() as { version: number }).version, SQLITE_SCHEMA_VERSION);
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
});

test('sqlite: a file from a newer version is refused, naming the file and both versions', async (t) => {
  const file = path.join(tmp, 'newer.sqlite');
  await new SqliteStorage(file).close();
  const db = new Database(file);
  db.prepare('UPDATE schema_version SET version = ?').run(SQLITE_SCHEMA_VERSION + 5);
  db.close();
  const e = t.throws(() => new SqliteStorage(file));
  t.true(isStudyError(e, 'ERR_STUDY_STORAGE'));
  t.regex(e!.message, new RegExp(`${file.replace(/[.]/g, '\\.')}.*version ${SQLITE_SCHEMA_VERSION + 5}.*up to ${SQLITE_SCHEMA_VERSION}`));
});

test('sqlite: corrupt, foreign and missing files give errors that name the file; nothing is overwritten', (t) => {
  const junk = path.join(tmp, 'junk.sqlite');
  fs.writeFileSync(junk, 'this is not a database, only some text that someone saved here '.repeat(100));
  const before = fs.readFileSync(junk);
  const e1 = t.throws(() => new SqliteStorage(junk));
  t.true(isStudyError(e1, 'ERR_STUDY_STORAGE'));
  t.true(e1!.message.includes(junk), e1!.message);
  t.regex(e1!.message, /not a readable dendrite-bench study database/);
  t.deepEqual(fs.readFileSync(junk), before);

  const foreign = path.join(tmp, 'foreign.sqlite');
  const db = new Database(foreign);
  db.exec('CREATE TABLE photos (id INTEGER); INSERT INTO photos VALUES (1);');
  db.close();
  const e2 = t.throws(() => new SqliteStorage(foreign));
  t.regex(e2!.message, /photos/);
  t.true(e2!.message.includes(foreign));

  const missing = path.join(tmp, 'nowhere', 'study.sqlite');
  const e3 = t.throws(() => new SqliteStorage(missing, { mustExist: true }));
  t.true(isStudyError(e3, 'ERR_STUDY_NOT_FOUND'));
  t.true(e3!.message.includes(missing));
  t.false(fs.existsSync(path.dirname(missing)));
});

test('sqlite: a truncated file is reported as unreadable, naming it', async (t) => {
  const file = path.join(tmp, 'trunc', 'study.sqlite');
  const s = new SqliteStorage(file);
  await s.createStudy('a', suiteConfig());
  for (let i = 0; i < 3; i++) await s.claimTrial('a', 1, () => ({ lr: 0.001 * (i + 1), batchSize: 16 }));
  await s.close();
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, 100), Buffer.alloc(bytes.length - 100, 0x5a)]));
  const e = t.throws(() => new SqliteStorage(file));
  t.true(e!.message.includes(file), e!.message);
});

test('sqlite: two connections to one file see each other\'s trials and share the budget', async (t) => {
  const file = path.join(tmp, 'two', 'study.sqlite');
  const a = new SqliteStorage(file);
  const b = new SqliteStorage(file);
  await a.createStudy('s', suiteConfig(3));
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await (i % 2 ? a : b).claimTrial('s', i, () => ({ lr: 0.01 + i / 100, batchSize: 16 })));
  t.deepEqual(got.map((x) => x?.number), [0, 1, 2, undefined]);
  t.is((await a.listTrials('s')).length, 3);
  await a.close();
  await b.close();
});
