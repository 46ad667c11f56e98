// PLACEHOLDER: replaced by the real kernels.
#include "kernels.cuh"
#include "../common/error.h"

namespace dendrite::cuda {

void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity,
                cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v,
                 cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cuda
