#!/usr/bin/env node
// `npm run prebuilds`: the prebuilt addon that the package ships, so that installs compile nothing.
// Builds the addon with cmake-js into build-prebuild/ (CPU backend with runtime SIMD dispatch and
// OpenMP; the CUDA backend too when nvcc is found, its runtime linked statically, architectures
// sm_75, sm_80, sm_86 and sm_90 plus PTX; no test programs), strips it and writes it where
// node-gyp-build looks: prebuilds/linux-x64/node.napi.glibc.node. `npm pack` then ships it.
//   --from FILE   take an existing Release build of the same configuration instead of compiling
//                 (CI: npm run prebuilds -- --from build/Release/dendrite.node)
//   --no-strip    keep the symbol table
// DENDRITE_CUDA=OFF makes a CPU-only prebuild; DENDRITE_CUDA_ARCHITECTURES changes the architectures.
// The binary is checked before it is written: position-independent (no text relocations), no
// RPATH/RUNPATH, only system libraries needed (libstdc++.so.6, glibc), the CUDA
// architectures asked for, and it loads.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const DEFAULT_ARCHS = '75-real;80-real;86-real;90';
// What a Linux machine with glibc and g++'s runtime has under these names (libstdc++6 comes with
// g++ on Debian and Ubuntu, and with most desktop and server installs). Not libgomp: the kernels
// have their own thread pool.
const SYSTEM_LIBS = new Set(['libstdc++.so.6', 'libgcc_s.so.1', 'libm.so.6', 'libc.so.6', 'libdl.so.2',
  'libpthread.so.0', 'librt.so.1', 'ld-linux-x86-64.so.2']);

function fail(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = { from: null, strip: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--from') opts.from = argv[++i];
    else if (argv[i].startsWith('--from=')) opts.from = argv[i].slice('--from='.length);
    else if (argv[i] === '--no-strip') opts.strip = false;
    else fail(`unknown argument "${argv[i]}" (use --from FILE, --no-strip)`);
  }
  if (opts.from === undefined || opts.from === '') fail('--from needs a file');
  return opts;
}

function tool(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.error || r.status !== 0) fail(`${cmd} ${args.join(' ')} failed: ${r.error ? r.error.message : r.stderr}`);
  return r.stdout;
}

function hasNvcc() {
  const r = spawnSync(process.env.CUDACXX || 'nvcc', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

// The CMake cache of the build a file came from (FILE is <dir>/Release/dendrite.node), or null.
function cmakeCache(file) {
  const cache = path.join(path.dirname(path.dirname(file)), 'CMakeCache.txt');
  if (!fs.existsSync(cache)) return null;
  const text = fs.readFileSync(cache, 'utf8');
  return (key) => new RegExp(`^${key}:[A-Z]+=(.*)$`, 'm').exec(text)?.[1];
}

// The SASS and PTX architectures of every fatbin in the .nv_fatbin section (layout: a 16-byte header
// {magic 0xBA55ED50, u16 version, u16 header size, u64 size} then entries {u16 kind (1 PTX, 2 ELF),
// u16, u32 header size, u64 payload size, ..., u32 arch at byte 28}).
function cudaArchitectures(file) {
  const sections = tool('readelf', ['-W', '-S', file]);
  const m = / \.nv_fatbin\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(sections);
  if (!m) return null;
  const buf = fs.readFileSync(file).subarray(parseInt(m[1], 16), parseInt(m[1], 16) + parseInt(m[2], 16));
  const fatbins = [];
  for (let off = 0; off + 16 <= buf.length;) {
    if (buf.readUInt32LE(off) !== 0xba55ed50) { off += 8; continue; }  // padding between fatbins
    const headerSize = buf.readUInt16LE(off + 6);
    const size = Number(buf.readBigUInt64LE(off + 8));
    const entries = new Set();
    for (let e = off + headerSize; e < off + headerSize + size;) {
      const kind = buf.readUInt16LE(e);
      const entryHeader = buf.readUInt32LE(e + 4);
      const payload = Number(buf.readBigUInt64LE(e + 8));
      entries.add(`${kind === 1 ? 'compute' : 'sm'}_${buf.readUInt32LE(e + 28)}`);
      e += entryHeader + payload;
    }
    fatbins.push([...entries].sort().join(' '));
    off += headerSize + size;
  }
  return [...new Set(fatbins)];
}

// What the ELF file needs at run time, and whether it is fit to ship.
function inspect(file) {
  const dynamic = tool('readelf', ['-W', '-d', file]);
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1]);
  const problems = [];
  if (/\((RPATH|RUNPATH)\)/.test(dynamic)) problems.push(`it has an RPATH/RUNPATH: ${/\((?:RPATH|RUNPATH)\).*$/m.exec(dynamic)[0]}`);
  if (/TEXTREL/.test(dynamic)) problems.push('it has text relocations (not position-independent)');
  const foreign = needed.filter((lib) => !SYSTEM_LIBS.has(lib));
  if (foreign.length) problems.push(`it needs libraries a user may not have: ${foreign.join(', ')}`);
  // The newest symbol versions it needs: the oldest glibc and libstdc++ it runs with.
  const versions = tool('readelf', ['-W', '-V', file]);
  const compare = (a, b) => {
    const x = a.split('.').map(Number), y = b.split('.').map(Number);
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
    return 0;
  };
  const newest = (prefix) => [...versions.matchAll(new RegExp(`Name: ${prefix}_([0-9.]+)`, 'g'))].map((m) => m[1])
    .sort(compare).pop();
  return { needed, problems, glibc: newest('GLIBC'), glibcxx: newest('GLIBCXX') };
}

function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64') fail(`prebuilds are made for linux-x64 only, not ${process.platform}-${process.arch}`);
  const opts = parseArgs(process.argv.slice(2));
  if (process.env.DENDRITE_SANITIZE === '1' || process.env.DENDRITE_OPENMP === 'OFF' || process.env.DENDRITE_BUILD === 'gyp') {
    fail('a prebuild is the multi-threaded cmake-js Release build: unset DENDRITE_SANITIZE, DENDRITE_OPENMP and DENDRITE_BUILD');
  }
  const cudaWanted = (process.env.DENDRITE_CUDA || 'AUTO').toUpperCase();
  const archs = process.env.DENDRITE_CUDA_ARCHITECTURES || DEFAULT_ARCHS;
  const withCuda = cudaWanted === 'ON' || (cudaWanted === 'AUTO' && hasNvcc());

  let source;
  if (opts.from) {
    source = path.resolve(opts.from);
    if (!fs.existsSync(source)) fail(`${opts.from} does not exist`);
    // Reuse only a build of the shipped configuration; the test programs do not change the addon.
    const get = cmakeCache(source);
    if (!get) fail(`no CMakeCache.txt beside ${opts.from}: --from takes a cmake-js build (<dir>/Release/dendrite.node)`);
    const wrong = [['CMAKE_BUILD_TYPE', 'Release'], ['DENDRITE_SANITIZE', 'OFF'], ['DENDRITE_OPENMP', 'ON']]
      .filter(([k, v]) => get(k) !== v).map(([k, v]) => `${k}=${get(k)} (needs ${v})`);
    const builtArchs = get('CMAKE_CUDA_ARCHITECTURES') || DEFAULT_ARCHS;
    if (withCuda && builtArchs !== archs) wrong.push(`CMAKE_CUDA_ARCHITECTURES=${builtArchs} (needs ${archs})`);
    if (wrong.length) fail(`${opts.from} is not a build of the shipped configuration: ${wrong.join(', ')}`);
    console.log(`prebuild: reusing ${path.relative(root, source) || source} (nothing compiled)`);
  } else {
    const env = { ...process.env, DENDRITE_BUILD: 'cmake', DENDRITE_TESTS: 'OFF', DENDRITE_BUILD_DIR: 'build-prebuild',
      DENDRITE_CUDA: cudaWanted };
    console.log(`prebuild: building the addon (CPU${withCuda ? ` + CUDA ${archs}` : ''}) into build-prebuild/`);
    const r = spawnSync(process.execPath, [path.join(__dirname, 'build-addon.js')], { cwd: root, stdio: 'inherit', env });
    if (r.status !== 0) fail('the build failed');
    source = path.join(root, 'build-prebuild', 'Release', 'dendrite.node');
  }

  // The CUDA code in the binary must be what was asked for: every fatbin with the same SASS and PTX.
  const found = cudaArchitectures(source);
  if (withCuda) {
    const expected = archs.split(';').flatMap((a) => {
      const n = a.replace(/-(real|virtual)$/, '');
      return a.endsWith('-real') ? [`sm_${n}`] : a.endsWith('-virtual') ? [`compute_${n}`] : [`sm_${n}`, `compute_${n}`];
    }).sort().join(' ');
    if (!found) fail(`${source} has no CUDA code although CUDA was expected (nvcc is on the PATH; DENDRITE_CUDA=OFF for a CPU-only prebuild)`);
    if (found.length !== 1 || found[0] !== expected) fail(`${source} has CUDA code for ${found.join(' | ')}, expected ${expected}`);
  } else if (found) {
    fail(`${source} has CUDA code but this prebuild was asked to be CPU-only`);
  }

  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const target = path.join(dir, 'node.napi.glibc.node');
  fs.rmSync(dir, { recursive: true, force: true });  // no stale flavours beside the new one
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(source, target);
  const before = fs.statSync(target).size;
  if (opts.strip) tool('strip', ['--strip-unneeded', target]);

  const info = inspect(target);
  if (info.problems.length) {
    fs.rmSync(target);
    fail(`${source} is not fit to ship: ${info.problems.join('; ')}`);
  }
  // It must load and report what was built, in a fresh process.
  const check = spawnSync(process.execPath, ['-e', 'const d = require(process.argv[1]).devices(); console.log(JSON.stringify({ cuda: d.cuda.compiled, openmp: d.cpu.openmp, simd: d.cpu.simd }))', target], { encoding: 'utf8' });
  if (check.status !== 0) {
    fs.rmSync(target);
    fail(`the prebuild does not load: ${check.stderr}`);
  }
  const loaded = JSON.parse(check.stdout);
  if (loaded.cuda !== withCuda || !loaded.openmp) {
    fs.rmSync(target);
    fail(`the prebuild reports CUDA ${loaded.cuda} and multi-threaded kernels ${loaded.openmp}; expected CUDA ${withCuda} and multi-threaded kernels true`);
  }
  const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
  console.log(`prebuild: wrote ${path.relative(root, target)}: ${mb(fs.statSync(target).size)}` +
    `${opts.strip ? ` (${mb(before)} before strip)` : ''}; CPU (thread pool, SIMD dispatch)` +
    `${withCuda ? ` + CUDA ${found[0]}` : ''}; needs ${info.needed.join(', ')}; glibc >= ${info.glibc}, libstdc++ GLIBCXX >= ${info.glibcxx}`);
}

main();
