// PLACEHOLDER: replaced by the real kernels.
#include "kernels.cuh"
#include "../common/error.h"

namespace dendrite::cuda {

size_t conv2d_workspace_floats(const Conv2dShape& s) { return 0; }

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                    float* workspace, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, float* workspace, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx,
                         cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cuda
