// AVX2+FMA kernels of gemm.cpp: GEMM micro-kernel, GEMV and GER inner loops.
#include "gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define DENDRITE_AVX2 __attribute__((target("avx2,fma")))
// Full unrolling keeps small register arrays in registers even at -O2.
#define DENDRITE_UNROLL _Pragma("GCC unroll 16")

namespace dendrite::cpu::detail {
namespace {

// 6 x 16 micro-tile: 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers.
constexpr int kMr = 6;
constexpr int kNv = 2;
constexpr int kNr = 8 * kNv;

// A load/store mask with lanes [0, n) set (n clamped to [0, 8]).
DENDRITE_AVX2 inline __m256i lanes(int64_t n) {
  const int k = n >= 8 ? 8 : n <= 0 ? 0 : static_cast<int>(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

DENDRITE_AVX2 void micro(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int rows, int cols,
                         float alpha, float beta) {
  // Named accumulators: with an array GCC keeps a memory copy updated inside the loop.
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  // c[r][:] += a[p, r] * b[p, :] for p = 0 .. kc-1 in order.
  for (int64_t p = 0; p < kc; ++p) {
    const float* a = ap + p * kMr;
    const __m256 b0 = _mm256_load_ps(bp + p * kNr), b1 = _mm256_load_ps(bp + p * kNr + 8);
    __m256 av = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
  }
  const __m256 acc[kMr][kNv] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  __m256i mask[kNv];
  DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) mask[v] = lanes(cols - 8 * v);
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  // Constant trip count (no early exit) so that acc stays in registers.
  DENDRITE_UNROLL for (int r = 0; r < kMr; ++r) {
    if (r >= rows) continue;
    float* cr = c + r * ldc;
    DENDRITE_UNROLL for (int v = 0; v < kNv; ++v) {
      __m256 out;
      if (beta == 0.0f) {
        out = _mm256_mul_ps(va, acc[r][v]);
      } else {
        out = _mm256_fmadd_ps(va, acc[r][v], _mm256_mul_ps(vb, _mm256_maskload_ps(cr + 8 * v, mask[v])));
      }
      _mm256_maskstore_ps(cr + 8 * v, mask[v], out);
    }
  }
}

DENDRITE_AVX2 inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// R rows of y = alpha * A x + beta * y at once, sharing the loads of x; each row is reduced
// exactly as when R == 1 (see the AVX-512 version).
template <int R>
DENDRITE_AVX2 inline void gemv_row_block(int64_t i, int64_t cols, float alpha, const float* a, int64_t lda,
                                         const float* x, float beta, float* y) {
  __m256 s[R][4];
  DENDRITE_UNROLL for (int r = 0; r < R; ++r)
    DENDRITE_UNROLL for (int u = 0; u < 4; ++u) s[r][u] = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= cols; j += 32) {
    __m256 xv[4];
    DENDRITE_UNROLL for (int u = 0; u < 4; ++u) xv[u] = _mm256_loadu_ps(x + j + 8 * u);
    DENDRITE_UNROLL for (int r = 0; r < R; ++r)
      DENDRITE_UNROLL for (int u = 0; u < 4; ++u)
        s[r][u] = _mm256_fmadd_ps(_mm256_loadu_ps(a + (i + r) * lda + j + 8 * u), xv[u], s[r][u]);
  }
  for (; j < cols; j += 8) {
    const __m256i m = lanes(cols - j);
    const __m256 xv = _mm256_maskload_ps(x + j, m);
    DENDRITE_UNROLL for (int r = 0; r < R; ++r)
      s[r][0] = _mm256_fmadd_ps(_mm256_maskload_ps(a + (i + r) * lda + j, m), xv, s[r][0]);
  }
  DENDRITE_UNROLL for (int r = 0; r < R; ++r) {
    const float sum = hsum(_mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]), _mm256_add_ps(s[r][2], s[r][3])));
    y[i + r] = beta == 0.0f ? alpha * sum : alpha * sum + beta * y[i + r];
  }
}

DENDRITE_AVX2 void gemv_rows(int64_t r0, int64_t r1, int64_t cols, float alpha, const float* a, int64_t lda,
                             const float* x, float beta, float* y) {
  int64_t i = r0;
  for (; i + 2 <= r1; i += 2) gemv_row_block<2>(i, cols, alpha, a, lda, x, beta, y);
  for (; i < r1; ++i) gemv_row_block<1>(i, cols, alpha, a, lda, x, beta, y);
}

DENDRITE_AVX2 void gemv_cols(int64_t rows, int64_t c0, int64_t c1, float alpha, const float* a, int64_t lda,
                             const float* x, float beta, float* y) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  for (int64_t j = c0; j < c1; j += 32) {
    __m256i m[4];
    DENDRITE_UNROLL for (int v = 0; v < 4; ++v) m[v] = lanes(c1 - j - 8 * v);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    // acc[j] += a[i, j] * x[i] for i = 0 .. rows-1 in order.
    for (int64_t i = 0; i < rows; ++i) {
      const __m256 xi = _mm256_broadcast_ss(x + i);
      const float* ai = a + i * lda + j;
      DENDRITE_UNROLL for (int v = 0; v < 4; ++v) acc[v] = _mm256_fmadd_ps(_mm256_maskload_ps(ai + 8 * v, m[v]), xi, acc[v]);
    }
    DENDRITE_UNROLL for (int v = 0; v < 4; ++v) {
      __m256 out = _mm256_mul_ps(va, acc[v]);
      if (beta != 0.0f) out = _mm256_fmadd_ps(va, acc[v], _mm256_mul_ps(vb, _mm256_maskload_ps(y + j + 8 * v, m[v])));
      _mm256_maskstore_ps(y + j + 8 * v, m[v], out);
    }
  }
}

DENDRITE_AVX2 void ger_rows(int64_t r0, int64_t r1, int64_t cols, float alpha, const float* x, const float* y,
                            float* a, int64_t lda) {
  for (int64_t i = r0; i < r1; ++i) {
    const __m256 s = _mm256_set1_ps(alpha * x[i]);
    float* ai = a + i * lda;
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      _mm256_storeu_ps(ai + j, _mm256_fmadd_ps(s, _mm256_loadu_ps(y + j), _mm256_loadu_ps(ai + j)));
    }
    if (j < cols) {
      const __m256i m = lanes(cols - j);
      _mm256_maskstore_ps(ai + j, m, _mm256_fmadd_ps(s, _mm256_maskload_ps(y + j, m), _mm256_maskload_ps(ai + j, m)));
    }
  }
}

}  // namespace

const IsaOps& avx2_ops() {
  static const IsaOps ops{"avx2", kMr, kNr, micro, gemv_rows, gemv_cols, ger_rows, nullptr, nullptr, nullptr};
  return ops;
}

}  // namespace dendrite::cpu::detail

#endif  // __x86_64__
