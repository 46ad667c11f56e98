// The standard normal distribution and the log of the expected-improvement function h(z), in
// forms that stay finite and accurate far in the tails (acquisition values live in log space).

const SQRT_PI = Math.sqrt(Math.PI);
const SQRT2 = Math.SQRT2;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const HALF_LOG_PI_2 = 0.5 * Math.log(Math.PI / 2);
/** Below this z, h(z) ~ phi(z) / z^2 to double precision (Ament et al. 2023). */
const LOG_H_ASYMPTOTE = -1 / Math.sqrt(Number.EPSILON);

/**
 * erfcx(x) = exp(x^2) erfc(x) for x >= 2 by Laplace's continued fraction, evaluated backwards
 * with enough terms for full double precision at that x (checked against erfc to 1e-15).
 */
function erfcxLarge(x: number): number {
  const terms = x < 2.5 ? 64 : x < 4 ? 40 : 20;
  let t = x;
  for (let k = terms; k >= 1; k--) t = x + k / 2 / t;
  return 1 / (SQRT_PI * t);
}

/**
 * erfc(x) for 0 <= x < 2 from erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (2n+1)!!, a series
 * of positive terms (no cancellation inside it; erfc >= 0.0047 here so 1 - erf loses little).
 */
function erfcSmall(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return 1 - (2 / SQRT_PI) * Math.exp(-x * x) * sum;
}

/** The complementary error function. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return erfcSmall(x);
  if (x > 27.3) return 0; // below the smallest subnormal
  return Math.exp(-x * x) * erfcxLarge(x);
}

/** The scaled complementary error function exp(x^2) erfc(x), for x >= 0. */
export function erfcx(x: number): number {
  if (x < 2) return Math.exp(x * x) * erfcSmall(x);
  return erfcxLarge(x);
}

/** Standard normal density. */
export function normPdf(z: number): number {
  return Math.exp(-0.5 * z * z - LOG_SQRT_2PI);
}

/** log of the standard normal density. */
export function logNormPdf(z: number): number {
  return -0.5 * z * z - LOG_SQRT_2PI;
}

/** Standard normal CDF Phi(z). */
export function normCdf(z: number): number {
  return 0.5 * erfc(-z / SQRT2);
}

/** log Phi(z), finite for every finite z (the lower tail through erfcx). */
export function logNormCdf(z: number): number {
  if (z > -1) return Math.log1p(-0.5 * erfc(z / SQRT2));
  const x = -z / SQRT2;
  return Math.log(0.5 * erfcx(x)) - x * x;
}

/** log(1 - exp(x)) for x < 0, accurate at both ends (Maechler 2012). */
export function log1mexp(x: number): number {
  return x > -Math.LN2 ? Math.log(-Math.expm1(x)) : Math.log1p(-Math.exp(x));
}

/**
 * log h(z) with h(z) = phi(z) + z Phi(z), the expected improvement of a unit normal over a
 * threshold z standard deviations above its mean: direct for z > -1, then the erfcx form and,
 * beyond -1/sqrt(eps), the asymptote -z^2/2 - log sqrt(2 pi) - 2 log|z| (Ament et al. 2023, eq. 9).
 */
export function logH(z: number): number {
  if (z > -1) return Math.log(normPdf(z) + z * normCdf(z));
  if (z > LOG_H_ASYMPTOTE) {
    return -0.5 * z * z - LOG_SQRT_2PI + log1mexp(Math.log(erfcx(-z / SQRT2) * -z) + HALF_LOG_PI_2);
  }
  return -0.5 * z * z - LOG_SQRT_2PI - 2 * Math.log(-z);
}

/** d log h / dz = Phi(z) / h(z), computed in log space so that it stays finite. */
export function dLogH(z: number): number {
  if (z > -1) return normCdf(z) / (normPdf(z) + z * normCdf(z));
  return Math.exp(logNormCdf(z) - logH(z));
}
