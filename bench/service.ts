// `npm run bench -- service`: how long a small native call waits while a network trains in the same
// process. A CNN trains on mnist-10k (the main CPU lane) while a 128x128x128 GEMM is issued every
// 20 ms; its latency (issue to resolved promise) is recorded. The reference, in the same run: the
// small-call lane switched off (smallCallLimit 0), i.e. every call queued behind training chunks
// as before the lanes existed. Rounds alternate the two settings; medians of the rounds' p50/p99.
import { runExperiment } from '../src';
import { gemm, setCpuScheduling, getCpuScheduling } from '../src/kernels';

export const description = 'small-call latency while a CNN trains in the same process (lanes vs one queue)';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

const median = (xs: number[]): number => quantile(xs, 0.5);

async function round(limit: number, epochs: number): Promise<{ p50: number; p99: number; calls: number; trainSeconds: number }> {
  setCpuScheduling({ smallCallLimit: limit });
  const a = Float32Array.from({ length: 128 * 128 }, (_, i) => (i % 7) / 7);
  const latencies: number[] = [];
  let training = true;
  const t0 = process.hrtime.bigint();
  const run = runExperiment({ model: 'cnn', dataset: 'mnist-10k', epochs, seed: 1, test: false, validation: 0 }).finally(() => {
    training = false;
  });
  while (training) {
    const t = process.hrtime.bigint();
    await gemm({ a, b: a, m: 128, n: 128, k: 128 });
    latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    await new Promise((r) => setTimeout(r, 20));
  }
  await run;
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), calls: latencies.length, trainSeconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

function parseArgs(args: string[]): { rounds: number; epochs: number } {
  const o = { rounds: 2, epochs: 1 };
  for (const a of args) {
    const [key, value] = a.split('=', 2);
    const v = Number(value);
    if ((key === '--rounds' || key === '--epochs') && (!Number.isInteger(v) || v < 1)) throw new RangeError(`${key} expects an integer >= 1, got "${value}"`);
    if (key === '--rounds') o.rounds = v;
    else if (key === '--epochs') o.epochs = v;
    else throw new RangeError(`unknown option ${a}; options: --rounds=N --epochs=N`);
  }
  return o;
}

export async function run(args: string[]): Promise<void> {
  const { rounds, epochs } = parseArgs(args);
  const defaultLimit = getCpuScheduling().smallCallLimit;
  const lanes: Array<Awaited<ReturnType<typeof round>>> = [];
  const single: Array<Awaited<ReturnType<typeof round>>> = [];
  for (let r = 0; r < rounds; r++) {
    lanes.push(await round(defaultLimit, epochs));
    single.push(await round(0, epochs));
  }
  setCpuScheduling({ smallCallLimit: defaultLimit });
  const line = (name: string, rs: typeof lanes): string =>
    `${name.padEnd(34)} p50 ${median(rs.map((x) => x.p50)).toFixed(2).padStart(8)} ms  p99 ${median(rs.map((x) => x.p99)).toFixed(2).padStart(8)} ms` +
    `  (${median(rs.map((x) => x.calls))} calls; CNN epoch ${median(rs.map((x) => x.trainSeconds)).toFixed(1)} s)`;
  console.log(`128^3 GEMM every 20 ms while a CNN trains (mnist-10k, ${epochs} epoch${epochs > 1 ? 's' : ''}), medians of ${rounds} rounds`);
  console.log(line('small-call lane (default)', lanes));
  console.log(line('one queue (smallCallLimit 0)', single));
  console.log(`p99 ratio: ${(median(single.map((x) => x.p99)) / median(lanes.map((x) => x.p99))).toFixed(0)}x shorter with the lane`);
}
