// Random numbers on the CPU: every element is computed independently from its Philox counter
// (common/philox.h, the same code the CUDA kernels run), so the thread count and the
// partition of the work never change a value.
#include <algorithm>

#include "../common/philox.h"
#include "kernels.h"
#include "parallel.h"
#include "philox_avx512.h"

// uniform_run's vectors must round as philox::uniform_at.
#include "exact_rounding.h"

namespace dendrite::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 4096;

template <class F>
void for_each_element(int64_t n, int threads, F&& f) {
  parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) { f(i); });
}

#if defined(__x86_64__) && defined(__GNUC__)
// uniform_run sixteen elements at a time (two Philox passes of eight counters; only word 0 of each
// block is used), the double arithmetic of philox::uniform_at in vectors, operation for operation.
__attribute__((target("avx512f"))) void uniform_run_avx512(const philox::Stream& s, uint64_t i0, int64_t n, float low,
                                                            float high, float* out) {
  const PhiloxKeys keys(s);
  const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  const __m512d lo = _mm512_set1_pd(low), span = _mm512_set1_pd(philox::fp::sub(static_cast<double>(high), low));
  const __m512d step = _mm512_set1_pd(5.960464477539063e-08);  // 2^-24
  const __m512 hi = _mm512_set1_ps(high), below = _mm512_set1_ps(philox::float_below(high));
  // low + (high - low) u for eight u = m 2^-24 (m = x0 >> 8 < 2^24: exact as int32 and as double),
  // in double, rounded to float
  auto map8 = [&](__m256i m) {
    return _mm512_cvtpd_ps(_mm512_add_pd(lo, _mm512_mul_pd(span, _mm512_mul_pd(_mm512_cvtepi32_pd(m), step))));
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint64_t c = s.offset + i0 + static_cast<uint64_t>(i);
    const __m512i ca = _mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(c)), lane);
    const __m512i cb = _mm512_add_epi64(ca, _mm512_set1_epi64(8));
    const __m512i x0 = pack16(philox8(ca, _mm512_srli_epi64(ca, 32), keys).x0, philox8(cb, _mm512_srli_epi64(cb, 32), keys).x0);
    const __m512i m = _mm512_srli_epi32(x0, 8);
    const __m256 a = map8(_mm512_castsi512_si256(m)), b = map8(_mm512_extracti64x4_epi64(m, 1));
    const __m512 x = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(a)), _mm256_castps_pd(b), 1));
    // (a value that rounded up to high becomes the float below it)
    _mm512_storeu_ps(out + i, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, hi, _CMP_LT_OQ), below, x));
  }
  for (; i < n; ++i) out[i] = philox::uniform_at(s, i0 + static_cast<uint64_t>(i), low, high);
}
#endif

}  // namespace

void uniform_run(const philox::Stream& s, uint64_t i0, int64_t n, float low, float high, float* out) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (active_isa() == Isa::Avx512) {
    uniform_run_avx512(s, i0, n, low, high, out);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) out[i] = philox::uniform_at(s, i0 + static_cast<uint64_t>(i), low, high);
}

void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  // (in chunks of whole vectors: each element's value is uniform_at's wherever a chunk starts)
  constexpr int64_t kChunk = 4096;
  parallel_for(n >= kParallelMin ? threads : 1, 0, (n + kChunk - 1) / kChunk, [&](int64_t c) {
    const int64_t i0 = c * kChunk;
    uniform_run(s, static_cast<uint64_t>(i0), std::min(kChunk, n - i0), low, high, out + i0);
  });
}

void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  for_each_element(n, threads,
                   [&](int64_t i) { out[i] = philox::normal_at(s, static_cast<uint64_t>(i), mean, stddev); });
}

void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  for_each_element(n, threads, [&](int64_t i) { out[i] = philox::bernoulli_at(s, static_cast<uint64_t>(i), p[i]); });
}

void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  // The cost per element depends on its rate: hand out chunks dynamically (values do not change).
  parallel(n >= kParallelMin ? threads : 1, [&](Team& team) {
    team.for_dynamic(0, n, 1024, [&](int64_t i) { out[i] = philox::poisson_at(s, static_cast<uint64_t>(i), rate[i]); });
  });
}

void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  for_each_element(n, threads,
                   [&](int64_t i) { out[i] = philox::wald_at(s, static_cast<uint64_t>(i), mean, shape); });
}

}  // namespace dendrite::cpu
