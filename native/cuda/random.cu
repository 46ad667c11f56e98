// PLACEHOLDER: replaced by the real kernels.
#include "kernels.cuh"
#include "../common/error.h"

namespace dendrite::cuda {

void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out, cudaStream_t stream) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cuda
