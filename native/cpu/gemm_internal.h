// Internal interface of the CPU dense linear algebra (gemm.cpp and its per-ISA files).
//
// Each instruction set (AVX-512, AVX2+FMA, portable scalar) provides a register-blocked GEMM
// micro-kernel and the inner loops of GEMV and GER; gemm.cpp packs, blocks, parallelises and
// picks the set at run time. Every routine reduces each output element in a fixed order that
// does not depend on which thread runs it or on how the work is split.
#pragma once

#include <cstdint>

namespace dendrite::cpu::detail {

// C[rows x cols] (row stride ldc) = alpha * Ap * Bp + beta * C over kc steps, where Ap is a
// packed MR-row micro-panel (ap[p * MR + r]) and Bp a packed NR-column micro-panel
// (bp[p * NR + c]), both zero-padded to MR / NR. rows <= MR, cols <= NR. With beta == 0, C is
// not read. Ap and Bp are 64-byte aligned.
using MicroKernel = void (*)(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int rows, int cols,
                             float alpha, float beta);

// y[i] = alpha * sum_j a[i * lda + j] * x[j] + beta * y[i] for i in [r0, r1).
using GemvRows = void (*)(int64_t r0, int64_t r1, int64_t cols, float alpha, const float* a, int64_t lda,
                          const float* x, float beta, float* y);
// y[j] = alpha * sum_i a[i * lda + j] * x[i] + beta * y[j] for j in [c0, c1); c0 is a multiple of
// kGemvColBlock so that column blocks (and tails) are the same for any split.
using GemvCols = void (*)(int64_t rows, int64_t c0, int64_t c1, float alpha, const float* a, int64_t lda,
                          const float* x, float beta, float* y);
// a[i * lda + j] += (alpha * x[i]) * y[j] for i in [r0, r1), j in [0, cols).
using GerRows = void (*)(int64_t r0, int64_t r1, int64_t cols, float alpha, const float* x, const float* y, float* a,
                         int64_t lda);

// Transposing packs (optional; nullptr selects the portable loops of gemm.cpp).
// ap[p * MR + r] = a[r * lda + p] for r < h (<= MR), p < kc; zero for r >= h.
using PackRows = void (*)(const float* a, int64_t lda, int64_t h, int64_t kc, float* ap);
// bp[p * NR + c] = b[c * ldb + p] for c < w (<= NR), p < kc; zero for c >= w.
using PackCols = void (*)(const float* b, int64_t ldb, int64_t w, int64_t kc, float* bp);

constexpr int64_t kGemvColBlock = 64;

struct IsaOps {
  const char* name;
  int mr, nr;  // micro-tile of the GEMM kernel
  MicroKernel micro;
  GemvRows gemv_rows;
  GemvCols gemv_cols;
  GerRows ger_rows;
  PackRows pack_a_transposed;  // packs op(A) when A is stored untransposed (m x k)
  PackCols pack_b_transposed;  // packs op(B) when B is stored transposed (n x k)
  PackCols pack_b_rows;        // packs op(B) when B is stored untransposed (k x n): bp[p * nr + c] = b[p * ldb + c]
};

const IsaOps& scalar_ops();
#if defined(__x86_64__)
const IsaOps& avx2_ops();
const IsaOps& avx512_ops();
#endif

}  // namespace dendrite::cpu::detail
