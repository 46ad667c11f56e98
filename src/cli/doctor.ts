// `dendrite-bench doctor`: what was built, what this machine has, and why CUDA is or is not usable
// with how to fix it. Works without the addon (then it says why the addon does not load).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { Command } from 'commander';

import { packageRoot } from '../data/paths';
import { addonStatus, native, type DevicesInfo } from '../native';

export interface DoctorReport {
  node: string;
  addon: { loaded: boolean; file?: string; error?: string };
  build: { cudaRequested?: string; cudaArchitectures?: string; openmp?: string; buildType?: string } | null;
  devices: DevicesInfo | null;
  tools: Record<string, string | null>;
  /** What to do, one line each; empty when everything usable is in use. */
  advice: string[];
}

/** The first line a tool prints for --version, or null when it is not on the PATH. */
function toolVersion(cmd: string, args = ['--version']): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error || r.status !== 0) return null;
  return `${r.stdout}${r.stderr}`.split('\n').map((l) => l.trim()).find((l) => /\d+\.\d+/.test(l)) ?? 'found';
}

/** Settings of the CMake build the addon came from (build/CMakeCache.txt), when there is one. */
function cmakeCache(): DoctorReport['build'] {
  const file = path.join(packageRoot(), process.env.DENDRITE_BUILD_DIR ?? 'build', 'CMakeCache.txt');
  if (!fs.existsSync(file)) return null;
  const text = fs.readFileSync(file, 'utf8');
  const get = (key: string): string | undefined => new RegExp(`^${key}:[A-Z]+=(.*)$`, 'm').exec(text)?.[1];
  return {
    cudaRequested: get('DENDRITE_CUDA'), cudaArchitectures: get('CMAKE_CUDA_ARCHITECTURES'),
    openmp: get('DENDRITE_OPENMP'), buildType: get('CMAKE_BUILD_TYPE'),
  };
}

export function doctor(): DoctorReport {
  const status = addonStatus();
  const devices = status.loaded ? native.devices() : null;
  const tools = {
    cmake: toolVersion('cmake'), 'c++': toolVersion('c++'), nvcc: toolVersion('nvcc'),
    'nvidia-smi': toolVersion('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader']),
  };
  const advice: string[] = [];
  if (!status.loaded) {
    if (!tools.cmake && !tools['c++']) advice.push('install CMake (>= 3.19) and a C++17 compiler (g++ or clang), then run "npm rebuild dendrite-bench"');
    else if (!tools['c++']) advice.push('install a C++17 compiler (g++ or clang), then run "npm rebuild dendrite-bench"');
    else advice.push('run "npm rebuild dendrite-bench" (in a checkout: "npm run build") and read its output');
  } else if (devices && !devices.cuda.available) {
    if (!devices.cuda.compiled) {
      advice.push(tools.nvcc
        ? 'CUDA was not compiled in although nvcc is on the PATH: rebuild with DENDRITE_CUDA=ON npm rebuild dendrite-bench'
        : tools['nvidia-smi']
          ? 'this machine has an NVIDIA GPU but the addon was built without CUDA: install the CUDA toolkit (nvcc), then DENDRITE_CUDA=ON npm rebuild dendrite-bench'
          : 'no NVIDIA GPU or CUDA toolkit found: the CPU backend is used (nothing to fix unless you expected a GPU)');
    } else if (tools['nvidia-smi']) {
      advice.push(`CUDA is compiled in but unusable (${devices.cuda.reason}): check that the driver supports the CUDA runtime ${devices.cuda.runtimeVersion}`);
    } else {
      advice.push(`CUDA is compiled in but no GPU or driver was found (${devices.cuda.reason}): the CPU backend is used`);
    }
  }
  if (devices && !devices.cpu.openmp) advice.push('built with DENDRITE_OPENMP=OFF: kernels run on one thread (rebuild without it)');
  return {
    node: process.version,
    addon: status.loaded ? { loaded: true, file: status.file } : { loaded: false, error: status.error },
    build: cmakeCache(),
    devices,
    tools,
    advice,
  };
}

export function formatDoctor(r: DoctorReport): string {
  const lines = [`node ${r.node}`];
  lines.push(r.addon.loaded ? `addon: ${r.addon.file}` : `addon: NOT LOADED\n  ${r.addon.error?.replace(/\n/g, '\n  ')}`);
  if (r.build) {
    lines.push(`build: CUDA ${r.build.cudaRequested ?? '?'}${r.build.cudaArchitectures ? ` (architectures ${r.build.cudaArchitectures})` : ''}, ` +
      `threads ${r.build.openmp ?? '?'} (DENDRITE_OPENMP)${r.build.buildType ? `, ${r.build.buildType}` : ''}`);
  }
  if (r.devices) {
    const c = r.devices.cpu;
    lines.push(`cpu: ${c.logicalCores} logical cores, ${c.defaultThreads} threads by default, ${c.openmp ? 'multi-threaded' : 'single-threaded'} kernels, SIMD ${c.simd}`);
    const g = r.devices.cuda;
    if (g.architectures) lines.push(`cuda code: architectures ${g.architectures}`);
    if (g.available) {
      lines.push(`cuda: runtime ${g.runtimeVersion}, driver ${g.driverVersion}`);
      for (const d of g.devices) lines.push(`  cuda:${d.index} ${d.name}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, compute capability ${d.computeCapability}`);
    } else {
      lines.push(`cuda: ${g.compiled ? 'compiled in, ' : ''}unavailable: ${g.reason}`);
    }
  }
  lines.push(`tools: ${Object.entries(r.tools).map(([k, v]) => `${k} ${v ?? 'not found'}`).join('; ')}`);
  for (const a of r.advice) lines.push(`-> ${a}`);
  return lines.join('\n');
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('say what was built (backends, SIMD, threads, CUDA architectures), what was found, and why CUDA is or is not usable')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  dendrite-bench doctor
  dendrite-bench doctor --json`)
    .action((opts: { json?: boolean }) => {
      const r = doctor();
      console.log(opts.json ? JSON.stringify(r) : formatDoctor(r));
      if (!r.addon.loaded) process.exitCode = 1;
    });
}
