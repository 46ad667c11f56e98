import test from 'ava';

import { minimize } from '../src/bo/lbfgs';
import { cholesky, choleskyJitter, cholSolve, inverseFromChol, logDetChol, solveLower, solveLowerT } from '../src/bo/linalg';
import { dLogH, erfc, logH, logNormCdf, normCdf, normPdf } from '../src/bo/normal';

// A = L L^T with L = [[2,0,0],[6,1,0],[-8,5,3]] (the classic worked example).
const A = Float64Array.from([4, 12, -16, 12, 37, -43, -16, -43, 98]);

test('cholesky of a hand-computed 3x3 case', (t) => {
  const l = cholesky(A, 3);
  t.truthy(l);
  t.deepEqual(Array.from(l!), [2, 0, 0, 6, 1, 0, -8, 5, 3]);
  t.is(logDetChol(l!, 3), 2 * Math.log(6));
});

test('triangular solves and the inverse agree with the hand-computed factor', (t) => {
  const l = cholesky(A, 3)!;
  // L x = [2, 7, 0]: x = [1, 1, (0 + 8 - 5) / 3 = 1].
  t.deepEqual(Array.from(solveLower(l, 3, Float64Array.from([2, 7, 0]))), [1, 1, 1]);
  // L^T x = [2+6-8, 1+5, 3] = [0, 6, 3] for x = [1, 1, 1].
  t.deepEqual(Array.from(solveLowerT(l, 3, Float64Array.from([0, 6, 3]))), [1, 1, 1]);
  // A x = b with x = [1, -2, 3]: b = A x.
  const b = [4 - 24 - 48, 12 - 74 - 129, -16 + 86 + 294];
  const x = cholSolve(l, 3, b);
  [1, -2, 3].forEach((v, i) => t.true(Math.abs(x[i] - v) < 1e-12, `x[${i}] = ${x[i]}`));
  const inv = inverseFromChol(l, 3);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += A[i * 3 + k] * inv[k * 3 + j];
      t.true(Math.abs(s - (i === j ? 1 : 0)) < 1e-12, `(A A^-1)[${i}][${j}] = ${s}`);
    }
  }
});

test('cholesky and the inverse at n = 37 (the four-way sums and their remainders): L L^T = A and A A^-1 = I', (t) => {
  const n = 37;
  // A = B B^T + n I with B from a fixed sequence: symmetric, well conditioned.
  const b = Float64Array.from({ length: n * n }, (_, i) => Math.sin(1.7 * i + 0.3));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = i === j ? n : 0;
      for (let k = 0; k < n; k++) s += b[i * n + k] * b[j * n + k];
      a[i * n + j] = s;
    }
  }
  const l = cholesky(a, n)!;
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += l[i * n + k] * l[j * n + k];
      worst = Math.max(worst, Math.abs(s - a[i * n + j]));
      if (j > i) t.is(l[i * n + j], 0);
    }
  }
  t.true(worst < 1e-10, `max |L L^T - A| = ${worst}`);
  // A reused, dirty workspace must not change the result.
  const inv = inverseFromChol(l, n, new Float64Array(n * n), new Float64Array(n * n).fill(NaN));
  worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * inv[k * n + j];
      worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
      t.is(inv[i * n + j], inv[j * n + i]);
    }
  }
  t.true(worst < 1e-12, `max |A A^-1 - I| = ${worst}`);
});

test('cholesky refuses an indefinite matrix; the jittered one factors a singular PSD matrix', (t) => {
  t.is(cholesky(Float64Array.from([1, 2, 2, 1]), 2), null);
  // Two identical rows: rank 1.
  const singular = Float64Array.from([1, 1, 1, 1]);
  t.is(cholesky(singular, 2), null);
  const j = choleskyJitter(singular, 2);
  t.truthy(j);
  t.true(j!.jitter > 0 && j!.jitter <= 1e-2);
  t.true(Array.from(j!.l).every(Number.isFinite));
  t.is(choleskyJitter(Float64Array.from([NaN, 0, 0, 1]), 2), null);
  t.is(choleskyJitter(A, 3)!.jitter, 0);
});

test('L-BFGS minimises the Rosenbrock function', (t) => {
  const rosen = (x: Float64Array, g: Float64Array): number => {
    const [a, b] = x;
    g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
    g[1] = 200 * (b - a * a);
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
  };
  const r = minimize(rosen, [-1.2, 1], { maxIter: 500, gtol: 1e-9, ftol: 0 });
  t.true(Math.abs(r.x[0] - 1) < 1e-5 && Math.abs(r.x[1] - 1) < 1e-5, `reached ${Array.from(r.x)} (${r.reason})`);
});

test('L-BFGS with bounds stops on the active bound and keeps fixed variables', (t) => {
  // min (x0 - 2)^2 + (x1 + 1)^2 + (x2 - 5)^2 in [0,1] x [0,1] x [3,3]: (1, 0, 3).
  const f = (x: Float64Array, g: Float64Array): number => {
    g[0] = 2 * (x[0] - 2);
    g[1] = 2 * (x[1] + 1);
    g[2] = 2 * (x[2] - 5);
    return (x[0] - 2) ** 2 + (x[1] + 1) ** 2 + (x[2] - 5) ** 2;
  };
  const r = minimize(f, [0.5, 0.5, 3], { lower: [0, 0, 3], upper: [1, 1, 3] });
  t.deepEqual(Array.from(r.x), [1, 0, 3]);
  t.is(r.reason, 'gradient');
});

test('L-BFGS backs off from non-finite values', (t) => {
  // f = x^2 - log(x - 0.5): Infinity for x <= 0.5; minimum at x = (0.5 + sqrt(0.25 + 2)) / 2.
  const f = (x: Float64Array, g: Float64Array): number => {
    if (x[0] <= 0.5) return Infinity;
    g[0] = 2 * x[0] - 1 / (x[0] - 0.5);
    return x[0] * x[0] - Math.log(x[0] - 0.5);
  };
  const r = minimize(f, [3], { gtol: 1e-10 });
  t.true(Math.abs(r.x[0] - (0.5 + Math.sqrt(2.25)) / 2) < 1e-7, `x = ${r.x[0]}`);
});

test('erfc, Phi and phi against reference values', (t) => {
  // Python math.erfc to 17 digits.
  const ref: Array<[number, number]> = [
    [0.5, 0.4795001221869535], [1, 0.15729920705028513], [2, 0.004677734981047265],
    [3, 2.2090496998585438e-5], [5, 1.5374597944280351e-12], [10, 2.088487583762545e-45], [-1, 1.842700792949715],
  ];
  for (const [x, v] of ref) t.true(Math.abs(erfc(x) - v) <= 2e-14 * v, `erfc(${x}) = ${erfc(x)}, want ${v}`);
  t.true(Math.abs(normCdf(-1) - 0.15865525393145707) < 1e-15);
  t.true(Math.abs(normPdf(0) - 1 / Math.sqrt(2 * Math.PI)) < 1e-16);
  // log Phi deep in the tail: log Phi(-40) = -804.6084420137539 (asymptotic series).
  t.true(Math.abs(logNormCdf(-40) - -804.6084420137539) < 1e-9, `log Phi(-40) = ${logNormCdf(-40)}`);
  t.true(Math.abs(logNormCdf(3) - Math.log(0.9986501019683699)) < 1e-15);
});

test('log h matches log(phi + z Phi) where that is accurate, is continuous at -1 and finite everywhere', (t) => {
  for (const z of [-0.999, -0.5, 0, 1, 3, 8]) {
    const direct = Math.log(normPdf(z) + z * normCdf(z));
    t.true(Math.abs(logH(z) - direct) < 1e-12 * Math.max(1, Math.abs(direct)), `z = ${z}`);
  }
  for (const z of [-1.5, -3, -6]) {
    // phi(z) + z Phi(z) loses digits here; compare with a tolerance that allows for it.
    const direct = Math.log(normPdf(z) + z * normCdf(z));
    t.true(Math.abs(logH(z) - direct) < 1e-6, `z = ${z}: ${logH(z)} vs ${direct}`);
  }
  t.true(Math.abs(logH(-1 - 1e-12) - logH(-1 + 1e-12)) < 1e-9);
  // Monotone and finite across the branches, down to the asymptote.
  let prev = Infinity;
  for (const z of [10, 0, -1, -5, -30, -1e3, -1e7, -1e9, -1e150]) {
    const v = logH(z);
    t.true(Number.isFinite(v) && v < prev, `log h(${z}) = ${v}`);
    prev = v;
    t.true(Number.isFinite(dLogH(z)) && dLogH(z) > 0, `d log h(${z}) = ${dLogH(z)}`);
  }
  // The derivative against central differences.
  for (const z of [-20, -3, -0.5, 2]) {
    const h = 1e-6 * Math.max(1, Math.abs(z));
    const fd = (logH(z + h) - logH(z - h)) / (2 * h);
    t.true(Math.abs(fd - dLogH(z)) < 1e-5 * Math.max(1, Math.abs(fd)), `z = ${z}: ${dLogH(z)} vs ${fd}`);
  }
});
