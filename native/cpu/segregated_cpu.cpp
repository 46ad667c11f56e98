// The CPU engine of the segregated-dendrite network (docs/papers.md): seg::Network, the driver
// (native/common/segregated_driver.cpp), runs it through the Engine interface
// (segregated_engine.h); every value comes from the equations of segregated_step.h, shared with
// the CUDA engine. What is the CPU's own: the event lists, the SIMD clones and the threading.
//
// Exact, event-driven version of the original's step loop (docs/papers.md §7, §17.2):
// - within an example W is constant, so the basal drive W PSP(t) = sum_i kappa(i) u(t-i+1) with
//   u(s) = W S(s) accumulated over the spikes of step s only (column j of W is row j of Wt, the
//   transposed weights we store); the last `mem` vectors u are kept and recomputed from the spike
//   history after every weight update (the history still holds the previous example's spikes);
// - with g_A = 0 the apical compartment has no somatic effect, so A is computed only in the steps
//   whose values reach a plateau (the last T + cap steps of a training phase);
// - Poisson counts are those of philox::poisson_at (bit for bit): a vectorised Philox pass decides
//   the zero counts exactly from the top 27 bits of the uniform, bounds most of the ones, and only
//   the rest run poisson_at's search.
// - tests run one independent slot per image, in parallel; batched training runs one slot per
//   batch member in parallel and sums the updates in slot order (deterministic); online training
//   of one hidden layer splits its units between two threads (run_example_pair).
// State is float32; every accumulation has a fixed order, so results do not depend on threads.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "common/devices.h"
#include "common/error.h"
#include "common/philox.h"
#include "common/segregated.h"
#include "common/segregated_engine.h"
#include "common/segregated_step.h"
#include "kernels.h"
#include "pages.h"
#include "philox_avx512.h"
#include "parallel.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

// Every clone must give the same bits: no FMA contraction in this file.
#include "exact_rounding.h"

namespace dendrite::seg {
namespace {

// ---------------------------------------------------------------------------------------------
// Spike draws. For units i with rates rate[i], the count is spike_count(stream, base + unit_i,
// rate[i]) (segregated_step.h) bit for bit, computed in two exact tiers:
// 1. a vectorised Philox pass gives every unit's word x and compares v = x >> 5, the top 27 bits of
//    the uniform u = (x + 1/2) 2^-32, with three integer bounds of the unit's rate (count_bounds):
//    they prove a count of 0 (about 85 % of the draws) or of 1 (most of the rest);
// 2. what remains (u near a bound, counts >= 2, rates >= 1) runs spike_count's inversion search
//    from the same u: under 1 % of the draws.

// The integer bounds of one rate, in three rows (zero[i], one_lo[i], one_hi[i] for unit i): with
// u in [v, v + 1) 2^-27,
//   v < zero               proves u < exp(-rate): spike_count gives 0;
//   one_lo <= v < one_hi   proves exp(-rate) <= u < exp(-rate)(1 + rate): it gives 1.
struct CountBounds {
  int32_t* zero;
  int32_t* one_lo;
  int32_t* one_hi;
  CountBounds operator+(int64_t k) const { return {zero + k, one_lo + k, one_hi + k}; }
};

// For rates r in [0, 1) the bounds follow from the alternating Taylor series
//   1 - r + r^2/2 - r^3/6 <= exp(-r) <= 1 - r + r^2/2,   exp(-r)(1 + r) >= 1 - r^2/2 + r^3/3 - r^4/8,
// evaluated in float (at most 8 roundings of values below 2: an error under 5e-7) and moved inwards
// by kBoundMargin = 2^-19 (1.9e-6), far more than that error plus spike_count's double rounding
// (a few 1e-16). Other rates (>= 1, NaN) prove nothing: every draw goes to tier 2. The AVX2 and
// AVX-512 rate kernels repeat this operation for operation.
constexpr float kBoundMargin = 1.0f / 524288.0f;
constexpr float kTwo27 = 134217728.0f;
constexpr int32_t kNoOne = 1 << 27;  // one_lo where no count is proved 1 (v < 2^27 always)
inline void count_bounds(float rate, CountBounds b, int64_t i) {
  const bool ok = rate >= 0.0f && rate < 1.0f;
  const float r = ok ? rate : 0.0f;
  const float r2 = r * r, r3 = r2 * r, r4 = r2 * r2;
  const float e_hi = (1.0f - r) + 0.5f * r2;
  const float e_lo = e_hi - r3 * (1.0f / 6.0f);
  const float f1_lo = ((1.0f - 0.5f * r2) + r3 * (1.0f / 3.0f)) - r4 * 0.125f;
  b.zero[i] = ok ? static_cast<int32_t>((e_lo - kBoundMargin) * kTwo27) : 0;
  b.one_lo[i] = ok ? static_cast<int32_t>((e_hi + kBoundMargin) * kTwo27) + 1 : kNoOne;
  b.one_hi[i] = ok ? static_cast<int32_t>((f1_lo - kBoundMargin) * kTwo27) : 0;
}

// What the bounds prove of a draw whose word is x: 0, 1, or -1 (tier 2 decides).
inline int proved_count(uint32_t x, CountBounds b, int64_t i) {
  const int32_t v = static_cast<int32_t>(x >> 5);
  if (v < b.zero[i]) return 0;
  return v >= b.one_lo[i] && v < b.one_hi[i] ? 1 : -1;
}

// lam = lambda_max sigma(C) and its count bounds, for n units (H6, O5).
void rates_plain(const float* C, float* lam, CountBounds tb, int64_t n, float lmax) {
  for (int64_t k = 0; k < n; ++k) {
    lam[k] = rate_of(lmax, C[k]);
    count_bounds(lam[k], tb, k);
  }
}

// x = sigma(x) for n values (the plateaus, P1 and P4, and the hidden errors, U4).
void sigmoids_plain(float* x, int64_t n) {
  for (int64_t k = 0; k < n; ++k) x[k] = sigmoid_f(x[k]);
}

// Leaky soma without apical coupling (H5 with g_A = 0, O4 forward): C = soma_leaky(C, B, g), then
// the rates and bounds as rates_plain.
void soma_rates_plain(float* C, const float* B, float* lam, CountBounds tb, int64_t n, const StepParams& sp, float g) {
  const StepParams p = sp;
  for (int64_t k = 0; k < n; ++k) C[k] = soma_leaky(C[k], B[k], g, p);
  rates_plain(C, lam, tb, n, p.lmax);
}

// Words. Every count reads one 32-bit Philox word (spike_count, segregated_step.h); the SIMD
// clones draw them a group of 64 elements at a time (16 blocks whose words 0..3 are 16
// consecutive elements each). Every draw takes a run of consecutive elements (the input's pixels
// too: each nonzero pixel its rank among the image's), so no block is drawn for one word alone.

// xs[64 k + r] = the word of element 64 (g0 + k) + r, for k < ng.
void group_words_plain(const philox::Stream& s, uint64_t g0, int64_t ng, uint32_t* xs) {
  for (int64_t k = 0; k < ng; ++k) {
    for (uint64_t l = 0; l < 16; ++l) {
      const philox::Block b = philox::block_at(s, ((g0 + static_cast<uint64_t>(k)) << 4) | l, 0);
      uint32_t* x = xs + 64 * k + static_cast<int64_t>(l);
      x[0] = b.x0;
      x[16] = b.x1;
      x[32] = b.x2;
      x[48] = b.x3;
    }
  }
}

// Tier 1 on words x[i] with the bounds of their rates: bit i of ones[i / 64] is set where the count
// is proved 1, bit i of bits[i / 64] where it is left to tier 2 (neither: proved 0).
void classify_words_plain(const uint32_t* x, CountBounds tb, int64_t n, uint64_t* bits, uint64_t* ones) {
  for (int64_t w = 0; w < (n + 63) / 64; ++w) bits[w] = ones[w] = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int k = proved_count(x[i], tb, i);
    if (k < 0) bits[i >> 6] |= uint64_t{1} << (i & 63);
    if (k == 1) ones[i >> 6] |= uint64_t{1} << (i & 63);
  }
}

// Lazy draws, for a layer whose rates nothing but its own spike draws read (CpuEngine::lazy_): a
// rate never exceeds lambda_max, so v < zmax = count_bounds(lambda_max).zero proves a count of 0
// for any unit before its rate is known (about 82 % of the draws at lambda_max = 0.2). The stage
// pass keeps the other lanes (index, C, word), packed; rates_classify gives their rates and tier 1
// on them. Same counts as rates then draw_spikes, with a fifth of the rates computed.
int64_t stage_words_plain(const uint32_t* x, const float* C, int64_t n, int32_t zmax, int32_t* unit, float* Cs,
                          uint32_t* xs) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (static_cast<int32_t>(x[i] >> 5) < zmax) continue;
    unit[k] = static_cast<int32_t>(i);
    Cs[k] = C[i];
    xs[k] = x[i];
    ++k;
  }
  return k;
}

// lam[j] = rate_of(lmax, Cs[j]) and tier 1 on x[j] as classify_words.
void rates_classify_plain(const float* Cs, const uint32_t* x, int64_t n, float lmax, float* lam, uint64_t* bits,
                          uint64_t* ones) {
  for (int64_t w = 0; w < (n + 63) / 64; ++w) bits[w] = ones[w] = 0;
  int32_t z, lo, hi;
  const CountBounds tb{&z, &lo, &hi};
  for (int64_t j = 0; j < n; ++j) {
    lam[j] = rate_of(lmax, Cs[j]);
    count_bounds(lam[j], tb, 0);
    const int k = proved_count(x[j], tb, 0);
    if (k < 0) bits[j >> 6] |= uint64_t{1} << (j & 63);
    if (k == 1) ones[j >> 6] |= uint64_t{1} << (j & 63);
  }
}

// Leaky soma without apical coupling, C = soma_leaky(C, B, g): soma_rates without the rates.
void soma_plain(float* C, const float* B, int64_t n, const StepParams& sp, float g) {
  const StepParams p = sp;
  for (int64_t k = 0; k < n; ++k) C[k] = soma_leaky(C[k], B[k], g, p);
}

#if defined(__x86_64__) && defined(__GNUC__)
// High and low 32 bits of the eight 32 x 32-bit products a * m.
__attribute__((target("avx2"))) inline void mul_hilo(__m256i a, __m256i m, __m256i* hi, __m256i* lo) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

// Philox4x32-10 on eight counters (low words c0, high words c1), all four words.
struct Words8x {
  __m256i x0, x1, x2, x3;
};
__attribute__((target("avx2"))) inline Words8x philox8_avx2(const philox::Stream& s, __m256i c0, __m256i c1) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(philox::kM0));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(philox::kM1));
  __m256i c2 = _mm256_set1_epi32(static_cast<int>(s.stream_lo));
  __m256i c3 = _mm256_setzero_si256();
  uint32_t k0 = s.k0, k1 = s.k1;
  for (int round = 0; round < 10; ++round) {
    __m256i hi0, lo0, hi1, lo1;
    mul_hilo(c0, m0, &hi0, &lo0);
    mul_hilo(c2, m1, &hi1, &lo1);
    const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += philox::kW0;
    k1 += philox::kW1;
  }
  return {c0, c1, c2, c3};
}

// The low and high words of the 64-bit sums hi:lo + b (eight lanes; b < 2^32).
__attribute__((target("avx2"))) inline void add64(__m256i* lo, __m256i* hi, __m256i b) {
  const __m256i sign = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i sum = _mm256_add_epi32(*lo, b);
  // carry when the unsigned sum wrapped: sum < b (unsigned compare via sign flip)
  const __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(b, sign), _mm256_xor_si256(sum, sign));
  *lo = sum;
  *hi = _mm256_sub_epi32(*hi, carry);
}

// group_words with eight blocks per Philox pass.
__attribute__((target("avx2"))) void group_words_avx2(const philox::Stream& s, uint64_t g0, int64_t ng, uint32_t* xs) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t k = 0; k < ng; ++k) {
    for (int half = 0; half < 2; ++half) {
      // counter = s.offset + 16 g + 8 half + lane
      const uint64_t b0 = s.offset + ((g0 + static_cast<uint64_t>(k)) << 4) + static_cast<uint64_t>(8 * half);
      __m256i lo = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(b0)));
      __m256i hi = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(b0 >> 32)));
      add64(&lo, &hi, lane);
      const Words8x w = philox8_avx2(s, lo, hi);
      uint32_t* x = xs + 64 * k + 8 * half;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(x), w.x0);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(x + 16), w.x1);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(x + 32), w.x2);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(x + 48), w.x3);
    }
  }
}

__attribute__((target("avx2"))) void classify_words_avx2(const uint32_t* x, CountBounds tb, int64_t n, uint64_t* bits,
                                                          uint64_t* ones) {
  for (int64_t w = 0; w < (n + 63) / 64; ++w) bits[w] = ones[w] = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    // proved_count on eight lanes: v < zero; one_lo <= v < one_hi (v < 2^27: signed compares)
    const __m256i v = _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), 5);
    const auto load = [&](const int32_t* a) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)); };
    const __m256i zero = _mm256_cmpgt_epi32(load(tb.zero), v);
    const __m256i one = _mm256_andnot_si256(_mm256_cmpgt_epi32(load(tb.one_lo), v), _mm256_cmpgt_epi32(load(tb.one_hi), v));
    const uint64_t is1 = static_cast<uint64_t>(_mm256_movemask_ps(_mm256_castsi256_ps(one)) & 0xff);
    const uint64_t is0 = static_cast<uint64_t>(_mm256_movemask_ps(_mm256_castsi256_ps(zero)) & 0xff);
    bits[i >> 6] |= (~(is0 | is1) & 0xff) << (i & 63);
    ones[i >> 6] |= is1 << (i & 63);
  }
  for (; i < n; ++i) {
    const int k = proved_count(x[i], tb, i);
    if (k < 0) bits[i >> 6] |= uint64_t{1} << (i & 63);
    if (k == 1) ones[i >> 6] |= uint64_t{1} << (i & 63);
  }
}

// Philox on eight counters at a time: philox_avx512.h.
using cpu::PhiloxKeys;
using cpu::Words8;
using cpu::pack16;
using cpu::philox8;

__attribute__((target("avx512f"))) void group_words_avx512(const philox::Stream& s, uint64_t g0, int64_t ng,
                                                            uint32_t* xs) {
  const PhiloxKeys keys(s);
  const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t k = 0; k < ng; ++k) {
    // counters s.offset + 16 g + lane, as 64-bit lanes: words 0 and 1 are their low and high halves
    const uint64_t b0 = s.offset + ((g0 + static_cast<uint64_t>(k)) << 4);
    const __m512i ca = _mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(b0)), lane);
    const __m512i cb = _mm512_add_epi64(ca, _mm512_set1_epi64(8));
    const Words8 a = philox8(ca, _mm512_srli_epi64(ca, 32), keys);
    const Words8 b = philox8(cb, _mm512_srli_epi64(cb, 32), keys);
    uint32_t* x = xs + 64 * k;
    _mm512_storeu_si512(x, pack16(a.x0, b.x0));
    _mm512_storeu_si512(x + 16, pack16(a.x1, b.x1));
    _mm512_storeu_si512(x + 32, pack16(a.x2, b.x2));
    _mm512_storeu_si512(x + 48, pack16(a.x3, b.x3));
  }
}

__attribute__((target("avx512f"))) void classify_words_avx512(const uint32_t* x, CountBounds tb, int64_t n,
                                                               uint64_t* bits, uint64_t* ones) {
  for (int64_t w = 0; w < (n + 63) / 64; ++w) bits[w] = ones[w] = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 valid = n - i >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1);
    // proved_count on sixteen lanes (v < 2^27: signed compares)
    const __m512i v = _mm512_srli_epi32(_mm512_maskz_loadu_epi32(valid, x + i), 5);
    const __mmask16 is0 = _mm512_mask_cmplt_epi32_mask(valid, v, _mm512_maskz_loadu_epi32(valid, tb.zero + i));
    const __mmask16 is1 = _mm512_mask_cmplt_epi32_mask(_mm512_mask_cmpge_epi32_mask(valid, v, _mm512_maskz_loadu_epi32(valid, tb.one_lo + i)),
                                                       v, _mm512_maskz_loadu_epi32(valid, tb.one_hi + i));
    ones[i >> 6] |= static_cast<uint64_t>(is1) << (i & 63);
    bits[i >> 6] |= static_cast<uint64_t>(static_cast<uint16_t>(valid & ~(is0 | is1))) << (i & 63);
  }
}

__attribute__((target("avx512f"))) int64_t stage_words_avx512(const uint32_t* x, const float* C, int64_t n, int32_t zmax,
                                                              int32_t* unit, float* Cs, uint32_t* xs) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i vz = _mm512_set1_epi32(zmax);
  int64_t k = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 valid = n - i >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i w = _mm512_maskz_loadu_epi32(valid, x + i);
    const __mmask16 keep = _mm512_mask_cmpge_epi32_mask(valid, _mm512_srli_epi32(w, 5), vz);
    if (!keep) continue;
    // packed in registers (the memory form of vpcompressd is microcoded and slow on AMD); the
    // arrays have 16 lanes of room past n
    _mm512_storeu_si512(unit + k, _mm512_maskz_compress_epi32(keep, _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(i)), lane)));
    _mm512_storeu_ps(Cs + k, _mm512_maskz_compress_ps(keep, _mm512_maskz_loadu_ps(valid, C + i)));
    _mm512_storeu_si512(xs + k, _mm512_maskz_compress_epi32(keep, w));
    k += __builtin_popcount(keep);
  }
  return k;
}

#endif

// Blocked kernels (plain loops vectorised by the compiler in each target clone; each output
// element is summed in the same order in every clone, without FMA, so all give the same bits).
// u[k] = sum_e cnt_e W[idx_e][k] (events in order) for k in [k0, k0 + kBlock); W's rows are ld apart.
template <int kBlock>
inline void accum_block(float* __restrict u, const float* __restrict W, const int32_t* idx, const float* cnt,
                        int64_t ne, int64_t ld, int64_t k0) {
  float acc[kBlock];
  for (int k = 0; k < kBlock; ++k) acc[k] = 0.0f;
  for (int64_t e = 0; e < ne; ++e) {
    const float* w = W + static_cast<int64_t>(idx[e]) * ld + k0;
    const float c = cnt[e];
    for (int k = 0; k < kBlock; ++k) acc[k] = f32::mac(acc[k], c, w[k]);
  }
  for (int k = 0; k < kBlock; ++k) u[k0 + k] = acc[k];
}

template <int kBlock>
inline void accum_events_body(float* __restrict u, const float* __restrict W, const int32_t* idx, const float* cnt,
                              int64_t ne, int64_t n, int64_t ld) {
  int64_t k0 = 0;
  for (; k0 + kBlock <= n; k0 += kBlock) accum_block<kBlock>(u, W, idx, cnt, ne, ld, k0);
  for (; k0 + 16 <= n; k0 += 16) accum_block<16>(u, W, idx, cnt, ne, ld, k0);
  for (; k0 + 4 <= n; k0 += 4) accum_block<4>(u, W, idx, cnt, ne, ld, k0);
  for (; k0 < n; ++k0) accum_block<1>(u, W, idx, cnt, ne, ld, k0);
}

// B[k] = b[k] + sum_i kappa_i u_i[k] (taps in order) for k in [k0, k0 + kBlock).
template <int kBlock>
inline void mix_block(float* __restrict B, const float* __restrict b, const float* const* us, const float* kap,
                      int64_t mem, int64_t k0) {
  float acc[kBlock];
  for (int k = 0; k < kBlock; ++k) acc[k] = b[k0 + k];
  for (int64_t i = 0; i < mem; ++i) {
    const float* ui = us[i] + k0;
    const float ki = kap[i];
    for (int k = 0; k < kBlock; ++k) acc[k] = f32::mac(acc[k], ki, ui[k]);
  }
  for (int k = 0; k < kBlock; ++k) B[k0 + k] = acc[k];
}

template <int kBlock>
inline void kappa_mix_body(float* __restrict B, const float* __restrict b, const float* const* us, const float* kap,
                           int64_t mem, int64_t n) {
  int64_t k0 = 0;
  for (; k0 + kBlock <= n; k0 += kBlock) mix_block<kBlock>(B, b, us, kap, mem, k0);
  for (; k0 + 16 <= n; k0 += 16) mix_block<16>(B, b, us, kap, mem, k0);
  for (; k0 + 4 <= n; k0 += 4) mix_block<4>(B, b, us, kap, mem, k0);
  for (; k0 < n; ++k0) mix_block<1>(B, b, us, kap, mem, k0);
}

void accum_events_plain(float* u, const float* W, const int32_t* idx, const float* cnt, int64_t ne, int64_t n,
                        int64_t ld) {
  accum_events_body<16>(u, W, idx, cnt, ne, n, ld);
}
void kappa_mix_plain(float* B, const float* b, const float* const* us, const float* kap, int64_t mem, int64_t n) {
  kappa_mix_body<16>(B, b, us, kap, mem, n);
}
// (K3) One step of the kappa filter over n units: the step's u (u_new) replaces u_(t-mem) in the
// ring's row u, the two sums follow (filter_sum) and B = filter_drive(b, c, P, Q).
void kappa_filter_plain(float* __restrict u, const float* __restrict u_new, float* __restrict P, float* __restrict Q,
                        const float* __restrict b, float* __restrict B, int64_t n, const KappaFilter& f) {
  const KappaFilter g = f;
  for (int64_t k = 0; k < n; ++k) {
    const float uo = u[k], un = u_new[k];
    u[k] = un;
    const float p = filter_sum(P[k], g.aL, g.gL, un, uo), q = filter_sum(Q[k], g.aS, g.gS, un, uo);
    P[k] = p;
    Q[k] = q;
    B[k] = filter_drive(b[k], g.c, p, q);
  }
}
#if defined(__x86_64__) && defined(__GNUC__)
// count_bounds on eight lanes, operation for operation.
struct Bounds8 {
  __m256i zero, one_lo, one_hi;
};
__attribute__((target("avx2"))) inline Bounds8 count_bounds8(__m256 l) {
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f), scale = _mm256_set1_ps(kTwo27);
  const __m256 margin = _mm256_set1_ps(kBoundMargin);
  const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(l, _mm256_setzero_ps(), _CMP_GE_OQ), _mm256_cmp_ps(l, one, _CMP_LT_OQ));
  const __m256 r = _mm256_and_ps(ok, l);
  const __m256 r2 = _mm256_mul_ps(r, r), r3 = _mm256_mul_ps(r2, r), r4 = _mm256_mul_ps(r2, r2);
  const __m256 e_hi = _mm256_add_ps(_mm256_sub_ps(one, r), _mm256_mul_ps(half, r2));
  const __m256 e_lo = _mm256_sub_ps(e_hi, _mm256_mul_ps(r3, _mm256_set1_ps(1.0f / 6.0f)));
  const __m256 f1_lo = _mm256_sub_ps(_mm256_add_ps(_mm256_sub_ps(one, _mm256_mul_ps(half, r2)), _mm256_mul_ps(r3, _mm256_set1_ps(1.0f / 3.0f))),
                                     _mm256_mul_ps(r4, _mm256_set1_ps(0.125f)));
  const __m256i oki = _mm256_castps_si256(ok);
  const __m256i lo = _mm256_add_epi32(_mm256_cvttps_epi32(_mm256_mul_ps(_mm256_add_ps(e_hi, margin), scale)), _mm256_set1_epi32(1));
  return {_mm256_and_si256(oki, _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_sub_ps(e_lo, margin), scale))),
          _mm256_blendv_epi8(_mm256_set1_epi32(kNoOne), lo, oki),
          _mm256_and_si256(oki, _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_sub_ps(f1_lo, margin), scale)))};
}

// rate_of(lmax, C) on eight lanes: exp_f(-C), operation for operation, then lmax / (1 + e).
__attribute__((target("avx2"))) inline __m256 rate8(__m256 c, float lmax) {
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 x = _mm256_sub_ps(_mm256_setzero_ps(), c);
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
  const __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f));
  const __m256 magic = _mm256_set1_ps(12582912.0f);
  const __m256 kf = _mm256_sub_ps(_mm256_add_ps(t, magic), magic);
  __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(kf, _mm256_set1_ps(0.693359375f)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(kf, _mm256_set1_ps(-2.12194440e-4f)));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), one);
  const __m256i ki = _mm256_cvttps_epi32(kf);
  const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ki, _mm256_set1_epi32(127)), 23));
  const __m256 e = _mm256_mul_ps(p, scale);
  return _mm256_mul_ps(_mm256_set1_ps(lmax), _mm256_div_ps(one, _mm256_add_ps(one, e)));
}

__attribute__((target("avx2"))) void rates_avx2(const float* C, float* lam, CountBounds tb, int64_t n, float lmax) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256 l = rate8(_mm256_loadu_ps(C + k), lmax);
    _mm256_storeu_ps(lam + k, l);
    const Bounds8 b = count_bounds8(l);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tb.zero + k), b.zero);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tb.one_lo + k), b.one_lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tb.one_hi + k), b.one_hi);
  }
  if (k < n) rates_plain(C + k, lam + k, tb + k, n - k, lmax);
}

__attribute__((target("avx2"))) void sigmoids_avx2(float* x, int64_t n) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) _mm256_storeu_ps(x + k, rate8(_mm256_loadu_ps(x + k), 1.0f));  // 1 sigma = sigma
  if (k < n) sigmoids_plain(x + k, n - k);
}

__attribute__((target("avx2"))) void rates_classify_avx2(const float* Cs, const uint32_t* x0, int64_t n, float lmax,
                                                          float* lam, uint64_t* bits, uint64_t* ones) {
  int64_t j = 0;
  for (int64_t w = 0; w < (n + 63) / 64; ++w) bits[w] = ones[w] = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 l = rate8(_mm256_loadu_ps(Cs + j), lmax);
    _mm256_storeu_ps(lam + j, l);
    const Bounds8 b = count_bounds8(l);
    const __m256i v = _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0 + j)), 5);
    const __m256i zero = _mm256_cmpgt_epi32(b.zero, v);
    const __m256i one = _mm256_andnot_si256(_mm256_cmpgt_epi32(b.one_lo, v), _mm256_cmpgt_epi32(b.one_hi, v));
    const uint64_t is1 = static_cast<uint64_t>(_mm256_movemask_ps(_mm256_castsi256_ps(one)) & 0xff);
    const uint64_t is0 = static_cast<uint64_t>(_mm256_movemask_ps(_mm256_castsi256_ps(zero)) & 0xff);
    bits[j >> 6] |= (~(is0 | is1) & 0xff) << (j & 63);
    ones[j >> 6] |= is1 << (j & 63);
  }
  int32_t z, lo, hi;
  const CountBounds tb{&z, &lo, &hi};
  for (; j < n; ++j) {
    lam[j] = rate_of(lmax, Cs[j]);
    count_bounds(lam[j], tb, 0);
    const int k = proved_count(x0[j], tb, 0);
    if (k < 0) bits[j >> 6] |= uint64_t{1} << (j & 63);
    if (k == 1) ones[j >> 6] |= uint64_t{1} << (j & 63);
  }
}

// count_bounds on sixteen lanes, operation for operation.
struct Bounds16 {
  __m512i zero, one_lo, one_hi;
};
__attribute__((target("avx512f"))) inline Bounds16 count_bounds16(__m512 l) {
  const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f), scale = _mm512_set1_ps(kTwo27);
  const __m512 margin = _mm512_set1_ps(kBoundMargin);
  const __mmask16 ok = _mm512_cmp_ps_mask(l, _mm512_setzero_ps(), _CMP_GE_OQ) & _mm512_cmp_ps_mask(l, one, _CMP_LT_OQ);
  const __m512 r = _mm512_maskz_mov_ps(ok, l);
  const __m512 r2 = _mm512_mul_ps(r, r), r3 = _mm512_mul_ps(r2, r), r4 = _mm512_mul_ps(r2, r2);
  const __m512 e_hi = _mm512_add_ps(_mm512_sub_ps(one, r), _mm512_mul_ps(half, r2));
  const __m512 e_lo = _mm512_sub_ps(e_hi, _mm512_mul_ps(r3, _mm512_set1_ps(1.0f / 6.0f)));
  const __m512 f1_lo = _mm512_sub_ps(_mm512_add_ps(_mm512_sub_ps(one, _mm512_mul_ps(half, r2)), _mm512_mul_ps(r3, _mm512_set1_ps(1.0f / 3.0f))),
                                     _mm512_mul_ps(r4, _mm512_set1_ps(0.125f)));
  const __m512i lo = _mm512_add_epi32(_mm512_cvttps_epi32(_mm512_mul_ps(_mm512_add_ps(e_hi, margin), scale)), _mm512_set1_epi32(1));
  return {_mm512_maskz_mov_epi32(ok, _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_sub_ps(e_lo, margin), scale))),
          _mm512_mask_mov_epi32(_mm512_set1_epi32(kNoOne), ok, lo),
          _mm512_maskz_mov_epi32(ok, _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_sub_ps(f1_lo, margin), scale)))};
}

// rate_of(lmax, C) on sixteen lanes: exp_f(-C), operation for operation, then lmax / (1 + e).
__attribute__((target("avx512f"))) inline __m512 rate16(__m512 c, float lmax) {
  const __m512 one = _mm512_set1_ps(1.0f), magic = _mm512_set1_ps(12582912.0f);
  __m512 x = _mm512_sub_ps(_mm512_setzero_ps(), c);
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  const __m512 kf = _mm512_sub_ps(_mm512_add_ps(t, magic), magic);
  __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(kf, _mm512_set1_ps(0.693359375f)));
  r = _mm512_sub_ps(r, _mm512_mul_ps(kf, _mm512_set1_ps(-2.12194440e-4f)));
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), one);
  const __m512i ki = _mm512_cvttps_epi32(kf);
  const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ki, _mm512_set1_epi32(127)), 23));
  return _mm512_mul_ps(_mm512_set1_ps(lmax), _mm512_div_ps(one, _mm512_add_ps(one, _mm512_mul_ps(p, scale))));
}

__attribute__((target("avx512f"))) void rates_avx512(const float* C, float* lam, CountBounds tb, int64_t n, float lmax) {
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 mk = n - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - k)) - 1);
    const __m512 l = rate16(_mm512_maskz_loadu_ps(mk, C + k), lmax);
    _mm512_mask_storeu_ps(lam + k, mk, l);
    const Bounds16 b = count_bounds16(l);
    _mm512_mask_storeu_epi32(tb.zero + k, mk, b.zero);
    _mm512_mask_storeu_epi32(tb.one_lo + k, mk, b.one_lo);
    _mm512_mask_storeu_epi32(tb.one_hi + k, mk, b.one_hi);
  }
}

__attribute__((target("avx512f"))) void sigmoids_avx512(float* x, int64_t n) {
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 mk = n - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - k)) - 1);
    _mm512_mask_storeu_ps(x + k, mk, rate16(_mm512_maskz_loadu_ps(mk, x + k), 1.0f));  // 1 sigma = sigma
  }
}

__attribute__((target("avx512f"))) void rates_classify_avx512(const float* Cs, const uint32_t* x0, int64_t n, float lmax,
                                                               float* lam, uint64_t* bits, uint64_t* ones) {
  for (int64_t w = 0; w < (n + 63) / 64; ++w) bits[w] = ones[w] = 0;
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 mk = n - j >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - j)) - 1);
    const __m512 l = rate16(_mm512_maskz_loadu_ps(mk, Cs + j), lmax);
    _mm512_mask_storeu_ps(lam + j, mk, l);
    const Bounds16 b = count_bounds16(l);
    const __m512i v = _mm512_srli_epi32(_mm512_maskz_loadu_epi32(mk, x0 + j), 5);
    const __mmask16 is0 = _mm512_mask_cmplt_epi32_mask(mk, v, b.zero);
    const __mmask16 is1 = _mm512_mask_cmplt_epi32_mask(_mm512_mask_cmpge_epi32_mask(mk, v, b.one_lo), v, b.one_hi);
    ones[j >> 6] |= static_cast<uint64_t>(is1) << (j & 63);
    bits[j >> 6] |= static_cast<uint64_t>(static_cast<uint16_t>(mk & ~(is0 | is1))) << (j & 63);
  }
}

// soma_plain with explicit vectors (soma_leaky operation for operation).
__attribute__((target("avx512f"))) void soma_avx512(float* C, const float* B, int64_t n, const StepParams& p, float g) {
  const __m512 vdt = _mm512_set1_ps(p.dt), vngL = _mm512_set1_ps(-p.gL), vg = _mm512_set1_ps(g);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 mk = n - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - k)) - 1);
    const __m512 c = _mm512_maskz_loadu_ps(mk, C + k);
    const __m512 b = _mm512_maskz_loadu_ps(mk, B + k);
    const __m512 inner = _mm512_add_ps(_mm512_mul_ps(vngL, c), _mm512_mul_ps(vg, _mm512_sub_ps(b, c)));
    _mm512_mask_storeu_ps(C + k, mk, _mm512_add_ps(c, _mm512_mul_ps(vdt, inner)));
  }
}

__attribute__((target("avx512f"))) void soma_rates_avx512(float* C, const float* B, float* lam, CountBounds tb,
                                                           int64_t n, const StepParams& p, float g) {
  soma_avx512(C, B, n, p, g);
  rates_avx512(C, lam, tb, n, p.lmax);
}

// The same sums with explicit vectors: per element acc = acc + c * w in event (tap) order.
__attribute__((target("avx2"))) void accum_events_avx2(float* u, const float* W, const int32_t* idx, const float* cnt,
                                                        int64_t ne, int64_t n, int64_t ld) {
  int64_t k0 = 0;
  for (; k0 + 32 <= n; k0 += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t e = 0; e < ne; ++e) {
      const float* w = W + static_cast<int64_t>(idx[e]) * ld + k0;
      const __m256 c = _mm256_set1_ps(cnt[e]);
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(c, _mm256_loadu_ps(w)));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(c, _mm256_loadu_ps(w + 8)));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(c, _mm256_loadu_ps(w + 16)));
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(c, _mm256_loadu_ps(w + 24)));
    }
    _mm256_storeu_ps(u + k0, a0);
    _mm256_storeu_ps(u + k0 + 8, a1);
    _mm256_storeu_ps(u + k0 + 16, a2);
    _mm256_storeu_ps(u + k0 + 24, a3);
  }
  for (; k0 + 8 <= n; k0 += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t e = 0; e < ne; ++e) {
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_set1_ps(cnt[e]), _mm256_loadu_ps(W + static_cast<int64_t>(idx[e]) * ld + k0)));
    }
    _mm256_storeu_ps(u + k0, a0);
  }
  for (; k0 < n; ++k0) accum_block<1>(u, W, idx, cnt, ne, ld, k0);
}

// kappa_filter_plain with explicit vectors (filter_sum, filter_drive operation for operation).
__attribute__((target("avx2"))) void kappa_filter_avx2(float* __restrict u, const float* __restrict u_new,
                                                        float* __restrict P, float* __restrict Q, const float* __restrict b,
                                                        float* __restrict B, int64_t n, const KappaFilter& f) {
  const __m256 aL = _mm256_set1_ps(f.aL), aS = _mm256_set1_ps(f.aS), gL = _mm256_set1_ps(f.gL), gS = _mm256_set1_ps(f.gS),
               c = _mm256_set1_ps(f.c);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256 uo = _mm256_loadu_ps(u + k), un = _mm256_loadu_ps(u_new + k);
    _mm256_storeu_ps(u + k, un);
    const __m256 p = _mm256_sub_ps(_mm256_mul_ps(aL, _mm256_add_ps(_mm256_loadu_ps(P + k), un)), _mm256_mul_ps(gL, uo));
    const __m256 q = _mm256_sub_ps(_mm256_mul_ps(aS, _mm256_add_ps(_mm256_loadu_ps(Q + k), un)), _mm256_mul_ps(gS, uo));
    _mm256_storeu_ps(P + k, p);
    _mm256_storeu_ps(Q + k, q);
    _mm256_storeu_ps(B + k, _mm256_add_ps(_mm256_loadu_ps(b + k), _mm256_mul_ps(c, _mm256_sub_ps(p, q))));
  }
  kappa_filter_plain(u + k, u_new + k, P + k, Q + k, b + k, B + k, n - k, f);
}

__attribute__((target("avx2"))) void kappa_mix_avx2(float* B, const float* b, const float* const* us, const float* kap,
                                                     int64_t mem, int64_t n) {
  int64_t k0 = 0;
  for (; k0 + 32 <= n; k0 += 32) {
    __m256 a0 = _mm256_loadu_ps(b + k0), a1 = _mm256_loadu_ps(b + k0 + 8), a2 = _mm256_loadu_ps(b + k0 + 16),
           a3 = _mm256_loadu_ps(b + k0 + 24);
    for (int64_t i = 0; i < mem; ++i) {
      const float* ui = us[i] + k0;
      const __m256 c = _mm256_set1_ps(kap[i]);
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(c, _mm256_loadu_ps(ui)));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(c, _mm256_loadu_ps(ui + 8)));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(c, _mm256_loadu_ps(ui + 16)));
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(c, _mm256_loadu_ps(ui + 24)));
    }
    _mm256_storeu_ps(B + k0, a0);
    _mm256_storeu_ps(B + k0 + 8, a1);
    _mm256_storeu_ps(B + k0 + 16, a2);
    _mm256_storeu_ps(B + k0 + 24, a3);
  }
  for (; k0 + 8 <= n; k0 += 8) {
    __m256 a0 = _mm256_loadu_ps(b + k0);
    for (int64_t i = 0; i < mem; ++i) a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_set1_ps(kap[i]), _mm256_loadu_ps(us[i] + k0)));
    _mm256_storeu_ps(B + k0, a0);
  }
  for (; k0 < n; ++k0) mix_block<1>(B, b, us, kap, mem, k0);
}

// The last units (fewer than 128) of weighted_rows_avx512 in one pass over the rows: kFull whole
// vectors and a last one masked to its 1 to 16 lanes (mk), so that their sums are not each a
// chain of adds on its own. (Named sums, each behind a constant condition: an array of them
// was stored to the stack at every row.)
template <int kFull, class Row>
__attribute__((target("avx512f"), always_inline)) inline void weighted_rows_rest_avx512(float* out, const float* init, Row row,
                                                                                     const float* coef, int64_t count,
                                                                                     int64_t k0, __mmask16 mk) {
  static_assert(kFull >= 0 && kFull <= 7, "at most seven whole vectors before the masked one");
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, am = a0;
  auto each_full = [&](auto f) {  // f(sum, i) for whole vector i's sum
    if constexpr (kFull > 0) f(a0, 0);
    if constexpr (kFull > 1) f(a1, 1);
    if constexpr (kFull > 2) f(a2, 2);
    if constexpr (kFull > 3) f(a3, 3);
    if constexpr (kFull > 4) f(a4, 4);
    if constexpr (kFull > 5) f(a5, 5);
    if constexpr (kFull > 6) f(a6, 6);
  };
  if (init) {
    each_full([&](__m512& a, int i) { a = _mm512_loadu_ps(init + k0 + 16 * i); });
    am = _mm512_maskz_loadu_ps(mk, init + k0 + 16 * kFull);
  }
  for (int64_t k = 0; k < count; ++k) {
    const float* r = row(k) + k0;
    const __m512 c = _mm512_set1_ps(coef[k]);
    each_full([&](__m512& a, int i) { a = _mm512_add_ps(a, _mm512_mul_ps(c, _mm512_loadu_ps(r + 16 * i))); });
    am = _mm512_add_ps(am, _mm512_mul_ps(c, _mm512_maskz_loadu_ps(mk, r + 16 * kFull)));
  }
  each_full([&](const __m512& a, int i) { _mm512_storeu_ps(out + k0 + 16 * i, a); });
  _mm512_mask_storeu_ps(out + k0 + 16 * kFull, mk, am);
}

// out = init + sum over k < count of coef[k] row(k), n units (init null: 0): the sums of a block
// of units stay in registers across all rows, 128 units at a time (eight independent sums hide
// the adds' latency), then the rest in one pass. Each unit's sum runs over the rows in
// order whatever the block, so every clone gives the same bits.
template <class Row>
__attribute__((target("avx512f"), always_inline)) inline void weighted_rows_avx512(float* out, const float* init, Row row,
                                                                                const float* coef, int64_t count, int64_t n) {
  auto start = [&](int64_t k0, __mmask16 mk) { return init ? _mm512_maskz_loadu_ps(mk, init + k0) : _mm512_setzero_ps(); };
  int64_t k0 = 0;
  for (; k0 + 128 <= n; k0 += 128) {
    __m512 a0 = start(k0, 0xffff), a1 = start(k0 + 16, 0xffff), a2 = start(k0 + 32, 0xffff), a3 = start(k0 + 48, 0xffff),
           a4 = start(k0 + 64, 0xffff), a5 = start(k0 + 80, 0xffff), a6 = start(k0 + 96, 0xffff), a7 = start(k0 + 112, 0xffff);
    for (int64_t k = 0; k < count; ++k) {
      const float* r = row(k) + k0;
      const __m512 c = _mm512_set1_ps(coef[k]);
      a0 = _mm512_add_ps(a0, _mm512_mul_ps(c, _mm512_loadu_ps(r)));
      a1 = _mm512_add_ps(a1, _mm512_mul_ps(c, _mm512_loadu_ps(r + 16)));
      a2 = _mm512_add_ps(a2, _mm512_mul_ps(c, _mm512_loadu_ps(r + 32)));
      a3 = _mm512_add_ps(a3, _mm512_mul_ps(c, _mm512_loadu_ps(r + 48)));
      a4 = _mm512_add_ps(a4, _mm512_mul_ps(c, _mm512_loadu_ps(r + 64)));
      a5 = _mm512_add_ps(a5, _mm512_mul_ps(c, _mm512_loadu_ps(r + 80)));
      a6 = _mm512_add_ps(a6, _mm512_mul_ps(c, _mm512_loadu_ps(r + 96)));
      a7 = _mm512_add_ps(a7, _mm512_mul_ps(c, _mm512_loadu_ps(r + 112)));
    }
    _mm512_storeu_ps(out + k0, a0);
    _mm512_storeu_ps(out + k0 + 16, a1);
    _mm512_storeu_ps(out + k0 + 32, a2);
    _mm512_storeu_ps(out + k0 + 48, a3);
    _mm512_storeu_ps(out + k0 + 64, a4);
    _mm512_storeu_ps(out + k0 + 80, a5);
    _mm512_storeu_ps(out + k0 + 96, a6);
    _mm512_storeu_ps(out + k0 + 112, a7);
  }
  if (k0 < n) {
    const int64_t rest = n - k0;  // 1 to 127
    const int64_t full = (rest - 1) / 16, last = rest - 16 * full;
    const __mmask16 mk = static_cast<__mmask16>((1u << last) - 1);
    switch (full) {
      case 0: weighted_rows_rest_avx512<0>(out, init, row, coef, count, k0, mk); break;
      case 1: weighted_rows_rest_avx512<1>(out, init, row, coef, count, k0, mk); break;
      case 2: weighted_rows_rest_avx512<2>(out, init, row, coef, count, k0, mk); break;
      case 3: weighted_rows_rest_avx512<3>(out, init, row, coef, count, k0, mk); break;
      case 4: weighted_rows_rest_avx512<4>(out, init, row, coef, count, k0, mk); break;
      case 5: weighted_rows_rest_avx512<5>(out, init, row, coef, count, k0, mk); break;
      case 6: weighted_rows_rest_avx512<6>(out, init, row, coef, count, k0, mk); break;
      default: weighted_rows_rest_avx512<7>(out, init, row, coef, count, k0, mk); break;
    }
  }
}

// u = sum over events e of cnt[e] W[idx[e]] (rows ld floats apart), n units.
__attribute__((target("avx512f"))) void accum_events_avx512(float* u, const float* W, const int32_t* idx,
                                                             const float* cnt, int64_t ne, int64_t n, int64_t ld) {
  weighted_rows_avx512(u, nullptr, [&](int64_t e) { return W + static_cast<int64_t>(idx[e]) * ld; }, cnt, ne, n);
}

// kappa_filter_plain with explicit vectors (filter_sum, filter_drive operation for operation).
__attribute__((target("avx512f"))) void kappa_filter_avx512(float* __restrict u, const float* __restrict u_new,
                                                             float* __restrict P, float* __restrict Q,
                                                             const float* __restrict b, float* __restrict B, int64_t n,
                                                             const KappaFilter& f) {
  const __m512 aL = _mm512_set1_ps(f.aL), aS = _mm512_set1_ps(f.aS), gL = _mm512_set1_ps(f.gL), gS = _mm512_set1_ps(f.gS),
               c = _mm512_set1_ps(f.c);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 mk = n - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - k)) - 1);
    const __m512 uo = _mm512_maskz_loadu_ps(mk, u + k), un = _mm512_maskz_loadu_ps(mk, u_new + k);
    _mm512_mask_storeu_ps(u + k, mk, un);
    const __m512 p = _mm512_sub_ps(_mm512_mul_ps(aL, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, P + k), un)), _mm512_mul_ps(gL, uo));
    const __m512 q = _mm512_sub_ps(_mm512_mul_ps(aS, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, Q + k), un)), _mm512_mul_ps(gS, uo));
    _mm512_mask_storeu_ps(P + k, mk, p);
    _mm512_mask_storeu_ps(Q + k, mk, q);
    _mm512_mask_storeu_ps(B + k, mk, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, b + k), _mm512_mul_ps(c, _mm512_sub_ps(p, q))));
  }
}

// B = b + sum over taps i of kap[i] us[i], n units.
__attribute__((target("avx512f"))) void kappa_mix_avx512(float* B, const float* b, const float* const* us,
                                                          const float* kap, int64_t mem, int64_t n) {
  weighted_rows_avx512(B, b, [&](int64_t i) { return us[i]; }, kap, mem, n);
}
#endif

using SomaFn = void (*)(float*, const float*, float*, CountBounds, int64_t, const StepParams&, float);
using RatesFn = void (*)(const float*, float*, CountBounds, int64_t, float);
using GroupWordsFn = void (*)(const philox::Stream&, uint64_t, int64_t, uint32_t*);
using ClassifyWordsFn = void (*)(const uint32_t*, CountBounds, int64_t, uint64_t*, uint64_t*);
using StageFn = int64_t (*)(const uint32_t*, const float*, int64_t, int32_t, int32_t*, float*, uint32_t*);
using ClassifyFn = void (*)(const float*, const uint32_t*, int64_t, float, float*, uint64_t*, uint64_t*);
using SomaOnlyFn = void (*)(float*, const float*, int64_t, const StepParams&, float);
using AccumFn = void (*)(float*, const float*, const int32_t*, const float*, int64_t, int64_t, int64_t);
using MixFn = void (*)(float*, const float*, const float* const*, const float*, int64_t, int64_t);
using FilterFn = void (*)(float*, const float*, float*, float*, const float*, float*, int64_t, const KappaFilter&);
using SigmoidsFn = void (*)(float*, int64_t);

// The clones of the kernels above that a network uses, chosen when it is made from the instruction
// set of every other CPU kernel (cpu::active_isa(): the processor's best, capped by
// DENDRITE_CPU_SIMD=avx2|scalar, so that tests can run every clone on one machine).
struct Kernels {
  GroupWordsFn group_words;
  ClassifyWordsFn classify_words;
  RatesFn compute_rates;
  SomaFn soma_rates;
  StageFn stage_words;
  ClassifyFn rates_classify;
  SomaOnlyFn soma;
  AccumFn accum_events;
  MixFn kappa_mix;
  FilterFn kappa_filter;
  SigmoidsFn sigmoids;
};

Kernels kernels_for(cpu::Isa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (isa) {
    case cpu::Isa::Avx512:
      return {group_words_avx512, classify_words_avx512, rates_avx512, soma_rates_avx512,
              stage_words_avx512, rates_classify_avx512, soma_avx512, accum_events_avx512, kappa_mix_avx512,
              kappa_filter_avx512, sigmoids_avx512};
    case cpu::Isa::Avx2:
      return {group_words_avx2, classify_words_avx2, rates_avx2, soma_rates_plain, stage_words_plain,
              rates_classify_avx2, soma_plain, accum_events_avx2, kappa_mix_avx2, kappa_filter_avx2,
              sigmoids_avx2};
    case cpu::Isa::Scalar:
      break;
  }
#else
  (void)isa;
#endif
  return {group_words_plain, classify_words_plain, rates_plain, soma_rates_plain, stage_words_plain,
          rates_classify_plain, soma_plain, accum_events_plain, kappa_mix_plain, kappa_filter_plain,
          sigmoids_plain};
}

// ---------------------------------------------------------------------------------------------
// Memory: pages.h (arrays of 1 MiB and more on huge pages, freed blocks kept for the next network).
using cpu::page_alloc;
using cpu::page_bytes;
using cpu::page_free;

// ---------------------------------------------------------------------------------------------
// Spike history: the (unit, count) events of the last `mem` steps.

// The events of one step: room for `cap` of them, carved from a slot's EventStore, so that pushing
// (inside parallel regions, where a bad_alloc would terminate the process) never allocates.
// Swapping two lists swaps their rooms.
struct Events {
  int32_t* idx = nullptr;  // units, ascending
  float* cnt = nullptr;    // their counts
  int64_t size = 0;
  int64_t cap = 0;
  void clear() { size = 0; }
  void append(const Events& e) {
    std::memcpy(idx + size, e.idx, sizeof(int32_t) * static_cast<size_t>(e.size));
    std::memcpy(cnt + size, e.cnt, sizeof(float) * static_cast<size_t>(e.size));
    size += e.size;
  }
};

// The rooms of one slot's event lists, in a few large blocks (page_alloc), freed with the slot.
class EventStore {
 public:
  EventStore() = default;
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;
  ~EventStore() {
    for (const Block& b : blocks_) page_free(b.p, b.bytes);
  }
  // The room of `lists` lists of `cap` events each.
  static size_t room(int64_t lists, int64_t cap) { return static_cast<size_t>(lists) * bytes_of(cap); }
  // Room for the next lists taken (take), `bytes` of room() in all, in one block.
  void reserve(size_t bytes) {
    if (blocks_.empty() || blocks_.back().bytes - used_ < bytes) grow(bytes);
  }
  Events take(int64_t cap) {
    reserve(room(1, cap));
    const size_t half = bytes_of(cap) / 2;
    char* p = static_cast<char*>(blocks_.back().p) + used_;
    used_ += 2 * half;
    Events e;
    e.idx = reinterpret_cast<int32_t*>(p);
    e.cnt = reinterpret_cast<float*>(p + half);
    e.cap = cap;
    return e;
  }

 private:
  struct Block {
    void* p;
    size_t bytes;
  };
  // Both arrays of a list on lines of their own (the pair's threads write neighbouring lists).
  static size_t bytes_of(int64_t cap) { return 2 * ((static_cast<size_t>(cap) * 4 + 63) / 64 * 64); }
  void grow(size_t need) {
    const size_t bytes = page_bytes(need);
    blocks_.reserve(blocks_.size() + 1);
    blocks_.push_back({page_alloc(bytes), bytes});
    used_ = 0;
  }
  std::vector<Block> blocks_;
  size_t used_ = 0;  // of the last block
};

struct Ring {
  std::vector<Events> steps;
  int64_t head = 0;  // slot of the most recent step
  // Room for an event of every unit at every step.
  void init(int64_t mem, int64_t units, EventStore& store) {
    steps.assign(static_cast<size_t>(mem), Events{});
    store.reserve(EventStore::room(mem, units));
    for (Events& e : steps) e = store.take(units);
    head = 0;
  }
  int64_t mem() const { return static_cast<int64_t>(steps.size()); }
  // i = 0: the most recent step.
  int64_t slot(int64_t i) const { return (head - i + mem() * 4) % mem(); }
  const Events& back(int64_t i) const { return steps[slot(i)]; }
  Events& push() {
    head = (head + 1) % mem();
    steps[head].clear();
    return steps[head];
  }
  void reset() {
    for (Events& e : steps) e.clear();
    head = 0;
  }
};

// Vectors whose data starts on a cache line (page_alloc: from 1 MiB on, on whole huge pages). The
// two threads of run_example_pair write adjacent ranges of the same per-unit arrays, split at a
// multiple of 16 units: starting each array (and each row of u, ld floats apart) on a
// line, no line is written by both.
template <class T>
struct LineAligned {
  using value_type = T;
  LineAligned() = default;
  template <class U>
  LineAligned(const LineAligned<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(page_alloc(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { page_free(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const LineAligned<U>&) const { return true; }
  template <class U>
  bool operator!=(const LineAligned<U>&) const { return false; }
};
template <class T>
using LineVec = std::vector<T, LineAligned<T>>;

// Event lists as they cross from one thread of run_example_pair to the other, two bytes an event
// (unit | (count - 1) << 12, after a two-byte size), so that a step's list takes one or two cache
// lines instead of the four or five of its Events: a store to a line the other core has read
// since waits for that core, and a load of a line it wrote fetches it from there (on this
// project's 2-vCPU machine, in its placement where a line's round trip between the cores takes
// 500 ns, drawing a step's input took 0.43 us into lists the other thread read and 0.23-0.25 into
// lists of its own; 0.24 into the shared ones where the round trip takes 100 ns). The writer
// keeps its own Events; a list with a unit >= 4096 or a count above 16 is marked kFull and read
// from there.
class WireLists {
 public:
  static constexpr uint16_t kFull = 0xffff;
  // Room for `lists` lists of up to `cap` events (the lists already written are kept).
  void resize(int64_t lists, int64_t cap) {
    stride_ = cap < kUnits ? (1 + cap + 31) / 32 * 32 : 32;  // (whole lines)
    data_.resize(static_cast<size_t>(lists * stride_));
  }
  void put(int64_t t, const Events& ev) {
    uint16_t* const r = room(t);
    const int32_t* __restrict const idx = ev.idx;
    const float* __restrict const cnt = ev.cnt;
    const int64_t ne = ev.size;
    int32_t over = 0;  // (branch-free passes, so that they vectorise)
    for (int64_t e = 0; e < ne; ++e) over |= (idx[e] >= kUnits) | !(cnt[e] <= 16.0f);
    if (over || ne >= stride_) {  // (a room of a list that may not fit is one line)
      r[0] = kFull;
      return;
    }
    uint16_t* __restrict const out = r + 1;
    for (int64_t e = 0; e < ne; ++e) out[e] = static_cast<uint16_t>(idx[e] | (static_cast<int32_t>(cnt[e]) - 1) << 12);
    r[0] = static_cast<uint16_t>(ne);
  }
  // Appends list t to ev; false where it is marked kFull (the caller appends the writer's list).
  bool append_to(int64_t t, Events& ev) const {
    const uint16_t* const r = room(t);
    if (r[0] == kFull) return false;
    const uint16_t* __restrict const in = r + 1;
    int32_t* __restrict const idx = ev.idx + ev.size;
    float* __restrict const cnt = ev.cnt + ev.size;
    const int64_t ne = r[0];
    for (int64_t e = 0; e < ne; ++e) {
      idx[e] = in[e] & (kUnits - 1);
      cnt[e] = static_cast<float>((in[e] >> 12) + 1);
    }
    ev.size += ne;
    return true;
  }
  // List t's first two lines (63 events), for reading or for writing.
  void prefetch(int64_t t, bool write) const {
    const uint16_t* const r = room(t);
    if (write) {
      __builtin_prefetch(r, 1);
      if (stride_ > 32) __builtin_prefetch(r + 32, 1);
    } else {
      __builtin_prefetch(r);
      if (stride_ > 32) __builtin_prefetch(r + 32);
    }
  }

 private:
  static constexpr int32_t kUnits = 4096;
  uint16_t* room(int64_t t) { return data_.data() + t * stride_; }
  const uint16_t* room(int64_t t) const { return data_.data() + t * stride_; }
  LineVec<uint16_t> data_;
  int64_t stride_ = 0;
};

struct LayerState {
  int64_t n = 0, fan_in = 0, fb = 0;
  int64_t ld = 0;                // n rounded up to 16: the row stride of u
  LineVec<float> B, C, A, lam;
  Ring spikes;
  LineVec<float> u;              // mem x ld: u[slot] = W S_pre(step of pre ring slot)
  LineVec<float> P, Q;           // n: the kappa filter's sums (K3), seeded at each example's first step
  LineVec<float> psp_a;          // fb
  LineVec<int32_t> tb;           // 3 x ld: the count bounds of lam (rows zero, one_lo, one_hi)
  CountBounds bounds() { return {tb.data(), tb.data() + ld, tb.data() + 2 * ld}; }
  // window sums of the current phase
  LineVec<float> sumC, sumLam, sumPSPB, sumPSPA;
  LineVec<float> pa_rows;        // R x fb: the apical input of the last R steps of a training phase
  // phase results
  LineVec<float> Cf, PSPBf, PSPAf, Af, alpha_f, lamt, alpha_t;
  LineVec<float> E, Ebp;
  LineVec<int64_t> delta_f, delta_t;  // plateau offsets
};

// One thread's scratch for the spike draws and the kappa mixes.
struct Scratch {
  std::vector<uint32_t> xg;        // the words of whole groups (group_words)
  std::vector<uint32_t> x;         // the words of scattered elements, or of a lazy draw's staged lanes
  std::vector<uint64_t> bits;      // lanes left to tier 2
  std::vector<uint64_t> ones;      // lanes whose count is 1
  std::vector<int32_t> unit;       // a lazy draw's staged lanes: unit, C, rate
  std::vector<float> Cs, lam;
  std::vector<const float*> taps;  // kappa-mix rows
  std::vector<float> u_new;        // a step's u, before kappa_filter puts it in the ring
  std::vector<float> pa_sums;      // a plateau window's sums of apical input (plateaus)
  std::vector<float> dots;         // and the units' dot products with them
  int64_t widest = 0;              // the most units of one draw
  void init(int64_t widest_units, int64_t taps_max) {
    widest = widest_units;
    const size_t room = static_cast<size_t>(widest + 16);  // the stage pass stores whole vectors
    xg.assign(static_cast<size_t>(64 * (widest / 64 + 2)), 0);
    x.assign(room, 0);
    unit.assign(room, 0);
    Cs.assign(room, 0.0f);
    lam.assign(room, 0.0f);
    bits.assign(static_cast<size_t>(widest / 64 + 1), 0);
    ones.assign(static_cast<size_t>(widest / 64 + 1), 0);
    taps.assign(static_cast<size_t>(taps_max), nullptr);
    u_new.assign(room, 0.0f);
    pa_sums.assign(static_cast<size_t>(taps_max), 0.0f);
    dots.assign(room, 0.0f);
  }
};

struct Slot {
  EventStore events;  // the rooms of every event list below (first: the lists point into it)
  Ring input;
  std::vector<LayerState> L;
  // the current image
  std::vector<int32_t> nz;    // pixels with a nonzero rate
  std::vector<float> x;       // n_in rates lambda_max p
  std::vector<float> x_nz;    // rates of the nz pixels
  std::vector<int32_t> x_tb;  // 3 x n_in: the count bounds of x_nz (rows zero, one_lo, one_hi)
  CountBounds x_bounds() { const int64_t n = static_cast<int64_t>(x.size()); return {x_tb.data(), x_tb.data() + n, x_tb.data() + 2 * n}; }
  Scratch sc;
  std::vector<float> Bx;      // W^0 x + b^0 (rate feed-forward at the input)
  bool u_valid = false;
  // per example
  std::vector<float> target;  // n_out one-hot (repeated k times)
  std::vector<float> Cbar;    // n_out: mean output voltages of a test image
  float loss = 0;
  int32_t prediction = 0;
  std::vector<float> angle;
  // The two-thread online path (run_example_pair): the example's input events (each thread's
  // own lists: xev thread 0's, xev1 thread 1's), each thread's hidden events by step, the lists
  // that cross between them (xwire: a step's input for the thread that did not draw it;
  // upper_wire: thread 1's hidden events for thread 0), the apical input of each plateau row
  // ([phase][row][fb]), the second thread's scratch, how many steps of upper units it has
  // finished and how far each thread has drawn its steps of the input.
  struct alignas(64) StepEvents {  // on lines of their own
    Events ev;
  };
  std::vector<StepEvents> xev, xev1, lower_ev, upper_ev;
  WireLists xwire, upper_wire;
  // The second thread's units step in arrays of their own (unit q0 first; u rows ld apart), copied
  // from the layer's at the start of each example and back at its end: in the layer's arrays the
  // first thread's core, streaming through its units, prefetched the lines just past the split,
  // and each store of the second thread to such a line waited for that core.
  struct UpperUnits {
    LineVec<float> u, B, C, lam, sumC, P, Q;
    LineVec<int32_t> tb;  // 3 x ld, as LayerState::tb
    int64_t ld = 0;
  } up;
  std::vector<float> pa_rows;
  Scratch sc2;
  struct alignas(64) Progress {  // alone on its cache line: the other thread polls it
    std::atomic<int64_t> steps{0};
  };
  Progress upper_done, input_drawn[2];
  double pair_busy[2] = {};  // seconds each thread was busy in the steps of the last example
  // Online training fused with its updates (CpuEngine::run_online): thread 0 sets tail_ready once
  // the errors and the output layer's update are done; meanwhile thread 1 sets the next example's
  // image and draws its first input steps (into xev), which `prepared` describes until an example
  // begins.
  Progress tail_ready;
  struct Prepared {
    bool valid = false;
    uint64_t epoch = 0, example = 0;
    int64_t row = 0, Lf = 0, Lt = 0;
    int64_t steps = 0;  // input steps drawn
    bool is(const TrainJob& j) const {
      return valid && j.epoch == epoch && j.example == example && j.row == row && j.Lf == Lf && j.Lt == Lt;
    }
  } prepared;
  // per-step recording of this slot's current example (null: none); rows from rec_row0 + step
  Recording* rec = nullptr;
  const std::vector<std::vector<int32_t>>* rec_units = nullptr;
  int64_t rec_row0 = 0;
};

// How online training on the paired path (run_example_pair) shares its work: on how many threads,
// and which hidden units thread 0 takes. Every choice gives the same bits, so both may follow the
// machine.
// - Threads: two unless one is measured to be faster. Where the two cores are slow to hand each
//   step to each other (some phases of this project's shared virtual machine: 1,500 examples/s on
//   two threads against 2,300 on one), one thread wins. After the first kFirst examples, then
//   every kPeriod, the other size runs kProbe examples, compared by the time from one example's
//   start to the next (updates and the driver included) with the kProbe just before. (A probe
//   costs a short run most: 100 examples on one thread where two are 1.5 times as fast.)
// - The split: thread 0 also runs the output layer, so it takes fewer hidden units. How many
//   depends on the machine (the output layer's cost against a hidden unit's, how slowly events
//   cross between cores), so every kBalance two-thread examples (after each of the first kQuick,
//   so that a new network finds its split within a few dozen examples: it starts 3-4 moves
//   away) the split moves by 16 units towards the thread that was less busy when that is
//   predicted to shorten the busier one's time (a unit costing the same on either thread).
//   DENDRITE_PAIR_SPLIT=k pins it at k rounded down to
//   a multiple of 16 (at most units), and k1,k2,... takes them in turn, one example each: what
//   the tests use to check that every split, and every change of split, gives the same bits.
class PairTuner {
 public:
  explicit PairTuner(int64_t units) : units_(units), split_(units * 12 / 25 / 16 * 16) {
    if (const char* env = std::getenv("DENDRITE_PAIR_SPLIT")) {
      for (const char* p = env; *p != '\0';) {
        char* end = nullptr;
        const long long k = std::strtoll(p, &end, 10);
        if (end == p) break;
        pinned_.push_back(std::min(units, std::max<int64_t>(0, k)) / 16 * 16);
        p = *end == ',' ? end + 1 : end;
      }
      if (!pinned_.empty()) split_ = pinned_[0];
    }
  }

  // At the start of an online example (after a new chunk was staged, the time since the last one
  // is not an example's): the threads it should run on.
  int start_example(bool new_chunk) {
    const auto now = std::chrono::steady_clock::now();
    if (started_ && !new_chunk) finished(std::chrono::duration<double>(now - last_).count());
    started_ = true;
    last_ = now;
    if (!pinned_.empty()) split_ = pinned_[examples_++ % pinned_.size()];
    return threads();
  }
  // The threads it runs on: fewer beside other load (cpu::team_size_alone), then it measures nothing.
  void runs_on(int threads) { ran_ = threads; }
  // Thread 0's hidden units on two threads: [0, split); thread 1 runs [split, units).
  int64_t split() const { return split_; }
  // After a two-thread example: the seconds each thread was busy in its steps (waits left out).
  void busy(double thread0, double thread1) {
    if (!pinned_.empty()) return;
    busy0_ += thread0;
    busy1_ += thread1;
    if (++balance_count_ < (balanced_ < kQuick ? 1 : kBalance)) return;
    ++balanced_;
    const int64_t upper = units_ - split_;
    const double per_unit = upper > 0 ? busy1_ / static_cast<double>(upper) : busy0_ / static_cast<double>(std::max<int64_t>(split_, 1));
    const double shift = 16 * per_unit, slower = std::max(busy0_, busy1_);
    if (busy0_ > busy1_ && split_ >= 16 && std::max(busy0_ - shift, busy1_ + shift) < slower) split_ -= 16;
    else if (busy1_ > busy0_ && split_ + 16 <= units_ && std::max(busy0_ + shift, busy1_ - shift) < slower) split_ += 16;
    busy0_ = busy1_ = 0;
    balance_count_ = 0;
  }

 private:
  static constexpr int64_t kPeriod = 2000, kProbe = 100, kFirst = 500, kBalance = 8, kQuick = 32;
  int threads() const { return probing_ ? 3 - chosen_ : chosen_; }
  void finished(double seconds) {
    if (ran_ != threads()) return;
    ++count_;
    if (probing_) {
      probe_ += seconds;
      if (count_ < kProbe) return;
      if (probe_ < 0.95 * base_) chosen_ = 3 - chosen_;
      probing_ = false;
      count_ = 0;
      base_ = 0;
    } else {
      if (count_ > kPeriod - kProbe) base_ += seconds;
      if (count_ < kPeriod) return;
      probing_ = true;
      count_ = 0;
      probe_ = 0;
    }
  }
  const int64_t units_;
  int64_t split_;
  int chosen_ = 2, ran_ = 2;
  bool probing_ = false, started_ = false;
  std::vector<int64_t> pinned_;  // DENDRITE_PAIR_SPLIT
  size_t examples_ = 0;
  int64_t count_ = kPeriod - kFirst, balance_count_ = 0, balanced_ = 0;
  double base_ = 0, probe_ = 0, busy0_ = 0, busy1_ = 0;
  std::chrono::steady_clock::time_point last_;
};

struct PhaseCtx {
  Phase mode = Phase::Forward;
  int64_t L = 0, T = 0, R = 0;
  philox::Stream spikes{};
  uint64_t step0 = 0;  // step index of the phase's first step within the example
};

class CpuEngine final : public Engine {
 public:
  explicit CpuEngine(const EngineSetup& setup)
      : c_(setup.c), k_(kernels_for(cpu::active_isa())), d_(setup.d), p_(setup.p), R_(setup.R),
        need_spikes_(setup.spikes_train), need_spikes_test_(setup.spikes_test), masks_(setup.masks),
        pair_tuner_(setup.c.layers.empty() ? 0 : setup.c.layers[0]) {
    threads_ = c_.threads > 0 ? c_.threads : default_threads();
    M_ = c_.num_layers();
    int64_t widest = 0;
    for (int64_t m = 0; m < M_; ++m) widest = std::max(widest, c_.layers[m]);
    zeros_.assign(static_cast<size_t>(widest), 0.0f);
    // A hidden layer's rates are read by its spike draws only when the layer above takes its
    // spikes, no layer takes its rates as feedback and its soma has no apical term (soma_rates).
    lazy_.assign(static_cast<size_t>(M_), false);
    for (int64_t m = 0; m + 1 < M_; ++m) {
      bool feeds_rates = false;
      for (int64_t k = 0; k + 1 < M_; ++k) feeds_rates = feeds_rates || (!c_.spiking_feedback && c_.fb_layer(k) == m);
      lazy_[m] = c_.spiking_feedforward && c_.use_conductances && p_.gA == 0.0f && !feeds_rates;
    }
    int32_t z, lo, hi;
    count_bounds(p_.lmax, {&z, &lo, &hi}, 0);
    zmax_ = z;
  }

  // ---- weights ----
  void write_weights(const std::vector<LayerWeights>& w) override {
    load(w);
    upper_split_ = -1;  // the copy of W0's upper columns is stale
    for (auto& s : train_slots_) s->u_valid = false;
  }

  std::vector<LayerWeights> read_weights() const override {
    std::vector<LayerWeights> w(static_cast<size_t>(M_));
    for (int64_t m = 0; m < M_; ++m) {
      if (m == 0 && upper_split_ >= 0) {
        std::vector<float> W0 = Wt_[0];
        copy_columns(W0, w0_upper_, upper_split_, c_.layers[0]);
        w[m].W = transposed(W0, c_.fan_in(m), c_.layers[m]);
      } else {
        w[m].W = transposed(Wt_[m], c_.fan_in(m), c_.layers[m]);
      }
      w[m].b = b_[m];
      if (m < M_ - 1) {
        w[m].Y = Y_[m];
        w[m].c = cb_[m];
      }
    }
    return w;
  }

  // ---- training slots ----
  int64_t train_slots() const override { return static_cast<int64_t>(train_slots_.size()); }

  void grow_train_slots(int64_t n) override {
    // All or none: slots made before an allocation failed would hold on to that memory.
    const size_t before = train_slots_.size();
    try {
      while (static_cast<int64_t>(train_slots_.size()) < n) train_slots_.push_back(make_slot());
    } catch (...) {
      train_slots_.resize(before);
      throw;
    }
  }

  void reset_train_slots() override {
    for (auto& s : train_slots_) reset_slot(*s);
  }

  std::vector<SlotState> read_train_slots() const override {
    std::vector<SlotState> slots(train_slots_.size());
    auto save = [](const Ring& r, SpikeRing& out) {
      out.head = r.head;
      for (const Events& e : r.steps) {
        out.idx.emplace_back(e.idx, e.idx + e.size);
        out.cnt.emplace_back(e.cnt, e.cnt + e.size);
      }
    };
    for (size_t si = 0; si < slots.size(); ++si) {
      const Slot& sp = *train_slots_[si];
      SlotState& st = slots[si];
      save(sp.input, st.input);
      st.layers.resize(sp.L.size());
      for (size_t m = 0; m < sp.L.size(); ++m) {
        const LayerState& l = sp.L[m];
        st.layers[m].C.assign(l.C.begin(), l.C.end());
        st.layers[m].A.assign(l.A.begin(), l.A.end());
        st.layers[m].lam.assign(l.lam.begin(), l.lam.end());
        save(l.spikes, st.layers[m].spikes);
      }
    }
    return slots;
  }

  void write_train_slots(const std::vector<SlotState>& slots) override {
    auto load_ring = [](const SpikeRing& r, Ring& out) {
      out.head = r.head;
      for (size_t q = 0; q < out.steps.size(); ++q) {
        Events& e = out.steps[q];
        // (setState's decode_state lets no step list more events than units; this keeps the rooms
        // safe from any other caller)
        if (static_cast<int64_t>(r.idx[q].size()) > e.cap || r.cnt[q].size() != r.idx[q].size())
          fail(ErrorKind::OutOfRange, "setState: a spike history step has more events than units");
        e.size = static_cast<int64_t>(r.idx[q].size());
        std::copy(r.idx[q].begin(), r.idx[q].end(), e.idx);
        std::copy(r.cnt[q].begin(), r.cnt[q].end(), e.cnt);
      }
    };
    std::vector<std::unique_ptr<Slot>> fresh;
    for (const SlotState& st : slots) {
      auto sp = make_slot();
      load_ring(st.input, sp->input);
      for (size_t m = 0; m < sp->L.size(); ++m) {
        LayerState& l = sp->L[m];
        l.C.assign(st.layers[m].C.begin(), st.layers[m].C.end());
        l.A.assign(st.layers[m].A.begin(), st.layers[m].A.end());
        l.lam.assign(st.layers[m].lam.begin(), st.layers[m].lam.end());
        load_ring(st.layers[m].spikes, l.spikes);
      }
      sp->u_valid = false;
      fresh.push_back(std::move(sp));
    }
    train_slots_ = std::move(fresh);
  }

  // ---- running ----
  void stage_chunk(const uint8_t* images, const int32_t* order, int64_t) override {
    chunk_images_ = images;
    chunk_order_ = order;
    new_chunk_ = true;
    for (auto& sp : train_slots_) sp->prepared.valid = false;
  }
  void run_examples(const TrainJob* jobs, int64_t n, const ExampleOutput& out) override;
  bool fuses_online(bool record_angle) const override {
    return !record_angle && paired_config() && !c_.backprop && c_.feedback != FeedbackKind::Learned &&
           c_.feedback != FeedbackKind::Symmetric;
  }
  void run_online(const TrainJob& job, const TrainJob* next, const std::vector<float>& etaP,
                  const ExampleOutput& out) override;
  void run_tests(const TestBatch& t) override;
  bool can_record() const override { return true; }

  // ---- updates ----
  void replay_backprop(int64_t m, int64_t slots) override;
  void update_feedback(int64_t m, int64_t slots, float eta) override;
  void mask_feedback(int64_t m) override {
    apply_mask(Y_[m], masks_[m]);
    transpose_feedback(m);
  }
  void update_forward(int64_t m, int64_t slots, float etaP) override;
  void edit_feedback(const FeedbackEdit& f) override {
    w0_whole();
    f(Wt_, Y_);
    for (size_t m = 0; m < Y_.size(); ++m) transpose_feedback(static_cast<int64_t>(m));
  }

 private:
  void load(const std::vector<LayerWeights>& w) {
    Wt_.assign(static_cast<size_t>(M_), {});
    b_.assign(static_cast<size_t>(M_), {});
    Y_.assign(static_cast<size_t>(M_ > 1 ? M_ - 1 : 0), {});
    cb_.assign(Y_.size(), {});
    for (int64_t m = 0; m < M_; ++m) {
      Wt_[m] = transposed(w[m].W, c_.layers[m], c_.fan_in(m));
      b_[m] = w[m].b;
      if (m < M_ - 1) {
        Y_[m] = w[m].Y;
        cb_[m] = w[m].c;
      }
    }
    Yt_.resize(Y_.size());
    Yrows_.resize(Y_.size());
    for (size_t m = 0; m < Y_.size(); ++m) transpose_feedback(static_cast<int64_t>(m));
  }

  // Yt_[m] = Y_[m]^T (fb x n), so that the apical potentials of all units are one vectorised
  // kappa_mix over the feedback units; must follow every change of Y_[m].
  void transpose_feedback(int64_t m) {
    const int64_t n = c_.layers[m], fb = c_.fb_size(m);
    Yt_[m] = transposed(Y_[m], n, fb);
    Yrows_[m].resize(static_cast<size_t>(fb));
    for (int64_t q = 0; q < fb; ++q) Yrows_[m][q] = Yt_[m].data() + q * n;
  }

  std::unique_ptr<Slot> make_slot() const {
    auto s = std::make_unique<Slot>();
    s->input.init(c_.mem, c_.n_in, s->events);
    s->L.resize(static_cast<size_t>(M_));
    const int64_t R = R_;
    for (int64_t m = 0; m < M_; ++m) {
      LayerState& l = s->L[m];
      l.n = c_.layers[m];
      l.fan_in = c_.fan_in(m);
      l.fb = m < M_ - 1 ? c_.fb_size(m) : 0;
      const size_t n = static_cast<size_t>(l.n);
      for (auto* v : {&l.B, &l.C, &l.A, &l.lam, &l.P, &l.Q, &l.sumC, &l.sumLam, &l.Cf, &l.Af, &l.alpha_f, &l.lamt,
                      &l.alpha_t, &l.E, &l.Ebp})
        v->assign(n, 0.0f);
      l.spikes.init(c_.mem, l.n, s->events);
      l.ld = (l.n + 15) / 16 * 16;
      l.tb.assign(static_cast<size_t>(3 * l.ld), 0);
      l.u.assign(static_cast<size_t>(c_.mem * l.ld), 0.0f);
      l.psp_a.assign(static_cast<size_t>(l.fb), 0.0f);
      l.sumPSPB.assign(static_cast<size_t>(l.fan_in), 0.0f);
      l.PSPBf.assign(static_cast<size_t>(l.fan_in), 0.0f);
      l.sumPSPA.assign(static_cast<size_t>(l.fb), 0.0f);
      l.PSPAf.assign(static_cast<size_t>(l.fb), 0.0f);
      l.pa_rows.assign(static_cast<size_t>(R * l.fb), 0.0f);
      l.delta_f.assign(n, 0);
      l.delta_t.assign(n, 0);
    }
    s->x.assign(static_cast<size_t>(c_.n_in), 0.0f);
    // set_image fills these inside parallel regions: reserved here, they never allocate there.
    s->nz.reserve(static_cast<size_t>(c_.n_in));
    s->x_nz.reserve(static_cast<size_t>(c_.n_in));
    s->x_tb.assign(static_cast<size_t>(3 * c_.n_in), 0);
    s->Cbar.assign(static_cast<size_t>(c_.n_out()), 0.0f);
    int64_t widest = c_.n_in;
    for (int64_t m = 0; m < M_; ++m) widest = std::max(widest, c_.layers[m]);
    int64_t taps_max = c_.mem;
    for (int64_t m = 0; m + 1 < M_; ++m) taps_max = std::max(taps_max, c_.fb_size(m));
    s->sc.init(widest, taps_max);  // (sc2, the pair's second scratch, takes sc's sizes)
    s->Bx.assign(static_cast<size_t>(c_.layers[0]), 0.0f);
    s->target.assign(static_cast<size_t>(c_.n_out()), 0.0f);
    s->angle.assign(static_cast<size_t>(M_ - 1), 0.0f);
    return s;
  }

  // docs/papers.md §12: every potential, rate, spike history and buffer to zero.
  void reset_slot(Slot& s) const {
    s.input.reset();
    for (LayerState& l : s.L) {
      for (auto* v : {&l.B, &l.C, &l.A, &l.lam, &l.u}) std::fill(v->begin(), v->end(), 0.0f);
      l.spikes.reset();
    }
    s.u_valid = true;  // all-zero history: u = W 0 = 0
  }

  // Rates of an image: x = lambda_max p with p = pixel / 255 (docs/papers.md §5), and the drive W x + b
  // for rate feed-forward. Must follow any change of W^0.
  void set_image(Slot& s, const uint8_t* px) const {
    s.nz.clear();
    s.x_nz.clear();
    for (int64_t j = 0; j < c_.n_in; ++j) {
      const float r = input_rate(c_.lambda_max, px[j]);
      s.x[j] = r;
      if (r > 0.0f) {
        s.nz.push_back(static_cast<int32_t>(j));
        s.x_nz.push_back(r);
        count_bounds(r, s.x_bounds(), static_cast<int64_t>(s.x_nz.size()) - 1);
      }
    }
    if (!c_.spiking_feedforward) {
      const int64_t n = c_.layers[0];
      float* B = s.Bx.data();
      std::fill(B, B + n, 0.0f);
      for (int32_t j : s.nz) {
        const float xj = s.x[j];
        const float* w = Wt_[0].data() + static_cast<int64_t>(j) * n;
        for (int64_t k = 0; k < n; ++k) B[k] = f32::mac(B[k], xj, w[k]);
      }
      for (int64_t k = 0; k < n; ++k) B[k] = f32::add(B[k], b_[0][k]);
    }
  }

  // u[slot] = W^m S_pre(slot) for every slot of the pre ring (after a weight change).
  void recompute_u(Slot& s) const {
    if (!c_.spiking_feedforward) {
      s.u_valid = true;
      return;
    }
    for (int64_t m = 0; m < M_; ++m) {
      LayerState& l = s.L[m];
      const Ring& pre = m == 0 ? s.input : s.L[m - 1].spikes;
      for (int64_t q = 0; q < c_.mem; ++q) accumulate_u(l, m, pre.steps[q], l.u.data() + q * l.ld);
    }
    s.u_valid = true;
  }

  // (K3) The kappa filter's sums P, Q of n units from the u rows of the last mem steps (taps[i]:
  // step t-1-i), summed in that order.
  void seed_filter(float* P, float* Q, const float* const* taps, int64_t n) const {
    k_.kappa_mix(P, zeros_.data(), taps, d_.seed_L.data(), c_.mem, n);
    k_.kappa_mix(Q, zeros_.data(), taps, d_.seed_S.data(), c_.mem, n);
  }

  void accumulate_u(const LayerState& l, int64_t m, const Events& ev, float* u) const {
    k_.accum_events(u, Wt_[m].data(), ev.idx, ev.cnt, ev.size, l.n, l.n);
  }

  // The words of elements e0 .. e0 + n - 1 (the groups that hold them, in sc.xg).
  const uint32_t* words(const philox::Stream& st, uint64_t e0, int64_t n, Scratch& sc) const {
    const uint64_t g0 = e0 >> 6, g1 = (e0 + static_cast<uint64_t>(n) - 1) >> 6;
    k_.group_words(st, g0, static_cast<int64_t>(g1 - g0 + 1), sc.xg.data());
    return sc.xg.data() + (e0 & 63);
  }

  // Appends the events of lanes in bits | ones (ones: count 1; bits: spike_count's search from
  // word x[j] and rate lam[j]) of units unit_of(j), elements element_of(j).
  template <class UnitOf, class ElementOf>
  void push_events(const philox::Stream& st, UnitOf unit_of, ElementOf element_of, const uint32_t* x, const float* lam,
                   int64_t n, Scratch& sc, Events& ev) const {
    int32_t* const idx = ev.idx;
    float* const cnt = ev.cnt;
    int64_t ne = ev.size;
    for (int64_t w = 0; w < (n + 63) / 64; ++w) {
      for (uint64_t m = sc.bits[w] | sc.ones[w]; m; m &= m - 1) {
        const int64_t j = w * 64 + __builtin_ctzll(m);
        const int32_t k = (sc.ones[w] & m & -m) ? 1 : spike_count_of(st, element_of(j), lam[j], x[j]);
        if (k > 0) {
          idx[ne] = static_cast<int32_t>(unit_of(j));
          cnt[ne++] = static_cast<float>(k);
        }
      }
    }
    ev.size = ne;
  }

  // Draws the spikes of n units unit0 + (off ? off[i] : i) from elements base + unit0 + i of the
  // stream, one run of words (the input's pixels: off = the image's nonzero ones, each drawn from
  // its rank among them), with rates rate[i] and count bounds tb; pushes the events.
  void draw_spikes(const philox::Stream& st, uint64_t base, const int32_t* off, int64_t unit0, const float* rate,
                   CountBounds tb, int64_t n, Scratch& sc, Events& ev) const {
    const uint64_t e0 = base + static_cast<uint64_t>(unit0);
    const uint32_t* x = words(st, e0, n, sc);
    k_.classify_words(x, tb, n, sc.bits.data(), sc.ones.data());
    auto element = [e0](int64_t j) { return e0 + static_cast<uint64_t>(j); };
    if (off) push_events(st, [unit0, off](int64_t j) { return unit0 + off[j]; }, element, x, rate, n, sc, ev);
    else push_events(st, [unit0](int64_t j) { return unit0 + j; }, element, x, rate, n, sc, ev);
  }

  // draw_spikes for units unit0 + i of a lazy layer (lazy_), from their somatic potentials C:
  // rates only where tier 1 cannot prove a count of 0 for every rate up to lambda_max.
  void draw_spikes_lazy(const philox::Stream& st, uint64_t base, int64_t unit0, const float* C, int64_t n, Scratch& sc,
                        Events& ev) const {
    const uint64_t e0 = base + static_cast<uint64_t>(unit0);
    const uint32_t* x = words(st, e0, n, sc);
    const int64_t ns = k_.stage_words(x, C, n, zmax_, sc.unit.data(), sc.Cs.data(), sc.x.data());
    k_.rates_classify(sc.Cs.data(), sc.x.data(), ns, p_.lmax, sc.lam.data(), sc.bits.data(), sc.ones.data());
    const int32_t* unit = sc.unit.data();
    push_events(st, [unit0, unit](int64_t j) { return unit0 + unit[j]; },
                [e0, unit](int64_t j) { return e0 + static_cast<uint64_t>(unit[j]); }, sc.x.data(), sc.lam.data(), ns, sc, ev);
  }
  // After a phase whose steps drew layer m lazily: its rates of the last step, as an eager step
  // leaves them (a checkpoint saves them).
  void finish_lazy(LayerState& l, int64_t q0, int64_t q1) const {
    k_.compute_rates(l.C.data() + q0, l.lam.data() + q0, l.bounds() + q0, q1 - q0, p_.lmax);
  }
  void step(Slot& s, const PhaseCtx& ctx, int64_t t) const;
  void step_layer(Slot& s, const PhaseCtx& ctx, int64_t t, int64_t m) const;
  void apical_input(const Slot& s, int64_t m, float* pa) const;
  // (H4) A of units [q0, q1) of hidden layer m from its apical input pa (fb values): the sums of
  // apical_potential over the rows of Y from unit q0 (kappa_mix), then the feedback bias.
  void apical_potentials(LayerState& l, int64_t m, const float* pa, int64_t q0, int64_t q1, Scratch& sc) const {
    const int64_t nq = q1 - q0;
    for (int64_t q = 0; q < l.fb; ++q) sc.taps[q] = Yrows_[m][q] + q0;
    float* const A = l.A.data() + q0;
    k_.kappa_mix(A, zeros_.data(), sc.taps.data(), pa, l.fb, nq);
    if (c_.feedback_bias) {
      for (int64_t q = 0; q < nq; ++q) A[q] = apical_bias(A[q], cb_[m][q0 + q]);
    }
  }
  // The first stream element of step t of a phase: steps count from the example's first.
  uint64_t step_base(const PhaseCtx& ctx, int64_t t) const {
    return (ctx.step0 + static_cast<uint64_t>(t)) * static_cast<uint64_t>(d_.units);
  }

  // Writes layer m's A, B, C, lambda of the chosen units into the slot's recording row.
  void record_step(const Slot& s, int64_t m, uint64_t step) const {
    const std::vector<int32_t>& units = (*s.rec_units)[m];
    const size_t nu = units.size();
    if (nu == 0) return;
    const size_t at = (static_cast<size_t>(s.rec_row0) + static_cast<size_t>(step)) * nu;
    const LayerState& l = s.L[m];
    for (size_t j = 0; j < nu; ++j) {
      const int32_t u = units[j];
      s.rec->B[m][at + j] = l.B[u];
      s.rec->C[m][at + j] = l.C[u];
      s.rec->lam[m][at + j] = l.lam[u];
      if (m < M_ - 1) s.rec->A[m][at + j] = l.A[u];
    }
  }
  void run_phase(Slot& s, const PhaseCtx& ctx) const {
    for (int64_t t = 0; t < ctx.L; ++t) step(s, ctx, t);
    for (int64_t m = 0; m < M_; ++m) {
      if (lazy_[m] && s.rec == nullptr) finish_lazy(s.L[m], 0, s.L[m].n);
    }
  }
  void run_example(Slot& s, const TrainJob& job) const;
  void begin_example(Slot& s, const TrainJob& job) const;
  void plateau_offsets(LayerState& l, int64_t m, const TrainJob& job, int64_t q0, int64_t q1) const;
  void plateaus(LayerState& l, int64_t m, const float* pa_rows, const LineVec<int64_t>& delta, LineVec<float>& alpha,
                LineVec<float>* Abar, int64_t q0, int64_t q1, Scratch& sc) const;
  // The paired path of online training (run_example_pair): whether it applies, and its parts.
  bool paired_config() const { return M_ == 2 && c_.spiking_feedforward && c_.use_conductances && p_.gA == 0.0f; }
  bool pairable(const Slot& s) const { return paired_config() && s.rec == nullptr; }
  // The hidden units [q0, q1) a thread of the pair runs in the current example: thread 0, which
  // also runs the output layer, [0, split), a multiple of 16 units (PairTuner).
  std::pair<int64_t, int64_t> pair_units(const cpu::Team& team, int64_t n) const {
    const int64_t split = team.size() == 1 ? n : pair_split_;
    return team.id() == 0 ? std::make_pair(int64_t{0}, split) : std::make_pair(split, n);
  }
  // run_online's part after the steps: the errors and the updates, the next example prepared.
  struct OnlineTail {
    const TrainJob* next;         // or null
    const std::vector<float>* etaP;  // per layer
  };
  void start_pair();
  void w0_copy_in(cpu::Team& team);
  void run_example_paired(Slot& s, const TrainJob& job, const OnlineTail* tail = nullptr);
  void run_example_pair(Slot& s, const TrainJob& job, int64_t drawn, cpu::Team& team) const;
  void online_tail(Slot& s, const OnlineTail& tail, cpu::Team& team);
  void prepare_next(Slot& s, const TrainJob& next) const;
  void nonsilent_rows(const float* x, int64_t N);
  void update_w0_rows(int64_t n, const float* x, const float* g, cpu::Team& team);
  void update_online(int64_t m, const Slot& s, float etaP);
  static void update_rows(float* Wt, const float* const* psp, const float* g, int64_t S, int64_t n, int64_t N, int nt);
  void compute_errors(Slot& s) const;

  const Config c_;  // as made (the driver passes learning rates with each update)
  const Kernels k_;  // the SIMD clones
  const Derived d_;
  const StepParams p_;  // the constants of the step equations (segregated_step.h)
  const int64_t R_;     // rows of apical history per training phase
  int threads_ = 1;
  int64_t M_ = 0;
  std::vector<std::vector<float>> Wt_, b_, Y_, cb_;
  std::vector<std::vector<float>> Yt_;              // Y_ transposed (transpose_feedback)
  std::vector<std::vector<const float*>> Yrows_;    // rows of Yt_
  std::vector<float> zeros_;                        // the apical sums' and the kappa filter's starting values
  const std::vector<bool> need_spikes_, need_spikes_test_;  // EngineSetup::spikes_train, spikes_test
  const std::vector<std::vector<int64_t>> masks_;
  std::vector<std::unique_ptr<Slot>> train_slots_, eval_slots_;
  const uint8_t* chunk_images_ = nullptr;  // the staged chunk
  const int32_t* chunk_order_ = nullptr;
  bool new_chunk_ = false;     // no online example has run since it was staged
  std::vector<bool> lazy_;     // hidden layers whose spikes draw_spikes_lazy may draw
  int32_t zmax_ = 0;           // count_bounds(lambda_max).zero: proves 0 for every rate
  PairTuner pair_tuner_;
  // DENDRITE_PAIR_PREDRAW=k: prepare_next draws exactly k input steps ahead (or as many as there
  // are rooms), however long thread 0 takes: what the tests use to check that any number gives the
  // same bits (unset, -1: until thread 0 is done).
  const int64_t predraw_pinned_ = [] {
    const char* env = std::getenv("DENDRITE_PAIR_PREDRAW");
    return env ? std::max<int64_t>(0, std::strtoll(env, nullptr, 10)) : int64_t{-1};
  }();
  int pair_threads_ = 1;       // of the paired path's current example (and its W0 update)
  int64_t pair_split_ = 0;     // of the same (PairTuner::split)
  std::vector<int32_t> update_rows_;  // the paired W0 update's rows
  std::vector<const float*> update_psp_;  // update_forward's scratch: the slots' PSP_f, their g
  std::vector<float> update_g_;
  // W0's upper columns on two threads. Thread 1 reads and updates its units' columns in a copy of
  // its own, w0_upper_ (laid out as Wt_[0]), so that no cache line of W0 is used by both cores:
  // their prefetchers read past a thread's share, and a store to a line the other core holds
  // waits for it (the paired update ran at a third of one thread's speed per column). While
  // upper_split_ >= 0, columns [upper_split_, n) are current in the copy and stale in Wt_[0];
  // every other use of W0 first brings them back (w0_whole).
  LineVec<float> w0_upper_;
  int64_t upper_split_ = -1;
  // w0_split made the copy's room but left its columns to the next paired region (w0_copy_in).
  bool w0_copy_pending_ = false;
  template <class To, class From>
  static void copy_columns(To& to, const From& from, int64_t q0, int64_t q1, int64_t n) {
    for (size_t row = 0; row < to.size() / static_cast<size_t>(n); ++row) {
      std::memcpy(to.data() + row * n + q0, from.data() + row * n + q0, sizeof(float) * (q1 - q0));
    }
  }
  template <class To, class From>
  static void copy_columns(To& to, const From& from, int64_t q0, int64_t n) {
    copy_columns(to, from, q0, n, n);
  }
  void w0_whole() {
    if (upper_split_ < 0) return;
    if (!w0_copy_pending_) copy_columns(Wt_[0], w0_upper_, upper_split_, c_.layers[0]);
    upper_split_ = -1;
    w0_copy_pending_ = false;
  }
  void w0_split(int64_t split) {  // columns [split, n) current in the copy
    const int64_t n = c_.layers[0];
    if (upper_split_ < 0) {
      w0_upper_.resize(Wt_[0].size());
      w0_copy_pending_ = true;
    } else if (split > upper_split_) {
      copy_columns(Wt_[0], w0_upper_, upper_split_, split, n);
    } else if (split < upper_split_) {
      copy_columns(w0_upper_, Wt_[0], split, upper_split_, n);
    }
    upper_split_ = split;
  }
  // Where W0's columns of hidden units [q0, q1) are current now: at most two parts, each in
  // Wt_[0] or (upper) in w0_upper_, both n floats per row.
  struct W0Part {
    int64_t q0, q1;
    bool upper;
  };
  int w0_parts(int64_t q0, int64_t q1, W0Part* parts) const {
    const int64_t k = upper_split_ < 0 ? q1 : std::clamp(upper_split_, q0, q1);
    int np = 0;
    if (k > q0) parts[np++] = {q0, k, false};
    if (q1 > k) parts[np++] = {k, q1, true};
    return np;
  }
  bool record_angle_ = false;  // of the examples being run
};

// One time step (docs/papers.md §7.1): input spikes, hidden layers bottom-up, then the output layer.
void CpuEngine::step(Slot& s, const PhaseCtx& ctx, int64_t t) const {
  if (c_.spiking_feedforward) {
    Events& ev = s.input.push();
    draw_spikes(ctx.spikes, step_base(ctx, t), s.nz.data(), 0, s.x_nz.data(), s.x_bounds(),
                static_cast<int64_t>(s.nz.size()), s.sc, ev);
  }
  for (int64_t m = 0; m < M_; ++m) step_layer(s, ctx, t, m);
}

// The apical input of hidden layer m (H3): the feedback layer's kernel-filtered spikes of the
// last mem steps it has taken, or its rates.
void CpuEngine::apical_input(const Slot& s, int64_t m, float* pa) const {
  const LayerState& f = s.L[c_.fb_layer(m)];
  const int64_t fb = s.L[m].fb;
  const float* kap = d_.kappa.data();
  if (c_.spiking_feedback) {
    std::fill(pa, pa + fb, 0.0f);
    for (int64_t i = 0; i < c_.mem; ++i) {
      const Events& ev = f.spikes.back(i);
      for (int64_t e = 0; e < ev.size; ++e) pa[ev.idx[e]] = f32::mac(pa[ev.idx[e]], kap[i], ev.cnt[e]);
    }
  } else {
    std::memcpy(pa, f.lam.data(), sizeof(float) * fb);
  }
}

// Layer m's part of step t (docs/papers.md §7.2, §7.3): basal drive, apical potential, soma and
// rates, spikes, window sums.
void CpuEngine::step_layer(Slot& s, const PhaseCtx& ctx, int64_t t, int64_t m) const {
  using namespace f32;
  const StepParams p = p_;
  const bool train = ctx.mode != Phase::Test;
  const bool learned = c_.feedback == FeedbackKind::Learned;
  const uint64_t base = step_base(ctx, t);
  const int64_t mem = c_.mem;
  const bool cond = c_.use_conductances;
  // A recorded test also draws the feedback layer's spikes for its apical potentials: they are
  // separate counters of the same stream, so nothing else changes.
  const std::vector<bool>& need = train || s.rec ? need_spikes_ : need_spikes_test_;
  LayerState& l = s.L[m];
  const int64_t n = l.n;
  const bool out = m == M_ - 1;
  const LayerStep ls = layer_step(ctx.mode, t, ctx.L, ctx.T, ctx.R, out, learned, p.gA != 0.0f, s.rec != nullptr);
  const bool lazy = lazy_[m] && need[m] && s.rec == nullptr;  // (lazy_ holds no output layer)
  float* B = l.B.data();
  // (H1, H2) / (O1, O2): basal drive.
  if (c_.spiking_feedforward) {
    const Ring& pre = m == 0 ? s.input : s.L[m - 1].spikes;
    float* const u = l.u.data();
    if (ctx.step0 + static_cast<uint64_t>(t) == 0) {  // (K3) the sums over steps t-1 .. t-mem of the ring
      for (int64_t i = 0; i < mem; ++i) s.sc.taps[i] = u + pre.slot(i + 1) * l.ld;
      seed_filter(l.P.data(), l.Q.data(), s.sc.taps.data(), n);
    }
    accumulate_u(l, m, pre.steps[pre.head], s.sc.u_new.data());
    k_.kappa_filter(u + pre.head * l.ld, s.sc.u_new.data(), l.P.data(), l.Q.data(), b_[m].data(), B, n, d_.filter);
    if (ls.psp_b) {
      float* sp = l.sumPSPB.data();
      for (int64_t i = 0, ages = psp_ages(t, ctx.L, ctx.T, mem); i < ages; ++i) {
        const Events& ev = pre.back(i);
        const float w = d_.kappa_window[psp_taps(i, t, ctx.L, mem)];
        for (int64_t e = 0; e < ev.size; ++e) sp[ev.idx[e]] = mac(sp[ev.idx[e]], w, ev.cnt[e]);
      }
    }
  } else if (m == 0) {
    std::memcpy(B, s.Bx.data(), sizeof(float) * n);
    if (ls.psp_b) {
      float* sp = l.sumPSPB.data();
      for (int32_t j : s.nz) sp[j] = add(sp[j], s.x[j]);
    }
  } else {
    const LayerState& pl = s.L[m - 1];
    std::memcpy(B, b_[m].data(), sizeof(float) * n);
    const float* W = Wt_[m].data();
    for (int64_t j = 0; j < pl.n; ++j) {
      const float lj = pl.lam[j];
      const float* w = W + j * n;
      for (int64_t k = 0; k < n; ++k) B[k] = mac(B[k], lj, w[k]);
    }
    if (ls.psp_b) {
      float* sp = l.sumPSPB.data();
      for (int64_t j = 0; j < pl.n; ++j) sp[j] = add(sp[j], pl.lam[j]);
    }
  }

  float* C = l.C.data();
  float* lam = l.lam.data();
  bool rates_done = false;
  if (!out) {
    // (H3, H4): apical potential from the feedback layer up to step t-1 (it has not stepped yet).
    if (ls.apical) {  // A has no somatic effect when g_A = 0
      float* pa = l.psp_a.data();
      const int64_t fb = l.fb;
      apical_input(s, m, pa);
      if (ls.keep_A) std::memcpy(l.pa_rows.data() + (t - (ctx.L - ctx.R)) * fb, pa, sizeof(float) * fb);
      // A_k = apical_potential(row k of Y, pa, fb): 0 + sum_q pa_q Y_kq in q order, for all k at once.
      // Where only the plateaus read it (from pa_rows), A is kept for the phase's last step alone.
      if (p.gA != 0.0f || s.rec || t == ctx.L - 1) apical_potentials(l, m, pa, 0, n, s.sc);
      if (ls.psp_a) {
        float* sa = l.sumPSPA.data();
        for (int64_t q = 0; q < fb; ++q) sa[q] = add(sa[q], pa[q]);
      }
    }
    // (H5) / (H5'), (H6)
    if (lazy) {
      k_.soma(C, B, n, p, p.gB);  // the rates: in draw_spikes_lazy, and after the phase
      rates_done = true;
    } else if (cond && p.gA == 0.0f) {
      k_.soma_rates(C, B, lam, l.bounds(), n, p, p.gB);
      rates_done = true;
    } else if (cond) {
      const float* A = l.A.data();
      for (int64_t k = 0; k < n; ++k) C[k] = soma_hidden(C[k], B[k], A[k], true, p);
    } else {
      for (int64_t k = 0; k < n; ++k) C[k] = soma_hidden(C[k], B[k], 0.0f, false, p);
    }
  } else {
    // (O3, O4) / (O4', O4'')
    if (ctx.mode == Phase::Target) {
      const float* tg = s.target.data();
      if (cond) {
        for (int64_t k = 0; k < n; ++k) C[k] = soma_output_target(C[k], B[k], tg[k], true, p);
      } else {
        for (int64_t k = 0; k < n; ++k) C[k] = soma_output_target(C[k], B[k], tg[k], false, p);
      }
    } else if (cond) {
      k_.soma_rates(C, B, lam, l.bounds(), n, p, p.gD);
      rates_done = true;
    } else {
      for (int64_t k = 0; k < n; ++k) C[k] = soma_output(C[k], B[k], false, p);
    }
  }
  if (!rates_done) k_.compute_rates(C, lam, l.bounds(), n, p.lmax);
  if (need[m]) {
    Events& ev = l.spikes.push();
    if (lazy) draw_spikes_lazy(ctx.spikes, base + static_cast<uint64_t>(d_.unit_offset[m]), 0, C, n, s.sc, ev);
    else draw_spikes(ctx.spikes, base + static_cast<uint64_t>(d_.unit_offset[m]), nullptr, 0, lam, l.bounds(), n, s.sc, ev);
  }
  if (s.rec) record_step(s, m, ctx.step0 + static_cast<uint64_t>(t));

  // Window sums (P1-P5): what the updates and predictions read.
  if (ls.sum_C) {
    float* sc = l.sumC.data();
    for (int64_t k = 0; k < n; ++k) sc[k] = add(sc[k], C[k]);
  }
  if (ls.sum_lam) {
    float* sl = l.sumLam.data();
    for (int64_t k = 0; k < n; ++k) sl[k] = add(sl[k], lam[k]);
  }
}

// What every training example starts with: the image's rates, the target, cleared window sums.
void CpuEngine::begin_example(Slot& s, const TrainJob& job) const {
  if (!s.prepared.is(job)) set_image(s, chunk_images_ + static_cast<int64_t>(chunk_order_[job.row]) * c_.n_in);
  s.prepared.valid = false;
  const int64_t k = d_.k_per_class;
  for (int64_t q = 0; q < c_.n_out(); ++q) s.target[q] = target_of(q, k, job.label);
  for (LayerState& l : s.L) {
    for (auto* v : {&l.sumC, &l.sumLam, &l.sumPSPB, &l.sumPSPA}) std::fill(v->begin(), v->end(), 0.0f);
  }
}

// The random plateau offsets of units [q0, q1) of hidden layer m (docs/papers.md §8.4).
void CpuEngine::plateau_offsets(LayerState& l, int64_t m, const TrainJob& job, int64_t q0, int64_t q1) const {
  if (!c_.rand_plateau_times) return;
  for (int64_t q = q0; q < q1; ++q) {
    l.delta_f[q] = plateau_offset(c_, job.epoch, job.example, 0, d_.hidden_offset[m] + q);
    l.delta_t[q] = plateau_offset(c_, job.epoch, job.example, 1, d_.hidden_offset[m] + q);
  }
}

// The plateaus of units [q0, q1) of hidden layer m (P1, P4) from the phase's plateau rows of
// apical input (pa_rows, R x fb): the mean of the T apical potentials ending delta steps before
// the phase end as plateau_input and plateau_potential give it, and its sigmoid. The dot products
// run over all the units at once (kappa_mix: y . sums in feedback-unit order from 0, as
// apical_potential), one per plateau offset in use, so that they vectorise; so do the sigmoids
// (k_.sigmoids, exp_f's polynomial).
void CpuEngine::plateaus(LayerState& l, int64_t m, const float* pa_rows, const LineVec<int64_t>& delta,
                         LineVec<float>& alpha, LineVec<float>* Abar, int64_t q0, int64_t q1, Scratch& sc) const {
  const int64_t T = c_.integration_time, fb = l.fb, nq = q1 - q0;
  const int64_t offsets = c_.rand_plateau_times ? c_.plateau_cap + 1 : 1;
  float* const a = alpha.data();
  const int64_t* const d = delta.data();
  for (int64_t q = 0; q < fb; ++q) sc.taps[q] = Yrows_[m][q] + q0;
  for (int64_t off = 0; off < offsets; ++off) {
    float* const sums = sc.pa_sums.data();
    for (int64_t f = 0; f < fb; ++f) sums[f] = plateau_input(pa_rows, fb, f, R_ - off, T);
    float* const dots = offsets == 1 ? a + q0 : sc.dots.data();
    k_.kappa_mix(dots, zeros_.data(), sc.taps.data(), sums, fb, nq);
    if (offsets > 1) {
      for (int64_t q = 0; q < nq; ++q) a[q0 + q] = d[q0 + q] == off ? dots[q] : a[q0 + q];
    }
  }
  const float* const cb = c_.feedback_bias ? cb_[m].data() : nullptr;
  for (int64_t q = q0; q < q1; ++q) a[q] = plateau_potential(a[q], T, cb != nullptr, cb ? cb[q] : 0.0f);
  if (Abar) std::memcpy(Abar->data() + q0, a + q0, sizeof(float) * nq);
  k_.sigmoids(a + q0, nq);
}

void CpuEngine::run_example(Slot& s, const TrainJob& job) const {
  const int64_t Lf = job.Lf, Lt = job.Lt;
  const int64_t T = c_.integration_time;
  const int64_t R = R_;
  if (!s.u_valid) recompute_u(s);
  begin_example(s, job);
  for (int64_t m = 0; m + 1 < M_; ++m) plateau_offsets(s.L[m], m, job, 0, s.L[m].n);
  const int64_t k = d_.k_per_class;
  const philox::Stream spikes = job.spikes;

  PhaseCtx f;
  f.mode = Phase::Forward;
  f.L = Lf;
  f.T = T;
  f.R = R;
  f.spikes = spikes;
  f.step0 = 0;
  run_phase(s, f);
  for (int64_t m = 0; m < M_; ++m) {  // (P1-P3)
    LayerState& l = s.L[m];
    for (int64_t q = 0; q < l.n; ++q) l.Cf[q] = window_mean(l.sumC[q], T);
    for (int64_t j = 0; j < l.fan_in; ++j) l.PSPBf[j] = window_mean(l.sumPSPB[j], T);
    if (m < M_ - 1) {
      plateaus(l, m, l.pa_rows.data(), l.delta_f, l.alpha_f, &l.Af, 0, l.n, s.sc);
      for (int64_t q = 0; q < l.fb; ++q) l.PSPAf[q] = window_mean(l.sumPSPA[q], T);
    }
  }
  s.prediction = class_argmax(s.L[M_ - 1].Cf.data(), k);

  PhaseCtx tp = f;
  tp.mode = Phase::Target;
  tp.L = Lt;
  tp.step0 = static_cast<uint64_t>(Lf);
  run_phase(s, tp);
  for (int64_t m = 0; m < M_; ++m) {  // (P4, P5)
    LayerState& l = s.L[m];
    if (m == M_ - 1) {
      for (int64_t q = 0; q < l.n; ++q) l.lamt[q] = window_mean(l.sumLam[q], T);
    } else {
      plateaus(l, m, l.pa_rows.data(), l.delta_t, l.alpha_t, nullptr, 0, l.n, s.sc);
    }
  }
  compute_errors(s);
}

// Online training of one hidden layer on a team of one or two threads (docs/papers.md §17.2
// items 4, 5). With g_A = 0 nothing flows down within an example, so a hidden unit's steps need
// only the input: the hidden units are split between the threads, each running its units through
// every step of the example, and thread 0 then runs the output layer's steps (the other thread's
// spikes of a step are in by then, in compact lists whose lines are fetched ahead; thread 0 waits
// for any that are not with cpu::wait_for). The input spikes, which depend on nothing else, are
// drawn first, by the threads in turns, each step published at once (no barrier), and the
// plateaus, the only readers of the apical potentials, are computed after the last step from the
// plateau rows' apical input. Every
// value comes from the same functions summed in the same order as in step(), so the bits are
// those of run_example for any team size.
void CpuEngine::run_example_pair(Slot& s, const TrainJob& job, int64_t drawn, cpu::Team& team) const {
  using namespace f32;
  const int nt = team.size(), id = team.id();
  LayerState& h = s.L[0];
  LayerState& o = s.L[1];
  const int64_t n = h.n, fb = h.fb, mem = c_.mem, T = c_.integration_time, R = R_, S = job.Lf + job.Lt;
  const auto [q0, q1] = pair_units(team, n);
  const int64_t nq = q1 - q0;
  Scratch& sc = id == 0 ? s.sc : s.sc2;
  const uint64_t units = static_cast<uint64_t>(d_.units);
  const int64_t head0 = s.input.head;
  const bool learned = c_.feedback == FeedbackKind::Learned;
  W0Part parts[2];
  const int np = w0_parts(q0, q1, parts);
  // This thread's arrays, read once (thread 0 writes the hidden ring's head beside the layer's
  // headers): thread 0 steps its units in the layer's arrays, thread 1 in Slot::up, whose
  // element 0 is unit q0 (copied in here, back after the steps).
  Slot::UpperUnits& up = s.up;
  const bool own = id == 1;
  const int64_t ld = own ? up.ld : h.ld;
  const int64_t c0 = own ? q0 : 0;  // unit q0 is column q0 - c0 of u
  float* const u = own ? up.u.data() : h.u.data();
  float* const B = own ? up.B.data() : h.B.data() + q0;
  float* const C = own ? up.C.data() : h.C.data() + q0;
  float* const lam = own ? up.lam.data() : h.lam.data() + q0;
  const CountBounds tb = own ? CountBounds{up.tb.data(), up.tb.data() + ld, up.tb.data() + 2 * ld} : h.bounds() + q0;
  float* const sumC = own ? up.sumC.data() : h.sumC.data() + q0;
  float* const P = own ? up.P.data() : h.P.data() + q0;
  float* const Q = own ? up.Q.data() : h.Q.data() + q0;
  const float* const b = b_[0].data() + q0;
  const bool lazy = lazy_[0] && need_spikes_[0];
  if (own) {
    std::memcpy(C, h.C.data() + q0, sizeof(float) * nq);
    std::fill(sumC, sumC + nq, 0.0f);
    if (s.u_valid) {
      for (int64_t q = 0; q < mem; ++q) std::memcpy(u + q * ld, h.u.data() + q * h.ld + q0, sizeof(float) * nq);
    }
  }
  // u[q0, q1) = the columns of this thread's units for events ev (one accumulation per part)
  auto accum_input = [&](float* u_row, const Events& ev) {
    for (int i = 0; i < np; ++i) {
      const float* W = (parts[i].upper ? w0_upper_.data() : Wt_[0].data()) + parts[i].q0;
      k_.accum_events(u_row + parts[i].q0 - c0, W, ev.idx, ev.cnt, ev.size, parts[i].q1 - parts[i].q0, n);
    }
  };
  // This thread's input events of step t of the example (t < 0: the ones the last example left in
  // the ring, thread 0's lists).
  std::vector<Slot::StepEvents>& xev = id == 0 ? s.xev : s.xev1;
  auto input_events = [&](int64_t t) -> const Events& { return t >= 0 ? xev[t].ev : s.input.back(-t - 1); };

  // After a weight update: this thread's columns of u (thread 0: also the output layer's u).
  if (!s.u_valid) {
    for (int64_t q = 0; q < mem; ++q) {
      accum_input(u + q * ld, s.input.steps[q]);
    }
    if (id == 0) {
      for (int64_t q = 0; q < mem; ++q) accumulate_u(o, 1, h.spikes.steps[q], o.u.data() + q * o.ld);
    }
  }
  // (K3) this thread's sums from the ring's steps -1 .. -mem (step t's row is (head0 + t + 1) % mem)
  for (int64_t i = 0; i < mem; ++i) sc.taps[i] = u + ((head0 - i + mem) % mem) * ld + q0 - c0;
  seed_filter(P, Q, sc.taps.data(), nq);
  // The example's input spikes from step `drawn` on (the steps before were drawn by thread 1 at
  // the end of the last example: prepare_next): thread t % nt draws those of step t into its own
  // lists and, for the other thread, into xwire, each published at once (input_drawn: the
  // thread's steps before the count are in), so that the other thread starts its steps without a
  // barrier. (Drawing them a few steps ahead inside the loop instead was 1-3 % slower: measured.)
  // The wire list two draws on is claimed for writing now: the other thread read it last example.
  for (int64_t t = drawn + (id - drawn % nt + nt) % nt; t < S; t += nt) {
    if (nt > 1 && t + 2 * nt < S) s.xwire.prefetch(t + 2 * nt, true);
    Events& ev = xev[t].ev;
    ev.clear();
    draw_spikes(job.spikes, static_cast<uint64_t>(t) * units, s.nz.data(), 0, s.x_nz.data(), s.x_bounds(),
                static_cast<int64_t>(s.nz.size()), sc, ev);
    if (nt > 1) s.xwire.put(t, ev);
    s.input_drawn[id].steps.store(t + 1, std::memory_order_release);
  }
  plateau_offsets(h, 0, job, q0, q1);

  // How long this thread is busy in the steps (its waits for the other left out): PairTuner's split.
  using clock = std::chrono::steady_clock;
  const clock::time_point steps_start = clock::now();
  clock::duration waited{};
  struct StepAt {
    PhaseCtx ctx;
    int64_t tt;  // the step within its phase
    LayerStep ls;  // the hidden layer's
  };
  auto step_at = [&](int64_t t) {
    StepAt a;
    const bool forward = t < job.Lf;
    a.ctx.mode = forward ? Phase::Forward : Phase::Target;
    a.ctx.L = forward ? job.Lf : job.Lt;
    a.ctx.T = T;
    a.ctx.R = R;
    a.ctx.spikes = job.spikes;
    a.ctx.step0 = forward ? 0 : static_cast<uint64_t>(job.Lf);
    a.tt = forward ? t : t - job.Lf;
    a.ls = layer_step(a.ctx.mode, a.tt, a.ctx.L, T, R, false, learned, false, false);
    return a;
  };
  // Thread 0: the output layer's step t, with the hidden events of step t of both threads, in unit
  // order, pushed into the hidden ring first. On two threads thread 0 runs them all after its
  // hidden steps (which never read the output layer's): the other thread's lists are published by
  // then (run a few steps behind the hidden steps instead, examples took 3 % longer: measured).
  // The lists of step t + kAhead are fetched during step t: they come from the other core.
  constexpr int64_t kAhead = 4;
  int64_t upper_known = 0;  // the other thread's published steps, as last read
  auto fetch_upper = [&](int64_t t) {
    if (t < upper_known) s.upper_wire.prefetch(t, false);  // (else its lines are still being written)
  };
  auto output_step = [&](int64_t t) {
    if (nt > 1) {  // (on one thread the hidden step pushed its events into the ring itself)
      // (this thread's events change places with the slot's cleared ones, which have the same
      // room: nothing is copied)
      Events& ev = h.spikes.push();
      std::swap(ev, s.lower_ev[t].ev);
      if (upper_known <= t + kAhead) upper_known = s.upper_done.steps.load(std::memory_order_acquire);
      if (upper_known <= t) {
        const clock::time_point wait_start = clock::now();
        cpu::wait_for(s.upper_done.steps, t + 1);
        waited += clock::now() - wait_start;
        upper_known = s.upper_done.steps.load(std::memory_order_acquire);
      }
      fetch_upper(t + kAhead);
      if (!s.upper_wire.append_to(t, ev)) ev.append(s.upper_ev[t].ev);
    }
    const StepAt a = step_at(t);
    if (a.ls.keep_A) {  // (H3) the apical input of a plateau row, before the output steps
      const bool forward = a.ctx.mode == Phase::Forward;
      float* pa = s.pa_rows.data() + ((forward ? 0 : R) + a.tt - (a.ctx.L - R)) * fb;
      apical_input(s, 0, pa);
      if (a.ls.psp_a) {
        for (int64_t q = 0; q < fb; ++q) h.sumPSPA[q] = add(h.sumPSPA[q], pa[q]);
      }
    }
    step_layer(s, a.ctx, a.tt, 1);
  };
  int64_t input_known = 0;  // the other thread's drawn input steps, as last read
  // Whether step t's input is the other thread's (thread 1 drew the steps before `drawn`), and in.
  auto other_input = [&](int64_t t) {
    if (t < drawn ? id == 1 : t % nt == id) return false;
    if (input_known <= t) input_known = s.input_drawn[1 - id].steps.load(std::memory_order_acquire);
    return true;
  };
  for (int64_t t = 0; t < S; ++t) {
    const StepAt a = step_at(t);
    if (other_input(t)) {  // (into this thread's list)
      if (input_known <= t) {
        const clock::time_point wait_start = clock::now();
        cpu::wait_for(s.input_drawn[1 - id].steps, t + 1);
        waited += clock::now() - wait_start;
        input_known = s.input_drawn[1 - id].steps.load(std::memory_order_acquire);
      }
      Events& ev = xev[t].ev;
      ev.clear();
      if (!s.xwire.append_to(t, ev)) ev.append((id == 0 ? s.xev1 : s.xev)[t].ev);
    }
    if (t + 2 < S && other_input(t + 2) && t + 2 < input_known) s.xwire.prefetch(t + 2, false);
    // (H1, H2, K3): u of this step's input spikes, into the ring slot step() would use by the
    // filter (sc.u_new's element 0 is unit q0: thread 0's q0 is 0, thread 1's c0 is q0).
    const int64_t slot = (head0 + t + 1) % mem;
    accum_input(sc.u_new.data(), xev[t].ev);
    k_.kappa_filter(u + slot * ld + q0 - c0, sc.u_new.data(), P, Q, b, B, nq, d_.filter);
    if (a.ls.psp_b && id == nt - 1) {  // the input's PSP window sum, by the thread without the output layer
      float* sp = h.sumPSPB.data();
      for (int64_t i = 0, ages = psp_ages(t, job.Lf, T, mem); i < ages; ++i) {
        const Events& ev = input_events(t - i);
        const float w = d_.kappa_window[psp_taps(i, t, job.Lf, mem)];
        for (int64_t e = 0; e < ev.size; ++e) sp[ev.idx[e]] = mac(sp[ev.idx[e]], w, ev.cnt[e]);
      }
    }
    // (H5, H6) and the spikes of units q0..q1-1, by step (output_step merges them).
    if (id == 1 && t + 2 < S) s.upper_wire.prefetch(t + 2, true);
    Events& ev = nt == 1 ? h.spikes.push() : (id == 0 ? s.lower_ev : s.upper_ev)[t].ev;
    if (nt > 1) ev.clear();
    const uint64_t base = step_base(a.ctx, a.tt) + static_cast<uint64_t>(d_.unit_offset[0]);
    if (lazy) {
      k_.soma(C, B, nq, p_, p_.gB);
      draw_spikes_lazy(job.spikes, base, q0, C, nq, sc, ev);
    } else {
      k_.soma_rates(C, B, lam, tb, nq, p_, p_.gB);
      draw_spikes(job.spikes, base, nullptr, q0, lam, tb, nq, sc, ev);
    }
    if (a.ls.sum_C) {
      for (int64_t q = 0; q < nq; ++q) sumC[q] = add(sumC[q], C[q]);
    }
    if (id != 0) {
      s.upper_wire.put(t, ev);
      s.upper_done.steps.store(t + 1, std::memory_order_release);
    } else if (nt == 1) {
      output_step(t);
    }
  }
  if (id == 0 && nt > 1) {
    upper_known = s.upper_done.steps.load(std::memory_order_acquire);
    for (int64_t t = 0; t < kAhead; ++t) fetch_upper(t);
    for (int64_t t = 0; t < S; ++t) output_step(t);
  }
  if (own) {  // (lam and tb: unless finish_lazy computes them below)
    for (int64_t q = 0; q < mem; ++q) std::memcpy(h.u.data() + q * h.ld + q0, u + q * ld, sizeof(float) * nq);
    for (auto [from, to] : {std::pair{B, h.B.data()}, {C, h.C.data()}, {sumC, h.sumC.data()}, {lam, h.lam.data()}}) {
      if (from != lam || !lazy) std::memcpy(to + q0, from, sizeof(float) * nq);
    }
    if (!lazy) {
      for (int r = 0; r < 3; ++r) std::memcpy(h.tb.data() + r * h.ld + q0, up.tb.data() + r * ld, sizeof(int32_t) * nq);
    }
  }
  if (lazy) finish_lazy(h, q0, q1);
  s.pair_busy[id] = std::chrono::duration<double>(clock::now() - steps_start - waited).count();
  team.barrier();

  // (P1, P4) this thread's plateaus from each phase's plateau rows of apical input; (H4) A keeps
  // the last step's, as after step().
  plateaus(h, 0, s.pa_rows.data(), h.delta_f, h.alpha_f, &h.Af, q0, q1, sc);
  plateaus(h, 0, s.pa_rows.data() + R * fb, h.delta_t, h.alpha_t, nullptr, q0, q1, sc);
  apical_potentials(h, 0, s.pa_rows.data() + (2 * R - 1) * fb, q0, q1, sc);
  // (P2, P3, P5) window means
  for (int64_t q = q0; q < q1; ++q) h.Cf[q] = window_mean(h.sumC[q], T);
  if (id == nt - 1) {
    for (int64_t j = 0; j < h.fan_in; ++j) h.PSPBf[j] = window_mean(h.sumPSPB[j], T);
  }
  if (id == 0) {
    for (int64_t q = 0; q < fb; ++q) h.PSPAf[q] = window_mean(h.sumPSPA[q], T);
    for (int64_t q = 0; q < o.n; ++q) o.Cf[q] = window_mean(o.sumC[q], T);
    for (int64_t j = 0; j < o.fan_in; ++j) o.PSPBf[j] = window_mean(o.sumPSPB[j], T);
    for (int64_t q = 0; q < o.n; ++q) o.lamt[q] = window_mean(o.sumLam[q], T);
  }
}

// run_example through run_example_pair: buffers sized first (nothing allocates inside the region),
// the input ring brought up to date after it, as step() would have left it.
void CpuEngine::run_example_paired(Slot& s, const TrainJob& job, const OnlineTail* tail) {
  const int64_t S = job.Lf + job.Lt, mem = c_.mem, n = c_.layers[0];
  if (static_cast<int64_t>(s.upper_ev.size()) < S) {
    // (room for 32 steps more than this example's, in one block: the next may be longer; about
    // 14 KB a step for 784-500-10, so 145 steps fill one 2 MiB page)
    const int64_t old = static_cast<int64_t>(s.upper_ev.size()), grown = S + 32;
    for (auto* v : {&s.xev, &s.xev1, &s.lower_ev, &s.upper_ev}) v->resize(static_cast<size_t>(grown));
    s.events.reserve(EventStore::room(2 * (grown - old), c_.n_in) + EventStore::room(2 * (grown - old), n));
    for (int64_t t = old; t < grown; ++t) {
      s.xev[t].ev = s.events.take(c_.n_in);
      s.xev1[t].ev = s.events.take(c_.n_in);
    }
    for (int64_t t = old; t < grown; ++t) {
      s.lower_ev[t].ev = s.events.take(n);
      s.upper_ev[t].ev = s.events.take(n);
    }
    s.xwire.resize(grown, c_.n_in);
    s.upper_wire.resize(grown, n);
  }
  if (s.pa_rows.empty()) {
    s.pa_rows.assign(static_cast<size_t>(2 * R_ * c_.fb_size(0)), 0.0f);
    s.sc2.init(s.sc.widest, static_cast<int64_t>(s.sc.taps.size()));
    Slot::UpperUnits& up = s.up;
    up.ld = s.L[0].ld;
    up.u.assign(static_cast<size_t>(mem * up.ld), 0.0f);
    for (auto* v : {&up.B, &up.C, &up.lam, &up.sumC, &up.P, &up.Q}) v->assign(static_cast<size_t>(up.ld), 0.0f);
    up.tb.assign(static_cast<size_t>(3 * up.ld), 0);
  }
  const int64_t drawn = s.prepared.is(job) ? s.prepared.steps : 0;  // (begin_example consumes it)
  begin_example(s, job);
  const int64_t head0 = s.input.head;
  s.upper_done.steps.store(0, std::memory_order_relaxed);
  for (auto& p : s.input_drawn) p.steps.store(drawn, std::memory_order_relaxed);
  s.tail_ready.steps.store(0, std::memory_order_relaxed);
  s.pair_busy[1] = -1;  // stays so when the region got one thread
  cpu::parallel(pair_threads_, [&](cpu::Team& team) {
    if (w0_copy_pending_) w0_copy_in(team);
    run_example_pair(s, job, drawn, team);
    if (tail) online_tail(s, *tail, team);
  });
  w0_copy_pending_ = false;
  if (s.pair_busy[1] >= 0) pair_tuner_.busy(s.pair_busy[0], s.pair_busy[1]);
  for (int64_t t = std::max<int64_t>(0, S - mem); t < S; ++t) {
    std::swap(s.input.steps[(head0 + t + 1) % mem], s.xev[t].ev);  // (the same room: nothing is copied)
  }
  s.input.head = (head0 + S) % mem;
  s.u_valid = true;
  if (tail) return;  // (it computed the errors and the prediction)
  s.prediction = class_argmax(s.L[1].Cf.data(), d_.k_per_class);
  compute_errors(s);
}

// The part of an online example after its steps (run_online, in run_example_paired's region, after
// run_example_pair): thread 0 computes the prediction and the errors and updates the output layer
// (update_forward's arithmetic for one slot) while thread 1 prepares the next example; then each
// thread updates the rows of W0 of its own units, as update_forward's paired update does. The same
// bits as run_examples and update_forward, without the update's own region and the serial work
// between the two regions, in which thread 1 waited.
void CpuEngine::online_tail(Slot& s, const OnlineTail& tail, cpu::Team& team) {
  const int id = team.id();
  team.barrier();  // every unit's plateaus and window means
  if (id == 0) {
    s.prediction = class_argmax(s.L[1].Cf.data(), d_.k_per_class);
    compute_errors(s);
    update_online(1, s, (*tail.etaP)[1]);
    const LayerState& h = s.L[0];
    nonsilent_rows(h.PSPBf.data(), h.fan_in);
    for (int64_t q = 0; q < h.n; ++q) update_g_[q] = forward_gain((*tail.etaP)[0], h.E[q]);
    s.tail_ready.steps.store(1, std::memory_order_release);
  } else {
    if (tail.next) prepare_next(s, *tail.next);
    cpu::wait_for(s.tail_ready.steps, 1);
  }
  update_w0_rows(c_.layers[0], s.L[0].PSPBf.data(), update_g_.data(), team);
  if (id == 0) {
    for (int64_t q = 0; q < c_.layers[0]; ++q) b_[0][q] = descend(b_[0][q], update_g_[q]);
  }
}

// Thread 1 in online_tail: the next example's image (set_image) and its first input steps (into
// its own lists, xev1, and for thread 0 into xwire), until thread 0 is done; run_example_pair draws
// the rest.
void CpuEngine::prepare_next(Slot& s, const TrainJob& next) const {
  set_image(s, chunk_images_ + static_cast<int64_t>(chunk_order_[next.row]) * c_.n_in);
  Slot::Prepared& p = s.prepared;
  p.epoch = next.epoch;
  p.example = next.example;
  p.row = next.row;
  p.Lf = next.Lf;
  p.Lt = next.Lt;
  p.steps = 0;
  p.valid = true;
  const int64_t last = std::min(next.Lf + next.Lt, static_cast<int64_t>(s.xev1.size()));
  const uint64_t units = static_cast<uint64_t>(d_.units);
  auto more = [&] {
    return predraw_pinned_ >= 0 ? p.steps < predraw_pinned_ : s.tail_ready.steps.load(std::memory_order_acquire) == 0;
  };
  while (p.steps < last && more()) {
    Events& ev = s.xev1[p.steps].ev;
    ev.clear();
    draw_spikes(next.spikes, static_cast<uint64_t>(p.steps) * units, s.nz.data(), 0, s.x_nz.data(), s.x_bounds(),
                static_cast<int64_t>(s.nz.size()), s.sc2, ev);
    s.xwire.put(p.steps, ev);
    ++p.steps;
  }
}

// Errors of every layer (U1, U4), the loss, and the backprop errors / angles (docs/papers.md §9, §18 item 2).
void CpuEngine::compute_errors(Slot& s) const {
  const StepParams p = p_;
  LayerState& o = s.L[M_ - 1];
  float loss = 0;
  for (int64_t q = 0; q < o.n; ++q) {
    float sq;
    o.E[q] = output_error(o.Cf[q], o.lamt[q], p, &sq);  // (U1)
    loss = f32::add(loss, sq);
  }
  s.loss = f32::div(loss, static_cast<float>(o.n));
  for (int64_t m = 0; m < M_ - 1; ++m) {  // (U4), the sigmoids in vectors first
    LayerState& l = s.L[m];
    std::memcpy(l.E.data(), l.Cf.data(), sizeof(float) * l.n);
    k_.sigmoids(l.E.data(), l.n);
    for (int64_t q = 0; q < l.n; ++q) l.E[q] = hidden_error_of(l.E[q], l.alpha_t[q], l.alpha_f[q], p);
  }
  if (!(c_.backprop || record_angle_) || M_ < 2) return;
  // E_bp^m = (W^(m+1)^T E_bp^(m+1)) * k_B lambda_max sigma'(C_f^m), with the pre-update W.
  o.Ebp = o.E;
  for (int64_t m = M_ - 2; m >= 0; --m) {
    LayerState& l = s.L[m];
    const LayerState& a = s.L[m + 1];
    const float* W = Wt_[m + 1].data();
    for (int64_t j = 0; j < l.n; ++j) {
      const float* w = W + j * a.n;
      float dot = 0;
      for (int64_t q = 0; q < a.n; ++q) dot = f32::mac(dot, w[q], a.Ebp[q]);
      l.Ebp[j] = backprop_error(dot, l.Cf[j], p);
    }
  }
  for (int64_t m = 0; m < M_ - 1; ++m) {
    LayerState& l = s.L[m];
    if (record_angle_) {
      double dot = 0, na = 0, nb = 0;
      for (int64_t q = 0; q < l.n; ++q) angle_terms(l.E[q], l.Ebp[q], &dot, &na, &nb);
      s.angle[m] = angle_degrees(dot, na, nb);
    }
  }
  if (c_.backprop && !c_.backprop_inplace) {
    for (int64_t m = 0; m < M_ - 1; ++m) s.L[m].E = s.L[m].Ebp;
  }
}

// Updates after the target phase (docs/papers.md §9), top layer first, summed over the slots in order.
// The updates (docs/papers.md §9), each summed over training slots 0..S-1 in slot order.
void CpuEngine::replay_backprop(int64_t m, int64_t S) {
  const StepParams p = p_;
  const float* W = Wt_[m + 1].data();  // already updated
  for (int64_t si = 0; si < S; ++si) {
    LayerState& l = train_slots_[si]->L[m];
    const LayerState& a = train_slots_[si]->L[m + 1];
    for (int64_t j = 0; j < l.n; ++j) {
      float dot = 0;
      for (int64_t q = 0; q < a.n; ++q) dot = f32::mac(dot, W[j * a.n + q], a.E[q]);
      l.E[j] = backprop_error(dot, l.Cf[j], p);
    }
  }
}

void CpuEngine::update_feedback(int64_t m, int64_t S, float eta) {
  const StepParams p = p_;
  const int64_t n = c_.layers[m], fb = c_.fb_size(m);
  std::vector<float> h(static_cast<size_t>(n));
  float* Y = Y_[m].data();
  for (int64_t si = 0; si < S; ++si) {
    const LayerState& l = train_slots_[si]->L[m];
    for (int64_t q = 0; q < n; ++q) h[q] = feedback_gain(eta, l.Af[q], l.Cf[q], l.alpha_f[q], p);
    for (int64_t q = 0; q < n; ++q)
      for (int64_t r = 0; r < fb; ++r) Y[q * fb + r] = descend(Y[q * fb + r], h[q], l.PSPAf[r]);
    if (c_.feedback_bias) {
      for (int64_t q = 0; q < n; ++q) cb_[m][q] = descend(cb_[m][q], h[q]);
    }
  }
  transpose_feedback(m);
}

void CpuEngine::update_forward(int64_t m, int64_t S, float etaP) {
  const int nt = cpu::team_size(threads_);
  const int64_t n = c_.layers[m], N = c_.fan_in(m);
  // g = eta P E per slot; then W -= g PSP_f^T column by column, b -= g.
  std::vector<const float*>& psp = update_psp_;
  std::vector<float>& g = update_g_;
  psp.resize(static_cast<size_t>(S));
  g.resize(static_cast<size_t>(S * n));
  for (int64_t si = 0; si < S; ++si) {
    const LayerState& l = train_slots_[si]->L[m];
    psp[si] = l.PSPBf.data();
    for (int64_t q = 0; q < n; ++q) g[si * n + q] = forward_gain(etaP, l.E[q]);
  }
  float* Wt = Wt_[m].data();
  if (S == 1 && m == 0 && paired_config()) {
    nonsilent_rows(psp[0], N);
    cpu::parallel(pair_threads_, [&](cpu::Team& team) { update_w0_rows(n, psp[0], g.data(), team); });
  } else {
    if (m == 0) w0_whole();
    update_rows(Wt, psp.data(), g.data(), S, n, N, nt);
  }
  for (int64_t si = 0; si < S; ++si)
    for (int64_t q = 0; q < n; ++q) b_[m][q] = descend(b_[m][q], g[si * n + q]);
  for (auto& s : train_slots_) s->u_valid = false;
}

// update_rows_ = the inputs j < N with x[j] != 0: the rows of a one-slot update (W - g 0 = W).
void CpuEngine::nonsilent_rows(const float* x, int64_t N) {
  update_rows_.clear();
  for (int64_t j = 0; j < N; ++j) {
    if (x[j] != 0.0f) update_rows_.push_back(static_cast<int32_t>(j));
  }
}

// One slot's update of W0 on the paired path: each thread of the pair updates the columns of its
// own hidden units, which stay in its cache (w0_upper_ holds thread 1's), in the rows update_rows_
// (the inputs x that were not silent: skipping the others is exact), its share of the row two ahead
// prefetched for writing.
void CpuEngine::update_w0_rows(int64_t n, const float* x, const float* g, cpu::Team& team) {
  const int64_t rows = static_cast<int64_t>(update_rows_.size());
  const auto [q0, q1] = pair_units(team, n);
  W0Part parts[2];
  const int np = w0_parts(q0, q1, parts);
  for (int i = 0; i < np; ++i) {
    float* const W = parts[i].upper ? w0_upper_.data() : Wt_[0].data();
    for (int64_t r = 0; r < rows; ++r) {
      if (r + 2 < rows) {
        const float* ahead = W + update_rows_[r + 2] * n;
        for (int64_t q = parts[i].q0; q < parts[i].q1; q += 16) __builtin_prefetch(ahead + q, 1);
      }
      const int64_t j = update_rows_[r];
      const float xj = x[j];
      float* w = W + j * n;
      for (int64_t q = parts[i].q0; q < parts[i].q1; ++q) w[q] = descend(w[q], g[q], xj);
    }
  }
}

// update_forward(m, 1, etaP) of a layer above the pair's (W^m whole in Wt_[m]) on the calling
// thread: online_tail's update of the output layer.
void CpuEngine::update_online(int64_t m, const Slot& s, float etaP) {
  const LayerState& l = s.L[m];
  float* g = update_g_.data();
  for (int64_t q = 0; q < l.n; ++q) g[q] = forward_gain(etaP, l.E[q]);
  const float* psp = l.PSPBf.data();
  update_rows(Wt_[m].data(), &psp, g, 1, l.n, l.fan_in, 1);
  for (int64_t q = 0; q < l.n; ++q) b_[m][q] = descend(b_[m][q], g[q]);
}

// W -= sum over slots of g_s PSP_s^T, row j of Wt (input j) at a time, in slot order.
void CpuEngine::update_rows(float* Wt, const float* const* psp, const float* g, int64_t S, int64_t n, int64_t N, int nt) {
  if (S == 1) {
    // Online: too small to amortise a parallel region on a busy machine, and a plain loop (through
    // parallel_for's callable, one call per row, the output layer's update cost 2-4 % of an example).
    const float* x = psp[0];
    for (int64_t j = 0; j < N; ++j) {
      if (x[j] == 0.0f) continue;  // W - 0 g = W: skipping silent inputs is exact
      float* w = Wt + j * n;
      for (int64_t q = 0; q < n; ++q) w[q] = descend(w[q], g[q], x[j]);
    }
    return;
  }
  const bool par = n * N >= (int64_t{1} << 15);
  cpu::parallel_for(par ? nt : 1, 0, N, [&](int64_t j) {
    float* w = Wt + j * n;
    for (int64_t si = 0; si < S; ++si) {
      const float x = psp[si][j];
      if (x == 0.0f) continue;  // W - 0 g = W: skipping silent inputs is exact
      const float* gs = g + si * n;
      for (int64_t q = 0; q < n; ++q) w[q] = descend(w[q], gs[q], x);
    }
  });
}

// Jobs on slots 0..n-1, in parallel when there are several (one slot per thread at a time).
void CpuEngine::run_examples(const TrainJob* jobs, int64_t n, const ExampleOutput& out) {
  record_angle_ = out.angle != nullptr;
  std::vector<Slot*> slots(static_cast<size_t>(n));
  for (int64_t b = 0; b < n; ++b) {
    slots[b] = train_slots_[b].get();
    const int64_t row = out.record ? jobs[b].rec_row : -1;
    slots[b]->rec = row >= 0 ? out.record : nullptr;
    slots[b]->rec_units = out.units;
    slots[b]->rec_row0 = row >= 0 ? row : 0;
  }
  if (n == 1 && pairable(*slots[0])) {
    start_pair();
    run_example_paired(*slots[0], jobs[0]);
  } else if (n == 1) {
    w0_whole();
    run_example(*slots[0], jobs[0]);
  } else {
    w0_whole();
    cpu::parallel(cpu::team_size(threads_), [&](cpu::Team& team) {
      team.for_dynamic(0, n, 1, [&](int64_t b) { run_example(*slots[b], jobs[b]); });
    });
  }
  const int64_t H = M_ - 1;
  for (int64_t b = 0; b < n; ++b) {
    out.loss[b] = slots[b]->loss;
    out.prediction[b] = slots[b]->prediction;
    if (out.angle)
      for (int64_t m = 0; m < H; ++m) out.angle[b * H + m] = slots[b]->angle[m];
    slots[b]->rec = nullptr;
  }
}

// The threads and the split of the paired path's next example (PairTuner), W0 laid out for them.
void CpuEngine::start_pair() {
  pair_threads_ = std::min(pair_tuner_.start_example(new_chunk_), cpu::team_size_alone(threads_));
  pair_tuner_.runs_on(pair_threads_);
  pair_split_ = pair_tuner_.split();
  new_chunk_ = false;
  // (Symmetric feedback reads W0 whole after every update: no copy then.)
  if (pair_threads_ == 2 && c_.feedback != FeedbackKind::Symmetric) w0_split(pair_split_);
  else w0_whole();
}

// The first paired region after w0_split made the copy's room (a fresh network, or the first
// online example after W0 was whole): the last thread copies its columns, so that they come into
// its core's cache, while thread 0 fetches its own columns of W0 into its core's L2 (a fresh
// network's first examples otherwise fetched them from memory one digit's rows at a time).
void CpuEngine::w0_copy_in(cpu::Team& team) {
  const int64_t n = c_.layers[0];
  if (team.id() == team.size() - 1) {
    copy_columns(w0_upper_, Wt_[0], upper_split_, n);
    return;
  }
  const float* W = Wt_[0].data();
  for (int64_t r = 0; r < c_.n_in; ++r) {
    for (int64_t k = 0; k < upper_split_; k += 16) __builtin_prefetch(W + r * n + k, 0, 2);
  }
}

void CpuEngine::run_online(const TrainJob& job, const TrainJob* next, const std::vector<float>& etaP,
                           const ExampleOutput& out) {
  Slot& s = *train_slots_[0];
  record_angle_ = false;
  s.rec = nullptr;
  // (sized here: nothing allocates inside the region)
  update_g_.resize(static_cast<size_t>(*std::max_element(c_.layers.begin(), c_.layers.end())));
  update_rows_.reserve(static_cast<size_t>(c_.n_in));
  start_pair();
  const OnlineTail tail{next, &etaP};
  run_example_paired(s, job, &tail);
  for (auto& sp : train_slots_) sp->u_valid = false;  // (W changed, as after update_forward)
  out.loss[0] = s.loss;
  out.prediction[0] = s.prediction;
}

// One image per slot of the thread that takes it (slots reset per image).
void CpuEngine::run_tests(const TestBatch& t) {
  w0_whole();
  const int nt = cpu::team_size(threads_);
  while (static_cast<int>(eval_slots_.size()) < nt) eval_slots_.push_back(make_slot());
  const int64_t n_out = c_.n_out(), k = d_.k_per_class, n_in = c_.n_in;
  const int64_t T = c_.integration_time_test;
  cpu::parallel(nt, [&](cpu::Team& team) {
    Slot& s = *eval_slots_[team.id()];
    team.for_dynamic(0, t.n, 4, [&](int64_t i) {
      reset_slot(s);
      const int64_t row = t.rec_row ? t.rec_row[i] : -1;
      s.rec = row >= 0 ? t.record : nullptr;
      s.rec_units = t.units;
      s.rec_row0 = row >= 0 ? row : 0;
      set_image(s, t.images + i * n_in);
      LayerState& o = s.L[M_ - 1];
      std::fill(o.sumC.begin(), o.sumC.end(), 0.0f);
      PhaseCtx ctx;
      ctx.mode = Phase::Test;
      ctx.L = c_.l_test;
      ctx.T = c_.integration_time_test;
      ctx.R = 0;
      ctx.spikes = test_spike_stream(c_.seed, t.round, t.offset + static_cast<uint64_t>(i));
      ctx.step0 = 0;
      run_phase(s, ctx);
      float* Cbar = s.Cbar.data();
      for (int64_t q = 0; q < n_out; ++q) Cbar[q] = window_mean(o.sumC[q], T);
      t.prediction[i] = class_argmax(Cbar, k);
      if (t.voltages) std::memcpy(t.voltages + i * n_out, Cbar, sizeof(float) * n_out);
      s.rec = nullptr;
    });
  });
}

}  // namespace

std::unique_ptr<Network> make_cpu_network(const Config& c) {
  return std::make_unique<Network>(c, [](const EngineSetup& s) -> std::unique_ptr<Engine> { return std::make_unique<CpuEngine>(s); });
}

}  // namespace dendrite::seg
