// The Bayesian optimiser: a seeded, stateless-by-default suggestion function over a search space
// and a trial history, and `optimizeInMemory`, which runs an objective for a number of trials with
// a pool of concurrent workers (the public `optimize`, src/study/optimize.ts, is this loop when it
// is given no storage). docs/bo.md has the design and an example.
import { Xoshiro128ss } from '../data/rng';
import { maximizeAcquisition, type Acquisition } from './acquisition';
import { GaussianProcess, type GPOptions, type Hyperparameters } from './gp';
import { SOBOL_MAX_DIMENSION, Sobol } from './sobol';
import { Space, type Constraint, type ParamSpec, type Params } from './space';
import { CubeTransform, RawTransform, type Transform } from './transform';

export type Direction = 'maximize' | 'minimize';
export type TrialState = 'complete' | 'failed' | 'infeasible';

/** What the optimiser needs to know of a finished trial. */
export interface TrialResult {
  params: Params;
  state: TrialState;
  /** The objective's value (complete trials only). */
  value?: number;
}

/** A finished trial as `optimize` records it. */
export interface Trial extends TrialResult {
  /** 0, 1, 2, ... in the order the trials were started. */
  number: number;
  /** Wall-clock seconds of the objective (0 for a trial refused by a constraint). */
  seconds: number;
  /** Why a trial failed or was infeasible. */
  reason?: string;
}

/**
 * How suggestions are made:
 *  - 'bayes' (default): Sobol initial design, then the GP and acquisition described in docs/bo.md.
 *  - 'random': independent uniform draws on the unit cube (log scales respected): the baseline.
 *  - 'lange': Lange's 2019 setting reproduced with this code, for comparison only: an isotropic
 *    Matérn-5/2 on raw inputs (no log scales) with fixed unit signal, 1e-6 noise and the outputs'
 *    mean as prior mean, its lengthscale fitted by plain maximum likelihood, integers and
 *    categories relaxed to numbers and rounded after the suggestion, conditions ignored, one
 *    random starting point, UCB with kappa 2.5.
 */
export type Strategy = 'bayes' | 'random' | 'lange';

export interface OptimizerOptions {
  /** The search space, or the parameter specs to build one from. */
  space: Space | Readonly<Record<string, ParamSpec>>;
  direction: Direction;
  /** Seed of every random choice (default 0): the same seed and history give the same suggestions. */
  seed?: number;
  /** Default: log expected improvement ('lange': UCB with kappa 2.5). */
  acquisition?: Acquisition;
  /** Trials drawn from the Sobol design before the model is used (default 10; 'lange': 1 random). */
  initialPoints?: number;
  strategy?: Strategy;
  /** Points screened when maximising the acquisition (default 2048). */
  candidates?: number;
  /** Screened points refined locally (default 5). */
  starts?: number;
  /** Overrides of the GP's fitting options (restarts, priors, bounds). */
  gp?: GPOptions;
}

/** What the last suggestion was based on, for logs and tests. */
export interface SuggestionInfo {
  phase: 'initial' | 'model' | 'random';
  /** The objective GP's hyperparameters (model phase). */
  hyperparameters?: Hyperparameters;
  /** Whether a feasibility model shaped the suggestion. */
  feasibilityModel?: boolean;
  /** Acquisition value of the suggestion (model phase). */
  acquisition?: number;
  /** Milliseconds spent fitting the GP(s) and maximising the acquisition. */
  fitMs?: number;
  acquisitionMs?: number;
}

/** Stream ids of the optimiser's random generators. */
const STREAM = { suggest: 0xb0, random: 0xb1, design: 0xb2 } as const;

/** A canonical text of a parameter set, to recognise duplicates. */
export function paramsKey(params: Readonly<Params>): string {
  return JSON.stringify(Object.keys(params).sort().map((k) => [k, params[k]]));
}

/**
 * Suggests parameter sets for an objective. `suggest(history, pending)` is a pure function of the
 * options, the history and the pending set: storage can keep the history anywhere and call it from
 * any process. `tell` keeps a history inside the optimiser for the simple loop.
 */
export class Optimizer {
  readonly space: Space;
  readonly direction: Direction;
  readonly seed: number;
  readonly strategy: Strategy;
  readonly acquisition: Acquisition;
  readonly initialPoints: number;
  /** Trials told so far. */
  readonly trials: Trial[] = [];
  /** About the last suggestion. */
  lastInfo: SuggestionInfo | undefined;
  private readonly transform: Transform;
  private readonly options: OptimizerOptions;

  constructor(options: OptimizerOptions) {
    this.options = options;
    this.space = options.space instanceof Space ? options.space : new Space(options.space);
    if (options.direction !== 'maximize' && options.direction !== 'minimize') {
      throw new RangeError(`optimizer: direction must be "maximize" or "minimize", got ${JSON.stringify(options.direction)}`);
    }
    this.direction = options.direction;
    this.seed = options.seed ?? 0;
    if (!Number.isSafeInteger(this.seed)) throw new RangeError(`optimizer: seed must be a safe integer, got ${this.seed}`);
    this.strategy = options.strategy ?? 'bayes';
    if (!['bayes', 'random', 'lange'].includes(this.strategy)) throw new RangeError(`optimizer: unknown strategy ${JSON.stringify(this.strategy)}`);
    const lange = this.strategy === 'lange';
    this.acquisition = options.acquisition ?? (lange ? { kind: 'ucb', kappa: 2.5 } : { kind: 'logei' });
    checkAcquisition(this.acquisition);
    this.initialPoints = options.initialPoints ?? (lange ? 1 : 10);
    if (!Number.isInteger(this.initialPoints) || this.initialPoints < 1) {
      throw new RangeError(`optimizer: initialPoints must be an integer >= 1, got ${this.initialPoints}`);
    }
    if (this.space.names.length > SOBOL_MAX_DIMENSION) {
      throw new RangeError(`optimizer: at most ${SOBOL_MAX_DIMENSION} parameters are supported, the space has ${this.space.names.length}`);
    }
    this.transform = lange ? new RawTransform(this.space) : new CubeTransform(this.space);
  }

  /** Records a finished trial in the optimiser's own history; returns it as stored. */
  tell(result: TrialResult & { number?: number; seconds?: number; reason?: string }): Trial {
    checkResult(this.space, result, this.strategy === 'lange');
    const trial: Trial = {
      number: result.number ?? this.trials.length,
      params: { ...result.params },
      state: result.state,
      ...(result.value !== undefined ? { value: result.value } : {}),
      seconds: result.seconds ?? 0,
      ...(result.reason !== undefined ? { reason: result.reason } : {}),
    };
    this.trials.push(trial);
    return trial;
  }

  /** `count` suggestions at once, each treating the ones before it as pending. */
  suggestMany(count: number, history: readonly TrialResult[] = this.trials, pending: readonly Params[] = []): Params[] {
    const out: Params[] = [];
    for (let i = 0; i < count; i++) out.push(this.suggest(history, [...pending, ...out]));
    return out;
  }

  /**
   * The next parameter set to evaluate given the finished trials and those still running
   * (`pending`), which the model treats as already observed at its own prediction so that
   * concurrent workers spread out. Failed trials are treated the same way (they are not proposed
   * again); infeasible ones train the feasibility model.
   */
  suggest(history: readonly TrialResult[] = this.trials, pending: readonly Params[] = []): Params {
    const lange = this.strategy === 'lange';
    for (const r of history) checkResult(this.space, r, lange);
    for (const p of pending) checkParams(this.space, p, lange);
    const index = history.length + pending.length;
    const taken = new Set([...history.map((r) => paramsKey(r.params)), ...pending.map(paramsKey)]);
    const rng = new Xoshiro128ss(this.seed, STREAM.suggest, index);
    const t = this.transform;

    if (this.strategy === 'random') {
      this.lastInfo = { phase: 'random' };
      return this.fresh(taken, () => this.uniform(new Xoshiro128ss(this.seed, STREAM.random, index)));
    }
    const complete = history.filter((r) => r.state === 'complete');
    if (index < this.initialPoints || complete.length === 0) {
      this.lastInfo = { phase: 'initial' };
      if (lange) return this.fresh(taken, () => this.uniform(rng));
      // Point `index` of the design, or the next one that is not taken (small discrete spaces).
      const sobol = new Sobol(t.dims, { seed: hashSeed(this.seed, STREAM.design) }).skip(index);
      return this.fresh(taken, () => sobol.next(), () => this.uniform(rng));
    }

    const t0 = performance.now();
    const sign = this.direction === 'maximize' ? 1 : -1;
    const p = t.featureDims;
    const featuresOf = (list: readonly Params[]): Float64Array => {
      const z = new Float64Array(list.length * p);
      list.forEach((params, i) => t.features(t.encode(params), z, i * p));
      return z;
    };
    const gpOptions: GPOptions = lange
      ? { ard: false, priors: null, signal: 1, noise: 1e-6, fitMean: false, lengthscaleBounds: [1e-5, 1e5], ...this.options.gp }
      : { ...this.options.gp };
    const infeasible = history.filter((r) => r.state === 'infeasible');
    const y = complete.map((r) => sign * (r.value as number));
    // Infeasible points enter the objective's model at the worst observed value, so that its
    // expected improvement does not extrapolate into the infeasible region (docs/bo.md).
    const observed = lange ? complete : [...complete, ...infeasible];
    const worst = Math.min(...y);
    const yAll = [...y, ...observed.slice(complete.length).map(() => worst)];
    let gp = GaussianProcess.fit(featuresOf(observed.map((r) => r.params)), observed.length, p, yAll, { seed: hashSeed(this.seed, index), ...gpOptions });
    const hyperparameters = gp.hyper;

    // Feasibility: a GP regression on +1 (feasible: complete) / -1 (infeasible) labels; its
    // probability of a positive latent value multiplies the acquisition (adds, in log space).
    let feasibility: GaussianProcess | undefined;
    if (infeasible.length > 0 && !lange) {
      const labelled = [...complete, ...infeasible];
      feasibility = GaussianProcess.fit(featuresOf(labelled.map((r) => r.params)), labelled.length, p,
        labelled.map((r) => (r.state === 'complete' ? 1 : -1)), { seed: hashSeed(this.seed, index, 1), standardize: false, ...gpOptions });
    }
    // Pending and failed points: observed, in the model's imagination, at the mean of the observed
    // values (the "constant liar" CL-mean of Ginsbourger et al. 2010): the variance collapses
    // there and the mean is pulled down near promising points, so concurrent workers spread out
    // and a failed point is not proposed again.
    const believed = [...pending, ...history.filter((r) => r.state === 'failed').map((r) => r.params)];
    gp = gp.believe(featuresOf(believed), believed.length, y.reduce((a, b) => a + b, 0) / y.length);
    const fitMs = performance.now() - t0;

    // Incumbent: the best posterior mean at an observed or believed point (robust to noise).
    let best = -Infinity;
    const post = { mean: 0, variance: 0 };
    for (let i = 0; i < gp.n; i++) {
      gp.predict(gp.x, i * p, post);
      best = Math.max(best, post.mean);
    }
    const order = complete.map((r, i) => ({ i, y: y[i] })).sort((a, b) => b.y - a.y || a.i - b.i);
    const around = order.slice(0, 5).map(({ i }) => t.encode(complete[i].params));
    const t1 = performance.now();
    const ranked = maximizeAcquisition(
      { transform: t, acquisition: this.acquisition, gp, best, feasibility },
      rng,
      { candidates: this.options.candidates, starts: this.options.starts, around },
    );
    let k = 0;
    const choice = this.fresh(taken, () => ranked[Math.min(k++, ranked.length - 1)].u, () => this.uniform(rng), ranked.length);
    this.lastInfo = {
      phase: 'model',
      hyperparameters,
      feasibilityModel: feasibility !== undefined,
      acquisition: ranked[Math.max(0, k - 1)]?.value,
      fitMs,
      acquisitionMs: performance.now() - t1,
    };
    return choice;
  }

  /** A uniform point of the unit cube. */
  private uniform(rng: Xoshiro128ss): Float64Array {
    return Float64Array.from({ length: this.transform.dims }, () => rng.nextFloat());
  }

  /**
   * The first decoded point from `next` (up to `tries` of them) that is not taken, then from
   * `fallback` (100 tries); when everything is taken (a small discrete space fully explored), the
   * first point itself.
   */
  private fresh(taken: Set<string>, next: () => Float64Array, fallback?: () => Float64Array, tries = 100): Params {
    let first: Params | undefined;
    for (const [gen, n] of [[next, tries], [fallback, 100]] as const) {
      if (!gen) continue;
      for (let i = 0; i < n; i++) {
        const params = this.transform.decode(gen());
        first ??= params;
        if (!taken.has(paramsKey(params))) return params;
      }
    }
    return first as Params;
  }
}

function hashSeed(...keys: number[]): number {
  return new Xoshiro128ss(...keys).nextU32();
}

function checkAcquisition(a: Acquisition): void {
  const bad = (m: string): never => {
    throw new RangeError(`optimizer: acquisition ${m}`);
  };
  if (typeof a !== 'object' || a === null) bad('must be an object such as { kind: "logei" }');
  if (a.kind === 'ucb' && a.kappa !== undefined && !(Number.isFinite(a.kappa) && a.kappa >= 0)) bad(`kappa must be a finite number >= 0, got ${a.kappa}`);
  else if (a.kind === 'pi' && a.xi !== undefined && !Number.isFinite(a.xi)) bad(`xi must be finite, got ${a.xi}`);
  else if (!['logei', 'ucb', 'pi'].includes(a.kind)) bad(`kind must be "logei", "ucb" or "pi", got ${JSON.stringify((a as { kind: unknown }).kind)}`);
}

function checkParams(space: Space, params: Readonly<Params>, lenient: boolean): void {
  // Lange's setting returns every parameter, applicable or not; it checks only names and values.
  const why = lenient ? undefined : space.invalid(params);
  if (why) throw new RangeError(`optimizer: ${why} in ${JSON.stringify(params)}`);
}

function checkResult(space: Space, r: TrialResult, lenient: boolean): void {
  if (!['complete', 'failed', 'infeasible'].includes(r.state)) {
    throw new RangeError(`optimizer: trial state must be complete, failed or infeasible, got ${JSON.stringify(r.state)}`);
  }
  if (r.state === 'complete' && !(typeof r.value === 'number' && Number.isFinite(r.value))) {
    throw new RangeError(`optimizer: a complete trial needs a finite value, got ${String(r.value)}`);
  }
  checkParams(space, r.params, lenient);
}

/** Thrown by an objective to mark its parameter set infeasible (rather than failed). */
export class InfeasibleError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InfeasibleError';
  }
}

/** The objective: a number to maximise or minimise, or a promise of one. */
export type Objective = (params: Params, context: { number: number; signal?: AbortSignal }) => number | Promise<number>;

/** The options of the in-memory loop; `optimize` (src/study/optimize.ts) adds a study storage. */
export interface InMemoryOptimizeOptions extends OptimizerOptions {
  objective: Objective;
  /** New trials to run (infeasible and failed ones count). */
  trials: number;
  /** Objectives running at once (default 1). With more, the finishing order shapes the suggestions. */
  workers?: number;
  /** Checked before each evaluation (with the space's own constraints): a broken one makes the trial infeasible without running the objective. */
  constraint?: Constraint;
  /** Trials of an earlier run to continue from (numbers continue after theirs). */
  history?: readonly Trial[];
  /** Called as each trial finishes. */
  onTrial?: (trial: Trial) => void;
  /** Stops starting trials; running objectives see it in their context and are awaited. */
  signal?: AbortSignal;
}

export interface OptimizeResult {
  /** Best value of a complete trial (undefined when none completed). */
  bestValue: number | undefined;
  bestParams: Params | undefined;
  /** Every trial, the history's and the new ones, by number. */
  trials: Trial[];
}

/**
 * Evaluates the objective once: complete with its value; failed when it throws or returns no
 * finite number; infeasible when it throws InfeasibleError. Never throws.
 */
export async function runObjective(objective: Objective, params: Readonly<Params>, context: { number: number; signal?: AbortSignal }):
  Promise<{ state: TrialState; value?: number; reason?: string }> {
  try {
    const value = await objective({ ...params }, context);
    return typeof value === 'number' && Number.isFinite(value)
      ? { state: 'complete', value }
      : { state: 'failed', reason: `objective returned ${typeof value === 'number' ? value : typeof value}, not a finite number` };
  } catch (e) {
    return { state: e instanceof InfeasibleError ? 'infeasible' : 'failed', reason: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Optimises `objective` over `space` for `trials` trials. An objective that throws records a
 * failed trial (with the message), one that throws InfeasibleError or breaks a constraint an
 * infeasible one, one that returns a non-finite number a failed one; the run goes on.
 */
export async function optimizeInMemory(options: InMemoryOptimizeOptions): Promise<OptimizeResult> {
  const base = options.space instanceof Space ? options.space : new Space(options.space);
  const space = options.constraint ? base.withConstraints(options.constraint) : base;
  const optimizer = new Optimizer({ ...options, space });
  const { objective, trials: count } = options;
  if (typeof objective !== 'function') throw new TypeError('optimize: objective must be a function');
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`optimize: trials must be an integer >= 0, got ${count}`);
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`optimize: workers must be an integer >= 1, got ${workers}`);

  const history: Trial[] = (options.history ?? []).map((t) => ({ ...t, params: { ...t.params } }));
  let next = history.reduce((m, t) => Math.max(m, t.number + 1), 0);
  const last = next + count;
  const pending = new Map<number, Params>();

  const record = (trial: Trial): void => {
    pending.delete(trial.number);
    history.push(trial);
    options.onTrial?.(trial);
  };

  const worker = async (): Promise<void> => {
    while (next < last && !options.signal?.aborted) {
      const number = next++;
      const params = optimizer.suggest(history, [...pending.values()]);
      pending.set(number, params);
      const why = space.violation(params);
      if (why !== undefined) {
        record({ number, params, state: 'infeasible', seconds: 0, reason: why });
        continue;
      }
      const start = performance.now();
      const outcome = await runObjective(objective, params, { number, ...(options.signal ? { signal: options.signal } : {}) });
      record({ number, params, ...outcome, seconds: (performance.now() - start) / 1000 });
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));

  history.sort((a, b) => a.number - b.number);
  const best = bestTrial(history, options.direction);
  return { bestValue: best?.value, bestParams: best ? { ...best.params } : undefined, trials: history };
}

/** The best complete trial (ties: the earlier), of in-memory runs and stored studies alike. */
export function bestTrial<T extends { number: number; state: string; value?: number }>(trials: readonly T[], direction: Direction): T | undefined {
  let best: T | undefined;
  for (const t of [...trials].sort((a, b) => a.number - b.number)) {
    if (t.state !== 'complete' || t.value === undefined) continue;
    if (!best || (direction === 'maximize' ? t.value > best.value! : t.value < best.value!)) best = t;
  }
  return best;
}
