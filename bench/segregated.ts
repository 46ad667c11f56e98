// `npm run bench -- segregated [--train N] [--test N] [--threads T] [--batch B] [--device D] [--quick]`
//
// Training and test throughput of the segregated-dendrite network (src/models/segregated.ts) on
// the embedded mnist-10k (10,000 real MNIST digits): 784-500-10 and 784-500-100-10, spiking and
// non-spiking, online (batch 1, the faithful mode) and batched (summed updates, docs/papers.md §17.3).
//
// FLOPs per example are those of the original dense algorithm (docs/papers.md §19.3), which our
// event-driven simulator computes exactly with far fewer operations: per step 2 n_m fan_in_m for
// every basal drive and 2 n_m n_fb for every apical drive, plus 2 n_m fan_in_m per layer for
// the weight update of a training example. "GFLOP/s" is that count times examples per second,
// "% peak" the same as a fraction of the machine's measured GEMM peak (our 1024^3 GEMM with the
// same threads, bench/peak.ts): above 100 % where events save more than the GEMM loses.
// "cpu-ms/ex" is the process CPU time (all threads) per example: on a shared machine it shows
// the cost of the work when the wall clock is inflated by other processes.
import { loadDataset } from '../src/data';
import { DigitDataset, SegregatedNetwork, SegregatedOptions } from '../src/models/segregated';
import { native } from '../src/native';
import { measuredGemmPeak } from './peak';

/** n digits spread evenly over the set (mnist-10k is sorted by class: the first n would be all zeros). */
export function subset(d: DigitDataset, n: number): DigitDataset {
  const count = Math.min(n, d.count);
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  for (let j = 0; j < count; j++) {
    const k = Math.floor((j * d.count) / count);
    images.set(d.images.subarray(k * 784, (k + 1) * 784), j * 784);
    labels[j] = d.labels[k];
  }
  return { images, labels, count };
}

/** Dense-equivalent FLOPs of one step (basal and apical products) and of one update. */
function flops(layers: number[], nIn: number): { step: number; update: number } {
  let step = 0;
  let update = 0;
  const M = layers.length;
  for (let m = 0; m < M; m++) {
    const fanIn = m === 0 ? nIn : layers[m - 1];
    step += 2 * layers[m] * fanIn;
    update += 2 * layers[m] * fanIn;
    if (m < M - 1) step += 2 * layers[m] * layers[M - 1];
  }
  return { step, update };
}

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${args[i + 1]}`);
  return v;
}

export const description = 'training and test examples/s of the segregated-dendrite network (spiking and non-spiking, online and batched)';

export async function run(args: string[]): Promise<void> {
  if (args.includes('--help')) {
    console.log('segregated [--train N] [--test N] [--threads T] [--batch B] [--device cpu|cuda|cuda:N|auto] [--quick]');
    return;
  }
  const quick = args.includes('--quick');
  const nTrain = arg(args, '--train', quick ? 300 : 2000);
  const nTest = arg(args, '--test', quick ? 200 : 1000);
  const threads = arg(args, '--threads', 0) || undefined;
  const batch = arg(args, '--batch', 32);
  // --device D or --device=D; "auto" is resolved here so that the peak matches where it runs.
  const di = args.findIndex((a) => a === '--device' || a.startsWith('--device='));
  const asked = di < 0 ? 'cpu' : args[di].startsWith('--device=') ? args[di].slice(9) : args[di + 1] ?? '';
  const device = native.resolveDevice(asked).device as NonNullable<SegregatedOptions['device']>;
  const { train, test } = await loadDataset('mnist-10k');
  const tr = subset(train, nTrain);
  const te = subset(test, nTest);
  const nets: Array<[string, number[]]> = [['784-500-10', [500, 10]], ['784-500-100-10', [500, 100, 10]]];
  const peakThreads = threads ?? native.devices().cpu.defaultThreads;
  // The peak is the CPU's (on a GPU the addon's GEMM includes host copies): "-" elsewhere.
  const peak = device === 'cpu' ? await measuredGemmPeak(peakThreads) : NaN;
  const percent = (gflops: number) => (Number.isNaN(peak) ? '-' : ((100 * gflops) / peak).toFixed(1));
  const rows: string[][] = [];
  for (const [name, layers] of nets) {
    for (const mode of ['spiking', 'nonspiking'] as const) {
      const opts: SegregatedOptions = { layers, mode, seed: 1, device, ...(threads ? { threads } : {}) };
      const probe = new SegregatedNetwork(opts);
      const cfg = probe.native.config();
      const f = flops(layers, 784);
      // Mean steps per training example: two phases of L + E floor(Wald(2, 1)) = L + 1.52 when random.
      const extra = cfg.randomPhaseLengths ? 1.519 : 0;
      const trainSteps = (cfg.forwardPhase as number) + (cfg.targetPhase as number) + 2 * extra;
      const trainFlops = trainSteps * f.step + f.update;
      const testFlops = (cfg.testPhase as number) * f.step;
      for (const tm of ['online', 'batched'] as const) {
        const net = new SegregatedNetwork({ ...opts, batchSize: tm === 'online' ? 1 : batch });
        const cpu0 = process.cpuUsage();
        const [m] = await net.train(tr, { epochs: 1 });
        const cpu1 = process.cpuUsage(cpu0);
        const ev0 = process.hrtime.bigint();
        const r = await net.evaluate(te);
        const evSecs = Number(process.hrtime.bigint() - ev0) / 1e9;
        const cpu2 = process.cpuUsage();
        const trainCpu = (cpu1.user + cpu1.system) / 1000 / tr.count;
        const testCpu = (cpu2.user + cpu2.system - cpu0.user - cpu0.system - cpu1.user - cpu1.system) / 1000 / te.count;
        const trainRate = m.examplesPerSecond;
        const testRate = te.count / evSecs;
        rows.push([name, mode, tm === 'online' ? 'online' : `batched ${batch}`, trainRate.toFixed(0),
          (1000 / trainRate).toFixed(3), trainCpu.toFixed(3), testRate.toFixed(0), (1000 / testRate).toFixed(3), testCpu.toFixed(3),
          (trainFlops / 1e6).toFixed(1), ((trainFlops * trainRate) / 1e9).toFixed(2),
          percent((trainFlops * trainRate) / 1e9), (testFlops / 1e6).toFixed(1),
          ((testFlops * testRate) / 1e9).toFixed(2), percent((testFlops * testRate) / 1e9),
          (100 * r.accuracy).toFixed(1)]);
      }
    }
  }
  const head = ['network', 'mode', 'training', 'train ex/s', 'train ms/ex', 'train cpu-ms/ex', 'test ex/s', 'test ms/ex',
    'test cpu-ms/ex',
    'train MFLOP/ex', 'train GFLOP/s', 'train % peak', 'test MFLOP/ex', 'test GFLOP/s', 'test % peak',
    `test acc % (${nTrain} ex)`];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i])).join('  ');
  console.log(`segregated dendrites (Guerguiev et al. 2017), mnist-10k: ${tr.count} training and ${te.count} test digits, ` +
    `device ${device}, ${threads ?? 'default'} threads; FLOPs are dense-equivalent (docs/papers.md §19.3)` +
    (Number.isNaN(peak) ? '' : `; measured GEMM peak ${peak.toFixed(0)} GFLOP/s (1024^3, ${peakThreads} threads)`));
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

if (require.main === module) {
  run(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
