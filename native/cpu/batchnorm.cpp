// PLACEHOLDER: replaced by the real kernels.
#include "kernels.h"
#include "../common/error.h"

namespace dendrite::cpu {

void batchnorm_forward_train(const BatchNormShape& s, const float* x, const float* gamma, const float* beta, float* y,
                             float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                             int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void batchnorm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void batchnorm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* gamma,
                        const float* saved_mean, const float* saved_invstd, float* dx, float* dgamma, float* dbeta,
                        int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cpu
