import test from 'ava';

import { acquisitionAt, type Acquisition } from '../src/bo/acquisition';
import { branin } from '../src/bo/benchmarks';
import { GaussianProcess } from '../src/bo/gp';
import { InfeasibleError, Optimizer, type Trial, type TrialResult } from '../src/bo/optimize';
import { optimize } from '../src/study/optimize';
import { Space, type Params } from '../src/bo/space';
import { CubeTransform } from '../src/bo/transform';

const mixed = new Space({
  x: { type: 'float', low: -2, high: 2 },
  lr: { type: 'float', low: 1e-4, high: 1, log: true },
  n: { type: 'int', low: 1, high: 6 },
  kind: { type: 'categorical', choices: ['a', 'b', 'c'] },
  scale: { type: 'float', low: 0, high: 1, condition: { parent: 'kind', values: ['b'] } },
  flag: { type: 'bool' },
});
const mixedF = (p: Params): number =>
  -(((p.x as number) - 0.5) ** 2) - (Math.log10(p.lr as number) + 2) ** 2 - 0.1 * ((p.n as number) - 4) ** 2 +
  (p.kind === 'b' ? 1 - (p.scale as number) : 0) + (p.flag ? 0.3 : 0);

function history(space: Space, f: (p: Params) => number, n: number, seed = 0): TrialResult[] {
  const opt = new Optimizer({ space, direction: 'maximize', seed });
  for (let i = 0; i < n; i++) {
    const params = opt.suggest();
    opt.tell({ params, state: 'complete', value: f(params) });
  }
  return opt.trials;
}

test('the same seed and history give the same suggestions; another seed others', (t) => {
  const h = history(mixed, mixedF, 14);
  const a = new Optimizer({ space: mixed, direction: 'maximize', seed: 5 });
  const b = new Optimizer({ space: mixed, direction: 'maximize', seed: 5 });
  const c = new Optimizer({ space: mixed, direction: 'maximize', seed: 6 });
  t.deepEqual(a.suggest(h), b.suggest(h));
  t.deepEqual(a.suggest(h.slice(0, 4)), b.suggest(h.slice(0, 4)), 'in the initial design too');
  t.notDeepEqual(a.suggest(h), c.suggest(h));
  t.is(a.lastInfo?.phase, 'model');
});

test('suggestions are valid parameter sets of a mixed conditional space and improve on the design', (t) => {
  const h = history(mixed, mixedF, 30);
  for (const r of h) t.is(mixed.invalid(r.params), undefined, JSON.stringify(r.params));
  const best = (list: TrialResult[]): number => Math.max(...list.map((r) => r.value as number));
  // The optimum is 1.3 (kind b, scale 0, flag, x 0.5, lr 1e-2, n 4); 20 model steps in this
  // 6-parameter mixed space must improve clearly on the 10-point design.
  t.true(best(h) > best(h.slice(0, 10)) + 0.3, `best ${best(h)} vs design ${best(h.slice(0, 10))}`);
});

function unitDistance(tr: CubeTransform, a: Params, b: Params): number {
  const ua = tr.encode(a);
  const ub = tr.encode(b);
  return Math.sqrt(ua.reduce((s, v, i) => s + (v - ub[i]) ** 2, 0));
}

test('pending trials: 4 suggestions with 3 pending are all distinct and far apart', (t) => {
  const h = history(branin.space, (p) => -branin.f(p), 15);
  const opt = new Optimizer({ space: branin.space, direction: 'maximize', seed: 2 });
  const first = opt.suggest(h);
  const pending = opt.suggestMany(3, h);
  t.deepEqual(pending[0], first, 'the first of a batch is the plain suggestion');
  const four = opt.suggestMany(4, h, pending);
  const all = [...pending, ...four];
  const tr = new CubeTransform(branin.space);
  let closest = Infinity;
  for (let i = 0; i < all.length; i++) for (let j = 0; j < i; j++) closest = Math.min(closest, unitDistance(tr, all[i], all[j]));
  t.true(closest > 0.1, `closest pair ${closest} apart in the unit square`);
  // Without the pending points, the optimiser would propose the first pending point again.
  t.true(four.every((p) => unitDistance(tr, p, first) > 0.1));
});

test('pending points in the initial design take the next design points', (t) => {
  const opt = new Optimizer({ space: mixed, direction: 'maximize', seed: 1 });
  const batch = opt.suggestMany(6, []);
  t.is(new Set(batch.map((p) => JSON.stringify(p))).size, 6);
  t.deepEqual(opt.suggest([], batch.slice(0, 3)), batch[3]);
});

test('degenerate histories never give NaN: duplicates, constant values, one point, huge and tiny values', (t) => {
  const space = new Space({ a: { type: 'float', low: 0, high: 1 }, b: { type: 'int', low: 1, high: 3 } });
  const same = { a: 0.5, b: 2 };
  const cases: Record<string, TrialResult[]> = {
    duplicates: Array.from({ length: 12 }, (_, i) => ({ params: same, state: 'complete' as const, value: i % 3 })),
    constant: Array.from({ length: 12 }, (_, i) => ({ params: { a: i / 11, b: 1 + (i % 3) }, state: 'complete' as const, value: 7 })),
    one: [{ params: same, state: 'complete', value: 1 }],
    huge: Array.from({ length: 12 }, (_, i) => ({ params: { a: i / 11, b: 2 }, state: 'complete' as const, value: (i % 2 ? 1 : -1) * 1e300 })),
    tiny: Array.from({ length: 12 }, (_, i) => ({ params: { a: i / 11, b: 2 }, state: 'complete' as const, value: i * 1e-310 })),
  };
  for (const acquisition of [{ kind: 'logei' }, { kind: 'ucb' }, { kind: 'pi' }] as Acquisition[]) {
    const opt = new Optimizer({ space, direction: 'minimize', acquisition, initialPoints: 1 });
    for (const [name, h] of Object.entries(cases)) {
      const p = opt.suggest(h, [same]);
      t.is(space.invalid(p), undefined, `${acquisition.kind} ${name}: ${JSON.stringify(p)}`);
      t.true(Number.isFinite(p.a as number), `${acquisition.kind} ${name}`);
      t.true(Number.isFinite(opt.lastInfo?.acquisition as number), `${acquisition.kind} ${name}: acquisition ${opt.lastInfo?.acquisition}`);
    }
  }
  // A tiny fully discrete space, fully explored: a duplicate is returned, not an error.
  const tinySpace = new Space({ f: { type: 'bool' } });
  const opt = new Optimizer({ space: tinySpace, direction: 'maximize', initialPoints: 1 });
  const h: TrialResult[] = [{ params: { f: true }, state: 'complete', value: 1 }, { params: { f: false }, state: 'complete', value: 0 }];
  t.is(typeof opt.suggest(h).f, 'boolean');
});

test('the acquisition gradient in the unit cube matches finite differences (log EI, UCB, PI, with feasibility)', (t) => {
  const h = history(mixed, mixedF, 12);
  const tr = new CubeTransform(mixed);
  const p = tr.featureDims;
  const z = new Float64Array(h.length * p);
  h.forEach((r, i) => tr.features(tr.encode(r.params), z, i * p));
  const gp = GaussianProcess.fit(z, h.length, p, h.map((r) => r.value as number));
  const feasibility = GaussianProcess.fit(z, h.length, p, h.map((_, i) => (i % 3 ? 1 : -1)), { standardize: false });
  // kind = 'b' (scale active), x, lr and scale continuous; n and flag away from their bin edges.
  const u = Float64Array.from([0.3, 0.6, 0.45, 0.5, 0.4, 0.8]);
  for (const acquisition of [{ kind: 'logei' }, { kind: 'ucb', kappa: 1.5 }, { kind: 'pi', xi: 0.1 }] as Acquisition[]) {
    const problem = { transform: tr, acquisition, gp, best: 0.8, feasibility };
    const g = new Float64Array(tr.dims);
    acquisitionAt(problem, u, g);
    for (let j = 0; j < tr.dims; j++) {
      const h2 = 1e-6;
      const up = Float64Array.from(u);
      const um = Float64Array.from(u);
      up[j] += h2;
      um[j] -= h2;
      const fd = (acquisitionAt(problem, up) - acquisitionAt(problem, um)) / (2 * h2);
      t.true(Math.abs(fd - g[j]) < 1e-4 * Math.max(1, Math.abs(fd)), `${acquisition.kind} column ${tr.space.names[j]}: ${g[j]} vs ${fd}`);
    }
  }
});

test('a constraint\'s infeasible region is avoided after a few infeasible trials', async (t) => {
  // Maximise x + y on the unit square where x + y > 1.2 is infeasible: the best feasible points
  // lie on the boundary, so a model that ignored it would keep proposing infeasible corners.
  const space = new Space({ x: { type: 'float', low: 0, high: 1 }, y: { type: 'float', low: 0, high: 1 } });
  const result = await optimize({
    space, direction: 'maximize', seed: 3, trials: 30,
    objective: (p) => (p.x as number) + (p.y as number),
    constraint: (p) => (p.x as number) + (p.y as number) <= 1.2 || 'x + y above 1.2',
  });
  const infeasible = result.trials.filter((r) => r.state === 'infeasible');
  t.true(infeasible.length >= 1 && infeasible.every((r) => r.reason === 'x + y above 1.2' && r.seconds === 0));
  // The constrained optimum lies on the boundary, so late trials may straddle it; they must not
  // go deep into the infeasible region, and most must be feasible.
  const late = result.trials.slice(20);
  const sum = (r: Trial): number => (r.params.x as number) + (r.params.y as number);
  t.true(late.filter((r) => r.state === 'infeasible').length <= 4, `${late.filter((r) => r.state === 'infeasible').length} of the last 10 infeasible`);
  t.true(late.every((r) => sum(r) < 1.3), `late sums ${late.map(sum)}`);
  t.true((result.bestValue as number) > 1.1, `best ${result.bestValue}`);
});

test('optimize records failures and infeasible trials thrown by the objective, and runs workers concurrently', async (t) => {
  const space = new Space({ x: { type: 'float', low: 0, high: 1 } });
  let running = 0;
  let most = 0;
  const seen: Trial[] = [];
  const result = await optimize({
    space, direction: 'minimize', seed: 1, trials: 14, workers: 3,
    onTrial: (trial) => seen.push(trial),
    objective: async (p, { number }) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (number === 2) throw new Error('out of memory');
      if (number === 4) throw new InfeasibleError('too wide');
      if (number === 5) return NaN;
      return ((p.x as number) - 0.3) ** 2;
    },
  });
  t.is(most, 3);
  t.deepEqual(result.trials.map((r) => r.number), Array.from({ length: 14 }, (_, i) => i));
  t.is(seen.length, 14);
  t.like(result.trials[2], { state: 'failed', reason: 'out of memory' });
  t.like(result.trials[4], { state: 'infeasible', reason: 'too wide' });
  t.like(result.trials[5], { state: 'failed', reason: 'objective returned NaN, not a finite number' });
  t.is(new Set(result.trials.map((r) => r.params.x)).size, 14, 'no point proposed twice');
  const complete = result.trials.filter((r) => r.state === 'complete');
  t.is(result.bestValue, Math.min(...complete.map((r) => r.value as number)));
  t.true(complete.every((r) => r.seconds > 0));

  // Continuing from a history: numbers go on, the history is kept.
  const more = await optimize({ space, direction: 'minimize', seed: 1, trials: 2, history: result.trials, objective: (p) => p.x as number });
  t.deepEqual(more.trials.map((r) => r.number), Array.from({ length: 16 }, (_, i) => i));
});

test('workers = 1 is deterministic for a seed', async (t) => {
  const run = () => optimize({ space: branin.space, direction: 'minimize', seed: 9, trials: 13, objective: (p) => branin.f(p) });
  const [a, b] = [await run(), await run()];
  t.deepEqual(a.trials.map((r) => r.params), b.trials.map((r) => r.params));
});

test('bad options and bad history are refused with clear errors', (t) => {
  t.throws(() => new Optimizer({ space: mixed, direction: 'max' as 'maximize' }), { message: /direction must be "maximize" or "minimize"/ });
  t.throws(() => new Optimizer({ space: mixed, direction: 'maximize', initialPoints: 0 }), { message: /initialPoints/ });
  t.throws(() => new Optimizer({ space: mixed, direction: 'maximize', acquisition: { kind: 'ucb', kappa: -1 } }), { message: /kappa/ });
  const opt = new Optimizer({ space: mixed, direction: 'maximize' });
  t.throws(() => opt.tell({ params: { x: 0 }, state: 'complete', value: 1 }), { message: /lr is missing/ });
  t.throws(() => opt.tell({ params: { x: 0, lr: 0.1, n: 1, kind: 'a', flag: true }, state: 'complete', value: NaN }), { message: /finite value/ });
  const many = new Space(Object.fromEntries(Array.from({ length: 41 }, (_, i) => [`p${i}`, { type: 'bool' as const }])));
  t.throws(() => new Optimizer({ space: many, direction: 'maximize' }), { message: /at most 40 parameters/ });
});
