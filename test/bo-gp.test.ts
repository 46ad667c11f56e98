import test from 'ava';

import { Xoshiro128ss } from '../src/data/rng';
import { GaussianProcess, type Hyperparameters } from '../src/bo/gp';
import { Sobol, SOBOL_MAX_DIMENSION } from '../src/bo/sobol';

// Matérn 5/2 written out again here, independently of the module under test.
function kernel(a: number[], b: number[], h: Hyperparameters): number {
  let r2 = 0;
  for (let d = 0; d < a.length; d++) r2 += ((a[d] - b[d]) / h.lengthscales[d]) ** 2;
  const r = Math.sqrt(r2);
  return h.signal * (1 + Math.sqrt(5) * r + (5 * r * r) / 3) * Math.exp(-Math.sqrt(5) * r);
}

/** Solves A x = b by Gaussian elimination with partial pivoting (the direct O(n^3) reference). */
function gaussSolve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = c + 1; r < n; r++) {
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x;
}

const X = [[0.1, 0.2], [0.4, 0.9], [0.7, 0.3], [0.95, 0.6], [0.3, 0.55]];
const Y = [1.2, -0.4, 0.8, 2.1, 0.3];
const H: Hyperparameters = { signal: 1.7, lengthscales: Float64Array.from([0.3, 0.5]), noise: 0.01 };

test('posterior mean and variance match a direct O(n^3) computation', (t) => {
  const gp = GaussianProcess.withHyperparameters(Float64Array.from(X.flat()), 5, 2, Y, H);
  const K = X.map((a, i) => X.map((b, j) => kernel(a, b, H) + (i === j ? H.noise : 0)));
  const alpha = gaussSolve(K, Y);
  for (const z of [[0.5, 0.5], [0.1, 0.2], [0.9, 0.05], [3, 3]]) {
    const ks = X.map((a) => kernel(a, z, H));
    const mean = ks.reduce((s, k, i) => s + k * alpha[i], 0);
    const v = gaussSolve(K, ks);
    const variance = H.signal - ks.reduce((s, k, i) => s + k * v[i], 0);
    const out = { mean: 0, variance: 0 };
    gp.predict(Float64Array.from(z), 0, out);
    t.true(Math.abs(out.mean - mean) < 1e-10, `mean at ${z}: ${out.mean} vs ${mean}`);
    t.true(Math.abs(out.variance - variance) < 1e-10, `variance at ${z}: ${out.variance} vs ${variance}`);
  }
});

test('gradients of the posterior mean and variance match finite differences', (t) => {
  const gp = GaussianProcess.withHyperparameters(Float64Array.from(X.flat()), 5, 2, Y, H);
  const z = Float64Array.from([0.45, 0.35]);
  const out = { mean: 0, variance: 0 };
  const dm = new Float64Array(2);
  const dv = new Float64Array(2);
  gp.predictGrad(z, 0, out, dm, dv);
  for (let d = 0; d < 2; d++) {
    const h = 1e-6;
    const zp = Float64Array.from(z);
    const zm = Float64Array.from(z);
    zp[d] += h;
    zm[d] -= h;
    const a = { mean: 0, variance: 0 };
    const b = { mean: 0, variance: 0 };
    gp.predict(zp, 0, a);
    gp.predict(zm, 0, b);
    t.true(Math.abs(dm[d] - (a.mean - b.mean) / (2 * h)) < 1e-6, `d mean / d z${d}`);
    t.true(Math.abs(dv[d] - (a.variance - b.variance) / (2 * h)) < 1e-6, `d var / d z${d}`);
  }
});

test('gradient of the negative log marginal likelihood (with priors) matches finite differences', (t) => {
  const rng = new Xoshiro128ss(3);
  const n = 15;
  const p = 3;
  const x = Float64Array.from({ length: n * p }, () => rng.nextFloat());
  const y = Array.from({ length: n }, (_, i) => Math.sin(5 * x[i * p]) + x[i * p + 1] ** 2 - 0.3 * x[i * p + 2]);
  for (const options of [{}, { priors: null }, { ard: false, signal: 1, noise: 1e-4 }, { fitMean: false }]) {
    const obj = GaussianProcess.objective(x, n, p, y, options);
    const theta = Float64Array.from({ length: obj.size }, () => -1.5 + 2 * rng.nextFloat());
    const g = new Float64Array(obj.size);
    obj.value(theta, g);
    for (let i = 0; i < obj.size; i++) {
      const h = 1e-5;
      const tp = Float64Array.from(theta);
      const tm = Float64Array.from(theta);
      tp[i] += h;
      tm[i] -= h;
      const fd = (obj.value(tp) - obj.value(tm)) / (2 * h);
      t.true(Math.abs(g[i] - fd) < 1e-5 * Math.max(1, Math.abs(fd)), `${JSON.stringify(options)} theta[${i}]: ${g[i]} vs ${fd}`);
    }
  }
});

test('a fitted GP recovers a smooth function and puts long lengthscales on an irrelevant input', (t) => {
  const sobol = new Sobol(3, { seed: 1 });
  const n = 40;
  const x = sobol.take(n);
  const f = (a: number, b: number): number => Math.sin(6 * a) + 0.5 * Math.cos(4 * b);
  const y = Array.from({ length: n }, (_, i) => f(x[i * 3], x[i * 3 + 1]));
  const gp = GaussianProcess.fit(x, n, 3, y, { seed: 1 });
  const ls = gp.hyper.lengthscales;
  t.true(ls[2] > 2 * Math.max(ls[0], ls[1]), `lengthscales ${Array.from(ls)}`);
  const out = { mean: 0, variance: 0 };
  let worst = 0;
  for (const [a, b] of [[0.3, 0.3], [0.6, 0.8], [0.9, 0.1]]) {
    gp.predict(Float64Array.from([a, b, 0.5]), 0, out);
    worst = Math.max(worst, Math.abs(gp.shift + gp.scale * out.mean - f(a, b)));
  }
  t.true(worst < 0.05, `worst error ${worst}`);
});

test('the fitted prior mean counts a cluster of trials about once: far from the data the mean is the background level', (t) => {
  // 32 points spread over the square at a background level near 0, and 16 more crowded around
  // (0.9, 0.9) at 1, as an optimiser crowds its best region: the sample mean is 1/3.
  const xs: number[] = [];
  const y: number[] = [];
  const spread = new Sobol(2, { seed: 3 }).take(32);
  for (let i = 0; i < 32; i++) {
    xs.push(spread[2 * i], spread[2 * i + 1]);
    y.push(0.05 * Math.sin(9 * spread[2 * i]));
  }
  const rng = new Xoshiro128ss(5);
  for (let i = 0; i < 16; i++) {
    xs.push(0.9 + 0.02 * (rng.nextFloat() - 0.5), 0.9 + 0.02 * (rng.nextFloat() - 0.5));
    y.push(1);
  }
  const x = Float64Array.from(xs);
  const far = Float64Array.from([5, -4]);
  const out = { mean: 0, variance: 0 };
  const fitted = GaussianProcess.fit(x, 48, 2, y, { seed: 1 });
  fitted.predict(far, 0, out);
  const farMean = fitted.shift + fitted.scale * out.mean;
  t.true(Math.abs(out.mean - fitted.priorMean) < 1e-9);
  t.true(Math.abs(farMean) < 0.15, `far from the data: ${farMean}`);
  // With fitMean false the prior mean is the sample mean.
  const plain = GaussianProcess.fit(x, 48, 2, y, { seed: 1, fitMean: false });
  plain.predict(far, 0, out);
  t.is(plain.priorMean, 0);
  t.true(Math.abs(plain.shift + plain.scale * out.mean - 1 / 3) < 0.02, `sample mean ${plain.shift + plain.scale * out.mean}`);
});

function finite(gp: GaussianProcess, p: number): boolean {
  const out = { mean: 0, variance: 0 };
  const dm = new Float64Array(p);
  const dv = new Float64Array(p);
  for (const v of [0, 0.5, 1, 7]) {
    gp.predictGrad(new Float64Array(p).fill(v), 0, out, dm, dv);
    if (![out.mean, out.variance, ...dm, ...dv].every(Number.isFinite) || !(out.variance > 0)) return false;
  }
  return [gp.hyper.signal, gp.hyper.noise, ...gp.hyper.lengthscales].every(Number.isFinite);
}

test('degenerate data: duplicates, constant outputs, one point, huge and tiny values give finite fits', (t) => {
  const dup = Float64Array.from([0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.7, 0.1]);
  t.true(finite(GaussianProcess.fit(dup, 4, 2, [1, 1.5, 0.5, 3]), 2), 'duplicate inputs, different outputs');
  t.true(finite(GaussianProcess.fit(dup, 4, 2, [2, 2, 2, 2]), 2), 'constant outputs');
  t.true(finite(GaussianProcess.fit(Float64Array.from([0.3, 0.4]), 1, 2, [5]), 2), 'one point');
  const x = Float64Array.from([0.1, 0.5, 0.9, 0.3]);
  t.true(finite(GaussianProcess.fit(x, 4, 1, [1e300, -1e300, 1.7e308, 0]), 1), 'huge values');
  t.true(finite(GaussianProcess.fit(x, 4, 1, [1e-300, 3e-300, 5e-324, 0]), 1), 'tiny values');
  t.true(finite(GaussianProcess.fit(new Float64Array(4), 4, 1, [1, 2, 3, 4]), 1), 'all inputs equal');
  t.throws(() => GaussianProcess.fit(x, 4, 1, [1, NaN, 2, 3]), { message: /non-finite output/ });
});

test('the kriging believer keeps the mean and shrinks the variance at the believed point', (t) => {
  const gp = GaussianProcess.withHyperparameters(Float64Array.from(X.flat()), 5, 2, Y, H);
  const z = Float64Array.from([0.55, 0.75]);
  const before = { mean: 0, variance: 0 };
  const after = { mean: 0, variance: 0 };
  gp.predict(z, 0, before);
  gp.believe(z, 1).predict(z, 0, after);
  t.true(Math.abs(after.mean - before.mean) < 1e-6 * Math.max(1, Math.abs(before.mean)));
  t.true(after.variance < 0.05 * before.variance, `${after.variance} vs ${before.variance}`);
});

test('Sobol: the first points of the unscrambled sequence are the known ones', (t) => {
  const s = new Sobol(3, { scramble: false });
  const want = [[0, 0, 0], [0.5, 0.5, 0.5], [0.75, 0.25, 0.25], [0.25, 0.75, 0.75],
    [0.375, 0.375, 0.625], [0.875, 0.875, 0.125], [0.625, 0.125, 0.875], [0.125, 0.625, 0.375]];
  for (const w of want) t.deepEqual(Array.from(s.next()), w);
});

test('Sobol: point 1000 of all 40 dimensions equals scipy.stats.qmc.Sobol(40, scramble=False)', (t) => {
  t.is(SOBOL_MAX_DIMENSION, 40);
  const s = new Sobol(40, { scramble: false }).skip(1000);
  const want = [943718400, 415236096, 2227175424, 2906652672, 1203765248, 3896508416, 197132288, 3862953984, 2151677952,
    297795584, 364904448, 1094713344, 692060160, 1648361472, 616562688, 1589641216, 3091202048, 1480589312, 4257218560,
    3116367872, 2243952640, 2361393152, 4081057792, 2319450112, 2503999488, 3896508416, 171966464, 4206886912, 255852544,
    1463812096, 633339904, 624951296, 1270874112, 2545942528, 3443523584, 3309305856, 3644850176, 3569352704, 1321205760,
    2059403264];
  t.deepEqual(Array.from(s.next(), (v) => v * 2 ** 32), want);
  t.throws(() => new Sobol(41), { message: /\[1, 40\]/ });
});

test('Sobol scrambled: seeded, different per seed, and every 2^m block stratified in each coordinate', (t) => {
  const a = new Sobol(5, { seed: 7 }).take(64);
  t.deepEqual(a, new Sobol(5, { seed: 7 }).take(64));
  t.notDeepEqual(a, new Sobol(5, { seed: 8 }).take(64));
  t.false(a.slice(0, 5).every((v) => v === 0), 'the scrambled first point is not the origin');
  for (let d = 0; d < 5; d++) {
    const bins = new Set<number>();
    for (let i = 0; i < 64; i++) bins.add(Math.floor(a[i * 5 + d] * 64));
    t.is(bins.size, 64, `dimension ${d}: one point per 1/64 interval`);
  }
  // A linear scramble keeps the net's quality: each 2-D projection of the first 16 points fills as
  // many of the 1/4 x 1/4 boxes as the unscrambled sequence's (all 16 for dimensions 0 and 1).
  const plain = new Sobol(5, { scramble: false }).take(16);
  const boxes = (pts: Float64Array, d: number): number => {
    const b = new Set<number>();
    for (let i = 0; i < 16; i++) b.add(Math.floor(pts[i * 5] * 4) * 4 + Math.floor(pts[i * 5 + d] * 4));
    return b.size;
  };
  t.is(boxes(a, 1), 16);
  for (let d = 1; d < 5; d++) t.is(boxes(a, d), boxes(plain, d), `dimensions 0 and ${d}`);
});
