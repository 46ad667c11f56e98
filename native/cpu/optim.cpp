// PLACEHOLDER: replaced by the real kernels.
#include "kernels.h"
#include "../common/error.h"

namespace dendrite::cpu {

void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cpu
