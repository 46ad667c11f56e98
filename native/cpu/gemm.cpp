// PLACEHOLDER: naive loops until the blocked kernels land.
#include "kernels.h"
#include "../common/error.h"

namespace dendrite::cpu {

void gemm(const GemmShape& g, const float* a, const float* b, float* c, int) {
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      float s = 0;
      for (int64_t p = 0; p < g.k; ++p)
        s += (g.trans_a ? a[p * g.lda + i] : a[i * g.lda + p]) * (g.trans_b ? b[j * g.ldb + p] : b[p * g.ldb + j]);
      c[i * g.ldc + j] = g.alpha * s + (g.beta == 0.0f ? 0.0f : g.beta * c[i * g.ldc + j]);
    }
}

void gemv(bool, int64_t, int64_t, float, const float*, const float*, float, float*, int) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void ger(int64_t, int64_t, float, const float*, const float*, float*, int) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cpu
