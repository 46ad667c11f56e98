// GEMM / GEMV throughput of the CPU backend beside a reference measured in the same run:
// numpy's BLAS (through a python3 subprocess) when available, else the theoretical peak.
//
//   node dist/bench/main.js gemm [--json] [--rounds=N] [--min-time=MS] [--no-numpy]
//
// Every figure is the best of several timed calls after warm-up; ours and numpy's are measured
// in alternating rounds for each case so that slow phases of a shared machine hit both.
import { spawn, spawnSync, ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';

import { native } from '../src/native';

export const description = 'GEMM/GEMV GFLOP/s of the CPU backend vs numpy (OpenBLAS) or the theoretical peak';

interface GemmCase {
  name: string;
  kind: 'gemm';
  m: number;
  n: number;
  k: number;
  transB: boolean;
}
interface GemvCase {
  name: string;
  kind: 'gemv';
  rows: number;
  cols: number;
}
type Case = GemmCase | GemvCase;

const flopsOf = (c: Case) => (c.kind === 'gemm' ? 2 * c.m * c.n * c.k : 2 * c.rows * c.cols);

function cases(): Case[] {
  const square: Case[] = [128, 256, 512, 1024, 2048].map((s) => ({
    name: `${s}^3`, kind: 'gemm', m: s, n: s, k: s, transB: false,
  }));
  return [
    ...square,
    // The segregated-dendrite model's layer: a batch of 100 inputs of 784 through 500 units, X W^T.
    { name: 'batch 100x784x500 (X*W^T)', kind: 'gemm', m: 100, n: 500, k: 784, transB: true },
    // One sample through the same layer: y = W x.
    { name: 'gemv 500x784 (W*x)', kind: 'gemv', rows: 500, cols: 784 },
  ];
}

interface Options {
  json: boolean;
  rounds: number;
  minTimeMs: number;
  numpy: boolean;
}

function parseArgs(args: string[]): Options {
  const o: Options = { json: false, rounds: 3, minTimeMs: 250, numpy: true };
  for (const a of args) {
    const [key, value] = a.split('=', 2);
    const int = (min: number) => {
      const v = Number(value);
      if (!Number.isInteger(v) || v < min) throw new RangeError(`${key} expects an integer >= ${min}, got "${value}"`);
      return v;
    };
    if (a === '--json') o.json = true;
    else if (a === '--no-numpy') o.numpy = false;
    else if (key === '--rounds') o.rounds = int(1);
    else if (key === '--min-time') o.minTimeMs = int(1);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: node dist/bench/main.js gemm [--json] [--rounds=N (3)] [--min-time=MS per measurement (250)] [--no-numpy]\n',
      );
      process.exit(0);
    } else throw new RangeError(`gemm benchmark: unknown option "${a}"`);
  }
  return o;
}

function randomArray(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

// ---- our side ----

/**
 * The same call with the reduction length cut to 1: same argument checks, output allocation and
 * round trip through the worker pool, next to no arithmetic. Its time estimates the per-call
 * overhead, which dominates small cases on machines where page faults and thread wake-ups are slow.
 */
function overheadCase(c: Case): Case {
  return c.kind === 'gemm' ? { ...c, name: `${c.name} k=1`, k: 1 } : { ...c, name: `${c.name} cols=1`, cols: 1 };
}

function makeCall(c: Case, threads: number): () => Promise<Float32Array> {
  if (c.kind === 'gemm') {
    const a = randomArray(c.m * c.k, 1), b = randomArray(c.k * c.n, 2);
    return () => native.gemm({ a, b, m: c.m, n: c.n, k: c.k, transB: c.transB, threads });
  }
  const a = randomArray(c.rows * c.cols, 3), x = randomArray(c.cols, 4);
  return () => native.gemv({ a, x, rows: c.rows, cols: c.cols, threads });
}

/** Best wall time of one call in seconds: 2 warm-up calls, then at least 5 timed calls and minTimeMs. */
async function bestTime(call: () => Promise<unknown>, minTimeMs: number): Promise<{ best: number; reps: number }> {
  await call();
  await call();
  let best = Infinity, reps = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(minTimeMs) * 1_000_000n;
  while (reps < 5 || (process.hrtime.bigint() - start < limit && reps < 2000)) {
    const t0 = process.hrtime.bigint();
    await call();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (dt < best) best = dt;
    reps++;
  }
  return { best, reps };
}

// ---- numpy reference (a persistent python3 per thread count) ----

const PY_SCRIPT = String.raw`
import json, os, sys, time, platform
import numpy as np
info = {"python": platform.python_version(), "executable": sys.executable, "numpy": np.__version__}
try:
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    info["blas"] = "%s %s" % (blas.get("name", "?"), blas.get("version", "?"))
except Exception as e:
    info["blas"] = "unknown (%s)" % e
try:
    import ctypes
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "openblas" in l.lower() and l.split()[-1].startswith("/")})
    for path in libs:
        lib = ctypes.CDLL(path)
        for fn in ("openblas_get_corename", "scipy_openblas_get_corename64_", "openblas_get_corename64_", "scipy_openblas_get_corename"):
            if hasattr(lib, fn):
                f = getattr(lib, fn); f.restype = ctypes.c_char_p
                info["blasCore"] = f().decode()
                break
except Exception:
    pass
info["threads"] = os.environ.get("OPENBLAS_NUM_THREADS")
print(json.dumps({"ready": info}), flush=True)
rng = np.random.default_rng(0)
cache = {}
for line in sys.stdin:
    req = json.loads(line)
    c = req["case"]
    key = json.dumps(c, sort_keys=True)
    if key not in cache:
        if c["kind"] == "gemm":
            a = rng.standard_normal((c["m"], c["k"]), dtype=np.float32)
            if c["transB"]:
                b = rng.standard_normal((c["n"], c["k"]), dtype=np.float32)
                cache[key] = lambda a=a, b=b: a @ b.T
            else:
                b = rng.standard_normal((c["k"], c["n"]), dtype=np.float32)
                cache[key] = lambda a=a, b=b: a @ b
        else:
            a = rng.standard_normal((c["rows"], c["cols"]), dtype=np.float32)
            x = rng.standard_normal(c["cols"], dtype=np.float32)
            cache[key] = lambda a=a, x=x: a @ x
    fn = cache[key]
    fn(); fn()
    best, reps, start, limit = float("inf"), 0, time.perf_counter(), req["minTimeMs"] / 1000.0
    while reps < 5 or (time.perf_counter() - start < limit and reps < 2000):
        t0 = time.perf_counter(); fn(); dt = time.perf_counter() - t0
        best = min(best, dt); reps += 1
    print(json.dumps({"best": best, "reps": reps}), flush=True)
`;

interface NumpyInfo {
  python: string;
  executable: string;
  numpy: string;
  blas: string;
  blasCore?: string;
  threads: string | null;
}

class NumpyWorker {
  private constructor(
    private proc: ChildProcessWithoutNullStreams,
    private lines: AsyncIterableIterator<string>,
    public info: NumpyInfo,
  ) {}

  static async start(python: string, threads: number): Promise<NumpyWorker> {
    const env = { ...process.env };
    // Let OpenBLAS pick its kernels for this CPU (the environment may pin an older core type).
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    env.OPENBLAS_NUM_THREADS = env.OMP_NUM_THREADS = env.MKL_NUM_THREADS = String(threads);
    const proc = spawn(python, ['-c', PY_SCRIPT], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = new Promise<never>((_, reject) => {
      proc.on('error', reject);
      proc.on('exit', (code) => reject(new Error(`${python} exited with ${code}: ${stderr.trim().split('\n').pop()}`)));
    });
    failed.catch(() => undefined);
    const lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    const first = await Promise.race([lines.next(), failed]);
    if (first.done) throw new Error(`${python} printed nothing`);
    return new NumpyWorker(proc, lines, (JSON.parse(first.value) as { ready: NumpyInfo }).ready);
  }

  async time(c: Case, minTimeMs: number): Promise<{ best: number; reps: number }> {
    this.proc.stdin.write(`${JSON.stringify({ case: c, minTimeMs })}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error('the numpy reference process ended early');
    return JSON.parse(r.value) as { best: number; reps: number };
  }

  stop(): void {
    this.proc.stdin.end();
    this.proc.kill();
  }
}

// ---- the machine ----

interface Machine {
  model: string;
  logicalCores: number;
  simd: string;
  openmp: boolean;
  clockGHz: number | null;
  clockSource: string;
  flopsPerCycle: number;
}

function machine(): Machine {
  const cpu = native.devices().cpu;
  let model = 'unknown', clockGHz: number | null = null, clockSource = 'unknown';
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? model;
    const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(info)?.[1];
    if (mhz) {
      clockGHz = Number(mhz) / 1000;
      clockSource = '/proc/cpuinfo cpu MHz (current/nominal; turbo may be higher)';
    }
  } catch {
    // not Linux
  }
  const lscpu = spawnSync('lscpu', [], { encoding: 'utf8' });
  const max = lscpu.status === 0 ? /^CPU max MHz:\s*([\d.]+)/m.exec(lscpu.stdout)?.[1] : undefined;
  if (max) {
    clockGHz = Number(max) / 1000;
    clockSource = 'lscpu CPU max MHz';
  }
  // Single-precision flops per cycle per core, assuming two FMA pipes of the full vector width.
  const flopsPerCycle = { avx512: 64, avx2: 32, sse2: 16, neon: 16, scalar: 4 }[cpu.simd] ?? 4;
  return { model, logicalCores: cpu.logicalCores, simd: cpu.simd, openmp: cpu.openmp, clockGHz, clockSource, flopsPerCycle };
}

// ---- the run ----

interface Row {
  case: string;
  kind: Case['kind'];
  shape: Record<string, number | boolean>;
  threads: number;
  flops: number;
  ours: { seconds: number; gflops: number; reps: number };
  /** Best time of the k=1 (cols=1) call, and GF/s net of it (null when within noise of the total). */
  overheadSeconds: number;
  oursNetGflops: number | null;
  numpy: { seconds: number; gflops: number; reps: number } | null;
  ratio: number | null;
  peakGflops: number | null;
  fractionOfPeak: number | null;
}

export async function run(args: string[]): Promise<void> {
  const opt = parseArgs(args);
  const log = (s: string) => (opt.json ? process.stderr.write(`${s}\n`) : process.stdout.write(`${s}\n`));
  const mach = machine();
  const all = Math.max(1, mach.logicalCores);
  const threadCounts = all > 1 ? [1, all] : [1];

  const python = process.env.PYTHON ?? 'python3';
  const workers = new Map<number, NumpyWorker>();
  let numpyInfo: NumpyInfo | null = null;
  let numpyError: string | null = opt.numpy ? null : 'disabled (--no-numpy)';
  if (opt.numpy) {
    try {
      for (const t of threadCounts) workers.set(t, await NumpyWorker.start(python, t));
      numpyInfo = workers.get(threadCounts[0])!.info;
    } catch (err) {
      numpyError = (err as Error).message;
      for (const w of workers.values()) w.stop();
      workers.clear();
    }
  }

  const peak = (threads: number) =>
    mach.clockGHz === null ? null : Math.min(threads, mach.logicalCores) * mach.clockGHz * mach.flopsPerCycle;

  log(`dendrite-bench gemm: ${mach.model}, ${mach.logicalCores} logical cores, SIMD ${mach.simd}, multi-threaded ${mach.openmp}`);
  log(
    `theoretical peak: ${mach.clockGHz === null ? 'unknown clock' : `${mach.clockGHz.toFixed(2)} GHz (${mach.clockSource})`}` +
      ` x ${mach.flopsPerCycle} flop/cycle/core (2 FMA pipes of full width)`,
  );
  if (numpyInfo) {
    log(
      `reference: numpy ${numpyInfo.numpy} (${numpyInfo.blas}${numpyInfo.blasCore ? `, core ${numpyInfo.blasCore}` : ''}),` +
        ` python ${numpyInfo.python} at ${numpyInfo.executable}; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE removed,` +
        ` OPENBLAS_NUM_THREADS = the thread count`,
    );
  } else {
    log(`reference: theoretical peak only (numpy unavailable: ${numpyError})`);
  }
  const overhead = await bestTime(
    () => native.gemm({ a: new Float32Array(1), b: new Float32Array(1), m: 1, n: 1, k: 1, threads: 1 }),
    100,
  );
  log(`call overhead (1x1x1 gemm round trip through the worker pool): ${(overhead.best * 1e6).toFixed(1)} us`);
  log(`best of >= 5 calls and ${opt.minTimeMs} ms per measurement, ${opt.rounds} alternating rounds\n`);

  const header = `${'case'.padEnd(28)} ${'thr'.padStart(3)} ${'ours GF/s'.padStart(10)} ${'numpy GF/s'.padStart(10)}` +
    ` ${'ours/numpy'.padStart(10)} ${'% peak'.padStart(7)} ${'call us'.padStart(8)} ${'net GF/s'.padStart(9)}`;
  log(header);
  log('-'.repeat(header.length));

  const rows: Row[] = [];
  try {
    for (const c of cases()) {
      for (const threads of threadCounts) {
        const call = makeCall(c, threads);
        const overheadCall = makeCall(overheadCase(c), threads);
        const worker = workers.get(threads);
        let ours = { best: Infinity, reps: 0 };
        let ovh = Infinity;
        let ref: { best: number; reps: number } | null = worker ? { best: Infinity, reps: 0 } : null;
        for (let r = 0; r < opt.rounds; r++) {
          const o = await bestTime(call, opt.minTimeMs);
          ours = { best: Math.min(ours.best, o.best), reps: ours.reps + o.reps };
          ovh = Math.min(ovh, (await bestTime(overheadCall, Math.min(opt.minTimeMs, 100))).best);
          if (worker && ref) {
            const n = await worker.time(c, opt.minTimeMs);
            ref = { best: Math.min(ref.best, n.best), reps: ref.reps + n.reps };
          }
        }
        const flops = flopsOf(c);
        const gf = (s: number) => flops / s / 1e9;
        const p = peak(threads);
        const row: Row = {
          case: c.name,
          kind: c.kind,
          shape: c.kind === 'gemm' ? { m: c.m, n: c.n, k: c.k, transB: c.transB } : { rows: c.rows, cols: c.cols },
          threads,
          flops,
          ours: { seconds: ours.best, gflops: gf(ours.best), reps: ours.reps },
          overheadSeconds: ovh,
          oursNetGflops: ours.best - ovh > 0.2 * ours.best ? gf(ours.best - ovh) : null,
          numpy: ref ? { seconds: ref.best, gflops: gf(ref.best), reps: ref.reps } : null,
          ratio: ref ? ref.best / ours.best : null,
          peakGflops: p,
          fractionOfPeak: p === null ? null : gf(ours.best) / p,
        };
        rows.push(row);
        log(
          `${c.name.padEnd(28)} ${String(threads).padStart(3)} ${row.ours.gflops.toFixed(1).padStart(10)}` +
            ` ${(row.numpy ? row.numpy.gflops.toFixed(1) : '-').padStart(10)}` +
            ` ${(row.ratio === null ? '-' : row.ratio.toFixed(2)).padStart(10)}` +
            ` ${(row.fractionOfPeak === null ? '-' : (100 * row.fractionOfPeak).toFixed(0)).padStart(7)}` +
            ` ${(row.overheadSeconds * 1e6).toFixed(0).padStart(8)}` +
            ` ${(row.oursNetGflops === null ? '-' : row.oursNetGflops.toFixed(1)).padStart(9)}`,
        );
      }
    }
  } finally {
    for (const w of workers.values()) w.stop();
  }

  // The project's target: at 1024^3 with all threads, at least 70% of numpy's BLAS.
  const key = rows.find((r) => r.case === '1024^3' && r.threads === all);
  const target = key && key.ratio !== null ? { case: '1024^3', threads: all, ratio: key.ratio, met: key.ratio >= 0.7 } : null;
  if (target) {
    log(`\n1024^3 with ${all} threads: ${(100 * target.ratio).toFixed(0)}% of numpy (target >= 70%: ${target.met ? 'met' : 'NOT met'})`);
  }
  log(
    'GF/s = 2mnk (gemm) or 2mn (gemv) / best time of a whole call (argument checks, output allocation,\n' +
      'round trip through the worker pool). "call us": best time of the same call with k=1 (gemv: cols=1);\n' +
      '"net GF/s": flops / (time - that), an estimate of the kernel alone (- when within noise).',
  );

  if (opt.json) {
    process.stdout.write(
      `${JSON.stringify({
        suite: 'gemm',
        date: new Date().toISOString(),
        machine: mach,
        threadCounts,
        options: { rounds: opt.rounds, minTimeMs: opt.minTimeMs },
        reference: numpyInfo ? { kind: 'numpy', ...numpyInfo } : { kind: 'peak', reason: numpyError },
        callOverheadSeconds: overhead.best,
        results: rows,
        target,
      })}\n`,
    );
  }
}
