// The Bayesian optimiser (docs/bo.md): (1) time to fit the GP and to produce one suggestion at
// 50, 100, 200 observations x 5, 10, 30 dimensions; (2) median simple regret on Branin,
// Hartmann-6 and a noisy Hartmann-6 for our optimiser, random search and Lange's setting.
//
//   node dist/bench/main.js bo [--json] [--seeds=N] [--first-seed=N] [--evaluations=N] [--rounds=N] [--skip-timing] [--skip-regret]
//
// The quality test uses seeds 0-9; --first-seed=100 checks that the figures hold on fresh seeds.
import { Xoshiro128ss } from '../src/data/rng';
import { branin, hartmann6, median, simpleRegret, type TestProblem } from '../src/bo/benchmarks';
import { GaussianProcess } from '../src/bo/gp';
import { Optimizer, type Strategy, type TrialResult } from '../src/bo/optimize';
import { Sobol } from '../src/bo/sobol';
import { Space } from '../src/bo/space';

export const description = 'Bayesian optimiser: GP fit and suggestion time; median regret vs random search and Lange\'s setting';

interface Options {
  json: boolean;
  seeds: number;
  /** Seeds firstSeed, firstSeed + 1, ... (default 0). */
  firstSeed: number;
  evaluations: number;
  rounds: number;
  timing: boolean;
  regret: boolean;
}

function parseArgs(args: string[]): Options {
  const o: Options = { json: false, seeds: 10, firstSeed: 0, evaluations: 30, rounds: 3, timing: true, regret: true };
  for (const a of args) {
    const [key, value] = a.split('=', 2);
    const int = (min: number): number => {
      const v = Number(value);
      if (!Number.isInteger(v) || v < min) throw new RangeError(`${key} expects an integer >= ${min}, got "${value}"`);
      return v;
    };
    if (key === '--json') o.json = true;
    else if (key === '--seeds') o.seeds = int(1);
    else if (key === '--first-seed') o.firstSeed = int(0);
    else if (key === '--evaluations') o.evaluations = int(2);
    else if (key === '--rounds') o.rounds = int(1);
    else if (key === '--skip-timing') o.timing = false;
    else if (key === '--skip-regret') o.regret = false;
    else throw new RangeError(`unknown option ${a}; options: --json --seeds=N --first-seed=N --evaluations=N --rounds=N --skip-timing --skip-regret`);
  }
  return o;
}

interface TimingRow {
  observations: number;
  dimensions: number;
  /** Median over rounds, milliseconds. */
  fitMs: number;
  suggestMs: number;
  acquisitionMs: number;
}

/** A smooth test surface with effects of decreasing size along the dimensions. */
function surface(u: Float64Array): number {
  let s = 0;
  for (let d = 0; d < u.length; d++) s += Math.sin(3 * u[d] + d) / (1 + d / 3);
  return s;
}

function timing(n: number, dims: number, rounds: number): TimingRow {
  const space = new Space(Object.fromEntries(Array.from({ length: dims }, (_, d) => [`x${d}`, { type: 'float' as const, low: 0, high: 1 }])));
  const sobol = new Sobol(dims, { seed: dims });
  const rng = new Xoshiro128ss(n, dims);
  const history: TrialResult[] = [];
  const x = new Float64Array(n * dims);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = sobol.next();
    x.set(u, i * dims);
    y.push(surface(u) + 0.01 * (rng.nextFloat() - 0.5));
    history.push({ params: Object.fromEntries(Array.from(u, (v, d) => [`x${d}`, v])), state: 'complete', value: y[i] });
  }
  const fit: number[] = [];
  const suggest: number[] = [];
  const acq: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    GaussianProcess.fit(x, n, dims, y, { seed: r });
    fit.push(performance.now() - t0);
    const opt = new Optimizer({ space, direction: 'maximize', seed: r });
    t0 = performance.now();
    opt.suggest(history);
    suggest.push(performance.now() - t0);
    acq.push(opt.lastInfo?.acquisitionMs ?? NaN);
  }
  return { observations: n, dimensions: dims, fitMs: median(fit), suggestMs: median(suggest), acquisitionMs: median(acq) };
}

interface RegretRow {
  problem: string;
  noise: number;
  strategy: Strategy;
  median: number;
  regrets: number[];
  seconds: number;
}

export async function run(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const out: { timing: TimingRow[]; regret: RegretRow[] } = { timing: [], regret: [] };
  const print = (line: string): void => {
    if (!o.json) process.stdout.write(`${line}\n`);
  };
  if (o.timing) {
    print(`GP fit and one suggestion (median of ${o.rounds}; fit includes the restarts, suggest includes its own fit)`);
    print('observations  dims   fit ms  suggest ms  (acquisition ms)');
    for (const n of [50, 100, 200]) {
      for (const dims of [5, 10, 30]) {
        const row = timing(n, dims, o.rounds);
        out.timing.push(row);
        print(`${String(n).padStart(12)}  ${String(dims).padStart(4)}  ${row.fitMs.toFixed(0).padStart(7)}  ${row.suggestMs.toFixed(0).padStart(10)}  (${row.acquisitionMs.toFixed(0)})`);
      }
    }
  }
  if (o.regret) {
    print(`\nMedian simple regret, ${o.seeds} seeds from ${o.firstSeed} x ${o.evaluations} evaluations (regret of the best observed point)`);
    print('problem              ours        random      Lange       random/ours  Lange/ours');
    const problems: Array<[TestProblem, number, string]> = [[branin, 0, 'Branin'], [hartmann6, 0, 'Hartmann-6'], [hartmann6, 0.1, 'Hartmann-6, sd 0.1']];
    for (const [problem, noise, label] of problems) {
      const med: Partial<Record<Strategy, number>> = {};
      for (const strategy of ['bayes', 'random', 'lange'] as Strategy[]) {
        const t0 = performance.now();
        const regrets: number[] = [];
        for (let seed = o.firstSeed; seed < o.firstSeed + o.seeds; seed++) regrets.push(await simpleRegret(problem, { strategy, seed, evaluations: o.evaluations, noise }));
        med[strategy] = median(regrets);
        out.regret.push({ problem: problem.name, noise, strategy, median: med[strategy]!, regrets, seconds: (performance.now() - t0) / 1000 });
      }
      const e = (v: number): string => v.toExponential(2).padEnd(10);
      print(`${label.padEnd(19)}  ${e(med.bayes!)}  ${e(med.random!)}  ${e(med.lange!)}  ${(med.random! / med.bayes!).toFixed(1).padStart(11)}  ${(med.lange! / med.bayes!).toFixed(1).padStart(10)}`);
    }
  }
  if (o.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
