// Philox4x32-10 (common/philox.h) on eight counters at a time with AVX-512, bit for bit: the
// CPU's vectorised random draws (the segregated network's spike words, random.cpp's uniforms).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include <cstdint>

#include "../common/philox.h"

namespace dendrite::cpu {

// The words a stream's rounds xor in, computed once per pass: k0 and k1 of every round (round 0's
// k0 already xored with the high word of its common product).
struct PhiloxKeys {
  uint32_t k0[10], k1[10];
  uint64_t p1s;  // round 0's second product, stream_lo M1, the same for every lane
  explicit PhiloxKeys(const philox::Stream& s) : p1s(static_cast<uint64_t>(philox::kM1) * s.stream_lo) {
    for (int r = 0; r < 10; ++r) {
      k0[r] = s.k0 + static_cast<uint32_t>(r) * philox::kW0;
      k1[r] = s.k1 + static_cast<uint32_t>(r) * philox::kW1;
    }
    k0[0] ^= static_cast<uint32_t>(p1s >> 32);
  }
};

// Words 0..3 of eight blocks, in the low halves of the lanes.
struct Words8 {
  __m512i x0, x1, x2, x3;
};

// Philox4x32-10 on 8 counters (c0, c1: their low and high words) held in the low halves of 64-bit
// lanes, so that one vpmuludq gives each lane's whole 64-bit product (hi and lo words without
// blends). The lanes' high halves carry garbage that nothing reads: vpmuludq reads the low halves
// only and the results are truncated. Round 0's second product (stream_lo M1) is the same for
// every lane, so it is computed once: x0..x3 come out bit for bit as philox4x32_10's.
__attribute__((target("avx512f"))) inline Words8 philox8(__m512i c0, __m512i c1, const PhiloxKeys& k) {
  const __m512i m0 = _mm512_set1_epi64(philox::kM0), m1 = _mm512_set1_epi64(philox::kM1);
  // round 0: c2 = stream_lo and c3 = 0 in every lane
  __m512i p0 = _mm512_mul_epu32(c0, m0);
  c0 = _mm512_xor_si512(c1, _mm512_set1_epi32(static_cast<int>(k.k0[0])));
  c1 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(k.p1s)));
  __m512i c2 = _mm512_xor_si512(_mm512_srli_epi64(p0, 32), _mm512_set1_epi32(static_cast<int>(k.k1[0])));
  __m512i c3 = p0;
  for (int round = 1; round < 10; ++round) {
    p0 = _mm512_mul_epu32(c0, m0);
    const __m512i p1 = _mm512_mul_epu32(c2, m1);
    // 0x96: a ^ b ^ c
    c0 = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), c1, _mm512_set1_epi32(static_cast<int>(k.k0[round])), 0x96);
    c2 = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), c3, _mm512_set1_epi32(static_cast<int>(k.k1[round])), 0x96);
    c1 = p1;
    c3 = p0;
  }
  return {c0, c1, c2, c3};
}

// The 32-bit words of two Words8 (lanes 0-7 and 8-15) as sixteen lanes.
__attribute__((target("avx512f"))) inline __m512i pack16(__m512i a, __m512i b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(a)), _mm512_cvtepi64_epi32(b), 1);
}

}  // namespace dendrite::cpu

#endif
