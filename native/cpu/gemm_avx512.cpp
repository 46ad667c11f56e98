// AVX-512F kernels of gemm.cpp: GEMM micro-kernel, GEMV and GER inner loops.
#include "gemm_internal.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics fill unused operands with a self-initialised _mm512_undefined_ps(),
// which -W(maybe-)uninitialized reports at every inlined use; the value is never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#define DENDRITE_AVX512 __attribute__((target("avx512f")))
// Full unrolling keeps the accumulators in registers even at -O2.
#define DENDRITE_UNROLL _Pragma("GCC unroll 16")

namespace dendrite::cpu::detail {
namespace {

#ifndef DENDRITE_AVX512_MR
#define DENDRITE_AVX512_MR 8
#define DENDRITE_AVX512_NV 3
#endif
// Micro-tile MR rows x (16 * NV) columns: MR * NV accumulators + NV B vectors + one broadcast
// stay within the 32 zmm registers, and MR * NV >= 8 independent FMA chains cover the FMA
// latency on both pipes.
constexpr int kMr = DENDRITE_AVX512_MR;
constexpr int kNv = DENDRITE_AVX512_NV;
constexpr int kNr = 16 * kNv;

// Lanes [0, n) set, n clamped to [0, 16].
DENDRITE_AVX512 inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1);
}

DENDRITE_AVX512 void micro(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int rows, int cols,
                           float alpha, float beta) {
  __m512 acc[kMr][kNv];
  DENDRITE_UNROLL for (int r = 0; r < kMr; ++r)
    DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) acc[r][v] = _mm512_setzero_ps();
  // acc[r][:] += a[p, r] * b[p, :] for p = 0 .. kc-1 in order (the fixed summation order).
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    __m512 bv[kNv];
    DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) bv[v] = _mm512_load_ps(bp + p * kNr + 16 * v);
    DENDRITE_UNROLL for (int r = 0; r < kMr; ++r) {
      const __m512 av = _mm512_set1_ps(ap[p * kMr + r]);
      DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  // C = alpha * acc + beta * C; masked loads/stores give edge tiles the same arithmetic.
  __mmask16 mask[kNv];
  DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) mask[v] = lanes(cols - 16 * v);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  // Constant trip count (no early exit) so that acc stays in registers.
  DENDRITE_UNROLL for (int r = 0; r < kMr; ++r) {
    if (r >= rows) continue;
    float* cr = c + r * ldc;
    DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) {
      __m512 out;
      // Masked loads and stores are slow (Zen 5): plain ones for whole vectors.
      const bool whole = mask[v] == static_cast<__mmask16>(0xFFFF);
      if (beta == 0.0f) {
        out = _mm512_mul_ps(va, acc[r][v]);
      } else {
        const __m512 old = whole ? _mm512_loadu_ps(cr + 16 * v) : _mm512_maskz_loadu_ps(mask[v], cr + 16 * v);
        out = _mm512_fmadd_ps(va, acc[r][v], _mm512_mul_ps(vb, old));
      }
      if (whole) _mm512_storeu_ps(cr + 16 * v, out);
      else _mm512_mask_storeu_ps(cr + 16 * v, mask[v], out);
    }
  }
}

// Rows 0 .. Q-1 of A (from ar, lda apart) times x, each as 16 lanes: four 16-lane partial sums
// over 64-column steps, then 16-column steps into the first, added as (s0 + s1) + (s2 + s3). The
// rows share the loads of x; each row's arithmetic is the same for any Q.
template <int Q>
DENDRITE_AVX512 inline void row_dots(const float* ar, int64_t lda, const float* x, int64_t cols, __m512* out) {
  __m512 s[Q][4];
  DENDRITE_UNROLL for (int q = 0; q < Q; ++q) DENDRITE_UNROLL for (int u = 0; u < 4; ++u) s[q][u] = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 64 <= cols; j += 64) {
    __m512 xv[4];
    DENDRITE_UNROLL for (int u = 0; u < 4; ++u) xv[u] = _mm512_loadu_ps(x + j + 16 * u);
    DENDRITE_UNROLL for (int q = 0; q < Q; ++q)
      DENDRITE_UNROLL for (int u = 0; u < 4; ++u)
        s[q][u] = _mm512_fmadd_ps(_mm512_loadu_ps(ar + q * lda + j + 16 * u), xv[u], s[q][u]);
  }
  for (; j + 16 <= cols; j += 16) {
    const __m512 xv = _mm512_loadu_ps(x + j);
    DENDRITE_UNROLL for (int q = 0; q < Q; ++q) s[q][0] = _mm512_fmadd_ps(_mm512_loadu_ps(ar + q * lda + j), xv, s[q][0]);
  }
  if (j < cols) {
    const __mmask16 m = lanes(cols - j);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + j);
    DENDRITE_UNROLL for (int q = 0; q < Q; ++q) s[q][0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ar + q * lda + j), xv, s[q][0]);
  }
  DENDRITE_UNROLL for (int q = 0; q < Q; ++q) out[q] = _mm512_add_ps(_mm512_add_ps(s[q][0], s[q][1]), _mm512_add_ps(s[q][2], s[q][3]));
}

// Lane r = the sum of the 16 lanes of v[r] as a fixed pairwise tree (lanes i and i + 8 added, then
// i and i + 4, i + 2, i + 1): 16 rows in 15 vector additions (the same bits as that tree row by row
// through memory, which this replaced).
DENDRITE_AVX512 inline __m512 hsum16(const __m512 v[16]) {
  __m512 u[8], w[4], z[2];
  // Lanes 0-7 of u[k] hold row 2k, lanes 8-15 row 2k + 1.
  DENDRITE_UNROLL for (int k = 0; k < 8; ++k)
    u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44), _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
  // The 128-bit lanes of w[m] hold rows 4m .. 4m + 3.
  DENDRITE_UNROLL for (int m = 0; m < 4; ++m)
    w[m] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * m], u[2 * m + 1], 0x88), _mm512_shuffle_f32x4(u[2 * m], u[2 * m + 1], 0xDD));
  // 128-bit lane L of z[k] holds rows 8k + L and 8k + 4 + L, two lanes each.
  DENDRITE_UNROLL for (int k = 0; k < 2; ++k)
    z[k] = _mm512_add_ps(_mm512_shuffle_ps(w[2 * k], w[2 * k + 1], 0x44), _mm512_shuffle_ps(w[2 * k], w[2 * k + 1], 0xEE));
  // Lane 4L + j holds row 4j + L.
  const __m512 s = _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xDD));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), s);
}

// Four rows at a time (four streams of A in flight: 1.25x one row at a time on Zen 4, where A
// comes from L3), their sums reduced 16 rows at a time.
DENDRITE_AVX512 void gemv_rows(int64_t r0, int64_t r1, int64_t cols, float alpha, const float* a, int64_t lda,
                               const float* x, float beta, float* y) {
  for (int64_t i = r0; i < r1; i += 16) {
    const int n = static_cast<int>(std::min<int64_t>(16, r1 - i));
    __m512 v[16];
    int r = 0;
    for (; r + 4 <= n; r += 4) row_dots<4>(a + (i + r) * lda, lda, x, cols, v + r);
    for (; r < n; ++r) row_dots<1>(a + (i + r) * lda, lda, x, cols, v + r);
    for (; r < 16; ++r) v[r] = _mm512_setzero_ps();
    // y = alpha * sum, or beta * y + alpha * sum in one rounding (as GCC contracted the scalar form).
    const __mmask16 m = lanes(n);
    const __m512 scaled = _mm512_mul_ps(_mm512_set1_ps(alpha), hsum16(v));
    const __m512 out = beta == 0.0f ? scaled : _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, y + i), scaled);
    _mm512_mask_storeu_ps(y + i, m, out);
  }
}

DENDRITE_AVX512 void gemv_cols(int64_t rows, int64_t c0, int64_t c1, float alpha, const float* a, int64_t lda,
                               const float* x, float beta, float* y) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int64_t j = c0; j < c1; j += 64) {
    __mmask16 m[4];
    DENDRITE_UNROLL for (int v = 0; v < 4; ++v) m[v] = lanes(c1 - j - 16 * v);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    // acc[j] += a[i, j] * x[i] for i = 0 .. rows-1 in order.
    for (int64_t i = 0; i < rows; ++i) {
      const __m512 xi = _mm512_set1_ps(x[i]);
      const float* ai = a + i * lda + j;
      DENDRITE_UNROLL for (int v = 0; v < 4; ++v) acc[v] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[v], ai + 16 * v), xi, acc[v]);
    }
    DENDRITE_UNROLL for (int v = 0; v < 4; ++v) {
      __m512 out = _mm512_mul_ps(va, acc[v]);
      if (beta != 0.0f) out = _mm512_fmadd_ps(va, acc[v], _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m[v], y + j + 16 * v)));
      _mm512_mask_storeu_ps(y + j + 16 * v, m[v], out);
    }
  }
}

DENDRITE_AVX512 void ger_rows(int64_t r0, int64_t r1, int64_t cols, float alpha, const float* x, const float* y,
                              float* a, int64_t lda) {
  for (int64_t i = r0; i < r1; ++i) {
    const __m512 s = _mm512_set1_ps(alpha * x[i]);
    float* ai = a + i * lda;
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16) {
      _mm512_storeu_ps(ai + j, _mm512_fmadd_ps(s, _mm512_loadu_ps(y + j), _mm512_loadu_ps(ai + j)));
    }
    if (j < cols) {
      const __mmask16 m = lanes(cols - j);
      _mm512_mask_storeu_ps(ai + j, m, _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(m, y + j), _mm512_maskz_loadu_ps(m, ai + j)));
    }
  }
}

// In-register transpose of a 16 x 16 block: r[i][j] -> r[j][i].
DENDRITE_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  DENDRITE_UNROLL for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4g + c], 128-bit lane L, holds rows 4g..4g+3 of column 4L + c.
  DENDRITE_UNROLL for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  DENDRITE_UNROLL for (int c = 0; c < 4; ++c) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), w0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD), w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
    r[c] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
    r[4 + c] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
  }
}

// ap[p * kMr + r] = a[r * lda + p]: 16 columns at a time through transpose16 (rows >= h are 0).
DENDRITE_AVX512 void pack_a_transposed(const float* a, int64_t lda, int64_t h, int64_t kc, float* ap) {
  static_assert(kMr <= 16, "one transpose16 covers the micro-panel");
  for (int64_t p = 0; p < kc; p += 16) {
    const __mmask16 m = lanes(kc - p);
    __m512 r[16];
    DENDRITE_UNROLL for (int i = 0; i < 16; ++i) r[i] = i < h ? _mm512_maskz_loadu_ps(m, a + i * lda + p) : _mm512_setzero_ps();
    transpose16(r);
    const int64_t q_end = kc - p < 16 ? kc - p : 16;
    for (int64_t q = 0; q < q_end; ++q) {
      if (kMr == 16) {
        _mm512_store_ps(ap + (p + q) * kMr, r[q]);
      } else {
        _mm512_mask_storeu_ps(ap + (p + q) * kMr, lanes(kMr), r[q]);
      }
    }
  }
}

// bp[p * kNr + c] = b[c * ldb + p]: blocks of 16 x 16 through transpose16 (columns >= w are 0).
DENDRITE_AVX512 void pack_b_transposed(const float* b, int64_t ldb, int64_t w, int64_t kc, float* bp) {
  for (int64_t p = 0; p < kc; p += 16) {
    const __mmask16 m = lanes(kc - p);
    const int64_t q_end = kc - p < 16 ? kc - p : 16;
    DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) {
      __m512 r[16];
      DENDRITE_UNROLL for (int i = 0; i < 16; ++i) {
        const int64_t col = 16 * v + i;
        r[i] = col < w ? _mm512_maskz_loadu_ps(m, b + col * ldb + p) : _mm512_setzero_ps();
      }
      transpose16(r);
      for (int64_t q = 0; q < q_end; ++q) _mm512_store_ps(bp + (p + q) * kNr + 16 * v, r[q]);
    }
  }
}

// bp[p * kNr + c] = b[p * ldb + c]: row copies, masked beyond w (columns >= w are 0).
DENDRITE_AVX512 void pack_b_rows(const float* b, int64_t ldb, int64_t w, int64_t kc, float* bp) {
  __mmask16 m[kNv];
  DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) m[v] = lanes(w - 16 * v);
  for (int64_t p = 0; p < kc; ++p) {
    DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) {
      _mm512_store_ps(bp + p * kNr + 16 * v, _mm512_maskz_loadu_ps(m[v], b + p * ldb + 16 * v));
    }
  }
}

}  // namespace

const IsaOps& avx512_ops() {
  static const IsaOps ops{"avx512",          kMr,        kNr, micro, gemv_rows, gemv_cols, ger_rows, pack_a_transposed,
                          pack_b_transposed, pack_b_rows};
  return ops;
}

}  // namespace dendrite::cpu::detail

#endif  // __x86_64__
