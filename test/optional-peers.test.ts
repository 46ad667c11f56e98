// The optional peer dependencies: better-sqlite3 (study files) and cmake-js (builds from source)
// are not installed with the package. Without them the package loads, a study file is refused with
// what to install (or which store to use instead), and the install script builds with node-gyp.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

const root = path.join(__dirname, '..', '..');
const dist = path.join(root, 'dist', 'src');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-peers-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Preloaded into a child process: require('better-sqlite3') fails as where it is not installed.
const hideSqlite = path.join(tmp, 'hide-sqlite.js');
fs.writeFileSync(hideSqlite, `const Module = require('module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'better-sqlite3') { const e = new Error("Cannot find module 'better-sqlite3'"); e.code = 'MODULE_NOT_FOUND'; throw e; }
  return resolve.call(this, request, ...rest);
};`);

function node(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, ['-r', hideSqlite, ...args], { encoding: 'utf8', env, timeout: 120_000 });
}

test('without better-sqlite3: the package loads, in-memory studies run, a study file is refused naming the fix', (t) => {
  const file = path.join(tmp, 'study.sqlite');
  const r = node(['-e', `
    const root = require(${JSON.stringify(dist)});
    const { openStorage } = require(${JSON.stringify(path.join(dist, 'study', 'storage-url.js'))});
    (async () => {
      const best = await root.optimize({ space: { x: { type: 'float', low: 0, high: 1 } }, objective: ({ x }) => (x - 0.3) ** 2,
        trials: 3, seed: 1, direction: 'minimize' });
      let error;
      try { await openStorage(${JSON.stringify(file)}); } catch (e) { error = { name: e.name, code: e.code, message: e.message }; }
      console.log(JSON.stringify({ trials: best.trials.length, error }));
    })();`]);
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { trials: number; error: { name: string; code: string; message: string } };
  t.is(out.trials, 3);
  t.is(out.error.code, 'ERR_STUDY_STORAGE');
  t.regex(out.error.message, /needs the package better-sqlite3, which cannot be loaded \(Cannot find module 'better-sqlite3'\): install it beside dendrite-bench \(npm install better-sqlite3\), or keep the study in PostgreSQL/);
  t.false(fs.existsSync(file), 'no file was made');

  // The CLI says the same, without a stack trace, and fails.
  const cli = node([path.join(dist, 'cli', 'main.js'), 'study', 'run', '--model', 'mlp', '--trials', '1', '--storage', file]);
  t.not(cli.status, 0);
  t.regex(cli.stderr, /npm install better-sqlite3/);
  t.notRegex(cli.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('without cmake-js: the build script builds with node-gyp and says how to get the CUDA backend; DENDRITE_BUILD=cmake is refused', (t) => {
  // The script alone in a folder with no node_modules above it that holds cmake-js.
  const pkg = path.join(tmp, 'pkg');
  fs.mkdirSync(path.join(pkg, 'scripts'), { recursive: true });
  fs.copyFileSync(path.join(root, 'scripts', 'build-addon.js'), path.join(pkg, 'scripts', 'build-addon.js'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DENDRITE_')));
  const dry = spawnSync(process.execPath, [path.join(pkg, 'scripts', 'build-addon.js'), '--dry-run'], { encoding: 'utf8', env });
  t.is(dry.status, 0, dry.stderr);
  t.regex(dry.stdout, /building the CPU backend with node-gyp \((cmake-js is not installed; for the CUDA backend: npm install cmake-js, then npm rebuild dendrite-bench|no CMake found)\)/);
  t.regex(dry.stdout, /would build with node-gyp/);
  const forced = spawnSync(process.execPath, [path.join(pkg, 'scripts', 'build-addon.js'), '--dry-run'], { encoding: 'utf8', env: { ...env, DENDRITE_BUILD: 'cmake' } });
  t.is(forced.status, 1);
  t.regex(forced.stderr, /DENDRITE_BUILD=cmake needs the package cmake-js: npm install cmake-js/);
});
