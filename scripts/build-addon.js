#!/usr/bin/env node
// Builds the native addon: with cmake-js (CPU + CUDA when nvcc is found) where CMake exists,
// else with node-gyp (CPU only). Environment:
//   DENDRITE_BUILD=cmake|gyp   force one build system
//   DENDRITE_CUDA=AUTO|ON|OFF  the CUDA backend (cmake only; default AUTO)
//   DENDRITE_CUDA_ARCHITECTURES=90  override the GPU architectures (cmake only)
//   DENDRITE_OPENMP=OFF        build without OpenMP (cmake only)
//   DENDRITE_SANITIZE=1        AddressSanitizer + UBSan build into build-sanitize/ (cmake only)
//   DENDRITE_BUILD_DIR=dir     build somewhere other than build/ (cmake only; load it with DENDRITE_ADDON)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const root = path.join(__dirname, '..');

function run(cmd, args, extraEnv = {}) {
  console.log(`> ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...extraEnv } });
  if (r.error) throw r.error;
  return r.status === 0;
}

function hasCmake() {
  const r = spawnSync('cmake', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function buildWithCmake() {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const sanitize = process.env.DENDRITE_SANITIZE === '1';
  const cuda = (process.env.DENDRITE_CUDA || 'AUTO').toUpperCase();
  if (!['AUTO', 'ON', 'OFF'].includes(cuda)) {
    throw new Error(`DENDRITE_CUDA must be AUTO, ON or OFF, got "${process.env.DENDRITE_CUDA}"`);
  }
  const common = ['--out', process.env.DENDRITE_BUILD_DIR || (sanitize ? 'build-sanitize' : 'build')];
  if (sanitize) common.push('--debug');
  // Configure every time, so that changed options take effect; the build itself is incremental.
  const configure = [
    `--CDDENDRITE_CUDA=${cuda}`,
    `--CDDENDRITE_SANITIZE=${sanitize ? 'ON' : 'OFF'}`,
    `--CDDENDRITE_OPENMP=${process.env.DENDRITE_OPENMP === 'OFF' ? 'OFF' : 'ON'}`,
  ];
  if (process.env.DENDRITE_CUDA_ARCHITECTURES) {
    configure.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.DENDRITE_CUDA_ARCHITECTURES}`);
  }
  const jobs = String(os.availableParallelism ? os.availableParallelism() : os.cpus().length);
  return (
    run(process.execPath, [cmakeJs, 'configure', ...common, ...configure]) &&
    run(process.execPath, [cmakeJs, 'build', ...common, '--parallel', jobs])
  );
}

// npm tells lifecycle scripts where its bundled node-gyp lives; outside npm, look beside npm.
function findNodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const npm = spawnSync(process.platform === 'win32' ? 'where' : 'which', ['npm'], { encoding: 'utf8' });
  if (npm.status === 0) {
    const npmCli = fs.realpathSync(npm.stdout.split('\n')[0].trim());
    const gyp = path.join(path.dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (fs.existsSync(gyp)) return gyp;
  }
  return null;
}

function buildWithGyp() {
  const args = ['rebuild'];
  // Build against the running Node's own headers when they are installed beside it (as Debian and
  // the official tarballs do), so that node-gyp downloads nothing.
  const prefix = path.dirname(path.dirname(process.execPath));
  if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
    args.push(`--nodedir=${prefix}`);
  }
  const gyp = findNodeGyp();
  return gyp ? run(process.execPath, [gyp, ...args]) : run('node-gyp', args);
}

const mode = process.env.DENDRITE_BUILD || (hasCmake() ? 'cmake' : 'gyp');
if (mode !== 'cmake' && mode !== 'gyp') {
  console.error(`DENDRITE_BUILD must be cmake or gyp, got "${mode}"`);
  process.exit(1);
}
if (mode === 'gyp') console.log('dendrite-bench: building the CPU backend with node-gyp (no CMake found, or DENDRITE_BUILD=gyp)');
const ok = mode === 'cmake' ? buildWithCmake() : buildWithGyp();
process.exit(ok ? 0 : 1);
