// Acquisition functions and their maximisation over the unit cube (docs/bo.md "Acquisition").
// Values are for maximisation of standardised outputs; log EI and log PI live in log space so
// that they stay finite and informative far below the incumbent.
import { Xoshiro128ss } from '../data/rng';
import type { GaussianProcess } from './gp';
import { minimize } from './lbfgs';
import { dLogH, logH, logNormCdf, logNormPdf } from './normal';
import { Sobol } from './sobol';
import type { Transform } from './transform';

/** Which acquisition function: log expected improvement (default), upper confidence bound, log probability of improvement. */
export type Acquisition =
  | { kind: 'logei' }
  | { kind: 'ucb'; /** Standard deviations of optimism (default 2). */ kappa?: number }
  | { kind: 'pi'; /** Improvement required, in standard deviations of the outputs (default 0). */ xi?: number };

/** Value of the acquisition and its partial derivatives in the mean and the standard deviation. */
export interface Score {
  value: number;
  dMean: number;
  dSd: number;
}

/** The acquisition at a posterior N(mean, sd^2) against the incumbent `best` (maximisation). */
export function score(acq: Acquisition, mean: number, sd: number, best: number, out: Score): Score {
  switch (acq.kind) {
    case 'logei': {
      const z = (mean - best) / sd;
      const r = dLogH(z);
      out.value = logH(z) + Math.log(sd);
      out.dMean = r / sd;
      out.dSd = (1 - z * r) / sd;
      return out;
    }
    case 'ucb': {
      const kappa = acq.kappa ?? 2;
      out.value = mean + kappa * sd;
      out.dMean = 1;
      out.dSd = kappa;
      return out;
    }
    case 'pi': {
      const z = (mean - best - (acq.xi ?? 0)) / sd;
      const lam = Math.exp(logNormPdf(z) - logNormCdf(z));
      out.value = logNormCdf(z);
      out.dMean = lam / sd;
      out.dSd = (-z * lam) / sd;
      return out;
    }
  }
}

/** Everything the acquisition needs at one suggestion. */
export interface AcquisitionProblem {
  transform: Transform;
  acquisition: Acquisition;
  /** The objective's GP (standardised, maximisation), including believed pending points. */
  gp: GaussianProcess;
  /** Incumbent in the GP's standardised units. */
  best: number;
  /** A GP of feasibility labels (+1 feasible, -1 infeasible), when there are infeasible trials. */
  feasibility?: GaussianProcess;
}

/**
 * The acquisition at unit-cube point u, plus log P(feasible) under the feasibility model. With a
 * gradient array, also d/du (zero in discrete and inactive columns).
 */
export function acquisitionAt(problem: AcquisitionProblem, u: ArrayLike<number>, grad?: Float64Array): number {
  const { transform: t, gp } = problem;
  const z = new Float64Array(t.featureDims);
  t.features(u, z, 0);
  const post = { mean: 0, variance: 0 };
  const s: Score = { value: 0, dMean: 0, dSd: 0 };
  if (!grad) {
    gp.predict(z, 0, post);
    let v = score(problem.acquisition, post.mean, Math.sqrt(post.variance), problem.best, s).value;
    if (problem.feasibility) {
      problem.feasibility.predict(z, 0, post);
      v += logNormCdf(post.mean / Math.sqrt(post.variance));
    }
    return Number.isNaN(v) ? -Infinity : v;
  }
  const dMean = new Float64Array(t.featureDims);
  const dVar = new Float64Array(t.featureDims);
  const dz = new Float64Array(t.featureDims);
  gp.predictGrad(z, 0, post, dMean, dVar);
  let sd = Math.sqrt(post.variance);
  score(problem.acquisition, post.mean, sd, problem.best, s);
  let v = s.value;
  for (let f = 0; f < dz.length; f++) dz[f] = s.dMean * dMean[f] + (s.dSd * dVar[f]) / (2 * sd);
  if (problem.feasibility) {
    problem.feasibility.predictGrad(z, 0, post, dMean, dVar);
    sd = Math.sqrt(post.variance);
    const zc = post.mean / sd;
    const lam = Math.exp(logNormPdf(zc) - logNormCdf(zc));
    v += logNormCdf(zc);
    for (let f = 0; f < dz.length; f++) dz[f] += (lam / sd) * dMean[f] - ((zc * lam) / sd) * (dVar[f] / (2 * sd));
  }
  const active = t.conditional ? t.active(u) : undefined;
  for (let j = 0; j < t.dims; j++) {
    const f = t.featureOf[j];
    grad[j] = f < 0 || (active && !active[j]) ? 0 : dz[f] * t.slope[j];
  }
  return Number.isNaN(v) ? -Infinity : v;
}

export interface MaximizeOptions {
  /** Sobol points screened (default 2048). */
  candidates?: number;
  /** Points drawn around the best observed points, as a share of `candidates` (default 0.25). */
  localShare?: number;
  /** Best screened points refined by gradient and discrete moves (default 5). */
  starts?: number;
  /** Unit-cube points of the best observations, best first, to search around. */
  around?: readonly Float64Array[];
}

export interface Candidate {
  u: Float64Array;
  value: number;
}

/** Standard normal draw (Box-Muller on the seeded generator). */
export function gaussian(rng: Xoshiro128ss): number {
  const a = 1 - rng.nextFloat();
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * rng.nextFloat());
}

/**
 * Maximises the acquisition: screens a scrambled Sobol set plus perturbations of the best
 * observed points, then refines the best few: projected L-BFGS over the continuous active columns
 * (discrete and inactive ones held), then single moves of discrete columns (the neighbouring
 * integer, the other choices, the other boolean), repeated while either improves. Returns the
 * refined points and the rest of the screen, best first, so that the caller can skip duplicates.
 */
export function maximizeAcquisition(problem: AcquisitionProblem, rng: Xoshiro128ss, options: MaximizeOptions = {}): Candidate[] {
  const t = problem.transform;
  const dims = t.dims;
  const total = options.candidates ?? 2048;
  const around = options.around ?? [];
  const nLocal = around.length > 0 ? Math.floor(total * (options.localShare ?? 0.25)) : 0;
  const pool: Candidate[] = [];
  const sobol = new Sobol(dims, { seed: rng.nextU32() });
  for (let i = 0; i < total - nLocal; i++) {
    const u = sobol.next();
    pool.push({ u, value: acquisitionAt(problem, u) });
  }
  for (let i = 0; i < nLocal; i++) {
    const base = around[i % around.length];
    const u = Float64Array.from(base);
    // Mostly small steps, some larger ones; each discrete column changes with probability 1/dims.
    const sd = i % 4 === 3 ? 0.2 : 0.03;
    for (let j = 0; j < dims; j++) {
      if (t.discrete[j]) {
        if (rng.nextFloat() < 1 / dims) u[j] = rng.nextFloat();
      } else {
        u[j] = Math.min(1, Math.max(0, u[j] + sd * gaussian(rng)));
      }
    }
    pool.push({ u, value: acquisitionAt(problem, u) });
  }
  pool.sort((a, b) => b.value - a.value || 0);

  const starts = Math.min(options.starts ?? 5, pool.length);
  const refined: Candidate[] = [];
  for (let s = 0; s < starts; s++) refined.push(refine(problem, pool[s]));
  refined.sort((a, b) => b.value - a.value);
  return [...refined, ...pool.slice(starts)];
}

function refine(problem: AcquisitionProblem, start: Candidate): Candidate {
  const t = problem.transform;
  let u: Float64Array = Float64Array.from(start.u);
  let value = start.value;
  const neg = (x: Float64Array, g: Float64Array): number => {
    const v = acquisitionAt(problem, x, g);
    for (let i = 0; i < g.length; i++) g[i] = -g[i];
    return Number.isFinite(v) ? -v : Infinity;
  };
  for (let round = 0; round < 4; round++) {
    let improved = false;
    const active = t.active(u);
    const lower = new Float64Array(t.dims);
    const upper = new Float64Array(t.dims);
    let continuous = 0;
    for (let j = 0; j < t.dims; j++) {
      const moving = !t.discrete[j] && active[j];
      lower[j] = moving ? 0 : u[j];
      upper[j] = moving ? 1 : u[j];
      if (moving) continuous++;
    }
    if (continuous > 0) {
      const res = minimize(neg, u, { lower, upper, maxIter: 40, gtol: 1e-7, ftol: 1e-9 });
      if (-res.f > value) {
        improved = -res.f - value > 1e-9 * Math.max(1, Math.abs(value));
        u = res.x;
        value = -res.f;
      }
    }
    // Best single discrete move.
    let bestMove: Float64Array | undefined;
    for (let j = 0; j < t.dims; j++) {
      if (!t.discrete[j] || !active[j]) continue;
      for (const uj of t.moves(j, u[j])) {
        const cand = Float64Array.from(u);
        cand[j] = uj;
        const v = acquisitionAt(problem, cand);
        if (v > value + 1e-12 * Math.max(1, Math.abs(value))) {
          value = v;
          bestMove = cand;
        }
      }
    }
    if (bestMove) {
      u = bestMove;
      improved = true;
    }
    if (!improved) break;
  }
  return { u, value };
}
