// PLACEHOLDER: replaced by the real kernels.
#include "kernels.cuh"
#include "../common/error.h"

namespace dendrite::cuda {

void gemm(const GemmShape& g, const float* a, const float* b, float* c, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void gemv(bool trans, int64_t rows, int64_t cols, float alpha, const float* a, const float* x, float beta, float* y,
          cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void ger(int64_t rows, int64_t cols, float alpha, const float* x, const float* y, float* a, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cuda
