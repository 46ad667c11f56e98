// Training throughput of the native backprop baselines beside PyTorch's CPU throughput for the
// same models, measured in the same run:
//   MLP 784-500-10, CNN [1,16,32] (kernels 5, padding 2) on 1x28x28 input, CNN [3,16,32] on 3x32x32,
//   all with Adam and mini-batches of 100 drawn in a fresh random order each round.
//
//   npm run bench -- baselines [--json] [--rounds=N] [--models=mlp,cnn,cifar] [--threads=N]
//                              [--examples=N] [--no-torch] [--torch-blas=openblas|default]
//                              [--device=cpu|cuda|cuda:N|auto]
// (PyTorch runs on the CPU only, so on another device ours runs alone.)
//
// Ours: Sequential.trainChunk over N examples (uint8 images converted to float per batch
// natively). PyTorch at its best: the whole set converted to a float tensor once, batches
// gathered by index, torch.set_num_threads equal to our thread count, and OpenBLAS (when
// installed) instead of Debian's reference libblas. Rounds alternate ours / PyTorch so that busy
// phases of a shared machine hit both; each figure is the best round (the median is printed too),
// and the ratio is given both as best / best and as the median of the per-round ratios.
// Throughput is also given as GFLOP/s (dense FLOPs of the linear and convolution layers,
// bench/peak.ts) and as a fraction of the machine's measured GEMM peak (our 1024^3 GEMM).
// A Python with torch is looked for in DENDRITE_TORCH_PYTHON, then every python3 on the PATH and
// /usr/bin/python3 (Debian: apt-get install python3-torch libopenblas0-openmp).
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { native, nativeClasses, type DeviceString, type SequentialLayer } from '../src/native';
import { cnnLayers } from '../src/models/cnn';
import { mlpLayers } from '../src/models/mlp';
import { measuredGemmPeak, trainingFlops } from './peak';

export const description = 'training examples/s of the MLP and CNN baselines vs PyTorch (CPU), or on --device';

interface ModelCase {
  key: string;
  name: string;
  input: [number, number, number];
  spec: { kind: 'mlp'; hidden: number[] } | { kind: 'cnn'; channels: number[]; kernel: number; padding: number };
  examples: number;
}

const CASES: ModelCase[] = [
  { key: 'mlp', name: 'MLP 784-500-10', input: [1, 28, 28], spec: { kind: 'mlp', hidden: [500] }, examples: 10000 },
  { key: 'cnn', name: 'CNN [1,16,32] k5 p2', input: [1, 28, 28], spec: { kind: 'cnn', channels: [16, 32], kernel: 5, padding: 2 }, examples: 2000 },
  { key: 'cifar', name: 'CNN [3,16,32] k5 p2', input: [3, 32, 32], spec: { kind: 'cnn', channels: [16, 32], kernel: 5, padding: 2 }, examples: 2000 },
];
const BATCH = 100;

interface Options {
  json: boolean;
  rounds: number;
  models: string[];
  threads: number;
  examples?: number;
  torch: boolean;
  torchBlas: 'openblas' | 'default';
  device: string;
}

function parseArgs(args: string[]): Options {
  const o: Options = {
    json: false, rounds: 5, models: CASES.map((c) => c.key), threads: native.devices().cpu.defaultThreads, torch: true,
    torchBlas: 'openblas', device: 'cpu',
  };
  for (const a of args) {
    const [key, value] = a.split('=', 2);
    const int = (min: number): number => {
      const v = Number(value);
      if (!Number.isInteger(v) || v < min) throw new RangeError(`baselines: ${key} expects an integer >= ${min}, got "${value}"`);
      return v;
    };
    if (a === '--json') o.json = true;
    else if (a === '--no-torch') o.torch = false;
    else if (key === '--rounds') o.rounds = int(1);
    else if (key === '--threads') o.threads = int(1);
    else if (key === '--examples') o.examples = int(BATCH);
    else if (key === '--models') {
      o.models = (value ?? '').split(',').filter((s) => s !== '');
      for (const m of o.models) {
        if (!CASES.some((c) => c.key === m)) throw new RangeError(`baselines: unknown model "${m}" (known: ${CASES.map((c) => c.key).join(', ')})`);
      }
    } else if (key === '--torch-blas') {
      if (value !== 'openblas' && value !== 'default') throw new RangeError('baselines: --torch-blas must be openblas or default');
      o.torchBlas = value;
    } else if (key === '--device') {
      // "auto" resolved here, so that the peak and PyTorch are skipped only where ours leaves the CPU.
      o.device = native.resolveDevice(value ?? '').device;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench -- baselines [--json] [--rounds=N (5)] [--models=mlp,cnn,cifar] [--threads=N] [--examples=N]\n' +
          '                                 [--no-torch] [--torch-blas=openblas|default] [--device=cpu|cuda|cuda:N|auto]\n',
      );
      process.exit(0);
    } else throw new RangeError(`baselines: unknown option "${a}"`);
  }
  return o;
}

/** Deterministic pseudo-images (a hash of the index), labels cycling 0..9. */
function syntheticData(c: ModelCase, n: number): { images: Uint8Array; labels: Uint8Array } {
  const size = c.input[0] * c.input[1] * c.input[2];
  const images = new Uint8Array(n * size);
  for (let i = 0; i < images.length; i++) images[i] = Math.imul(i + 1, 2654435761) >>> 24;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  return { images, labels };
}

function layersOf(c: ModelCase): SequentialLayer[] {
  return c.spec.kind === 'mlp'
    ? mlpLayers(c.spec.hidden, 10)
    : cnnLayers({ channels: c.spec.channels, kernels: c.spec.kernel, stride: 1, padding: c.spec.padding }, 10);
}

function shuffled(n: number, seed: number): Int32Array {
  const a = Int32Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// PyTorch worker: one persistent process answering JSON lines.

const TORCH_WORKER = String.raw`
import ctypes, json, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1])
torch.set_num_threads(threads)

def blas():
    libs = []
    with open('/proc/self/maps') as f:
        for line in f:
            p = line.split()[-1]
            if 'blas' in os.path.basename(p) and p not in libs:
                libs.append(p)
    core = None
    for p in libs:
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            core = lib.openblas_get_corename().decode()
            break
        except Exception:
            pass
    return libs, core

def build(spec, inp):
    c, h, w = inp
    if spec['kind'] == 'mlp':
        layers, n = [nn.Flatten()], c * h * w
        for width in spec['hidden']:
            layers += [nn.Linear(n, width), nn.ReLU()]
            n = width
        layers.append(nn.Linear(n, 10))
        return nn.Sequential(*layers)
    layers, ch = [], c
    for out in spec['channels']:
        layers += [nn.Conv2d(ch, out, spec['kernel'], 1, spec['padding']), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
        ch = out
    with torch.no_grad():
        feats = nn.Sequential(*layers)(torch.zeros(1, c, inp[1], inp[2])).numel()
    layers += [nn.Flatten(), nn.Linear(feats, 10)]
    return nn.Sequential(*layers)

models = {}
libs, core = blas()
torch.zeros(2, 2) @ torch.zeros(2, 2)
libs, core = blas()
print(json.dumps({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': libs,
                  'openblasCore': core, 'mkldnn': torch.backends.mkldnn.is_available(), 'python': sys.executable}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    key = req['key']
    if req['op'] == 'setup':
        torch.manual_seed(0)
        n, inp = req['examples'], req['input']
        size = inp[0] * inp[1] * inp[2]
        idx = torch.arange(n * size, dtype=torch.int64)
        pixels = (((idx + 1) * 2654435761) % (1 << 32)) >> 24
        x = (pixels.to(torch.float32) / 255).reshape(n, *inp)
        y = torch.arange(n) % 10
        model = build(req['spec'], inp)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        models[key] = (model, opt, x, y)
        print(json.dumps({'ok': True}), flush=True)
    elif req['op'] == 'time':
        model, opt, x, y = models[key]
        model.train()
        n = x.shape[0]
        perm = torch.randperm(n)
        t = time.perf_counter()
        for i in range(0, n, req['batch']):
            b = perm[i:i + req['batch']]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[b]), y[b])
            loss.backward()
            opt.step()
        print(json.dumps({'seconds': time.perf_counter() - t}), flush=True)
`;

interface TorchInfo {
  python: string;
  torch: string;
  threads: number;
  blas: string[];
  openblasCore: string | null;
  mkldnn: boolean;
  ldLibraryPath?: string;
}

class TorchWorker {
  private lines: AsyncIterator<string>;
  private constructor(private proc: ChildProcessWithoutNullStreams, readonly info: TorchInfo) {
    this.lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }

  static async start(python: string, threads: number, ldPath: string | undefined): Promise<TorchWorker> {
    // PyTorch at its best: the environment's OPENBLAS_CORETYPE (Haswell here) would hold OpenBLAS to
    // AVX2 kernels on an AVX-512 machine, so it is removed (with OPENBLAS_L2_SIZE, set beside it).
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    if (ldPath) env.LD_LIBRARY_PATH = env.LD_LIBRARY_PATH ? `${ldPath}:${env.LD_LIBRARY_PATH}` : ldPath;
    const proc = spawn(python, ['-c', TORCH_WORKER, String(threads)], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const worker = new TorchWorker(proc, undefined as unknown as TorchInfo);
    const first = await worker.lines.next();
    if (first.done) throw new Error(`the PyTorch worker exited: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const info = JSON.parse(first.value) as TorchInfo;
    if (ldPath) info.ldLibraryPath = ldPath;
    (worker as { info: TorchInfo }).info = info;
    return worker;
  }

  async request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.proc.stdin.write(`${JSON.stringify(req)}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error('the PyTorch worker exited');
    return JSON.parse(r.value) as Record<string, unknown>;
  }

  stop(): void {
    this.proc.stdin.end();
    this.proc.kill();
  }
}

/** The first Python that imports torch, or why none does. */
function findTorchPython(): { python?: string; tried: string[] } {
  const tried: string[] = [];
  const forced = process.env.DENDRITE_TORCH_PYTHON;
  const candidates: string[] = [];
  if (forced) candidates.push(forced);
  else {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      const p = path.join(dir, 'python3');
      if (dir && fs.existsSync(p)) candidates.push(p);
    }
    candidates.push('/usr/bin/python3');
  }
  const seen = new Set<string>();
  for (const c of candidates) {
    let real = c;
    try {
      real = fs.realpathSync(c);
    } catch {
      /* tried as is */
    }
    if (seen.has(c)) continue;
    seen.add(c);
    const r = spawnSync(c, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120000 });
    if (r.status === 0) return { python: c, tried };
    tried.push(`${c}${real !== c ? ` (${real})` : ''}: ${r.error ? r.error.message : (r.stderr || '').trim().split('\n').pop()}`);
    if (forced) break;
  }
  return { tried };
}

/** A folder holding OpenBLAS as libblas.so.3 (Debian's alternatives), to put first on LD_LIBRARY_PATH. */
function openblasDir(): string | undefined {
  for (const dir of ['/usr/lib/x86_64-linux-gnu/openblas-openmp', '/usr/lib/x86_64-linux-gnu/openblas-pthread',
    '/usr/lib/aarch64-linux-gnu/openblas-openmp', '/usr/lib/aarch64-linux-gnu/openblas-pthread']) {
    if (fs.existsSync(path.join(dir, 'libblas.so.3'))) return dir;
  }
  return undefined;
}

interface Row {
  model: string;
  input: string;
  examples: number;
  ours: { best: number; median: number };
  torch?: { best: number; median: number };
  ratio?: number;  // best of ours / best of PyTorch
  pairedRatio?: number;  // median over rounds of ours / PyTorch within the round
  mflopsPerExample: number;
  oursGflops: number;  // at our best round
  fractionOfPeak: number | null;  // oursGflops / the measured GEMM peak (CPU only)
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function run(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const log = (s: string): void => {
    if (!o.json) process.stdout.write(`${s}\n`);
  };
  const cpu = native.devices().cpu;
  const load0 = os.loadavg()[0];
  log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${cpu.logicalCores} logical cores, SIMD ${cpu.simd}, ` +
    `multi-threaded ${cpu.openmp}; our threads ${o.threads}; load average ${load0.toFixed(2)}`);

  // Before PyTorch starts: its idle OpenMP threads would spin on our cores. (On a GPU the
  // addon's GEMM includes host copies, so no peak is measured there.)
  const peak = o.device === 'cpu' ? await measuredGemmPeak(o.threads) : null;
  if (peak !== null) log(`measured GEMM peak (ours, 1024^3, ${o.threads} threads): ${peak.toFixed(0)} GFLOP/s`);

  let torch: TorchWorker | undefined;
  let torchSkip: string | undefined;
  if (o.torch && o.device !== 'cpu') {
    torchSkip = `ours runs on ${o.device}; the PyTorch comparison is CPU-only`;
    log(`PyTorch: skipped: ${torchSkip}`);
  } else if (o.torch) {
    const found = findTorchPython();
    if (!found.python) {
      torchSkip = `no Python with torch found (tried: ${found.tried.join('; ') || 'none'}); install python3-torch ` +
        '(Debian) or set DENDRITE_TORCH_PYTHON';
    } else {
      const ld = o.torchBlas === 'openblas' ? openblasDir() : undefined;
      try {
        torch = await TorchWorker.start(found.python, o.threads, ld);
      } catch (err) {
        torchSkip = `PyTorch worker failed to start with ${found.python}: ${(err as Error).message}`;
      }
      if (torch) {
        const i = torch.info;
        const blas = i.blas.length > 0 ? i.blas.join(', ') : 'no BLAS library mapped (MKL or built-in)';
        log(`PyTorch ${i.torch} (${i.python}), ${i.threads} threads, BLAS: ${blas}` +
          `${i.openblasCore ? ` (OpenBLAS core ${i.openblasCore})` : ''}, oneDNN ${i.mkldnn}` +
          `${i.ldLibraryPath ? `; LD_LIBRARY_PATH=${i.ldLibraryPath}` : ''}`);
        if (!i.openblasCore && i.blas.some((b) => /libblas\.so/.test(b))) {
          log('warning: PyTorch uses the reference BLAS (slow); install libopenblas0-openmp for a fair comparison');
        }
      }
    }
    if (torchSkip) log(`PyTorch: skipped: ${torchSkip}`);
  }

  const rows: Row[] = [];
  try {
    for (const c of CASES.filter((x) => o.models.includes(x.key))) {
      const n = Math.ceil((o.examples ?? c.examples) / BATCH) * BATCH;
      const { images, labels } = syntheticData(c, n);
      const net = new nativeClasses.Sequential({
        input: { channels: c.input[0], height: c.input[1], width: c.input[2] }, classes: 10, layers: layersOf(c),
        batchSize: BATCH, seed: 1, threads: o.threads, device: o.device as DeviceString,
      });
      // Warm-up: a few batches each.
      await net.trainChunk({ images, labels, order: shuffled(n, 99), count: 3 * BATCH });
      if (torch) {
        await torch.request({ op: 'setup', key: c.key, spec: c.spec, input: c.input, examples: n });
        await torch.request({ op: 'time', key: c.key, batch: BATCH });
      }
      const ours: number[] = [];
      const theirs: number[] = [];
      // A pause before each timed round lets the other side's idle threads stop spinning (both
      // runtimes keep OpenMP workers busy-waiting for a while after their last parallel region).
      const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 250));
      for (let r = 0; r < o.rounds; r++) {
        await settle();
        const t = process.hrtime.bigint();
        await net.trainChunk({ images, labels, order: shuffled(n, r) });
        ours.push(n / (Number(process.hrtime.bigint() - t) / 1e9));
        if (torch) {
          await settle();
          const reply = await torch.request({ op: 'time', key: c.key, batch: BATCH });
          theirs.push(n / (reply.seconds as number));
        }
      }
      net.dispose();
      const flops = trainingFlops({ channels: c.input[0], height: c.input[1], width: c.input[2] }, layersOf(c));
      const best = Math.max(...ours);
      const row: Row = {
        model: c.name, input: c.input.join('x'), examples: n,
        ours: { best, median: median(ours) },
        mflopsPerExample: flops / 1e6, oursGflops: (best * flops) / 1e9,
        fractionOfPeak: peak === null ? null : (best * flops) / 1e9 / peak,
      };
      if (theirs.length > 0) {
        row.torch = { best: Math.max(...theirs), median: median(theirs) };
        row.ratio = row.ours.best / row.torch.best;
        // Rounds run back to back, so the ratio within a round sees the same machine phase.
        row.pairedRatio = median(ours.map((v, i) => v / (theirs[i] ?? NaN)));
      }
      rows.push(row);
      log(`${c.name.padEnd(22)} ${row.input.padEnd(8)} ours ${Math.round(row.ours.best).toString().padStart(7)} ex/s ` +
        `(median ${Math.round(row.ours.median)})` +
        (row.torch
          ? `   PyTorch ${Math.round(row.torch.best).toString().padStart(7)} ex/s (median ${Math.round(row.torch.median)})` +
            `   ratio ${row.ratio!.toFixed(2)}x (best/best), ${row.pairedRatio!.toFixed(2)}x (median of rounds)`
          : ''));
      log(`${''.padEnd(31)} ${row.mflopsPerExample.toFixed(2)} MFLOP/example: ours ${row.oursGflops.toFixed(1)} GFLOP/s` +
        (row.fractionOfPeak === null ? '' : `, ${(100 * row.fractionOfPeak).toFixed(0)} % of the GEMM peak`) +
        (row.torch ? `; PyTorch ${((row.torch.best * flops) / 1e9).toFixed(1)} GFLOP/s` : ''));
    }
  } finally {
    torch?.stop();
  }
  const load1 = os.loadavg()[0];
  log(`load average at the end ${load1.toFixed(2)} (other processes on the machine slow both sides)`);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({
      device: o.device, machine: { cpu: os.cpus()[0]?.model, logicalCores: cpu.logicalCores, simd: cpu.simd, threads: o.threads, load: [load0, load1] },
      gemmPeakGflops: peak, batch: BATCH, rounds: o.rounds, torch: torch?.info ?? null, torchSkipped: torchSkip ?? null, rows,
    }, null, 2)}\n`);
  }
}
