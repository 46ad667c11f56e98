// The package as its users get it: `npm pack`, then installs of the tarball into three scratch
// projects (CommonJS, ES modules, strict TypeScript), each importing the root, both sub-paths
// (dendrite-bench/kernels, dendrite-bench/data) and package.json through the exports map, training
// an MLP and a segregated-dendrite network on mnist-10k, evaluating, saving and reloading, and
// running a kernel. When this checkout has a prebuilt addon (prebuilds/, from `npm run prebuilds`;
// CI makes one), the tarball ships it and the consumers must load it with no DENDRITE_ADDON: the
// CommonJS project installs with the install scripts (dendrite-bench's must find the prebuild and
// build nothing), the others with --ignore-scripts. Without a prebuild, all install with
// --ignore-scripts (nothing is built) and load this checkout's built addon through DENDRITE_ADDON.
// One more run points DENDRITE_ADDON at a missing file: the pure parts must still work, and a
// kernel call must name the fix. The consumers live in test/consumers/.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';

const root = path.join(__dirname, '..', '..');
const fixtures = path.join(root, 'test', 'consumers');
const addon = process.env.DENDRITE_ADDON
  ? path.resolve(process.env.DENDRITE_ADDON)
  : path.join(root, 'build', 'Release', 'dendrite.node');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const typeRoots = path.join(root, 'node_modules', '@types');

// The prebuilt addon node-gyp-build would pick here (prebuilds/<platform>-<arch>/), as shipped.
const prebuildDir = path.join('prebuilds', `${process.platform}-${process.arch}`);
const prebuild = (fs.existsSync(path.join(root, prebuildDir)) ? fs.readdirSync(path.join(root, prebuildDir)) : [])
  .filter((f) => f.endsWith('.node')).map((f) => path.join(prebuildDir, f))[0];

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npmVersion = spawnSync(npm, ['--version'], { encoding: 'utf8', shell: process.platform === 'win32' });
const why = npmVersion.error || npmVersion.status !== 0
  ? 'npm not found on PATH'
  : !prebuild && !fs.existsSync(addon)
    ? `the addon ${addon} is not built (npm run build) and there is no prebuild (npm run prebuilds)`
    : undefined;

// The parent npm (under `npm test`) exports its configuration; the scratch installs must not
// inherit its prefix or package context.
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(package_|lifecycle_)|^npm_config_(\w*prefix|global|ignore_scripts|workspaces?)$/i.test(k)) continue;
    if (k === 'DENDRITE_ADDON' || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...extra };
}

interface Run {
  status: number | null;
  output: string;
  seconds: number;
}

// Runs a command without blocking the event loop (the three installs run at the same time).
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, shell: process.platform === 'win32' });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const done = (status: number | null, extra = '') =>
      resolve({ status, output: output + extra, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    child.on('error', (err) => done(null, `\n${err.message}`));
    child.on('close', (status) => done(status));
  });
}

function describe(what: string, r: Run): string {
  return `${what} exited with ${r.status} after ${r.seconds.toFixed(1)} s:\n${r.output.slice(-4000)}`;
}

function lastJson(r: Run): Record<string, unknown> {
  const line = r.output.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as Record<string, unknown>) : {};
}

// Kilobytes under a folder (du -sk), or NaN where du is missing.
function kilobytes(dir: string): number {
  const r = spawnSync('du', ['-sk', dir], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split('\t')[0]) : NaN;
}

const title = `the packed package installs and works from CommonJS, ES modules and strict TypeScript (node16, bundler), ${
  prebuild ? `loading the shipped prebuild ${prebuild}` : 'loading DENDRITE_ADDON'}, and without the addon`;

(why ? test.skip : test)(`${title}${why ? ` [skipped: ${why}]` : ''}`, async (t) => {
  t.timeout(300_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-consumers-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const env = cleanEnv();

  // Pack what is compiled now (--ignore-scripts: no `prepare` recompilation).
  const pack = await run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], root, env);
  t.is(pack.status, 0, describe('npm pack', pack));
  const packed = (JSON.parse(pack.output.slice(pack.output.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>)[0];
  const tarball = path.join(tmp, packed.filename);
  const shipped = packed.files.map((f) => f.path);
  for (const file of ['LICENSE', 'README.md', 'docs/papers.md', 'data/mnist-10k-images-idx3-ubyte.gz', 'dist/src/index.js',
    'dist/src/index.d.ts', 'dist/src/kernels.d.ts', 'dist/src/data/index.d.ts', 'schemas/experiment.schema.json']) {
    t.true(shipped.includes(file), `the tarball ships ${file}`);
  }
  t.deepEqual(shipped.filter((f) => f.endsWith('.map') || /^(dist\/)?(test|bench)\/|^native\/(test|bench)\/|^build/.test(f)), [],
    'no source maps (their sources are not shipped), no test or bench programs or their sources, no build folder');
  t.deepEqual(shipped.filter((f) => f.startsWith('prebuilds/')), prebuild ? [prebuild.split(path.sep).join('/')] : [],
    prebuild ? 'the tarball ships the prebuild, and nothing else under prebuilds/' : 'no prebuilds without npm run prebuilds');

  // Three scratch projects, installed at the same time.
  const projects = {
    cjs: { type: 'commonjs', files: ['consumer.cjs', 'no-addon.cjs'] },
    esm: { type: 'module', files: ['consumer.mjs'] },
    ts: { type: 'commonjs', files: ['consumer.cts', 'consumer-esm.mts'] },
  };
  for (const [name, p] of Object.entries(projects)) {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true, type: p.type }));
    for (const f of p.files) fs.copyFileSync(path.join(fixtures, f), path.join(dir, f));
  }
  // With a prebuild, the CommonJS project installs with the install scripts (dendrite-bench's must
  // find the prebuild and build nothing; its message is shown), the others with --ignore-scripts.
  const withScripts = (name: string) => prebuild !== undefined && name === 'cjs';
  const installs = await Promise.all(Object.keys(projects).map((name) => {
    const dir = path.join(tmp, name);
    return run(npm, ['install', withScripts(name) ? '--foreground-scripts' : '--ignore-scripts', '--prefer-offline',
      '--no-audit', '--no-fund', '--loglevel=error', '--prefix', dir, tarball], dir, env);
  }));
  installs.forEach((r, i) => t.is(r.status, 0, describe(`npm install (${Object.keys(projects)[i]})`, r)));
  if (installs.some((r) => r.status !== 0)) return;
  t.log(`npm pack ${pack.seconds.toFixed(1)} s (tarball ${(fs.statSync(tarball).size / 1e6).toFixed(1)} MB); installs ` +
    `${installs.map((r, i) => `${r.seconds.toFixed(1)} s${withScripts(Object.keys(projects)[i]) ? ' (install script run)' : ''}`).join(', ')}; ` +
    `installed: the package ${(kilobytes(path.join(tmp, 'cjs', 'node_modules', 'dendrite-bench')) / 1e3).toFixed(1)} MB, ` +
    `with its dependencies ${(kilobytes(path.join(tmp, 'cjs', 'node_modules')) / 1e3).toFixed(1)} MB`);
  // The optional peers (better-sqlite3 for study files, cmake-js for builds from source) are not
  // installed with the package, and the whole install stays under 15 MB.
  for (const peer of ['better-sqlite3', 'cmake-js']) t.false(fs.existsSync(path.join(tmp, 'cjs', 'node_modules', peer)), `${peer} is not installed`);
  const installedMb = kilobytes(path.join(tmp, 'cjs', 'node_modules')) / 1024;
  if (!Number.isNaN(installedMb)) t.true(installedMb < 15, `the package and its dependencies take ${installedMb.toFixed(1)} MiB`);
  Object.keys(projects).forEach((name, i) => {
    const installed = path.join(tmp, name, 'node_modules', 'dendrite-bench');
    t.false(fs.existsSync(path.join(installed, 'build')), `${name}: the install built nothing`);
    if (withScripts(name)) {
      t.regex(installs[i].output, new RegExp(`dendrite-bench: using the prebuilt addon ${prebuild!.split(path.sep).join('/')}`),
        `${name}: the install script took the prebuild`);
    }
  });

  // The install script's choice, without building (--dry-run): the prebuild where it matches; a
  // build from source where none matches (node-gyp-build's LIBC override: as on Alpine) or when asked.
  if (prebuild) {
    const pkgDir = path.join(tmp, 'cjs', 'node_modules', 'dendrite-bench');
    const decide = (extra: Record<string, string>) => {
      const e = cleanEnv(extra);
      for (const k of ['DENDRITE_BUILD', 'DENDRITE_CUDA', 'DENDRITE_CUDA_ARCHITECTURES', 'DENDRITE_OPENMP', 'DENDRITE_SANITIZE',
        'DENDRITE_TESTS', 'DENDRITE_NO_PREBUILD', 'LIBC']) if (!(k in extra)) delete e[k];
      return run(process.execPath, [path.join('scripts', 'build-addon.js'), '--install', '--dry-run'], pkgDir, e);
    };
    const [found, musl, asked] = await Promise.all([decide({}), decide({ LIBC: 'musl' }), decide({ DENDRITE_NO_PREBUILD: '1' })]);
    t.regex(found.output, /^dendrite-bench: using the prebuilt addon /m, describe('install script (prebuild)', found));
    t.notRegex(found.output, /would build/);
    t.regex(musl.output, /no usable prebuilt addon \(No native build was found for .*libc=musl.*\); building from source[^]*would build with/,
      describe('install script (no matching prebuild)', musl));
    t.regex(asked.output, /building the addon from source \(DENDRITE_NO_PREBUILD=1\)[^]*would build with/,
      describe('install script (DENDRITE_NO_PREBUILD=1)', asked));
  }

  // TypeScript: node16 (compiled and run below) and bundler (type-checked), strict, library types checked.
  const tsOptions = { target: 'ES2022', strict: true, esModuleInterop: true, skipLibCheck: false, typeRoots: [typeRoots], types: ['node'] };
  const tsFiles = projects.ts.files;
  const tsDir = path.join(tmp, 'ts');
  fs.writeFileSync(path.join(tsDir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { ...tsOptions, module: 'node16', moduleResolution: 'node16', outDir: 'out' }, files: tsFiles }));
  fs.writeFileSync(path.join(tsDir, 'tsconfig.bundler.json'), JSON.stringify({
    compilerOptions: { ...tsOptions, module: 'preserve', moduleResolution: 'bundler', noEmit: true }, files: tsFiles }));
  const [node16, bundler] = await Promise.all([
    run(process.execPath, [tsc, '-p', 'tsconfig.json'], tsDir, env),
    run(process.execPath, [tsc, '-p', 'tsconfig.bundler.json'], tsDir, env),
  ]);
  t.is(node16.status, 0, describe('tsc (node16)', node16));
  t.is(bundler.status, 0, describe('tsc (bundler)', bundler));

  // The consumers: with the shipped prebuild and no override, else with this checkout's addon.
  const withAddon = prebuild ? cleanEnv({ DENDRITE_NUM_THREADS: '1' }) : cleanEnv({ DENDRITE_ADDON: addon, DENDRITE_NUM_THREADS: '1' });
  const consumers: Array<[string, string, string[]]> = [
    ['cjs', 'CommonJS', ['consumer.cjs', '.']],
    ['esm', 'ES module', ['consumer.mjs', '.']],
    ['ts', 'TypeScript (CommonJS output)', ['out/consumer.cjs', '.']],
    ['ts', 'TypeScript (ES module output)', ['out/consumer-esm.mjs']],
  ];
  for (const [dir, what, args] of consumers) {
    if (dir === 'ts' && node16.status !== 0) continue;
    const r = await run(process.execPath, args, path.join(tmp, dir), withAddon);
    t.is(r.status, 0, describe(`the ${what} consumer`, r));
    const result = lastJson(r);
    const expected = prebuild
      ? fs.realpathSync(path.join(tmp, dir, 'node_modules', 'dendrite-bench', prebuild))
      : addon;
    t.deepEqual(result.addon, [expected], `the ${what} consumer loaded ${expected}`);
    t.log(`${what}: ${JSON.stringify({ ...result, addon: undefined })} (${r.seconds.toFixed(1)} s)`);
  }

  // The CLI's doctor names the same file (the prebuild: no CMake build to describe).
  const doctor = await run(process.execPath, [path.join('node_modules', 'dendrite-bench', 'dist', 'src', 'cli', 'main.js'),
    'doctor', '--json'], path.join(tmp, 'cjs'), withAddon);
  t.is(doctor.status, 0, describe('dendrite-bench doctor', doctor));
  const report = JSON.parse(doctor.output.slice(doctor.output.indexOf('{'))) as { addon: { loaded: boolean; file?: string } };
  t.deepEqual(report.addon, { loaded: true,
    file: prebuild ? fs.realpathSync(path.join(tmp, 'cjs', 'node_modules', 'dendrite-bench', prebuild)) : addon });

  // Without the addon.
  const missing = path.join(tmp, 'no-such-build', 'dendrite.node');
  const bare = await run(process.execPath, ['no-addon.cjs'], path.join(tmp, 'cjs'), cleanEnv({ DENDRITE_ADDON: missing }));
  t.is(bare.status, 0, describe('the no-addon consumer', bare));
  t.log(`without the addon: ${JSON.stringify(lastJson(bare))}`);
});
