// Standard test functions for the optimiser and the simple-regret experiment that the quality
// test (test/bo-quality.test.ts) and the bench (bench/bo.ts) both run.
import { Xoshiro128ss } from '../data/rng';
import { gaussian } from './acquisition';
import { optimizeInMemory, type Strategy } from './optimize';
import { Space, type Params } from './space';

export interface TestProblem {
  name: string;
  space: Space;
  /** The noiseless function, to be minimised. */
  f: (params: Readonly<Params>) => number;
  /** Its global minimum. */
  minimum: number;
}

/** Branin-Hoo on [-5, 10] x [0, 15]; three global minima of 0.397887. */
export const branin: TestProblem = {
  name: 'branin',
  space: new Space({ x1: { type: 'float', low: -5, high: 10 }, x2: { type: 'float', low: 0, high: 15 } }),
  f: (p) => {
    const x1 = p.x1 as number;
    const x2 = p.x2 as number;
    const b = 5.1 / (4 * Math.PI * Math.PI);
    const c = 5 / Math.PI;
    const t = 1 / (8 * Math.PI);
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * Math.cos(x1) + 10;
  },
  minimum: 0.397887357729738,
};

const H6_ALPHA = [1.0, 1.2, 3.0, 3.2];
const H6_A = [
  [10, 3, 17, 3.5, 1.7, 8],
  [0.05, 10, 17, 0.1, 8, 14],
  [3, 3.5, 1.7, 10, 17, 8],
  [17, 8, 0.05, 10, 0.1, 14],
];
const H6_P = [
  [1312, 1696, 5569, 124, 8283, 5886],
  [2329, 4135, 8307, 3736, 1004, 9991],
  [2348, 1451, 3522, 2883, 3047, 6650],
  [4047, 8828, 8732, 5743, 1091, 381],
].map((row) => row.map((v) => v * 1e-4));

/** Hartmann-6 on [0, 1]^6; global minimum -3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573). */
export const hartmann6: TestProblem = {
  name: 'hartmann6',
  space: new Space(Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`x${i + 1}`, { type: 'float' as const, low: 0, high: 1 }]))),
  f: (p) => {
    let s = 0;
    for (let i = 0; i < 4; i++) {
      let e = 0;
      for (let j = 0; j < 6; j++) e += H6_A[i][j] * ((p[`x${j + 1}`] as number) - H6_P[i][j]) ** 2;
      s += H6_ALPHA[i] * Math.exp(-e);
    }
    return -s;
  },
  minimum: -3.322368011415515,
};

export interface RegretOptions {
  strategy: Strategy;
  seed: number;
  evaluations: number;
  /** Standard deviation of Gaussian noise added to each observation (default 0). */
  noise?: number;
}

/**
 * One optimisation run on a test problem; returns the simple regret f(x*) - min f of the point
 * x* with the best *observed* value (with noise, the true value of the point the run would report).
 */
export async function simpleRegret(problem: TestProblem, options: RegretOptions): Promise<number> {
  const noise = options.noise ?? 0;
  const result = await optimizeInMemory({
    space: problem.space,
    direction: 'minimize',
    strategy: options.strategy,
    seed: options.seed,
    trials: options.evaluations,
    objective: (params, { number }) =>
      problem.f(params) + (noise > 0 ? noise * gaussian(new Xoshiro128ss(options.seed, 0x401e, number)) : 0),
  });
  if (!result.bestParams) throw new Error(`${problem.name}: no trial completed`);
  return problem.f(result.bestParams) - problem.minimum;
}

/** Median of a list of numbers. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
