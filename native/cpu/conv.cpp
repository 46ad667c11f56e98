// PLACEHOLDER: replaced by the real kernels.
#include "kernels.h"
#include "../common/error.h"

namespace dendrite::cpu {

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cpu
