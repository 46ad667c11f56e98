// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random
// numbers: as easy as 1, 2, 3", SC'11) and the distributions built on it, compiled unchanged
// by the host compiler (CPU kernels) and by nvcc (CUDA kernels), so that both give
// bit-identical results.
//
// Counter layout. Element i of a draw from RngStream{seed, stream, offset} uses the Philox
// block with
//   key     = (seed & 0xffffffff, (seed >> 32) ^ mix(stream >> 32))
//   counter = (index & 0xffffffff, index >> 32, stream & 0xffffffff, round)
// where index = offset + i (mod 2^64) and round = 0, 1, 2, ... counts the blocks that one
// element consumes (only Poisson's rejection loop uses more than one). Each value depends only
// on (seed, stream, index): any slice of a stream can be regenerated, whatever the thread count.
// Streams below 2^32 are fully independent for a given seed; the high 32 bits of a larger
// stream are folded into the key (mix(0) == 0), so such streams are distinct from every
// stream of the same seed but may coincide with a stream of another seed.
//
// Bit-identical CPU and CUDA results. Device libm (log, exp, cos) differs from glibc's, and
// nvcc contracts a*b+c into FMA by default, so nothing here calls libm except the correctly
// rounded sqrt and the exact floor. The transcendental functions below are built from IEEE
// double operations with explicit round-to-nearest: __dadd_rn/__dmul_rn/... on the device
// (never contracted) and plain operations on the host, where each product passes through an
// empty asm barrier so that no compiler setting can fuse it into an FMA. No FMA is used
// anywhere, so the test suite's TypeScript reference (IEEE doubles, no FMA) reproduces every
// value bit for bit.
#pragma once

#include <cfloat>
#include <cstdint>
#include <cstring>

#if !defined(__CUDA_ARCH__)
#include <cmath>
#endif

#include "shapes.h"

#if defined(__CUDACC__)
#define DENDRITE_HD __host__ __device__
#else
#define DENDRITE_HD
#endif

#if !defined(__CUDA_ARCH__) && defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0 && FLT_EVAL_METHOD != -1
#error "philox.h needs IEEE double evaluation (FLT_EVAL_METHOD 0), e.g. SSE2 on x86, not x87"
#endif
#if defined(__FAST_MATH__)
#error "philox.h must not be compiled with -ffast-math: its results would differ between CPU and CUDA"
#endif

namespace dendrite::philox {
// ---------------------------------------------------------------------------------------------
// Philox4x32-10

struct Block {
  uint32_t x0, x1, x2, x3;
};

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments

// The key and fixed counter words of one RngStream.
struct Stream {
  uint32_t k0, k1, stream_lo;
  uint64_t offset;
};

// The functions' device and host branches are different definitions of the same inline
// functions: a build that compiles both into one program (the CUDA emulator's test,
// native/test/cuda_emu) keeps them apart through this inline namespace, invisible to callers. The
// types stay outside it: a kernel's mangled name (its parameter types) must be the same in nvcc's
// host and device passes.
#if defined(__CUDA_ARCH__)
inline namespace device_code {
#else
inline namespace host_code {
#endif

DENDRITE_HD inline uint32_t mulhi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

// Ten rounds of (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2,
// c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0), with the key bumped by (W0, W1) between rounds.
DENDRITE_HD inline Block philox4x32_10(Block c, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const uint32_t hi0 = mulhi32(kM0, c.x0), lo0 = kM0 * c.x0;
    const uint32_t hi1 = mulhi32(kM1, c.x2), lo1 = kM1 * c.x2;
    c = Block{hi1 ^ c.x1 ^ k0, lo1, hi0 ^ c.x3 ^ k1, lo0};
  }
  return c;
}

DENDRITE_HD inline Stream make_stream(const RngStream& r) {
  const uint32_t stream_hi = static_cast<uint32_t>(r.stream >> 32);
  Stream s;
  s.k0 = static_cast<uint32_t>(r.seed);
  // An odd multiplier is a bijection of 32-bit words with mix(0) == 0.
  s.k1 = static_cast<uint32_t>(r.seed >> 32) ^ (stream_hi * 0x9E3779B9u);
  s.stream_lo = static_cast<uint32_t>(r.stream);
  s.offset = r.offset;
  return s;
}

// The block that element i draws in the given round.
DENDRITE_HD inline Block block_at(const Stream& s, uint64_t i, uint32_t round) {
  const uint64_t index = s.offset + i;
  return philox4x32_10(
      Block{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), s.stream_lo, round}, s.k0, s.k1);
}

// Returns the number of the three philox4x32 10 known-answer vectors of Random123's
// tests/kat_vectors (DEShawResearch/random123 @ 9545ff64, lines 27-29) that this
// implementation fails: 0 when correct.
inline int known_answer_failures() {
  struct Kat {
    Block ctr;
    uint32_t k0, k1;
    Block expected;
  };
  const Kat kats[3] = {
      {{0u, 0u, 0u, 0u}, 0u, 0u, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
       0xffffffffu,
       0xffffffffu,
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
       0xa4093822u,
       0x299f31d0u,
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  int failures = 0;
  for (const Kat& k : kats) {
    const Block b = philox4x32_10(k.ctr, k.k0, k.k1);
    if (b.x0 != k.expected.x0 || b.x1 != k.expected.x1 || b.x2 != k.expected.x2 || b.x3 != k.expected.x3) {
      ++failures;
    }
  }
  return failures;
}

// ---------------------------------------------------------------------------------------------
// IEEE double arithmetic, rounded to nearest, never fused.

namespace fp {

DENDRITE_HD inline double add(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

DENDRITE_HD inline double sub(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}

DENDRITE_HD inline double mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  double p = a * b;
  // The product must reach memory or a register rounded: an opaque value cannot be fused with a
  // later addition, whatever -ffp-contract says.
#if defined(__GNUC__) && defined(__x86_64__)
  __asm__("" : "+x"(p));
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__("" : "+w"(p));
#elif defined(__GNUC__)
  __asm__("" : "+m"(p));
#endif
  return p;
#endif
}

DENDRITE_HD inline double div(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}

DENDRITE_HD inline double sqrt(double a) {
#if defined(__CUDA_ARCH__)
  return __dsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

DENDRITE_HD inline double floor(double a) {
#if defined(__CUDA_ARCH__)
  return ::floor(a);
#else
  return std::floor(a);
#endif
}

DENDRITE_HD inline float to_float(double a) {
#if defined(__CUDA_ARCH__)
  return __double2float_rn(a);
#else
  return static_cast<float>(a);
#endif
}

DENDRITE_HD inline uint64_t bits(double a) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint64_t>(__double_as_longlong(a));
#else
  uint64_t u;
  std::memcpy(&u, &a, sizeof u);
  return u;
#endif
}

DENDRITE_HD inline double from_bits(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double a;
  std::memcpy(&a, &u, sizeof a);
  return a;
#endif
}

DENDRITE_HD inline uint32_t float_bits(float a) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint32_t>(__float_as_uint(a));
#else
  uint32_t u;
  std::memcpy(&u, &a, sizeof u);
  return u;
#endif
}

DENDRITE_HD inline float float_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float a;
  std::memcpy(&a, &u, sizeof a);
  return a;
#endif
}

DENDRITE_HD inline double infinity() { return from_bits(0x7ff0000000000000ull); }

// 2^k for -1022 <= k <= 1023.
DENDRITE_HD inline double pow2(int k) { return from_bits(static_cast<uint64_t>(k + 1023) << 52); }

// ln 2 split so that k * kLn2Hi is exact for |k| < 2^11 (kLn2Hi has 42 significant bits).
constexpr double kLn2Hi = 0.6931471805598903;      // 0x3fe62e42fefa3800
constexpr double kLn2Lo = 5.497923018708371e-14;   // ln 2 - kLn2Hi
constexpr double kInvLn2 = 1.4426950408889634;
constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kPiOver2p31 = 1.4629180792671596e-09;  // pi / 2^31
constexpr double kHalfLog2Pi = 0.9189385332046728;      // log(2 pi) / 2

// Natural logarithm, within a few ulp. x = 2^e m with m in [sqrt(1/2), sqrt(2)),
// log m = 2 atanh(s) = 2s (1 + s^2/3 + s^4/5 + ...) with s = (m - 1) / (m + 1) (|s| < 0.172,
// series to s^20/21: truncation below 1e-18).
DENDRITE_HD inline double log(double x) {
  if (!(x > 0.0)) return x == 0.0 ? -infinity() : from_bits(0x7ff8000000000000ull);  // NaN below 0
  if (x == infinity()) return x;
  int e = 0;
  if (x < 2.2250738585072014e-308) {  // subnormal: scale by 2^54 (exact)
    x = mul(x, 18014398509481984.0);
    e = -54;
  }
  const uint64_t u = bits(x);
  e += static_cast<int>((u >> 52) & 0x7ff) - 1023;
  double m = from_bits((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);  // [1, 2)
  if (m > kSqrt2) {
    m = mul(m, 0.5);
    e += 1;
  }
  const double f = sub(m, 1.0);  // exact (Sterbenz)
  const double s = div(f, add(2.0, f));
  const double z = mul(s, s);
  double r = 0.047619047619047616;  // 1/21
  r = add(mul(r, z), 0.05263157894736842);   // 1/19
  r = add(mul(r, z), 0.058823529411764705);  // 1/17
  r = add(mul(r, z), 0.06666666666666667);   // 1/15
  r = add(mul(r, z), 0.07692307692307693);   // 1/13
  r = add(mul(r, z), 0.09090909090909091);   // 1/11
  r = add(mul(r, z), 0.1111111111111111);    // 1/9
  r = add(mul(r, z), 0.14285714285714285);   // 1/7
  r = add(mul(r, z), 0.2);                   // 1/5
  r = add(mul(r, z), 0.3333333333333333);    // 1/3
  const double t = add(s, s);
  const double log_m = add(t, mul(t, mul(z, r)));
  const double ed = static_cast<double>(e);
  return add(mul(ed, kLn2Hi), add(log_m, mul(ed, kLn2Lo)));
}

// Exponential, within a few ulp. x = k ln2 + r with |r| <= ln2/2 (Cody-Waite reduction),
// exp(r) by its Taylor series to r^13/13! (truncation below 1e-17), then scaled by 2^k.
DENDRITE_HD inline double exp(double x) {
  if (x != x) return x;
  if (x > 709.782712893384) return infinity();
  if (x < -745.1332191019412) return 0.0;
  const double kd = floor(add(mul(x, kInvLn2), 0.5));
  const double r = sub(sub(x, mul(kd, kLn2Hi)), mul(kd, kLn2Lo));
  double p = 1.6059043836821613e-10;         // 1/13!
  p = add(mul(p, r), 2.08767569878681e-09);  // 1/12!
  p = add(mul(p, r), 2.505210838544172e-08);
  p = add(mul(p, r), 2.755731922398589e-07);
  p = add(mul(p, r), 2.7557319223985893e-06);
  p = add(mul(p, r), 2.48015873015873e-05);
  p = add(mul(p, r), 0.0001984126984126984);
  p = add(mul(p, r), 0.001388888888888889);
  p = add(mul(p, r), 0.008333333333333333);
  p = add(mul(p, r), 0.041666666666666664);
  p = add(mul(p, r), 0.16666666666666666);
  p = add(mul(p, r), 0.5);
  p = add(mul(p, r), 1.0);
  p = add(mul(p, r), 1.0);
  const int k = static_cast<int>(kd);
  if (k >= -1022 && k <= 1023) return mul(p, pow2(k));
  const int k1 = k / 2;  // two steps keep each factor a normal power of two
  return mul(mul(p, pow2(k1)), pow2(k - k1));
}

// cos(2 pi w / 2^32) for a 32-bit word w. The reduction is exact in integers: w = j 2^30 + r
// with r in [-2^29, 2^29), so the angle is j pi/2 + a with a = pi r / 2^31 in [-pi/4, pi/4];
// sin and cos of a by Taylor series to a^15 and a^16 (truncation below 1e-16 relative).
DENDRITE_HD inline double cos_2pi(uint32_t w) {
  const uint32_t j = (w + 0x20000000u) >> 30;
  const int32_t r = static_cast<int32_t>(w - (j << 30));
  const double a = mul(static_cast<double>(r), kPiOver2p31);
  const double z = mul(a, a);
  if ((j & 1u) == 0) {
    double c = 4.779477332387385e-14;  // 1/16!
    c = add(mul(c, z), -1.1470745597729725e-11);
    c = add(mul(c, z), 2.08767569878681e-09);
    c = add(mul(c, z), -2.755731922398589e-07);
    c = add(mul(c, z), 2.48015873015873e-05);
    c = add(mul(c, z), -0.001388888888888889);
    c = add(mul(c, z), 0.041666666666666664);
    c = add(mul(c, z), -0.5);
    const double cos_a = add(1.0, mul(z, c));
    return j == 0 ? cos_a : -cos_a;
  }
  double s = -7.647163731819816e-13;  // -1/15!
  s = add(mul(s, z), 1.6059043836821613e-10);
  s = add(mul(s, z), -2.505210838544172e-08);
  s = add(mul(s, z), 2.7557319223985893e-06);
  s = add(mul(s, z), -0.0001984126984126984);
  s = add(mul(s, z), 0.008333333333333333);
  s = add(mul(s, z), -0.16666666666666666);
  const double sin_a = add(a, mul(a, mul(z, s)));
  return j == 1 ? -sin_a : sin_a;
}

// log(k!) for an integer k >= 0: exact k! for k < 10, else Stirling's series in x = k + 1,
// (x - 1/2) log x - x + log(2 pi)/2 + 1/(12x) - 1/(360x^3) + 1/(1260x^5) - 1/(1680x^7) + 1/(1188x^9)
// (next term below 7e-15 for x >= 11).
DENDRITE_HD inline double log_factorial(double k) {
  if (k < 10.0) {
    double f = 1.0;
    for (double j = 2.0; j <= k; j = add(j, 1.0)) f = mul(f, j);
    return log(f);
  }
  const double x = add(k, 1.0);
  const double w = div(1.0, x);
  const double w2 = mul(w, w);
  double c = 0.0008417508417508417;         // 1/1188
  c = sub(0.0005952380952380953, mul(w2, c));  // 1/1680
  c = sub(0.0007936507936507937, mul(w2, c));  // 1/1260
  c = sub(0.002777777777777778, mul(w2, c));   // 1/360
  c = sub(0.08333333333333333, mul(w2, c));    // 1/12
  return add(add(sub(mul(sub(x, 0.5), log(x)), x), kHalfLog2Pi), mul(w, c));
}

}  // namespace fp

// ---------------------------------------------------------------------------------------------
// Uniform bits

// [0, 1) in steps of 2^-53 from the top 27 bits of a and the top 26 bits of b.
DENDRITE_HD inline double u53(uint32_t a, uint32_t b) {
  const uint64_t m = (static_cast<uint64_t>(a >> 5) << 26) | (b >> 6);
  return fp::mul(static_cast<double>(m), 1.1102230246251565e-16);  // exact
}

// (0, 1] in steps of 2^-53 (a valid argument of log).
DENDRITE_HD inline double u53_open0(uint32_t a, uint32_t b) {
  const uint64_t m = ((static_cast<uint64_t>(a >> 5) << 26) | (b >> 6)) + 1;
  return fp::mul(static_cast<double>(m), 1.1102230246251565e-16);  // exact
}

// The largest float below h.
DENDRITE_HD inline float float_below(float h) {
  const uint32_t u = fp::float_bits(h);
  if (h > 0.0f) return fp::float_from_bits(u - 1);
  if (h == 0.0f) return fp::float_from_bits(0x80000001u);
  return fp::float_from_bits(u + 1);
}

// ---------------------------------------------------------------------------------------------
// Distributions: the value of element i of a stream.

// Uniform on [low, high) (low < high, both finite): u = (x0 >> 8) 2^-24, a multiple of 2^-24 in
// [0, 1), mapped to low + (high - low) u in double and rounded to float; a value that rounds
// up to high becomes the float just below it.
DENDRITE_HD inline float uniform_at(const Stream& s, uint64_t i, float low, float high) {
  const Block b = block_at(s, i, 0);
  const double u = fp::mul(static_cast<double>(b.x0 >> 8), 5.960464477539063e-08);  // 2^-24
  const double lo = low;
  const float x = fp::to_float(fp::add(lo, fp::mul(fp::sub(static_cast<double>(high), lo), u)));
  return x < high ? x : float_below(high);
}

// Standard normal by Box-Muller: sqrt(-2 log u1) cos(2 pi u2), u1 in (0, 1] with 53 bits from
// (x0, x1) (tails reach 8.57 sigma), u2 = x2 / 2^32.
DENDRITE_HD inline double standard_normal(const Block& b) {
  const double u1 = u53_open0(b.x0, b.x1);
  return fp::mul(fp::sqrt(fp::mul(-2.0, fp::log(u1))), fp::cos_2pi(b.x2));
}

DENDRITE_HD inline float normal_at(const Stream& s, uint64_t i, float mean, float stddev) {
  const double z = standard_normal(block_at(s, i, 0));
  return fp::to_float(fp::add(static_cast<double>(mean), fp::mul(static_cast<double>(stddev), z)));
}

// 1 with probability p: u < p with u in [0, 1) from 53 bits (so P(1) = ceil(p 2^53) / 2^53).
DENDRITE_HD inline uint8_t bernoulli_at(const Stream& s, uint64_t i, float p) {
  const Block b = block_at(s, i, 0);
  return u53(b.x0, b.x1) < static_cast<double>(p) ? 1 : 0;
}

// Rates are clamped to this (the bindings reject larger ones), so that every count fits an int32.
constexpr double kPoissonMaxRate = 1e9;
// Rates below this use inversion, the others the PTRS rejection method (valid for rate >= 10).
constexpr double kPoissonInversionBelow = 10.0;
// PTRS accepts more than 85% of its candidates; this bound only guarantees that a kernel ends.
constexpr uint32_t kPoissonMaxRounds = 1000;

// Poisson(lam) by inversion for 0 < lam < kPoissonInversionBelow: k = min{k : u < F(k)} with
// F(k) = sum_{j<=k} e^-lam lam^j / j! summed in double (poisson_at's method, given its u).
DENDRITE_HD inline int32_t poisson_inversion(double u, double lam) {
  double p = fp::exp(-lam), F = p, k = 0.0;
  while (u >= F) {
    k = fp::add(k, 1.0);
    p = fp::mul(p, fp::div(lam, k));
    const double next = fp::add(F, p);
    if (next == F) break;  // the remaining tail is below double resolution
    F = next;
  }
  return static_cast<int32_t>(k);
}

// Poisson(rate). rate < 10: inversion (poisson_inversion) with u in [0, 1) from 53 bits of the
// round-0 block. rate >= 10:
// Hormann's PTRS ("The transformed rejection method for generating Poisson random variables",
// Insurance: Mathematics and Economics 12, 1993), one block per candidate: U from (x0, x1),
// V from (x2, x3). Rates that are not > 0 (including NaN) give 0.
DENDRITE_HD inline int32_t poisson_at(const Stream& s, uint64_t i, float rate) {
  double lam = rate;
  if (!(lam > 0.0)) return 0;
  if (lam > kPoissonMaxRate) lam = kPoissonMaxRate;
  if (lam < kPoissonInversionBelow) {
    const Block b = block_at(s, i, 0);
    return poisson_inversion(u53(b.x0, b.x1), lam);
  }
  const double slam = fp::sqrt(lam), log_lam = fp::log(lam);
  const double pb = fp::add(0.931, fp::mul(2.53, slam));
  const double pa = fp::add(-0.059, fp::mul(0.02483, pb));
  const double log_inv_alpha = fp::log(fp::add(1.1239, fp::div(1.1328, fp::sub(pb, 3.4))));
  const double vr = fp::sub(0.9277, fp::div(3.6224, fp::sub(pb, 2.0)));
  for (uint32_t round = 0; round < kPoissonMaxRounds; ++round) {
    const Block b = block_at(s, i, round);
    const double U = fp::sub(u53(b.x0, b.x1), 0.5);  // [-1/2, 1/2)
    const double V = u53_open0(b.x2, b.x3);          // (0, 1]
    const double us = fp::sub(0.5, U < 0.0 ? -U : U);
    // k = floor((2a/us + b) U + lam + 0.43); -inf when us == 0
    const double k =
        fp::floor(fp::add(fp::add(fp::mul(fp::add(fp::div(fp::mul(2.0, pa), us), pb), U), lam), 0.43));
    if (us >= 0.07 && V <= vr) return static_cast<int32_t>(k);
    if (k < 0.0 || (us < 0.013 && V > us)) continue;
    // Accept when log(V alpha / (a / us^2 + b)) <= -lam + k log(lam) - log(k!).
    const double lhs =
        fp::sub(fp::add(fp::log(V), log_inv_alpha), fp::log(fp::add(fp::div(pa, fp::mul(us, us)), pb)));
    const double rhs = fp::sub(fp::add(-lam, fp::mul(k, log_lam)), fp::log_factorial(k));
    // Counts far above int32 have probability 0 at rates <= kPoissonMaxRate.
    if (lhs <= rhs && k <= 2147483647.0) return static_cast<int32_t>(k);
  }
  return static_cast<int32_t>(fp::floor(lam));  // not reached in practice (probability < 1e-800)
}

// Wald (inverse Gaussian) with mean mu and shape lambda, by Michael, Schucany & Haas (1976):
// y = nu^2 (nu standard normal), Y = mu y,
// x = mu + mu/(2 lambda) (Y - sqrt(4 lambda Y + Y^2)), written without cancellation as
// x = mu 4 lambda Y / (S + Y)^2 with S = sqrt(4 lambda Y + Y^2);
// return x if z <= mu / (mu + x), else mu^2 / x, with z = x3 / 2^32 uniform on [0, 1).
DENDRITE_HD inline float wald_at(const Stream& s, uint64_t i, float mean, float shape) {
  const Block b = block_at(s, i, 0);
  const double nu = standard_normal(b);
  const double mu = mean, lambda = shape;
  const double Y = fp::mul(mu, fp::mul(nu, nu));
  double x = mu;
  if (Y > 0.0) {
    const double four_lambda_y = fp::mul(fp::mul(4.0, lambda), Y);
    const double S = fp::sqrt(fp::add(four_lambda_y, fp::mul(Y, Y)));
    const double sy = fp::add(S, Y);
    x = fp::div(fp::mul(mu, four_lambda_y), fp::mul(sy, sy));
  }
  const double z = fp::mul(static_cast<double>(b.x3), 2.3283064365386963e-10);  // 2^-32
  const double w = z <= fp::div(mu, fp::add(mu, x)) ? x : fp::mul(mu, fp::div(mu, x));
  return fp::to_float(w);
}

}  // inline namespace device_code / host_code
}  // namespace dendrite::philox
