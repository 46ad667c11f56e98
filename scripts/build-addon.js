#!/usr/bin/env node
// Builds the native addon: with cmake-js (CPU + CUDA when nvcc is found) where CMake and the
// cmake-js package exist, else with node-gyp (CPU only; npm ships it). Environment:
//   DENDRITE_BUILD=cmake|gyp   force one build system
//   DENDRITE_CUDA=AUTO|ON|OFF  the CUDA backend (cmake only; default AUTO)
//   DENDRITE_CUDA_ARCHITECTURES=90  override the GPU architectures (cmake only)
//   DENDRITE_OPENMP=OFF        single-threaded CPU kernels (cmake only; the name is historical)
//   DENDRITE_SANITIZE=1        AddressSanitizer + UBSan build into build-sanitize/ (cmake only)
//   DENDRITE_BUILD_DIR=dir     build somewhere other than build/ (cmake only; load it with DENDRITE_ADDON)
//   DENDRITE_TESTS=ON|OFF      also build the native test and bench programs and the CUDA emulator
//                              (cmake only; default ON in the package's git checkout, OFF in an install)
// With --install (the package's install script), a prebuilt binary shipped in prebuilds/ is used
// when it matches this platform and loads, and nothing is built; it builds from source instead in
// the package's git checkout, with DENDRITE_NO_PREBUILD=1 or npm's --build-from-source, or when one
// of the build variables above is set. --dry-run says what it would do and builds nothing.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const root = path.join(__dirname, '..');
// The package's own checkout (developers, CI) rather than an installed copy: npm installs a packed
// tree, which has no .git.
const inCheckout = fs.existsSync(path.join(root, '.git'));

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
  const tests = (process.env.DENDRITE_TESTS || (inCheckout ? 'ON' : 'OFF')).toUpperCase();
  if (!['ON', 'OFF'].includes(tests)) {
    throw new Error(`DENDRITE_TESTS must be ON or OFF, got "${process.env.DENDRITE_TESTS}"`);
  }
  const configure = [
    `--CDDENDRITE_CUDA=${cuda}`,
    `--CDDENDRITE_TESTS=${tests}`,
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

// Why the install must build from source, or null when a shipped prebuilt binary may do.
function buildFromSourceReason() {
  if (inCheckout) return 'in the package\'s git checkout';
  if (process.env.DENDRITE_NO_PREBUILD === '1') return 'DENDRITE_NO_PREBUILD=1';
  if (process.env.npm_config_build_from_source === 'true') return '--build-from-source';
  const set = ['DENDRITE_BUILD', 'DENDRITE_CUDA', 'DENDRITE_CUDA_ARCHITECTURES', 'DENDRITE_OPENMP', 'DENDRITE_SANITIZE', 'DENDRITE_TESTS']
    .filter((k) => process.env[k] !== undefined);
  return set.length ? `${set.join(', ')} set` : null;
}

// The prebuilt binary node-gyp-build picks for this platform (prebuilds/<platform>-<arch>/), if it
// loads: tried in a child process, so that a binary this machine cannot run fails there, not here.
function usablePrebuild() {
  process.env.PREBUILDS_ONLY = '1';  // read by node-gyp-build when it is first required: skip build/
  let file;
  try {
    file = require('node-gyp-build').resolve(root);
  } catch (err) {
    return { file: null, why: err.message.split('\n')[0] };
  } finally {
    delete process.env.PREBUILDS_ONLY;
  }
  const probe = 'try { require(process.argv[1]) } catch (e) { console.error(e.message); process.exit(1) }';
  const r = spawnSync(process.execPath, ['-e', probe, file], { encoding: 'utf8' });
  if (r.status === 0) return { file, why: null };
  return { file: null, why: `${path.relative(root, file)} does not load here: ${(r.stderr || `exit ${r.status}`).trim().split('\n')[0]}` };
}

if (process.argv.includes('--install')) {
  const reason = buildFromSourceReason();
  if (!reason) {
    const prebuild = usablePrebuild();
    if (prebuild.file) {
      console.log(`dendrite-bench: using the prebuilt addon ${path.relative(root, prebuild.file)} ` +
        '(to build from source instead: DENDRITE_NO_PREBUILD=1 npm rebuild dendrite-bench)');
      process.exit(0);
    }
    console.log(`dendrite-bench: no usable prebuilt addon (${prebuild.why}); building from source, which takes minutes`);
  } else {
    console.log(`dendrite-bench: building the addon from source (${reason}), which takes minutes`);
  }
}

// cmake-js is an optional peer dependency (5 MB that only builds from source need): the package's
// checkout has it (a devDependency); an install has it when the user added it.
function hasCmakeJs() {
  try {
    require.resolve('cmake-js/bin/cmake-js');
    return true;
  } catch {
    return false;
  }
}

const forced = process.env.DENDRITE_BUILD;
if (forced !== undefined && forced !== 'cmake' && forced !== 'gyp') {
  console.error(`DENDRITE_BUILD must be cmake or gyp, got "${forced}"`);
  process.exit(1);
}
if (forced === 'cmake' && !hasCmakeJs()) {
  console.error('dendrite-bench: DENDRITE_BUILD=cmake needs the package cmake-js: npm install cmake-js, then npm rebuild dendrite-bench');
  process.exit(1);
}
const cmake = hasCmake();
const mode = forced || (cmake && hasCmakeJs() ? 'cmake' : 'gyp');
if (mode === 'gyp') {
  const why = forced ? 'DENDRITE_BUILD=gyp' : !cmake ? 'no CMake found'
    : 'cmake-js is not installed; for the CUDA backend: npm install cmake-js, then npm rebuild dendrite-bench';
  console.log(`dendrite-bench: building the CPU backend with node-gyp (${why})`);
}
if (process.argv.includes('--dry-run')) {
  console.log(`dendrite-bench: would build with ${mode === 'cmake' ? 'cmake-js' : 'node-gyp'} (--dry-run)`);
  process.exit(0);
}
const ok = mode === 'cmake' ? buildWithCmake() : buildWithGyp();
process.exit(ok ? 0 : 1);
